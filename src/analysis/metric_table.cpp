// The runs' comparable quantities, in columns named as `joulebench export` names them.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/analysis.hpp"

namespace joulebench {

namespace {

/// Builds columns in a fixed family order, each family's members in first-seen order.
class TableBuilder {
 public:
  explicit TableBuilder(std::size_t runs) : runs_(runs) {}

  MetricCell& cell(const std::string& name, std::size_t run, const auto& make_column) {
    auto it = index_.find(name);
    if (it == index_.end()) {
      it = index_.emplace(name, columns_.size()).first;
      columns_.push_back(make_column());
      cells_.emplace_back(runs_);
    }
    return cells_[it->second][run];
  }

  /// Columns ordered: time, energy by domain (known order, then others, then total), dynamic
  /// energy likewise, regions, workload metrics.
  MetricTable finish() && {
    std::vector<std::size_t> order(columns_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return rank(columns_[a].name) < rank(columns_[b].name); });
    MetricTable table;
    for (std::size_t i : order) {
      table.columns.push_back(std::move(columns_[i]));
      table.cells.push_back(std::move(cells_[i]));
    }
    return table;
  }

 private:
  static int rank(const std::string& name) {
    const auto id = MetricId::parse(name);
    if (!id) return 40;
    switch (id->kind) {
      case MetricId::Kind::time: return 0;
      case MetricId::Kind::energy: return 10 + id->domain.display_rank();
      case MetricId::Kind::dynamic_energy: return 20 + id->domain.display_rank();
      case MetricId::Kind::region_time:
      case MetricId::Kind::region_energy: return 30;
      default: return 40;
    }
  }

  std::size_t runs_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<MetricColumn> columns_;
  std::vector<std::vector<MetricCell>> cells_;
};

void set(MetricCell& cell, double value, bool estimated = false, bool complete = true) {
  // A NaN (a figure the store could not keep) is as good as absent.
  if (!std::isfinite(value)) return;
  cell.value = value;
  cell.present = complete;
  cell.incomplete = !complete;
  cell.estimated = estimated;
}

}  // namespace

MetricTable metric_table(std::span<const RunRecord> runs) {
  TableBuilder builder(runs.size());
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const RunRecord& run = runs[r];
    // A run that never started has no measured time; its other figures are absent anyway.
    if (run.status != RunStatus::not_run) {
      const std::string name = MetricId::time().column();
      set(builder.cell(name, r, [&] { return MetricColumn{name, "time", "s", MetricKind::cost}; }), run.time_s);
    }
    for (const auto& e : run.energy) {
      const std::string description = e.domain.description();
      const std::string energy_name = MetricId::energy(e.domain).column();
      set(builder.cell(energy_name, r,
                       [&] {
                         return MetricColumn{energy_name, description, "J", MetricKind::cost};
                       }),
          e.energy_j, e.estimated, e.comparable());
      if (e.dynamic_energy_j) {
        const std::string name = MetricId::dynamic_energy(e.domain).column();
        set(builder.cell(name, r,
                         [&] {
                           return MetricColumn{name, "idle-adjusted " + description, "J", MetricKind::cost};
                         }),
            *e.dynamic_energy_j, e.estimated, e.comparable());
      }
    }
    // A region entered several times counts as the sum of its visits (as export writes it).
    struct RegionFigures {
      double time_s = 0;
      std::optional<double> energy_j = 0.0;  ///< absent once a visit lacks a complete total
      bool estimated = false;
    };
    std::map<std::string, RegionFigures> regions;
    for (const auto& region : run.regions) {
      RegionFigures& figures = regions[region.name];
      figures.time_s += region.end_s - region.start_s;
      const EnergyFigure* total = find_energy(region.energy, DomainId::total());
      if (total != nullptr && std::isfinite(total->energy_j) && total->comparable() && figures.energy_j) {
        *figures.energy_j += total->energy_j;
        figures.estimated = figures.estimated || total->estimated;
      } else {
        figures.energy_j.reset();
      }
    }
    for (const auto& [region_name, figures] : regions) {
      // A plain reference: lambdas may not capture structured bindings before clang 16 (the fuzzers' compiler).
      const std::string& name = region_name;
      const std::string time_name = MetricId::region_time(name).column();
      set(builder.cell(time_name, r,
                       [&] {
                         return MetricColumn{time_name, fmt::format("'{}' time", name), "s", MetricKind::cost};
                       }),
          figures.time_s);
      if (!figures.energy_j) continue;
      const std::string energy_name = MetricId::region_energy(name).column();
      set(builder.cell(energy_name, r,
                       [&] {
                         return MetricColumn{energy_name, fmt::format("'{}' energy", name), "J", MetricKind::cost};
                       }),
          *figures.energy_j, figures.estimated);
    }
    // A metric reported several times (per epoch, say) counts with its last value.
    for (const auto& m : run.metrics) {
      const std::string name = MetricId::metric(m.name).column();
      set(builder.cell(name, r, [&] { return MetricColumn{name, m.name, m.unit, MetricKind::quality}; }), m.value);
    }
  }
  return std::move(builder).finish();
}

std::vector<UnmeasuredDomain> unmeasured_domains(std::span<const RunRecord> runs) {
  std::vector<UnmeasuredDomain> seen;
  std::vector<bool> comparable;  // parallel to seen: some run measured it completely
  for (const RunRecord& run : runs) {
    if (run.warmup || run.status != RunStatus::ok) continue;
    for (const EnergyFigure& e : run.energy) {
      auto it = std::find_if(seen.begin(), seen.end(), [&](const UnmeasuredDomain& d) { return d.domain == e.domain; });
      if (it == seen.end()) {
        seen.push_back({e.domain, 0, 0, {}});
        comparable.push_back(false);
        it = seen.end() - 1;
      }
      const std::size_t i = static_cast<std::size_t>(it - seen.begin());
      ++it->runs;
      if (e.measured_nothing) ++it->measured_nothing;
      if (it->reason.empty()) it->reason = e.problem;
      if (e.comparable() && std::isfinite(e.energy_j)) comparable[i] = true;
    }
  }
  std::vector<UnmeasuredDomain> out;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (!comparable[i]) out.push_back(std::move(seen[i]));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.domain.display_rank() < b.domain.display_rank(); });
  return out;
}

std::string describe_unmeasured(const UnmeasuredDomain& d) {
  const std::string what = d.measured_nothing == d.runs ? "was not measured" : "was not measured completely";
  return fmt::format("{} {} in any of the {} run(s){}: not compared or plotted", d.domain.description(), what, d.runs,
                     d.reason.empty() ? "" : " (" + d.reason + ")");
}

std::vector<RunWarningSummary> run_warning_summaries(std::span<const RunRecord> runs) {
  std::vector<RunWarningSummary> out;
  std::size_t counted = 0;
  for (const RunRecord& run : runs) {
    if (run.warmup || run.status != RunStatus::ok) continue;
    ++counted;
    std::vector<std::string> kinds_of_run;
    for (const RunWarning& w : run.warnings) {
      if (std::find(kinds_of_run.begin(), kinds_of_run.end(), w.kind) != kinds_of_run.end()) continue;
      kinds_of_run.push_back(w.kind);
      auto it = std::find_if(out.begin(), out.end(), [&](const RunWarningSummary& s) { return s.kind == w.kind; });
      if (it == out.end()) {
        out.push_back({w.kind, 0, 0, w.message, fmt::format("{} rep {}", run.workload, run.repetition)});
        it = out.end() - 1;
      }
      ++it->runs;
    }
  }
  for (auto& summary : out) summary.of = counted;
  return out;
}

std::string describe_run_warnings(const RunWarningSummary& s) {
  std::string what = s.kind;
  if (s.kind == kBusyMachine) what = "ran on a busy machine";
  if (s.kind == kLeftoverProcesses) what = "left processes running that were killed after them";
  return fmt::format("{} of {} run(s) {} (first: {}: {})", s.runs, s.of, what, s.first_run, s.first_message);
}

std::vector<std::size_t> select_metrics(const MetricTable& table, std::span<const std::string> selectors) {
  const auto family = [](std::string_view selector, std::string_view name) {
    if (selector == "time") return name == "time_s";
    if (selector == "energy") return name.starts_with("energy_");
    if (selector == "dynamic") return name.starts_with("dynamic_energy_");
    if (selector == "regions") return name.starts_with("region_");
    if (selector == "metrics") return name.starts_with("metric_");
    return selector == name;
  };
  static const std::vector<std::string> kDefault{"time", "energy", "dynamic_energy_total_j", "regions", "metrics"};
  const bool defaults = selectors.empty();
  const std::span<const std::string> chosen = defaults ? std::span<const std::string>(kDefault) : selectors;

  std::vector<std::size_t> out;
  for (const auto& selector : chosen) {
    bool matched = false;
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      if (!family(selector, table.columns[i].name)) continue;
      matched = true;
      if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
    }
    const bool is_family = selector == "time" || selector == "energy" || selector == "dynamic" ||
                           selector == "regions" || selector == "metrics";
    if (!matched && !defaults && !is_family) {
      std::vector<std::string> names;
      for (const auto& c : table.columns) names.push_back(c.name);
      const std::string known = fmt::format("{}", fmt::join(names, ", "));
      throw std::invalid_argument(fmt::format(
          "no metric '{}' in these runs; use a family (time, energy, dynamic, regions, metrics) or one of: {}",
          selector, known.empty() ? "(none)" : known));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace joulebench

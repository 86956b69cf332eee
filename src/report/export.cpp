// `joulebench export`: one tidy row per run, as CSV or JSON, with the column names that
// `joulebench import` reads back (report.hpp lists them).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "joulebench/report.hpp"
#include "joulebench/store.hpp"
#include "report/escape.hpp"

namespace joulebench {

namespace {

using report_detail::csv_field;

/// One cell: missing, text, a real, an integer or a flag.
using Cell = std::variant<std::monostate, std::string, double, std::int64_t, bool>;

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

/// Domains in the order the columns take: the meter's domains first, then any other in the
/// order first seen; "total" is never among them (it has its own columns).
constexpr std::array<std::string_view, 6> kDomainOrder{"cpu", "core", "uncore", "dram", "psys", "gpu"};

/// Columns that a label key must not shadow: such a label is written as label_<key>.
constexpr std::array<std::string_view, 12> kFixedColumns{"campaign",    "workload",     "repetition", "status",
                                                         "warmup",      "time_s",       "exit_code",  "signal",
                                                         "user_cpu_s",  "system_cpu_s", "max_rss_kib", "cooldown_s"};

template <class T, class Key>
void add_first_seen(std::vector<T>& list, const Key& key) {
  if (std::find(list.begin(), list.end(), key) == list.end()) list.emplace_back(key);
}

Cell real(double v) {
  if (!std::isfinite(v)) return std::monostate{};
  return v;
}

Cell real(const std::optional<double>& v) { return v ? real(*v) : Cell{}; }

Table build_table(const Store& store, std::int64_t campaign, const RunFilter& filter) {
  const auto info = store.campaign(campaign);
  if (!info) throw StoreError(fmt::format("{}: cannot export: no campaign {}", store.file().string(), campaign));
  const std::vector<RunRecord> runs = store.runs(campaign, filter);

  // What columns there are: the union over the runs, in first-seen order.
  std::vector<std::string> labels;
  std::vector<std::string> other_domains;
  std::vector<std::string> metrics;
  std::vector<std::string> regions;
  std::array<bool, kDomainOrder.size()> known_present{};
  for (const auto& run : runs) {
    for (const auto& [key, value] : run.labels) add_first_seen(labels, key);
    for (const auto& e : run.energy) {
      if (e.domain == "total") continue;
      const auto known = std::find(kDomainOrder.begin(), kDomainOrder.end(), e.domain);
      if (known != kDomainOrder.end()) {
        known_present[static_cast<std::size_t>(known - kDomainOrder.begin())] = true;
      } else {
        add_first_seen(other_domains, e.domain);
      }
    }
    for (const auto& m : run.metrics) add_first_seen(metrics, m.name);
    for (const auto& r : run.regions) add_first_seen(regions, r.name);
  }
  std::vector<std::string> domains;
  for (std::size_t i = 0; i < kDomainOrder.size(); ++i) {
    if (known_present[i]) domains.emplace_back(kDomainOrder[i]);
  }
  domains.insert(domains.end(), other_domains.begin(), other_domains.end());
  std::vector<std::string> domains_and_total = domains;
  domains_and_total.emplace_back("total");

  Table table;
  auto& cols = table.columns;
  cols = {"campaign", "workload", "repetition", "status", "warmup"};
  for (const auto& key : labels) {
    const bool shadows = std::find(kFixedColumns.begin(), kFixedColumns.end(), key) != kFixedColumns.end();
    cols.push_back(shadows ? "label_" + key : key);
  }
  cols.emplace_back("time_s");
  for (const auto& d : domains_and_total) cols.push_back(fmt::format("energy_{}_j", d));
  for (const auto& d : domains_and_total) cols.push_back(fmt::format("energy_{}_estimated", d));
  for (const auto& d : domains_and_total) cols.push_back(fmt::format("dynamic_energy_{}_j", d));
  for (const auto& m : metrics) cols.push_back("metric_" + m);
  for (const char* c : {"exit_code", "signal", "user_cpu_s", "system_cpu_s", "max_rss_kib", "cooldown_s"}) {
    cols.emplace_back(c);
  }
  for (const auto& d : domains_and_total) cols.push_back(fmt::format("energy_{}_complete", d));
  for (const auto& r : regions) {
    cols.push_back(fmt::format("region_{}_time_s", r));
    cols.push_back(fmt::format("region_{}_energy_total_j", r));
  }

  for (const auto& run : runs) {
    std::vector<Cell> row;
    row.reserve(cols.size());
    const bool measured = run.status != RunStatus::not_run;
    row.emplace_back(info->name);
    row.emplace_back(run.workload);
    row.emplace_back(static_cast<std::int64_t>(run.repetition));
    row.emplace_back(std::string(run_status_name(run.status)));
    row.emplace_back(run.warmup);
    for (const auto& key : labels) {
      Cell cell;
      for (const auto& [k, v] : run.labels) {
        if (k == key) {
          cell = v;
          break;
        }
      }
      row.push_back(std::move(cell));
    }
    row.push_back(measured ? real(run.time_s) : Cell{});
    // A figure that measured nothing has no value: an empty cell, never a 0 that reads as one.
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e && !e->measured_nothing ? real(e->energy_j) : Cell{});
    }
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e ? Cell{e->estimated} : Cell{});
    }
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e && !e->measured_nothing ? real(e->dynamic_energy_j) : Cell{});
    }
    for (const auto& name : metrics) {
      // A metric reported more than once (per epoch, say) is exported with its last value.
      Cell cell;
      for (const auto& m : run.metrics) {
        if (m.name == name) cell = real(m.value);
      }
      row.push_back(std::move(cell));
    }
    row.push_back(run.exit_code ? Cell{static_cast<std::int64_t>(*run.exit_code)} : Cell{});
    row.push_back(run.signal ? Cell{static_cast<std::int64_t>(*run.signal)} : Cell{});
    row.push_back(measured ? real(run.user_cpu_s) : Cell{});
    row.push_back(measured ? real(run.system_cpu_s) : Cell{});
    row.push_back(measured ? Cell{run.max_rss_kib} : Cell{});
    row.push_back(real(run.cooldown_s));
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e ? Cell{e->complete} : Cell{});
    }
    for (const auto& name : regions) {
      // A region entered more than once (per epoch, say) is exported as the sum of its visits.
      double time = 0;
      double energy = 0;
      bool seen = false;
      bool energy_known = true;
      for (const auto& r : run.regions) {
        if (r.name != name) continue;
        seen = true;
        time += r.end_s - r.start_s;
        const auto* total = find_energy(r.energy, "total");
        if (total && !total->measured_nothing && std::isfinite(total->energy_j)) {
          energy += total->energy_j;
        } else {
          energy_known = false;
        }
      }
      row.push_back(seen ? real(time) : Cell{});
      row.push_back(seen && energy_known ? real(energy) : Cell{});
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string csv_cell(const Cell& cell, const ExportOptions& options) {
  struct Visitor {
    const ExportOptions& options;
    std::string operator()(std::monostate) const { return {}; }
    std::string operator()(const std::string& s) const { return csv_field(s, options.guard_formulas); }
    // "{}" is the shortest text that reads back as the same double.
    std::string operator()(double v) const { return fmt::format("{}", v); }
    std::string operator()(std::int64_t v) const { return fmt::format("{}", v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
  };
  return std::visit(Visitor{options}, cell);
}

nlohmann::ordered_json json_cell(const Cell& cell) {
  struct Visitor {
    nlohmann::ordered_json operator()(std::monostate) const { return nullptr; }
    nlohmann::ordered_json operator()(const std::string& s) const { return s; }
    nlohmann::ordered_json operator()(double v) const { return v; }
    nlohmann::ordered_json operator()(std::int64_t v) const { return v; }
    nlohmann::ordered_json operator()(bool v) const { return v; }
  };
  return std::visit(Visitor{}, cell);
}

}  // namespace

std::string export_csv(const Store& store, std::int64_t campaign, const RunFilter& filter, const ExportOptions& options) {
  const Table table = build_table(store, campaign, filter);
  std::string out;
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    if (i) out += ',';
    out += csv_field(table.columns[i], options.guard_formulas);  // a label's key names a column
  }
  out += '\n';
  for (const auto& row : table.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      out += csv_cell(row[i], options);
    }
    out += '\n';
  }
  return out;
}

std::string export_json(const Store& store, std::int64_t campaign, const RunFilter& filter) {
  const Table table = build_table(store, campaign, filter);
  if (table.rows.empty()) return "[]\n";
  std::string out = "[\n";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < table.columns.size(); ++i) object[table.columns[i]] = json_cell(table.rows[r][i]);
    out += "  ";
    // Text that is not valid UTF-8 (a label from a byte-string) is replaced rather than refused.
    out += object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out += r + 1 < table.rows.size() ? ",\n" : "\n";
  }
  out += "]\n";
  return out;
}

}  // namespace joulebench

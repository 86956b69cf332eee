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
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "joulebench/json_output.hpp"

#include "joulebench/report.hpp"
#include "joulebench/store.hpp"
#include "report/escape.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using Cell = report_detail::TableCell;

/// Columns that a label key must not shadow: such a label is written as label_<key>.
constexpr std::array<std::string_view, 13> kFixedColumns{
    "campaign", "workload",   "repetition",   "status",      "warmup",          "time_s",    "exit_code",
    "signal",   "user_cpu_s", "system_cpu_s", "max_rss_kib", "peak_memory_kib", "cooldown_s"};

template <class T, class Key>
void add_first_seen(std::vector<T>& list, const Key& key) {
  if (std::find(list.begin(), list.end(), key) == list.end()) list.emplace_back(key);
}

report_detail::Table build_table(const Store& store, std::int64_t campaign, const RunFilter& filter) {
  const auto info = store.campaign(campaign);
  if (!info) throw StoreError(fmt::format("{}: cannot export: no campaign {}", store.file().string(), campaign));
  const std::vector<RunRecord> runs = store.runs(campaign, filter);

  // What columns there are: the union over the runs, in first-seen order.
  std::vector<std::string> labels;
  std::vector<DomainId> domains_and_total;  // the meter's domains in their order, then others as first seen
  std::vector<std::string> metrics;
  std::vector<std::string> regions;
  bool cgroup_memory = false;  // a container run's peak memory: a column only where some run has one
  for (const auto& run : runs) {
    cgroup_memory = cgroup_memory || run.peak_memory_kib.has_value();
    for (const auto& [key, value] : run.labels) add_first_seen(labels, key);
    for (const auto& e : run.energy) {
      if (!e.domain.is_total()) add_first_seen(domains_and_total, e.domain);
    }
    for (const auto& m : run.metrics) add_first_seen(metrics, m.name);
    for (const auto& r : run.regions) add_first_seen(regions, r.name);
  }
  std::stable_sort(domains_and_total.begin(), domains_and_total.end(),
                   [](const DomainId& a, const DomainId& b) { return a.display_rank() < b.display_rank(); });
  domains_and_total.push_back(DomainId::total());

  std::vector<std::string> cols = {"campaign", "workload", "repetition", "status", "warmup"};
  for (const auto& key : labels) {
    const bool shadows = std::find(kFixedColumns.begin(), kFixedColumns.end(), key) != kFixedColumns.end();
    cols.push_back(shadows ? "label_" + key : key);
  }
  cols.emplace_back("time_s");
  for (const auto& d : domains_and_total) cols.push_back(MetricId::energy(d).column());
  for (const auto& d : domains_and_total) cols.push_back(MetricId::energy_estimated(d).column());
  for (const auto& d : domains_and_total) cols.push_back(MetricId::dynamic_energy(d).column());
  for (const auto& m : metrics) cols.push_back(MetricId::metric(m).column());
  for (const char* c : {"exit_code", "signal", "user_cpu_s", "system_cpu_s", "max_rss_kib"}) cols.emplace_back(c);
  if (cgroup_memory) cols.emplace_back("peak_memory_kib");
  cols.emplace_back("cooldown_s");
  for (const auto& d : domains_and_total) cols.push_back(MetricId::energy_complete(d).column());
  for (const auto& r : regions) {
    cols.push_back(MetricId::region_time(r).column());
    cols.push_back(MetricId::region_energy(r).column());
  }
  std::vector<report_detail::TableColumn> table_columns;
  for (auto& c : cols) table_columns.push_back({std::move(c), report_detail::ColumnAlign::left, {}});
  report_detail::Table table(std::move(table_columns));

  for (const auto& run : runs) {
    std::vector<Cell> row;
    row.reserve(table.columns().size());
    const bool measured = run.status != RunStatus::not_run;
    row.push_back(Cell::text(info->name));
    row.push_back(Cell::text(run.workload));
    row.push_back(Cell::integer(run.repetition));
    row.push_back(Cell::text(std::string(run_status_name(run.status))));
    row.push_back(Cell::flag(run.warmup));
    for (const auto& key : labels) {
      Cell cell;
      for (const auto& [k, v] : run.labels) {
        if (k == key) {
          cell = Cell::text(v);
          break;
        }
      }
      row.push_back(std::move(cell));
    }
    row.push_back(measured ? Cell::number(run.time_s) : Cell{});
    // A figure that measured nothing has no value: an empty cell, never a 0 that reads as one.
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e && !e->measured_nothing ? Cell::number(e->energy_j) : Cell{});
    }
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e ? Cell::flag(e->estimated) : Cell{});
    }
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e && !e->measured_nothing ? Cell::number(e->dynamic_energy_j) : Cell{});
    }
    for (const auto& name : metrics) {
      // A metric reported more than once (per epoch, say) is exported with its last value.
      Cell cell;
      for (const auto& m : run.metrics) {
        if (m.name == name) cell = Cell::number(m.value);
      }
      row.push_back(std::move(cell));
    }
    row.push_back(run.exit_code ? Cell::integer(*run.exit_code) : Cell{});
    row.push_back(run.signal ? Cell::integer(*run.signal) : Cell{});
    row.push_back(measured ? Cell::number(run.user_cpu_s) : Cell{});
    row.push_back(measured ? Cell::number(run.system_cpu_s) : Cell{});
    row.push_back(measured && run.max_rss_kib ? Cell::integer(*run.max_rss_kib) : Cell{});
    if (cgroup_memory) row.push_back(measured && run.peak_memory_kib ? Cell::integer(*run.peak_memory_kib) : Cell{});
    row.push_back(Cell::number(run.cooldown_s));
    for (const auto& d : domains_and_total) {
      const auto* e = find_energy(run.energy, d);
      row.push_back(e ? Cell::flag(e->complete) : Cell{});
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
        const auto* total = find_energy(r.energy, DomainId::total());
        if (total && !total->measured_nothing && std::isfinite(total->energy_j)) {
          energy += total->energy_j;
        } else {
          energy_known = false;
        }
      }
      row.push_back(seen ? Cell::number(time) : Cell{});
      row.push_back(seen && energy_known ? Cell::number(energy) : Cell{});
    }
    table.add_row(std::move(row));
  }
  return table;
}

}  // namespace

std::string export_csv(const Store& store, std::int64_t campaign, const RunFilter& filter,
                       const ExportOptions& options) {
  // A label's key names a column: the header is guarded as the cells are.
  return build_table(store, campaign, filter).csv(options.guard_formulas);
}

std::string export_json(const Store& store, std::int64_t campaign, const RunFilter& filter) {
  const auto info = store.campaign(campaign);
  if (!info) throw StoreError(fmt::format("{}: cannot export: no campaign {}", store.file().string(), campaign));
  Json document = json_document(JsonSchema::runs);
  document["campaign"] = {{"id", info->id}, {"name", info->name}, {"plan_hash", info->plan_hash}};
  document["runs"] = Json::array();
  for (const auto& run : store.runs(campaign, filter)) document["runs"].push_back(run_json(run));
  return dump_json(document);
}

}  // namespace joulebench

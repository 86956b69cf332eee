// `joulebench bench`'s results in the shapes hyperfine users know: the terminal block per command,
// and --export-json/-csv/-markdown with hyperfine's keys and columns first, so scripts written for
// hyperfine read them, then joulebench's energy figures.
#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "joulebench/json_output.hpp"
#include "joulebench/report.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using report_detail::ColumnAlign;
using report_detail::Table;
using report_detail::TableCell;
using report_detail::TableColumn;

const MetricSummary* find_metric(const WorkloadSummary& summary, const MetricId& id) {
  const std::string column = id.column();
  for (const MetricSummary& m : summary.metrics) {
    if (m.column.name == column) return &m;
  }
  return nullptr;
}

/// The energy summaries: each domain, then the total, then the idle-adjusted figures.
std::vector<const MetricSummary*> energy_metrics(const WorkloadSummary& summary) {
  std::vector<const MetricSummary*> out;
  for (const MetricSummary& m : summary.metrics) {
    if (m.column.name != MetricId::time().column()) out.push_back(&m);
  }
  return out;
}

/// hyperfine's `user` and `system`: the mean over the counted runs (NaN when there are none).
double mean_of(const WorkloadSummary& s, double RunRecord::*seconds) {
  double sum = 0;
  for (const auto& r : s.runs) sum += r.*seconds;
  return s.runs.empty() ? std::nan("") : sum / static_cast<double>(s.runs.size());
}

// --- terminal ------------------------------------------------------------------------------

std::string text_line(std::string title, const MetricSummary& m) {
  const std::string& unit = m.column.unit;
  if (!title.empty()) title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
  if (m.values.empty() && m.incomplete > 0)
    return fmt::format("  {}: not measured in any of its {} run(s): left out\n", title, m.incomplete);
  if (!m.descriptive.ok()) return fmt::format("  {}: {}\n", title, m.descriptive.reason());
  const stats::Descriptive& d = *m.descriptive;
  std::string out = fmt::format("  {} (mean ± σ): {} {} ± {} {}", title, format_number(d.mean), unit,
                                d.sd ? format_number(*d.sd) : "-", unit);
  if (m.mean_interval.ok()) {
    out += fmt::format("   [{:g}% CI {} … {} {}]", m.mean_interval->confidence * 100,
                       format_number(m.mean_interval->lower), format_number(m.mean_interval->upper), unit);
  }
  if (m.estimated) out += "  (estimated)";
  if (m.incomplete > 0) out += fmt::format("  ({} run(s) left out: not measured throughout)", m.incomplete);
  return out + "\n";
}

std::string bench_text(std::span<const BenchResult> results) {
  std::string out;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const BenchResult& r = results[i];
    out += fmt::format("Benchmark {}: {}\n", i + 1, r.summary.workload);
    const MetricSummary* time = find_metric(r.summary, MetricId::time());
    if (time == nullptr || !time->descriptive.ok()) {
      out += "  no run started\n\n";
      continue;
    }
    out += text_line("Time", *time);
    out += fmt::format("  Range (min … max): {} s … {} s   {} run(s)\n", format_number(time->descriptive->min),
                       format_number(time->descriptive->max), r.summary.runs.size());
    for (const MetricSummary* m : energy_metrics(r.summary)) {
      out += text_line(m->column.description, *m);
    }
    const auto failed = std::count_if(r.summary.runs.begin(), r.summary.runs.end(),
                                      [](const RunRecord& run) { return run.status != RunStatus::ok; });
    if (failed > 0) out += fmt::format("  {} run(s) failed (counted, as -i asked)\n", failed);
    out += "\n";
  }
  return out;
}

// --- JSON ----------------------------------------------------------------------------------

Json statistics_json(const MetricSummary& m) {
  Json out = Json::object();
  out["unit"] = m.column.unit;
  if (m.descriptive.ok()) {
    const stats::Descriptive& d = *m.descriptive;
    out["mean"] = d.mean;
    out["stddev"] = d.sd ? Json(*d.sd) : Json(nullptr);
    out["median"] = d.median;
    out["min"] = d.min;
    out["max"] = d.max;
  } else {
    for (const char* key : {"mean", "stddev", "median", "min", "max"}) out[key] = nullptr;
  }
  if (m.mean_interval.ok()) {
    out["mean_interval"] = {{"confidence", m.mean_interval->confidence},
                            {"lower", m.mean_interval->lower},
                            {"upper", m.mean_interval->upper}};
  } else {
    out["mean_interval"] = nullptr;
  }
  out["values"] = m.values;
  out["estimated"] = m.estimated;
  out["incomplete_runs"] = m.incomplete;
  return out;
}

Json run_energy_json(const RunRecord& run) {
  Json energy = Json::object();
  Json dynamic = Json::object();
  for (const EnergyFigure& f : run.energy) {
    energy[f.domain.name()] = f.comparable() ? number_or_null(f.energy_j) : Json(nullptr);
    if (f.dynamic_energy_j) dynamic[f.domain.name()] = f.comparable() ? number_or_null(*f.dynamic_energy_j) : Json();
  }
  Json out = {{"energy_j", energy}};
  if (!dynamic.empty()) out["dynamic_energy_j"] = dynamic;
  return out;
}

std::string bench_json(std::span<const BenchResult> results) {
  Json doc = json_document(JsonSchema::bench);
  Json list = Json::array();
  for (const BenchResult& r : results) {
    const MetricSummary* time = find_metric(r.summary, MetricId::time());
    Json result = Json::object();
    result["command"] = r.command;
    // hyperfine's keys, with its meanings: seconds of wall time over the counted runs.
    const bool timed = time != nullptr && time->descriptive.ok();
    result["mean"] = timed ? Json(time->descriptive->mean) : Json(nullptr);
    result["stddev"] = timed && time->descriptive->sd ? Json(*time->descriptive->sd) : Json(nullptr);
    result["median"] = timed ? Json(time->descriptive->median) : Json(nullptr);
    result["user"] = number_or_null(mean_of(r.summary, &RunRecord::user_cpu_s));
    result["system"] = number_or_null(mean_of(r.summary, &RunRecord::system_cpu_s));
    result["min"] = timed ? Json(time->descriptive->min) : Json(nullptr);
    result["max"] = timed ? Json(time->descriptive->max) : Json(nullptr);
    Json times = Json::array();
    Json exit_codes = Json::array();
    for (const RunRecord& run : r.summary.runs) {
      times.push_back(run.time_s);
      exit_codes.push_back(run.exit_code ? Json(*run.exit_code) : Json(nullptr));
    }
    result["times"] = times;
    result["exit_codes"] = exit_codes;
    Json parameters = Json::object();
    for (const auto& [key, value] : r.parameters) parameters[key] = value;
    result["parameters"] = parameters;
    // joulebench's own, after hyperfine's.
    result["name"] = r.summary.workload;
    if (time != nullptr) result["time"] = statistics_json(*time);
    Json energy = Json::object();
    for (const MetricSummary* m : energy_metrics(r.summary)) energy[m->column.name] = statistics_json(*m);
    result["energy"] = energy;
    Json runs = Json::array();
    for (const RunRecord& run : r.summary.runs) {
      Json one = {{"repetition", run.repetition},
                  {"status", std::string(run_status_name(run.status))},
                  {"exit_code", run.exit_code ? Json(*run.exit_code) : Json(nullptr)},
                  {"signal", run.signal ? Json(*run.signal) : Json(nullptr)},
                  {"time_s", run.time_s},
                  {"user_cpu_s", run.user_cpu_s},
                  {"system_cpu_s", run.system_cpu_s}};
      one.update(run_energy_json(run));
      runs.push_back(one);
    }
    result["runs"] = runs;
    list.push_back(result);
  }
  doc["results"] = list;
  return dump_json(doc);
}

// --- CSV and Markdown ----------------------------------------------------------------------

/// The energy columns every result has a figure for, in the order of the first result's.
std::vector<std::string> energy_columns(std::span<const BenchResult> results) {
  std::vector<std::string> names;
  for (const BenchResult& r : results) {
    for (const MetricSummary* m : energy_metrics(r.summary)) {
      if (m->values.empty()) continue;  // measured in no run (a counter that stood still): no column
      if (std::find(names.begin(), names.end(), m->column.name) == names.end()) names.push_back(m->column.name);
    }
  }
  return names;
}

std::vector<std::string> parameter_names(std::span<const BenchResult> results) {
  std::vector<std::string> names;
  for (const BenchResult& r : results) {
    for (const auto& [key, value] : r.parameters) {
      if (std::find(names.begin(), names.end(), key) == names.end()) names.push_back(key);
    }
  }
  return names;
}

std::string bench_csv(std::span<const BenchResult> results) {
  std::vector<TableColumn> columns;
  for (const char* name : {"command", "mean", "stddev", "median", "user", "system", "min", "max"})
    columns.push_back({name, ColumnAlign::left, {}});
  const auto parameters = parameter_names(results);
  for (const auto& p : parameters) columns.push_back({"parameter_" + p, ColumnAlign::left, {}});
  // energy_cpu_j -> energy_cpu_j_mean, _stddev, _median, _min, _max, _estimated
  const auto energies = energy_columns(results);
  for (const auto& e : energies) {
    for (const char* stat : {"mean", "stddev", "median", "min", "max", "estimated"})
      columns.push_back({e + "_" + stat, ColumnAlign::left, {}});
  }
  Table table(columns);
  for (const BenchResult& r : results) {
    std::vector<TableCell> row{TableCell::text(r.command)};
    const MetricSummary* time = find_metric(r.summary, MetricId::time());
    const stats::Descriptive* d = time != nullptr && time->descriptive.ok() ? &*time->descriptive : nullptr;
    row.push_back(d ? TableCell::number(d->mean) : TableCell());
    row.push_back(d ? TableCell::number(d->sd) : TableCell());
    row.push_back(d ? TableCell::number(d->median) : TableCell());
    row.push_back(TableCell::number(mean_of(r.summary, &RunRecord::user_cpu_s)));
    row.push_back(TableCell::number(mean_of(r.summary, &RunRecord::system_cpu_s)));
    row.push_back(d ? TableCell::number(d->min) : TableCell());
    row.push_back(d ? TableCell::number(d->max) : TableCell());
    for (const auto& p : parameters) row.push_back(TableCell::text(value_of(r.parameters, p)));
    for (const auto& e : energies) {
      const auto id = MetricId::parse(e);
      const MetricSummary* m = id ? find_metric(r.summary, *id) : nullptr;
      const stats::Descriptive* ed = m != nullptr && m->descriptive.ok() ? &*m->descriptive : nullptr;
      row.push_back(ed ? TableCell::number(ed->mean) : TableCell());
      row.push_back(ed ? TableCell::number(ed->sd) : TableCell());
      row.push_back(ed ? TableCell::number(ed->median) : TableCell());
      row.push_back(ed ? TableCell::number(ed->min) : TableCell());
      row.push_back(ed ? TableCell::number(ed->max) : TableCell());
      row.push_back(m != nullptr ? TableCell::flag(m->estimated) : TableCell());
    }
    table.add_row(std::move(row));
  }
  return table.csv();
}

std::string mean_and_sd(const MetricSummary* m) {
  if (m == nullptr || !m->descriptive.ok()) return "-";
  const stats::Descriptive& d = *m->descriptive;
  return fmt::format("{} ± {}{}", format_number(d.mean), d.sd ? format_number(*d.sd) : "-",
                     m->estimated ? " (estimated)" : "");
}

/// Each result's mean over the lowest mean, as hyperfine's "Relative" column.
std::vector<std::string> relative(std::span<const BenchResult> results, const MetricId& id) {
  std::vector<std::optional<double>> means;
  for (const BenchResult& r : results) {
    const MetricSummary* m = find_metric(r.summary, id);
    means.push_back(m != nullptr && m->descriptive.ok() ? std::optional(m->descriptive->mean) : std::nullopt);
  }
  std::optional<double> lowest;
  for (const auto& m : means) {
    if (m && *m > 0 && (!lowest || *m < *lowest)) lowest = *m;
  }
  std::vector<std::string> out;
  for (const auto& m : means) out.push_back(m && lowest ? fmt::format("{:.2f}", *m / *lowest) : "-");
  return out;
}

std::string bench_markdown(std::span<const BenchResult> results) {
  std::vector<TableColumn> columns{{"Command", ColumnAlign::left, {}}};
  for (const char* name : {"Mean [s]", "Min [s]", "Max [s]", "Relative", "Energy, total [J]", "Relative energy"})
    columns.push_back({name, ColumnAlign::right, {}});
  Table table(std::move(columns));
  const auto time_relative = relative(results, MetricId::time());
  const auto energy_relative = relative(results, MetricId::energy(DomainId::total()));
  for (std::size_t i = 0; i < results.size(); ++i) {
    const BenchResult& r = results[i];
    const MetricSummary* time = find_metric(r.summary, MetricId::time());
    const bool timed = time != nullptr && time->descriptive.ok();
    table.add_row({TableCell::text(r.command), TableCell::formatted(mean_and_sd(time)),
                   TableCell::formatted(timed ? format_number(time->descriptive->min) : "-"),
                   TableCell::formatted(timed ? format_number(time->descriptive->max) : "-"),
                   TableCell::formatted(time_relative[i]),
                   TableCell::formatted(mean_and_sd(find_metric(r.summary, MetricId::energy(DomainId::total())))),
                   TableCell::formatted(energy_relative[i])});
  }
  return table.markdown();
}

}  // namespace

std::string bench_report(std::span<const BenchResult> results, BenchFormat format) {
  switch (format) {
    case BenchFormat::text: return bench_text(results);
    case BenchFormat::json: return bench_json(results);
    case BenchFormat::csv: return bench_csv(results);
    case BenchFormat::markdown: return bench_markdown(results);
  }
  return {};
}

}  // namespace joulebench

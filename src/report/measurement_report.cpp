#include <algorithm>

#include <nlohmann/json.hpp>

#include "joulebench/json_output.hpp"

#include <fmt/format.h>

#include "joulebench/analysis.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"
#include "report/regions.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

std::string joined_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`") == std::string::npos;
    out += (out.empty() ? "" : " ") + (plain ? arg : nlohmann::json(arg).dump());
  }
  return out;
}

std::string kind_label(const EnergyFigure& f) {
  if (f.partly_estimated) return "partly estimated";
  return f.estimated ? "estimated" : "measured";
}

std::string optional_joules(const std::optional<double>& j) { return j ? fmt::format("{:.3f}", *j) : "-"; }

}  // namespace

/// The regions the command marked on its events channel, in the order they began: their times
/// and total energy (per-domain figures are in the JSON).
std::string report_detail::regions_text(const std::vector<StoredRegion>& regions) {
  if (regions.empty()) return {};
  std::string out = fmt::format("\n  {:<20} {:>10} {:>10} {:>12} {:>10}  {}\n", "region", "start (s)", "time (s)",
                                "energy (J)", "power (W)", "kind");
  for (const auto& r : regions) {
    const EnergyFigure* total = find_energy(r.energy, DomainId::total());
    const double time_s = r.end_s - r.start_s;
    std::string energy = "-";
    std::string power = "-";
    std::string kind = "no energy source";
    if (total != nullptr) {
      kind = total->measured_nothing ? "NOT MEASURED" : kind_label(*total);
      if (!total->complete && !total->measured_nothing) kind += ", INCOMPLETE";
      if (!total->measured_nothing) {
        energy = fmt::format("{:.3f}", total->energy_j);
        power = time_s > 0 ? fmt::format("{:.3f}", total->energy_j / time_s) : "-";
      }
    }
    out +=
        fmt::format("  {:<20} {:>10.3f} {:>10.3f} {:>12} {:>10}  {}\n", r.name, r.start_s, time_s, energy, power, kind);
  }
  return out;
}

std::string measurement_text(const CommandMeasurement& m) {
  const auto& p = m.process;
  const auto& w = m.window;
  std::string out = fmt::format("joulebench measure: {}\n", joined_command(m.command));
  out += fmt::format("  status      {}\n", p.status.describe());
  out += fmt::format("  wall time   {:.3f} s\n", p.wall().count());
  out += fmt::format("  CPU time    {:.3f} s user + {:.3f} s system (the command and its descendants)\n",
                     p.user_cpu.count(), p.system_cpu.count());
  out +=
      fmt::format("  max RSS     {:.1f} MiB (largest single process)\n", static_cast<double>(p.max_rss_kib) / 1024.0);
  const double sampler_share = w.duration().count() > 0 ? w.sampler_cpu_time / w.duration() : 0.0;
  out +=
      fmt::format("  meter       {} reads, every {:g} ms; sampling thread used {:.2f} ms CPU ({:.3f} % of one core)\n",
                  w.samples, w.interval.count() * 1e3, w.sampler_cpu_time.count() * 1e3, sampler_share * 100.0);
  if (m.idle) {
    out += fmt::format("  idle        baseline measured for {:.2f} s before the command\n", m.idle->duration.count());
  }
  if (m.gpus) {
    std::string gpus;
    for (std::size_t i = 0; i < m.gpus->indices.size(); ++i) {
      const bool has_uuid = i < m.gpus->uuids.size() && !m.gpus->uuids[i].empty();
      gpus += fmt::format("{}{}{}", i > 0 ? ", " : "", m.gpus->indices[i],
                          has_uuid ? fmt::format(" ({})", m.gpus->uuids[i]) : std::string());
    }
    out += fmt::format("  GPUs        {}: gpu counts these, gpu-other the others\n", gpus.empty() ? "none" : gpus);
  }
  out += "\n";

  const bool with_idle = m.idle.has_value();
  // Wide enough for "gpu-other" where a run names its GPUs; as it always was otherwise.
  std::size_t width = 7;
  for (const auto& f : m.run.energy) width = std::max(width, f.domain.name().size());
  if (with_idle) {
    out += fmt::format("  {:<{}} {:>12} {:>10} {:>10} {:>12} {:>12}  {:<15} {}\n", "domain", width, "energy (J)",
                       "power (W)", "idle (W)", "dynamic (J)", "command (J)", "source", "kind");
  } else {
    out += fmt::format("  {:<{}} {:>12} {:>10}  {:<15} {}\n", "domain", width, "energy (J)", "power (W)", "source",
                       "kind");
  }
  const double duration_s = w.duration().count();
  auto row = [&](const EnergyFigure& f) {
    std::string kind = f.measured_nothing ? "NOT MEASURED" : kind_label(f);
    if (!f.complete && !f.measured_nothing) kind += ", INCOMPLETE";
    if (!f.domain.is_total() && !f.domain.counts_toward_total()) kind += ", not in total";
    const std::string energy = f.measured_nothing ? "-" : fmt::format("{:.3f}", f.energy_j);
    const std::string power =
        f.measured_nothing ? "-" : fmt::format("{:.3f}", duration_s > 0 ? f.energy_j / duration_s : 0.0);
    if (with_idle) {
      return fmt::format("  {:<{}} {:>12} {:>10} {:>10} {:>12} {:>12}  {:<15} {}\n", f.domain.name(), width, energy,
                         power, f.idle_power_w ? fmt::format("{:.3f}", *f.idle_power_w) : "-",
                         optional_joules(f.dynamic_energy_j), optional_joules(f.attributed_energy_j), f.source, kind);
    }
    return fmt::format("  {:<{}} {:>12} {:>10}  {:<15} {}\n", f.domain.name(), width, energy, power, f.source, kind);
  };
  for (const auto& f : m.run.energy) out += row(f);

  out += report_detail::regions_text(m.run.regions);
  for (const auto& metric : m.run.metrics) {
    out += fmt::format("  metric      {} = {:g}{}{}\n", metric.name, metric.value, metric.unit.empty() ? "" : " ",
                       metric.unit);
  }

  if (with_idle && m.cpu_share) {
    out += fmt::format(
        "\n  command (J): the CPU domains' dynamic energy times the command's share of the machine's busy CPU time "
        "({:.1f} %); an attribution, not a measurement.\n",
        *m.cpu_share * 100.0);
  }
  bool any_estimated = false;
  for (const auto& f : m.domains()) any_estimated = any_estimated || f.estimated;
  if (any_estimated) {
    for (const auto& c : w.channels) {
      if (c.estimated) {
        out += fmt::format("\n  estimated: {} figures come from a model, not a sensor: {}", c.id, c.origin);
      }
    }
    out += "\n";
  }
  for (const auto& warning : m.run.warnings) out += fmt::format("\n  warning: {}", warning.message);
  for (const auto& note : m.notes) out += fmt::format("\n  warning: {}", note);
  if (!m.run.warnings.empty() || !m.notes.empty()) out += "\n";
  return out;
}

std::string measurement_json(const CommandMeasurement& m) {
  const auto& p = m.process;
  const auto& w = m.window;
  Json status = {{"signaled", p.status.signaled}, {"shell_status", p.status.shell_status()}};
  if (p.status.signaled) {
    status["signal"] = p.status.signal;
    status["core_dumped"] = p.status.core_dumped;
  } else {
    status["exit_code"] = p.status.code;
  }
  Json channels = Json::array();
  for (std::size_t i = 0; i < w.channels.size(); ++i) {
    const auto& c = w.channels[i];
    const auto& t = w.totals[i];
    Json channel = {{"id", c.id},
                    {"domain", domain_name(c.domain)},
                    {"device", c.device},
                    {"source", c.source},
                    {"method", method_name(c.method)},
                    {"estimated", c.estimated},
                    {"origin", c.origin},
                    {"energy_j", t.energy.value},
                    {"complete", t.complete()},
                    {"unmeasured_s", t.unmeasured.count()},
                    {"unmeasured_intervals", t.unmeasured_intervals}};
    if (!t.first_problem.empty()) channel["problem"] = t.first_problem;
    channels.push_back(channel);
  }
  Json sources = Json::array();
  for (const auto& r : m.sources) {
    Json properties = Json::object();
    for (const auto& [key, value] : r.properties) properties[key] = value;
    sources.push_back({{"name", r.name}, {"resolution", r.resolution}, {"properties", properties}});
  }
  Json out = json_document(JsonSchema::measure);
  out["command"] = m.command;
  out["status"] = status;
  out["run"] = run_json(m.run, w.duration().count());
  out["left_processes_running"] = !p.leftovers.empty();
  out["leftovers"] = p.leftovers;
  out["in_cgroup"] = p.in_cgroup;
  out["window"] = {{"duration_s", w.duration().count()},
                   {"interval_s", w.interval.count()},
                   {"reads", w.samples},
                   {"longest_gap_s", w.longest_gap.count()},
                   {"sampler_cpu_s", w.sampler_cpu_time.count()}};
  if (w.machine_cpu_busy) out["window"]["machine_cpu_busy_s"] = w.machine_cpu_busy->count();
  out["channels"] = channels;
  out["sources"] = sources;
  out["cpu_share"] = m.cpu_share ? Json(*m.cpu_share) : Json(nullptr);
  if (m.gpus) {
    Json gpus = Json::array();
    for (std::size_t i = 0; i < m.gpus->indices.size(); ++i) {
      const std::string& uuid = i < m.gpus->uuids.size() ? m.gpus->uuids[i] : std::string();
      gpus.push_back({{"index", m.gpus->indices[i]}, {"uuid", uuid.empty() ? Json(nullptr) : Json(uuid)}});
    }
    out["gpus"] = gpus;
  }
  if (m.idle) {
    // Split as the command's GPUs were, so its gpu idle power is the one its dynamic energy used.
    const IdleBaseline idle = w.gpus ? m.idle->relabelled(w.channels) : *m.idle;
    Json power = Json::object();
    for (const auto& e : idle.energy) {
      if (auto watts = idle.power(e.domain)) power[std::string(domain_name(e.domain))] = watts->value;
    }
    out["idle"] = {{"duration_s", m.idle->duration.count()}, {"complete", m.idle->complete}, {"power_w", power}};
  }
  out["notes"] = m.notes;
  return dump_json(out);
}

std::string measurement_csv(const CommandMeasurement& m) {
  using report_detail::TableCell;
  const auto& p = m.process;
  std::vector<std::pair<std::string, TableCell>> columns = {
      {"command", TableCell::text(joined_command(m.command))},
      {"status", TableCell::text(p.status.signaled ? "signaled" : "exited")},
      {"exit_code", p.status.signaled ? TableCell() : TableCell::integer(p.status.code)},
      {"signal", p.status.signaled ? TableCell::integer(p.status.signal) : TableCell()},
      {"time_s", TableCell::formatted(fmt::format("{:.6f}", p.wall().count()))},
      {"window_s", TableCell::formatted(fmt::format("{:.6f}", m.window.duration().count()))},
      {"user_cpu_s", TableCell::formatted(fmt::format("{:.6f}", p.user_cpu.count()))},
      {"system_cpu_s", TableCell::formatted(fmt::format("{:.6f}", p.system_cpu.count()))},
      {"max_rss_kib", TableCell::integer(p.max_rss_kib)},
  };
  const auto joules = [](const std::optional<double>& j) {
    return j ? TableCell::formatted(fmt::format("{:.3f}", *j)) : TableCell();
  };
  for (const auto& f : m.run.energy) {
    columns.emplace_back(MetricId::energy(f.domain).column(),
                         f.measured_nothing ? TableCell() : TableCell::formatted(fmt::format("{:.6f}", f.energy_j)));
    columns.emplace_back(MetricId::energy_estimated(f.domain).column(), TableCell::flag(f.estimated));
    columns.emplace_back(MetricId::energy_complete(f.domain).column(), TableCell::flag(f.complete));
    if (m.idle) columns.emplace_back(MetricId::dynamic_energy(f.domain).column(), joules(f.dynamic_energy_j));
    if (f.attributed_energy_j) {
      columns.emplace_back(fmt::format("attributed_energy_{}_j", f.domain.name()),
                           TableCell::formatted(fmt::format("{:.6f}", *f.attributed_energy_j)));
    }
  }
  // Regions (a name entered several times sums its visits) and metrics, named as `export` names them.
  const MetricTable metrics = metric_table(std::span<const RunRecord>(&m.run, 1));
  for (std::size_t c = 0; c < metrics.columns.size(); ++c) {
    const auto id = MetricId::parse(metrics.columns[c].name);
    const bool wanted = id && (id->kind == MetricId::Kind::region_time || id->kind == MetricId::Kind::region_energy ||
                               id->kind == MetricId::Kind::metric);
    if (!wanted) continue;
    const MetricCell& cell = metrics.cells[c][0];
    columns.emplace_back(metrics.columns[c].name,
                         cell.present ? TableCell::formatted(fmt::format("{:.6g}", cell.value)) : TableCell());
  }
  std::vector<report_detail::TableColumn> header;
  std::vector<TableCell> row;
  for (auto& [name, cell] : columns) {
    header.push_back({name, report_detail::ColumnAlign::left, {}});
    row.push_back(std::move(cell));
  }
  report_detail::Table table(std::move(header));
  table.add_row(std::move(row));
  return table.csv();
}

}  // namespace joulebench

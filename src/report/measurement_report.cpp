#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "joulebench/report.hpp"
#include "report/escape.hpp"

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

std::string optional_joules(const std::optional<Joules>& j) { return j ? fmt::format("{:.3f}", j->value) : "-"; }

nlohmann::json figure_json(const EnergyFigure& f) {
  // A figure that measured nothing has no value: null, never a 0 that reads as a measurement.
  const auto value = [&](double v) { return f.measured_nothing ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json j = {{"name", f.name},
                      {"energy_j", value(f.energy.value)},
                      {"average_power_w", value(f.average_power.value)},
                      {"measured", !f.measured_nothing},
                      {"source", f.source},
                      {"method", f.method},
                      {"estimated", f.estimated},
                      {"complete", f.complete()},
                      {"unmeasured_s", f.unmeasured.count()},
                      {"counted_in_total", f.counted_in_total}};
  if (f.name == "total") j["partly_estimated"] = f.partly_estimated;
  if (!f.problem.empty()) j["problem"] = f.problem;
  if (f.idle_power) j["idle_power_w"] = f.idle_power->value;
  if (f.dynamic_energy) {
    j["dynamic_energy_j"] = f.dynamic_energy->value;
    j["below_idle"] = f.below_idle;
  }
  if (f.attributed_energy) j["attributed_energy_j"] = f.attributed_energy->value;
  return j;
}

}  // namespace

std::string measurement_text(const Measurement& m) {
  const auto& p = m.process;
  const auto& w = m.window;
  std::string out = fmt::format("joulebench measure: {}\n", joined_command(m.command));
  out += fmt::format("  status      {}\n", p.status.describe());
  out += fmt::format("  wall time   {:.3f} s\n", p.wall().count());
  out += fmt::format("  CPU time    {:.3f} s user + {:.3f} s system (the command and its descendants)\n", p.user_cpu.count(),
                     p.system_cpu.count());
  out += fmt::format("  max RSS     {:.1f} MiB (largest single process)\n", static_cast<double>(p.max_rss_kib) / 1024.0);
  const double sampler_share = w.duration().count() > 0 ? w.sampler_cpu_time / w.duration() : 0.0;
  out += fmt::format("  meter       {} reads, every {:g} ms; sampling thread used {:.2f} ms CPU ({:.3f} % of one core)\n",
                     w.samples, w.interval.count() * 1e3, w.sampler_cpu_time.count() * 1e3, sampler_share * 100.0);
  if (m.idle) {
    out += fmt::format("  idle        baseline measured for {:.2f} s before the command\n", m.idle->duration.count());
  }
  out += "\n";

  const bool with_idle = m.idle.has_value();
  if (with_idle) {
    out += fmt::format("  {:<7} {:>12} {:>10} {:>10} {:>12} {:>12}  {:<15} {}\n", "domain", "energy (J)", "power (W)",
                       "idle (W)", "dynamic (J)", "command (J)", "source", "kind");
  } else {
    out += fmt::format("  {:<7} {:>12} {:>10}  {:<15} {}\n", "domain", "energy (J)", "power (W)", "source", "kind");
  }
  auto row = [&](const EnergyFigure& f) {
    std::string kind = f.measured_nothing ? "NOT MEASURED" : kind_label(f);
    if (!f.complete() && !f.measured_nothing) kind += ", INCOMPLETE";
    if (!f.counted_in_total) kind += ", not in total";
    const std::string energy = f.measured_nothing ? "-" : fmt::format("{:.3f}", f.energy.value);
    const std::string power = f.measured_nothing ? "-" : fmt::format("{:.3f}", f.average_power.value);
    if (with_idle) {
      return fmt::format("  {:<7} {:>12} {:>10} {:>10} {:>12} {:>12}  {:<15} {}\n", f.name, energy, power,
                         f.idle_power ? fmt::format("{:.3f}", f.idle_power->value) : "-",
                         optional_joules(f.dynamic_energy), optional_joules(f.attributed_energy), f.source, kind);
    }
    return fmt::format("  {:<7} {:>12} {:>10}  {:<15} {}\n", f.name, energy, power, f.source, kind);
  };
  for (const auto& f : m.domains) out += row(f);
  if (!m.domains.empty()) out += row(m.total);

  if (with_idle && m.cpu_share) {
    out += fmt::format(
        "\n  command (J): the CPU domains' dynamic energy times the command's share of the machine's busy CPU time "
        "({:.1f} %); an attribution, not a measurement.\n",
        *m.cpu_share * 100.0);
  }
  bool any_estimated = false;
  for (const auto& f : m.domains) any_estimated = any_estimated || f.estimated;
  if (any_estimated) {
    for (const auto& c : w.channels) {
      if (c.estimated) {
        out += fmt::format("\n  estimated: {} figures come from a model, not a sensor: {}", c.id, c.origin);
      }
    }
    out += "\n";
  }
  for (const auto& warning : m.warnings) out += fmt::format("\n  warning: {}", warning);
  if (!m.warnings.empty()) out += "\n";
  return out;
}

std::string measurement_json(const Measurement& m) {
  const auto& p = m.process;
  const auto& w = m.window;
  nlohmann::json status = {{"signaled", p.status.signaled}, {"shell_status", p.status.shell_status()}};
  if (p.status.signaled) {
    status["signal"] = p.status.signal;
    status["core_dumped"] = p.status.core_dumped;
  } else {
    status["exit_code"] = p.status.code;
  }
  nlohmann::json domains = nlohmann::json::array();
  for (const auto& f : m.domains) domains.push_back(figure_json(f));
  nlohmann::json channels = nlohmann::json::array();
  for (std::size_t i = 0; i < w.channels.size(); ++i) {
    const auto& c = w.channels[i];
    const auto& t = w.totals[i];
    nlohmann::json channel = {{"id", c.id},
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
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& r : m.sources) {
    nlohmann::json properties = nlohmann::json::object();
    for (const auto& [key, value] : r.properties) properties[key] = value;
    sources.push_back({{"name", r.name}, {"resolution", r.resolution}, {"properties", properties}});
  }
  nlohmann::json out = {
      {"command", m.command},
      {"status", status},
      {"wall_time_s", p.wall().count()},
      {"user_cpu_s", p.user_cpu.count()},
      {"system_cpu_s", p.system_cpu.count()},
      {"max_rss_kib", p.max_rss_kib},
      {"left_processes_running", !p.leftovers.empty()},
      {"leftovers", p.leftovers},
      {"in_cgroup", p.in_cgroup},
      {"window",
       {{"duration_s", w.duration().count()},
        {"interval_s", w.interval.count()},
        {"reads", w.samples},
        {"longest_gap_s", w.longest_gap.count()},
        {"sampler_cpu_s", w.sampler_cpu_time.count()}}},
      {"domains", domains},
      {"channels", channels},
      {"sources", sources},
      {"warnings", m.warnings},
  };
  out["other_cpu_cores"] = m.other_cpu_cores ? nlohmann::json(*m.other_cpu_cores) : nlohmann::json(nullptr);
  if (!m.domains.empty()) out["total"] = figure_json(m.total);
  if (w.machine_cpu_busy) out["window"]["machine_cpu_busy_s"] = w.machine_cpu_busy->count();
  if (m.cpu_share) out["cpu_share"] = *m.cpu_share;
  if (m.idle) {
    nlohmann::json power = nlohmann::json::object();
    for (const auto& e : m.idle->energy) {
      if (auto watts = m.idle->power(e.domain)) power[std::string(domain_name(e.domain))] = watts->value;
    }
    out["idle"] = {{"duration_s", m.idle->duration.count()}, {"complete", m.idle->complete}, {"power_w", power}};
  }
  return out.dump(2) + "\n";
}

std::string measurement_csv(const Measurement& m) {
  const auto& p = m.process;
  std::vector<std::pair<std::string, std::string>> columns = {
      {"command", report_detail::csv_field(joined_command(m.command))},
      {"status", p.status.signaled ? "signaled" : "exited"},
      {"exit_code", p.status.signaled ? "" : std::to_string(p.status.code)},
      {"signal", p.status.signaled ? std::to_string(p.status.signal) : ""},
      {"time_s", fmt::format("{:.6f}", p.wall().count())},
      {"window_s", fmt::format("{:.6f}", m.window.duration().count())},
      {"user_cpu_s", fmt::format("{:.6f}", p.user_cpu.count())},
      {"system_cpu_s", fmt::format("{:.6f}", p.system_cpu.count())},
      {"max_rss_kib", std::to_string(p.max_rss_kib)},
  };
  auto add_figure = [&](const EnergyFigure& f) {
    columns.emplace_back(fmt::format("energy_{}_j", f.name), f.measured_nothing ? "-" : fmt::format("{:.6f}", f.energy.value));
    columns.emplace_back(fmt::format("energy_{}_estimated", f.name), f.estimated ? "true" : "false");
    columns.emplace_back(fmt::format("energy_{}_complete", f.name), f.complete() ? "true" : "false");
    if (m.idle) columns.emplace_back(fmt::format("dynamic_energy_{}_j", f.name), optional_joules(f.dynamic_energy));
    if (f.attributed_energy) {
      columns.emplace_back(fmt::format("attributed_energy_{}_j", f.name), fmt::format("{:.6f}", f.attributed_energy->value));
    }
  };
  for (const auto& f : m.domains) add_figure(f);
  if (!m.domains.empty()) add_figure(m.total);
  std::string header;
  std::string row;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) {
      header += ',';
      row += ',';
    }
    header += columns[i].first;
    if (columns[i].second != "-") row += columns[i].second;
  }
  return header + "\n" + row + "\n";
}

}  // namespace joulebench

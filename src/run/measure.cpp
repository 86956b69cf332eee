#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/run.hpp"

#include "run/other_cpu.hpp"

namespace joulebench {

namespace {

/// Energy less idle power x time that is negative beyond rounding: a constant model (the DRAM
/// estimate) gives exactly its idle figure, up to the last bits of a double, which is no warning.
bool below_idle(Joules dynamic, Joules energy) { return dynamic.value < -1e-9 * std::max(1.0, energy.value); }

}  // namespace

std::optional<Watts> IdleBaseline::power(Domain d) const {
  if (duration.count() <= 0) return std::nullopt;
  for (const auto& e : energy) {
    if (e.domain != d) continue;
    // Lost intervals add no energy: the average over the measured time is the idle power, as
    // long as most of the baseline was measured.
    const Seconds measured = duration - e.unmeasured;
    if (e.measured_nothing || measured < duration * 0.5) return std::nullopt;
    return e.energy / measured;
  }
  return std::nullopt;
}

IdleBaseline measure_idle(SensorSet& sensors, Seconds duration, Seconds interval) {
  Meter meter(sensors, MeterOptions{interval, nullptr});
  meter.start();
  std::this_thread::sleep_for(duration);
  const MeterWindow window = meter.stop();
  return IdleBaseline{window.duration(), energy_by_domain(window), window.complete()};
}

std::optional<double> cpu_share(const ProcessOutcome& process, const MeterWindow& window) {
  if (!window.machine_cpu_busy || window.machine_cpu_busy->count() <= 0) return std::nullopt;
  return std::min(1.0, process.cpu() / *window.machine_cpu_busy);
}

std::vector<EnergyFigure> energy_figures(const MeterWindow& window, const IdleBaseline* idle,
                                         std::optional<double> cpu_share) {
  std::vector<EnergyFigure> figures;
  const Seconds duration = window.duration();
  for (const DomainEnergy& d : energy_by_domain(window)) {
    EnergyFigure f;
    f.name = std::string(domain_name(d.domain));
    f.energy = d.energy;
    f.average_power = duration.count() > 0 ? d.energy / duration : Watts(0.0);
    f.source = d.source;
    f.method = std::string(method_name(d.method));
    f.estimated = d.estimated;
    f.unmeasured = d.unmeasured;
    f.problem = d.problem;
    f.measured_nothing = d.measured_nothing;
    f.counted_in_total = counts_toward_total(d.domain);
    // An incomplete figure is a lower bound: less idle power x time says nothing of the command.
    if (idle && d.unmeasured.count() == 0) {
      if (const auto idle_power = idle->power(d.domain)) {
        f.idle_power = *idle_power;
        const Joules dynamic = d.energy - *idle_power * duration;
        f.below_idle = below_idle(dynamic, d.energy);
        f.dynamic_energy = dynamic < Joules(0.0) ? Joules(0.0) : dynamic;
        if (cpu_share && (d.domain == Domain::cpu || d.domain == Domain::core)) {
          f.attributed_energy = *f.dynamic_energy * *cpu_share;
        }
      }
    }
    figures.push_back(std::move(f));
  }
  return figures;
}

EnergyFigure total_figure(const std::vector<EnergyFigure>& domains, Seconds duration) {
  EnergyFigure total;
  total.name = "total";
  bool all_estimated = true;
  bool all_dynamic = true;
  Joules idle_energy(0.0);
  std::vector<std::string> sources;
  bool all_measured_nothing = true;
  for (const auto& f : domains) {
    if (!f.counted_in_total) continue;
    all_measured_nothing = all_measured_nothing && f.measured_nothing;
    total.energy += f.energy;
    total.unmeasured = std::max(total.unmeasured, f.unmeasured);
    if (total.problem.empty()) total.problem = f.problem;
    total.estimated = total.estimated || f.estimated;
    all_estimated = all_estimated && f.estimated;
    if (std::find(sources.begin(), sources.end(), f.source) == sources.end()) sources.push_back(f.source);
    if (total.method.empty()) total.method = f.method;
    else if (total.method != f.method) total.method = "mixed";
    if (f.dynamic_energy && f.idle_power) {
      idle_energy += *f.idle_power * duration;
    } else {
      all_dynamic = false;
    }
  }
  total.measured_nothing = !sources.empty() && all_measured_nothing;
  if (total.measured_nothing) all_dynamic = false;
  total.partly_estimated = total.estimated && !all_estimated;
  total.average_power = duration.count() > 0 ? total.energy / duration : Watts(0.0);
  for (std::size_t i = 0; i < sources.size(); ++i) total.source += (i ? "+" : "") + sources[i];
  if (all_dynamic && !sources.empty()) {
    // The total's dynamic energy is taken from the totals, not from the clamped domain figures.
    total.idle_power = idle_energy / duration;
    const Joules raw = total.energy - idle_energy;
    total.below_idle = below_idle(raw, total.energy);
    total.dynamic_energy = raw < Joules(0.0) ? Joules(0.0) : raw;
  }
  return total;
}

Measurement measure_command(SensorSet& sensors, const MeasureOptions& options) {
  if (options.command.argv.empty()) throw LaunchError(127, "no command given");
  // Fail before spending the idle baseline on a command that cannot start.
  find_executable(options.command.argv.front());

  Measurement m;
  m.command = options.command.argv;
  if (options.idle) {
    m.idle = measure_idle(sensors, *options.idle, options.interval);
  }

  Meter meter(sensors, MeterOptions{options.interval, options.timeline});
  if (meter.interval() < options.interval) {
    m.warnings.push_back(fmt::format("sampling every {:.3g} s instead of {:.3g} s: a source needs frequent reads to "
                                     "correct counter wraps",
                                     meter.interval().count(), options.interval.count()));
  }
  const auto quiet_mark = detail::mark_other_cpu(sensors);
  meter.start();
  std::optional<ChildProcess> child;
  try {
    child.emplace(ChildProcess::start(options.command));
  } catch (...) {
    meter.stop();
    throw;
  }
  {
    ForwardSignals forward(*child);
    // Whatever the command left running is killed in wait(), once the meter has stopped.
    m.process = child->wait(std::nullopt, [&] { m.window = meter.stop(); });
  }
  std::optional<detail::OtherCpu> others;
  if (quiet_mark) others = detail::other_cpu_since(sensors, *quiet_mark, m.process.cpu());
  if (others) m.other_cpu_cores = others->cores();

  m.cpu_share = cpu_share(m.process, m.window);
  m.domains = energy_figures(m.window, m.idle ? &*m.idle : nullptr, m.cpu_share);
  m.total = total_figure(m.domains, m.window.duration());
  for (const SourceReport* report : sensors.reports()) {
    const bool used = std::any_of(m.window.channels.begin(), m.window.channels.end(),
                                  [&](const Channel& c) { return c.source == report->name; });
    if (used) m.sources.push_back(*report);
  }

  if (m.domains.empty()) m.warnings.push_back("no energy source is available: only times are reported");
  if (m.idle) {
    for (const auto& e : m.idle->energy) {
      if (e.unmeasured.count() == 0 || m.idle->power(e.domain)) continue;
      const auto figure = std::find_if(m.domains.begin(), m.domains.end(),
                                       [&](const EnergyFigure& f) { return f.name == domain_name(e.domain); });
      if (figure != m.domains.end() && figure->measured_nothing) continue;  // said once, below
      m.warnings.push_back(fmt::format("the idle baseline measured {} for only {:.2f} of {:.2f} s ({}): no idle-adjusted "
                                       "figure for it",
                                       domain_name(e.domain), (m.idle->duration - e.unmeasured).count(),
                                       m.idle->duration.count(), e.problem));
    }
  }
  for (const auto& f : m.domains) {
    if (f.measured_nothing) {
      m.warnings.push_back(fmt::format("{} energy was not measured: {}", f.name, f.problem));
    } else if (!f.complete()) {
      m.warnings.push_back(fmt::format("{} energy is incomplete: {:.3f} s of the window could not be measured ({})", f.name,
                                       f.unmeasured.count(), f.problem));
    }
    if (f.below_idle) {
      m.warnings.push_back(fmt::format("{} energy is below the idle baseline: its dynamic energy is reported as 0", f.name));
    }
  }
  if (!m.process.leftovers.empty()) {
    m.warnings.push_back(fmt::format("the command left {} process{} running, killed after it: {}; their work after it "
                                     "exited is not measured",
                                     m.process.leftovers.size(), m.process.leftovers.size() == 1 ? "" : "es",
                                     fmt::join(m.process.leftovers, ", ")));
  }
  if (others && others->busy(options.max_other_cpu_cores)) {
    m.warnings.push_back(fmt::format("other processes used {:.2f} cores while the command ran (more than {:.2f}): the "
                                     "energy figures include theirs",
                                     others->cores(), options.max_other_cpu_cores));
  }
  return m;
}

}  // namespace joulebench

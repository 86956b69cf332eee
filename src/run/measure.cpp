#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

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
    f.domain = d.domain;
    f.energy_j = d.energy.value;
    f.source = d.source;
    f.method = figure_method(d.method);
    f.estimated = d.estimated;
    f.unmeasured_s = d.unmeasured.count();
    f.complete = d.unmeasured.count() == 0;
    f.problem = d.problem;
    f.measured_nothing = d.measured_nothing;
    // An incomplete figure is a lower bound: less idle power x time says nothing of the command.
    if (idle && f.complete) {
      if (const auto idle_power = idle->power(d.domain)) {
        f.idle_power_w = idle_power->value;
        const Joules dynamic = d.energy - *idle_power * duration;
        f.below_idle = below_idle(dynamic, d.energy);
        f.dynamic_energy_j = std::max(0.0, dynamic.value);
        if (cpu_share && (d.domain == Domain::cpu || d.domain == Domain::core)) {
          f.attributed_energy_j = *f.dynamic_energy_j * *cpu_share;
        }
      }
    }
    figures.push_back(std::move(f));
  }
  return figures;
}

EnergyFigure total_figure(const std::vector<EnergyFigure>& domains, Seconds duration) {
  EnergyFigure total;
  total.domain = DomainId::total();
  total.method = FigureMethod::none;
  bool all_estimated = true;
  bool all_dynamic = true;
  bool first = true;
  double idle_energy_j = 0;
  std::vector<std::string> sources;
  bool all_measured_nothing = true;
  for (const auto& f : domains) {
    if (!f.domain.counts_toward_total()) continue;
    all_measured_nothing = all_measured_nothing && f.measured_nothing;
    total.energy_j += f.energy_j;
    total.unmeasured_s = std::max(total.unmeasured_s, f.unmeasured_s);
    total.complete = total.complete && f.complete;
    if (total.problem.empty()) total.problem = f.problem;
    total.estimated = total.estimated || f.estimated;
    all_estimated = all_estimated && f.estimated;
    if (std::find(sources.begin(), sources.end(), f.source) == sources.end()) sources.push_back(f.source);
    if (first) total.method = f.method;
    else if (total.method != f.method) total.method = FigureMethod::mixed;
    first = false;
    if (f.dynamic_energy_j && f.idle_power_w) {
      idle_energy_j += *f.idle_power_w * duration.count();
    } else {
      all_dynamic = false;
    }
  }
  total.measured_nothing = !sources.empty() && all_measured_nothing;
  if (total.measured_nothing) all_dynamic = false;
  total.partly_estimated = total.estimated && !all_estimated;
  for (std::size_t i = 0; i < sources.size(); ++i) total.source += (i ? "+" : "") + sources[i];
  if (all_dynamic && !sources.empty()) {
    // The total's dynamic energy is taken from the totals, not from the clamped domain figures.
    total.idle_power_w = idle_energy_j / duration.count();
    const Joules raw(total.energy_j - idle_energy_j);
    total.below_idle = below_idle(raw, Joules(total.energy_j));
    total.dynamic_energy_j = std::max(0.0, raw.value);
  }
  return total;
}

namespace {

/// Kills the command's group if the user asks for it (a second Ctrl-C) while it runs.
class KillOnRequest {
 public:
  KillOnRequest(const std::atomic<int>* stop, pid_t group) {
    if (stop == nullptr) return;
    thread_ = std::thread([this, stop, group] {
      std::unique_lock lock(mutex_);
      while (!done_) {
        if (stop->load() >= 2) {
          killed_ = true;
          ::kill(-group, SIGKILL);
          return;
        }
        wake_.wait_for(lock, std::chrono::milliseconds(50));
      }
    });
  }
  ~KillOnRequest() { finish(); }
  KillOnRequest(const KillOnRequest&) = delete;
  KillOnRequest& operator=(const KillOnRequest&) = delete;
  void finish() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  bool killed() const { return killed_; }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::atomic<bool> killed_{false};
  std::thread thread_;
};

using detail::cores_text;

}  // namespace

MeteredCommand run_metered(SensorSet& sensors, const MeteredCommandOptions& options) {
  if (options.command.argv.empty()) throw LaunchError(127, "no command given");
  MeteredCommand result;
  Meter meter(sensors, MeterOptions{options.interval, options.timeline});
  result.interval = meter.interval();
  const auto quiet_mark = detail::mark_other_cpu(sensors);
  // Before the start: a signal that arrives while the command starts is held, then passed on.
  std::optional<ForwardSignals> forward;
  if (options.forward_signals) forward.emplace();
  std::optional<ChildProcess> child;
  try {
    // The window opens when the command is ready to exec: what joulebench does to start it
    // (its cgroup, its user) is neither in its time nor in its energy.
    child.emplace(ChildProcess::start(options.command, [&] { meter.start(); }));
  } catch (...) {
    if (meter.running()) meter.stop();
    throw;
  }
  if (forward) forward->to(*child);
  if (options.watcher != nullptr) options.watcher->started(meter);
  {
    KillOnRequest kill(options.stop, child->pid());
    // Whatever the command left running is killed in wait(), once the meter has stopped.
    result.process = child->wait(options.timeout, [&] { result.window = meter.stop(); });
    kill.finish();
    result.killed_on_request = kill.killed();
  }
  forward.reset();
  if (quiet_mark) {
    if (const auto others = detail::other_cpu_since(sensors, *quiet_mark, result.process.cpu())) {
      result.other_cpu_cores = others->cores();
      result.busy_machine = others->busy(options.max_other_cpu_cores);
    }
  }
  if (options.watcher != nullptr) options.watcher->finished();
  return result;
}

void record_outcome(RunRecord& r, const MeteredCommand& metered, const IdleBaseline* idle,
                    const std::optional<Seconds>& timeout, std::string_view busy_limit) {
  const ProcessOutcome& outcome = metered.process;
  r.time_s = outcome.wall().count();
  r.user_cpu_s = outcome.user_cpu.count();
  r.system_cpu_s = outcome.system_cpu.count();
  r.max_rss_kib = outcome.max_rss_kib;
  if (outcome.timed_out) {
    r.status = RunStatus::timed_out;
    r.signal = outcome.status.signal;
    r.reason = fmt::format("killed after its timeout of {:g} s", timeout ? timeout->count() : 0.0);
  } else if (outcome.status.signaled) {
    r.status = RunStatus::signaled;
    r.signal = outcome.status.signal;
    r.reason = outcome.status.describe();
  } else {
    r.exit_code = outcome.status.code;
    r.status = outcome.status.code == 0 ? RunStatus::ok : RunStatus::failed;
    if (outcome.status.code != 0) r.reason = outcome.status.describe();
  }
  if (!outcome.leftovers.empty()) {
    r.warnings.push_back(
        {kLeftoverProcesses,
         fmt::format("left {} process{} running, killed after the run: {}; what {} did after the run "
                     "ended is not measured",
                     outcome.leftovers.size(), outcome.leftovers.size() == 1 ? "" : "es",
                     fmt::join(outcome.leftovers, ", "), outcome.leftovers.size() == 1 ? "it" : "they")});
  }
  if (metered.other_cpu_cores) {
    r.other_cpu_cores = *metered.other_cpu_cores;
    if (metered.busy_machine) {
      r.warnings.push_back(
          {kBusyMachine, fmt::format("other processes used {} while the run ran ({}): its energy figures include "
                                     "theirs",
                                     cores_text(*metered.other_cpu_cores), busy_limit)});
    }
  }
  r.energy = energy_figures(metered.window, idle, cpu_share(outcome, metered.window));
  if (!r.energy.empty()) {
    EnergyFigure total = total_figure(r.energy, metered.window.duration());
    r.energy.push_back(std::move(total));
  }
}

std::span<const EnergyFigure> Measurement::domains() const {
  const auto* t = total();
  return std::span<const EnergyFigure>(run.energy).first(run.energy.size() - (t != nullptr ? 1 : 0));
}

const EnergyFigure* Measurement::total() const {
  return !run.energy.empty() && run.energy.back().domain.is_total() ? &run.energy.back() : nullptr;
}

Measurement measure_command(SensorSet& sensors, const MeasureOptions& options) {
  if (options.command.argv.empty()) throw LaunchError(127, "no command given");
  // Fail before spending the idle baseline on a command that cannot start.
  find_executable(options.command.argv.front());

  Measurement m;
  m.command = options.command.argv;
  if (options.idle) m.idle = measure_idle(sensors, *options.idle, options.interval);

  MeteredCommandOptions metered_options;
  metered_options.command = options.command;
  metered_options.interval = options.interval;
  metered_options.timeline = options.timeline;
  metered_options.forward_signals = true;
  metered_options.max_other_cpu_cores = options.max_other_cpu_cores;
  MeteredCommand metered = run_metered(sensors, metered_options);
  if (metered.interval < options.interval) {
    m.notes.push_back(
        fmt::format("sampling every {:.3g} s instead of {:.3g} s: a source needs frequent reads to "
                    "correct counter wraps",
                    metered.interval.count(), options.interval.count()));
  }
  m.run.workload = "measure";
  m.run.started_unix_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                         metered.process.wall().count();
  record_outcome(
      m.run, metered, m.idle ? &*m.idle : nullptr, std::nullopt,
      fmt::format("a quiet machine's other processes use at most {}", cores_text(options.max_other_cpu_cores)));
  m.process = std::move(metered.process);
  m.window = std::move(metered.window);
  m.cpu_share = cpu_share(m.process, m.window);
  for (const SourceReport* report : sensors.reports()) {
    const bool used = std::any_of(m.window.channels.begin(), m.window.channels.end(),
                                  [&](const Channel& c) { return c.source == report->name; });
    if (used) m.sources.push_back(*report);
  }

  if (m.domains().empty()) m.notes.push_back("no energy source is available: only times are reported");
  if (m.idle) {
    for (const auto& e : m.idle->energy) {
      if (e.unmeasured.count() == 0 || m.idle->power(e.domain)) continue;
      const auto* figure = find_energy(m.run.energy, e.domain);
      if (figure != nullptr && figure->measured_nothing) continue;  // said once, below
      m.notes.push_back(fmt::format(
          "the idle baseline measured {} for only {:.2f} of {:.2f} s ({}): no idle-adjusted "
          "figure for it",
          domain_name(e.domain), (m.idle->duration - e.unmeasured).count(), m.idle->duration.count(), e.problem));
    }
  }
  for (const auto& f : m.domains()) {
    if (f.measured_nothing) {
      m.notes.push_back(fmt::format("{} energy was not measured: {}", f.domain.name(), f.problem));
    } else if (!f.complete) {
      m.notes.push_back(fmt::format("{} energy is incomplete: {:.3f} s of the window could not be measured ({})",
                                    f.domain.name(), f.unmeasured_s, f.problem));
    }
    if (f.below_idle) {
      m.notes.push_back(
          fmt::format("{} energy is below the idle baseline: its dynamic energy is reported as 0", f.domain.name()));
    }
  }
  return m;
}

}  // namespace joulebench

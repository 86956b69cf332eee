#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "joulebench/run.hpp"

#include "run/events_channel.hpp"
#include "run/other_cpu.hpp"

namespace joulebench {

std::pair<std::string, std::string> cuda_visible_devices(const SelectedGpus& gpus) {
  // UUIDs, not indices: CUDA numbers GPUs fastest first by default, NVML by PCI bus, so an index
  // can name another GPU to CUDA than the one measured.
  std::vector<std::string> names;
  for (std::size_t i = 0; i < gpus.indices.size(); ++i) {
    const bool has_uuid = i < gpus.uuids.size() && !gpus.uuids[i].empty();
    names.push_back(has_uuid ? gpus.uuids[i] : std::to_string(gpus.indices[i]));
  }
  return {"CUDA_VISIBLE_DEVICES", fmt::format("{}", fmt::join(names, ","))};
}

std::optional<double> cpu_share(const ProcessOutcome& process, const MeterWindow& window) {
  if (!window.machine_cpu_busy || window.machine_cpu_busy->count() <= 0) return std::nullopt;
  return std::min(1.0, process.cpu() / *window.machine_cpu_busy);
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

/// Reads the command's events channel while it runs (`measure` and `profile`): its regions,
/// metrics and metadata go into the run record as a campaign's do.
class EventsWatcher final : public CommandWatcher {
 public:
  explicit EventsWatcher(SpawnOptions& options) { channel_.pass_to(options); }
  void started(Meter& meter) override {
    channel_.started(meter);
    collector_.emplace(-1, -1, channel_.read_fd(), nullptr, nullptr, nullptr,
                       [this](WorkloadEvent e) { channel_.on_event(std::move(e)); });
  }
  void finished() override {
    if (!collector_) return;
    collector_->finish(detail::kOutputGrace);
    malformed_ = collector_->malformed_events();
    collector_.reset();
  }
  void record(RunRecord& r, const MeterWindow& window) {
    r.malformed_events = malformed_;
    channel_.record(r, window);
  }

 private:
  detail::EventsChannel channel_;
  std::optional<detail::OutputCollector> collector_;
  std::size_t malformed_ = 0;
};

}  // namespace

MeteredCommand run_metered(SensorSet& sensors, const MeteredCommandOptions& options) {
  if (options.command.argv.empty()) throw LaunchError(127, "no command given");
  MeteredCommand result;
  MeterOptions meter_options{options.interval, options.timeline};
  meter_options.gpus = options.gpus;
  Meter meter(sensors, std::move(meter_options));
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
    result.process = child->wait(options.timeout, [&] {
      result.window = meter.stop();
      // The client ended (or was killed at its timeout): the container goes now, before what the
      // client left (the runtime's monitor) is judged and the next run can start.
      if (options.container != nullptr) result.container = options.container->finish();
    });
    kill.finish();
    result.killed_on_request = kill.killed();
  }
  forward.reset();
  if (result.container) {
    // What the container's processes used is the command's.
    result.process.user_cpu += result.container->user_cpu.value_or(Seconds(0));
    result.process.system_cpu += result.container->system_cpu.value_or(Seconds(0));
  }
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
  if (const auto& container = metered.container) {
    // The client's figures say nothing of the work: the container's cgroup does. No single
    // process's peak is visible there, only the cgroup's.
    r.max_rss_kib.reset();
    r.peak_memory_kib = container->peak_memory_kib;
    if (!container->user_cpu || !container->system_cpu) {
      r.user_cpu_s = std::nan("");
      r.system_cpu_s = std::nan("");
    }
    for (const auto& note : container->notes) r.warnings.push_back(RunWarning{kContainerAccounting, note});
  }
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

std::span<const EnergyFigure> CommandMeasurement::domains() const {
  const auto* t = total();
  return std::span<const EnergyFigure>(run.energy).first(run.energy.size() - (t != nullptr ? 1 : 0));
}

const EnergyFigure* CommandMeasurement::total() const {
  return !run.energy.empty() && run.energy.back().domain.is_total() ? &run.energy.back() : nullptr;
}

CommandMeasurement measure_command(SensorSet& sensors, const MeasureOptions& options) {
  if (options.command.argv.empty()) throw LaunchError(127, "no command given");
  // Fail before spending the idle baseline on a command that cannot start.
  find_executable(options.command.argv.front());

  CommandMeasurement m;
  m.command = options.command.argv;
  if (options.gpus) m.gpus = select_gpus(sensors, *options.gpus);
  if (options.idle) m.idle = measure_idle(sensors, *options.idle, options.interval);

  MeteredCommandOptions metered_options;
  metered_options.command = options.command;
  if (m.gpus) {
    metered_options.gpus = m.gpus->indices;
    auto& environment = metered_options.command.environment;
    auto variable = cuda_visible_devices(*m.gpus);
    std::erase_if(environment, [&](const auto& v) { return v.first == variable.first; });
    environment.push_back(std::move(variable));
  }
  metered_options.interval = options.interval;
  metered_options.timeline = options.timeline;
  metered_options.forward_signals = true;
  metered_options.max_other_cpu_cores = options.max_other_cpu_cores;
  std::optional<EventsWatcher> events;
  if (options.events) {
    events.emplace(metered_options.command);
    metered_options.watcher = &*events;
  }
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
  if (events) events->record(m.run, metered.window);
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

// Running a measured command: the meter around a child process (one way for every command), with
// an optional idle baseline before it, and the figures derived from both (dynamic energy, CPU-time
// attribution).
#pragma once

#include <atomic>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "joulebench/container.hpp"
#include "joulebench/figures.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/process.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/result.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

/// What watches a metered command from outside: reads its output and events while it runs
/// (the campaign's logs and regions). Called on the thread that runs the command.
class CommandWatcher {
 public:
  virtual ~CommandWatcher() = default;
  /// The command has started and the meter runs: close the pipes' write ends, start reading.
  virtual void started(Meter& meter) = 0;
  /// The command has ended (and whatever it left was killed), the meter has stopped.
  virtual void finished() = 0;
};

/// One command under the meter: the one way joulebench starts, measures and cleans up a process
/// (`measure`, `profile`, `bench` and campaigns all go through it).
struct MeteredCommandOptions {
  SpawnOptions command;  ///< argv[0] is found on PATH; joulebench's helpers by name
  Seconds interval{0.1};
  TimelineSink* timeline = nullptr;  ///< receives the command window's timeline
  std::optional<Seconds> timeout;    ///< kill the command's group after this long
  /// joulebench runs in the terminal's foreground: pass the signals it gets on to the command.
  bool forward_signals = false;
  /// Kill the command's group when this reaches 2 (a second Ctrl-C in a campaign).
  const std::atomic<int>* stop = nullptr;
  CommandWatcher* watcher = nullptr;
  /// Other processes' CPU use, in cores, above which the machine counts as busy.
  double max_other_cpu_cores = 0.05;
  /// The NVML indices of the GPUs the command uses (MeterOptions::gpus): its figures then count
  /// those as gpu, the others as gpu-other, and add one figure per GPU. Unset: every GPU is gpu.
  std::optional<std::vector<int>> gpus = std::nullopt;
  /// The command is a container runtime's client attached to this container (container.hpp): once
  /// the client ended, the container is removed and its processes' CPU time counts as the command's.
  ContainerRun* container = nullptr;
};

/// The variable that shows a command run on this host only the selected GPUs:
/// {"CUDA_VISIBLE_DEVICES", "GPU-...,GPU-..."}, by UUID (an index where NVML gave none).
std::pair<std::string, std::string> cuda_visible_devices(const SelectedGpus& gpus);

struct MeteredCommand {
  /// The started process and what it left; with a container, its CPU time includes the container's.
  ProcessOutcome process;
  /// What a container's processes used, from its cgroup (MeteredCommandOptions::container).
  std::optional<ContainerUsage> container;
  MeterWindow window;
  /// CPU that processes other than the command and joulebench used while it ran, in cores, and
  /// whether that is more than the options allow; nothing where it cannot be known.
  std::optional<double> other_cpu_cores;
  bool busy_machine = false;
  /// The sampling interval had to be shortened (a source needs frequent reads).
  Seconds interval{0};
  bool killed_on_request = false;  ///< `stop` reached 2: the user wants it gone, unrecorded
};

/// Starts the command with the meter running, waits for it (killing it at its timeout), stops
/// the meter at its end, and kills what it left. Throws LaunchError if it cannot be started.
MeteredCommand run_metered(SensorSet& sensors, const MeteredCommandOptions& options);

/// A run record's outcome from a metered command: status, exit code or signal, reason, times,
/// CPU and memory, warnings (leftover processes, a busy machine), and the energy figures (per
/// domain, then the total; dynamic energy where `idle` covers a domain). `busy_limit` says in
/// the busy-machine warning what set the limit: "the plan allows 0.05 cores".
void record_outcome(RunRecord& run, const MeteredCommand& metered, const IdleBaseline* idle,
                    const std::optional<Seconds>& timeout, std::string_view busy_limit);

/// What `measure` reports: a run record (the same one a campaign stores) and what was measured
/// around it.
struct CommandMeasurement {
  std::vector<std::string> command;
  ProcessOutcome process;
  MeterWindow window;
  RunRecord run;  ///< status, times, energy per domain then the total, warnings
  std::optional<IdleBaseline> idle;
  /// The command tree's CPU time over the machine's busy CPU time in the window (capped at 1).
  std::optional<double> cpu_share;
  /// The GPUs the command was given (MeasureOptions::gpus), resolved.
  std::optional<SelectedGpus> gpus;
  /// The sources that supplied figures, with their device facts (GPU name, driver, power limit).
  std::vector<SourceReport> sources;
  /// What a reader must know besides run.warnings: a shortened interval, an idle baseline that
  /// missed a domain, incomplete figures.
  std::vector<std::string> notes;

  /// The figures per domain, and the total (nullptr when no source measured anything).
  std::span<const EnergyFigure> domains() const;
  const EnergyFigure* total() const;
};

struct MeasureOptions {
  SpawnOptions command;
  Seconds interval{0.1};
  std::optional<Seconds> idle;       ///< measure an idle baseline this long first
  TimelineSink* timeline = nullptr;  ///< receives the command window's timeline
  /// Other processes' CPU use, in cores, above which the measurement warns of a busy machine.
  double max_other_cpu_cores = 0.05;
  /// Give the command the events channel (descriptors 3 and 4), as a campaign does: its regions,
  /// metrics and metadata, and the figures of a Monitor inside it. false: descriptors 3 and 4
  /// stay whatever the caller passed on.
  bool events = true;
  /// The GPUs the command uses, as NVML indices or UUIDs (select_gpus): they are all the command
  /// sees (CUDA_VISIBLE_DEVICES) and all its gpu figure counts. Unset: every GPU, as before.
  std::optional<std::vector<std::string>> gpus = std::nullopt;
};

/// Runs the command under the meter and derives every figure. Throws LaunchError if the command
/// cannot be started, std::invalid_argument if its GPUs are not here (before anything is measured).
CommandMeasurement measure_command(SensorSet& sensors, const MeasureOptions& options);

/// The command tree's CPU time over the machine's busy CPU time in the window, capped at 1;
/// nothing when the machine's CPU time is unknown.
std::optional<double> cpu_share(const ProcessOutcome& process, const MeterWindow& window);

}  // namespace joulebench

// --- Profiling a metered command --------------------------------------------------------------

namespace joulebench {

/// The profiler of `mode` cannot run here (a missing helper, perf not allowed): what() says what
/// to change.
class ProfilerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A profiler around one command: rewrites it before the run, reads its trace after, and
/// attributes the run's time and energy to its functions. `profile` and profiled campaign runs
/// share this one chain.
class CommandProfiler {
 public:
  /// The profiler's files go to `work_dir`. Throws ProfilerError.
  CommandProfiler(ProfileMode mode, const std::vector<std::string>& argv, Seconds interval,
                  const std::filesystem::path& work_dir);
  ProfileMode mode() const { return mode_; }
  Seconds interval() const { return interval_; }
  const ProfiledCommand& command() const { return command_; }
  /// Runs the profiler in the command's place: its argv, and its variables added.
  void apply(SpawnOptions& options) const;
  /// After the run: the trace (perf mode: converted from perf's data). Throws TraceError.
  Trace trace() const;
  /// The run's time and energy by function: energy by the run's timeline, within its total.
  Profile attribute(const Trace& trace, const MeterWindow& window, const StoredTimeline& timeline,
                    const EnergyFigure* total) const;

 private:
  ProfileMode mode_;
  Seconds interval_;
  ProfiledCommand command_;
};

struct ProfileCommandOptions {
  MeasureOptions measure;  ///< the command as given (not yet profiled), the meter, the idle baseline
  ProfileMode mode = ProfileMode::perf;
  Seconds interval{0.005};  ///< the profiler's sampling interval
  /// Copy the raw trace (perf mode: perf's data) here.
  std::optional<std::filesystem::path> keep_trace;
};

struct ProfiledMeasurement {
  CommandMeasurement measurement;
  std::optional<Profile> profile;
  std::string problem;             ///< why there is no profile (the profiler left no trace)
  std::vector<std::string> notes;  ///< what went wrong besides (the trace could not be kept)
};

/// Runs the command under the profiler and the meter (measure_command), then attributes. Throws
/// ProfilerError before anything runs, LaunchError when the command cannot be started.
ProfiledMeasurement profile_command(SensorSet& sensors, const ProfileCommandOptions& options);

}  // namespace joulebench

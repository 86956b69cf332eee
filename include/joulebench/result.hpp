// The result model: what a measured run is, in one set of types that every part shares. The
// meter's sums become EnergyFigures, a run becomes a RunRecord, the store keeps them, analysis
// compares them and every format writes them (JSON through json_output.hpp). Domains, methods and
// metric ids are types here, built and parsed in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/plan.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {

enum class RunStatus : std::uint8_t {
  ok,         ///< exited with code 0
  failed,     ///< exited with another code
  signaled,   ///< killed by a signal (a crash)
  timed_out,  ///< killed by joulebench at the workload's timeout
  not_run,    ///< never started: its setup failed, or the command could not be launched
};
std::string_view run_status_name(RunStatus status);
std::optional<RunStatus> parse_run_status(std::string_view name);

/// What an energy figure covers: one domain of the machine (Domain), the total of the domains that
/// add up without double counting, or a domain an import named that joulebench does not know.
/// Built and parsed here only; its name is what the store, the export columns and JSON carry.
class DomainId {
 public:
  DomainId() : DomainId(Domain::cpu) {}
  DomainId(Domain domain);  // NOLINT: a domain is a domain id
  static DomainId total();
  /// Any non-empty name: a known domain's, "total", or another (an import's).
  static std::optional<DomainId> parse(std::string_view name);

  const std::string& name() const { return name_; }
  bool is_total() const { return name_ == kTotalName; }
  /// The machine's domain; nothing for the total and for unknown names.
  std::optional<Domain> domain() const;
  /// cpu, dram and gpu add into the total; the total itself and the others (gpu-other, one GPU's
  /// "gpu-<index>", an import's) do not.
  bool counts_toward_total() const;
  /// The order tables and exports list figures in: cpu, core, uncore, dram, psys, gpu, gpu-other,
  /// then others (by first appearance, so equal here), then the total.
  int display_rank() const;
  /// "CPU energy", "core energy", "GPU 1 energy", "total energy".
  std::string description() const;

  friend bool operator==(const DomainId& a, const DomainId& b) { return a.name_ == b.name_; }
  friend bool operator<(const DomainId& a, const DomainId& b) { return a.name_ < b.name_; }

 private:
  explicit DomainId(std::string name) : name_(std::move(name)) {}
  static constexpr std::string_view kTotalName = "total";
  std::string name_;
};

/// How an energy figure was obtained: a channel's Method, "mixed" for a total over figures of
/// different methods, "imported" for a figure read from a CSV, "none" for a total that no figure
/// adds into (only psys, say; stores of earlier versions wrote it as an empty text), "sample-sum"
/// for power samples summed as if each lasted one second (as the ICSE 2022 study computed GPU
/// energy from nvidia-smi's 1 Hz samples; replication.hpp).
enum class FigureMethod : std::uint8_t { counter, power_integration, model, mixed, imported, none, sample_sum };
FigureMethod figure_method(Method method);
std::string_view method_name(FigureMethod method);
std::optional<FigureMethod> parse_figure_method(std::string_view name);

/// One energy figure of a run, of a region of a run, or of a measurement: a domain's, or the
/// total's. The one type every part uses: the meter's sums become these, the store keeps them,
/// analysis compares them and every format writes them.
struct EnergyFigure {
  DomainId domain;
  double energy_j = 0;
  std::string source;  ///< "rapl-powercap", "estimate", ... ("a+b" for a total over several)
  FigureMethod method = FigureMethod::counter;
  bool estimated = false;         ///< any part comes from a model
  bool partly_estimated = false;  ///< a total: some parts measured, some estimated (not stored)
  bool complete = true;
  double unmeasured_s = 0;        ///< time during which a channel of it could not be read
  std::string problem;            ///< why it is incomplete (empty when complete)
  bool measured_nothing = false;  ///< no part of the window was measured: energy_j is no figure
  /// energy minus the idle baseline's power x time; never negative: a figure below idle is 0
  /// with `below_idle` set, since noise cannot make a command produce energy.
  std::optional<double> dynamic_energy_j;
  // Known only where the idle baseline was measured with the figure (`measure`); not stored, as
  // the store keeps the baseline itself.
  std::optional<double> idle_power_w;
  bool below_idle = false;
  /// CPU domains: the dynamic energy times the command tree's share of the machine's busy CPU
  /// time. An attribution, not a measurement.
  std::optional<double> attributed_energy_j;

  /// Whether energy_j may be compared or plotted: complete, so neither a lower bound nor nothing.
  bool comparable() const { return complete && !measured_nothing; }
};

/// The figure of `domain` among a run's or region's energies; nullptr when absent.
const EnergyFigure* find_energy(std::span<const EnergyFigure> energy, const DomainId& domain);

struct StoredMetric {
  std::string name;
  double value = 0;
  std::string unit;
  std::string origin;  ///< "events", "dllogger", "mllog", "regex"
};

struct StoredRegion {
  std::string name;
  double start_s = 0;  ///< since the run's start
  double end_s = 0;
  std::vector<EnergyFigure> energy;  ///< per domain, then the total
};

/// A run's power timeline, compactly: per sample, the end time (seconds since the run's start)
/// and each channel's average power over the interval (NaN: not measured).
struct StoredTimeline {
  std::vector<std::string> channels;  ///< channel ids, e.g. "cpu-0", "dram-0", "gpu-0"
  std::vector<double> time_s;
  std::vector<float> power_w;  ///< row-major: time_s.size() x channels.size()
};

struct StoredLog {
  std::string path;           ///< relative to the store's folder
  std::uint64_t bytes = 0;    ///< written by the workload
  std::uint64_t dropped = 0;  ///< not kept because the log reached its bound
};

/// One function of a profiled run (profile.hpp says how time and energy are attributed).
struct StoredProfileFunction {
  std::string name;
  std::optional<std::uint64_t> calls;
  double self_s = 0;
  double total_s = 0;
  std::optional<double> energy_j;  ///< attributed to its self time
  std::optional<double> total_energy_j;
  std::optional<double> idle_energy_j;
  std::optional<double> dynamic_energy_j;
};

/// The profile of a profiled run. Profiled runs are extra runs, never part of the statistics.
struct StoredProfile {
  std::string mode;                              ///< "python", "cprofile", "torch", "perf"
  std::string energy_rule;                       ///< "timeline", "average power", or "" (no energy)
  bool estimated = false;                        ///< the energy comes from a model
  double interval_s = 0;                         ///< the sampling interval
  std::string problem;                           ///< why there is no profile (the profiler failed), else empty
  std::vector<StoredProfileFunction> functions;  ///< by self energy (or time), highest first
};

/// A quantity of a run, named as a column of `joulebench export`: time_s, energy_<domain>_j,
/// dynamic_energy_<domain>_j, metric_<name>, region_<name>_time_s, region_<name>_energy_total_j,
/// and the flags of an energy figure, energy_<domain>_estimated and energy_<domain>_complete.
/// Built and parsed here only (export writes the names, analysis compares them, import reads them).
struct MetricId {
  enum class Kind : std::uint8_t {
    time,
    energy,
    dynamic_energy,
    metric,  ///< a workload's metric
    region_time,
    region_energy,  ///< a region's total energy
    energy_estimated,
    energy_complete,
  };
  Kind kind = Kind::time;
  DomainId domain;   ///< the energy kinds
  std::string name;  ///< metric and region kinds: the metric's or the region's name

  static MetricId time() { return {}; }
  static MetricId energy(DomainId d) { return {Kind::energy, std::move(d), {}}; }
  static MetricId dynamic_energy(DomainId d) { return {Kind::dynamic_energy, std::move(d), {}}; }
  static MetricId energy_estimated(DomainId d) { return {Kind::energy_estimated, std::move(d), {}}; }
  static MetricId energy_complete(DomainId d) { return {Kind::energy_complete, std::move(d), {}}; }
  static MetricId metric(std::string n) { return {Kind::metric, {}, std::move(n)}; }
  static MetricId region_time(std::string n) { return {Kind::region_time, {}, std::move(n)}; }
  static MetricId region_energy(std::string n) { return {Kind::region_energy, {}, std::move(n)}; }

  /// The column name.
  std::string column() const;
  /// A column name into an id; nothing for a name that is none of these (a label).
  static std::optional<MetricId> parse(std::string_view column);
};

/// Something about a run every reader must know, though its figures stand: it ran on a busy
/// machine, or left processes running that joulebench had to kill.
struct RunWarning {
  std::string kind;  ///< kBusyMachine, kLeftoverProcesses
  std::string message;
};
inline constexpr const char* kBusyMachine = "busy-machine";
inline constexpr const char* kLeftoverProcesses = "leftover-processes";
/// The metadata key of the NVML indices of the GPUs a run used (plan key `gpus`), "0,2": its other
/// GPUs' timeline channels are gpu-other.
inline constexpr const char* kGpusMetadata = "gpus";
/// A container run's CPU time or memory could not be read from its cgroup.
inline constexpr const char* kContainerAccounting = "container-accounting";

struct RunRecord {
  std::size_t index = 0;  ///< position in the campaign's full run list (all shards)
  std::string workload;
  KeyValues labels;
  int repetition = 1;  ///< 1-based, counted separately for warm-up and measured runs
  bool warmup = false;
  RunStatus status = RunStatus::ok;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;         ///< why it failed or did not run
  double started_unix_s = 0;  ///< wall-clock start (seconds since the epoch)
  double time_s = 0;          ///< wall time of the command
  double user_cpu_s = 0;
  double system_cpu_s = 0;
  /// The largest resident set of any single process of the run; nothing where no single
  /// process can be seen (a container: see peak_memory_kib).
  std::optional<std::int64_t> max_rss_kib = 0;
  /// The peak memory of the run's cgroup, page cache included: a container's (its cgroup's
  /// memory.max_usage_in_bytes or memory.peak). Nothing for host runs.
  std::optional<std::int64_t> peak_memory_kib;
  std::vector<EnergyFigure> energy;  ///< per domain, then the total
  std::vector<StoredRegion> regions;
  std::vector<StoredMetric> metrics;
  KeyValues metadata;                         ///< from the workload's events (framework version, threads, device...)
  std::optional<std::int64_t> idle_baseline;  ///< the baseline its dynamic energy used
  double cooldown_s = 0;                      ///< how long the cool-down before it took
  StoredLog stdout_log;
  StoredLog stderr_log;
  std::size_t malformed_events = 0;  ///< event or output lines that could not be parsed (skipped)
  StoredTimeline timeline;
  /// Set for a profiled run (plan key `profile`): excluded from comparisons and exports.
  std::optional<StoredProfile> profile;
  /// CPU that processes other than the run and joulebench used, in cores (CPU seconds per
  /// second): in the moments before the run (its cool-down) and while it ran. Nothing: unknown.
  std::optional<double> other_cpu_before_cores;
  std::optional<double> other_cpu_cores;
  std::vector<RunWarning> warnings;
};

}  // namespace joulebench

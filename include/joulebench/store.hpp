// The results store: one SQLite file per campaign (or per shard, merged later). Every run is
// committed in one transaction with its energies, regions, metrics and power timeline, so nothing
// measured is lost to a crash and nothing half-written is ever read back. The schema is
// versioned and migrated forward on open.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/plan.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class RunStatus : std::uint8_t {
  ok,         ///< exited with code 0
  failed,     ///< exited with another code
  signaled,   ///< killed by a signal (a crash)
  timed_out,  ///< killed by joulebench at the workload's timeout
  not_run,    ///< never started: its setup failed, or the command could not be launched
};
std::string_view run_status_name(RunStatus status);
std::optional<RunStatus> parse_run_status(std::string_view name);

/// One energy domain of one run (or of one region of a run).
struct StoredEnergy {
  std::string domain;  ///< "cpu", "dram", "gpu", ... or "total"
  double energy_j = 0;
  std::string source;  ///< "rapl-powercap", "estimate", ... ("a+b" for a total over several)
  std::string method;  ///< "counter", "power-integration", "model", "mixed"
  bool estimated = false;
  bool complete = true;
  double unmeasured_s = 0;
  std::optional<double> dynamic_energy_j;  ///< energy minus the idle baseline's power x time
  std::string problem;            ///< why it is incomplete (empty when complete)
  bool measured_nothing = false;  ///< no part of the window was measured: energy_j is no figure

  /// Whether energy_j may be compared or plotted: complete, so neither a lower bound nor nothing.
  bool comparable() const { return complete && !measured_nothing; }
};

/// The figure of `domain` ("cpu", ..., "total") among a run's or region's energies; nullptr when absent.
const StoredEnergy* find_energy(std::span<const StoredEnergy> energy, std::string_view domain);

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
  std::vector<StoredEnergy> energy;  ///< per domain, then "total"
};

/// A run's power timeline, compactly: per sample, the end time (seconds since the run's start)
/// and each channel's average power over the interval (NaN: not measured).
struct StoredTimeline {
  std::vector<std::string> channels;  ///< channel ids, e.g. "cpu-0", "dram-0", "gpu-0"
  std::vector<double> time_s;
  std::vector<float> power_w;  ///< row-major: time_s.size() x channels.size()
};

struct StoredLog {
  std::string path;  ///< relative to the store's folder
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
  std::string mode;         ///< "python", "cprofile", "torch", "perf"
  std::string energy_rule;  ///< "timeline", "average power", or "" (no energy)
  bool estimated = false;   ///< the energy comes from a model
  double interval_s = 0;    ///< the sampling interval
  std::string problem;      ///< why there is no profile (the profiler failed), else empty
  std::vector<StoredProfileFunction> functions;  ///< by self energy (or time), highest first
};

/// Something about a run every reader must know, though its figures stand: it ran on a busy
/// machine, or left processes running that joulebench had to kill.
struct RunWarning {
  std::string kind;  ///< kBusyMachine, kLeftoverProcesses
  std::string message;
};
inline constexpr const char* kBusyMachine = "busy-machine";
inline constexpr const char* kLeftoverProcesses = "leftover-processes";

struct RunRecord {
  std::size_t index = 0;  ///< position in the campaign's full run list (all shards)
  std::string workload;
  KeyValues labels;
  int repetition = 1;  ///< 1-based, counted separately for warm-up and measured runs
  bool warmup = false;
  RunStatus status = RunStatus::ok;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;        ///< why it failed or did not run
  double started_unix_s = 0;  ///< wall-clock start (seconds since the epoch)
  double time_s = 0;          ///< wall time of the command
  double user_cpu_s = 0;
  double system_cpu_s = 0;
  std::int64_t max_rss_kib = 0;
  std::vector<StoredEnergy> energy;  ///< per domain, then "total"
  std::vector<StoredRegion> regions;
  std::vector<StoredMetric> metrics;
  KeyValues metadata;  ///< from the workload's events (framework version, threads, device...)
  std::optional<std::int64_t> idle_baseline;  ///< the baseline its dynamic energy used
  double cooldown_s = 0;  ///< how long the cool-down before it took
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

/// Idle power measured with nothing running.
struct IdleRecord {
  double started_unix_s = 0;
  double duration_s = 0;
  std::vector<std::pair<std::string, double>> power_w;  ///< per domain
  std::optional<double> cpu_temperature_c;
  std::optional<double> gpu_temperature_c;
  bool complete = true;
  std::int64_t id = 0;  ///< the store's id for it (what RunRecord::idle_baseline refers to); set when read back
};

struct CampaignInfo {
  std::int64_t id = 0;
  std::string name;
  std::string plan_hash;
  std::string plan_text;
  std::string plan_path;
  std::uint64_t seed = 0;
  Shard shard;
  std::size_t planned_runs = 0;  ///< in this shard
  bool finished = false;
  std::string created_at;  ///< ISO 8601, UTC
};

/// Filters for reading runs back.
struct RunFilter {
  std::optional<std::string> workload;
  std::optional<RunStatus> status;
  std::optional<bool> warmup;
  KeyValues labels;  ///< every one must match
  /// false (the default): only unprofiled runs, so profiled runs never enter statistics; true:
  /// only profiled runs (with their profiles); nothing: both.
  std::optional<bool> profiled = false;
  /// Only the runs at these positions in the campaign (RunRecord::index); empty: every position.
  std::vector<std::size_t> indices;
};

/// What Store::merge found besides the runs it joined: why the merged campaign is not finished,
/// and what earlier, killed merges into the same output had left behind.
struct MergeResult {
  /// An input whose own campaign was not finished.
  struct UnfinishedShard {
    std::filesystem::path file;
    Shard shard;
    std::size_t recorded_runs = 0;  ///< distinct run indices in it
    std::size_t planned_runs = 0;
  };
  int shard_count = 1;              ///< the N of the inputs' shards K/N
  std::vector<int> missing_shards;  ///< the K in 1..N that no input is, ascending
  std::vector<UnfinishedShard> unfinished_shards;  ///< by shard
  bool finished = false;  ///< the merged campaign: every shard given, and every one finished
  /// Temporary files (and their -wal, -shm, -journal) of merges into the same output whose
  /// process is gone: removed before this merge began.
  std::vector<std::filesystem::path> removed_leftovers;
};

class Store {
 public:
  /// Opens or creates the store, migrating its schema to the current version. Throws StoreError
  /// naming the file (and refusing a store written by a newer joulebench).
  explicit Store(const std::filesystem::path& file);
  ~Store();
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static int current_schema_version();
  int schema_version() const;
  const std::filesystem::path& file() const;

  std::vector<CampaignInfo> campaigns() const;
  std::optional<CampaignInfo> campaign(std::int64_t id) const;
  /// Starts a campaign; `environment` is what the machine looked like (CPU, kernel, GPUs...).
  std::int64_t create_campaign(const CampaignPlan& plan, const Shard& shard, std::size_t planned_runs,
                               const KeyValues& environment);
  void finish_campaign(std::int64_t campaign);
  KeyValues environment(std::int64_t campaign) const;

  /// The run indices already committed: a resumed campaign skips exactly these.
  std::set<std::size_t> recorded_runs(std::int64_t campaign) const;
  std::int64_t record_idle(std::int64_t campaign, const IdleRecord& idle);
  std::vector<IdleRecord> idle_baselines(std::int64_t campaign) const;
  /// Commits one run and everything measured with it, atomically. Recording the same index twice
  /// is refused (StoreError): a run is never duplicated.
  void record_run(std::int64_t campaign, const RunRecord& run);
  /// Many runs in one transaction (an import): all are committed, or none.
  void record_runs(std::int64_t campaign, std::span<const RunRecord> runs);

  /// Runs in campaign order; timelines are only loaded when asked for.
  std::vector<RunRecord> runs(std::int64_t campaign, const RunFilter& filter = {}, bool with_timelines = false) const;

  /// Joins shard stores of one plan into a new store at `output` (refused if it exists, if the
  /// inputs come from different plans, or if two inputs hold the same measured run). Every shard
  /// warms up on its own machine, so warm-up runs share indices across shards: all are kept.
  /// The store is written to a temporary file beside `output` and renamed into place when
  /// complete: a merge that fails or is killed leaves no output, and an existing file is never
  /// replaced. The merged campaign is finished only if every shard is there and finished.
  static MergeResult merge(const std::vector<std::filesystem::path>& inputs, const std::filesystem::path& output);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A CSV that cannot be imported: what() names the file and lists the problems, each with its line.
class ImportError : public StoreError {
 public:
  ImportError(const std::string& file, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

struct ImportOptions {
  std::string campaign_name;  ///< empty: the CSV's campaign column, else the file's name
};

struct ImportResult {
  std::int64_t campaign = 0;
  std::size_t runs = 0;
  std::string name;
};

/// Reads a tidy CSV with the columns export_csv writes (report.hpp) into a new campaign. Only
/// labels (any column export does not define; label_<key> for a key that would clash) and at
/// least one measured column (time_s, energy_<domain>_j, dynamic_energy_<domain>_j,
/// metric_<name>, region_<name>_time_s, region_<name>_energy_total_j) are needed; absent columns
/// are absent values. Without a workload column, the labels' values name the workload; without
/// repetition, rows are counted per workload; status defaults to ok, warmup to false, estimated
/// to false. Text (column names, campaign, workload and label values) that starts with ' and then
/// = + - @, a tab or a carriage return (or more ' before one) loses the first ': export_csv puts it
/// there against spreadsheet formulas. Every malformed row is reported with its line number and nothing is imported
/// (ImportError); the same file twice is refused.
ImportResult import_csv(Store& store, const std::filesystem::path& csv, const ImportOptions& options = {});

}  // namespace joulebench

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
#include "joulebench/result.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
  int shard_count = 1;                             ///< the N of the inputs' shards K/N
  std::vector<int> missing_shards;                 ///< the K in 1..N that no input is, ascending
  std::vector<UnfinishedShard> unfinished_shards;  ///< by shard
  bool finished = false;                           ///< the merged campaign: every shard given, and every one finished
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

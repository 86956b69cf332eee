// Campaigns: a plan's runs executed by a sound protocol (warm-up, cool-down, idle baselines,
// shuffled order), each run measured, its output and events collected, and committed to the store
// as soon as it ends, so an interrupted campaign resumes where it stopped.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "joulebench/container.hpp"
#include "joulebench/plan.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/store.hpp"

namespace joulebench {

/// What the machine looks like, for the record: CPU, topology, governor, turbo, kernel,
/// distribution, memory, GPUs and the energy sources in use.
KeyValues capture_environment(const SensorSet& sensors, const SensorPaths& paths);

/// Told about the campaign as it goes (the CLI draws a progress line or prints log lines).
class CampaignObserver {
 public:
  virtual ~CampaignObserver() = default;
  /// `total` runs in this shard, `already_done` of them recorded before (a resumed campaign).
  virtual void started(const CampaignInfo& campaign, std::size_t total, std::size_t already_done) = 0;
  /// Something the protocol does between runs: setup, idle baseline, cool-down.
  virtual void note(const std::string& text) = 0;
  virtual void run_started(const PlannedRun& run, const WorkloadSpec& workload, std::size_t position,
                           std::size_t total) = 0;
  virtual void run_finished(const RunRecord& record, std::size_t position, std::size_t total) = 0;
};

/// What the plan's workloads need of this machine, found before anything is created: each
/// container workload's runtime and image (asked once), each workload's GPUs (`gpus`). Keyed by
/// workload index.
struct PlanResources {
  std::map<std::size_t, ContainerImage> images;
  std::map<std::size_t, SelectedGpus> gpus;
};

/// Finds every workload's resources. Throws PlanError at the `container` or `gpus` key that cannot
/// be had here (a runtime that is missing or not working, an image not present, a GPU not here).
PlanResources find_plan_resources(const CampaignPlan& plan, const SensorSet& sensors);

struct CampaignOptions {
  Shard shard;
  /// The plan's resources, found earlier (find_plan_resources); run_campaign finds them when unset.
  std::optional<PlanResources> resources;
  /// Start a new campaign even if the store holds one of this plan (finished, or of another plan).
  bool start_new = false;
  CampaignObserver* observer = nullptr;
  /// Raised (by a signal handler) to stop after the current run: 1 = finish the run and stop,
  /// 2 or more = kill the current run and stop. Not owned.
  const std::atomic<int>* stop = nullptr;
  /// Stop after the first run whose status is not ok (hyperfine's default; bench without -i).
  bool stop_at_first_failure = false;
};

struct CampaignResult {
  std::int64_t campaign = 0;
  std::size_t planned = 0;      ///< runs in this shard
  std::size_t done_before = 0;  ///< recorded by an earlier, interrupted invocation
  std::size_t done_now = 0;     ///< recorded by this one
  std::size_t not_ok = 0;       ///< recorded now with a status other than ok
  bool interrupted = false;     ///< stopped by the user before the end
  /// With CampaignOptions::stop_at_first_failure: the run that stopped the campaign.
  std::optional<RunRecord> stopped_by;
  /// Cleanup commands that failed: the workload's name and why (their runs are recorded).
  std::vector<std::pair<std::string, std::string>> failed_cleanups;
};

/// A refusal to run: the store holds another plan's unfinished campaign, or this plan's finished
/// one. The message says what is there and what to do.
class CampaignConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Runs (or resumes) the plan's campaign in the store. Workload failures are recorded, never
/// thrown; a StoreError or CampaignConflict is.
CampaignResult run_campaign(const CampaignPlan& plan, Store& store, SensorSet& sensors, const CampaignOptions& options);

/// What run_campaign checks before its first run beyond what loading the plan checked: every
/// regex compiles, and every `cwd` is a folder here (the machine's, so not checked on loading).
/// A dry run calls it too. Throws PlanError at the key that fails.
void check_plan_before_running(const CampaignPlan& plan);

/// What a campaign would do, without doing it (`run --dry-run`).
struct CampaignPreview {
  std::vector<PlannedRun> runs;  ///< this shard's, in the order they would run
  /// Workloads whose program cannot be found here, and why: no plan error (each of their runs
  /// would be recorded as not run), but what a dry run is for.
  std::vector<std::pair<std::string, std::string>> missing_programs;
  // How long it would take:
  double protocol_s = 0;              ///< idle baselines and cool-downs (an until-stable cool-down at its window)
  double measured_before_s = 0;       ///< the runs of workloads the store ran before: their median times
  std::size_t measured_before = 0;    ///< how many runs that is
  std::size_t never_measured = 0;     ///< runs of workloads the store never ran (ok)
  double never_measured_bound_s = 0;  ///< their timeouts added up
  bool unbounded = false;             ///< some of them have no timeout
};

/// Previews the plan's campaign in shard `shard`, with run times from the store at `db` where it
/// exists (any campaign's ok runs of the same workload names).
CampaignPreview preview_campaign(const CampaignPlan& plan, const Shard& shard, const std::filesystem::path& db);

/// Where run logs go: a folder beside the store, "<store>.logs".
std::filesystem::path log_folder(const std::filesystem::path& store_file);

/// Bounds of the kept logs: the first `kLogHeadBytes` and the last `kLogTailBytes` of each stream;
/// what lies between is counted as dropped.
inline constexpr std::size_t kLogHeadBytes = 8u << 20;
inline constexpr std::size_t kLogTailBytes = 1u << 20;

}  // namespace joulebench

// Plans: a campaign described in TOML (the workloads to compare and the protocol to run them by),
// read into a fully resolved form. Every mistake is reported with file, line and column; unknown
// keys are errors that name the nearest valid key, so a typo never silently changes a campaign.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "joulebench/units.hpp"

namespace joulebench {

/// Ordered name = value pairs: labels, environment variables.
using KeyValues = std::vector<std::pair<std::string, std::string>>;
/// The value of the first pair named `key`, or empty.
std::string value_of(const KeyValues& values, std::string_view key);

enum class RunOrder : std::uint8_t {
  shuffled,     ///< seeded random order (the default): drift and warm-up effects spread evenly
  interleaved,  ///< round robin: A B C A B C ...
  blocked,      ///< every run of A, then of B... (the study's way; for replication only)
};
std::string_view run_order_name(RunOrder order);

/// The wait between runs.
struct Cooldown {
  enum class Kind : std::uint8_t { fixed, until_stable };
  Kind kind = Kind::fixed;
  Seconds fixed{5};  ///< for Kind::fixed; 5 s unless the plan says otherwise
  // For Kind::until_stable: wait until total power's coefficient of variation over `window` is
  // below `max_cv` and, where temperature sensors exist, the hottest CPU/GPU sensor is within
  // `max_temperature_rise_c` of the campaign's idle baseline; never longer than `max`.
  Seconds max{120};
  Seconds window{10};
  double max_cv = 0.05;
  double max_temperature_rise_c = 3.0;
};

/// Where something was written in the plan, for messages.
struct PlanLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

/// How to read metrics from a workload's standard output, for workloads that do not write
/// joulebench's events.
struct OutputParser {
  enum class Kind : std::uint8_t {
    dllogger,  ///< NVIDIA DLLogger lines: DLLL {json}
    mllog,     ///< MLPerf logging lines: :::MLLOG {json}
    regex,     ///< a PCRE2 pattern with named groups: each group whose value is a number is a metric
  };
  Kind kind = Kind::regex;
  std::string pattern;    ///< for Kind::regex
  PlanLocation location;  ///< where the plan names it (a regex: the pattern itself)
};

/// A container a workload's command runs in (plan key `container`): joulebench starts it itself
/// through the runtime's client, labelled, and removes it when the run ends (container.hpp).
struct ContainerSpec {
  std::string image;               ///< as the runtime names it: "dle-ncf-pytorch:ab6267ad", an ID
  std::string runtime = "docker";  ///< "docker" or "podman", found on PATH
  std::vector<std::string>
      mounts;  ///< "HOST:CONTAINER[:OPTIONS]"; relative host paths resolved against the plan's folder
  std::optional<std::string> workdir;  ///< the working folder inside the container
  std::vector<std::string> options;    ///< more arguments to `RUNTIME run`, before the image (e.g. "--shm-size=1g")
  PlanLocation location;               ///< where the plan writes `container`
};

/// One workload, after matrix expansion and substitution.
struct WorkloadSpec {
  std::string name;
  /// framework, model and phase first, then free labels and matrix parameters, in plan order.
  KeyValues labels;
  /// The argument vector. With `shell = true` the plan's string is run as {"/bin/sh", "-c", text}.
  std::vector<std::string> command;
  bool shell = false;
  std::optional<std::filesystem::path> working_directory;  ///< relative paths resolved against the plan's folder
  PlanLocation working_directory_location;                 ///< where `cwd` is written, for messages
  KeyValues environment;                                   ///< added to joulebench's own environment
  std::optional<Seconds> timeout;
  std::vector<std::string> setup;    ///< unmeasured, once before the workload's first run (may be empty)
  std::vector<std::string> prepare;  ///< unmeasured, before every run (may be empty)
  /// Unmeasured, once after the workload's last run of the campaign (may be empty). Its failure is
  /// noted, not recorded against a run: the runs were measured before it.
  std::vector<std::string> cleanup;
  std::vector<OutputParser> parsers;
  /// Profile modes ("python", "cprofile", "torch", "perf"): one extra profiled run each, after
  /// every measured run, never part of the statistics (profile.hpp).
  std::vector<std::string> profile;
  int repetitions = 10;
  int warmup = 1;
  /// Run the command in this container instead of on the host.
  std::optional<ContainerSpec> container;
  /// The GPUs the run uses (plan key `gpus`): NVML indices ("0") or UUIDs ("GPU-..."), as written.
  /// Empty: every GPU, and nothing is set (the behaviour of plans without the key).
  std::vector<std::string> gpus;
  PlanLocation gpus_location;  ///< where `gpus` is written, for messages
  PlanLocation location;       ///< the [[workload]] table it came from

  /// The value of a label, or empty.
  std::string label(std::string_view key) const;
};

struct CampaignPlan {
  std::string name;
  std::uint64_t seed = 42;
  int repetitions = 10;  ///< default for workloads
  int warmup = 1;        ///< default for workloads
  RunOrder order = RunOrder::shuffled;
  Cooldown cooldown;
  Seconds idle{10};                    ///< idle baseline before the campaign (0: none)
  std::optional<int> idle_every_runs;  ///< and again every N runs
  Seconds interval{0.1};               ///< the meter's sampling interval
  /// Other processes' CPU use, in cores, above which a run is flagged as measured on a busy
  /// machine (before it, or while it ran): 5 % of a core by default.
  double max_other_cpu_cores = 0.05;
  std::vector<WorkloadSpec> workloads;

  std::filesystem::path path;  ///< where it was read from
  std::string text;            ///< the plan file exactly as read
  std::string hash;            ///< "fnv1a64:<16 hex digits>" of `text`
};

/// Part K of N of a campaign's run list (1-based); 1/1 is the whole campaign. A shard holds whole
/// repetition rounds (every workload, with its own warm-ups), so each machine of a cluster
/// compares all workloads on the same hardware.
struct Shard {
  int index = 1;
  int count = 1;
  /// "K/N" into a Shard; throws std::invalid_argument with the reason.
  static Shard parse(const std::string& text);
  std::string text() const;
  bool operator==(const Shard&) const = default;
};

/// One run of the campaign's run list.
struct PlannedRun {
  std::size_t index = 0;     ///< position in the whole campaign's list (the same in every shard)
  std::size_t workload = 0;  ///< into CampaignPlan::workloads
  int repetition = 1;        ///< 1-based, counted separately for warm-up and measured runs
  bool warmup = false;
  std::string profile;  ///< a profiled run: its mode; empty for measured and warm-up runs
};

/// The whole campaign's runs in execution order. Each workload's warm-up runs come right before
/// its first measured run. Shuffled order is a seeded Fisher-Yates shuffle with a generator whose
/// output is fixed by its definition (std::mt19937_64), so a seed gives the same order everywhere.
///
/// Precisely: the runs form rounds; round r holds measured repetition r of every workload that
/// has one, in plan order. `interleaved` runs the rounds as they are (A B C A B C ...); `shuffled`
/// first shuffles each round, round 1 first, with one std::mt19937_64 seeded with `plan.seed`:
/// for i = n-1 down to 1, swap item i with item j, where j is the first engine output x with
/// x >= 2^64 mod (i+1), taken modulo i+1 (rejection sampling: no modulo bias). So each round is a
/// uniformly random permutation, every workload's repetitions spread evenly over the campaign,
/// and repetition r of each workload is in round r. `blocked` runs every repetition of workload 1,
/// then of workload 2... A workload's warm-up runs (repetition 1..warmup, flagged) come right
/// before its first measured run. Profiled runs (WorkloadSpec::profile) come after all of them, in
/// plan order, one per workload and mode, with repetition 1. Indices are 0..N-1 in execution order.
std::vector<PlannedRun> schedule_runs(const CampaignPlan& plan);
/// The runs of one shard, in the same order: measured runs of repetitions r with
/// (r - 1) % N == K - 1, and every warm-up run (each machine warms up itself).
std::vector<PlannedRun> shard_runs(const std::vector<PlannedRun>& runs, const Shard& shard);

/// A mistake in a plan: what() is "FILE:LINE:COLUMN: message".
class PlanError : public std::runtime_error {
 public:
  PlanError(PlanLocation where, const std::string& message);
  const PlanLocation& where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  PlanLocation where_;
  std::string message_;
};

/// Reads and resolves a plan. Throws PlanError (or std::runtime_error if the file cannot be read).
CampaignPlan load_plan(const std::filesystem::path& path);
/// The same from text; `source_name` is used in messages and to resolve relative paths.
CampaignPlan parse_plan(std::string_view text, const std::filesystem::path& source_name);

/// Changes to a resolved plan for one `joulebench run`, without editing its file: a short trial of
/// a long campaign, or CI running the main job at reduced size. Every workload gets the value.
struct PlanOverrides {
  std::optional<int> repetitions;   ///< measured runs per workload, >= 1
  std::optional<int> warmup;        ///< warm-up runs per workload, >= 0
  std::optional<Seconds> cooldown;  ///< a fixed cool-down (replaces any until-stable rule)
  std::optional<Seconds> idle;      ///< the idle baseline's length (0: none)

  bool empty() const { return !repetitions && !warmup && !cooldown && !idle; }
  /// As command-line options, e.g. "--repetitions 2 --warmup 0".
  std::string text() const;
};

/// Applies the overrides. The plan's hash then covers them too (the text's hash followed by
/// theirs), so a store refuses to resume a campaign under different overrides, and the overrides
/// are kept in the plan text (as a trailing comment) so the stored plan says how it was run.
/// Throws std::invalid_argument for a value out of range.
void apply_overrides(CampaignPlan& plan, const PlanOverrides& overrides);

/// The plan as TOML that loads back into the same plan: its resolved form (one [[workload]] per
/// workload, no matrix, labels as written), every key it sets. The one writer of plans.
std::string plan_toml(const CampaignPlan& plan);
/// Completes a plan built in code rather than read from a file (`bench`): its text becomes
/// plan_toml's (after `heading`, a comment), its hash that text's, so a store keeps it and
/// `joulebench run` reruns it from that text written to a file. Throws
/// std::invalid_argument when a file could not give it (no workload, a workload without a name,
/// a command, or its framework, model and phase labels first, or two with one name).
void seal_plan(CampaignPlan& plan, std::string_view heading = {});

/// Splits a command string like a POSIX shell splits words (quotes, backslashes), without
/// expansions. Throws std::invalid_argument on an unterminated quote.
std::vector<std::string> split_shell_words(std::string_view text);

/// The FNV-1a 64-bit hash of `text` as "fnv1a64:<16 hex digits>": identifies a plan's exact text.
std::string plan_hash(std::string_view text);

}  // namespace joulebench

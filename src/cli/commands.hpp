// The subcommands of the joulebench executable: each declares its options on the CLI11 app and
// returns the action to run after parsing. Parsing and printing only; the work is the library's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "joulebench/analysis.hpp"
#include "joulebench/campaign.hpp"
#include "joulebench/machine.hpp"
#include "joulebench/report.hpp"
#include "joulebench/store.hpp"
#include "joulebench/units.hpp"

namespace joulebench::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  ///< returns the process exit code
};

Command add_sensors(CLI::App& app);
Command add_measure(CLI::App& app);
Command add_workload(CLI::App& app);
Command add_run(CLI::App& app);
Command add_runs(CLI::App& app);
Command add_export(CLI::App& app);
Command add_merge(CLI::App& app);
Command add_compare(CLI::App& app);
Command add_import(CLI::App& app);
Command add_bench(CLI::App& app);
Command add_profile(CLI::App& app);
Command add_profiles(CLI::App& app);
Command add_python_sampler(CLI::App& app);
Command add_report(CLI::App& app);
/// Hidden: `__generate man DIR` and `__generate bash-completion FILE`, which the build runs.
Command add_generate(CLI::App& app);

/// Which campaign of a store and which of its runs a command reads.
struct RunSelection {
  std::string db;
  std::int64_t campaign = 0;  ///< 0: the latest
  std::string workload;
  std::string status;
  bool include_warmup = false;  ///< measured and warm-up runs (default: measured runs only)
  bool only_warmup = false;
  /// false for a comparison: it reads every run, leaves the warm-up runs out itself and counts
  /// them, so it takes neither --include-warmup nor --only-warmup.
  bool warmup_options = true;
  std::optional<bool> old_warmup;   ///< the deprecated --warmup yes|no: only warm-up runs, or none
  std::vector<std::string> labels;  ///< "key=value"
};
/// Adds --db and --campaign: a command that reads a whole campaign.
void add_store_options(CLI::App* cmd, RunSelection& selection);
/// Adds --db, --campaign, --workload, --status, --include-warmup, --only-warmup, --label to a
/// subcommand (and the old --warmup yes|no, deprecated).
void add_selection_options(CLI::App* cmd, RunSelection& selection);
/// The filter and campaign id a selection means in `store`; throws CLI::ValidationError.
RunFilter run_filter(const RunSelection& selection);
std::int64_t selected_campaign(const Store& store, const RunSelection& selection);

/// Runs (or resumes) a campaign with a progress display on standard error; the first Ctrl-C
/// finishes the current run and stops, a second kills it. Throws what run_campaign throws.
/// `sensors`: opened already (the plan's resources were found with them); else opened here.
CampaignResult run_with_progress(const CampaignPlan& plan, Store& store, CampaignOptions options,
                                 SensorSet* sensors = nullptr);

/// The options of a comparison, as `compare` and `bench` take them.
struct CompareArguments {
  std::string group_by;  ///< comma-separated; "" and not given: model,phase where those labels exist
  bool group_by_given = false;
  std::string between = "framework";
  std::vector<std::string> metrics;
  std::string test = "mwu";
  double alpha = 0.05;
  std::string correction = "holm";
  std::string family = "metric";
  std::string thresholds = "standard";
  std::string ratio = "mean";
  std::string ci_method = "bca";
  double confidence = 0.95;
  std::size_t resamples = 2000;
  std::uint64_t seed = 42;
  std::string format = "table";
  std::string output;
};
/// The comparison's options; with_output adds --format and --output (the report has its own).
void add_compare_options(CLI::App* cmd, CompareArguments& args, bool with_output = true);
/// compare's and the report's old --interval (the bootstrap's method), deprecated for --ci-method.
void add_deprecated_interval(CLI::App* cmd, CompareArguments& args);
/// A reference campaign to put the selected one beside (`compare --reference`, `report --reference`).
struct ReferenceArguments {
  std::string db;                     ///< empty: no reference
  std::int64_t campaign = 0;          ///< 0: the latest of that store
  std::vector<std::string> mappings;  ///< KEY=FROM:TO
};
/// Adds --reference, --reference-campaign and --map.
void add_reference_options(CLI::App* cmd, ReferenceArguments& args);
/// The reference's measured runs (warm-up and profiled runs left out as compare leaves them), its
/// labels mapped. Throws CLI::ValidationError for a malformed --map.
std::vector<RunRecord> reference_runs(const ReferenceArguments& args);
/// "icse2022 (campaign 1 of ref.db)".
std::string reference_title(const ReferenceArguments& args);
/// The library's options from the arguments; the runs decide the default grouping.
CompareOptions compare_options(const CompareArguments& args, std::span<const RunRecord> runs);
/// The labels that form the groups: `group_by` split at commas when the user gave it, else model and
/// phase, those of them the runs have (and that are not `between`).
std::vector<std::string> grouping(const std::string& group_by, bool given, const std::string& between,
                                  std::span<const RunRecord> runs);
/// Compares and writes the report to standard output or --output.
void print_comparison(const CompareArguments& args, std::span<const RunRecord> runs);

/// Writes a command's report to `path`, or to `otherwise` (stdout, stderr) when the path is empty;
/// throws std::runtime_error naming the file when it cannot be written (a full disk, no folder).
void write_report(const std::string& text, const std::string& path, std::FILE* otherwise);

/// Adds --no-events to a command that runs one command under the meter (measure, profile).
void add_events_option(CLI::App* cmd, bool& no_events);
/// Adds --wait to a command that measures or writes a store.
void add_wait_option(CLI::App* cmd, bool& wait);
/// --gpus LIST: the GPUs a command uses (MeasureOptions::gpus).
void add_gpus_option(CLI::App* cmd, std::optional<std::string>& gpus);
/// "0,GPU-8f...": the selectors, in order. Throws CLI::ValidationError for an empty one.
std::vector<std::string> gpu_selectors(const std::string& list);
/// A GPU that is not here is a mistake in the command line: refused before anything runs.
void check_gpus(const SensorSet& sensors, const std::optional<std::vector<std::string>>& selectors);
/// Takes the machine's measuring lock (with `wait`, waits for the holder, saying so), then ends
/// what killed joulebench processes left running. Every measuring command calls it first.
MachineLock begin_measuring(const std::string& store, bool wait);
/// A store opened for writing: created when new (and handed to the invoking user), with the lock
/// that makes this joulebench its only writer. The lock outlives the store.
struct WritableStore {
  MachineLock lock;
  Store store;
};
WritableStore open_store_for_writing(const std::filesystem::path& db, bool wait);

/// The machine's sources, only those named (--source) when any are; a name no source has is a
/// CLI11 validation error of --source.
SensorSet open_sensors(const std::vector<std::string>& sources);

/// An old spelling kept for one release: hidden from the help, it says what replaces it on standard
/// error, then does what `apply` does with its value.
CLI::Option* add_deprecated_option(CLI::App* cmd, const std::string& old_name, const std::string& replacement,
                                   std::function<void(const std::string&)> apply);

/// "a,b,,c" into {"a", "b", "c"}: a comma-separated option's items, empty ones left out.
std::vector<std::string> split_commas(const std::string& text);

/// Parses a duration option, turning the library's message into a CLI11 validation error.
Seconds duration_option(const std::string& option, const std::string& text);
/// Parses a share written "1%" or "0.01" (--threshold); throws CLI::ValidationError.
double threshold_option(const std::string& text);

}  // namespace joulebench::cli

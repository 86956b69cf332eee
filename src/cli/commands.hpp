// The subcommands of the joulebench executable: each declares its options on the CLI11 app and
// returns the action to run after parsing. Parsing and printing only; the work is the library's.
#pragma once

#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

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

/// Which campaign of a store and which of its runs a command reads.
struct RunSelection {
  std::string db;
  std::int64_t campaign = 0;  ///< 0: the latest
  std::string workload;
  std::string status;
  std::string warmup;  ///< "", "yes", "no"
  std::vector<std::string> labels;  ///< "key=value"
};
/// Adds --db, --campaign, --workload, --status, --warmup, --label to a subcommand.
void add_selection_options(CLI::App* cmd, RunSelection& selection);
/// The filter and campaign id a selection means in `store`; throws CLI::ValidationError.
RunFilter run_filter(const RunSelection& selection);
std::int64_t selected_campaign(const Store& store, const RunSelection& selection);

/// Parses a duration option, turning the library's message into a CLI11 validation error.
Seconds duration_option(const std::string& option, const std::string& text);

}  // namespace joulebench::cli

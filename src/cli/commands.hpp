// The subcommands of the joulebench executable: each declares its options on the CLI11 app and
// returns the action to run after parsing. Parsing and printing only; the work is the library's.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "joulebench/units.hpp"

namespace joulebench::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  ///< returns the process exit code
};

Command add_sensors(CLI::App& app);
Command add_measure(CLI::App& app);
Command add_workload(CLI::App& app);

/// Parses a duration option, turning the library's message into a CLI11 validation error.
Seconds duration_option(const std::string& option, const std::string& text);

}  // namespace joulebench::cli

// `joulebench workload`: the built-in workloads (catalog.hpp). Each is its own executable or
// script beside joulebench (joulebench links no framework); this command replaces itself with it,
// so that when measured, the measured process is the workload.
#include <cstdio>

#include "commands.hpp"
#include "joulebench/catalog.hpp"
#include "joulebench/process.hpp"

namespace joulebench::cli {

namespace {

int list_workloads() {
  std::printf("%-12s %-10s %-10s %s\n", "workload", "framework", "available", "description");
  for (const auto& w : builtin_workloads()) {
    if (w.framework == "-") {
      std::printf("%-12s %-10s %-10s %s\n", w.name.c_str(), "-", w.available ? "yes" : "no", w.description.c_str());
      continue;
    }
    std::printf("%-12s %-10s %-10s %s (%s)%s\n", w.name.c_str(), w.framework.c_str(), w.available ? "yes" : "no",
                w.description.c_str(), w.language.c_str(), w.why_not.empty() ? "" : (" [" + w.why_not + "]").c_str());
  }
  std::printf("\nData sets are generated on first use under %s (JOULEBENCH_DATA_DIR to change).\n",
              workload_data_root().c_str());
  std::printf(
      "Run: joulebench workload MODEL --framework NAME [--phase train|infer] [--size tiny|quick|standard] "
      "[--seed N] [--threads N] [--batch N] [--steps N] [--device cpu|cuda] [--checkpoint FILE]\n");
  return 0;
}

int run_workload(const std::string& name, std::vector<std::string> args) {
  std::vector<std::string> argv;
  try {
    argv = builtin_workload_command(name, std::move(args));
  } catch (const WorkloadUnavailable& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return e.exit_code();
  }
  const std::string failure = replace_process(argv);
  std::fprintf(stderr, "joulebench: %s\n", failure.c_str());
  return 126;
}

}  // namespace

Command add_workload(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "workload",
      "Run a built-in workload (see --list); measure it with 'joulebench measure -- joulebench workload NAME'");
  auto list = std::make_shared<bool>(false);
  cmd->add_flag("--list", *list, "show the built-in workloads and whether they are available here");
  // The workload's name and everything after it are the workload's own: `workload cpu-load --seconds 2`.
  cmd->prefix_command();
  cmd->footer(
      "Usage: joulebench workload NAME [ARGS...]\n"
      "  joulebench workload ncf|transformer|resnet --framework libtorch|pytorch|dlib [--phase train|infer]\n"
      "      [--size tiny|quick|standard] [--seed N] [--threads N] [--batch N] [--steps N] [--device cpu|cuda]\n"
      "  joulebench workload data [--model all] [--size quick] [--seed 42]   (generate the data sets now)\n"
      "  joulebench workload cpu-load [--seconds S | --iterations N] [--threads T]\n"
      "--size defaults to $JOULEBENCH_WORKLOAD_SIZE, else quick.");
  return {cmd, [cmd, list]() -> int {
            std::vector<std::string> remaining = cmd->remaining();
            if (remaining.size() > 1 && remaining[1] == "--") remaining.erase(remaining.begin() + 1);
            if (*list || remaining.empty()) return list_workloads();
            const std::string name = remaining.front();
            return run_workload(name, std::vector<std::string>(remaining.begin() + 1, remaining.end()));
          }};
}

}  // namespace joulebench::cli

// `joulebench profiles`: the profiled runs of a campaign, per group the top functions of each
// framework side by side: why one framework costs more than another.
#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/report.hpp"

namespace joulebench::cli {

namespace {

struct ProfilesArguments {
  RunSelection selection;
  std::string group_by;
  std::string between = "framework";
  std::string mode;
  std::size_t top = 10;
  std::string format = "table";
  std::string output;
};

int run_profiles(const ProfilesArguments& args) {
  Store store(args.selection.db);
  const std::int64_t campaign = selected_campaign(store, args.selection);
  RunFilter filter = run_filter(args.selection);
  filter.profiled = true;
  const auto runs = store.runs(campaign, filter);
  const auto group_by = grouping(args.group_by, !args.group_by.empty(), args.between, runs);
  const auto groups = group_profiles(runs, group_by, args.between, args.mode);
  const std::string report = profiles_report(groups, group_by, args.top, *parse_table_format(args.format));
  write_report(report, args.output, stdout);
  return 0;
}

}  // namespace

Command add_profiles(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "profiles", "The profiled runs of a campaign: per group, each framework's top functions side by side");
  auto args = std::make_shared<ProfilesArguments>();
  add_selection_options(cmd, args->selection);
  cmd->add_option("--group-by", args->group_by,
                  "labels whose values form the groups, comma-separated (default: model,phase)")
      ->type_name("KEYS");
  cmd->add_option("--between", args->between, "the label whose values stand side by side ('workload' also works)")
      ->type_name("KEY")
      ->capture_default_str();
  cmd->add_option("--mode", args->mode, "only profiles of this mode")
      ->check(CLI::IsMember({"python", "cprofile", "torch", "perf"}));
  cmd->add_option("--top", args->top, "functions per side (0: all)")->capture_default_str();
  cmd->add_option("--format", args->format, "table, md, csv or json")
      ->check(CLI::IsMember({"table", "md", "csv", "json"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", args->output, "write to this file instead of standard output")->type_name("FILE");
  return {cmd, [args] { return run_profiles(*args); }};
}

}  // namespace joulebench::cli

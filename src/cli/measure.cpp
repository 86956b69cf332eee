#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/report.hpp"
#include "joulebench/run.hpp"

namespace joulebench::cli {

namespace {

struct MeasureArguments {
  std::string interval = "100ms";
  std::string idle;
  std::string format = "text";
  std::string output;
  std::string timeline;
  std::vector<std::string> sources;
  std::optional<std::string> gpus;
  std::vector<std::string> command;
  bool wait = false;
  bool no_events = false;
};

constexpr Seconds kShortestInterval{1e-3};

int run_measure(const MeasureArguments& args) {
  const Seconds interval = duration_option("--interval", args.interval);
  if (interval < kShortestInterval * 0.999) throw CLI::ValidationError("--interval", "must be 1ms or more");
  MeasureOptions options;
  options.command.argv = resolve_joulebench(args.command);
  options.interval = interval;
  if (!args.idle.empty()) options.idle = duration_option("--idle", args.idle);
  options.events = !args.no_events;
  if (args.gpus) options.gpus = gpu_selectors(*args.gpus);

  const MachineLock measuring = begin_measuring("", args.wait);
  SensorSet sensors = open_sensors(args.sources);
  check_gpus(sensors, options.gpus);

  std::optional<CsvTimelineWriter> timeline;
  if (!args.timeline.empty()) {
    timeline.emplace(args.timeline);
    options.timeline = &*timeline;
  }

  CommandMeasurement m;
  try {
    m = measure_command(sensors, options);
  } catch (const LaunchError& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    if (timeline) {
      // Nothing was measured: leave no empty timeline behind to be mistaken for a result.
      timeline->close();
      std::filesystem::remove(args.timeline);
    }
    return e.shell_status();
  }
  if (timeline) timeline->close();

  const std::string report = args.format == "json"  ? measurement_json(m)
                             : args.format == "csv" ? measurement_csv(m)
                                                    : measurement_text(m);
  write_report(report, args.output, stderr);
  // The command's own status, as a shell would report it, so scripts can wrap commands.
  return m.process.status.shell_status();
}

}  // namespace

Command add_measure(CLI::App& app) {
  auto* cmd = app.add_subcommand("measure", "Run a command and report the energy it cost per domain, and its times");
  auto args = std::make_shared<MeasureArguments>();
  cmd->add_option("--interval", args->interval, "how often the background thread samples power (1ms or more)")
      ->capture_default_str()
      ->type_name("DURATION");
  auto* format = cmd->add_option("--format", args->format, "the report: text, json, or csv (a header and one row)")
                     ->check(CLI::IsMember({"text", "json", "csv"}))
                     ->capture_default_str();
  auto* json = cmd->add_flag_callback(
                      "--json", [args] { args->format = "json"; }, "the same as --format json")
                   ->excludes(format);
  cmd->add_flag_callback(
         "--csv", [args] { args->format = "csv"; }, "the same as --format csv")
      ->excludes(format)
      ->excludes(json);
  cmd->add_option("-o,--output", args->output, "write the report to this file instead of standard error")
      ->type_name("FILE");
  cmd->add_option("--timeline", args->timeline, "write the power timeline to this CSV file")->type_name("FILE");
  cmd->add_option(
         "--idle", args->idle,
         "first measure idle power this long (e.g. 5s), then also report dynamic energy and the command's share")
      ->type_name("DURATION");
  cmd->add_option("--source", args->sources,
                  "use only this source (repeatable): rapl-perf, rapl-powercap, nvml, estimate")
      ->type_name("NAME")
      ->allow_extra_args(false);
  add_gpus_option(cmd, args->gpus);
  add_events_option(cmd, args->no_events);
  add_wait_option(cmd, args->wait);
  cmd->add_option("command", args->command, "the command to run and its arguments (put them after --)")->required();
  cmd->footer("Put the command after --: joulebench measure --idle 5s -- python3 train.py --epochs 1");
  return {cmd, [args] { return run_measure(*args); }};
}

}  // namespace joulebench::cli

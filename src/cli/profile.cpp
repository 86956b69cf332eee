// `joulebench profile`: run a command under a profiler and the meter, then attribute the run's
// time and energy to its functions.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/process.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/python_sampler.hpp"
#include "joulebench/run.hpp"

namespace joulebench::cli {

namespace {

namespace fs = std::filesystem;

struct ProfileArguments {
  std::string mode = "auto";
  std::string sample_interval = "5ms";
  std::string meter_interval = "10ms";
  std::size_t top = 20;
  std::string threshold = "1%";
  std::string format = "table";
  std::string folded_weight = "time";
  std::string output;
  std::string idle;
  std::string keep_trace;
  std::vector<std::string> sources;
  std::vector<std::string> command;
  bool wait = false;
  bool no_events = false;
  std::optional<std::string> gpus;
};

}  // namespace

/// "1%" or a fraction ("0.01"): the share under which functions are folded into "other".
double threshold_option(const std::string& text) {
  std::string number = text;
  double scale = 1.0;
  if (!number.empty() && number.back() == '%') {
    number.pop_back();
    scale = 0.01;
  }
  try {
    std::size_t used = 0;
    const double value = std::stod(number, &used) * scale;
    if (used == number.size() && value >= 0 && value <= 1) return value;
  } catch (const std::exception&) {}
  throw CLI::ValidationError("--threshold", fmt::format("'{}' is not a share: write it as 1% or 0.01", text));
}

namespace {

int run_profile(const ProfileArguments& args) {
  const Seconds interval = duration_option("--sample-interval", args.sample_interval);
  if (interval < Seconds(1e-4) || interval > Seconds(1.0))
    throw CLI::ValidationError("--sample-interval", "must be between 0.1ms and 1s");
  const Seconds meter_interval = duration_option("--interval", args.meter_interval);
  if (meter_interval < Seconds(1e-3) * 0.999) throw CLI::ValidationError("--interval", "must be 1ms or more");
  const double threshold = threshold_option(args.threshold);
  const ProfileFormat format = *parse_profile_format(args.format);

  ProfileMode mode = ProfileMode::perf;
  if (args.mode == "auto") {
    mode = auto_profile_mode(args.command);
    std::fprintf(stderr, "joulebench profile: mode %s (auto: %s)\n", std::string(profile_mode_name(mode)).c_str(),
                 mode == ProfileMode::python
                     ? (is_python_command(args.command) ? "a Python interpreter" : "a PyTorch workload")
                 : mode == ProfileMode::torch ? "a LibTorch workload"
                                              : "native code");
  } else {
    mode = *parse_profile_mode(args.mode);
  }

  ProfileCommandOptions options;
  options.mode = mode;
  options.interval = interval;
  options.measure.command.argv = args.command;
  // Standard output carries the profile; the command's own output goes to standard error.
  if (args.output.empty()) options.measure.command.stdout_fd = STDERR_FILENO;
  options.measure.interval = meter_interval;
  if (!args.idle.empty()) options.measure.idle = duration_option("--idle", args.idle);
  options.measure.events = !args.no_events;
  if (args.gpus) options.measure.gpus = gpu_selectors(*args.gpus);
  if (!args.keep_trace.empty()) options.keep_trace = args.keep_trace;

  const MachineLock measuring = begin_measuring("", args.wait);
  SensorSet sensors = open_sensors(args.sources);
  check_gpus(sensors, options.measure.gpus);
  ProfiledMeasurement result;
  try {
    result = profile_command(sensors, options);
  } catch (const ProfilerError& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return mode == ProfileMode::perf ? 1 : 2;
  } catch (const LaunchError& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return e.shell_status();
  }
  const CommandMeasurement& m = result.measurement;
  for (const auto& warning : m.run.warnings) std::fprintf(stderr, "joulebench: warning: %s\n", warning.message.c_str());
  for (const auto& note : m.notes) std::fprintf(stderr, "joulebench: warning: %s\n", note.c_str());
  const int status = m.process.status.shell_status();
  if (!result.profile) {
    std::fprintf(stderr, "joulebench: no profile: %s%s\n", result.problem.c_str(),
                 status != 0 ? fmt::format(" (the command ended with {})", m.process.status.describe()).c_str() : "");
    return status != 0 ? status : 1;
  }
  for (const auto& note : result.notes) std::fprintf(stderr, "joulebench: warning: %s\n", note.c_str());
  const std::string report =
      format_profile(*result.profile, format, args.top, threshold, args.folded_weight == "energy");
  write_report(report, args.output, stdout);
  if (status != 0) std::fprintf(stderr, "joulebench: the command ended with %s\n", m.process.status.describe().c_str());
  return status;
}

int run_python_sampler_command(const PythonSamplerOptions& options) {
  ExitStatus status;
  try {
    status = run_python_sampler(options);
  } catch (const LaunchError& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return e.shell_status();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "joulebench: %s\n", e.what());
    return 2;
  }
  if (status.signaled) {
    // End as the child ended, so that whoever measures this sees the signal, not an exit code;
    // without a core file of joulebench's own.
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    std::signal(status.signal, SIG_DFL);
    std::raise(status.signal);
  }
  return status.shell_status();
}

}  // namespace

Command add_profile(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("profile", "Run a command under a profiler: the time and energy of each of its functions");
  auto args = std::make_shared<ProfileArguments>();
  cmd->add_option("--mode", args->mode,
                  "auto (from the command), python (a sampler for Python scripts), cprofile (Python's cProfile: exact "
                  "calls), torch (framework operators), perf (native code, Linux perf)")
      ->check(CLI::IsMember({"auto", "python", "cprofile", "torch", "perf"}))
      ->capture_default_str();
  cmd->add_option("--sample-interval", args->sample_interval,
                  "the profiler's sampling interval (python and perf modes)")
      ->capture_default_str()
      ->type_name("DURATION");
  auto* interval =
      cmd->add_option("--interval", args->meter_interval,
                      "how often the meter samples power, for the attribution (1ms or more; until this release it was "
                      "--meter-interval, and --interval was the profiler's, now --sample-interval)")
          ->capture_default_str()
          ->type_name("DURATION");
  add_deprecated_option(cmd, "--meter-interval", "--interval", [args](const std::string& value) {
    args->meter_interval = value;
  })->excludes(interval);
  cmd->add_option("--top", args->top, "show at most this many functions (0: all); the rest are folded into 'other'")
      ->capture_default_str();
  cmd->add_option("--threshold", args->threshold,
                  "functions under this share of the run's energy (of its time where there is no energy) are folded "
                  "into 'other'")
      ->capture_default_str()
      ->type_name("SHARE");
  cmd->add_option("--format", args->format, "table, md, csv, json, or folded (stacks for flame-graph tools)")
      ->check(CLI::IsMember({"table", "md", "csv", "json", "folded"}))
      ->capture_default_str();
  cmd->add_option("--folded-weight", args->folded_weight,
                  "folded stacks weighed by time (microseconds) or energy (microjoules)")
      ->check(CLI::IsMember({"time", "energy"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", args->output,
                  "write the profile to this file (the command's output then stays on standard output)")
      ->type_name("FILE");
  cmd->add_option("--idle", args->idle,
                  "first measure idle power this long (e.g. 5s): idle and dynamic energy per function")
      ->type_name("DURATION");
  cmd->add_option("--keep-trace", args->keep_trace, "keep the raw trace (perf mode: perf's data) in this file")
      ->type_name("FILE");
  cmd->add_option("--source", args->sources, "use only this energy source (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  add_gpus_option(cmd, args->gpus);
  add_events_option(cmd, args->no_events);
  add_wait_option(cmd, args->wait);
  cmd->add_option("command", args->command, "the command to run and its arguments (put them after --)")->required();
  cmd->footer(
      "Put the command after --: joulebench profile --mode python -- python3 train.py --epochs 1\n"
      "The profile goes to standard output (or -o FILE); the command's own standard output then goes to standard "
      "error.");
  return {cmd, [args] { return run_profile(*args); }};
}

Command add_python_sampler(CLI::App& app) {
  // Internal: the python mode's sampler outside the program, which profiled_command() puts in
  // front of a Python command. Not listed in the help.
  auto* cmd = app.add_subcommand("python-sampler", "Run a Python script and sample its stacks from outside (internal)");
  cmd->group("");
  auto options = std::make_shared<PythonSamplerOptions>();
  cmd->add_option("--interval-ns", options->interval_ns, "the sampling interval in nanoseconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", options->out, "the trace to write")->required();
  cmd->add_option("command", options->argv, "the Python command (after --)")->required();
  return {cmd, [options] { return run_python_sampler_command(*options); }};
}

}  // namespace joulebench::cli

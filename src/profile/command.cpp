// Running a command under a profiler: which mode, the rewritten command, and the trace afterwards.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "joulebench/process.hpp"
#include "joulebench/profile.hpp"

namespace joulebench {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Runs a helper command with its output in files; returns its outcome.
ProcessOutcome run_quietly(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  SpawnOptions options;
  options.argv = argv;
  options.foreground = false;
  // The work folder may be the invoking user's (sudo): nothing in it is opened through a link.
  const int out_fd = create_file_for_invoking_user(out);
  int err_fd = -1;
  try {
    err_fd = create_file_for_invoking_user(err);
  } catch (...) {
    ::close(out_fd);
    throw;
  }
  options.stdout_fd = out_fd;
  options.stderr_fd = err_fd;
  try {
    auto outcome = ChildProcess::start(options).wait();
    ::close(out_fd);
    ::close(err_fd);
    return outcome;
  } catch (...) {
    ::close(out_fd);
    ::close(err_fd);
    throw;
  }
}

/// perf's last non-empty line of error output, for a message.
std::string last_line(const std::string& text) {
  std::string line;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l.find_first_not_of(" \t") != std::string::npos) line = l;
  }
  return line;
}

std::string perf_remedy() {
  std::string paranoid = "unknown";
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  if (in) in >> paranoid;
  return fmt::format(
      "kernel.perf_event_paranoid is {}: allow profiling with 'sudo sysctl kernel.perf_event_paranoid=1' (or 2 for "
      "user space only, where the kernel has no level 3), run joulebench as root, or give perf CAP_PERFMON "
      "('sudo setcap cap_perfmon,cap_sys_ptrace+ep $(command -v perf)')",
      paranoid);
}

/// Where the interpreter's own options end and the script begins: the index of the script.
std::size_t python_script_index(const std::vector<std::string>& argv, ProfileMode mode) {
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-c" || a == "-m" || a == "-") {
      throw std::runtime_error(
          fmt::format("the {} profiler runs a Python script: give 'python3 SCRIPT.py ARGS...' (not python3 {} ...)",
                      profile_mode_name(mode), a));
    }
    if (a == "-X" || a == "-W") {
      ++i;  // the option's value
      continue;
    }
    if (a.size() > 1 && a.front() == '-') continue;
    return i;
  }
  throw std::runtime_error(
      fmt::format("the {} profiler needs a Python script to run: python3 SCRIPT.py ARGS...", profile_mode_name(mode)));
}

/// The Python launcher of a mode (the in-process sampler and cProfile share one). Throws
/// std::runtime_error when it is not installed.
std::string launcher_path(ProfileMode mode) {
  const bool torch = mode == ProfileMode::torch;
  const std::string file = torch ? "joulebench_torch_profile.py" : "joulebench_profile.py";
  const auto path = find_helper(file);
  if (!path) {
    throw std::runtime_error(fmt::format("{} ({}) is not installed beside joulebench: rebuild or reinstall joulebench",
                                         torch ? "the torch.profiler launcher" : "the Python profiler", file));
  }
  return path->string();
}

/// `python_argv` with `launcher` between the interpreter's options and the script.
std::vector<std::string> with_launcher(const std::vector<std::string>& python_argv, std::size_t script_index,
                                       const std::vector<std::string>& launcher) {
  std::vector<std::string> out(python_argv.begin(), python_argv.begin() + static_cast<long>(script_index));
  out.insert(out.end(), launcher.begin(), launcher.end());
  out.insert(out.end(), python_argv.begin() + static_cast<long>(script_index), python_argv.end());
  return out;
}

}  // namespace

bool is_python_command(const std::vector<std::string>& argv) {
  if (argv.empty()) return false;
  static const std::regex python(R"(python(\d+(\.\d+)?)?)");
  return std::regex_match(fs::path(argv.front()).filename().string(), python);
}

bool is_builtin_workload(const std::vector<std::string>& argv, std::string_view framework) {
  if (argv.size() < 2 || fs::path(argv.front()).filename() != "joulebench" || argv[1] != "workload") return false;
  const std::string joined = fmt::format("--framework={}", framework);
  for (std::size_t i = 2; i < argv.size(); ++i) {
    if ((argv[i] == "--framework" && i + 1 < argv.size() && argv[i + 1] == framework) || argv[i] == joined) return true;
  }
  return false;
}

ProfileMode auto_profile_mode(const std::vector<std::string>& argv) {
  if (argv.empty()) return ProfileMode::perf;
  if (is_python_command(argv) || is_builtin_workload(argv, "pytorch")) return ProfileMode::python;
  if (fs::path(argv.front()).filename() == "joulebench-libtorch" || is_builtin_workload(argv, "libtorch")) {
    return ProfileMode::torch;
  }
  return ProfileMode::perf;
}

std::vector<std::string> profiled_python_command(ProfileMode mode, const std::vector<std::string>& python_argv,
                                                 std::size_t script_index, const fs::path& trace,
                                                 long long interval_ns) {
  std::vector<std::string> launcher;
  switch (mode) {
    case ProfileMode::python: {
      launcher_path(mode);  // the fallback's launcher: a missing one fails now
      std::vector<std::string> out = resolve_joulebench({"joulebench", "python-sampler", "--interval-ns",
                                                         std::to_string(interval_ns), "--out", trace.string(), "--"});
      out.insert(out.end(), python_argv.begin(), python_argv.end());
      return out;
    }
    case ProfileMode::cprofile:
      launcher = {launcher_path(mode),
                  "--mode",
                  std::string(profile_mode_name(mode)),
                  "--interval-ns",
                  std::to_string(interval_ns),
                  "--out",
                  trace.string(),
                  "--"};
      break;
    case ProfileMode::torch:
      // It reads JOULEBENCH_PROFILE_OUT itself.
      launcher = {launcher_path(mode)};
      break;
    case ProfileMode::perf: throw std::runtime_error("perf mode profiles the whole process: it has no Python launcher");
  }
  return with_launcher(python_argv, script_index, launcher);
}

std::vector<std::string> in_process_python_command(const std::vector<std::string>& python_argv, const fs::path& trace,
                                                   long long interval_ns) {
  return with_launcher(python_argv, python_script_index(python_argv, ProfileMode::python),
                       {launcher_path(ProfileMode::python), "--mode", "python", "--interval-ns",
                        std::to_string(interval_ns), "--out", trace.string(), "--"});
}

ProfiledCommand profiled_command(ProfileMode mode, const std::vector<std::string>& argv, Seconds interval,
                                 const fs::path& work_dir) {
  if (argv.empty()) throw std::runtime_error("no command to profile");
  const auto interval_ns = static_cast<long long>(std::llround(interval.count() * 1e9));
  ProfiledCommand out;
  out.trace = work_dir / "profile.trace";
  out.environment = {{"JOULEBENCH_PROFILE_OUT", out.trace.string()},
                     {"JOULEBENCH_PROFILE_MODE", std::string(profile_mode_name(mode))},
                     {"JOULEBENCH_PROFILE_INTERVAL_NS", std::to_string(interval_ns)}};
  // A built-in PyTorch workload starts its script under the launcher itself (`joulebench
  // workload` reads JOULEBENCH_PROFILE_MODE), as a LibTorch program writes its torch trace itself.
  const bool launches_itself =
      is_builtin_workload(argv, "pytorch") || (mode == ProfileMode::torch && !is_python_command(argv));
  switch (mode) {
    case ProfileMode::python:
    case ProfileMode::cprofile:
    case ProfileMode::torch: {
      if (launches_itself) {
        launcher_path(mode);  // a missing launcher fails now, not in the workload
        out.argv = argv;
        return out;
      }
      if (!is_python_command(argv)) {
        throw std::runtime_error(
            fmt::format("the {} profiler profiles Python scripts: the command must start with a Python "
                        "interpreter (python3 SCRIPT.py ...) or be a built-in PyTorch workload; for "
                        "other programs use the perf mode",
                        profile_mode_name(mode)));
      }
      out.argv = profiled_python_command(mode, argv, python_script_index(argv, mode), out.trace, interval_ns);
      return out;
    }
    case ProfileMode::perf: {
      std::string perf;
      try {
        perf = find_executable("perf").string();
      } catch (const LaunchError&) {
        throw std::runtime_error(
            "the perf profiler needs Linux perf, which is not installed (Debian: sudo apt-get install linux-perf)");
      }
      out.perf_data = work_dir / "perf.data";
      // A fixed period of the cpu-clock event (nanoseconds of CPU time), not a frequency: perf's
      // frequency mode takes a while to settle, and short runs would get few samples. No BPF
      // events and no build-ids: recording them costs about a second per run (measured on perf
      // 6.1), and the data is read at once, on this machine, from the binaries' own paths.
      const std::vector<std::string> record{perf,
                                            "record",
                                            "-q",
                                            "-e",
                                            "cpu-clock",
                                            "-c",
                                            std::to_string(interval_ns),
                                            "-g",
                                            "--clockid",
                                            "CLOCK_MONOTONIC",
                                            "--no-bpf-event",
                                            "--no-buildid",
                                            "--no-buildid-cache",
                                            "-o"};
      // A trial on `true` first: a perf that may not record says so now, not after the workload ran.
      std::vector<std::string> trial = record;
      trial.push_back((work_dir / "perf-check.data").string());
      trial.insert(trial.end(), {"--", "true"});
      const auto outcome = run_quietly(trial, work_dir / "perf-check.out", work_dir / "perf-check.err");
      std::error_code ec;
      fs::remove(work_dir / "perf-check.data", ec);
      if (outcome.status.signaled || outcome.status.code != 0) {
        const std::string said = last_line(read_file(work_dir / "perf-check.err"));
        throw std::runtime_error(
            fmt::format("perf cannot record here{}. {}", said.empty() ? "" : " (perf: " + said + ")", perf_remedy()));
      }
      out.argv = record;
      out.argv.push_back(out.perf_data.string());
      out.argv.emplace_back("--");
      out.argv.insert(out.argv.end(), argv.begin(), argv.end());
      return out;
    }
  }
  return out;
}

Trace collect_trace(const ProfiledCommand& command, ProfileMode mode) {
  if (mode != ProfileMode::perf) {
    Trace trace = read_trace(command.trace);
    if (trace.mode && *trace.mode != mode) {
      throw TraceError(fmt::format("{}: the trace is of mode {}, not {}", command.trace.string(),
                                   profile_mode_name(*trace.mode), profile_mode_name(mode)));
    }
    return trace;
  }
  std::error_code ec;
  if (!fs::exists(command.perf_data, ec) || fs::file_size(command.perf_data, ec) == 0) {
    throw TraceError(fmt::format("{}: perf recorded nothing. {}", command.perf_data.string(), perf_remedy()));
  }
  const fs::path script_out = command.perf_data.parent_path() / "perf-script.txt";
  const fs::path script_err = command.perf_data.parent_path() / "perf-script.err";
  const auto outcome = run_quietly({find_executable("perf").string(), "script", "-i", command.perf_data.string(), "-F",
                                    "comm,tid,time,ip,sym,dso", "--ns"},
                                   script_out, script_err);
  if (outcome.status.signaled || outcome.status.code != 0) {
    throw TraceError(fmt::format("{}: perf script failed ({}): {}", command.perf_data.string(),
                                 outcome.status.describe(), last_line(read_file(script_err))));
  }
  Trace trace;
  trace.mode = ProfileMode::perf;
  parse_perf_script(read_file(script_out), script_out.string(), trace);
  fs::remove(script_out, ec);
  fs::remove(script_err, ec);
  return trace;
}

}  // namespace joulebench

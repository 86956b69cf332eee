// `joulebench workload`: the built-in workloads. Each is its own executable or script beside
// joulebench (joulebench links no framework); this command finds it, makes sure the data it reads
// exists, and replaces itself with it, so that when measured, the measured process is the workload.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/process.hpp"
#include "joulebench/profile.hpp"

namespace joulebench::cli {

namespace {

namespace fs = std::filesystem;

std::string environment_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

/// The Python that runs the PyTorch workloads: Debian's, where python3-torch is.
std::string python() { return environment_or("JOULEBENCH_PYTHON", "/usr/bin/python3"); }

/// Where generated data sets are kept: $JOULEBENCH_DATA_DIR, else the user's cache.
fs::path data_root() {
  if (const char* dir = std::getenv("JOULEBENCH_DATA_DIR"); dir && *dir) return dir;
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache) return fs::path(cache) / "joulebench" / "data";
  return fs::path(environment_or("HOME", "/tmp")) / ".cache" / "joulebench" / "data";
}

struct Framework {
  const char* name;
  const char* program;  ///< beside joulebench
  bool script;          ///< run with python()
  std::vector<std::string> models;
  const char* language;
};

const std::vector<Framework>& frameworks() {
  static const std::vector<Framework> list{
      {"libtorch", "joulebench-libtorch", false, {"ncf", "transformer", "resnet"}, "C++"},
      {"pytorch", "joulebench_pytorch.py", true, {"ncf", "transformer", "resnet"}, "Python"},
      {"dlib", "joulebench-dlib", false, {"ncf", "resnet"}, "C++"},
  };
  return list;
}

const char* model_description(const std::string& model) {
  if (model == "ncf") return "recommender: NeuMF on generated implicit feedback (HR@10, NDCG@10)";
  if (model == "transformer") return "language: Transformer encoder classifier on generated sequences (accuracy)";
  return "vision: small ResNet on Fashion-MNIST (top-1 accuracy)";
}

/// Whether Python can import torch here (asked once, for --list).
bool python_has_torch() {
  try {
    SpawnOptions options;
    options.argv = {python(), "-c", "import torch"};
    options.foreground = false;
    options.stdout_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    options.stderr_fd = options.stdout_fd;
    auto child = ChildProcess::start(options);
    const auto outcome = child.wait(Seconds(60));
    ::close(options.stdout_fd);
    return !outcome.status.signaled && outcome.status.code == 0;
  } catch (const LaunchError&) {
    return false;
  }
}

int list_workloads() {
  std::printf("%-12s %-10s %-10s %s\n", "workload", "framework", "available", "description");
  const auto cpu_load = find_helper("joulebench-cpu-load");
  std::printf("%-12s %-10s %-10s %s\n", "cpu-load", "-", cpu_load ? "yes" : "no",
              "a busy floating-point loop on N threads (C++, no framework)");
  const bool torch = python_has_torch();
  for (const char* model : {"ncf", "transformer", "resnet"}) {
    for (const auto& f : frameworks()) {
      if (std::find(f.models.begin(), f.models.end(), model) == f.models.end()) continue;
      const auto path = find_helper(f.program);
      std::string available = path ? "yes" : "no";
      std::string why;
      if (!path) why = " [not built here: its framework was not installed at build time]";
      if (path && f.script && !torch) {
        available = "no";
        why = fmt::format(" [{} cannot import torch: install python3-torch]", python());
      }
      std::printf("%-12s %-10s %-10s %s (%s)%s\n", model, f.name, available.c_str(), model_description(model), f.language,
                  why.c_str());
    }
  }
  std::printf("\nData sets are generated on first use under %s (JOULEBENCH_DATA_DIR to change).\n",
              data_root().c_str());
  std::printf("Run: joulebench workload MODEL --framework NAME [--phase train|infer] [--size tiny|quick|standard] "
              "[--seed N] [--threads N] [--batch N] [--steps N] [--device cpu|cuda] [--checkpoint FILE]\n");
  return 0;
}

/// Replaces this process with `argv`; returns only on failure.
int exec(std::vector<std::string> argv) {
  std::vector<char*> pointers;
  for (auto& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  ::execv(argv[0].c_str(), pointers.data());
  std::fprintf(stderr, "joulebench: cannot run %s: %s\n", argv[0].c_str(), std::strerror(errno));
  return 126;
}

/// Takes `--name VALUE` (or `--name=VALUE`) out of `args`.
std::optional<std::string> take_option(std::vector<std::string>& args, const std::string& name) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) {
      std::string value = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      return value;
    }
    if (args[i].starts_with(name + "=")) {
      std::string value = args[i].substr(name.size() + 1);
      args.erase(args.begin() + static_cast<long>(i));
      return value;
    }
  }
  return std::nullopt;
}

/// The data set's folder, generated first if it is not complete. The generator's messages go to
/// standard error: a measured workload's standard output stays its own.
std::optional<fs::path> ensure_data(const std::string& model, const std::string& size, const std::string& seed,
                                    const fs::path& root) {
  const fs::path dir = root / fmt::format("{}-{}-seed{}", model, size, seed);
  if (fs::exists(dir / "manifest.json")) return dir;
  const auto generator = find_helper("joulebench-data");
  if (!generator) {
    std::fprintf(stderr, "joulebench: joulebench-data is not built here\n");
    return std::nullopt;
  }
  SpawnOptions options;
  options.argv = {generator->string(), "--model", model, "--size", size, "--seed", seed, "--out", root.string()};
  options.foreground = false;
  options.stdout_fd = STDERR_FILENO;
  const auto outcome = ChildProcess::start(options).wait();
  if (outcome.status.signaled || outcome.status.code != 0) return std::nullopt;
  return dir;
}

int run_model(const std::string& model, std::vector<std::string> args) {
  const auto framework_name = take_option(args, "--framework");
  if (!framework_name) {
    std::fprintf(stderr, "joulebench: workload %s needs --framework (libtorch, pytorch or dlib; see --list)\n",
                 model.c_str());
    return 2;
  }
  const auto f = std::find_if(frameworks().begin(), frameworks().end(),
                              [&](const Framework& x) { return x.name == *framework_name; });
  if (f == frameworks().end() || std::find(f->models.begin(), f->models.end(), model) == f->models.end()) {
    std::fprintf(stderr, "joulebench: no %s workload in framework '%s' (see 'joulebench workload --list')\n",
                 model.c_str(), framework_name->c_str());
    return 2;
  }
  const std::string phase = take_option(args, "--phase").value_or("train");
  const std::string size = take_option(args, "--size").value_or(environment_or("JOULEBENCH_WORKLOAD_SIZE", "quick"));
  const std::string seed = take_option(args, "--seed").value_or("42");
  const fs::path root = take_option(args, "--data-dir").value_or(data_root().string());
  const auto program = find_helper(f->program);
  if (!program) {
    std::fprintf(stderr, "joulebench: the %s workloads are not built on this machine (%s not found)\n", f->name,
                 f->program);
    return 127;
  }
  const auto data = ensure_data(model, size, seed, root);
  if (!data) return 2;
  std::vector<std::string> argv;
  if (f->script) {
    argv = {python(), program->string()};
    // Under `joulebench profile` (or a plan's profiled run) in a Python mode, the script runs
    // under the Python profiler, which writes the trace where joulebench reads it.
    const auto mode = parse_profile_mode(environment_or("JOULEBENCH_PROFILE_MODE", ""));
    const std::string trace = environment_or("JOULEBENCH_PROFILE_OUT", "");
    if (mode && *mode != ProfileMode::perf && !trace.empty()) {
      const long long interval_ns = std::atoll(environment_or("JOULEBENCH_PROFILE_INTERVAL_NS", "5000000").c_str());
      try {
        argv = profiled_python_command(*mode, argv, 1, trace, interval_ns);
      } catch (const std::runtime_error& e) {
        std::fprintf(stderr, "joulebench: %s\n", e.what());
        return 2;
      }
    }
  } else {
    argv = {program->string()};
  }
  for (const std::string& a : {std::string("--model"), model, std::string("--phase"), phase, std::string("--data"),
                               data->string()}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return exec(std::move(argv));
}

int run_data(std::vector<std::string> args) {
  const auto generator = find_helper("joulebench-data");
  if (!generator) {
    std::fprintf(stderr, "joulebench: joulebench-data is not built here\n");
    return 127;
  }
  std::vector<std::string> argv{generator->string()};
  if (std::find(args.begin(), args.end(), "--out") == args.end()) args.insert(args.begin(), {"--out", data_root().string()});
  if (std::find(args.begin(), args.end(), "--model") == args.end()) args.insert(args.begin(), {"--model", "all"});
  if (std::find(args.begin(), args.end(), "--size") == args.end()) {
    args.insert(args.begin(), {"--size", environment_or("JOULEBENCH_WORKLOAD_SIZE", "quick")});
  }
  if (std::find(args.begin(), args.end(), "--seed") == args.end()) args.insert(args.begin(), {"--seed", "42"});
  argv.insert(argv.end(), args.begin(), args.end());
  return exec(std::move(argv));
}

}  // namespace

Command add_workload(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "workload", "Run a built-in workload (see --list); measure it with 'joulebench measure -- joulebench workload NAME'");
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
            std::vector<std::string> args(remaining.begin() + 1, remaining.end());
            if (name == "ncf" || name == "transformer" || name == "resnet") return run_model(name, std::move(args));
            if (name == "data") return run_data(std::move(args));
            if (name == "cpu-load") {
              const auto program = find_helper("joulebench-cpu-load");
              if (!program) {
                std::fprintf(stderr, "joulebench: workload 'cpu-load' is not built on this machine\n");
                return 127;
              }
              args.insert(args.begin(), program->string());
              return exec(std::move(args));
            }
            std::fprintf(stderr, "joulebench: no built-in workload '%s' (see 'joulebench workload --list')\n",
                         name.c_str());
            return 2;
          }};
}

}  // namespace joulebench::cli

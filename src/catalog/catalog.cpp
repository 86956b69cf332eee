// The built-in workloads (catalog.hpp).
#include "joulebench/catalog.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "joulebench/process.hpp"
#include "joulebench/profile.hpp"

namespace joulebench {

namespace fs = std::filesystem;

namespace {

std::string environment_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

struct Framework {
  const char* name;
  const char* program;  ///< beside joulebench
  bool script;          ///< run with workload_python()
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

/// Whether Python can import torch here.
bool python_has_torch() {
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  try {
    SpawnOptions options;
    options.argv = {workload_python(), "-c", "import torch"};
    options.foreground = false;
    options.stdout_fd = null;
    options.stderr_fd = null;
    auto child = ChildProcess::start(options);
    const auto outcome = child.wait(Seconds(60));
    ::close(null);
    return !outcome.status.signaled && outcome.status.code == 0;
  } catch (const LaunchError&) {
    ::close(null);
    return false;
  }
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

fs::path data_generator() {
  const auto generator = find_helper("joulebench-data");
  if (!generator) throw WorkloadUnavailable(127, "joulebench-data is not built here");
  return *generator;
}

/// The data set's folder, generated first if it is not complete. The generator's messages go to
/// standard error: a measured workload's standard output stays its own.
fs::path ensure_data(const std::string& model, const std::string& size, const std::string& seed, const fs::path& root) {
  const fs::path dir = root / fmt::format("{}-{}-seed{}", model, size, seed);
  if (fs::exists(dir / "manifest.json")) return dir;
  const fs::path generator = data_generator();
  SpawnOptions options;
  options.argv = {generator.string(), "--model", model, "--size", size, "--seed", seed, "--out", root.string()};
  options.foreground = false;
  options.stdout_fd = STDERR_FILENO;
  const auto outcome = ChildProcess::start(options).wait();
  if (outcome.status.signaled || outcome.status.code != 0) {
    throw WorkloadUnavailable(2, fmt::format("the {} data set could not be generated in {} ({})", model, dir.string(),
                                             outcome.status.describe()));
  }
  return dir;
}

std::vector<std::string> model_command(const std::string& model, std::vector<std::string> args) {
  const auto framework_name = take_option(args, "--framework");
  if (!framework_name) {
    throw WorkloadUnavailable(
        2, fmt::format("workload {} needs --framework libtorch, pytorch or dlib (see 'joulebench workload --list')",
                       model));
  }
  const auto f = std::find_if(frameworks().begin(), frameworks().end(),
                              [&](const Framework& x) { return x.name == *framework_name; });
  if (f == frameworks().end() || std::find(f->models.begin(), f->models.end(), model) == f->models.end()) {
    throw WorkloadUnavailable(
        2, fmt::format("no {} workload in framework '{}' (see 'joulebench workload --list')", model, *framework_name));
  }
  const std::string phase = take_option(args, "--phase").value_or("train");
  const std::string size = take_option(args, "--size").value_or(environment_or("JOULEBENCH_WORKLOAD_SIZE", "quick"));
  const std::string seed = take_option(args, "--seed").value_or("42");
  const fs::path root = take_option(args, "--data-dir").value_or(workload_data_root().string());
  const auto program = find_helper(f->program);
  if (!program) {
    throw WorkloadUnavailable(
        127, fmt::format("the {} workloads are not built on this machine ({} not found)", f->name, f->program));
  }
  const fs::path data = ensure_data(model, size, seed, root);
  std::vector<std::string> argv;
  if (f->script) {
    argv = {workload_python(), program->string()};
    // Under `joulebench profile` (or a plan's profiled run) in a Python mode, the script runs
    // under the Python profiler, which writes the trace where joulebench reads it.
    const auto mode = parse_profile_mode(environment_or("JOULEBENCH_PROFILE_MODE", ""));
    const std::string trace = environment_or("JOULEBENCH_PROFILE_OUT", "");
    if (mode && *mode != ProfileMode::perf && !trace.empty()) {
      const long long interval_ns = std::atoll(environment_or("JOULEBENCH_PROFILE_INTERVAL_NS", "5000000").c_str());
      try {
        argv = profiled_python_command(*mode, argv, 1, trace, interval_ns);
      } catch (const std::runtime_error& e) {
        throw WorkloadUnavailable(2, e.what());
      }
    }
  } else {
    argv = {program->string()};
  }
  for (const std::string& a :
       {std::string("--model"), model, std::string("--phase"), phase, std::string("--data"), data.string()}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> data_command(std::vector<std::string> args) {
  std::vector<std::string> argv{data_generator().string()};
  const auto given = [&](const char* option) { return std::find(args.begin(), args.end(), option) != args.end(); };
  if (!given("--out")) args.insert(args.begin(), {"--out", workload_data_root().string()});
  if (!given("--model")) args.insert(args.begin(), {"--model", "all"});
  if (!given("--size")) args.insert(args.begin(), {"--size", environment_or("JOULEBENCH_WORKLOAD_SIZE", "quick")});
  if (!given("--seed")) args.insert(args.begin(), {"--seed", "42"});
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

std::string workload_python() { return environment_or("JOULEBENCH_PYTHON", "/usr/bin/python3"); }

fs::path workload_data_root() {
  if (const char* dir = std::getenv("JOULEBENCH_DATA_DIR"); dir && *dir) return dir;
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache)
    return fs::path(cache) / "joulebench" / "data";
  return fs::path(environment_or("HOME", "/tmp")) / ".cache" / "joulebench" / "data";
}

std::vector<BuiltinWorkload> builtin_workloads() {
  std::vector<BuiltinWorkload> out;
  const bool cpu_load = find_helper("joulebench-cpu-load").has_value();
  out.push_back({"cpu-load", "-", "C++", "a busy floating-point loop on N threads (C++, no framework)", cpu_load,
                 cpu_load ? "" : "not built here"});
  const bool torch = python_has_torch();
  for (const char* model : {"ncf", "transformer", "resnet"}) {
    for (const auto& f : frameworks()) {
      if (std::find(f.models.begin(), f.models.end(), model) == f.models.end()) continue;
      BuiltinWorkload w{model, f.name, f.language, model_description(model), find_helper(f.program).has_value(), ""};
      if (!w.available) {
        w.why_not = "not built here: its framework was not installed at build time";
      } else if (f.script && !torch) {
        w.available = false;
        w.why_not = fmt::format("{} cannot import torch: install python3-torch", workload_python());
      }
      out.push_back(std::move(w));
    }
  }
  return out;
}

std::vector<std::string> builtin_workload_command(const std::string& name, std::vector<std::string> args) {
  if (name == "ncf" || name == "transformer" || name == "resnet") return model_command(name, std::move(args));
  if (name == "data") return data_command(std::move(args));
  if (name == "cpu-load") {
    const auto program = find_helper("joulebench-cpu-load");
    if (!program) throw WorkloadUnavailable(127, "workload 'cpu-load' is not built on this machine");
    args.insert(args.begin(), program->string());
    return args;
  }
  throw WorkloadUnavailable(2, fmt::format("no built-in workload '{}' (see 'joulebench workload --list')", name));
}

}  // namespace joulebench

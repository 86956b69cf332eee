// The built-in workloads: which there are, whether each can run here, and the command that runs
// one, its data set generated first when missing. `joulebench workload` prints and execs what
// this part says; plans run the same commands through `joulebench workload ...`.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace joulebench {

/// One model in one framework, as `joulebench workload --list` shows it.
struct BuiltinWorkload {
  std::string name;       ///< "ncf", "transformer", "resnet", "cpu-load"
  std::string framework;  ///< "libtorch", "pytorch", "dlib"; "-" for cpu-load
  std::string language;   ///< "C++", "Python"
  std::string description;
  bool available = false;
  std::string why_not;  ///< why it cannot run here (not built, no torch for Python), else empty
};

/// Every built-in workload, with whether it can run here (Python is asked once whether it has torch).
std::vector<BuiltinWorkload> builtin_workloads();

/// Where generated data sets are kept: $JOULEBENCH_DATA_DIR, else $XDG_CACHE_HOME/joulebench/data,
/// else ~/.cache/joulebench/data.
std::filesystem::path workload_data_root();

/// The Python that runs the PyTorch workloads: $JOULEBENCH_PYTHON, else Debian's /usr/bin/python3
/// (where python3-torch is; `python3` on PATH may be another).
std::string workload_python();

/// A built-in workload that cannot be run as asked: what() says why; `exit_code` is what the
/// front end exits with (2: a wrong name or argument, 127: not built here).
class WorkloadUnavailable : public std::runtime_error {
 public:
  WorkloadUnavailable(int exit_code, const std::string& message) : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// The argument vector that runs built-in workload `name` ("ncf", "transformer", "resnet",
/// "data", "cpu-load") with the arguments given after its name. For a model, its data set is
/// generated first when missing (the generator writing to standard error); under a Python
/// profile mode (JOULEBENCH_PROFILE_MODE), a PyTorch script runs under the Python profiler.
/// Throws WorkloadUnavailable.
std::vector<std::string> builtin_workload_command(const std::string& name, std::vector<std::string> args);

}  // namespace joulebench

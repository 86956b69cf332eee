// Runs the real joulebench executable in end-to-end tests: arguments, a controlled environment
// (sensor roots redirected, a fixed estimate model), captured output and exit status.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_tree.hpp"

namespace joulebench::testing {

struct Result {
  int exit_code = -1;  ///< -1 if joulebench itself was killed by a signal
  int term_signal = 0;
  std::string out;
  std::string err;
  double wall_s = 0;
  double children_user_s = 0;  ///< user CPU of joulebench and everything it reaped
  bool exec_failed = false;    ///< joulebench could not be started at all (exec_error says why)
  std::string exec_error;
};

using Env = std::map<std::string, std::optional<std::string>>;

/// Runs joulebench with `args`; stdout and stderr are captured, stdin is /dev/null. The
/// JOULEBENCH_* variables of the calling environment are dropped; defaults (an empty sysfs, no
/// NVML, an estimate of 1 W idle and 3 W busy per logical CPU and 1 W per GB of DRAM, a lock folder
/// of the runner's own, so that tests running side by side do not queue on the machine's measuring
/// lock), then `overrides` (a nullopt unsets), are set. With `as_user`, the process drops to that uid/gid.
class Runner {
 public:
  Runner();
  /// `during`, if given, is called with joulebench's pid once it has started.
  Result run(const std::vector<std::string>& args, const Env& overrides = {},
             std::optional<uid_t> as_user = std::nullopt, const std::function<void(pid_t)>& during = {}) const;

  /// Start joulebench with SIGCHLD ignored, as some parents leave it.
  bool sigchld_ignored = false;
  /// A joulebench still running after this long is killed and the test fails.
  std::chrono::seconds deadline{20};
  /// JOULEBENCH_LOCK_DIR: where its joulebench keeps machine-wide locks and owner records.
  const std::filesystem::path& lock_dir() const { return lock_dir_.path(); }

 private:
  TempDir empty_sysfs_;
  TempDir lock_dir_;
  Env env_;
};

std::string read_all(const std::filesystem::path& path);
/// joulebench's guard process (start_leftover_guard): its child named jbench-guard; 0 if none.
pid_t guard_of(pid_t joulebench);
/// Parses a JSON document, failing the test (not crashing it) if it is malformed.
nlohmann::json parse_json(const std::string& text);
/// One CSV line split into fields, with RFC 4180 quoting.
std::vector<std::string> csv_fields(const std::string& line);
std::vector<std::string> lines_of(const std::string& text);

/// The interpreter the Python profile tests run: JOULEBENCH_TEST_PYTHON from the environment (to
/// run them against another CPython), else the build's (Debian's /usr/bin/python3).
std::string profile_test_python();

}  // namespace joulebench::testing

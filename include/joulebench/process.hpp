// Workloads are processes: each runs as a child in its own process group, so a crash cannot take
// joulebench down and the whole tree can be signalled. Commands are argument vectors, never
// shell strings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "joulebench/units.hpp"

namespace joulebench {

/// A command could not be started. `shell_status` follows the shell: 127 not found, 126 found but
/// not executable.
class LaunchError : public std::runtime_error {
 public:
  LaunchError(int shell_status, const std::string& message)
      : std::runtime_error(message), shell_status_(shell_status) {}
  int shell_status() const { return shell_status_; }

 private:
  int shell_status_;
};

/// The executable a command name refers to: a path with a slash is taken as is, anything else is
/// searched in PATH. Throws LaunchError when there is none or it cannot be executed.
std::filesystem::path find_executable(const std::string& name);
/// A command whose program is the bare word `joulebench` runs this very joulebench (from
/// /proc/self/exe), wherever it is installed or built: a plan's or a profile's `joulebench
/// workload ...` then uses the workloads of the same version as the runner.
std::vector<std::string> resolve_joulebench(std::vector<std::string> argv);

struct SpawnOptions {
  std::vector<std::string> argv;  ///< argv[0] is looked up with find_executable
  std::optional<std::filesystem::path> working_directory;
  /// When joulebench holds the terminal, hand it to the child's process group so that the
  /// command can read the terminal and Ctrl-C reaches it, as a shell would.
  bool foreground = true;
  /// Variables set in the child's environment, on top of joulebench's own.
  std::vector<std::pair<std::string, std::string>> environment;
  /// When set, the child's standard output / error (joulebench's own otherwise).
  int stdout_fd = -1;
  int stderr_fd = -1;
  /// Descriptors the child inherits: {descriptor here, its number in the child}. Numbers from 3
  /// to 9 suit shell scripts, whose redirections (`>&3`) take a single digit in dash. All other
  /// descriptors are close-on-exec.
  std::vector<std::pair<int, int>> inherited_fds;
};

/// How a process ended.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    ///< exit code when !signaled
  int signal = 0;  ///< terminating signal when signaled
  bool core_dumped = false;

  /// From a status waitpid() filled in.
  static ExitStatus from_wait_status(int status);
  /// What a shell would report: the exit code, or 128 + the signal.
  int shell_status() const { return signaled ? 128 + signal : code; }
  /// "exit code 0", "killed by SIGSEGV (core dumped)".
  std::string describe() const;
};

struct ProcessOutcome {
  ExitStatus status;
  Clock::time_point started{};
  Clock::time_point ended{};
  /// CPU time of the command and every descendant reaped by the time it exited.
  Seconds user_cpu{0};
  Seconds system_cpu{0};
  /// The largest resident set of any single process of the tree (getrusage's ru_maxrss).
  std::int64_t max_rss_kib = 0;
  /// Processes of the command's group still running when it exited: their later work is not
  /// part of the measurement.
  bool left_processes_running = false;
  /// Killed by joulebench because it outlived its timeout.
  bool timed_out = false;

  Seconds wall() const { return ended - started; }
  Seconds cpu() const { return user_cpu + system_cpu; }
};

/// A started command. Waiting reaps it; joulebench is made a child subreaper, so descendants
/// orphaned by the command are reaped too and their CPU time counted.
class ChildProcess {
 public:
  /// Throws LaunchError if the command cannot be started.
  static ChildProcess start(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  /// Sends a signal to the command's whole process group.
  void signal_group(int signal) const;
  /// Blocks until the command exits. With a timeout, the whole process group is killed
  /// (SIGKILL) when the command outlives it, and the outcome says so.
  ProcessOutcome wait(std::optional<Seconds> timeout = std::nullopt);

 private:
  ChildProcess(pid_t pid, Clock::time_point started, int terminal_fd);

  pid_t pid_ = -1;
  Clock::time_point started_{};
  int terminal_fd_ = -1;  ///< the terminal handed to the child, to take back after it exits
  bool waited_ = false;
  /// Children joulebench already had when this one started: leftovers of earlier commands, reaped
  /// here without being charged to this command.
  std::vector<pid_t> earlier_children_;
};

/// While alive, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to joulebench are passed on to the
/// child's process group instead of killing joulebench, so the measurement is still reported.
class ForwardSignals {
 public:
  explicit ForwardSignals(const ChildProcess& child);
  ~ForwardSignals();
  ForwardSignals(const ForwardSignals&) = delete;
  ForwardSignals& operator=(const ForwardSignals&) = delete;
};

}  // namespace joulebench

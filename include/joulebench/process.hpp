// Workloads are processes: each runs as a child in its own process group, so a crash cannot take
// joulebench down and the whole tree can be signalled. Commands are argument vectors, never
// shell strings.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "joulebench/units.hpp"

namespace joulebench {

namespace detail {
class WorkloadCgroup;
}

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
/// Where joulebench's helper files (workloads, Python helpers) are: beside the running executable,
/// or ../libexec/joulebench from it (an installed joulebench); nothing when neither has `file`.
std::optional<std::filesystem::path> find_helper(const std::string& file);

/// Replaces this process with `argv` (argv[0] a path), as a wrapper that must be the measured
/// process does; returns only when it cannot, with why.
std::string replace_process(const std::vector<std::string>& argv);

/// A command whose program is the bare word `joulebench` runs this very joulebench (from
/// /proc/self/exe), wherever it is installed or built: a plan's or a profile's `joulebench
/// workload ...` then uses the workloads of the same version as the runner.
std::vector<std::string> resolve_joulebench(std::vector<std::string> argv);

/// A user a command runs as: under sudo, joulebench runs workloads as the user who called it.
struct UserIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  ///< supplementary groups, as login gives them
  std::string name;
  std::filesystem::path home;

  /// The user with this uid (from the user database); throws std::runtime_error if none.
  static UserIdentity of(uid_t uid, gid_t gid);
  /// The user who called `sudo joulebench`, from SUDO_UID and SUDO_GID, when joulebench runs as
  /// root; nothing otherwise (not root, not sudo, or sudo from root).
  static std::optional<UserIdentity> from_sudo();
};

/// Who commands run as, and who owns what joulebench writes. The front end sets it once: the user
/// from sudo, unless --as-root. Nothing (the default): commands run as joulebench does.
void set_invoking_user(std::optional<UserIdentity> user);
const std::optional<UserIdentity>& invoking_user();
/// Hands a file or folder joulebench has just created to the invoking user (nothing when there is
/// none), never following a link: the store, logs and reports belong to the user who asked.
void hand_to_invoking_user(const std::filesystem::path& path);
void hand_to_invoking_user(int fd);
/// Creates a folder and its missing parents, handing each one it creates to the invoking user.
void create_folders(const std::filesystem::path& folder);
/// Opens a file joulebench writes, for writing from its start: created (and handed to the invoking
/// user) when absent; an existing one is truncated only if it is a regular file with no other
/// hard link, and never through a symbolic link: a folder the user owns may hold anything.
/// Returns the descriptor (close-on-exec); throws std::runtime_error naming the file.
int create_file_for_invoking_user(const std::filesystem::path& path);

/// Creates an empty file for the invoking user where there is none (a new store, before SQLite
/// opens it, so that SQLite gives its journals the same owner); an existing file is left as it is.
/// Throws std::runtime_error naming the file.
void create_empty_file_for_invoking_user(const std::filesystem::path& path);

/// Writes a file whole, opened as create_file_for_invoking_user opens it: the one way joulebench
/// writes a file. Throws std::runtime_error naming the file.
void write_file_for_invoking_user(const std::filesystem::path& path, std::string_view text);

/// A private folder under $TMPDIR (else /tmp), named joulebench-PURPOSE-XXXXXX and handed to the
/// invoking user, removed with everything in it when it goes out of scope.
class TemporaryFolder {
 public:
  /// Throws std::runtime_error when it cannot be created.
  explicit TemporaryFolder(std::string_view purpose);
  ~TemporaryFolder();
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A cgroup hierarchy mounted here: cgroup v2's, or a cgroup v1 one with its controllers.
struct CgroupHierarchy {
  std::filesystem::path mount;
  bool v2 = false;
  std::vector<std::string> controllers;  ///< v1: "cpu", "cpuacct", "memory"... (none for a named one)
};
/// Every cgroup hierarchy this process sees at its root (from /proc/self/mountinfo).
std::vector<CgroupHierarchy> cgroup_hierarchies();
/// The CPU time the processes of a cgroup used, its departed members and child cgroups included.
struct CgroupCpuTime {
  Seconds user{0};
  Seconds system{0};
};
/// From cgroup v2's cpu.stat, or a v1 cpuacct cgroup's usage_user and usage_sys; nothing when the
/// folder has neither.
std::optional<CgroupCpuTime> read_cgroup_cpu(const std::filesystem::path& cgroup);
/// Removes a cgroup and the cgroups below it, deepest first, waiting up to `patience` for their
/// last processes to go. rmdir only: a cgroup with processes, or an ordinary folder with files,
/// stays. True when it is gone (or was never there).
bool remove_cgroup_tree(const std::filesystem::path& cgroup, Seconds patience = Seconds(2));

/// The most descriptors SpawnOptions::inherited_fds may pass on.
inline constexpr std::size_t kMostInheritedFds = 8;

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
  /// Run the command in a cgroup of its own where one can be made; false: follow its processes as
  /// joulebench's descendants, as where no cgroup can be made.
  bool own_cgroup = true;
  /// Descriptors the child inherits: {descriptor here, its number in the child}. Numbers from 3
  /// to 9 suit shell scripts, whose redirections (`>&3`) take a single digit in dash. All other
  /// descriptors are close-on-exec. At most kMostInheritedFds.
  std::vector<std::pair<int, int>> inherited_fds;
  /// The child is part of the command the caller itself is, not a command of its own: what a
  /// wrapper that joulebench runs as a command (`joulebench python-sampler`) starts to run what it
  /// wraps. It stays in the caller's process group, so signals from the terminal or to the group
  /// reach it as they reach the caller (`foreground` is not looked at), and in the caller's cgroup
  /// (`own_cgroup` is not looked at); it runs as the caller, with the caller's JOULEBENCH_OWNER
  /// label (no owner record is made); the caller does not become a subreaper. signal_group() and
  /// the kill on destruction then reach the child alone, and wait() waits for the child alone and
  /// leaves what it left running to whoever ends the caller's command.
  bool within_caller = false;
  /// The child's signal mask; the caller's at start() when not set. For a caller that blocks
  /// signals around start() until it knows the child's pid.
  std::optional<sigset_t> signal_mask;
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
  /// Processes of the command still running when it exited ("NAME (pid N)"), found through its
  /// cgroup, else as joulebench's descendants: killed by joulebench then, so their later work is
  /// not part of the measurement and never runs into the next one.
  std::vector<std::string> leftovers;
  /// The command ran in a cgroup of its own (process containment, and CPU time of every process
  /// it started, escaped ones included); else its processes were followed as descendants.
  bool in_cgroup = false;
  /// Killed by joulebench because it outlived its timeout.
  bool timed_out = false;

  Seconds wall() const { return ended - started; }
  Seconds cpu() const { return user_cpu + system_cpu; }
};

/// A started command. It runs in a cgroup of its own where one can be made, as the invoking user
/// where there is one, and dies with joulebench (PR_SET_PDEATHSIG) if joulebench is killed; it
/// carries joulebench's label (JOULEBENCH_OWNER), so a later joulebench can end what it left
/// (machine.hpp). Waiting reaps it; joulebench is a child subreaper, so descendants orphaned by the
/// command are reaped too and their CPU time counted. Start commands from the main thread: the
/// kernel sends the death signal when the thread that started the command ends.
class ChildProcess {
 public:
  /// Throws LaunchError if the command cannot be started. The command's time starts when it is
  /// ready to exec: joining its cgroup (10-15 ms on cgroup v1 machines) and changing user are
  /// joulebench's cost, not the command's. `at_start`, when given, runs in this process at that
  /// moment, before the command may exec (a meter starts its window there).
  static ChildProcess start(const SpawnOptions& options, const std::function<void()>& at_start = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  /// Sends a signal to the command's whole process group (to the child alone within_caller).
  void signal_group(int signal) const;
  /// Blocks until the command exits, then calls `at_exit` (to stop a meter at the exact end), then
  /// kills whatever the command left running and names it in the outcome. With a timeout, the
  /// whole process group is killed (SIGKILL) when the command outlives it, and the outcome says so.
  ProcessOutcome wait(std::optional<Seconds> timeout = std::nullopt, const std::function<void()>& at_exit = {});

 private:
  ChildProcess(pid_t pid, Clock::time_point started, int terminal_fd);

  pid_t pid_ = -1;
  Clock::time_point started_{};
  int terminal_fd_ = -1;        ///< the terminal handed to the child, to take back after it exits
  bool within_caller_ = false;  ///< SpawnOptions::within_caller
  bool waited_ = false;
  /// Children joulebench already had when this one started: leftovers of earlier commands, reaped
  /// here without being charged to this command.
  std::vector<pid_t> earlier_children_;
  std::shared_ptr<detail::WorkloadCgroup> cgroup_;
};

/// While alive, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to joulebench are passed on to the
/// child's process group instead of killing joulebench, so the measurement is still reported.
/// Made before the child starts, so that a signal that arrives while it starts is not lost: it is
/// held and passed on by to(). If no child is ever given, the held signal is raised again when
/// this object ends, with the handlers restored (joulebench ends as it would have).
class ForwardSignals {
 public:
  ForwardSignals();
  ~ForwardSignals();
  /// From now on signals go to `child`'s process group, starting with any that arrived before.
  void to(const ChildProcess& child);
  ForwardSignals(const ForwardSignals&) = delete;
  ForwardSignals& operator=(const ForwardSignals&) = delete;
};

}  // namespace joulebench

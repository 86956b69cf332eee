#include "joulebench/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "process/cgroup.hpp"
#include "process/owner_record.hpp"

extern char** environ;

namespace joulebench {

namespace fs = std::filesystem;

namespace {

Seconds to_seconds(const timeval& tv) {
  return Seconds(static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6);
}

/// 127 for "no such file", 126 for "there, but it cannot be executed", as a shell reports them.
LaunchError launch_error(const std::string& name, int error) {
  const int status = (error == ENOENT || error == ENOTDIR) ? 127 : 126;
  std::string why = std::strerror(error);
  if (error == ENOEXEC) why = "not an executable format (a script needs a '#!' line)";
  return LaunchError(status, fmt::format("cannot run '{}': {}", name, why));
}

/// Why `path` cannot be executed, or 0 if it can.
int not_executable(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (::access(path.c_str(), X_OK) != 0) return errno;
  return 0;
}

/// The children of a process, from /proc/PID/task/TID/children.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child = 0; in >> child;) children.push_back(child);
  }
  return children;
}

/// joulebench's current children, zombies included: before a command starts, these are processes
/// left running by earlier commands (and the guard, machine.hpp), never charged to it. Empty where
/// the kernel lacks /proc/PID/task/TID/children.
std::vector<pid_t> current_children() { return children_of(::getpid()); }

std::optional<UserIdentity> invoking_user_setting;

/// How a child tells the parent what went wrong before exec: what it was doing, and errno.
enum class ChildStage : int { join_cgroup = 1, change_user = 2, exec = 3, ready = 4 };
struct ChildMessage {
  ChildStage stage;
  int error;
};

std::atomic<unsigned> cgroup_sequence{0};

std::atomic<pid_t> forward_group{0};
// Signals that arrived before the child's group was known, one bit each. Whoever takes them out
// of here with exchange() passes them on, so each goes on exactly once however the handler and
// to() interleave.
std::atomic<std::uint64_t> held_signals{0};
static_assert(SIGQUIT < 64 && SIGTERM < 64 && SIGHUP < 64 && SIGINT < 64);

/// Sends (or, without a group, raises) every signal in `held`.
void pass_on(std::uint64_t held, pid_t group) {
  for (int signal = 1; signal < 64; ++signal) {
    if ((held & (std::uint64_t{1} << signal)) == 0) continue;
    if (group > 0) {
      ::kill(-group, signal);
    } else {
      ::raise(signal);
    }
  }
}

void forward_signal(int signal) {
  const int saved_errno = errno;  // kill() may set it: the interrupted code must not see that
  if (const pid_t group = forward_group.load(); group > 0) {
    ::kill(-group, signal);
  } else {
    held_signals.fetch_or(std::uint64_t{1} << signal);
    if (const pid_t now = forward_group.load(); now > 0) pass_on(held_signals.exchange(0), now);
  }
  errno = saved_errno;
}

constexpr std::array kForwardedSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
std::array<struct sigaction, kForwardedSignals.size()> saved_actions{};

}  // namespace

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus out;
  if (WIFSIGNALED(status)) {
    out.signaled = true;
    out.signal = WTERMSIG(status);
    out.core_dumped = WCOREDUMP(status);
  } else {
    out.code = WEXITSTATUS(status);
  }
  return out;
}

std::string ExitStatus::describe() const {
  if (!signaled) return fmt::format("exit code {}", code);
  const char* abbreviation = ::sigabbrev_np(signal);
  return fmt::format("killed by signal {} (SIG{}: {}){}", signal, abbreviation ? abbreviation : "?",
                     ::strsignal(signal), core_dumped ? ", core dumped" : "");
}

UserIdentity UserIdentity::of(uid_t uid, gid_t gid) {
  UserIdentity user;
  user.uid = uid;
  user.gid = gid;
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    throw std::runtime_error(
        fmt::format("user {} is not in the user database: cannot run commands as that user (they can run as root "
                    "instead)",
                    uid));
  }
  user.name = entry.pw_name;
  user.home = entry.pw_dir;
  int count = 64;
  user.groups.resize(static_cast<std::size_t>(count));
  while (::getgrouplist(entry.pw_name, gid, user.groups.data(), &count) < 0) {
    user.groups.resize(static_cast<std::size_t>(count) + 64);
    count = static_cast<int>(user.groups.size());
  }
  user.groups.resize(static_cast<std::size_t>(count));
  return user;
}

std::optional<UserIdentity> UserIdentity::from_sudo() {
  if (::geteuid() != 0) return std::nullopt;
  const char* uid_text = std::getenv("SUDO_UID");
  const char* gid_text = std::getenv("SUDO_GID");
  if (uid_text == nullptr || gid_text == nullptr) return std::nullopt;
  char* end = nullptr;
  const unsigned long uid = std::strtoul(uid_text, &end, 10);
  if (*uid_text == '\0' || *end != '\0')
    throw std::runtime_error(fmt::format("SUDO_UID is not a user id: '{}'", uid_text));
  const unsigned long gid = std::strtoul(gid_text, &end, 10);
  if (*gid_text == '\0' || *end != '\0')
    throw std::runtime_error(fmt::format("SUDO_GID is not a group id: '{}'", gid_text));
  if (uid == 0) return std::nullopt;
  return of(static_cast<uid_t>(uid), static_cast<gid_t>(gid));
}

void set_invoking_user(std::optional<UserIdentity> user) { invoking_user_setting = std::move(user); }
const std::optional<UserIdentity>& invoking_user() { return invoking_user_setting; }

void hand_to_invoking_user(const fs::path& path) {
  if (!invoking_user_setting) return;
  // Best effort: a file system without owners (vfat) keeps root's; the content is still written.
  [[maybe_unused]] const int result = ::lchown(path.c_str(), invoking_user_setting->uid, invoking_user_setting->gid);
}

void hand_to_invoking_user(int fd) {
  if (!invoking_user_setting || fd < 0) return;
  [[maybe_unused]] const int result = ::fchown(fd, invoking_user_setting->uid, invoking_user_setting->gid);
}

int create_file_for_invoking_user(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  const bool created = fd >= 0;
  // O_NONBLOCK: a FIFO put there must not hang joulebench; it is refused below.
  if (!created && errno == EEXIST) fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    throw std::runtime_error(fmt::format(
        "cannot write {}: {}", path.string(),
        error == ELOOP ? "it is a symbolic link, and joulebench writes nothing through links" : std::strerror(error)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
    ::close(fd);
    throw std::runtime_error(
        fmt::format("cannot write {}: it is not a regular file of its own (a special file, or one "
                    "with other hard links): remove it",
                    path.string()));
  }
  if (created) {
    hand_to_invoking_user(fd);
  } else if (::ftruncate(fd, 0) != 0 || ::fcntl(fd, F_SETFL, 0) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(error)));
  }
  return fd;
}

void create_empty_file_for_invoking_user(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) {
    hand_to_invoking_user(fd);
    ::close(fd);
  } else if (errno != EEXIST) {
    throw std::runtime_error(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
}

void write_file_for_invoking_user(const fs::path& path, std::string_view text) {
  const int fd = create_file_for_invoking_user(path);
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(error)));
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::close(fd) != 0)
    throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
}

TemporaryFolder::TemporaryFolder(std::string_view purpose) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      (fs::path(base != nullptr && *base != '\0' ? base : "/tmp") / fmt::format("joulebench-{}-XXXXXX", purpose))
          .string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(fmt::format("cannot create a temporary folder {}: {}", pattern, std::strerror(errno)));
  }
  path_ = pattern;
  // A command that runs as the invoking user (sudo) may write its files here.
  hand_to_invoking_user(path_);
}

TemporaryFolder::~TemporaryFolder() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void create_folders(const fs::path& folder) {
  if (folder.empty()) return;
  std::error_code ec;
  if (fs::is_directory(folder, ec)) return;
  if (folder.has_parent_path() && folder.parent_path() != folder) create_folders(folder.parent_path());
  if (fs::create_directory(folder, ec)) {
    hand_to_invoking_user(folder);
  } else if (ec) {
    throw fs::filesystem_error("cannot create folder", folder, ec);
  }
}

fs::path find_executable(const std::string& name) {
  if (name.empty()) throw LaunchError(127, "cannot run an empty command");
  if (name.find('/') != std::string::npos) {
    if (const int error = not_executable(name); error != 0) throw launch_error(name, error);
    return name;
  }
  const char* path_variable = std::getenv("PATH");
  const std::string search = path_variable && *path_variable ? path_variable : "/usr/local/bin:/usr/bin:/bin";
  int first_error = 0;
  std::size_t begin = 0;
  while (begin <= search.size()) {
    const std::size_t end = std::min(search.find(':', begin), search.size());
    const std::string dir = end > begin ? search.substr(begin, end - begin) : ".";
    const fs::path candidate = fs::path(dir) / name;
    const int error = not_executable(candidate);
    if (error == 0) return candidate;
    // Like a shell, skip what cannot be the command (missing, a directory) and remember the
    // first candidate that exists but may not be executed.
    if (error != ENOENT && error != ENOTDIR && error != EISDIR && first_error == 0) first_error = error;
    begin = end + 1;
  }
  if (first_error != 0) throw launch_error(name, first_error);
  throw LaunchError(127, fmt::format("cannot run '{}': command not found in PATH", name));
}

ChildProcess::ChildProcess(pid_t pid, Clock::time_point started, int terminal_fd)
    : pid_(pid), started_(started), terminal_fd_(terminal_fd) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      started_(other.started_),
      terminal_fd_(std::exchange(other.terminal_fd_, -1)),
      within_caller_(other.within_caller_),
      waited_(std::exchange(other.waited_, true)),
      earlier_children_(std::move(other.earlier_children_)),
      cgroup_(std::move(other.cgroup_)) {}

ChildProcess::~ChildProcess() {
  // A child never waited for (an exception in between) must not outlive joulebench unnoticed.
  if (pid_ > 0 && !waited_) {
    ::kill(within_caller_ ? pid_ : -pid_, SIGKILL);
    if (cgroup_) cgroup_->kill_all(Seconds(2));
    ::waitpid(pid_, nullptr, 0);
  }
  if (cgroup_) cgroup_->remove();
}

ChildProcess ChildProcess::start(const SpawnOptions& options, const std::function<void()>& at_start) {
  if (options.argv.empty()) throw LaunchError(127, "no command given");
  if (options.inherited_fds.size() > kMostInheritedFds) {
    throw std::invalid_argument(fmt::format("at most {} descriptors can be passed on", kMostInheritedFds));
  }
  const fs::path executable = find_executable(options.argv.front());
  if (options.working_directory) {
    std::error_code ec;
    if (!fs::is_directory(*options.working_directory, ec)) {
      throw LaunchError(126, fmt::format("cannot run '{}': working directory {} does not exist", options.argv.front(),
                                         options.working_directory->string()));
    }
  }

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::string exe = executable.string();
  const std::string cwd = options.working_directory ? options.working_directory->string() : std::string();
  // On top of joulebench's environment, later entries winning: the invoking user's names, the
  // caller's variables (a plan's `env`), then the label a later joulebench ends this command's
  // processes by (should this one be killed).
  // A child within the caller's command runs as the caller, labelled as the caller is.
  const bool within_caller = options.within_caller;
  if (!within_caller) detail::ensure_owner_record();
  const std::optional<UserIdentity> caller_itself;
  const std::optional<UserIdentity>& user = within_caller ? caller_itself : invoking_user_setting;
  std::vector<std::pair<std::string, std::string>> added;
  if (user) {
    added.emplace_back("HOME", user->home.string());
    added.emplace_back("USER", user->name);
    added.emplace_back("LOGNAME", user->name);
  }
  added.insert(added.end(), options.environment.begin(), options.environment.end());
  // Last: no plan can take the label off its command.
  if (!within_caller) added.emplace_back(detail::kOwnerVariable, detail::own_identity());
  const auto set_later = [&](std::string_view name, std::size_t after) {
    return std::any_of(added.begin() + static_cast<std::ptrdiff_t>(after), added.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> environment_entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!set_later(text.substr(0, text.find('=')), 0)) environment_entries.emplace_back(text);
  }
  for (std::size_t i = 0; i < added.size(); ++i) {
    if (!set_later(added[i].first, i + 1)) environment_entries.push_back(added[i].first + "=" + added[i].second);
  }
  std::vector<char*> envp;
  envp.reserve(environment_entries.size() + 1);
  for (auto& entry : environment_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int terminal = -1;
  if (!within_caller && options.foreground && ::isatty(STDIN_FILENO) && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp())
    terminal = STDIN_FILENO;

  // Orphaned descendants are re-parented to joulebench, so their CPU time is counted.
  if (!within_caller) ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // SIGCHLD ignored (a disposition some parents leave across exec) makes the kernel reap children
  // itself: wait4 would never see the command's status or rusage. joulebench has no handler of
  // its own, so the default is restored.
  struct sigaction child_action {};
  ::sigaction(SIGCHLD, nullptr, &child_action);
  const bool ignored = (child_action.sa_flags & SA_SIGINFO) == 0 && child_action.sa_handler == SIG_IGN;
  if (ignored || (child_action.sa_flags & SA_NOCLDWAIT) != 0) {
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigemptyset(&default_action.sa_mask);
    ::sigaction(SIGCHLD, &default_action, nullptr);
  }

  // A cgroup of its own keeps every process of the command findable, whatever it does to its
  // session; without one (no cgroup2, no permission) its processes are followed as descendants.
  std::string no_cgroup;
  std::shared_ptr<detail::WorkloadCgroup> cgroup;
  if (!options.own_cgroup || within_caller) {
    no_cgroup = "not asked for";
  } else if (auto made = detail::WorkloadCgroup::create(
                 fmt::format("joulebench.{}.{}", detail::own_identity(), cgroup_sequence.fetch_add(1)), no_cgroup)) {
    cgroup = std::make_shared<detail::WorkloadCgroup>(std::move(*made));
    detail::record_workload_cgroup(cgroup->path());
  }
  const int cgroup_procs = cgroup ? cgroup->procs_fd() : -1;
  const pid_t parent = ::getpid();

  std::vector<pid_t> earlier_children = current_children();
  std::array<int, 2> error_pipe{};
  if (::pipe2(error_pipe.data(), O_CLOEXEC) != 0) throw LaunchError(126, fmt::format("pipe: {}", std::strerror(errno)));
  // The child says when it is ready to exec, then waits for a byte here: its time starts then.
  std::array<int, 2> go_pipe{};
  if (::pipe2(go_pipe.data(), O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(error_pipe[0]);
    ::close(error_pipe[1]);
    throw LaunchError(126, fmt::format("pipe: {}", std::strerror(error)));
  }

  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const sigset_t* child_mask = options.signal_mask ? &*options.signal_mask : &previous;
  auto started = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(go_pipe[1]);
    if (!within_caller) ::setpgid(0, 0);
    if (terminal >= 0) ::tcsetpgrp(terminal, ::getpid());  // SIGTTOU is blocked here
    for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTTOU, SIGTTIN, SIGTSTP, SIGCHLD}) {
      ::signal(signal, SIG_DFL);
    }
    const auto tell = [&](ChildStage stage, int error) {
      const ChildMessage message{stage, error};
      [[maybe_unused]] auto written = ::write(error_pipe[1], &message, sizeof message);
    };
    // Joined first, while still root: a command never runs a moment outside its cgroup. A refusal
    // is not fatal; the parent follows the command as descendants instead.
    if (cgroup_procs >= 0 && ::write(cgroup_procs, "0", 1) != 1) tell(ChildStage::join_cgroup, errno);
    int error = 0;
    if (options.stdout_fd >= 0 && ::dup2(options.stdout_fd, STDOUT_FILENO) < 0) error = errno;
    if (options.stderr_fd >= 0 && ::dup2(options.stderr_fd, STDERR_FILENO) < 0) error = errno;
    // First every descriptor out of the way (to 64 and up), then each onto its number: a
    // descriptor whose number is another's target is not overwritten before it is passed on.
    std::array<int, kMostInheritedFds> moved{};
    std::size_t n_moved = 0;
    for (const auto& [here, there] : options.inherited_fds) {
      if (n_moved == moved.size()) break;
      moved[n_moved] = ::fcntl(here, F_DUPFD_CLOEXEC, 64);
      if (moved[n_moved++] < 0) error = errno;
    }
    for (std::size_t i = 0; i < n_moved && error == 0; ++i) {
      if (::dup2(moved[i], options.inherited_fds[i].second) < 0) error = errno;
    }
    ChildStage stage = ChildStage::exec;
    if (error == 0 && user) {
      stage = ChildStage::change_user;
      if (::setgroups(user->groups.size(), user->groups.data()) != 0 || ::setgid(user->gid) != 0 ||
          ::setuid(user->uid) != 0) {
        error = errno;
      }
    }
    // After any change of user, which clears it: the command dies with joulebench. If joulebench
    // died before this, nobody would ever wait for the command.
    if (error == 0) {
      stage = ChildStage::exec;
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) error = errno;
      else if (::getppid() != parent) ::_exit(127);
    }
    if (error == 0 && !cwd.empty() && ::chdir(cwd.c_str()) != 0) error = errno;
    if (error == 0) {
      tell(ChildStage::ready, 0);
      char go = 0;
      while (::read(go_pipe[0], &go, 1) < 0 && errno == EINTR) {}
      if (go != 1) ::_exit(127);  // joulebench gave up on it
      ::pthread_sigmask(SIG_SETMASK, child_mask, nullptr);
      ::execve(exe.c_str(), argv.data(), envp.data());
      error = errno;
    }
    tell(stage, error);
    ::_exit(127);
  }
  const int fork_error = errno;
  if (pid > 0 && !within_caller) {
    // Also set here: whichever of parent and child runs first, the group exists before exec.
    ::setpgid(pid, pid);
    if (terminal >= 0) ::tcsetpgrp(terminal, pid);
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(error_pipe[1]);
  ::close(go_pipe[0]);
  if (pid < 0) {
    ::close(error_pipe[0]);
    ::close(go_pipe[1]);
    throw LaunchError(126, fmt::format("cannot run '{}': fork: {}", options.argv.front(), std::strerror(fork_error)));
  }

  std::optional<ChildMessage> failure;
  bool joined = cgroup != nullptr;
  for (;;) {
    ChildMessage message{};
    const ssize_t n = ::read(error_pipe[0], &message, sizeof message);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof message)) break;  // end of file: the command runs
    if (message.stage == ChildStage::ready) {
      try {
        if (at_start) at_start();
      } catch (...) {
        ::close(go_pipe[1]);  // no byte: the child ends without running the command
        ::close(error_pipe[0]);
        ::waitpid(pid, nullptr, 0);
        if (cgroup) cgroup->remove();
        throw;
      }
      started = Clock::now();
      const char go = 1;
      while (::write(go_pipe[1], &go, 1) < 0 && errno == EINTR) {}
      ::close(go_pipe[1]);
      go_pipe[1] = -1;
    } else if (message.stage == ChildStage::join_cgroup) {
      joined = false;
    } else {
      failure = message;
    }
  }
  ::close(error_pipe[0]);
  if (go_pipe[1] >= 0) ::close(go_pipe[1]);
  ChildProcess child(pid, started, terminal);
  child.within_caller_ = within_caller;
  child.earlier_children_ = std::move(earlier_children);
  if (joined) child.cgroup_ = std::move(cgroup);
  else if (cgroup) cgroup->remove();
  if (failure) {
    child.wait();
    if (failure->stage == ChildStage::change_user) {
      throw LaunchError(126, fmt::format("cannot run '{}' as user {} (uid {}): {}", options.argv.front(), user->name,
                                         user->uid, std::strerror(failure->error)));
    }
    throw launch_error(options.argv.front(), failure->error);
  }
  return child;
}

void ChildProcess::signal_group(int signal) const {
  if (pid_ > 0 && !waited_) ::kill(within_caller_ ? pid_ : -pid_, signal);
}

ProcessOutcome ChildProcess::wait(std::optional<Seconds> timeout, const std::function<void()>& at_exit) {
  // The watchdog kills the whole group at the deadline; wait4 below then returns.
  std::mutex watchdog_mutex;
  std::condition_variable watchdog_wake;
  bool exited = false;
  std::atomic<bool> fired{false};
  std::thread watchdog;
  if (timeout) {
    watchdog = std::thread([&, group = within_caller_ ? pid_ : -pid_] {
      std::unique_lock lock(watchdog_mutex);
      if (!watchdog_wake.wait_for(lock, *timeout, [&] { return exited; })) {
        fired = true;
        ::kill(group, SIGKILL);
      }
    });
  }
  auto stop_watchdog = [&] {
    if (!watchdog.joinable()) return;
    {
      std::lock_guard lock(watchdog_mutex);
      exited = true;
    }
    watchdog_wake.notify_all();
    watchdog.join();
  };

  ProcessOutcome outcome;
  outcome.started = started_;
  auto add_orphan = [&](pid_t reaped, const rusage& ru) {
    if (std::find(earlier_children_.begin(), earlier_children_.end(), reaped) != earlier_children_.end()) return;
    outcome.user_cpu += to_seconds(ru.ru_utime);
    outcome.system_cpu += to_seconds(ru.ru_stime);
    outcome.max_rss_kib = std::max<std::int64_t>(outcome.max_rss_kib, ru.ru_maxrss);
  };
  for (;;) {
    int status = 0;
    rusage ru{};
    // Within the caller's command, the caller's other children are not this one's to reap.
    const pid_t reaped = ::wait4(within_caller_ ? pid_ : -1, &status, 0, &ru);
    if (reaped < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left to wait for
    }
    // The command's own rusage already includes every descendant it waited for.
    add_orphan(reaped, ru);
    if (reaped != pid_) continue;
    outcome.ended = Clock::now();
    outcome.status = ExitStatus::from_wait_status(status);
    break;
  }
  waited_ = true;
  stop_watchdog();
  outcome.timed_out = fired && outcome.status.signaled && outcome.status.signal == SIGKILL;
  if (at_exit) at_exit();
  // Within the caller's command (no cgroup, no terminal of its own), what it left running is the
  // caller's command's, ended with it.
  if (within_caller_) return outcome;

  // What the command left running is named, then killed: its later work is no part of this
  // measurement and must not run into the next one.
  std::vector<pid_t> leftovers;
  if (cgroup_) {
    outcome.in_cgroup = true;
    leftovers = cgroup_->processes();
  } else {
    // Orphans are re-parented to joulebench (a subreaper): its new children and their descendants.
    std::vector<pid_t> frontier;
    for (const pid_t child : current_children()) {
      if (std::find(earlier_children_.begin(), earlier_children_.end(), child) == earlier_children_.end()) {
        frontier.push_back(child);
      }
    }
    while (!frontier.empty()) {
      const pid_t next = frontier.back();
      frontier.pop_back();
      if (std::find(leftovers.begin(), leftovers.end(), next) != leftovers.end()) continue;
      leftovers.push_back(next);
      for (const pid_t grandchild : children_of(next)) frontier.push_back(grandchild);
    }
  }
  // Finished ones (zombies waiting to be reaped) left nothing running.
  std::erase_if(leftovers, [](pid_t pid) { return !detail::process_running(pid); });
  for (const pid_t pid : leftovers) outcome.leftovers.push_back(detail::describe_process(pid));
  ::kill(-pid_, SIGKILL);
  if (cgroup_) {
    cgroup_->kill_all(Seconds(2));
  } else {
    for (const pid_t pid : leftovers) ::kill(pid, SIGKILL);
  }
  // Reap them (and orphans that already finished), their CPU time counted; killed leftovers'
  // children come to joulebench as they die, so this waits a little for those too.
  const auto reap_until = Clock::now() + std::chrono::milliseconds(leftovers.empty() ? 0 : 2000);
  for (;;) {
    rusage ru{};
    int status = 0;
    const pid_t reaped = ::wait4(-1, &status, WNOHANG, &ru);
    if (reaped > 0) {
      add_orphan(reaped, ru);
      continue;
    }
    const bool all_gone = std::all_of(leftovers.begin(), leftovers.end(),
                                      [](pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; });
    if (reaped < 0 || all_gone || Clock::now() >= reap_until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (cgroup_) {
    // The cgroup counted every process the command started, escaped ones included.
    // Both parts from the source with the larger total: the two split user and system time
    // differently, and a mix of the two could exceed either.
    if (const auto cpu = cgroup_->cpu(); cpu && cpu->user + cpu->system > outcome.cpu()) {
      outcome.user_cpu = cpu->user;
      outcome.system_cpu = cpu->system;
    }
    cgroup_->remove();
    cgroup_.reset();
  }

  if (terminal_fd_ >= 0) {
    sigset_t block;
    sigset_t previous;
    ::sigemptyset(&block);
    ::sigaddset(&block, SIGTTOU);
    ::pthread_sigmask(SIG_BLOCK, &block, &previous);
    ::tcsetpgrp(terminal_fd_, ::getpgrp());
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    terminal_fd_ = -1;
  }
  return outcome;
}

ForwardSignals::ForwardSignals() {
  forward_group.store(0);
  held_signals.store(0);
  struct sigaction action {};
  action.sa_handler = forward_signal;
  ::sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (std::size_t i = 0; i < kForwardedSignals.size(); ++i)
    ::sigaction(kForwardedSignals[i], &action, &saved_actions[i]);
}

void ForwardSignals::to(const ChildProcess& child) {
  forward_group.store(child.pid());
  pass_on(held_signals.exchange(0), child.pid());
}

ForwardSignals::~ForwardSignals() {
  for (std::size_t i = 0; i < kForwardedSignals.size(); ++i)
    ::sigaction(kForwardedSignals[i], &saved_actions[i], nullptr);
  forward_group.store(0);
  pass_on(held_signals.exchange(0), 0);  // the handlers are joulebench's own again
}

std::optional<fs::path> find_helper(const std::string& file) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  for (const fs::path& dir : {self.parent_path(), self.parent_path().parent_path() / "libexec" / "joulebench"}) {
    const fs::path candidate = dir / file;
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string replace_process(const std::vector<std::string>& argv) {
  if (argv.empty()) return "no command given";
  std::vector<std::string> copy = argv;
  std::vector<char*> pointers;
  for (auto& arg : copy) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  ::execv(copy[0].c_str(), pointers.data());
  return fmt::format("cannot run {}: {}", argv[0], std::strerror(errno));
}

std::vector<std::string> resolve_joulebench(std::vector<std::string> argv) {
  if (!argv.empty() && argv.front() == "joulebench") {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) argv.front() = self.string();
  }
  return argv;
}

}  // namespace joulebench

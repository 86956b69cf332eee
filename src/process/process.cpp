#include "joulebench/process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include <fmt/format.h>

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
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (::access(path.c_str(), X_OK) != 0) return errno;
  return 0;
}

/// joulebench's current children, zombies included: before a command starts, these are processes
/// left running by earlier commands, whose CPU time must not be charged to it. Empty where the
/// kernel lacks /proc/PID/task/TID/children.
std::vector<pid_t> current_children() {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t pid = 0; in >> pid;) children.push_back(pid);
  }
  return children;
}

std::atomic<pid_t> forward_group{0};

void forward_signal(int signal) {
  const pid_t group = forward_group.load();
  if (group > 0) ::kill(-group, signal);
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
  return fmt::format("killed by signal {} (SIG{}: {}){}", signal, abbreviation ? abbreviation : "?", ::strsignal(signal),
                     core_dumped ? ", core dumped" : "");
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
      waited_(std::exchange(other.waited_, true)),
      earlier_children_(std::move(other.earlier_children_)) {}

ChildProcess::~ChildProcess() {
  // A child never waited for (an exception in between) must not outlive joulebench unnoticed.
  if (pid_ > 0 && !waited_) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

ChildProcess ChildProcess::start(const SpawnOptions& options) {
  if (options.argv.empty()) throw LaunchError(127, "no command given");
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
  std::vector<std::string> environment_entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto overridden = std::any_of(options.environment.begin(), options.environment.end(), [&](const auto& kv) {
      return text.size() > kv.first.size() && text.starts_with(kv.first) && text[kv.first.size()] == '=';
    });
    if (!overridden) environment_entries.emplace_back(text);
  }
  for (const auto& [name, value] : options.environment) environment_entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  envp.reserve(environment_entries.size() + 1);
  for (auto& entry : environment_entries) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int terminal = -1;
  if (options.foreground && ::isatty(STDIN_FILENO) && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp()) terminal = STDIN_FILENO;

  // Orphaned descendants are re-parented to joulebench, so their CPU time is counted.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // SIGCHLD ignored (a disposition some parents leave across exec) makes the kernel reap children
  // itself: wait4 would never see the command's status or rusage. joulebench has no handler of
  // its own, so the default is restored.
  struct sigaction child_action{};
  ::sigaction(SIGCHLD, nullptr, &child_action);
  const bool ignored = (child_action.sa_flags & SA_SIGINFO) == 0 && child_action.sa_handler == SIG_IGN;
  if (ignored || (child_action.sa_flags & SA_NOCLDWAIT) != 0) {
    struct sigaction default_action{};
    default_action.sa_handler = SIG_DFL;
    ::sigemptyset(&default_action.sa_mask);
    ::sigaction(SIGCHLD, &default_action, nullptr);
  }

  std::vector<pid_t> earlier_children = current_children();
  std::array<int, 2> error_pipe{};
  if (::pipe2(error_pipe.data(), O_CLOEXEC) != 0) throw LaunchError(126, fmt::format("pipe: {}", std::strerror(errno)));

  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const auto started = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (terminal >= 0) ::tcsetpgrp(terminal, ::getpid());  // SIGTTOU is blocked here
    for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTTOU, SIGTTIN, SIGTSTP, SIGCHLD}) {
      ::signal(signal, SIG_DFL);
    }
    int error = 0;
    if (options.stdout_fd >= 0 && ::dup2(options.stdout_fd, STDOUT_FILENO) < 0) error = errno;
    if (options.stderr_fd >= 0 && ::dup2(options.stderr_fd, STDERR_FILENO) < 0) error = errno;
    for (const auto& [here, there] : options.inherited_fds) {
      // dup2 onto itself would keep close-on-exec: clear the flag instead.
      if (here == there ? ::fcntl(here, F_SETFD, 0) != 0 : ::dup2(here, there) < 0) error = errno;
    }
    if (error == 0 && !cwd.empty() && ::chdir(cwd.c_str()) != 0) error = errno;
    if (error == 0) {
      ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      ::execve(exe.c_str(), argv.data(), envp.data());
      error = errno;
    }
    [[maybe_unused]] auto written = ::write(error_pipe[1], &error, sizeof error);
    ::_exit(127);
  }
  const int fork_error = errno;
  if (pid > 0) {
    // Also set here: whichever of parent and child runs first, the group exists before exec.
    ::setpgid(pid, pid);
    if (terminal >= 0) ::tcsetpgrp(terminal, pid);
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(error_pipe[1]);
  if (pid < 0) {
    ::close(error_pipe[0]);
    throw LaunchError(126, fmt::format("cannot run '{}': fork: {}", options.argv.front(), std::strerror(fork_error)));
  }

  int exec_error = 0;
  ssize_t n = 0;
  do {
    n = ::read(error_pipe[0], &exec_error, sizeof exec_error);
  } while (n < 0 && errno == EINTR);
  ::close(error_pipe[0]);
  ChildProcess child(pid, started, terminal);
  child.earlier_children_ = std::move(earlier_children);
  if (n == static_cast<ssize_t>(sizeof exec_error)) {
    child.wait();
    throw launch_error(options.argv.front(), exec_error);
  }
  return child;
}

void ChildProcess::signal_group(int signal) const {
  if (pid_ > 0 && !waited_) ::kill(-pid_, signal);
}

ProcessOutcome ChildProcess::wait(std::optional<Seconds> timeout) {
  // The watchdog kills the whole group at the deadline; wait4 below then returns.
  std::mutex watchdog_mutex;
  std::condition_variable watchdog_wake;
  bool exited = false;
  std::atomic<bool> fired{false};
  std::thread watchdog;
  if (timeout) {
    watchdog = std::thread([&, group = pid_] {
      std::unique_lock lock(watchdog_mutex);
      if (!watchdog_wake.wait_for(lock, *timeout, [&] { return exited; })) {
        fired = true;
        ::kill(-group, SIGKILL);
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
    const pid_t reaped = ::wait4(-1, &status, 0, &ru);
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
  // Orphans that already finished are reaped now; ones still running are reported.
  for (;;) {
    rusage ru{};
    int status = 0;
    const pid_t reaped = ::wait4(-1, &status, WNOHANG, &ru);
    if (reaped <= 0) break;
    add_orphan(reaped, ru);
  }
  outcome.left_processes_running = ::kill(-pid_, 0) == 0 || errno == EPERM;

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

ForwardSignals::ForwardSignals(const ChildProcess& child) {
  forward_group.store(child.pid());
  struct sigaction action{};
  action.sa_handler = forward_signal;
  ::sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (std::size_t i = 0; i < kForwardedSignals.size(); ++i) ::sigaction(kForwardedSignals[i], &action, &saved_actions[i]);
}

ForwardSignals::~ForwardSignals() {
  for (std::size_t i = 0; i < kForwardedSignals.size(); ++i) ::sigaction(kForwardedSignals[i], &saved_actions[i], nullptr);
  forward_group.store(0);
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

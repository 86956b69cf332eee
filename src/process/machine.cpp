// Machine-wide locks, the owner records of started commands, and the end of what a killed
// joulebench left running.
#include "joulebench/machine.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "joulebench/process.hpp"
#include "process/cgroup.hpp"
#include "process/owner_record.hpp"

namespace joulebench {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOwnerRecordPrefix = "joulebench-owner.";

std::string read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// joulebench's own command line, as a person would type it.
std::string own_command_line() {
  std::string text = read_small_file("/proc/self/cmdline");
  while (!text.empty() && text.back() == '\0') text.pop_back();
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  return text;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buffer;
}

/// Opens (creating) a lock file in the machine state folder, never through a link. Everyone may
/// write it, so a joulebench of any user can say who holds it.
int open_lock_file(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 0777) != 0666) ::fchmod(fd, 0666);
    return fd;
  }
  // A file another user made without write permission for us: flock needs only a descriptor.
  if (errno == EACCES) fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot open the lock file {}: {} (set JOULEBENCH_LOCK_DIR to a folder every "
                    "joulebench on this machine can write)",
                    file.string(), std::strerror(errno)));
  }
  return fd;
}

std::string holder_of(const fs::path& file) {
  std::string text = read_small_file(file);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text.empty() ? "a joulebench that has not said who it is yet" : text;
}

/// Only the holder writes, so the text is never a mix of two.
void write_holder(int fd, const std::string& description) {
  if (::ftruncate(fd, 0) != 0) return;
  const std::string text = description + "\n";
  [[maybe_unused]] const auto written = ::pwrite(fd, text.data(), text.size(), 0);
}

/// The holder's description names a pid that no longer runs (describe_self writes "pid N ...").
bool holder_is_gone(const std::string& holder) {
  if (!holder.starts_with("pid ")) return false;
  const pid_t pid = static_cast<pid_t>(std::strtol(holder.c_str() + 4, nullptr, 10));
  return pid > 0 && !detail::process_running(pid);
}

int take_lock(LockHeld::Lock lock, const fs::path& file, bool wait, const MachineLock::OnWait& on_wait,
              const std::string& description, const std::function<std::string(const std::string&)>& refusal) {
  const int fd = open_lock_file(file);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("cannot lock {}: {}", file.string(), std::strerror(error)));
    }
    // The holder may be between taking the lock and writing its name.
    std::string holder = holder_of(file);
    for (int i = 0; i < 10 && holder.starts_with("a joulebench that"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      holder = holder_of(file);
    }
    // A holder that is gone (killed) may still have a process of its own between fork and exec
    // holding the descriptor for a moment: that is no measurement to refuse for.
    for (int i = 0; i < 100 && !wait && holder_is_gone(holder); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        write_holder(fd, description);
        return fd;
      }
    }
    if (!wait) {
      ::close(fd);
      throw LockHeld(lock, refusal(holder));
    }
    if (on_wait) on_wait(holder);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(fmt::format("cannot lock {}: {}", file.string(), std::strerror(error)));
    }
  }
  write_holder(fd, description);
  return fd;
}

std::string describe_self(const std::string& store) {
  return fmt::format("pid {} ('{}'){}, since {}", ::getpid(), own_command_line(),
                     store.empty() ? std::string() : ", store " + store, utc_now());
}

/// The process `identity` names still runs (a zombie has ended: its descriptors are closed).
bool is_alive(const std::string& identity) {
  const auto dot = identity.find('.');
  if (dot == std::string::npos) return false;
  const pid_t pid = static_cast<pid_t>(std::strtol(identity.substr(0, dot).c_str(), nullptr, 10));
  return pid > 0 && process_identity(pid) == identity && detail::process_running(pid);
}

/// Every process whose environment carries `label` (an exact "NAME=VALUE" entry).
std::vector<pid_t> processes_with_label(const std::string& label, std::size_t& unreadable) {
  std::vector<pid_t> found;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  const std::string wanted = label + '\0';
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
    std::ifstream in(fmt::format("/proc/{}/environ", pid), std::ios::binary);
    if (!in) {
      ++unreadable;
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string environment = '\0' + ss.str();
    if (environment.find('\0' + wanted) != std::string::npos) found.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return found;
}

struct OwnerRecord {
  std::mutex mutex;
  fs::path file;
  bool tried = false;
  ~OwnerRecord() {
    // A normal exit: nothing of this joulebench is left to end.
    if (!file.empty()) ::unlink(file.c_str());
  }
};

OwnerRecord& owner_record() {
  static OwnerRecord record;
  return record;
}

}  // namespace

fs::path machine_state_folder() {
  if (const char* chosen = std::getenv("JOULEBENCH_LOCK_DIR"); chosen != nullptr && *chosen != '\0') return chosen;
  // Decided by the folder alone, never by who asks, so root and users agree: /run/lock where
  // everyone may write it (Debian, Ubuntu: 1777), else /tmp.
  struct stat st {};
  constexpr mode_t kShared = S_IWOTH | S_ISVTX;
  if (::stat("/run/lock", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & kShared) == kShared) return "/run/lock";
  return "/tmp";
}

std::string process_identity(pid_t pid) {
  const std::string after_name = detail::process_stat_fields(pid);
  if (after_name.empty()) return {};
  std::istringstream fields(after_name);
  std::string field;
  // Fields 3 to 22 (state ... starttime): starttime is the 20th after the name.
  for (int i = 0; i < 20 && fields >> field; ++i) {}
  if (!fields) return {};
  return fmt::format("{}.{}", pid, field);
}

MachineLock MachineLock::measuring(const std::string& store, bool wait, const OnWait& on_wait) {
  const fs::path file = machine_state_folder() / "joulebench-measuring.lock";
  const int fd =
      take_lock(LockHeld::Lock::measuring, file, wait, on_wait, describe_self(store), [](const std::string& holder) {
        return fmt::format(
            "another joulebench is measuring on this machine: {}. Two measurements side by side ruin each "
            "other's figures: wait for it, or stop it first",
            holder);
      });
  return MachineLock(file, fd);
}

MachineLock MachineLock::store_writer(const fs::path& store, bool wait, const OnWait& on_wait) {
  struct stat st {};
  if (::stat(store.c_str(), &st) != 0) {
    throw std::runtime_error(fmt::format("{}: cannot lock it for writing: {}", store.string(), std::strerror(errno)));
  }
  // Named by device and inode: one lock per store, however it is spelled.
  const fs::path file = machine_state_folder() / fmt::format("joulebench-store.{}.{}.lock", st.st_dev, st.st_ino);
  const std::string name = store.string();
  const int fd =
      take_lock(LockHeld::Lock::store_writer, file, wait, on_wait, describe_self(fs::absolute(store).string()),
                [&](const std::string& holder) {
                  return fmt::format(
                      "{} is being written by another joulebench: {}. A store has one writer at a time; wait for it "
                      "or write another store",
                      name, holder);
                });
  return MachineLock(file, fd);
}

MachineLock::MachineLock(MachineLock&& other) noexcept
    : file_(std::move(other.file_)), fd_(std::exchange(other.fd_, -1)) {}

MachineLock& MachineLock::operator=(MachineLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    file_ = std::move(other.file_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

MachineLock::~MachineLock() {
  if (fd_ < 0) return;
  // The holder's name goes with the lock, so nobody is named who no longer holds it.
  if (::ftruncate(fd_, 0) != 0) {}
  ::close(fd_);
}

namespace detail {

std::string process_stat_fields(pid_t pid) {
  const std::string stat = read_small_file(fmt::format("/proc/{}/stat", pid));
  // The name may hold blanks and parentheses: the fields after it start at the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return {};
  return stat.substr(close + 2);
}

bool process_running(pid_t pid) {
  const std::string fields = process_stat_fields(pid);
  return !fields.empty() && fields.front() != 'Z';
}

std::string describe_process(pid_t pid) {
  std::string name = read_small_file(fmt::format("/proc/{}/comm", pid));
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return fmt::format("{} (pid {})", name.empty() ? "?" : name, pid);
}

const std::string& own_identity() {
  static const std::string identity = process_identity(::getpid());
  return identity;
}

void ensure_owner_record() {
  OwnerRecord& record = owner_record();
  std::lock_guard lock(record.mutex);
  if (record.tried) return;
  record.tried = true;
  const fs::path file = machine_state_folder() / (kOwnerRecordPrefix + own_identity());
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ::close(fd);
  record.file = file;
}

/// Appends one line to this joulebench's owner record.
void append_to_owner_record(const std::string& line) {
  ensure_owner_record();
  OwnerRecord& record = owner_record();
  std::lock_guard lock(record.mutex);
  if (record.file.empty()) return;
  const int fd = ::open(record.file.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  [[maybe_unused]] const auto written = ::write(fd, line.data(), line.size());
  ::close(fd);
}

void record_workload_cgroup(const fs::path& cgroup) { append_to_owner_record("cgroup " + cgroup.string() + "\n"); }

}  // namespace detail

void record_cleanup(const std::string& key, const std::vector<std::string>& argv) {
  const auto plain = [](const std::string& text) { return text.find_first_of("\t\n") == std::string::npos; };
  if (key.empty() || !plain(key) || argv.empty() || !std::all_of(argv.begin(), argv.end(), plain)) {
    throw std::invalid_argument("a cleanup's key and arguments must be non-empty and hold no tab or newline");
  }
  std::string line = "cleanup " + key;
  for (const auto& arg : argv) line += "\t" + arg;
  detail::append_to_owner_record(line + "\n");
}

void record_cleanup_folders(const std::string& key, const std::vector<fs::path>& folders) {
  std::string line = "rmdir " + key;
  for (const auto& folder : folders) {
    if (folder.string().find_first_of("\t\n") != std::string::npos) continue;
    line += "\t" + folder.string();
  }
  detail::append_to_owner_record(line + "\n");
}

void forget_cleanup(const std::string& key) { detail::append_to_owner_record("done " + key + "\n"); }

namespace {

/// Runs a recorded cleanup to its end (at most `patience`), its output discarded. Plain fork and
/// exec: the guard, a fork of joulebench, runs it too. Nothing when it succeeded, else why not.
std::optional<std::string> run_cleanup(const std::vector<std::string>& argv, Seconds patience) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return fmt::format("cannot start {}: {}", argv.front(), std::strerror(errno));
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(patience);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return fmt::format("{}: {}", argv.front(), std::strerror(errno));
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return fmt::format("{} did not end within {:g} s", argv.front(), patience.count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  return fmt::format("{} failed ({})", argv.front(), ExitStatus::from_wait_status(status).describe());
}

/// A regular file of this joulebench's user, with no other link: what a record must be.
bool own_record(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && st.st_nlink == 1;
}

/// An owner record's lines: the cleanups and cgroup folders not marked done, and the workload cgroups.
struct RecordedLeftovers {
  std::vector<std::pair<std::string, std::vector<std::string>>> cleanups;  ///< key, argv
  std::vector<std::pair<std::string, std::vector<std::string>>> folders;   ///< key, paths
  std::vector<fs::path> cgroups;
};

RecordedLeftovers read_owner_record(const std::string& text) {
  RecordedLeftovers out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("cgroup ")) {
      out.cgroups.push_back(fs::path(line.substr(7)).lexically_normal());
    } else if (line.starts_with("done ")) {
      const std::string key = line.substr(5);
      std::erase_if(out.cleanups, [&](const auto& c) { return c.first == key; });
      std::erase_if(out.folders, [&](const auto& c) { return c.first == key; });
    } else if (line.starts_with("cleanup ") || line.starts_with("rmdir ")) {
      const bool command = line.starts_with("cleanup ");
      std::vector<std::string> fields;
      std::istringstream parts(line.substr(command ? 8 : 6));
      for (std::string field; std::getline(parts, field, '\t');) fields.push_back(field);
      if (fields.size() < 2) continue;
      (command ? out.cleanups : out.folders)
          .emplace_back(fields.front(), std::vector<std::string>(fields.begin() + 1, fields.end()));
    }
  }
  return out;
}

/// Ends what the joulebench `owner` left, as its record lists it, and removes the record.
EndedLeftovers end_leftovers_of(const std::string& owner, const fs::path& record) {
  const fs::path mount = detail::cgroup2_mount().value_or(fs::path());
  struct stat st {};
  EndedLeftovers report;
  report.owner = "pid " + owner.substr(0, owner.find('.'));
  const RecordedLeftovers recorded = read_owner_record(read_small_file(record));
  // Cleanups first (a container's processes are the runtime's, found by no cgroup or label here),
  // in the order they were recorded, each once.
  for (const auto& [key, argv] : recorded.cleanups) {
    if (const auto problem = run_cleanup(argv, Seconds(60))) report.problems.push_back(key + ": " + *problem);
    else report.processes.push_back(key);
  }
  // rmdir only: a folder with anything but cgroups in it is never touched.
  for (const auto& [key, paths] : recorded.folders) {
    for (const auto& path : paths) remove_cgroup_tree(path);
  }
  for (const fs::path& path : recorded.cgroups) {
    // Only our own kind of cgroup, in the cgroup2 hierarchy, as recorded.
    const auto [mount_end, path_end] = std::mismatch(mount.begin(), mount.end(), path.begin(), path.end());
    if (mount.empty() || mount_end != mount.end() ||
        !path.filename().string().starts_with("joulebench." + owner + ".") || ::lstat(path.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      continue;
    }
    auto group = detail::WorkloadCgroup::adopt(path);
    for (const pid_t pid : group.processes()) report.processes.push_back(detail::describe_process(pid));
    if (!group.kill_all(Seconds(2))) report.problems.push_back(fmt::format("{} still holds processes", path.string()));
    if (!group.remove())
      report.problems.push_back(fmt::format("cannot remove {}: {}", path.string(), std::strerror(errno)));
  }
  std::size_t unreadable = 0;
  const std::string label = fmt::format("{}={}", detail::kOwnerVariable, owner);
  for (int round = 0; round < 5; ++round) {
    // A leftover may fork while it is being killed: look again until nothing carries the label.
    const auto pids = processes_with_label(label, unreadable);
    if (pids.empty()) break;
    for (const pid_t pid : pids) {
      const std::string text = detail::describe_process(pid);
      if (::kill(pid, SIGKILL) == 0) {
        if (std::find(report.processes.begin(), report.processes.end(), text) == report.processes.end()) {
          report.processes.push_back(text);
        }
      } else if (round == 4) {
        report.problems.push_back(fmt::format("cannot end {}: {}", text, std::strerror(errno)));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (::unlink(record.c_str()) != 0 && errno != ENOENT) {
    report.problems.push_back(fmt::format("cannot remove {}: {}", record.string(), std::strerror(errno)));
  }
  return report;
}

}  // namespace

std::vector<EndedLeftovers> end_leftovers_of_dead_joulebench() {
  std::vector<EndedLeftovers> ended;
  const fs::path folder = machine_state_folder();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kOwnerRecordPrefix)) continue;
    const std::string owner = name.substr(std::strlen(kOwnerRecordPrefix));
    if (owner == detail::own_identity() || is_alive(owner)) continue;
    // Only records of our own user: anyone may write in the folder, and a record names cgroups
    // to kill. (Root ends what a killed root joulebench left; a user, what theirs left.)
    if (!own_record(entry.path())) continue;
    EndedLeftovers report = end_leftovers_of(owner, entry.path());
    if (!report.processes.empty() || !report.problems.empty()) ended.push_back(std::move(report));
  }
  return ended;
}

void start_leftover_guard() {
  // Computed here, so the guard knows whose record to read.
  const std::string owner = detail::own_identity();
  const fs::path record = machine_state_folder() / (kOwnerRecordPrefix + owner);
  int alive[2];
  if (::pipe2(alive, O_CLOEXEC) != 0) return;  // best effort: the next start still cleans up
  const pid_t guard = ::fork();
  if (guard != 0) {
    ::close(alive[0]);
    // Kept open, never written: the guard reads end of file when joulebench is gone, however.
    if (guard < 0) ::close(alive[1]);
    return;
  }
  // The guard: out of joulebench's session (Ctrl-C is for joulebench), holding nothing of its
  // (no lock, no pipe of a workload), waiting for joulebench to end.
  ::setsid();
  ::prctl(PR_SET_NAME, "jbench-guard");  // 15 characters at most
  for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::signal(signal, SIG_IGN);
  // Its own copy of the write end would keep the pipe open for ever.
  ::close(alive[1]);
  // Above the standard descriptors, which /dev/null replaces (joulebench may have started with
  // one of them closed, so the pipe may have got it).
  const int watched = ::fcntl(alive[0], F_DUPFD, 10);
  const int null = ::open("/dev/null", O_RDWR);
  for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
  if (::close_range(static_cast<unsigned>(watched) + 1, ~0U, 0) != 0) {
    for (int fd = watched + 1; fd < 65536; ++fd) ::close(fd);
  }
  for (int fd = 3; fd < watched; ++fd) ::close(fd);
  char byte = 0;
  while (::read(watched, &byte, 1) < 0 && errno == EINTR) {}
  // A joulebench that ended normally removed its record: nothing of it is left to end. (And if
  // the read failed while joulebench runs, this guard just ends.)
  // The pipe closes early in the kernel's exit: give joulebench a moment to be gone.
  for (int i = 0; i < 200 && is_alive(owner); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!is_alive(owner) && own_record(record)) end_leftovers_of(owner, record);
  ::_exit(0);
}

}  // namespace joulebench

#include "process/cgroup.hpp"

#include "joulebench/process.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace joulebench::detail {

namespace fs = std::filesystem;

namespace {

/// mountinfo escapes blanks in paths as octal (\040).
std::string unescape_mount_path(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      const std::string digits = text.substr(i + 1, 3);
      if (digits.size() == 3 && digits.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::stoi(digits, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

/// joulebench's own cgroup in the cgroup2 hierarchy ("0::/path" in /proc/self/cgroup).
std::optional<fs::path> own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("0::")) return fs::path(line.substr(3));
  }
  return std::nullopt;
}

bool write_text(const fs::path& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

/// A cgroup and the ones below it (a nested joulebench's, killed with it), deepest first. Never
/// throws: it runs in destructors.
bool remove_tree(const fs::path& path) noexcept {
  try {
    std::error_code ec;
    std::vector<fs::path> below;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) below.push_back(it->path());
    }
    for (const auto& child : below) remove_tree(child);
  } catch (...) {
    // Out of memory: the rmdir below still says whether the cgroup is gone.
  }
  return ::rmdir(path.c_str()) == 0 || errno == ENOENT;
}

}  // namespace

}  // namespace joulebench::detail

namespace joulebench {

namespace fs = std::filesystem;

std::vector<CgroupHierarchy> cgroup_hierarchies() {
  std::vector<CgroupHierarchy> found;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type, source, options;
    tail >> type >> source >> options;
    if (type != "cgroup" && type != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, device, root, mount_point;
    head >> id >> parent >> device >> root >> mount_point;
    // A cgroup namespace's view shows its root as "/"; a bind of a sub-tree cannot host ours.
    if (root != "/") continue;
    CgroupHierarchy hierarchy{fs::path(detail::unescape_mount_path(mount_point)), type == "cgroup2", {}};
    if (!hierarchy.v2) {
      std::istringstream parts(options);
      // Super options: rw or ro, the controllers, and flags (name=..., xattr, ...) that are none.
      for (std::string option; std::getline(parts, option, ',');) {
        const bool flag = option == "rw" || option == "ro" || option == "xattr" || option == "clone_children" ||
                          option == "noprefix" || option.find('=') != std::string::npos;
        if (!flag) hierarchy.controllers.push_back(option);
      }
    }
    found.push_back(std::move(hierarchy));
  }
  return found;
}

std::optional<CgroupCpuTime> read_cgroup_cpu(const fs::path& cgroup) {
  const auto seconds = [](long long count, double unit) { return Seconds(static_cast<double>(count) * unit); };
  if (std::ifstream stat(cgroup / "cpu.stat"); stat) {
    CgroupCpuTime cpu;
    bool found = false;
    std::string key;
    for (long long usec = 0; stat >> key >> usec;) {
      if (key == "user_usec") cpu.user = seconds(usec, 1e-6);
      if (key == "system_usec") cpu.system = seconds(usec, 1e-6);
      found = found || key == "user_usec";
    }
    if (found) return cpu;
  }
  std::ifstream user(cgroup / "cpuacct.usage_user");
  std::ifstream system(cgroup / "cpuacct.usage_sys");
  long long user_ns = 0;
  long long system_ns = 0;
  if (!(user >> user_ns) || !(system >> system_ns)) return std::nullopt;
  return CgroupCpuTime{seconds(user_ns, 1e-9), seconds(system_ns, 1e-9)};
}

namespace {

/// One pass, deepest first; true when `folder` is gone.
bool remove_tree_once(const fs::path& folder) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) children.push_back(entry.path());
  }
  for (const auto& child : children) remove_tree_once(child);
  return ::rmdir(folder.c_str()) == 0 || errno == ENOENT;
}

}  // namespace

bool remove_cgroup_tree(const fs::path& cgroup, Seconds patience) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(patience);
  for (;;) {
    if (remove_tree_once(cgroup)) return true;
    // Busy: a process of it is still on its way out (the runtime's cleanup).
    if (errno != EBUSY || Clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace joulebench

namespace joulebench::detail {

std::optional<fs::path> cgroup2_mount() {
  for (const auto& hierarchy : cgroup_hierarchies()) {
    if (hierarchy.v2) return hierarchy.mount;
  }
  return std::nullopt;
}

WorkloadCgroup::WorkloadCgroup(fs::path path) : path_(std::move(path)) {
  procs_fd_ = ::open((path_ / "cgroup.procs").c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

WorkloadCgroup::WorkloadCgroup(WorkloadCgroup&& other) noexcept
    : path_(std::exchange(other.path_, fs::path())), procs_fd_(std::exchange(other.procs_fd_, -1)) {}

WorkloadCgroup& WorkloadCgroup::operator=(WorkloadCgroup&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) remove();
    path_ = std::exchange(other.path_, fs::path());
    procs_fd_ = std::exchange(other.procs_fd_, -1);
  }
  return *this;
}

WorkloadCgroup::~WorkloadCgroup() {
  if (path_.empty()) return;  // moved from
  // Best effort, for a command that never started (fork failed): an empty cgroup goes.
  remove();
}

std::optional<WorkloadCgroup> WorkloadCgroup::create(const std::string& name, std::string& why) {
  const auto mount = cgroup2_mount();
  if (!mount) {
    why = "no cgroup2 hierarchy is mounted";
    return std::nullopt;
  }
  std::vector<fs::path> parents;
  if (const auto own = own_cgroup()) parents.push_back(*mount / own->relative_path());
  parents.push_back(*mount);
  int last_error = 0;
  fs::path tried;
  for (const auto& parent : parents) {
    const fs::path path = parent / name;
    if (::mkdir(path.c_str(), 0755) != 0) {
      last_error = errno;
      tried = parent;
      continue;
    }
    WorkloadCgroup group(path);
    if (group.procs_fd_ < 0) {
      last_error = errno;
      tried = parent;
      ::rmdir(path.c_str());
      continue;
    }
    return group;
  }
  why = fmt::format("cannot make a cgroup in {}: {}", tried.string(), std::strerror(last_error));
  return std::nullopt;
}

WorkloadCgroup WorkloadCgroup::adopt(const fs::path& path) { return WorkloadCgroup(path); }

std::vector<pid_t> WorkloadCgroup::processes() const {
  std::vector<pid_t> pids;
  std::ifstream in(path_ / "cgroup.procs");
  for (pid_t pid = 0; in >> pid;) pids.push_back(pid);
  return pids;
}

std::optional<CgroupCpu> WorkloadCgroup::cpu() const { return read_cgroup_cpu(path_); }

bool WorkloadCgroup::kill_all(Seconds patience) {
  const bool killed_at_once = write_text(path_ / "cgroup.kill", "1");
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(patience);
  for (;;) {
    const auto pids = processes();
    if (pids.empty()) return true;
    // Without cgroup.kill, members are killed one by one until none is left (a forking process
    // may add one between the read and the kill).
    if (!killed_at_once) {
      for (const pid_t pid : pids) ::kill(pid, SIGKILL);
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool WorkloadCgroup::remove() {
  if (procs_fd_ >= 0) {
    ::close(procs_fd_);
    procs_fd_ = -1;
  }
  return remove_tree(path_);
}

}  // namespace joulebench::detail

// A cgroup (version 2) of its own for one command: every process the command starts stays in it,
// whatever it does to its session or process group, so joulebench can find, count and kill them
// all. Internal to the process part.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "joulebench/process.hpp"
#include "joulebench/units.hpp"

namespace joulebench::detail {

/// Where cgroup2 is mounted (found in /proc/self/mountinfo: /sys/fs/cgroup on unified machines,
/// /sys/fs/cgroup/unified on hybrid ones); nothing when it is not.
std::optional<std::filesystem::path> cgroup2_mount();

using CgroupCpu = CgroupCpuTime;

class WorkloadCgroup {
 public:
  /// Makes the cgroup `name` beside joulebench's own cgroup's children: under joulebench's cgroup
  /// when it may write there, else under the hierarchy's root. Nothing where no cgroup can be made
  /// (no cgroup2, no permission, a read-only mount), and `why` says why.
  static std::optional<WorkloadCgroup> create(const std::string& name, std::string& why);
  /// Takes over a cgroup that exists (one a killed joulebench left).
  static WorkloadCgroup adopt(const std::filesystem::path& path);

  WorkloadCgroup(WorkloadCgroup&& other) noexcept;
  WorkloadCgroup& operator=(WorkloadCgroup&& other) noexcept;
  WorkloadCgroup(const WorkloadCgroup&) = delete;
  WorkloadCgroup& operator=(const WorkloadCgroup&) = delete;
  ~WorkloadCgroup();

  const std::filesystem::path& path() const { return path_; }
  /// cgroup.procs, open for writing: a child writes "0" to it to join before it execs.
  int procs_fd() const { return procs_fd_; }
  /// The processes in it now.
  std::vector<pid_t> processes() const;
  std::optional<CgroupCpu> cpu() const;
  /// Kills every process in it (cgroup.kill, or SIGKILL to each member on kernels before 5.14)
  /// and waits up to `patience` until it is empty; false if it is not.
  bool kill_all(Seconds patience);
  /// Removes the cgroup; false if it could not be (still populated).
  bool remove();

 private:
  explicit WorkloadCgroup(std::filesystem::path path);
  std::filesystem::path path_;
  int procs_fd_ = -1;
};

}  // namespace joulebench::detail

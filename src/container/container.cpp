// Starting, accounting and removing a run's container through the runtime's own client.
#include "joulebench/container.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "joulebench/machine.hpp"
#include "joulebench/process.hpp"

namespace joulebench {

namespace fs = std::filesystem;

namespace {

/// What a short query printed: its output, its errors and how it ended.
struct QueryResult {
  ExitStatus status;
  std::string output;
  std::string errors;
  bool ok() const { return !status.signaled && status.code == 0; }
  /// The first line of its errors (or output), for a message.
  std::string first_error_line() const {
    const std::string& text = errors.empty() ? output : errors;
    std::string line = text.substr(0, text.find('\n'));
    return line.empty() ? status.describe() : line;
  }
};

/// An anonymous file the query writes into: it can never fill up and block the query, as a pipe
/// read only after the end would.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("joulebench-query", MFD_CLOEXEC)) {
    if (fd_ < 0) throw ContainerError(fmt::format("cannot make a memory file: {}", std::strerror(errno)));
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  int fd() const { return fd_; }
  std::string text() const {
    std::string out;
    char buffer[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(fd_, buffer, sizeof buffer, at);
      if (n <= 0) break;
      out.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
    return out;
  }

 private:
  int fd_;
};

/// Runs the runtime's client for a query (unmeasured) to its end, through the one way joulebench
/// starts a process.
QueryResult query(const std::vector<std::string>& argv, Seconds timeout = Seconds(120)) {
  MemoryFile out;
  MemoryFile err;
  SpawnOptions options;
  options.argv = argv;
  options.foreground = false;
  options.own_cgroup = false;
  options.stdout_fd = out.fd();
  options.stderr_fd = err.fd();
  ChildProcess child = ChildProcess::start(options);
  const ProcessOutcome outcome = child.wait(timeout);
  QueryResult result{outcome.status, out.text(), err.text()};
  if (outcome.timed_out) result.errors = fmt::format("{} did not answer within {:g} s", argv.front(), timeout.count());
  return result;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.pop_back();
  return text;
}

std::vector<std::string> json_strings(const std::string& text) {
  std::vector<std::string> out;
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_array()) return out;
  for (const auto& item : json) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<std::int64_t> read_integer(const fs::path& file) {
  std::ifstream in(file);
  long long value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

/// Every cgroup hierarchy mounted here, those with v1's cpuacct or memory controller first: on
/// hybrid machines the runtimes account there (the v2 hierarchy may not split user and system).
std::vector<CgroupHierarchy> accounting_hierarchies() {
  std::vector<CgroupHierarchy> all = cgroup_hierarchies();
  std::stable_partition(all.begin(), all.end(), [](const CgroupHierarchy& h) {
    return std::any_of(h.controllers.begin(), h.controllers.end(),
                       [](const std::string& c) { return c == "cpuacct" || c == "memory"; });
  });
  return all;
}

/// A cgroup's peak memory, page cache included: v1's memory.max_usage_in_bytes, v2's memory.peak.
std::optional<std::int64_t> read_peak_memory_bytes(const fs::path& cgroup) {
  if (auto peak = read_integer(cgroup / "memory.max_usage_in_bytes")) return peak;
  return read_integer(cgroup / "memory.peak");
}

/// The podman monitor's cgroup beside the container's: its CPU is the runtime's, not the workload's.
constexpr const char* kMonitorCgroup = "conmon";

}  // namespace

ContainerImage inspect_container_image(const ContainerSpec& spec) {
  ContainerImage image;
  image.runtime = spec.runtime;
  image.image = spec.image;
  try {
    image.runtime_path = find_executable(spec.runtime).string();
  } catch (const LaunchError&) {
    throw ContainerError(
        fmt::format("the container runtime '{}' is not on PATH: install it, or name the one this "
                    "machine has in the plan's container.runtime (\"docker\" or \"podman\")",
                    spec.runtime));
  }
  const bool docker = spec.runtime == "docker";
  const QueryResult info =
      query({image.runtime_path, "info", "--format", docker ? "{{.CgroupDriver}}" : "{{.Host.CgroupManager}}"});
  if (!info.ok()) {
    throw ContainerError(fmt::format("{} does not work here ({} info: {}){}", spec.runtime, spec.runtime,
                                     info.first_error_line(),
                                     docker ? ": is the Docker engine running, and may this user reach it?" : ""));
  }
  image.cgroup_manager = trimmed(info.output);
  const QueryResult version =
      query({image.runtime_path, "version", "--format",
             docker ? "client {{.Client.Version}}, engine {{.Server.Version}}" : "{{.Client.Version}}"});
  image.runtime_version = version.ok() ? trimmed(version.output) : "unknown";
  const QueryResult inspected = query({image.runtime_path, "image", "inspect", "--format",
                                       "{{.Id}}\n{{json .RepoDigests}}\n{{json .Config.Entrypoint}}", spec.image});
  if (!inspected.ok()) {
    throw ContainerError(
        fmt::format("the image '{}' is not among {}'s local images ({}): joulebench never pulls "
                    "an image inside a campaign; pull, build or load it first (e.g. `{} pull {}`)",
                    spec.image, spec.runtime, inspected.first_error_line(), spec.runtime, spec.image));
  }
  std::istringstream lines(inspected.output);
  std::string id, digests, entrypoint;
  std::getline(lines, id);
  std::getline(lines, digests);
  std::getline(lines, entrypoint);
  image.id = trimmed(id);
  image.digests = json_strings(digests);
  image.entrypoint = json_strings(entrypoint);
  return image;
}

ContainerRun::ContainerRun(const ContainerSpec& spec, const ContainerImage& image, const ContainerRunOptions& options)
    : runtime_(image.runtime_path) {
  const std::string owner = process_identity(::getpid());
  name_ = fmt::format("joulebench-{}-{}", owner, options.name_suffix);
  const bool docker = image.runtime == "docker";
  // With the cgroupfs manager the container's cgroup goes under one of joulebench's naming, which
  // stays after the runtime removes the container's own: its CPU time and peak memory can be read
  // once the container has ended. (A systemd manager wants a slice; it keeps its own layout.)
  if (image.cgroup_manager == "cgroupfs") cgroup_parent_ = "/" + name_;

  argv_ = {image.runtime_path, "run", "--name", name_, "--pull=never"};
  argv_.insert(argv_.end(), {"--label", "joulebench.owner=" + owner});
  for (const auto& [key, value] : options.labels) argv_.insert(argv_.end(), {"--label", key + "=" + value});
  if (!cgroup_parent_.empty()) argv_.insert(argv_.end(), {"--cgroup-parent", cgroup_parent_});
  for (const auto& mount : spec.mounts) argv_.insert(argv_.end(), {"--volume", mount});
  if (spec.workdir) argv_.insert(argv_.end(), {"--workdir", *spec.workdir});
  for (const auto& [key, value] : options.environment) argv_.insert(argv_.end(), {"--env", key + "=" + value});
  if (!options.gpu_uuids.empty()) {
    if (docker) {
      // Docker reads the value as CSV: the quotes keep the commas between devices.
      argv_.insert(argv_.end(), {"--gpus", fmt::format("\"device={}\"", fmt::join(options.gpu_uuids, ","))});
    } else {
      // Podman passes NVIDIA GPUs through CDI (nvidia-ctk cdi generate), which names them by UUID.
      for (const auto& uuid : options.gpu_uuids) argv_.insert(argv_.end(), {"--device", "nvidia.com/gpu=" + uuid});
    }
  }
  if (!options.events_folder.empty()) {
    argv_.insert(argv_.end(), {"--volume", options.events_folder.string() + ":" + kContainerEventsFolder});
  }
  // The start marker is the container's entrypoint: the first process inside, it reports the end
  // of container start-up, then runs the image's entrypoint with the command.
  const auto marker = find_helper("joulebench-container-start");
  if (marker) {
    const std::string inside = std::string(kContainerHelperFolder) + "/joulebench-container-start";
    argv_.insert(argv_.end(), {"--volume", marker->string() + ":" + inside + ":ro", "--entrypoint", inside});
  }
  if (const auto python = find_helper("joulebench_events.py")) {
    argv_.insert(argv_.end(),
                 {"--volume", python->string() + ":" + kContainerHelperFolder + "/joulebench_events.py:ro"});
  }
  argv_.insert(argv_.end(), spec.options.begin(), spec.options.end());
  argv_.push_back(spec.image);
  // Without the marker the image's own entrypoint stays in place and takes the command.
  if (marker) argv_.insert(argv_.end(), image.entrypoint.begin(), image.entrypoint.end());
  argv_.insert(argv_.end(), options.command.begin(), options.command.end());

  // Recorded before anything starts: a joulebench killed from now on leaves nothing running, and
  // no cgroup of the container's.
  // The one way it is removed, by this joulebench or another: podman's `rm --force` gives a running
  // container 10 s to stop unless told otherwise; docker's kills at once (and has no such option).
  remove_argv_ = {runtime_, "rm", "--force", name_};
  if (!docker) remove_argv_ = {runtime_, "rm", "--force", "--time", "0", name_};
  record_cleanup("container " + name_, remove_argv_);
  if (!cgroup_parent_.empty()) record_cleanup_folders("container " + name_, cgroup_folders());
}

std::vector<fs::path> ContainerRun::cgroup_folders() const {
  std::vector<fs::path> folders;
  const fs::path relative = fs::path(cgroup_parent_).relative_path();
  for (const auto& hierarchy : accounting_hierarchies()) folders.push_back(hierarchy.mount / relative);
  return folders;
}

void ContainerRun::forget_cleanups() {
  // Its own cgroup, the runtime's monitor's and the container's (which the runtime may still be
  // removing): rmdir never removes a cgroup that holds a process.
  if (!cgroup_parent_.empty()) {
    for (const auto& folder : cgroup_folders()) remove_cgroup_tree(folder);
  }
  forget_cleanup("container " + name_);
}

ContainerRun::~ContainerRun() {
  if (finished_) return;
  try {
    if (remove()) forget_cleanups();
  } catch (...) {
    // Best effort: the owner record still names the container for the next joulebench.
  }
}

bool ContainerRun::remove() {
  // It may have ended (or never started): that is no failure.
  const QueryResult removed = query(remove_argv_, Seconds(60));
  return removed.ok() || removed.errors.find("no such container") != std::string::npos ||
         removed.errors.find("No such container") != std::string::npos;
}

ContainerUsage ContainerRun::finish() {
  ContainerUsage usage;
  if (finished_) return usage;
  finished_ = true;
  const bool gone = remove();
  if (cgroup_parent_.empty()) {
    usage.notes.emplace_back(
        "the container runtime's cgroup manager is systemd: joulebench cannot read the container's CPU time and "
        "memory after it ended (set cgroup_manager = \"cgroupfs\" in containers.conf, or docker's "
        "native.cgroupdriver=cgroupfs)");
    if (gone) forget_cleanups();
    return usage;
  }
  // Read in the parent joulebench named, which outlives the container's own cgroup; less the
  // runtime monitor's (podman's conmon), which the client's cgroup counts already.
  const std::vector<fs::path> groups = cgroup_folders();
  for (const fs::path& group : groups) {
    if (usage.user_cpu) break;
    if (const auto total = read_cgroup_cpu(group)) {
      const CgroupCpuTime monitor = read_cgroup_cpu(group / kMonitorCgroup).value_or(CgroupCpuTime{});
      usage.user_cpu = std::max(Seconds(0), total->user - monitor.user);
      usage.system_cpu = std::max(Seconds(0), total->system - monitor.system);
    }
  }
  for (const fs::path& group : groups) {
    if (usage.peak_memory_kib) break;
    if (const auto peak = read_peak_memory_bytes(group)) usage.peak_memory_kib = *peak / 1024;
  }
  if (!usage.user_cpu) usage.notes.emplace_back(fmt::format("no cgroup {} with CPU figures was found", cgroup_parent_));
  if (!usage.peak_memory_kib) {
    usage.notes.emplace_back("the container's cgroup has no peak memory figure (memory.peak needs Linux 5.19)");
  }
  if (gone) forget_cleanups();
  return usage;
}

}  // namespace joulebench

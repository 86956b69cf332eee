// Containers as workloads: joulebench starts a run's container itself, through the runtime's own
// client (docker or podman), so that the run's process is the client attached to the container, the
// container is labelled with the campaign and run, its processes' CPU time and peak memory come from
// its cgroup, and it is removed when the run ends, times out or is interrupted (and by the next
// joulebench, should this one be killed). Nothing is special in the campaign: the client is started
// and measured as any command is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "joulebench/plan.hpp"
#include "joulebench/units.hpp"

namespace joulebench {

/// The runtime or the image cannot be used: what() says what to change.
class ContainerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What the runtime says of itself and of an image, asked once before a campaign's first run
/// (never inside a measured window).
struct ContainerImage {
  std::string runtime;                  ///< "docker", "podman"
  std::string runtime_path;             ///< the client found on PATH
  std::string runtime_version;          ///< the client's version ("4.3.1"; docker: "client 28.2.2, engine 28.2.2")
  std::string cgroup_manager;           ///< "cgroupfs", "systemd" (docker calls it the cgroup driver)
  std::string image;                    ///< as the plan names it
  std::string id;                       ///< the image ID
  std::vector<std::string> digests;     ///< repository digests, where the image has any
  std::vector<std::string> entrypoint;  ///< the image's own entrypoint, run before the command
};

/// Finds the runtime on PATH, asks its version and cgroup manager, and inspects the image (which
/// must be present locally: joulebench never pulls). Throws ContainerError.
ContainerImage inspect_container_image(const ContainerSpec& spec);

/// Where joulebench's helpers appear inside every container: the start marker (the container's
/// entrypoint, which reports the end of container start-up on the events channel, then runs the
/// image's entrypoint and the command) and the pure-Python events helper.
inline constexpr const char* kContainerHelperFolder = "/run/joulebench-helpers";
/// Where the events channel's named pipes appear (events_channel.hpp).
inline constexpr const char* kContainerEventsFolder = "/run/joulebench";
/// The region from launching the runtime's client until the container's first process runs.
inline constexpr const char* kContainerStartRegion = "container-start";

/// What the container's own processes used, from its cgroup (the runtime's client excluded).
struct ContainerUsage {
  std::optional<Seconds> user_cpu;
  std::optional<Seconds> system_cpu;
  /// The cgroup's peak memory, page cache included (memory.max_usage_in_bytes, memory.peak).
  std::optional<std::int64_t> peak_memory_kib;
  std::vector<std::string> notes;  ///< why a figure is missing
};

struct ContainerRunOptions {
  std::vector<std::string> command;    ///< run inside, after the image's entrypoint
  KeyValues environment;               ///< set inside (the plan's `env`, joulebench's variables)
  KeyValues labels;                    ///< container labels: joulebench.campaign, joulebench.run
  std::vector<std::string> gpu_uuids;  ///< the GPUs passed in (docker --gpus, podman CDI); empty: none
  /// The host folder holding the events channel's named pipes, mounted at kContainerEventsFolder;
  /// empty: no events channel.
  std::filesystem::path events_folder;
  std::string name_suffix;  ///< distinguishes the container's name: "c3-r17"
};

/// One run's container. The constructor records its cleanup with this joulebench's owner record
/// before anything starts; finish() (or the destructor) removes it.
class ContainerRun {
 public:
  ContainerRun(const ContainerSpec& spec, const ContainerImage& image, const ContainerRunOptions& options);
  ~ContainerRun();
  ContainerRun(const ContainerRun&) = delete;
  ContainerRun& operator=(const ContainerRun&) = delete;

  const std::string& name() const { return name_; }
  /// The runtime client's command line: `RUNTIME run --name ... IMAGE ENTRYPOINT... COMMAND...`.
  const std::vector<std::string>& client_argv() const { return argv_; }
  /// After the client ended: stops and removes the container (a client killed at a timeout leaves
  /// it running), then reads what its processes used and removes its cgroups. Once.
  ContainerUsage finish();

 private:
  /// Removes the container (killing it if it runs); true when it is gone.
  bool remove();
  /// Removes its cgroups and forgets the recorded cleanup.
  void forget_cleanups();
  /// The cgroup joulebench named for the container (its parent), in every hierarchy.
  std::vector<std::filesystem::path> cgroup_folders() const;
  std::string runtime_;
  std::string name_;
  std::string cgroup_parent_;  ///< relative to each hierarchy's root; empty when the manager is systemd
  std::vector<std::string> argv_;
  std::vector<std::string> remove_argv_;  ///< also recorded for a joulebench that finds it left
  bool finished_ = false;
};

}  // namespace joulebench

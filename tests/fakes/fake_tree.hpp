// Fake sysfs/procfs trees in a temporary directory, for driving the real sources in tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/sensors.hpp"

namespace joulebench::testing {

/// A temporary directory removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The null-terminated array of pointers execve takes for argv or envp; points into `strings`.
std::vector<char*> exec_array(std::vector<std::string>& strings);

/// Creates `path` (and its parents) holding `content`.
void write_file(const std::filesystem::path& path, std::string_view content);

/// Rewrites a counter file in place, as sysfs would present a new value: same inode (readers keep
/// their descriptor), fixed width so a reader never sees a shorter, stale tail.
void write_counter(const std::filesystem::path& path, std::uint64_t value);

/// A powercap zone directory: name, energy_uj, max_energy_range_uj (and a power limit if given).
void make_powercap_zone(const std::filesystem::path& dir, std::string_view name, std::uint64_t energy_uj,
                        std::uint64_t max_range_uj, std::uint64_t max_power_uw = 0);

/// A counter file advanced at a known power, as a RAPL zone is: a thread rewrites it every
/// millisecond with start + watts x elapsed time (in microjoules). Stops when the object goes.
class PoweredCounter {
 public:
  PoweredCounter(std::filesystem::path path, double watts, std::uint64_t start_uj = 1'000'000);
  ~PoweredCounter();
  PoweredCounter(const PoweredCounter&) = delete;
  PoweredCounter& operator=(const PoweredCounter&) = delete;
  /// From now on, this power.
  void set_watts(double watts);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Sets an environment variable for the object's lifetime, then restores what it was.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const std::string& value);
  ~ScopedVariable();
  ScopedVariable(const ScopedVariable&) = delete;
  ScopedVariable& operator=(const ScopedVariable&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A /proc/stat with the given aggregate ticks and `cpus` per-CPU lines.
void write_proc_stat(const std::filesystem::path& procfs_root, std::uint64_t user, std::uint64_t system,
                     std::uint64_t idle, int cpus);

/// Opens a source in a child process running as an unprivileged user (uid/gid 65534 when the
/// tests run as root, else the current user) and returns its report: how permission problems
/// look to a normal user. Nothing if the child could not drop its privileges.
std::optional<SourceReport> report_as_unprivileged(const std::function<std::unique_ptr<EnergySource>()>& open);

}  // namespace joulebench::testing

// The perf "power" PMU as sysfs describes it; separate so tests can check the parsing on fake
// trees without the perf_event_open syscall.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/sensors.hpp"

namespace joulebench::detail {

struct PmuEvent {
  std::string name;  ///< "energy-pkg"
  Domain domain = Domain::cpu;
  std::uint64_t config = 0;  ///< perf_event_attr.config, encoded through format/
  double joules_per_count = 0.0;
};

struct PmuDescription {
  std::filesystem::path directory;
  std::uint32_t type = 0;
  std::vector<int> package_cpus;  ///< one CPU per package, from cpumask
  std::vector<PmuEvent> events;
};

/// "0,24" or "0-3,8" into CPU numbers; nothing if malformed.
std::optional<std::vector<int>> parse_cpu_list(std::string_view text);
/// "event=0x02" (terms placed by the PMU's format/ files) into a config value.
std::optional<std::uint64_t> encode_event(const std::filesystem::path& pmu_dir, std::string_view description);
/// Reads <sysfs>/bus/event_source/devices/power; nothing (and why in `problem`) if absent or malformed.
std::optional<PmuDescription> describe_power_pmu(const std::filesystem::path& sysfs_root, std::string* problem);

}  // namespace joulebench::detail

// The RAPL zones of the powercap sysfs interface, as the powercap source reads them and as the
// perf source looks up the power limits the machine states for its counters.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "joulebench/sensors.hpp"

namespace joulebench::detail {

struct PowercapZone {
  std::filesystem::path directory;  ///< <root>/intel-rapl:N or <root>/intel-rapl:N:M
  Domain domain = Domain::cpu;
  int package = 0;  ///< from the zone's name ("package-1"); a subzone takes its parent's
};

/// The zones under `root` (<sysfs>/class/powercap) whose name says a domain, in name order.
/// intel-rapl-mmio:* duplicates the package counter through another path and is skipped, so
/// nothing is counted twice.
std::vector<PowercapZone> list_powercap_zones(const std::filesystem::path& root);

/// The highest power a zone's constraints state (constraint_N_max_power_uw and
/// constraint_N_power_limit_uw), in watts; nothing when it states none.
std::optional<double> powercap_stated_power_w(const std::filesystem::path& zone);

}  // namespace joulebench::detail

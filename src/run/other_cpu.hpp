// How quiet the machine is: the CPU time processes other than joulebench and its commands use,
// from the machine's busy time (/proc/stat) minus joulebench's own (getrusage: every thread, and
// the children it reaped) and the command's. Internal to the run part.
#pragma once

#include <optional>
#include <string>

#include "joulebench/sensors.hpp"
#include "joulebench/units.hpp"

namespace joulebench::detail {

/// /proc/stat counts in clock ticks (10 ms): a difference of a few ticks is rounding, not a
/// process. A verdict of "busy" needs more than this on top of the limit.
inline constexpr Seconds kOtherCpuRounding{0.03};

/// A point to measure other processes' CPU use from.
struct OtherCpuMark {
  MachineCpuTimes machine;
  Seconds own{0};       ///< joulebench's CPU time, every thread
  Seconds children{0};  ///< the CPU time of the children joulebench reaped
  Clock::time_point at{};
};

/// "0.25 cores", "1.00 core": CPU use as the warnings write it.
std::string cores_text(double cores);

/// Now; nothing where /proc/stat cannot be read.
std::optional<OtherCpuMark> mark_other_cpu(SensorSet& sensors);

/// Other processes' CPU use since `since`: CPU seconds, and cores over the interval.
struct OtherCpu {
  Seconds cpu{0};
  Seconds length{0};
  double cores() const { return length.count() > 0 ? cpu.count() / length.count() : 0.0; }
  /// More than `limit_cores`, beyond the rounding of /proc/stat.
  bool busy(double limit_cores) const { return cpu > Seconds(limit_cores * length.count()) + kOtherCpuRounding; }
};
/// `command_cpu`: the CPU time of a command that ran in the interval, as its outcome counts it
/// (its cgroup counts processes joulebench never reaped); what joulebench reaped counts otherwise.
std::optional<OtherCpu> other_cpu_since(SensorSet& sensors, const OtherCpuMark& since,
                                        Seconds command_cpu = Seconds(0));

}  // namespace joulebench::detail

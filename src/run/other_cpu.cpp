#include "run/other_cpu.hpp"

#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>

namespace joulebench::detail {

namespace {

Seconds cpu_of(int who) {
  rusage usage{};
  ::getrusage(who, &usage);
  const auto seconds = [](const timeval& tv) {
    return Seconds(static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6);
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

std::optional<OtherCpuMark> mark_other_cpu(SensorSet& sensors) {
  const auto machine = sensors.machine_cpu().read();
  if (!machine) return std::nullopt;
  return OtherCpuMark{*machine, cpu_of(RUSAGE_SELF), cpu_of(RUSAGE_CHILDREN), Clock::now()};
}

std::optional<OtherCpu> other_cpu_since(SensorSet& sensors, const OtherCpuMark& since, Seconds command_cpu) {
  const auto now = mark_other_cpu(sensors);
  if (!now) return std::nullopt;
  const Seconds others = (now->machine.busy - since.machine.busy) - (now->own - since.own) -
                         std::max(now->children - since.children, command_cpu);
  return OtherCpu{std::max(Seconds(0), others), now->at - since.at};
}

std::string cores_text(double cores) { return fmt::format("{:.2f} core{}", cores, cores == 1.0 ? "" : "s"); }

}  // namespace joulebench::detail

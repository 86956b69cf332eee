// RaplPerfSource: the PMU's sysfs description parsed on fake trees, and the perf_event_open path
// run for real where the kernel allows it, with a software PMU standing in for RAPL.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fakes/fake_tree.hpp"
#include "joulebench/sensors.hpp"
#include "sensors/rapl_perf_pmu.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_file;

fs::path pmu_dir(const TempDir& t) { return t.path() / "bus" / "event_source" / "devices" / "power"; }

/// What Linux shows for an Intel two-socket server.
void make_intel_pmu(const TempDir& t) {
  const fs::path d = pmu_dir(t);
  write_file(d / "type", "22\n");
  write_file(d / "cpumask", "0,24\n");
  write_file(d / "format" / "event", "config:0-7\n");
  for (const auto& [name, code] : {std::pair{"energy-cores", "0x01"}, {"energy-pkg", "0x02"}, {"energy-ram", "0x03"}}) {
    write_file(d / "events" / name, std::string("event=") + code + "\n");
    write_file(d / "events" / (std::string(name) + ".scale"), "2.3283064365386962890625e-10\n");
    write_file(d / "events" / (std::string(name) + ".unit"), "Joules\n");
  }
}

TEST(RaplPerfPmu, ParsesTypeCpusEventsAndScale) {
  TempDir t;
  make_intel_pmu(t);
  std::string problem;
  const auto pmu = detail::describe_power_pmu(t.path(), &problem);
  ASSERT_TRUE(pmu) << problem;
  EXPECT_EQ(pmu->type, 22U);
  EXPECT_EQ(pmu->package_cpus, (std::vector<int>{0, 24}));
  ASSERT_EQ(pmu->events.size(), 3U);
  EXPECT_EQ(pmu->events[0].name, "energy-pkg");
  EXPECT_EQ(pmu->events[0].domain, Domain::cpu);
  EXPECT_EQ(pmu->events[0].config, 0x02U);
  EXPECT_DOUBLE_EQ(pmu->events[0].joules_per_count, 2.3283064365386962890625e-10);
  EXPECT_EQ(pmu->events[1].domain, Domain::core);
  EXPECT_EQ(pmu->events[1].config, 0x01U);
  EXPECT_EQ(pmu->events[2].domain, Domain::dram);
  EXPECT_EQ(pmu->events[2].config, 0x03U);
}

TEST(RaplPerfPmu, PlacesTermsWhereTheFormatSays) {
  TempDir t;
  write_file(pmu_dir(t) / "format" / "event", "config:0-7\n");
  write_file(pmu_dir(t) / "format" / "umask", "config:8-15\n");
  EXPECT_EQ(detail::encode_event(pmu_dir(t), "event=0x02,umask=0x3"), 0x0302U);
  EXPECT_EQ(detail::encode_event(pmu_dir(t), "event=2"), 2U);
  EXPECT_FALSE(detail::encode_event(pmu_dir(t), "event=0x1ff")) << "does not fit in 8 bits";
  EXPECT_FALSE(detail::encode_event(pmu_dir(t), "flavour=1")) << "no such format term";
  EXPECT_FALSE(detail::encode_event(pmu_dir(t), "event"));
}

TEST(RaplPerfPmu, ParsesCpuLists) {
  EXPECT_EQ(detail::parse_cpu_list("0"), (std::vector<int>{0}));
  EXPECT_EQ(detail::parse_cpu_list("0-3,8"), (std::vector<int>{0, 1, 2, 3, 8}));
  EXPECT_FALSE(detail::parse_cpu_list("3-1"));
  EXPECT_FALSE(detail::parse_cpu_list(""));
  EXPECT_FALSE(detail::parse_cpu_list("a"));
}

TEST(RaplPerfPmu, MalformedDescriptionsNameTheFile) {
  TempDir t;
  make_intel_pmu(t);
  fs::remove(pmu_dir(t) / "events" / "energy-ram.scale");
  std::string problem;
  EXPECT_FALSE(detail::describe_power_pmu(t.path(), &problem));
  EXPECT_NE(problem.find("energy-ram.scale"), std::string::npos) << problem;

  write_file(pmu_dir(t) / "events" / "energy-ram.scale", "2.3e-10\n");
  write_file(pmu_dir(t) / "events" / "energy-ram.unit", "Watts\n");
  EXPECT_FALSE(detail::describe_power_pmu(t.path(), &problem));
  EXPECT_NE(problem.find("Joules"), std::string::npos) << problem;
}

TEST(RaplPerf, NoPmuIsUnavailableWithAReason) {
  TempDir t;
  SensorPaths paths;
  paths.sysfs_root = t.path();
  const auto source = open_rapl_perf(paths);
  EXPECT_EQ(source->report().status, SourceStatus::unavailable);
  EXPECT_NE(source->report().reason.find("power"), std::string::npos);
  EXPECT_TRUE(source->channels().empty());
}

// The real syscall path: a fake "power" PMU whose type is the kernel's software PMU and whose
// energy-pkg event is cpu-clock (nanoseconds), scaled by 1e-9 so that one "joule" is one second.
TEST(RaplPerf, OpensAndReadsCountersThroughTheKernel) {
  TempDir t;
  const fs::path d = pmu_dir(t);
  write_file(d / "type", "1\n");  // PERF_TYPE_SOFTWARE
  write_file(d / "cpumask", "0\n");
  write_file(d / "format" / "event", "config:0-63\n");
  write_file(d / "events" / "energy-pkg", "event=0x0\n");  // PERF_COUNT_SW_CPU_CLOCK
  write_file(d / "events" / "energy-pkg.scale", "1e-9\n");
  write_file(d / "events" / "energy-pkg.unit", "Joules\n");
  SensorPaths paths;
  paths.sysfs_root = t.path();
  const auto source = open_rapl_perf(paths);
  if (source->report().status != SourceStatus::ok) {
    GTEST_SKIP() << "the kernel refuses system-wide perf counters here: " << source->report().reason;
  }
  ASSERT_EQ(source->channels().size(), 1U);
  EXPECT_EQ(source->channels()[0].id, "cpu-0");
  ChannelReading first;
  ChannelReading second;
  const auto t0 = Clock::now();
  source->read(t0, std::span(&first, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t1 = Clock::now();
  source->read(t1, std::span(&second, 1));
  EXPECT_TRUE(second.counted);
  const double elapsed = Seconds(t1 - t0).count();
  EXPECT_NEAR((second.energy - first.energy).value, elapsed, 0.02 * elapsed) << "cpu-clock runs with wall time";
}

TEST(RaplPerf, AStepAboveThePackagesStatedLimitIsNotCounted) {
  // The same software counter, which "draws" 1 W, on a machine whose powercap zone of package 0
  // states 0.25 W: with the margin, at most 0.5 W, so every step is a glitch.
  TempDir t;
  const fs::path d = pmu_dir(t);
  write_file(d / "type", "1\n");
  write_file(d / "cpumask", "0\n");
  write_file(d / "format" / "event", "config:0-63\n");
  write_file(d / "events" / "energy-pkg", "event=0x0\n");
  write_file(d / "events" / "energy-pkg.scale", "1e-9\n");
  write_file(d / "events" / "energy-pkg.unit", "Joules\n");
  testing::make_powercap_zone(t.path() / "class" / "powercap" / "intel-rapl:0", "package-0", 0, 1'000'000'000, 250'000);
  SensorPaths paths;
  paths.sysfs_root = t.path();
  const auto source = open_rapl_perf(paths);
  if (source->report().status != SourceStatus::ok) {
    GTEST_SKIP() << "the kernel refuses system-wide perf counters here: " << source->report().reason;
  }
  ChannelReading first;
  ChannelReading second;
  source->read(Clock::now(), std::span(&first, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  source->read(Clock::now(), std::span(&second, 1));
  EXPECT_FALSE(second.counted);
  EXPECT_NE(second.problem.find("at most 0.5 W"), std::string_view::npos) << second.problem;
  EXPECT_DOUBLE_EQ(second.energy.value, 0.0);

  // A user's ceiling wins: at 10 W the same steps count.
  PowerCeilings user;
  user.package = {10.0, true};
  const auto trusted = open_rapl_perf(paths, user);
  trusted->read(Clock::now(), std::span(&first, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  trusted->read(Clock::now(), std::span(&second, 1));
  EXPECT_TRUE(second.counted) << second.problem;
}

TEST(RaplPerf, RefusalIsDeniedWithTheRemedy) {
  TempDir t;
  make_intel_pmu(t);
  write_file(pmu_dir(t) / "type", "1\n");  // the software PMU: present everywhere
  write_file(pmu_dir(t) / "events" / "energy-pkg", "event=0x0\n");
  std::filesystem::permissions(t.path(), std::filesystem::perms::all, std::filesystem::perm_options::add);
  SensorPaths paths;
  paths.sysfs_root = t.path();
  const auto report = testing::report_as_unprivileged([&] { return open_rapl_perf(paths); });
  if (!report) GTEST_SKIP() << "cannot become an unprivileged user here";
  if (report->status == SourceStatus::ok)
    GTEST_SKIP() << "this kernel lets unprivileged users open system-wide counters";
  EXPECT_EQ(report->status, SourceStatus::denied) << report->reason;
  EXPECT_NE(report->reason.find("perf_event_paranoid is"), std::string::npos) << report->reason;
  EXPECT_NE(report->remedy.find("perf_event_paranoid=0"), std::string::npos);
  EXPECT_NE(report->remedy.find("cap_perfmon"), std::string::npos);
}

}  // namespace
}  // namespace joulebench

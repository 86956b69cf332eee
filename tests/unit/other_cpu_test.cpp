// Other processes' CPU use around a run, on a fake /proc/stat: the machine's busy time less
// joulebench's own and the command's.
#include <gtest/gtest.h>
#include <unistd.h>

#include "fakes/fake_tree.hpp"
#include "joulebench/sensors.hpp"
#include "run/other_cpu.hpp"

namespace joulebench {
namespace {

using detail::OtherCpu;
using testing::TempDir;

TEST(OtherCpu, IsBusyBeyondTheLimitAndProcStatsRounding) {
  // 2 s at a limit of 0.05 cores: 0.1 CPU-s allowed, plus 0.03 s of rounding.
  EXPECT_FALSE((OtherCpu{Seconds(0.12), Seconds(2)}.busy(0.05)));
  EXPECT_TRUE((OtherCpu{Seconds(0.14), Seconds(2)}.busy(0.05)));
  EXPECT_DOUBLE_EQ((OtherCpu{Seconds(1.5), Seconds(2)}.cores()), 0.75);
  EXPECT_FALSE((OtherCpu{Seconds(0.02), Seconds(0.1)}.busy(0.05))) << "two ticks on a short window are rounding";
  EXPECT_EQ((OtherCpu{Seconds(1), Seconds(0)}.cores()), 0.0);
}

TEST(OtherCpu, IsTheMachinesBusyTimeLessJoulebenchsAndTheCommands) {
  TempDir proc;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  testing::write_proc_stat(proc.path(), 1000, 500, 8000, 2);
  testing::write_file(proc.path() / "meminfo", "MemTotal: 1000 kB\n");
  SensorOptions options;
  options.paths.sysfs_root = proc.path() / "sys";
  options.paths.procfs_root = proc.path();
  options.only_sources = {"estimate"};
  SensorSet sensors = SensorSet::open(options);
  const auto mark = detail::mark_other_cpu(sensors);
  ASSERT_TRUE(mark.has_value());
  // 3 CPU-seconds of busy time later, of which the command used 1: others used about 2 (this
  // test's own CPU time in between is taken off too, and is tiny).
  testing::write_proc_stat(proc.path(), 1000 + static_cast<std::uint64_t>(2 * ticks),
                           500 + static_cast<std::uint64_t>(ticks), 8000, 2);
  const auto others = detail::other_cpu_since(sensors, *mark, Seconds(1.0));
  ASSERT_TRUE(others.has_value());
  EXPECT_NEAR(others->cpu.count(), 2.0, 0.05);
  // Never negative: a command that used more than the machine counted leaves others at 0.
  const auto none = detail::other_cpu_since(sensors, *mark, Seconds(10.0));
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->cpu.count(), 0.0);
}

}  // namespace
}  // namespace joulebench

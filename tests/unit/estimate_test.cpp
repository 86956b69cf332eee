// The estimate source on a fake /proc: at a known utilisation it gives the model's figure.
#include <gtest/gtest.h>

#include <cstdlib>

#include "fakes/fake_tree.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {
namespace {

using testing::TempDir;

struct FakeProc {
  TempDir dir;
  SensorPaths paths() const {
    SensorPaths p;
    p.sysfs_root = dir.path() / "sys";
    p.procfs_root = dir.path();
    return p;
  }
};

Clock::time_point at(double seconds) {
  return Clock::time_point{} + std::chrono::duration_cast<Clock::duration>(Seconds(50.0 + seconds));
}

TEST(Estimate, KnownUtilisationGivesTheModelsFigure) {
  FakeProc proc;
  testing::write_proc_stat(proc.dir.path(), 1000, 500, 8000, 4);
  testing::write_file(proc.dir.path() / "meminfo", "MemTotal:        8000000 kB\nMemFree: 1 kB\n");
  const EstimateModel model{1.0, 3.0, 0.5};
  const auto source = open_estimate(proc.paths(), model);
  ASSERT_EQ(source->report().status, SourceStatus::ok);
  ASSERT_EQ(source->channels().size(), 2U);
  for (const auto& c : source->channels()) {
    EXPECT_TRUE(c.estimated);
    EXPECT_EQ(c.method, Method::model);
    EXPECT_NE(c.origin.find("ccf-linear"), std::string::npos) << "the model is named";
  }
  std::array<ChannelReading, 2> r{};
  source->read(at(0), r);
  // Two seconds at 50 % of 4 CPUs: 4 CPU-seconds busy = 400 ticks (USER_HZ 100), 300 user + 100 system.
  testing::write_proc_stat(proc.dir.path(), 1300, 600, 8400, 4);
  source->read(at(2), r);
  // P = 4 x (1 + 0.5 x (3 - 1)) = 8 W for 2 s.
  EXPECT_DOUBLE_EQ(r[0].energy.value, 16.0);
  // 8,000,000 kB = 8.192 GB at 0.5 W/GB for 2 s.
  EXPECT_DOUBLE_EQ(r[1].energy.value, 8.192);
}

TEST(Estimate, IdleMachineCostsTheIdleTerm) {
  FakeProc proc;
  testing::write_proc_stat(proc.dir.path(), 10, 10, 10, 2);
  const auto source = open_estimate(proc.paths(), EstimateModel{0.74, 3.5, 0.392});
  ASSERT_EQ(source->channels().size(), 1U) << "no meminfo: no DRAM channel";
  ChannelReading r;
  source->read(at(0), std::span(&r, 1));
  testing::write_proc_stat(proc.dir.path(), 10, 10, 2010, 2);
  source->read(at(10), std::span(&r, 1));
  EXPECT_NEAR(r.energy.value, 2 * 0.74 * 10, 1e-12);
}

TEST(Estimate, ConstantsComeFromTheEnvironment) {
  ::setenv("JOULEBENCH_ESTIMATE_CPU_IDLE_W", "2", 1);
  ::setenv("JOULEBENCH_ESTIMATE_CPU_MAX_W", "10.5", 1);
  ::setenv("JOULEBENCH_ESTIMATE_DRAM_W_PER_GB", "0.25", 1);
  const EstimateModel model = EstimateModel::from_environment();
  EXPECT_EQ(model.cpu_idle_w_per_thread, 2.0);
  EXPECT_EQ(model.cpu_max_w_per_thread, 10.5);
  EXPECT_EQ(model.dram_w_per_gb, 0.25);
  EXPECT_NE(model.describe().find("2-10.5 W"), std::string::npos) << model.describe();

  ::setenv("JOULEBENCH_ESTIMATE_CPU_MAX_W", "lots", 1);
  try {
    EstimateModel::from_environment();
    ADD_FAILURE() << "a malformed constant must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("JOULEBENCH_ESTIMATE_CPU_MAX_W"), std::string::npos);
  }
  ::setenv("JOULEBENCH_ESTIMATE_CPU_MAX_W", "1", 1);
  EXPECT_THROW(EstimateModel::from_environment(), std::invalid_argument) << "max below idle";
  ::unsetenv("JOULEBENCH_ESTIMATE_CPU_IDLE_W");
  ::unsetenv("JOULEBENCH_ESTIMATE_CPU_MAX_W");
  ::unsetenv("JOULEBENCH_ESTIMATE_DRAM_W_PER_GB");
  EXPECT_EQ(EstimateModel::from_environment().cpu_max_w_per_thread, 3.5);
}

TEST(Estimate, UnreadableProcIsAnError) {
  FakeProc proc;
  const auto source = open_estimate(proc.paths(), EstimateModel{});
  EXPECT_EQ(source->report().status, SourceStatus::error);
  EXPECT_TRUE(source->channels().empty());
}

TEST(MachineCpu, ReadsBusyAndTotalTime) {
  FakeProc proc;
  testing::write_proc_stat(proc.dir.path(), 300, 100, 600, 3);
  MachineCpuReader reader(proc.dir.path());
  EXPECT_EQ(reader.logical_cpus(), 3);
  const auto times = reader.read();
  ASSERT_TRUE(times);
  EXPECT_DOUBLE_EQ(times->busy.count(), 4.0);
  EXPECT_DOUBLE_EQ(times->total.count(), 10.0);
}

}  // namespace
}  // namespace joulebench

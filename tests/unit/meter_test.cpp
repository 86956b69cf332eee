// The meter over scripted sources whose true energy is known at every instant.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "fakes/scripted_source.hpp"
#include "joulebench/meter.hpp"

namespace joulebench {
namespace {

using testing::RecordingSink;
using testing::ScriptedSource;

SensorSet single_source(std::unique_ptr<EnergySource> source) {
  std::vector<std::unique_ptr<EnergySource>> sources;
  sources.push_back(std::move(source));
  SensorOptions options;
  options.paths.procfs_root = "/proc";
  return SensorSet::from_sources(std::move(sources), options);
}

TEST(Meter, TotalsComeFromTheWindowsEdgesExactly) {
  // 40 W constant: the total must be 40 W times the window, to the nanosecond of the edges.
  SensorSet sensors = single_source(std::make_unique<ScriptedSource>(Domain::cpu, [](double t) { return 40.0 * t; }));
  RecordingSink sink;
  Meter meter(sensors, MeterOptions{Seconds(0.01), &sink});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const MeterWindow w = meter.stop();
  ASSERT_EQ(w.totals.size(), 1U);
  EXPECT_NEAR(w.totals[0].energy.value, 40.0 * w.duration().count(), 1e-9);
  EXPECT_TRUE(w.complete());
  EXPECT_GE(w.samples, 10U);
  EXPECT_EQ(w.samples, sink.samples.size() + 1) << "every read after the first closes one interval";
  EXPECT_EQ(sink.channel_count, 1U);

  double timeline_energy = 0;
  for (const auto& s : sink.samples) {
    EXPECT_NEAR(s.channels[0].power.value, 40.0, 1e-6);
    timeline_energy += s.channels[0].power.value * s.interval.count();
  }
  EXPECT_NEAR(timeline_energy, w.totals[0].energy.value, 1e-6) << "the timeline adds up to the total";
  EXPECT_NEAR(sink.samples.back().time.count(), w.duration().count(), 1e-9);
  EXPECT_GT(w.sampler_cpu_time.count(), 0.0);
  EXPECT_LT(w.sampler_cpu_time.count(), 0.05) << "the sampler must stay cheap";
}

TEST(Meter, UnmeasuredIntervalsFlagTheWindowAndAddNothing) {
  // Reads 3 and 4 fail: their intervals are lost, and the window says so.
  auto source = std::make_unique<ScriptedSource>(
      Domain::gpu, [](double t) { return 100.0 * t; }, std::vector<int>{3, 4});
  SensorSet sensors = single_source(std::move(source));
  RecordingSink sink;
  Meter meter(sensors, MeterOptions{Seconds(0.01), &sink});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const MeterWindow w = meter.stop();
  EXPECT_FALSE(w.complete());
  EXPECT_EQ(w.totals[0].unmeasured_intervals, 2U);
  EXPECT_EQ(w.totals[0].first_problem, "scripted failure");
  double lost = 0;
  for (const auto& s : sink.samples) {
    if (!s.channels[0].counted) lost += s.interval.count();
  }
  EXPECT_NEAR(w.totals[0].unmeasured.count(), lost, 1e-12);
  EXPECT_NEAR(w.totals[0].energy.value, 100.0 * (w.duration().count() - lost), 1e-6);
  EXPECT_GT(w.totals[0].energy.value, 0.0);
}

TEST(Meter, ReadingsBetweenSamplesAreExactAndCloseNoTimelineInterval) {
  SensorSet sensors = single_source(std::make_unique<ScriptedSource>(Domain::cpu, [](double t) { return 40.0 * t; }));
  RecordingSink sink;
  Meter meter(sensors, MeterOptions{Seconds(0.05), &sink});
  meter.start();
  std::vector<Meter::Mark> readings;
  for (int i = 0; i < 200; ++i) {
    readings.push_back(meter.reading());
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const Meter::Mark mark = meter.mark();
  const MeterWindow w = meter.stop();
  for (const auto& r : readings) EXPECT_NEAR(r.energy[0].value, 40.0 * r.time.count(), 1e-9);
  EXPECT_NEAR(mark.energy[0].value, 40.0 * mark.time.count(), 1e-9);
  // 200 readings add no sample; the mark adds one: the timeline still adds up to the total.
  EXPECT_EQ(w.samples, sink.samples.size() + 1);
  EXPECT_LT(sink.samples.size(), 10U);
  double timeline_energy = 0;
  for (const auto& s : sink.samples) timeline_energy += s.channels[0].power.value * s.interval.count();
  EXPECT_NEAR(timeline_energy, w.totals[0].energy.value, 1e-6);
}

TEST(Meter, AReadingThatFindsALostStretchCountsItUnmeasured) {
  // The source's second read fails: here a reading() between samples.
  auto source = std::make_unique<ScriptedSource>(
      Domain::gpu, [](double t) { return 100.0 * t; }, std::vector<int>{2});
  SensorSet sensors = single_source(std::move(source));
  Meter meter(sensors, MeterOptions{Seconds(1.0), nullptr});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Meter::Mark lost = meter.reading();
  EXPECT_GT(lost.unmeasured[0].count(), 0.015);
  EXPECT_EQ(lost.problems[0], "scripted failure");
  const MeterWindow w = meter.stop();
  EXPECT_FALSE(w.complete());
  EXPECT_NEAR(w.totals[0].unmeasured.count(), lost.unmeasured[0].count(), 1e-12);
}

TEST(Meter, IntervalShrinksToWhatASourceNeeds) {
  SensorSet sensors = single_source(std::make_unique<ScriptedSource>(
      Domain::cpu, [](double t) { return t; }, std::vector<int>{}, Seconds(0.004)));
  Meter meter(sensors, MeterOptions{Seconds(0.1), nullptr});
  EXPECT_DOUBLE_EQ(meter.interval().count(), 0.004);
}

TEST(Meter, SumsChannelsIntoDomains) {
  std::vector<std::unique_ptr<EnergySource>> sources;
  sources.push_back(std::make_unique<ScriptedSource>(Domain::cpu, [](double t) { return 10.0 * t; }));
  sources.push_back(std::make_unique<ScriptedSource>(Domain::cpu, [](double t) { return 5.0 * t; }));
  SensorOptions options;
  SensorSet sensors = SensorSet::from_sources(std::move(sources), options);
  EXPECT_EQ(sensors.channels().size(), 1U) << "a domain comes from the first source that offers it";

  std::vector<std::unique_ptr<EnergySource>> two;
  two.push_back(std::make_unique<ScriptedSource>(Domain::cpu, [](double t) { return 10.0 * t; }));
  two.push_back(std::make_unique<ScriptedSource>(Domain::dram, [](double t) { return 2.0 * t; }));
  SensorSet both = SensorSet::from_sources(std::move(two), options);
  Meter meter(both, MeterOptions{Seconds(0.01), nullptr});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto domains = energy_by_domain(meter.stop());
  ASSERT_EQ(domains.size(), 2U);
  EXPECT_EQ(domains[0].domain, Domain::cpu);
  EXPECT_EQ(domains[1].domain, Domain::dram);
  EXPECT_NEAR(domains[0].energy.value / domains[1].energy.value, 5.0, 1e-6);
}

}  // namespace
}  // namespace joulebench

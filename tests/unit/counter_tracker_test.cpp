// CounterTracker, the one place every hardware counter's reads become energy: wraps, glitches,
// steps no device can draw, and since when a counter has stood still.
#include <gtest/gtest.h>

#include "sensors/counter_tracker.hpp"

namespace joulebench {
namespace {

using detail::CounterTracker;

Clock::time_point at(double seconds) {
  return Clock::time_point{} + std::chrono::duration_cast<Clock::duration>(Seconds(1000.0 + seconds));
}

TEST(CounterTracker, AStepWithinTheCeilingAndItsSlackCounts) {
  // 100 W with 10 ms of slack: in 40 ms at most 5 J.
  CounterTracker tracker(1e-6, Watts(100.0), Seconds(0.01));
  EXPECT_TRUE(tracker.update(0, at(0)).counted);
  EXPECT_TRUE(tracker.update(4'900'000, at(0.04)).counted);
  EXPECT_EQ(tracker.total(), 4'900'000u);
  const auto jump = tracker.update(4'900'000 + 5'100'000, at(0.08));
  EXPECT_FALSE(jump.counted);
  EXPECT_NE(jump.problem.find("jumped by 5.1 J"), std::string_view::npos) << jump.problem;
  EXPECT_EQ(tracker.total(), 4'900'000u) << "the glitch adds nothing";
  EXPECT_TRUE(tracker.update(10'000'000 + 1'000'000, at(0.12)).counted) << "and counting goes on from it";
  EXPECT_EQ(tracker.total(), 5'900'000u);
}

TEST(CounterTracker, KnowsSinceWhenTheCounterStoodStill) {
  CounterTracker tracker(1.0, Watts(1000.0), Seconds(0.01));
  EXPECT_EQ(tracker.update(10, at(0)).unchanged_since, at(0));
  EXPECT_EQ(tracker.update(10, at(0.5)).unchanged_since, at(0));
  EXPECT_EQ(tracker.update(11, at(0.6)).unchanged_since, at(0.6));
  EXPECT_EQ(tracker.update(11, at(2.0)).unchanged_since, at(0.6));
}

TEST(CounterTracker, AFailureOrADecreaseStartsTheHistoryAgain) {
  // A 64-bit counter (perf) that goes backwards is no wrap: the interval is lost, and a stall is
  // counted from there, never from before (which the meter already counted as unmeasured).
  CounterTracker tracker(1.0, Watts(1000.0), Seconds(0.01));
  tracker.update(100, at(0));
  const auto back = tracker.update(50, at(0.5));
  EXPECT_FALSE(back.counted);
  EXPECT_EQ(back.unchanged_since, at(0.5));
  EXPECT_EQ(tracker.update(50, at(1.2)).unchanged_since, at(0.5));
  EXPECT_FALSE(tracker.update(std::nullopt, at(1.3)).counted);
  const auto again = tracker.update(50, at(1.4));
  EXPECT_FALSE(again.counted) << "the interval over the failed read is lost";
  EXPECT_EQ(again.unchanged_since, at(1.4));
}

TEST(CounterTracker, AWrapIsCorrectedOnlyWhenPlausible) {
  CounterTracker tracker(1e-6, Watts(10.0), Seconds(0.01), 1'000'000);
  tracker.update(990'000, at(0));
  const auto wrap = tracker.update(5'000, at(1.0));  // 15 mJ in 1 s: a wrap
  EXPECT_TRUE(wrap.counted);
  EXPECT_EQ(tracker.total(), 15'000u);
  const auto glitch = tracker.update(4'000, at(1.001));  // as a wrap, 0.999 J in 1 ms: 1 kW
  EXPECT_FALSE(glitch.counted);
  EXPECT_NE(glitch.problem.find("backwards"), std::string_view::npos);
}

}  // namespace
}  // namespace joulebench

// Attribution arithmetic: samples, intervals and cProfile totals placed on a known power timeline.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "fakes/cli_runner.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/report.hpp"

namespace joulebench {
namespace {

constexpr std::int64_t kStart = 1'000'000'000;  // the window's start on the monotonic clock
constexpr std::int64_t kMs = 1'000'000;

/// A run of `powers.size()` timeline intervals of 10 ms each, at the given total power.
RunEnergy run_with(const std::vector<double>& powers, std::optional<double> idle_w = std::nullopt,
                   bool estimated = false) {
  RunEnergy run;
  run.duration = Seconds(0.010 * static_cast<double>(powers.size()));
  run.timeline.start_ns = kStart;
  double total = 0;
  for (std::size_t k = 0; k < powers.size(); ++k) {
    run.timeline.end_ns.push_back(kStart + static_cast<std::int64_t>(k + 1) * 10 * kMs);
    run.timeline.total_w.push_back(powers[k]);
    if (std::isfinite(powers[k])) total += powers[k] * 0.010;
  }
  run.total = Joules(total);
  if (idle_w) run.idle_power = Watts(*idle_w);
  run.estimated = estimated;
  run.source = estimated ? "estimate" : "rapl-powercap";
  return run;
}

void add_sample(Trace& t, std::int64_t at_ms, std::uint64_t thread, const std::string& stack) {
  t.samples.push_back({kStart + at_ms * kMs, thread, t.intern(stack)});
}

const FunctionCost& find(const Profile& p, const std::string& name) {
  for (const auto& f : p.functions) {
    if (f.name == name) return f;
  }
  ADD_FAILURE() << "no function " << name;
  static const FunctionCost none;
  return none;
}

constexpr double kTolerance = 1e-9;

TEST(ProfileAttribution, SamplesTakeThePowerOfTheirTime) {
  Trace t;
  for (int k = 0; k < 10; ++k) add_sample(t, 5 * k, 1, "main;a");
  for (int k = 10; k < 20; ++k) add_sample(t, 5 * k, 1, "main;b");
  // 0-50 ms at 10 W, 50-100 ms at 30 W.
  const Profile p =
      attribute(t, ProfileMode::python, run_with({10, 10, 10, 10, 10, 30, 30, 30, 30, 30}), {Seconds(0.005)});
  EXPECT_EQ(p.energy_rule, "timeline");
  EXPECT_EQ(p.records, 20u);
  EXPECT_EQ(p.threads, 1u);
  const auto& a = find(p, "a");
  const auto& b = find(p, "b");
  const auto& main = find(p, "main");
  EXPECT_NEAR(a.self_time.count(), 0.05, kTolerance);
  EXPECT_NEAR(a.energy->value, 0.5, kTolerance);
  EXPECT_NEAR(b.energy->value, 1.5, kTolerance);
  EXPECT_NEAR(main.self_time.count(), 0.0, kTolerance);
  EXPECT_NEAR(main.total_time.count(), 0.1, kTolerance);
  EXPECT_NEAR(main.total_energy->value, 2.0, kTolerance);
  EXPECT_EQ(p.functions.front().name, "b");  // highest energy first
  EXPECT_NEAR(p.outside.self_time.count(), 0.0, kTolerance);
  EXPECT_NEAR(p.outside.energy->value, 0.0, kTolerance);
  EXPECT_FALSE(a.calls.has_value());  // a sampler cannot count calls
}

TEST(ProfileAttribution, PowerIsSplitEquallyAmongBusyThreads) {
  Trace t;
  for (int k = 0; k < 20; ++k) {
    add_sample(t, 5 * k, 1, "a");
    add_sample(t, 5 * k, 2, "b");
  }
  for (int k = 0; k < 10; ++k) add_sample(t, 5 * k, 3, "c");  // a third thread, only in the first half
  const Profile p = attribute(t, ProfileMode::python, run_with(std::vector<double>(10, 12.0)), {Seconds(0.005)});
  EXPECT_EQ(p.threads, 3u);
  // First half: 12 W over three threads; second half: over two.
  EXPECT_NEAR(find(p, "a").energy->value, 0.05 * 4 + 0.05 * 6, kTolerance);
  EXPECT_NEAR(find(p, "b").energy->value, 0.05 * 4 + 0.05 * 6, kTolerance);
  EXPECT_NEAR(find(p, "c").energy->value, 0.05 * 4, kTolerance);
  EXPECT_NEAR(find(p, "c").self_time.count(), 0.05, kTolerance);
}

TEST(ProfileAttribution, ASampleAcrossTwoTimelineIntervalsGetsEachPartAtItsPower) {
  Trace t;
  add_sample(t, 5, 1, "f");  // the only sample: it stands for one interval, 5-15 ms
  const Profile p = attribute(t, ProfileMode::python, run_with({10, 30}), {Seconds(0.010)});
  EXPECT_NEAR(find(p, "f").energy->value, 0.005 * 10 + 0.005 * 30, kTolerance);
  EXPECT_NEAR(p.outside.self_time.count(), 0.010, kTolerance);
  EXPECT_NEAR(p.outside.energy->value, 0.005 * 10 + 0.005 * 30, kTolerance);
}

TEST(ProfileAttribution, ASampleStandsForAtMostTwoIntervals) {
  Trace t;
  add_sample(t, 0, 1, "f");
  add_sample(t, 50, 1, "g");  // 50 ms later: f is charged 2 x 5 ms, not 50 ms
  const Profile p = attribute(t, ProfileMode::python, run_with(std::vector<double>(10, 10.0)), {Seconds(0.005)});
  EXPECT_NEAR(find(p, "f").self_time.count(), 0.010, kTolerance);
  EXPECT_NEAR(find(p, "g").self_time.count(), 0.005, kTolerance);  // the last sample: one interval
  EXPECT_NEAR(p.outside.self_time.count(), 0.1 - 0.015, kTolerance);
}

TEST(ProfileAttribution, IdlePowerSeparatesIdleFromDynamicEnergy) {
  Trace t;
  for (int k = 0; k < 10; ++k) add_sample(t, 5 * k, 1, "a");
  for (int k = 10; k < 20; ++k) add_sample(t, 5 * k, 1, "b");
  const Profile p =
      attribute(t, ProfileMode::python, run_with({10, 10, 10, 10, 10, 30, 30, 30, 30, 30}, 5.0), {Seconds(0.005)});
  EXPECT_NEAR(find(p, "a").idle_energy->value, 0.25, kTolerance);
  EXPECT_NEAR(find(p, "a").dynamic_energy->value, 0.25, kTolerance);
  EXPECT_NEAR(find(p, "b").idle_energy->value, 0.25, kTolerance);
  EXPECT_NEAR(find(p, "b").dynamic_energy->value, 1.25, kTolerance);
}

TEST(ProfileAttribution, UnmeasuredIntervalsGiveNoEnergyAndANote) {
  Trace t;
  for (int k = 0; k < 4; ++k) add_sample(t, 5 * k, 1, "a");
  const Profile p =
      attribute(t, ProfileMode::python, run_with({10, std::numeric_limits<double>::quiet_NaN()}), {Seconds(0.005)});
  EXPECT_NEAR(find(p, "a").energy->value, 0.1, kTolerance);
  ASSERT_FALSE(p.notes.empty());
  EXPECT_NE(p.notes.back().find("0.010 s of profiled time fell where power was not measured"), std::string::npos)
      << p.notes.back();
}

TEST(ProfileAttribution, IntervalSelfTimeExcludesChildren) {
  Trace t;
  t.intervals.push_back({kStart, kStart + 100 * kMs, 1, t.intern("step")});
  t.intervals.push_back({kStart + 10 * kMs, kStart + 40 * kMs, 1, t.intern("step;mm")});
  t.intervals.push_back({kStart + 60 * kMs, kStart + 70 * kMs, 1, t.intern("step;mm")});
  t.intervals.push_back({kStart + 20 * kMs, kStart + 30 * kMs, 1, t.intern("step;mm;add")});
  const Profile p = attribute(t, ProfileMode::torch, run_with(std::vector<double>(10, 10.0)));
  const auto& step = find(p, "step");
  const auto& mm = find(p, "mm");
  const auto& add = find(p, "add");
  EXPECT_NEAR(step.self_time.count(), 0.060, kTolerance);
  EXPECT_NEAR(step.total_time.count(), 0.100, kTolerance);
  EXPECT_NEAR(mm.self_time.count(), 0.030, kTolerance);
  EXPECT_NEAR(mm.total_time.count(), 0.040, kTolerance);
  EXPECT_NEAR(add.self_time.count(), 0.010, kTolerance);
  EXPECT_EQ(step.calls, 1u);
  EXPECT_EQ(mm.calls, 2u);
  EXPECT_NEAR(mm.energy->value, 0.3, kTolerance);
  EXPECT_NEAR(step.total_energy->value, 1.0, kTolerance);
  t.call_counts["mm"] = 7;  // a writer's own count wins
  EXPECT_EQ(find(attribute(t, ProfileMode::torch, run_with(std::vector<double>(10, 10.0))), "mm").calls, 7u);
}

TEST(ProfileAttribution, CProfileTotalsTakeTheAveragePower) {
  Trace t;
  t.functions.push_back({"f (a.py:1)", 3, 30 * kMs, 50 * kMs});
  t.functions.push_back({"g (a.py:9)", 1000, 20 * kMs, 20 * kMs});
  const Profile p = attribute(t, ProfileMode::cprofile, run_with(std::vector<double>(10, 20.0), 5.0));
  EXPECT_EQ(p.energy_rule, "average power");
  const auto& f = find(p, "f (a.py:1)");
  EXPECT_EQ(f.calls, 3u);
  EXPECT_NEAR(f.energy->value, 0.6, kTolerance);
  EXPECT_NEAR(f.total_energy->value, 1.0, kTolerance);
  EXPECT_NEAR(f.idle_energy->value, 0.15, kTolerance);
  EXPECT_NEAR(p.outside.self_time.count(), 0.05, kTolerance);
  EXPECT_NEAR(p.outside.energy->value, 1.0, kTolerance);
  bool said = false;
  for (const auto& note : p.notes) said = said || note.find("energy by average power") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(ProfileAttribution, SmallFunctionsFoldIntoOther) {
  Trace t;
  t.functions.push_back({"big", 1, 60 * kMs, 60 * kMs});
  t.functions.push_back({"mid", 1, 30 * kMs, 30 * kMs});
  t.functions.push_back({"tiny1", 1, kMs / 2, kMs / 2});
  t.functions.push_back({"tiny2", 1, kMs / 2, kMs / 2});
  const Profile p = attribute(t, ProfileMode::cprofile, run_with(std::vector<double>(10, 10.0)));
  auto rows = profile_rows(p, 0, 0.01);
  ASSERT_EQ(rows.size(), 4u);  // big, mid, other, outside
  EXPECT_EQ(rows[0].name, "big");
  EXPECT_EQ(rows[2].name, "other (2 functions)");
  EXPECT_EQ(rows[2].functions, 2u);
  EXPECT_NEAR(rows[2].energy->value, 0.01, kTolerance);
  EXPECT_EQ(rows[3].name, "(outside profiled functions)");
  rows = profile_rows(p, 1, 0.0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].name, "other (3 functions)");
}

TEST(ProfileAttribution, FormatsLabelEstimatedEnergy) {
  Trace t;
  for (int k = 0; k < 20; ++k) add_sample(t, 5 * k, 1, k < 10 ? "main;a" : "main;b");
  const Profile p =
      attribute(t, ProfileMode::python, run_with(std::vector<double>(10, 10.0), std::nullopt, true), {Seconds(0.005)});
  const std::string table = format_profile(p, ProfileFormat::table, 20, 0.01);
  EXPECT_NE(table.find("energy J (estimated)"), std::string::npos) << table;
  EXPECT_NE(table.find("ESTIMATED"), std::string::npos) << table;
  const std::string csv = format_profile(p, ProfileFormat::csv, 20, 0.01);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "mode,function,functions,calls,self_s,self_pct,total_s,total_pct,energy_j,energy_pct,total_energy_j,"
            "idle_energy_j,dynamic_energy_j,energy_estimated,energy_rule");
  EXPECT_NE(csv.find("\npython,a,1,,0.0"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",true,timeline"), std::string::npos) << csv;
  const auto json = nlohmann::json::parse(format_profile(p, ProfileFormat::json, 20, 0.01));
  EXPECT_EQ(json["estimated"], true);
  EXPECT_EQ(json["rows"].size(), 2u);
  EXPECT_NEAR(json["rows"][0]["energy_j"].get<double>(), 0.5, kTolerance);
  EXPECT_EQ(format_profile(p, ProfileFormat::folded, 0, 0), "main;a 50000\nmain;b 50000\n");
  EXPECT_EQ(format_profile(p, ProfileFormat::folded, 0, 0, true), "main;a 500000\nmain;b 500000\n");
  const StoredProfile stored = stored_profile(p);
  EXPECT_EQ(stored.mode, "python");
  EXPECT_TRUE(stored.estimated);
  EXPECT_EQ(stored.functions.size(), 3u);  // main, a, b
}

TEST(ProfileAttribution, FormatsEscapeFunctionNames) {
  Trace t;
  t.functions.push_back({"=HYPERLINK(\"x\")", 1, 60 * kMs, 60 * kMs});
  t.functions.push_back({"<img src=x onerror=alert(1)>|__init__", 1, 40 * kMs, 40 * kMs});
  const Profile p = attribute(t, ProfileMode::cprofile, run_with(std::vector<double>(10, 10.0)));
  const auto csv = testing::lines_of(format_profile(p, ProfileFormat::csv, 0, 0));
  ASSERT_GE(csv.size(), 3u);
  EXPECT_EQ(testing::csv_fields(csv[1]).at(1), "'=HYPERLINK(\"x\")") << "a spreadsheet would run it";
  const std::string md = format_profile(p, ProfileFormat::md, 0, 0);
  EXPECT_EQ(md.find('<'), std::string::npos) << md;
  EXPECT_NE(md.find("| &lt;img src=x onerror=alert(1)&gt;\\|\\_\\_init\\_\\_ |"), std::string::npos) << md;
}

}  // namespace
}  // namespace joulebench

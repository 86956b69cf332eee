// RaplPowercapSource on fake powercap trees: zones found without double counting, exact energy
// across several wraps, and counters that misbehave flag the window instead of corrupting it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "fakes/fake_tree.hpp"
#include "fakes/scripted_source.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr std::uint64_t kRealisticRangeUj = 262143328850;  // a common max_energy_range_uj

struct PowercapTree {
  TempDir dir;
  fs::path zones() const { return dir.path() / "class" / "powercap"; }
  SensorPaths paths() const {
    SensorPaths p;
    p.sysfs_root = dir.path();
    p.procfs_root = dir.path() / "proc";
    p.nvml_library = (dir.path() / "no-nvml.so").string();
    return p;
  }
};

/// Two packages, each with core and dram subzones, a psys zone, and an MMIO duplicate of package 0.
void make_two_socket_tree(const PowercapTree& t, std::uint64_t range_uj, std::uint64_t max_power_uw) {
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 0, range_uj, max_power_uw);
  testing::make_powercap_zone(t.zones() / "intel-rapl:0:0", "core", 0, range_uj, max_power_uw);
  testing::make_powercap_zone(t.zones() / "intel-rapl:0:1", "dram", 0, range_uj, max_power_uw);
  testing::make_powercap_zone(t.zones() / "intel-rapl:1", "package-1", 0, range_uj, max_power_uw);
  testing::make_powercap_zone(t.zones() / "intel-rapl:1:0", "dram", 0, range_uj, max_power_uw);
  testing::make_powercap_zone(t.zones() / "intel-rapl:2", "psys", 0, range_uj, max_power_uw);
  testing::make_powercap_zone(t.zones() / "intel-rapl-mmio:0", "package-0", 0, range_uj, max_power_uw);
  testing::write_file(t.zones() / "intel-rapl" / "enabled", "1\n");
}

/// The real powercap source on a fake tree, its reads taking turns with the test's writes.
SensorSet powercap_sensors(const PowercapTree& t, std::mutex& turns) {
  std::vector<std::unique_ptr<EnergySource>> sources;
  sources.push_back(std::make_unique<testing::TurnTakingSource>(open_rapl_powercap(t.paths()), turns));
  return SensorSet::from_sources(std::move(sources), SensorOptions{t.paths(), {}, {}, {}});
}

TEST(RaplPowercap, FindsEveryZoneOnceWithItsPackage) {
  PowercapTree t;
  make_two_socket_tree(t, kRealisticRangeUj, 0);
  const auto source = open_rapl_powercap(t.paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  std::map<std::string, Domain> ids;
  for (const auto& c : source->channels()) {
    EXPECT_EQ(c.source, "rapl-powercap");
    EXPECT_EQ(c.method, Method::counter);
    EXPECT_FALSE(c.estimated);
    ids[c.id] = c.domain;
  }
  const std::map<std::string, Domain> expected = {{"cpu-0", Domain::cpu},   {"cpu-1", Domain::cpu},
                                                  {"core-0", Domain::core}, {"dram-0", Domain::dram},
                                                  {"dram-1", Domain::dram}, {"psys-0", Domain::psys}};
  EXPECT_EQ(ids, expected) << "intel-rapl-mmio must not add a second package-0";
}

TEST(RaplPowercap, DomainsInsideOthersAreNotAddedToTheTotal) {
  EXPECT_TRUE(counts_toward_total(Domain::cpu));
  EXPECT_TRUE(counts_toward_total(Domain::dram));
  EXPECT_TRUE(counts_toward_total(Domain::gpu));
  EXPECT_FALSE(counts_toward_total(Domain::core));
  EXPECT_FALSE(counts_toward_total(Domain::uncore));
  EXPECT_FALSE(counts_toward_total(Domain::psys));
}

TEST(RaplPowercap, ExactEnergyAcrossSeveralWrapsWithTheMeterRunning) {
  PowercapTree t;
  // A 1 J range wraps after 200 steps of 5 mJ: package 0 wraps 3 times in this window.
  constexpr std::uint64_t kRange = 1'000'000;
  make_two_socket_tree(t, kRange, 20'000'000);  // 20 W limit: the meter must read at least every 25 ms
  const std::map<std::string, std::uint64_t> step_uj = {{"intel-rapl:0", 5000},   {"intel-rapl:0:0", 3000},
                                                        {"intel-rapl:0:1", 1500}, {"intel-rapl:1", 7000},
                                                        {"intel-rapl:1:0", 1100}, {"intel-rapl:2", 9000}};
  constexpr int kSteps = 600;

  std::mutex turns;
  SensorSet sensors = powercap_sensors(t, turns);
  ASSERT_EQ(sensors.channels().size(), 6U);

  Meter meter(sensors, MeterOptions{Seconds(0.1), nullptr});
  EXPECT_LE(meter.interval().count(), 0.025 + 1e-9) << "the interval must shrink so no wrap is missed";
  meter.start();
  std::map<std::string, std::uint64_t> counter;
  for (int step = 0; step < kSteps; ++step) {
    {
      std::lock_guard lock(turns);
      for (const auto& [zone, uj] : step_uj) {
        counter[zone] = (counter[zone] + uj) % kRange;
        testing::write_counter(t.zones() / zone / "energy_uj", counter[zone]);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const MeterWindow window = meter.stop();

  ASSERT_TRUE(window.complete());
  EXPECT_GT(window.samples, 10U);
  const std::map<std::string, std::string> zone_of = {{"cpu-0", "intel-rapl:0"},    {"core-0", "intel-rapl:0:0"},
                                                      {"dram-0", "intel-rapl:0:1"}, {"cpu-1", "intel-rapl:1"},
                                                      {"dram-1", "intel-rapl:1:0"}, {"psys-0", "intel-rapl:2"}};
  for (std::size_t i = 0; i < window.channels.size(); ++i) {
    const double known_j = static_cast<double>(step_uj.at(zone_of.at(window.channels[i].id)) * kSteps) * 1e-6;
    EXPECT_DOUBLE_EQ(window.totals[i].energy.value, known_j) << window.channels[i].id;
  }
  const auto by_domain = energy_by_domain(window);
  ASSERT_EQ(by_domain.front().domain, Domain::cpu);
  EXPECT_DOUBLE_EQ(by_domain.front().energy.value, (5000.0 + 7000.0) * kSteps * 1e-6) << "packages are summed";
}

TEST(RaplPowercap, ACounterThatNeverAdvancesMeasuresNothing) {
  // As a Firecracker guest's energy-psys does: the platform counter reads 0 for ever. The package
  // advances in two steps, never standing still for a second, and the integrated-graphics plane
  // may stay idle at zero.
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 5000, kRealisticRangeUj);
  testing::make_powercap_zone(t.zones() / "intel-rapl:0:1", "uncore", 7000, kRealisticRangeUj);
  testing::make_powercap_zone(t.zones() / "intel-rapl:1", "psys", 0, kRealisticRangeUj);
  std::mutex turns;
  SensorSet sensors = powercap_sensors(t, turns);
  ASSERT_EQ(sensors.channels().size(), 3U);

  Meter meter(sensors, MeterOptions{Seconds(0.05), nullptr});
  meter.start();
  for (const std::uint64_t energy_uj : {5030, 5061}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    std::lock_guard lock(turns);
    testing::write_counter(t.zones() / "intel-rapl:0" / "energy_uj", energy_uj);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const MeterWindow window = meter.stop();

  for (std::size_t i = 0; i < window.channels.size(); ++i) {
    const ChannelTotal& total = window.totals[i];
    if (window.channels[i].domain == Domain::psys) {
      EXPECT_FALSE(total.complete()) << "zero joules from a frozen counter is no measurement";
      EXPECT_NEAR(total.unmeasured.count(), window.duration().count(), 1e-9);
      EXPECT_NE(total.first_problem.find("did not advance"), std::string::npos) << total.first_problem;
    } else {
      EXPECT_TRUE(total.complete()) << window.channels[i].id << ": " << total.first_problem;
    }
    if (window.channels[i].domain == Domain::cpu) {
      EXPECT_DOUBLE_EQ(total.energy.value, 61e-6) << "steps of the package are a measurement";
    }
  }
  EXPECT_FALSE(window.complete());
}

TEST(RaplPowercap, AVeryShortWindowMayReadZero) {
  // Under kShortestJudgedStillWindow an unchanged counter is no evidence: RAPL's own update can
  // lag a window of a few milliseconds.
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 5000, kRealisticRangeUj);
  std::mutex turns;
  SensorSet sensors = powercap_sensors(t, turns);
  Meter meter(sensors, MeterOptions{Seconds(0.01), nullptr});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const MeterWindow window = meter.stop();
  ASSERT_LT(window.duration(), kShortestJudgedStillWindow);
  EXPECT_TRUE(window.complete());
  EXPECT_DOUBLE_EQ(window.totals[0].energy.value, 0.0);
}

TEST(RaplPowercap, AWindowOfATenthOfASecondWithoutAnyAdvanceMeasuredNothing) {
  // A working counter advances about every millisecond: not once in 0.1 s, it is frozen or far
  // behind, and 0 J would be wrong either way. Said before the stall watch's second has passed.
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 5000, kRealisticRangeUj);
  std::mutex turns;
  SensorSet sensors = powercap_sensors(t, turns);
  Meter meter(sensors, MeterOptions{Seconds(0.05), nullptr});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const MeterWindow window = meter.stop();
  EXPECT_FALSE(window.complete());
  const auto domains = energy_by_domain(window);
  ASSERT_EQ(domains.size(), 1U);
  EXPECT_TRUE(domains[0].measured_nothing);
  EXPECT_NE(domains[0].problem.find("did not advance in 0.1"), std::string::npos) << domains[0].problem;
}

class DirectReads : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::make_powercap_zone(tree.zones() / "intel-rapl:0", "package-0", 1'000'000, kRealisticRangeUj);
    source = open_rapl_powercap(tree.paths());
    ASSERT_EQ(source->report().status, SourceStatus::ok);
    ASSERT_EQ(source->channels().size(), 1U);
  }
  ChannelReading read_at(double seconds) {
    ChannelReading r;
    source->read(Clock::time_point{} + std::chrono::duration_cast<Clock::duration>(Seconds(1000.0 + seconds)),
                 std::span(&r, 1));
    return r;
  }
  void set(const std::string& text) { testing::write_file(tree.zones() / "intel-rapl:0" / "energy_uj", text); }
  void set(std::uint64_t uj) { testing::write_counter(tree.zones() / "intel-rapl:0" / "energy_uj", uj); }

  PowercapTree tree;
  std::unique_ptr<EnergySource> source;
};

TEST_F(DirectReads, ACounterGoingBackwardsWithoutAWrapIsNotCounted) {
  EXPECT_TRUE(read_at(0.0).counted);
  set(2'000'000);
  EXPECT_TRUE(read_at(0.1).counted);
  set(1'500'000);  // backwards by 0.5 J: as a wrap it would mean 262 kJ in 0.1 s
  const ChannelReading glitch = read_at(0.2);
  EXPECT_FALSE(glitch.counted);
  EXPECT_NE(glitch.problem.find("backwards"), std::string_view::npos);
  set(2'500'000);
  const ChannelReading after = read_at(0.3);
  EXPECT_TRUE(after.counted);
  EXPECT_DOUBLE_EQ(after.energy.value, 2.0) << "1 J before the glitch, 1 J after it, nothing for the glitch";
}

TEST_F(DirectReads, APlausibleWrapIsCorrected) {
  read_at(0.0);
  set(kRealisticRangeUj - 1'000'000);  // 262 kJ in 300 s: 874 W, below the 1000 W a package may draw
  read_at(300.0);
  set(2'000'000);  // wrapped: 3 J in 1 s
  const ChannelReading r = read_at(301.0);
  EXPECT_TRUE(r.counted);
  EXPECT_DOUBLE_EQ(r.energy.value, static_cast<double>(kRealisticRangeUj - 2'000'000 + 3'000'000) * 1e-6);
}

TEST_F(DirectReads, AnUnreadableCounterLosesOnlyItsIntervals) {
  read_at(0.0);
  set(2'000'000);
  EXPECT_TRUE(read_at(0.1).counted);
  set("garbage\n");
  EXPECT_FALSE(read_at(0.2).counted);
  set(5'000'000);
  const ChannelReading back = read_at(0.3);
  EXPECT_FALSE(back.counted) << "the interval spanning the outage is unknown";
  set(6'000'000);
  const ChannelReading next = read_at(0.4);
  EXPECT_TRUE(next.counted);
  EXPECT_DOUBLE_EQ(next.energy.value, 2.0);
}

TEST_F(DirectReads, AJumpForwardNoPackageCanDrawIsNotCounted) {
  // A 30 J step in 40 ms is 750 W: no 50 W package draws that. The default ceiling (no limit
  // stated here) is 1000 W per package, so a ceiling the test states: 25 W, with the margin 50 W.
  testing::write_file(tree.zones() / "intel-rapl:0" / "constraint_0_max_power_uw", "25000000\n");
  source = open_rapl_powercap(tree.paths());
  read_at(0.0);
  set(1'400'000);  // 0.4 J in 40 ms: 10 W
  EXPECT_TRUE(read_at(0.04).counted);
  set(31'400'000);  // 30 J in 40 ms
  const ChannelReading jump = read_at(0.08);
  EXPECT_FALSE(jump.counted);
  EXPECT_NE(jump.problem.find("jumped by 30 J"), std::string_view::npos) << jump.problem;
  EXPECT_NE(jump.problem.find("at most 50 W"), std::string_view::npos) << jump.problem;
  set(31'800'000);
  const ChannelReading after = read_at(0.12);
  EXPECT_TRUE(after.counted);
  EXPECT_DOUBLE_EQ(after.energy.value, 0.8) << "0.4 J before the jump, 0.4 J after it, nothing for the jump";
}

TEST_F(DirectReads, AJumpAboveTheDefaultCeilingIsNotCounted) {
  // 1e11 uJ in 0.1 s is 1 MW: above the 1000 W default of a package that states no limit.
  read_at(0.0);
  set(1'000'000 + 100'000'000'000ULL);
  const ChannelReading jump = read_at(0.1);
  EXPECT_FALSE(jump.counted);
  EXPECT_NE(jump.problem.find("at most 1000 W"), std::string_view::npos) << jump.problem;
  EXPECT_DOUBLE_EQ(jump.energy.value, 0.0);
  // A step of 1 kJ in 2 s (500 W) is within it, with the update slack.
  set(1'000'000 + 100'000'000'000ULL + 1'000'000'000ULL);
  EXPECT_TRUE(read_at(2.1).counted);
}

TEST(RaplPowercap, TheCeilingIsTheHighestStatedConstraintWithAMargin) {
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 0, kRealisticRangeUj, 0);
  testing::write_file(t.zones() / "intel-rapl:0" / "constraint_0_power_limit_uw", "65000000\n");
  testing::write_file(t.zones() / "intel-rapl:0" / "constraint_1_max_power_uw", "0\n");
  testing::write_file(t.zones() / "intel-rapl:0" / "constraint_1_power_limit_uw", "95000000\n");
  const auto source = open_rapl_powercap(t.paths());
  ASSERT_EQ(source->channels().size(), 1U);
  // The wrap period is the range over the ceiling: 190 W (95 W stated, x2).
  EXPECT_NEAR(source->max_read_interval().count(), static_cast<double>(kRealisticRangeUj) * 1e-6 / 190.0, 1e-6);
  PowerCeilings user;
  user.package = {400.0, true};
  const auto with_user = open_rapl_powercap(t.paths(), user);
  EXPECT_NEAR(with_user->max_read_interval().count(), static_cast<double>(kRealisticRangeUj) * 1e-6 / 400.0, 1e-6)
      << "a ceiling the user sets wins over what the machine states";
}

TEST(PowerCeilings, FromTheEnvironment) {
  ::setenv("JOULEBENCH_MAX_GPU_W", "1200", 1);
  ::setenv("JOULEBENCH_MAX_DRAM_W", "", 1);
  const PowerCeilings c = PowerCeilings::from_environment();
  EXPECT_EQ(c.for_domain(Domain::gpu, 300.0).value, 1200.0);
  EXPECT_EQ(c.for_domain(Domain::dram, 40.0).value, 80.0) << "stated x2";
  EXPECT_EQ(c.for_domain(Domain::dram).value, 500.0);
  EXPECT_EQ(c.for_domain(Domain::psys).value, 1000.0);
  EXPECT_EQ(c.for_domain(Domain::cpu, 0.0).value, 1000.0) << "a limit of 0 states nothing";
  ::setenv("JOULEBENCH_MAX_GPU_W", "-5", 1);
  EXPECT_THROW(PowerCeilings::from_environment(), std::invalid_argument);
  ::setenv("JOULEBENCH_MAX_GPU_W", "0", 1);
  EXPECT_THROW(PowerCeilings::from_environment(), std::invalid_argument);
  ::unsetenv("JOULEBENCH_MAX_GPU_W");
  ::unsetenv("JOULEBENCH_MAX_DRAM_W");
}

TEST(RaplPowercap, ACounterThatStopsPartWayIsUnmeasuredForThatStretch) {
  // The package advances for 0.4 s, stands still for 1.3 s, then advances again for 0.4 s.
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 0, kRealisticRangeUj);
  std::mutex turns;
  SensorSet sensors = powercap_sensors(t, turns);
  testing::RecordingSink timeline;
  Meter meter(sensors, MeterOptions{Seconds(0.05), &timeline});
  std::uint64_t counter = 0;
  const auto advance_for = [&](std::chrono::milliseconds how_long) {
    const auto end = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < end) {
      {
        std::lock_guard lock(turns);
        counter += 5000;  // 5 mJ every 5 ms: 1 W
        testing::write_counter(t.zones() / "intel-rapl:0" / "energy_uj", counter);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  meter.start();
  advance_for(std::chrono::milliseconds(400));
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  advance_for(std::chrono::milliseconds(400));
  const MeterWindow window = meter.stop();

  const ChannelTotal& total = window.totals[0];
  EXPECT_FALSE(total.complete());
  EXPECT_TRUE(total.stalled);
  EXPECT_EQ(total.unmeasured_intervals, 1U);
  EXPECT_NEAR(total.unmeasured.count(), 1.3, 0.25) << "the still stretch, to a few sampling intervals";
  EXPECT_NE(total.first_problem.find("stopped advancing"), std::string::npos) << total.first_problem;
  EXPECT_DOUBLE_EQ(total.energy.value, static_cast<double>(counter) * 1e-6) << "what it counted is kept";
  const auto by_domain = energy_by_domain(window);
  EXPECT_FALSE(by_domain.front().measured_nothing);

  // The timeline marks the same stretch, the samples taken before the stall was found included.
  double unmeasured = 0;
  for (const auto& s : timeline.samples) {
    if (!s.channels[0].counted) unmeasured += s.interval.count();
  }
  EXPECT_NEAR(unmeasured, total.unmeasured.count(), 1e-6);
  ASSERT_FALSE(timeline.samples.empty());
  EXPECT_NEAR(timeline.samples.back().time.count(), window.duration().count(), 1e-9)
      << "every sample arrives by stop()";
}

TEST(RaplPowercap, AShortWindowAfterAStallIsUnmeasured) {
  // A counter known to have stood still for over a second before the window measures nothing in
  // it, however short the window.
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 5000, kRealisticRangeUj);
  std::mutex turns;
  SensorSet sensors = powercap_sensors(t, turns);
  Meter meter(sensors, MeterOptions{Seconds(0.05), nullptr});
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const MeterWindow long_window = meter.stop();
  EXPECT_FALSE(long_window.complete());
  EXPECT_TRUE(energy_by_domain(long_window).front().measured_nothing);
  meter.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const MeterWindow short_window = meter.stop();
  EXPECT_FALSE(short_window.complete());
  EXPECT_TRUE(energy_by_domain(short_window).front().measured_nothing);
}

TEST(RaplPowercap, MissingTreeIsUnavailableWithAReason) {
  PowercapTree t;
  const auto source = open_rapl_powercap(t.paths());
  EXPECT_EQ(source->report().status, SourceStatus::unavailable);
  EXPECT_NE(source->report().reason.find("powercap"), std::string::npos);
  EXPECT_NE(source->report().remedy.find("intel_rapl_msr"), std::string::npos);
  EXPECT_TRUE(source->channels().empty());
}

TEST(RaplPowercap, UnreadableCountersAreDeniedWithRemedies) {
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 0, kRealisticRangeUj);
  fs::permissions(t.dir.path(), fs::perms::all, fs::perm_options::add);  // let "nobody" walk the tree
  fs::permissions(t.zones() / "intel-rapl:0" / "energy_uj", fs::perms::owner_read, fs::perm_options::replace);
  const auto report = testing::report_as_unprivileged([&] { return open_rapl_powercap(t.paths()); });
  if (!report) GTEST_SKIP() << "cannot become an unprivileged user here";
  EXPECT_EQ(report->status, SourceStatus::denied);
  EXPECT_NE(report->reason.find("permission denied"), std::string::npos) << report->reason;
  EXPECT_NE(report->reason.find("energy_uj"), std::string::npos) << report->reason;
  EXPECT_NE(report->remedy.find("sysfs.conf"), std::string::npos);
  EXPECT_NE(report->remedy.find("udev"), std::string::npos);
  EXPECT_NE(report->remedy.find("perf_event_paranoid"), std::string::npos);
}

TEST(SensorSelection, RealSourcesComeBeforeTheEstimatePerDomain) {
  PowercapTree t;
  testing::make_powercap_zone(t.zones() / "intel-rapl:0", "package-0", 0, kRealisticRangeUj);
  testing::write_proc_stat(t.paths().procfs_root, 100, 50, 1000, 2);
  testing::write_file(t.paths().procfs_root / "meminfo", "MemTotal:        8000000 kB\n");
  SensorSet sensors = SensorSet::open(SensorOptions{t.paths(), EstimateModel{}, {}, {}});
  EXPECT_EQ(sensors.source_of(Domain::cpu), "rapl-powercap");
  EXPECT_EQ(sensors.source_of(Domain::dram), "estimate") << "no dram zone: the estimate fills in";
  for (const auto& c : sensors.channels()) EXPECT_EQ(c.estimated, c.domain == Domain::dram) << c.id;
}

}  // namespace
}  // namespace joulebench

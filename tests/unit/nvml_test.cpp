// The real NVML source, driven through dlopen over the fake NVML library (tests/fakes/fake_nvml.c),
// on its own and through SensorSet + Meter. The fake's GPUs draw a power known analytically, so
// every energy figure is checked against the true energy of its window.
#include <dlfcn.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/fake_tree.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/sensors.hpp"

namespace joulebench {
namespace {

using namespace std::chrono_literals;

constexpr std::array<const char*, 10> kFakeVariables = {
    "FAKE_NVML_SCENARIO",     "FAKE_NVML_GPUS",       "FAKE_NVML_POWER_W", "FAKE_NVML_RAMP_W_PER_S",
    "FAKE_NVML_FAIL_AFTER_S", "FAKE_NVML_FAIL_FOR_S", "FAKE_NVML_JUMP_J",  "FAKE_NVML_JUMP_AT_S",
    "FAKE_NVML_POWERS_W",     "FAKE_NVML_NO_UUID"};

/// The fake library's test hooks. `pin` loads it (keeping it loaded until this object goes, so its
/// counters survive the sources that close it); otherwise it only attaches to an already loaded
/// copy (RTLD_NOLOAD) and `loaded()` says whether there was one.
class FakeNvml {
 public:
  explicit FakeNvml(bool pin) {
    handle_ = ::dlopen(FAKE_NVML_LIBRARY, RTLD_NOW | RTLD_LOCAL | (pin ? 0 : RTLD_NOLOAD));
    if (handle_ == nullptr) return;
    init_count_ = reinterpret_cast<int (*)()>(::dlsym(handle_, "fake_nvml_init_count"));
    shutdown_count_ = reinterpret_cast<int (*)()>(::dlsym(handle_, "fake_nvml_shutdown_count"));
    seconds_since_init_ = reinterpret_cast<double (*)()>(::dlsym(handle_, "fake_nvml_seconds_since_init"));
  }
  ~FakeNvml() {
    if (handle_ != nullptr) ::dlclose(handle_);
  }
  FakeNvml(const FakeNvml&) = delete;
  FakeNvml& operator=(const FakeNvml&) = delete;

  bool loaded() const { return handle_ != nullptr && init_count_ && shutdown_count_ && seconds_since_init_; }
  int init_count() const { return init_count_(); }
  int shutdown_count() const { return shutdown_count_(); }
  double seconds_since_init() const { return seconds_since_init_(); }

  /// When the fake's clock started, on joulebench's clock (both are CLOCK_MONOTONIC).
  Clock::time_point init_time() const {
    const auto before = Clock::now();
    const double since = seconds_since_init();
    const auto after = Clock::now();
    return before + (after - before) / 2 - std::chrono::duration_cast<Clock::duration>(Seconds(since));
  }

  /// Waits until the fake's clock passes `t` seconds since init.
  void wait_until(double t) const {
    while (seconds_since_init() < t) std::this_thread::sleep_for(2ms);
  }

 private:
  void* handle_ = nullptr;
  int (*init_count_)() = nullptr;
  int (*shutdown_count_)() = nullptr;
  double (*seconds_since_init_)() = nullptr;
};

std::optional<std::string> property(const SourceReport& report, std::string_view key) {
  for (const auto& [name, value] : report.properties) {
    if (name == key) return value;
  }
  return std::nullopt;
}

const SourceReport* report_named(const SensorSet& sensors, std::string_view name) {
  for (const auto* report : sensors.reports()) {
    if (report->name == name) return report;
  }
  return nullptr;
}

std::optional<std::size_t> channel_index(const MeterWindow& window, std::string_view id) {
  for (std::size_t i = 0; i < window.channels.size(); ++i) {
    if (window.channels[i].id == id) return i;
  }
  return std::nullopt;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

class NvmlTest : public ::testing::Test {
 protected:
  void SetUp() override { clear_environment(); }
  void TearDown() override { clear_environment(); }

  static void clear_environment() {
    for (const char* name : kFakeVariables) ::unsetenv(name);
  }
  static void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

  /// The fake NVML library, and an empty sysfs so no RAPL source competes on this machine.
  SensorPaths paths() const {
    SensorPaths p;
    p.sysfs_root = empty_sysfs_.path();
    p.procfs_root = "/proc";
    p.nvml_library = FAKE_NVML_LIBRARY;
    return p;
  }
  SensorOptions options() const {
    SensorOptions o;
    o.paths = paths();
    return o;
  }

  joulebench::testing::TempDir empty_sysfs_;
};

// ---- energy counter present ----

TEST_F(NvmlTest, CounterScenarioReportsGpusWithCounterChannels) {
  set("FAKE_NVML_SCENARIO", "counter");
  set("FAKE_NVML_GPUS", "2");
  set("FAKE_NVML_POWER_W", "80");
  const auto source = open_nvml(paths());
  const SourceReport& report = source->report();
  ASSERT_EQ(report.status, SourceStatus::ok) << report.reason;
  EXPECT_EQ(report.name, "nvml");
  EXPECT_TRUE(report.reason.empty()) << report.reason;

  ASSERT_EQ(source->channels().size(), 2u);
  ASSERT_EQ(report.channels.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const Channel& channel = source->channels()[static_cast<std::size_t>(i)];
    EXPECT_EQ(channel.id, "gpu-" + std::to_string(i));
    EXPECT_EQ(channel.domain, Domain::gpu);
    EXPECT_EQ(channel.device, i);
    EXPECT_EQ(channel.source, "nvml");
    EXPECT_EQ(channel.method, Method::counter);
    EXPECT_FALSE(channel.estimated);
    EXPECT_TRUE(contains(channel.origin, "nvmlDeviceGetTotalEnergyConsumption")) << channel.origin;
  }
  EXPECT_EQ(property(report, "driver_version"), "535.999.01-fake");
  EXPECT_EQ(property(report, "gpu0.name"), "Fake NVIDIA GPU 0");
  EXPECT_EQ(property(report, "gpu1.name"), "Fake NVIDIA GPU 1");
  ASSERT_TRUE(property(report, "gpu0.uuid").has_value());
  EXPECT_EQ(property(report, "gpu0.uuid")->rfind("GPU-", 0), 0u);
  EXPECT_EQ(property(report, "gpu0.power_limit_w"), "300");
  EXPECT_EQ(property(report, "gpu1.temperature_c"), "41");
  EXPECT_EQ(property(report, "gpu0.sm_clock_mhz"), "1410");
  EXPECT_EQ(property(report, "gpu0.memory_clock_mhz"), "1215");
  EXPECT_EQ(property(report, "gpu0.energy_method"), "counter");
  // An exact counter needs no frequent reads (64-bit millijoules never wrap).
  EXPECT_GE(source->max_read_interval(), Seconds(60.0));
}

TEST_F(NvmlTest, EachGpuHasItsOwnPowerAndUuid) {
  set("FAKE_NVML_GPUS", "3");
  set("FAKE_NVML_POWERS_W", "50,120,200");
  const auto source = open_nvml(paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  ASSERT_EQ(source->channels().size(), 3u);
  EXPECT_EQ(property(source->report(), "gpu1.uuid"), "GPU-fa4e0000-0000-4000-8000-000000000001");
  EXPECT_EQ(property(source->report(), "gpu2.uuid"), "GPU-fa4e0000-0000-4000-8000-000000000002");
  std::vector<ChannelReading> first(3), second(3);
  const auto t0 = Clock::now();
  source->read(t0, first);
  std::this_thread::sleep_for(120ms);
  const auto t1 = Clock::now();
  source->read(t1, second);
  const double seconds = Seconds(t1 - t0).count();
  const std::array<double, 3> watts = {50.0, 120.0, 200.0};
  for (std::size_t i = 0; i < 3; ++i) {
    const double joules = (second[i].energy - first[i].energy).value;
    EXPECT_NEAR(joules, watts[i] * seconds, 0.005 * watts[i] * seconds) << "gpu " << i;
  }
}

TEST_F(NvmlTest, AGpuWithoutAUuidIsStillMeasured) {
  set("FAKE_NVML_GPUS", "2");
  set("FAKE_NVML_NO_UUID", "1");
  const auto source = open_nvml(paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  EXPECT_EQ(source->channels().size(), 2u);
  EXPECT_EQ(property(source->report(), "gpu0.uuid"), std::nullopt);
  EXPECT_EQ(property(source->report(), "gpu0.name"), "Fake NVIDIA GPU 0");
}

TEST_F(NvmlTest, TooFewPowersForTheGpusIsAnInitError) {
  set("FAKE_NVML_GPUS", "3");
  set("FAKE_NVML_POWERS_W", "50,120");
  EXPECT_EQ(open_nvml(paths())->report().status, SourceStatus::error);
}

TEST_F(NvmlTest, ACounterJumpNoGpuCanDrawIsNotCounted) {
  // The GPU states limits up to 400 W: a step above 800 W (with the margin) is a glitch. 1000 J
  // in 100 ms is 10 kW.
  set("FAKE_NVML_SCENARIO", "counter");
  set("FAKE_NVML_POWER_W", "100");
  set("FAKE_NVML_JUMP_J", "1000");
  set("FAKE_NVML_JUMP_AT_S", "0.15");
  auto sensors = SensorSet::open(options());
  const SourceReport* report = report_named(sensors, "nvml");
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(property(*report, "gpu0.max_power_limit_w"), "400");
  Meter meter(sensors, MeterOptions{Seconds(0.1), nullptr});
  meter.start();
  std::this_thread::sleep_for(400ms);
  const MeterWindow window = meter.stop();
  const auto gpu =
      std::find_if(window.channels.begin(), window.channels.end(), [](const Channel& c) { return c.id == "gpu-0"; });
  ASSERT_NE(gpu, window.channels.end());
  const ChannelTotal& total = window.totals[static_cast<std::size_t>(gpu - window.channels.begin())];
  EXPECT_FALSE(total.complete());
  EXPECT_EQ(total.unmeasured_intervals, 1u);
  EXPECT_TRUE(contains(total.first_problem, "at most 800 W")) << total.first_problem;
  EXPECT_LT(total.energy.value, 100.0 * window.duration().count()) << "the jump is not energy";
  EXPECT_GT(total.energy.value, 100.0 * (window.duration() - total.unmeasured).count() * 0.99);
}

TEST_F(NvmlTest, APowerReadingNoGpuCanDrawIsNotIntegrated) {
  set("FAKE_NVML_SCENARIO", "power");
  set("FAKE_NVML_POWER_W", "5000");
  const auto source = open_nvml(paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  std::vector<ChannelReading> r(1);
  source->read(Clock::now(), r);
  EXPECT_FALSE(r[0].counted);
  EXPECT_TRUE(contains(r[0].problem, "more than the GPU can draw")) << r[0].problem;
  EXPECT_DOUBLE_EQ(r[0].energy.value, 0.0);
}

TEST_F(NvmlTest, CounterReadsFollowEachGpusPower) {
  set("FAKE_NVML_SCENARIO", "counter");
  set("FAKE_NVML_GPUS", "2");
  set("FAKE_NVML_POWER_W", "80");
  const auto source = open_nvml(paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  std::vector<ChannelReading> first(2), second(2);
  const auto t0 = Clock::now();
  source->read(t0, first);
  std::this_thread::sleep_for(120ms);
  const auto t1 = Clock::now();
  source->read(t1, second);
  const double seconds = Seconds(t1 - t0).count();
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(first[i].counted);
    EXPECT_TRUE(second[i].counted) << second[i].problem;
    const double watts = 80.0 + 10.0 * static_cast<double>(i);
    const double joules = (second[i].energy - first[i].energy).value;
    EXPECT_NEAR(joules, watts * seconds, 0.005 * watts * seconds) << "gpu " << i;
  }
}

TEST_F(NvmlTest, CounterWindowThroughTheMeterMatchesTheTruth) {
  constexpr double kWatts = 150.0;
  set("FAKE_NVML_SCENARIO", "counter");
  set("FAKE_NVML_POWER_W", "150");
  auto sensors = SensorSet::open(options());
  ASSERT_EQ(sensors.source_of(Domain::gpu), "nvml");
  const SourceReport* report = report_named(sensors, "nvml");
  ASSERT_NE(report, nullptr);
  ASSERT_EQ(report->status, SourceStatus::ok) << report->reason;
  EXPECT_TRUE(property(*report, "gpu0.name").has_value());
  EXPECT_TRUE(property(*report, "driver_version").has_value());

  Meter meter(sensors, MeterOptions{Seconds(0.01), nullptr});
  EXPECT_DOUBLE_EQ(meter.interval().count(), 0.01);
  meter.start();
  std::this_thread::sleep_for(300ms);
  const MeterWindow window = meter.stop();

  const auto gpu = channel_index(window, "gpu-0");
  ASSERT_TRUE(gpu.has_value());
  EXPECT_EQ(window.channels[*gpu].method, Method::counter);
  EXPECT_EQ(window.channels[*gpu].source, "nvml");
  const ChannelTotal& total = window.totals[*gpu];
  const double truth = kWatts * window.duration().count();
  EXPECT_GE(window.duration().count(), 0.3);
  EXPECT_NEAR(total.energy.value, truth, 0.005 * truth);
  EXPECT_TRUE(total.complete()) << total.first_problem;
  EXPECT_EQ(total.unmeasured_intervals, 0u);
  EXPECT_TRUE(total.first_problem.empty());
  EXPECT_TRUE(window.complete());
  EXPECT_GE(window.samples, 10u);  // the sampling thread read the source, not only the edges

  const auto domains = energy_by_domain(window);
  const auto it =
      std::find_if(domains.begin(), domains.end(), [](const DomainEnergy& d) { return d.domain == Domain::gpu; });
  ASSERT_NE(it, domains.end());
  EXPECT_EQ(it->source, "nvml");
  EXPECT_EQ(it->method, Method::counter);
  EXPECT_FALSE(it->estimated);
  EXPECT_NEAR(it->energy.value, truth, 0.005 * truth);
}

// ---- power only: polled and integrated ----

TEST_F(NvmlTest, PowerOnlyIntegratesTheRampExactly) {
  constexpr double kWatts = 50.0;
  constexpr double kRamp = 200.0;  // W/s: from 50 W towards ~120 W over the window
  set("FAKE_NVML_SCENARIO", "power");
  set("FAKE_NVML_POWER_W", "50");
  set("FAKE_NVML_RAMP_W_PER_S", "200");
  auto sensors = SensorSet::open(options());
  ASSERT_EQ(sensors.source_of(Domain::gpu), "nvml");
  const SourceReport* report = report_named(sensors, "nvml");
  ASSERT_NE(report, nullptr);
  ASSERT_EQ(report->status, SourceStatus::ok) << report->reason;
  EXPECT_EQ(property(*report, "gpu0.energy_method"), "power-integration");
  // Polled power must be read often, whatever interval is asked for.
  EXPECT_LE(sensors.max_read_interval(), Seconds(0.1));
  EXPECT_LE(Meter(sensors, MeterOptions{Seconds(1.0), nullptr}).interval(), Seconds(0.1));

  const FakeNvml fake(false);
  ASSERT_TRUE(fake.loaded());
  Meter meter(sensors, MeterOptions{Seconds(0.01), nullptr});
  meter.start();
  std::this_thread::sleep_for(300ms);
  const MeterWindow window = meter.stop();

  const auto gpu = channel_index(window, "gpu-0");
  ASSERT_TRUE(gpu.has_value());
  EXPECT_EQ(window.channels[*gpu].method, Method::power_integration);
  EXPECT_TRUE(contains(window.channels[*gpu].origin, "nvmlDeviceGetPowerUsage")) << window.channels[*gpu].origin;
  const ChannelTotal& total = window.totals[*gpu];
  EXPECT_TRUE(total.complete()) << total.first_problem;

  const auto init = fake.init_time();
  const double t0 = Seconds(window.start - init).count();
  const double t1 = Seconds(window.end - init).count();
  ASSERT_GE(t0, 0.0);
  ASSERT_GT(t1, t0 + 0.29);
  const double truth = kWatts * (t1 - t0) + 0.5 * kRamp * (t1 * t1 - t0 * t0);
  EXPECT_NEAR(total.energy.value, truth, 0.005 * truth);
  // The ramp matters: power at the start times the duration is far from the truth.
  EXPECT_GT(truth, 1.2 * (kWatts + kRamp * t0) * (t1 - t0));
}

TEST_F(NvmlTest, PowerOnlyDirectReadsIntegrateWithTheTrapezoidRule) {
  constexpr double kWatts = 100.0;
  constexpr double kRamp = 400.0;
  set("FAKE_NVML_SCENARIO", "power");
  set("FAKE_NVML_POWER_W", "100");
  set("FAKE_NVML_RAMP_W_PER_S", "400");
  const auto source = open_nvml(paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  ASSERT_EQ(source->channels().size(), 1u);
  EXPECT_EQ(source->channels()[0].method, Method::power_integration);
  const FakeNvml fake(false);
  ASSERT_TRUE(fake.loaded());
  const auto init = fake.init_time();

  // Three reads 50 ms apart: for a linear ramp the trapezoid rule is exact even at this spacing.
  std::vector<ChannelReading> reading(1);
  const auto start = Clock::now();
  source->read(start, reading);
  EXPECT_TRUE(reading[0].counted);
  const Joules first = reading[0].energy;
  Clock::time_point end = start;
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(50ms);
    end = Clock::now();
    source->read(end, reading);
    EXPECT_TRUE(reading[0].counted) << reading[0].problem;
  }
  const double t0 = Seconds(start - init).count();
  const double t1 = Seconds(end - init).count();
  const double truth = kWatts * (t1 - t0) + 0.5 * kRamp * (t1 * t1 - t0 * t0);
  EXPECT_NEAR((reading[0].energy - first).value, truth, 0.005 * truth);
}

// ---- errors while running ----

TEST_F(NvmlTest, GpuLostMidRunFlagsTheWindowAndLosesOnlyThatTime) {
  constexpr double kWatts = 100.0;
  set("FAKE_NVML_SCENARIO", "error");
  set("FAKE_NVML_POWER_W", "100");
  set("FAKE_NVML_FAIL_AFTER_S", "0.2");
  set("FAKE_NVML_FAIL_FOR_S", "0.1");
  auto sensors = SensorSet::open(options());
  ASSERT_EQ(sensors.source_of(Domain::gpu), "nvml");
  const FakeNvml fake(false);
  ASSERT_TRUE(fake.loaded());

  Meter meter(sensors, MeterOptions{Seconds(0.01), nullptr});
  MeterWindow window;
  EXPECT_NO_THROW(meter.start());
  std::this_thread::sleep_for(500ms);
  EXPECT_NO_THROW(window = meter.stop());
  const auto init = fake.init_time();
  ASSERT_LT(Seconds(window.start - init).count(), 0.2) << "the window began after the failure: machine too slow";
  ASSERT_GT(Seconds(window.end - init).count(), 0.3);

  const auto gpu = channel_index(window, "gpu-0");
  ASSERT_TRUE(gpu.has_value());
  const ChannelTotal& total = window.totals[*gpu];
  EXPECT_FALSE(window.complete());
  EXPECT_FALSE(total.complete());
  EXPECT_GT(total.unmeasured_intervals, 0u);
  EXPECT_TRUE(contains(total.first_problem, "GPU is lost") || contains(total.first_problem, "GPU_IS_LOST"))
      << total.first_problem;
  // The lost span covers the whole failure, and the rest of the window is measured exactly.
  EXPECT_GE(total.unmeasured.count(), 0.1 - 1e-3);
  EXPECT_LT(total.unmeasured.count(), window.duration().count());
  const double truth = kWatts * window.duration().count();
  const double measurable = kWatts * (window.duration() - total.unmeasured).count();
  EXPECT_GE(total.energy.value, 0.0);
  EXPECT_LT(total.energy.value, truth);
  EXPECT_NEAR(total.energy.value, measurable, 0.005 * measurable);

  const auto domains = energy_by_domain(window);
  const auto it =
      std::find_if(domains.begin(), domains.end(), [](const DomainEnergy& d) { return d.domain == Domain::gpu; });
  ASSERT_NE(it, domains.end());
  EXPECT_TRUE(contains(it->problem, "gpu-0")) << it->problem;
  EXPECT_GT(it->unmeasured.count(), 0.0);
}

TEST_F(NvmlTest, GpuLostReadsAreFlaggedAndTheCounterRebaselines) {
  set("FAKE_NVML_SCENARIO", "error");
  set("FAKE_NVML_POWER_W", "100");
  set("FAKE_NVML_FAIL_AFTER_S", "0.1");
  set("FAKE_NVML_FAIL_FOR_S", "0.1");
  const auto source = open_nvml(paths());
  ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
  const FakeNvml fake(false);
  ASSERT_TRUE(fake.loaded());
  std::vector<ChannelReading> r(1);

  source->read(Clock::now(), r);
  ASSERT_LT(fake.seconds_since_init(), 0.1) << "machine too slow for this test";
  EXPECT_TRUE(r[0].counted);
  const Joules before = r[0].energy;

  fake.wait_until(0.12);
  source->read(Clock::now(), r);
  EXPECT_FALSE(r[0].counted);
  EXPECT_TRUE(contains(r[0].problem, "GPU is lost")) << r[0].problem;
  EXPECT_TRUE(contains(r[0].problem, "nvmlDeviceGetTotalEnergyConsumption")) << r[0].problem;
  EXPECT_EQ(r[0].energy.value, before.value);  // nothing invented for the lost time

  fake.wait_until(0.22);
  source->read(Clock::now(), r);
  EXPECT_FALSE(r[0].counted);  // the interval that ends at the first good read is lost too
  EXPECT_EQ(r[0].energy.value, before.value);
  const Joules rebased = r[0].energy;

  const auto t0 = Clock::now();
  source->read(t0, r);
  std::this_thread::sleep_for(60ms);
  const auto t1 = Clock::now();
  const Joules at_t0 = r[0].energy;
  source->read(t1, r);
  EXPECT_TRUE(r[0].counted) << r[0].problem;
  EXPECT_GE(at_t0.value, rebased.value);
  const double expected = 100.0 * Seconds(t1 - t0).count();
  EXPECT_NEAR((r[0].energy - at_t0).value, expected, 0.005 * expected);
}

// ---- no GPU, no driver, no permission, no library ----

TEST_F(NvmlTest, NoGpuIsUnavailableWithNoChannels) {
  set("FAKE_NVML_SCENARIO", "nogpu");
  const auto source = open_nvml(paths());
  EXPECT_EQ(source->report().status, SourceStatus::unavailable);
  EXPECT_TRUE(contains(source->report().reason, "no GPU")) << source->report().reason;
  EXPECT_TRUE(source->channels().empty());
  EXPECT_TRUE(source->report().channels.empty());

  auto sensors = SensorSet::open(options());
  EXPECT_EQ(sensors.source_of(Domain::gpu), "");
  for (const auto& channel : sensors.channels()) EXPECT_NE(channel.source, "nvml");
}

TEST_F(NvmlTest, DriverNotLoadedIsUnavailableWithARemedy) {
  set("FAKE_NVML_SCENARIO", "nodriver");
  const auto source = open_nvml(paths());
  const SourceReport& report = source->report();
  EXPECT_EQ(report.status, SourceStatus::unavailable);
  EXPECT_TRUE(contains(report.reason, "nvmlInit_v2")) << report.reason;
  EXPECT_TRUE(contains(report.reason, "Driver Not Loaded")) << report.reason;
  EXPECT_TRUE(contains(report.remedy, "modprobe")) << report.remedy;
  EXPECT_TRUE(source->channels().empty());
}

TEST_F(NvmlTest, NoPermissionIsDeniedWithARemedy) {
  set("FAKE_NVML_SCENARIO", "noperm");
  const auto source = open_nvml(paths());
  const SourceReport& report = source->report();
  EXPECT_EQ(report.status, SourceStatus::denied);
  EXPECT_TRUE(contains(report.reason, "Insufficient Permissions")) << report.reason;
  EXPECT_TRUE(contains(report.remedy, "/dev/nvidia")) << report.remedy;
  EXPECT_TRUE(source->channels().empty());
}

TEST_F(NvmlTest, OtherInitFailuresAreErrors) {
  set("FAKE_NVML_SCENARIO", "no-such-scenario");  // the fake answers NVML_ERROR_UNKNOWN
  const auto source = open_nvml(paths());
  EXPECT_EQ(source->report().status, SourceStatus::error);
  EXPECT_TRUE(contains(source->report().reason, "Unknown Error")) << source->report().reason;
  EXPECT_TRUE(source->channels().empty());
}

TEST_F(NvmlTest, MissingLibraryIsUnavailableAndNamesThePath) {
  const std::string missing = (empty_sysfs_.path() / "nowhere" / "libnvidia-ml.so.1").string();
  SensorPaths p = paths();
  p.nvml_library = missing;
  const auto source = open_nvml(p);
  const SourceReport& report = source->report();
  EXPECT_EQ(report.status, SourceStatus::unavailable);
  EXPECT_TRUE(contains(report.reason, missing)) << report.reason;
  EXPECT_TRUE(contains(report.remedy, "JOULEBENCH_NVML_LIBRARY")) << report.remedy;
  EXPECT_TRUE(source->channels().empty());
  source->read(Clock::now(), {});  // nothing to read, nothing to crash
}

// ---- NVML's lifetime ----

TEST_F(NvmlTest, NvmlIsInitialisedOnceAndShutDownOncePerSource) {
  set("FAKE_NVML_SCENARIO", "counter");
  set("FAKE_NVML_GPUS", "2");
  const FakeNvml pin(true);  // keeps the counters alive across the sources' dlclose
  ASSERT_TRUE(pin.loaded()) << ::dlerror();
  const int inits = pin.init_count();
  const int shutdowns = pin.shutdown_count();
  {
    auto source = open_nvml(paths());
    ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
    EXPECT_TRUE(FakeNvml(false).loaded());  // the source loaded the library it was given
    EXPECT_EQ(pin.init_count() - inits, 1);
    EXPECT_EQ(pin.shutdown_count() - shutdowns, 0);
    std::vector<ChannelReading> r(2);
    for (int i = 0; i < 3; ++i) source->read(Clock::now(), r);
    source->drop_domains(DomainSet{});
    EXPECT_EQ(pin.init_count() - inits, 1);
    EXPECT_EQ(pin.shutdown_count() - shutdowns, 0);
  }
  EXPECT_EQ(pin.init_count() - inits, 1);
  EXPECT_EQ(pin.shutdown_count() - shutdowns, 1);

  {  // two sources open together: one init and one shutdown each
    auto a = open_nvml(paths());
    auto b = open_nvml(paths());
    EXPECT_EQ(a->report().status, SourceStatus::ok);
    EXPECT_EQ(b->report().status, SourceStatus::ok);
    EXPECT_EQ(pin.init_count() - inits, 3);
    a.reset();
    EXPECT_EQ(pin.shutdown_count() - shutdowns, 2);
  }
  EXPECT_EQ(pin.shutdown_count() - shutdowns, 3);

  {  // through a SensorSet and a metered window
    auto sensors = SensorSet::open(options());
    EXPECT_EQ(sensors.source_of(Domain::gpu), "nvml");
    Meter meter(sensors, MeterOptions{Seconds(0.01), nullptr});
    meter.start();
    std::this_thread::sleep_for(30ms);
    meter.stop();
    EXPECT_EQ(pin.init_count() - inits, 4);
    EXPECT_EQ(pin.shutdown_count() - shutdowns, 3);
  }
  EXPECT_EQ(pin.shutdown_count() - shutdowns, 4);

  {  // no GPU: initialised all the same, so shut down all the same
    set("FAKE_NVML_SCENARIO", "nogpu");
    auto source = open_nvml(paths());
    EXPECT_EQ(source->report().status, SourceStatus::unavailable);
  }
  EXPECT_EQ(pin.init_count() - inits, 5);
  EXPECT_EQ(pin.shutdown_count() - shutdowns, 5);

  {  // a failed init is not shut down
    set("FAKE_NVML_SCENARIO", "noperm");
    auto source = open_nvml(paths());
    EXPECT_EQ(source->report().status, SourceStatus::denied);
  }
  EXPECT_EQ(pin.init_count() - inits, 6);
  EXPECT_EQ(pin.shutdown_count() - shutdowns, 5);
}

TEST_F(NvmlTest, ClosingTheSourceUnloadsTheLibrary) {
  set("FAKE_NVML_SCENARIO", "counter");
  {
    auto source = open_nvml(paths());
    ASSERT_EQ(source->report().status, SourceStatus::ok) << source->report().reason;
    EXPECT_TRUE(FakeNvml(false).loaded());
  }
  EXPECT_FALSE(FakeNvml(false).loaded()) << "the source kept its handle on " FAKE_NVML_LIBRARY;
}

}  // namespace
}  // namespace joulebench

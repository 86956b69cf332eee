// Only the GPUs a run uses: selecting GPUs by NVML index or UUID, the meter's split of the GPUs
// into gpu (the selected ones) and gpu-other (the rest), per-GPU figures, dynamic energy against
// the selected GPUs' idle power, and the export/import round trip of the per-GPU columns. Driven
// through the real NVML source over the fake NVML library, whose GPUs draw known, different powers.
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/fake_tree.hpp"
#include "joulebench/figures.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/report.hpp"
#include "joulebench/run.hpp"
#include "joulebench/sensors.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

using namespace std::chrono_literals;

constexpr std::array<const char*, 5> kFakeVariables = {"FAKE_NVML_SCENARIO", "FAKE_NVML_GPUS", "FAKE_NVML_POWER_W",
                                                       "FAKE_NVML_POWERS_W", "FAKE_NVML_NO_UUID"};
// The fake's GPUs 0, 1 and 2.
constexpr std::array<double, 3> kWatts = {50.0, 120.0, 200.0};
// The fake's counter truncates to whole millijoules and the window's edges are read a little
// apart: the NVML tests' tolerance.
constexpr double kTolerance = 0.005;

std::string uuid_of(int index) { return "GPU-fa4e0000-0000-4000-8000-00000000000" + std::to_string(index); }

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

const EnergyFigure* figure(const std::vector<EnergyFigure>& figures, std::string_view name) {
  return find_energy(figures, *DomainId::parse(name));
}

class GpuSelection : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_environment();
    set("FAKE_NVML_GPUS", "3");
    set("FAKE_NVML_POWERS_W", "50,120,200");
  }
  void TearDown() override { clear_environment(); }

  static void clear_environment() {
    for (const char* name : kFakeVariables) ::unsetenv(name);
  }
  static void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

  /// The fake NVML only (no estimate beside it), so the total is the GPUs' alone.
  SensorSet open_sensors() const {
    SensorOptions o;
    o.paths.sysfs_root = empty_sysfs_.path();
    o.paths.procfs_root = "/proc";
    o.paths.nvml_library = FAKE_NVML_LIBRARY;
    o.only_sources = {"nvml"};
    return SensorSet::open(o);
  }

  static MeterWindow metered(SensorSet& sensors, std::optional<std::vector<int>> gpus,
                             std::chrono::milliseconds length = 300ms) {
    MeterOptions options{Seconds(0.02), nullptr};
    options.gpus = std::move(gpus);
    Meter meter(sensors, options);
    meter.start();
    std::this_thread::sleep_for(length);
    return meter.stop();
  }

  static void expect_joules(const EnergyFigure* f, double watts, Seconds duration) {
    ASSERT_NE(f, nullptr);
    const double truth = watts * duration.count();
    EXPECT_NEAR(f->energy_j, truth, kTolerance * truth) << f->domain.name();
    EXPECT_TRUE(f->complete) << f->domain.name() << ": " << f->problem;
  }

  joulebench::testing::TempDir empty_sysfs_;
};

// ---- domains and names ----

TEST(GpuDomains, GpuOtherIsADomainOutsideTheTotal) {
  EXPECT_EQ(domain_name(Domain::gpu_other), "gpu-other");
  EXPECT_EQ(parse_domain("gpu-other"), Domain::gpu_other);
  EXPECT_FALSE(counts_toward_total(Domain::gpu_other));
  EXPECT_TRUE(counts_toward_total(Domain::gpu));
  EXPECT_EQ(parse_domain("gpu-1"), std::nullopt);

  const DomainId other(Domain::gpu_other);
  const DomainId one = *DomainId::parse("gpu-1");
  EXPECT_FALSE(other.counts_toward_total());
  EXPECT_FALSE(one.counts_toward_total());
  EXPECT_EQ(one.domain(), std::nullopt);
  EXPECT_EQ(one.description(), "GPU 1 energy");
  EXPECT_EQ(other.description(), "other GPUs' energy");
  EXPECT_LT(DomainId(Domain::gpu).display_rank(), other.display_rank());
  EXPECT_LT(other.display_rank(), one.display_rank());
  EXPECT_LT(one.display_rank(), DomainId::total().display_rank());
  EXPECT_EQ(MetricId::energy(one).column(), "energy_gpu-1_j");
  EXPECT_EQ(MetricId::parse("energy_gpu-other_j")->domain, other);
  EXPECT_EQ(MetricId::parse("dynamic_energy_gpu-1_j")->domain, one);
}

// ---- selecting GPUs ----

TEST_F(GpuSelection, SelectorsAreIndicesOrUuids) {
  const SensorSet sensors = open_sensors();
  const SelectedGpus one = select_gpus(sensors, {"1"});
  EXPECT_EQ(one.indices, std::vector<int>{1});
  EXPECT_EQ(one.uuids, std::vector<std::string>{uuid_of(1)});

  // In the order given; a UUID in any case, as CUDA accepts it; a GPU named twice counts once.
  std::string lower = uuid_of(2);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  const SelectedGpus two = select_gpus(sensors, {lower, "0", uuid_of(0)});
  EXPECT_EQ(two.indices, (std::vector<int>{2, 0}));
  EXPECT_EQ(two.uuids, (std::vector<std::string>{uuid_of(2), uuid_of(0)}));

  EXPECT_TRUE(select_gpus(sensors, {}).indices.empty());
}

TEST_F(GpuSelection, AGpuThatIsNotHereIsRefusedWithTheGpusThatAre) {
  const SensorSet sensors = open_sensors();
  for (const std::string selector : {"3", "GPU-00000000-dead-beef-0000-000000000000", "first", "-1", ""}) {
    try {
      select_gpus(sensors, {"0", selector});
      ADD_FAILURE() << "'" << selector << "' was accepted";
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      EXPECT_TRUE(contains(message, "'" + selector + "'")) << message;
      EXPECT_TRUE(contains(message, "0: Fake NVIDIA GPU 0 (" + uuid_of(0) + ")")) << message;
      EXPECT_TRUE(contains(message, "2: Fake NVIDIA GPU 2 (" + uuid_of(2) + ")")) << message;
    }
  }
}

TEST_F(GpuSelection, NoNvidiaGpuHereIsSaid) {
  set("FAKE_NVML_SCENARIO", "nogpu");
  const SensorSet sensors = open_sensors();
  try {
    select_gpus(sensors, {"0"});
    ADD_FAILURE() << "a GPU was selected on a machine without one";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "'0'")) << e.what();
    EXPECT_TRUE(contains(e.what(), "no NVIDIA GPU is available here")) << e.what();
    EXPECT_TRUE(contains(e.what(), "reports no GPU")) << e.what();
  }
  EXPECT_TRUE(select_gpus(sensors, {}).indices.empty()) << "selecting none needs no GPU";
}

TEST_F(GpuSelection, CudaSeesTheSelectedGpusByUuidOrByIndexWithoutOne) {
  {
    const SensorSet sensors = open_sensors();
    const auto [name, value] = cuda_visible_devices(select_gpus(sensors, {"2", "0"}));
    EXPECT_EQ(name, "CUDA_VISIBLE_DEVICES");
    EXPECT_EQ(value, uuid_of(2) + "," + uuid_of(0));
    EXPECT_EQ(cuda_visible_devices(SelectedGpus{}).second, "");
  }
  set("FAKE_NVML_NO_UUID", "1");
  const SensorSet sensors = open_sensors();
  const SelectedGpus gpus = select_gpus(sensors, {"2", "1"});
  EXPECT_EQ(gpus.uuids, (std::vector<std::string>{"", ""}));
  EXPECT_EQ(cuda_visible_devices(gpus).second, "2,1");
  EXPECT_THROW(select_gpus(sensors, {uuid_of(1)}), std::invalid_argument) << "no UUID to match";
}

// ---- the meter and the figures ----

TEST_F(GpuSelection, WithoutASelectionEveryGpuIsGpuAsBefore) {
  SensorSet sensors = open_sensors();
  const MeterWindow window = metered(sensors, std::nullopt);
  EXPECT_FALSE(window.gpus.has_value());
  for (const Channel& c : window.channels) EXPECT_EQ(c.domain, Domain::gpu) << c.id;
  const auto figures = energy_figures(window, nullptr, std::nullopt);
  ASSERT_EQ(figures.size(), 1u) << "gpu only: no gpu-other, no per-GPU figures";
  expect_joules(figure(figures, "gpu"), kWatts[0] + kWatts[1] + kWatts[2], window.duration());
}

TEST_F(GpuSelection, TheSelectedGpuIsGpuTheOthersAreGpuOther) {
  SensorSet sensors = open_sensors();
  MeterOptions options{Seconds(0.02), nullptr};
  options.gpus = std::vector<int>{1};
  Meter meter(sensors, options);
  // Ids stay the GPU's; only the domain says whose it is. Marks and regions see the same channels.
  ASSERT_EQ(meter.channels().size(), 3u);
  EXPECT_EQ(meter.channels()[0].id, "gpu-0");
  EXPECT_EQ(meter.channels()[0].domain, Domain::gpu_other);
  EXPECT_EQ(meter.channels()[1].domain, Domain::gpu);
  EXPECT_EQ(meter.channels()[2].domain, Domain::gpu_other);
  EXPECT_EQ(sensors.channels()[0].domain, Domain::gpu) << "the sensor set is not changed";

  meter.start();
  std::this_thread::sleep_for(100ms);
  const Meter::Mark begin = meter.mark();
  std::this_thread::sleep_for(200ms);
  const Meter::Mark end = meter.mark();
  std::this_thread::sleep_for(50ms);
  const MeterWindow window = meter.stop();
  EXPECT_EQ(window.gpus, std::vector<int>{1});
  const Seconds duration = window.duration();

  const auto domains = energy_by_domain(window);
  ASSERT_EQ(domains.size(), 2u);
  EXPECT_EQ(domains[0].domain, Domain::gpu);
  EXPECT_EQ(domains[1].domain, Domain::gpu_other);

  auto figures = energy_figures(window, nullptr, std::nullopt);
  std::vector<std::string> names;
  for (const auto& f : figures) names.push_back(f.domain.name());
  EXPECT_EQ(names, (std::vector<std::string>{"gpu", "gpu-other", "gpu-0", "gpu-1", "gpu-2"}));
  expect_joules(figure(figures, "gpu"), kWatts[1], duration);
  expect_joules(figure(figures, "gpu-other"), kWatts[0] + kWatts[2], duration);
  for (int i = 0; i < 3; ++i) {
    const EnergyFigure* f = figure(figures, "gpu-" + std::to_string(i));
    expect_joules(f, kWatts[static_cast<std::size_t>(i)], duration);
    EXPECT_EQ(f->source, "nvml");
    EXPECT_EQ(f->method, FigureMethod::counter);
  }
  const EnergyFigure total = total_figure(figures, duration);
  EXPECT_NEAR(total.energy_j, figure(figures, "gpu")->energy_j, 1e-9) << "gpu-other and per-GPU figures not added";

  // A region between two marks: the same split.
  const auto region =
      figures_between(std::vector<Channel>(meter.channels().begin(), meter.channels().end()), begin, end);
  const Seconds region_length = end.time - begin.time;
  expect_joules(figure(region, "gpu"), kWatts[1], region_length);
  expect_joules(figure(region, "gpu-other"), kWatts[0] + kWatts[2], region_length);
  ASSERT_TRUE(region.back().domain.is_total());
  EXPECT_NEAR(region.back().energy_j, figure(region, "gpu")->energy_j, 1e-9);
}

TEST_F(GpuSelection, DynamicEnergyUsesTheIdlePowerOfTheSelectedGpus) {
  SensorSet sensors = open_sensors();
  // One baseline, measured with nothing selected, as a campaign takes it for all its runs.
  const IdleBaseline idle = measure_idle(sensors, Seconds(0.3), Seconds(0.02));
  ASSERT_EQ(idle.channels.size(), 3u);
  ASSERT_TRUE(idle.power(Domain::gpu).has_value());
  EXPECT_NEAR(idle.power(Domain::gpu)->value, 370.0, kTolerance * 370.0);
  EXPECT_NEAR(idle.channel_power("gpu-2")->value, kWatts[2], kTolerance * kWatts[2]);
  EXPECT_EQ(idle.channel_power("gpu-7"), std::nullopt);

  const auto expect_idle = [](const EnergyFigure* f, double watts) {
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->idle_power_w.has_value()) << f->domain.name();
    EXPECT_NEAR(*f->idle_power_w, watts, kTolerance * watts) << f->domain.name();
    // The GPUs draw the same power running as idle: nothing is dynamic beyond the reading noise.
    ASSERT_TRUE(f->dynamic_energy_j.has_value()) << f->domain.name();
    EXPECT_LT(*f->dynamic_energy_j, 2 * kTolerance * f->energy_j) << f->domain.name();
  };
  {
    const MeterWindow window = metered(sensors, std::vector<int>{1});
    auto figures = energy_figures(window, &idle, std::nullopt);
    expect_idle(figure(figures, "gpu"), kWatts[1]);
    expect_idle(figure(figures, "gpu-other"), kWatts[0] + kWatts[2]);
    expect_idle(figure(figures, "gpu-0"), kWatts[0]);
    expect_idle(figure(figures, "gpu-1"), kWatts[1]);
    const EnergyFigure total = total_figure(figures, window.duration());
    ASSERT_TRUE(total.idle_power_w.has_value());
    EXPECT_NEAR(*total.idle_power_w, kWatts[1], kTolerance * kWatts[1]);
  }
  {  // a region of a run on GPU 1: split as the run is, from its channels
    MeterOptions options{Seconds(0.02), nullptr};
    options.gpus = std::vector<int>{1};
    Meter meter(sensors, options);
    meter.start();
    const Meter::Mark begin = meter.mark();
    std::this_thread::sleep_for(200ms);
    const Meter::Mark end = meter.mark();
    meter.stop();
    const auto region =
        figures_between(std::vector<Channel>(meter.channels().begin(), meter.channels().end()), begin, end, &idle);
    expect_idle(figure(region, "gpu"), kWatts[1]);
    expect_idle(figure(region, "gpu-other"), kWatts[0] + kWatts[2]);
  }
  {  // the same baseline for another run's GPUs
    const MeterWindow window = metered(sensors, std::vector<int>{0, 2});
    auto figures = energy_figures(window, &idle, std::nullopt);
    expect_idle(figure(figures, "gpu"), kWatts[0] + kWatts[2]);
    expect_idle(figure(figures, "gpu-other"), kWatts[1]);
  }
  {  // and for a run that names none
    const MeterWindow window = metered(sensors, std::nullopt);
    auto figures = energy_figures(window, &idle, std::nullopt);
    expect_idle(figure(figures, "gpu"), 370.0);
  }
  {  // a baseline that kept no channels cannot be split: no idle power for either part
    IdleBaseline per_domain = idle;
    per_domain.channels.clear();
    per_domain.totals.clear();
    const MeterWindow window = metered(sensors, std::vector<int>{1}, 50ms);
    auto figures = energy_figures(window, &per_domain, std::nullopt);
    EXPECT_FALSE(figure(figures, "gpu")->dynamic_energy_j.has_value());
    EXPECT_FALSE(figure(figures, "gpu-other")->dynamic_energy_j.has_value());
  }
}

TEST_F(GpuSelection, AMeteredCommandOnOneGpuIsChargedForThatGpu) {
  SensorSet sensors = open_sensors();
  MeteredCommandOptions options;
  options.command.argv = {"sleep", "0.3"};
  options.interval = Seconds(0.02);
  options.gpus = std::vector<int>{2};
  const MeteredCommand metered = run_metered(sensors, options);
  RunRecord run;
  record_outcome(run, metered, nullptr, std::nullopt, "");
  ASSERT_EQ(run.status, RunStatus::ok) << run.reason;
  const Seconds duration = metered.window.duration();
  expect_joules(figure(run.energy, "gpu"), kWatts[2], duration);
  expect_joules(figure(run.energy, "gpu-other"), kWatts[0] + kWatts[1], duration);
  expect_joules(figure(run.energy, "gpu-2"), kWatts[2], duration);
  ASSERT_TRUE(run.energy.back().domain.is_total());
  EXPECT_NEAR(run.energy.back().energy_j, figure(run.energy, "gpu")->energy_j, 1e-9);
}

// ---- export and import ----

TEST_F(GpuSelection, PerGpuFiguresExportAndImportBack) {
  SensorSet sensors = open_sensors();
  const MeterWindow window = metered(sensors, std::vector<int>{1}, 100ms);
  RunRecord run;
  run.workload = "train";
  run.time_s = window.duration().count();
  run.energy = energy_figures(window, nullptr, std::nullopt);
  run.energy.push_back(total_figure(run.energy, window.duration()));

  joulebench::testing::TempDir dir;
  Store store(dir.path() / "gpus.db");
  CampaignPlan plan;
  plan.name = "gpus";
  plan.hash = "fnv1a64:0000000000000002";
  const std::int64_t campaign = store.create_campaign(plan, Shard{}, 1, {});
  store.record_run(campaign, run);

  const std::string csv = export_csv(store, campaign, {});
  const std::string header = csv.substr(0, csv.find('\n'));
  const auto column = [&](const std::string& name) { return header.find("," + name + ","); };
  for (const std::string name :
       {"energy_gpu_j", "energy_gpu-other_j", "energy_gpu-0_j", "energy_gpu-1_j", "energy_gpu-2_j", "energy_total_j"}) {
    EXPECT_NE(column(name), std::string::npos) << name << " in " << header;
  }
  EXPECT_LT(column("energy_gpu_j"), column("energy_gpu-other_j"));
  EXPECT_LT(column("energy_gpu-other_j"), column("energy_gpu-0_j"));
  EXPECT_LT(column("energy_gpu-2_j"), column("energy_total_j"));

  const std::filesystem::path file = dir.path() / "gpus.csv";
  joulebench::testing::write_file(file, csv);
  Store again(dir.path() / "again.db");
  const ImportResult imported = import_csv(again, file);
  const auto runs = again.runs(imported.campaign);
  ASSERT_EQ(runs.size(), 1u);
  for (const std::string name : {"gpu", "gpu-other", "gpu-0", "gpu-1", "gpu-2", "total"}) {
    const EnergyFigure* back = figure(runs[0].energy, name);
    ASSERT_NE(back, nullptr) << name;
    EXPECT_NEAR(back->energy_j, figure(run.energy, name)->energy_j, 1e-6) << name;
  }
  EXPECT_FALSE(figure(runs[0].energy, "gpu-1")->domain.counts_toward_total());
  EXPECT_EQ(export_csv(again, imported.campaign, {}), csv);
}

}  // namespace
}  // namespace joulebench

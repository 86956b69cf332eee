// The README's path on this machine's own energy sources, whatever they are: no redirected sysfs,
// no fake NVML, the estimate's own defaults. Every other CLI test fakes the sensors; this one
// would have caught a main job that fails on a real machine (a Firecracker VM's psys counter that
// reads 0 broke the report). The same commands run again on a fake powercap tree shaped like a
// machine with working RAPL (a package and its memory advancing at known power, a platform
// counter that never moves), so the counter path is exercised where this machine has none.
//
// Commands: sensors, measure --idle, a campaign of two workloads of more than a second each,
// compare, export, report, profile. Each must exit 0 and give no negative joule, no NaN and no
// figure for what was not measured.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;
using testing::write_file;

const std::string kCpuLoad = JOULEBENCH_CPU_LOAD;
constexpr double kPackageWatts = 15.0;
constexpr double kDramWatts = 3.0;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A powercap tree whose package and DRAM counters a thread advances at known power, every 2 ms,
/// as RAPL's do every millisecond; its platform counter stays at 0, as this project's VM's does.
class WorkingRaplTree {
 public:
  WorkingRaplTree() {
    testing::make_powercap_zone(zones() / "intel-rapl:0", "package-0", 0, kRange, 50'000'000);
    testing::make_powercap_zone(zones() / "intel-rapl:0:0", "dram", 0, kRange);
    testing::make_powercap_zone(zones() / "intel-rapl:1", "psys", 0, kRange);
    ticker_ = std::thread([this] {
      const auto start = std::chrono::steady_clock::now();
      while (!stop_) {
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        testing::write_counter(zones() / "intel-rapl:0" / "energy_uj",
                               static_cast<std::uint64_t>(kPackageWatts * t * 1e6));
        testing::write_counter(zones() / "intel-rapl:0:0" / "energy_uj",
                               static_cast<std::uint64_t>(kDramWatts * t * 1e6));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  ~WorkingRaplTree() {
    stop_ = true;
    ticker_.join();
  }
  const fs::path& root() const { return dir_.path(); }

 private:
  static constexpr std::uint64_t kRange = 262143328850;
  fs::path zones() const { return dir_.path() / "class" / "powercap"; }
  TempDir dir_;
  std::atomic<bool> stop_{false};
  std::thread ticker_;
};

/// "machine": the sources as they are; "working-rapl": the fake tree above.
class MachineSources : public ::testing::TestWithParam<std::string> {
 protected:
  MachineSources() {
    runner_.deadline = std::chrono::seconds(120);
    if (GetParam() == "working-rapl") rapl_ = std::make_unique<WorkingRaplTree>();
  }
  /// Nothing redirected (the test runner's redirections removed), but for the fake tree's sysfs.
  testing::Env environment() const {
    testing::Env env{{"JOULEBENCH_SYSFS_ROOT", std::nullopt},
                     {"JOULEBENCH_NVML_LIBRARY", std::nullopt},
                     {"JOULEBENCH_ESTIMATE_CPU_IDLE_W", std::nullopt},
                     {"JOULEBENCH_ESTIMATE_CPU_MAX_W", std::nullopt},
                     {"JOULEBENCH_ESTIMATE_DRAM_W_PER_GB", std::nullopt}};
    if (rapl_) env["JOULEBENCH_SYSFS_ROOT"] = rapl_->root().string();
    return env;
  }
  Result run(const std::vector<std::string>& args) {
    Result r = runner_.run(args, environment());
    EXPECT_EQ(r.exit_code, 0) << "joulebench " << fmt::format("{}", fmt::join(args, " ")) << "\n" << r.err;
    return r;
  }

  Runner runner_;
  std::unique_ptr<WorkingRaplTree> rapl_;
  TempDir dir_;
};

/// Every number under `j` is finite, and every one whose key says joules or watts is >= 0.
void expect_sane_numbers(const nlohmann::json& j, const std::string& key = "") {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) expect_sane_numbers(v, k);
  } else if (j.is_array()) {
    for (const auto& v : j) expect_sane_numbers(v, key);
  } else if (j.is_number()) {
    const double value = j.get<double>();
    EXPECT_TRUE(std::isfinite(value)) << key;
    if (key.ends_with("_j") || key.ends_with("_w")) {
      EXPECT_GE(value, 0.0) << key;
    }
  }
}

TEST_P(MachineSources, TheReadmesPathWorksOnThem) {
  // sensors: every channel in use is watched and judged.
  const Result sensors = run({"sensors", "--json"});
  const auto sources = testing::parse_json(sensors.out);
  expect_sane_numbers(sources);
  std::size_t watched = 0;
  for (const auto& source : sources["sources"]) {
    for (const auto& channel : source["channels"]) {
      if (!channel.contains("watched")) continue;
      ++watched;
      const std::string state = channel["watched"]["state"];
      EXPECT_TRUE(state == "ok" || state == "frozen" || state == "unmeasured") << channel.dump();
      if (state == "frozen") {
        EXPECT_TRUE(source["status"] == "frozen" || source["status"] == "ok") << source.dump();
      }
    }
  }
  EXPECT_GE(watched, 1u) << "the estimate at least: " << sensors.out;
  EXPECT_TRUE(contains(run({"sensors"}).out, "in use:"));

  // measure with an idle baseline.
  const Result measured =
      run({"measure", "--json", "--idle", "1s", "--", kCpuLoad, "--seconds", "1.2", "--threads", "1"});
  const auto m = testing::parse_json(measured.err);
  expect_sane_numbers(m);
  ASSERT_TRUE(m.contains("run")) << measured.err;
  const auto& energy = m["run"]["energy"];
  ASSERT_FALSE(energy.empty()) << measured.err;
  const auto& total = energy.back();
  ASSERT_EQ(total["domain"], "total") << measured.err;
  if (!total["measured"].get<bool>()) {
    EXPECT_FALSE(total["problem"].get<std::string>().empty()) << "a total not measured says why: " << total.dump();
  }
  for (const auto& d : energy) {
    if (!d["measured"].get<bool>()) {
      EXPECT_FALSE(d["problem"].get<std::string>().empty()) << d.dump();
    }
  }
  if (rapl_) {
    for (const auto& d : energy) {
      if (d["domain"] == "cpu") {
        EXPECT_EQ(d["source"], "rapl-powercap");
        EXPECT_TRUE(d["complete"].get<bool>()) << d.dump();
        EXPECT_NEAR(d["average_power_w"].get<double>(), kPackageWatts, 0.2 * kPackageWatts);
      }
      if (d["domain"] == "psys") {
        EXPECT_FALSE(d["measured"].get<bool>()) << d.dump();
      }
    }
  }

  // A campaign of two workloads of more than a second each.
  write_file(dir_.path() / "plan.toml", fmt::format(R"([campaign]
name = "machine sources"
repetitions = 3
warmup = 0
cooldown = "0s"
idle = "1s"

[[workload]]
name = "sleep"
framework = "idle"
model = "m"
phase = "p"
command = ["sleep", "1.2"]

[[workload]]
name = "load"
framework = "busy"
model = "m"
phase = "p"
command = ["{}", "--seconds", "1.2", "--threads", "1"]
)",
                                                    kCpuLoad));
  const fs::path db = dir_.path() / "runs.db";
  run({"run", (dir_.path() / "plan.toml").string(), "--db", db.string()});

  const Result compared = run({"compare", "--db", db.string(), "--format", "json"});
  expect_sane_numbers(testing::parse_json(compared.out));
  EXPECT_TRUE(contains(run({"compare", "--db", db.string()}).out, "total energy")) << "the total is compared";

  const Result exported = run({"export", "--db", db.string(), "--format", "json"});
  const auto runs = testing::parse_json(exported.out)["runs"];
  EXPECT_EQ(runs.size(), 6u);
  expect_sane_numbers(runs);
  if (rapl_) {
    for (const auto& r : runs) {
      ASSERT_FALSE(r["energy"].empty()) << r.dump();
      EXPECT_EQ(r["energy"].back()["domain"], "total") << r.dump();
      EXPECT_FALSE(r["energy"].back()["energy_j"].is_null()) << r.dump();
    }
  }
  const Result csv = run({"export", "--db", db.string()});
  EXPECT_FALSE(contains(csv.out, "nan")) << csv.out;

  const fs::path report = dir_.path() / "report";
  run({"report", "--db", db.string(), "-o", report.string()});
  const std::string page = read_all(report / "index.html");
  EXPECT_TRUE(contains(page, "data:image/svg+xml;base64,")) << "figures are embedded";
  EXPECT_FALSE(contains(page, "nan")) << "no NaN on the page";

  // profile: a Python function's time and energy.
  write_file(dir_.path() / "spin.py",
             "import time\ndef spin():\n    end = time.monotonic() + 1.2\n    while time.monotonic() < end:\n        "
             "pass\nspin()\n");
  const Result profiled = run({"profile", "--", JOULEBENCH_TEST_PYTHON, (dir_.path() / "spin.py").string()});
  EXPECT_TRUE(contains(profiled.out, "spin (spin.py:2)")) << profiled.out << profiled.err;
}

std::string source_kind(const ::testing::TestParamInfo<std::string>& param) {
  return param.param == "machine" ? "ThisMachine" : "WorkingRapl";
}
INSTANTIATE_TEST_SUITE_P(Both, MachineSources, ::testing::Values("machine", "working-rapl"), source_kind);

}  // namespace
}  // namespace joulebench

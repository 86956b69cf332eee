// The in-program API under joulebench: a Python program's Monitor takes its figures from the
// joulebench that runs it (`measure`, `run`, as the invoking user under sudo), and its windows are
// the run's regions with the same figures; the pure-Python events helper marks the same regions.
// A fake RAPL package zone advances at a known power throughout.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "fakes/test_user.hpp"
#include "joulebench/json_output.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;

constexpr double kWatts = 30.0;
constexpr double kIntervalS = 0.01;

/// A program that measures its own phases and writes what its Monitor said to argv[1].
constexpr const char* kProgram = R"(import json, os, sys, time
import joulebench
import joulebench_events as events

mon = joulebench.Monitor()
out = {"under_joulebench": mon.under_joulebench, "sources": mon.sources,
       "events_fd": os.environ.get("JOULEBENCH_EVENTS_FD")}
mon.begin_window("train")
time.sleep(0.3)
out["train"] = mon.end_window("train").to_dict()
with joulebench.measure("eval") as w:
    with events.region("eval-by-helper"):
        time.sleep(0.2)
out["eval"] = w.to_dict()

@joulebench.track("step")
def step():
    time.sleep(0.02)

for _ in range(3):
    step()
out["steps"] = mon.totals("step").calls
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
)";

double total_of(const json& energy) {
  for (const auto& e : energy) {
    if (e["domain"] == "total") return e["energy_j"].get<double>();
  }
  ADD_FAILURE() << "no total in " << energy.dump();
  return -1;
}

const json* region(const json& regions, const std::string& name) {
  for (const auto& r : regions) {
    if (r["name"] == name) return &r;
  }
  return nullptr;
}

class InProgram : public ::testing::Test {
 protected:
  InProgram() : zone_(make_zone(sysfs_.path())), counter_(zone_ / "energy_uj", kWatts) {
    testing::write_file(dir_.path() / "program.py", kProgram);
    fs::permissions(dir_.path(), fs::perms::all);  // a test user writes its figures here
  }
  static fs::path make_zone(const fs::path& sysfs) {
    const fs::path zone = sysfs / "class" / "powercap" / "intel-rapl:0";
    testing::make_powercap_zone(zone, "package-0", 1'000'000, 262'143'328'850);
    return zone;
  }
  /// joulebench reads the fake zone; the program finds `import joulebench` in the build and
  /// joulebench_events beside joulebench.
  testing::Env env() const {
    const fs::path build = fs::path(JOULEBENCH_BINARY).parent_path();
    return {{"JOULEBENCH_SYSFS_ROOT", sysfs_.path().string()},
            {"PYTHONPATH", (build / "python").string() + ":" + build.string()}};
  }
  json program_output() const { return testing::parse_json(read_all(dir_.path() / "out.json")); }

  /// The program's window and the stored region agree within 1 % or one sampling interval's
  /// energy, whichever is larger; their times within a millisecond.
  static void expect_agree(const json& window, const json& stored) {
    const double program_j = total_of(window["energy"]);
    const double stored_j = total_of(stored["energy"]);
    EXPECT_NEAR(program_j, stored_j, std::max(0.01 * stored_j, kWatts * kIntervalS)) << window.dump() << "\n"
                                                                                     << stored.dump();
    const double stored_s = stored["end_s"].get<double>() - stored["start_s"].get<double>();
    EXPECT_NEAR(window["time_s"].get<double>(), stored_s, 1e-3);
    // And both measure the known power (the cpu figure; dram is the estimate's).
    const json& cpu = stored["energy"][0];
    EXPECT_EQ(cpu["domain"], "cpu");
    EXPECT_NEAR(cpu["energy_j"].get<double>(), kWatts * stored_s, 0.01 * kWatts * stored_s) << stored.dump();
  }

  TempDir dir_;
  TempDir sysfs_;
  fs::path zone_;
  testing::PoweredCounter counter_;
  Runner runner_;
};

TEST_F(InProgram, MeasureGivesTheProgramItsFiguresAndReportsItsRegions) {
  const fs::path report = dir_.path() / "report.json";
  const Result r =
      runner_.run({"measure", "--interval", "10ms", "--format", "json", "-o", report.string(), "--",
                   JOULEBENCH_TEST_PYTHON, (dir_.path() / "program.py").string(), (dir_.path() / "out.json").string()},
                  env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json program = program_output();
  EXPECT_TRUE(program["under_joulebench"].get<bool>()) << program.dump();
  EXPECT_EQ(program["sources"]["cpu"], "rapl-powercap");
  EXPECT_EQ(program["steps"], 3);

  const json measured = testing::parse_json(read_all(report));
  const json& regions = measured["run"]["regions"];
  // Windows are regions; tracked calls are not.
  ASSERT_EQ(regions.size(), 3U) << regions.dump();
  ASSERT_NE(region(regions, "train"), nullptr);
  ASSERT_NE(region(regions, "eval"), nullptr);
  ASSERT_NE(region(regions, "eval-by-helper"), nullptr);
  expect_agree(program["train"], *region(regions, "train"));
  expect_agree(program["eval"], *region(regions, "eval"));
  // The pure-Python helper's region around the same work agrees with the Monitor's window.
  const json& helper = *region(regions, "eval-by-helper");
  EXPECT_NEAR(total_of(helper["energy"]), total_of(program["eval"]["energy"]),
              std::max(0.01 * total_of(helper["energy"]), kWatts * kIntervalS));

  // The text report has a table of the regions; the CSV a column per region.
  const Result text = runner_.run({"measure", "--interval", "10ms", "--", JOULEBENCH_TEST_PYTHON,
                                   (dir_.path() / "program.py").string(), (dir_.path() / "out.json").string()},
                                  env());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.err.find("region "), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("eval-by-helper"), std::string::npos) << text.err;
  const Result csv = runner_.run({"measure", "--interval", "10ms", "--csv", "--", JOULEBENCH_TEST_PYTHON,
                                  (dir_.path() / "program.py").string(), (dir_.path() / "out.json").string()},
                                 env());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const auto lines = testing::lines_of(csv.err);
  ASSERT_GE(lines.size(), 2U) << csv.err;
  const auto header = testing::csv_fields(lines[0]);
  EXPECT_NE(std::find(header.begin(), header.end(), "region_train_time_s"), header.end()) << lines[0];
  EXPECT_NE(std::find(header.begin(), header.end(), "region_train_energy_total_j"), header.end()) << lines[0];
}

TEST_F(InProgram, ProfileReportsTheRegionsBesideTheFunctions) {
  const Result r =
      runner_.run({"profile", "--mode", "python", "--interval", "10ms", "--format", "json", "--",
                   JOULEBENCH_TEST_PYTHON, (dir_.path() / "program.py").string(), (dir_.path() / "out.json").string()},
                  env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json profile = testing::parse_json(r.out);
  ASSERT_NE(region(profile["regions"], "train"), nullptr) << profile["regions"].dump();
  expect_agree(program_output()["train"], *region(profile["regions"], "train"));
  const Result table = runner_.run({"profile", "--mode", "python", "--", JOULEBENCH_TEST_PYTHON,
                                    (dir_.path() / "program.py").string(), (dir_.path() / "out.json").string()},
                                   env());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("eval-by-helper"), std::string::npos) << table.out;
}

TEST_F(InProgram, WithoutTheEventsChannelTheProgramMeasuresItself) {
  const fs::path report = dir_.path() / "report.json";
  const Result r = runner_.run({"measure", "--no-events", "--json", "-o", report.string(), "--", JOULEBENCH_TEST_PYTHON,
                                (dir_.path() / "program.py").string(), (dir_.path() / "out.json").string()},
                               env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json program = program_output();
  EXPECT_FALSE(program["under_joulebench"].get<bool>());
  EXPECT_TRUE(program["events_fd"].is_null()) << program.dump();
  // It read the fake zone itself (root reads it), at the known power.
  const json& cpu = program["train"]["energy"][0];
  EXPECT_EQ(cpu["source"], "rapl-powercap");
  const double time_s = program["train"]["time_s"].get<double>();
  EXPECT_NEAR(cpu["energy_j"].get<double>(), kWatts * time_s, 0.01 * kWatts * time_s);
  EXPECT_TRUE(testing::parse_json(read_all(report))["run"]["regions"].empty());
}

TEST_F(InProgram, ACampaignRunAsTheInvokingUserStoresTheProgramsWindows) {
  testing::TestUser user;
  if (!user.made()) GTEST_SKIP() << "needs root and useradd to make a test user";
  const fs::path plan = dir_.path() / "plan.toml";
  testing::write_file(plan,
                      "[campaign]\nname = \"in-program\"\nrepetitions = 1\nwarmup = 0\nidle = \"0s\"\n"
                      "cooldown = \"0s\"\ninterval = \"10ms\"\n\n[[workload]]\nname = \"script\"\n"
                      "framework = \"pytorch\"\nmodel = \"m\"\nphase = \"train\"\n"
                      "command = [\"" JOULEBENCH_TEST_PYTHON "\", \"" +
                          (dir_.path() / "program.py").string() + "\", \"" + (dir_.path() / "out.json").string() +
                          "\"]\n");
  testing::Env env = this->env();
  env.merge(user.sudo());
  const fs::path db = dir_.path() / "results.db";
  const Result r = runner_.run({"run", plan.string(), "--db", db.string()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const json program = program_output();
  // The user cannot read the RAPL zone (it is root's); joulebench's figures reached it anyway.
  EXPECT_TRUE(program["under_joulebench"].get<bool>()) << program.dump();
  const Store store(db);
  const auto runs = store.runs(store.campaigns().back().id, {}, false);
  ASSERT_EQ(runs.size(), 1U);
  json regions = json::array();
  for (const auto& stored : runs[0].regions) regions.push_back(json::parse(region_json(stored).dump()));
  ASSERT_NE(region(regions, "train"), nullptr) << regions.dump();
  ASSERT_NE(region(regions, "eval"), nullptr) << regions.dump();
  expect_agree(program["train"], *region(regions, "train"));
  expect_agree(program["eval"], *region(regions, "eval"));
}

}  // namespace
}  // namespace joulebench

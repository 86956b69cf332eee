// End to end: a channel that measured nothing never breaks a command, constant data never breaks a
// figure, and `joulebench report` touches only files it wrote in its output folder.
//
// The fake machine is shaped like the Firecracker VM joulebench first failed on: a RAPL platform
// (psys) counter that always reads 0, and the estimate for the CPU and memory.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/report.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;
using testing::write_file;

const std::string kCpuLoad = JOULEBENCH_CPU_LOAD;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

/// A sysfs whose only RAPL zone is a platform counter stuck at 0.
struct FrozenPsysMachine {
  TempDir sysfs;
  FrozenPsysMachine() {
    testing::make_powercap_zone(sysfs.path() / "class" / "powercap" / "intel-rapl:0", "psys", 0, 262143328850);
  }
  testing::Env env() const { return {{"JOULEBENCH_SYSFS_ROOT", sysfs.path().string()}}; }
};

TEST(Unmeasured, SensorsWatchesTheCountersAndShowsAFrozenOneAsFrozen) {
  FrozenPsysMachine machine;
  Runner runner;
  const Result text = runner.run({"sensors"}, machine.env());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "rapl-powercap   frozen")) << text.out;
  EXPECT_TRUE(contains(text.out, "frozen: the counter did not advance")) << text.out;
  EXPECT_TRUE(contains(text.out, "psys    <- rapl-powercap (frozen: psys-0)")) << text.out;
  EXPECT_TRUE(contains(text.out, "estimated: ")) << "the estimate's channels show their power: " << text.out;

  const Result json = runner.run({"sensors", "--json"}, machine.env());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto doc = testing::parse_json(json.out);
  for (const auto& source : doc["sources"]) {
    if (source["name"] != "rapl-powercap") continue;
    EXPECT_EQ(source["status"], "frozen");
    EXPECT_EQ(source["channels"][0]["watched"]["state"], "frozen");
  }

  const Result quick = runner.run({"sensors", "--no-watch"}, machine.env());
  ASSERT_EQ(quick.exit_code, 0) << quick.err;
  EXPECT_TRUE(contains(quick.out, "rapl-powercap   ok")) << "unwatched, a counter cannot be judged: " << quick.out;
  EXPECT_LT(quick.wall_s, text.wall_s);
}

TEST(Unmeasured, MeasureShowsAFigureThatMeasuredNothingAsNotMeasured) {
  FrozenPsysMachine machine;
  Runner runner;
  // measure reports on standard error: the command's own output stays on standard output.
  const Result r = runner.run({"measure", "--json", "--", "sleep", "1.2"}, machine.env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = testing::parse_json(r.err);
  bool seen = false;
  for (const auto& d : doc["run"]["energy"]) {
    if (d["domain"] != "psys") continue;
    seen = true;
    EXPECT_TRUE(d["energy_j"].is_null()) << d.dump();
    EXPECT_EQ(d["measured"], false);
    EXPECT_TRUE(contains(d["problem"].get<std::string>(), "did not advance")) << d.dump();
  }
  EXPECT_TRUE(seen) << r.err;
  const Result text = runner.run({"measure", "--", "sleep", "1.2"}, machine.env());
  EXPECT_TRUE(contains(text.err, "NOT MEASURED")) << text.err;
}

/// A campaign of two workloads of more than a second each, one of them profiled once, on the
/// frozen-psys machine; then every reading command.
class UnmeasuredCampaign : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    machine_ = std::make_unique<FrozenPsysMachine>();
    dir_ = std::make_unique<TempDir>();
    write_file(dir_->path() / "spin.py",
               "import time\nend = time.monotonic() + 1.1\nwhile time.monotonic() < end:\n    pass\n");
    const std::string plan = fmt::format(R"([campaign]
name = "frozen psys"
repetitions = 2
warmup = 0
cooldown = "0s"
idle = "1s"

[[workload]]
name = "sleepy"
framework = "a"
model = "m"
phase = "p"
command = ["sleep", "1.1"]

[[workload]]
name = "busy"
framework = "b"
model = "m"
phase = "p"
command = ["{}", "{}"]
profile = ["python"]
)",
                                         JOULEBENCH_TEST_PYTHON, (dir_->path() / "spin.py").string());
    write_file(dir_->path() / "plan.toml", plan);
    Runner runner;
    runner.deadline = std::chrono::seconds(90);
    const Result r = runner.run({"run", (dir_->path() / "plan.toml").string(), "--db", db().string()}, machine_->env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    dir_.reset();
    machine_.reset();
  }
  static fs::path db() { return dir_->path() / "runs.db"; }
  Result run(const std::vector<std::string>& args) {
    Runner runner;
    runner.deadline = std::chrono::seconds(90);
    return runner.run(args, machine_->env());
  }

  static std::unique_ptr<FrozenPsysMachine> machine_;
  static std::unique_ptr<TempDir> dir_;
};
std::unique_ptr<FrozenPsysMachine> UnmeasuredCampaign::machine_;
std::unique_ptr<TempDir> UnmeasuredCampaign::dir_;

TEST_F(UnmeasuredCampaign, CompareListsTheDomainOnceAndComparesTheRest) {
  const Result r = run({"compare", "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "psys energy was not measured in any of the 4 run(s)"), 1u) << r.out;
  EXPECT_TRUE(contains(r.out, "did not advance")) << "with the reason: " << r.out;
  EXPECT_FALSE(contains(r.out, "psys energy [J]")) << "and not compared: " << r.out;
  EXPECT_TRUE(contains(r.out, "total energy [J]")) << r.out;

  const Result json = run({"compare", "--db", db().string(), "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(count_of(json.out, "psys energy was not measured"), 1u) << json.out;
}

TEST_F(UnmeasuredCampaign, ExportLeavesWhatWasNotMeasuredEmpty) {
  const Result csv = run({"export", "--db", db().string()});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const auto lines = testing::lines_of(csv.out);
  ASSERT_EQ(lines.size(), 5u) << csv.out;
  const auto header = testing::csv_fields(lines[0]);
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  ASSERT_LT(column("energy_psys_j"), header.size()) << lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto row = testing::csv_fields(lines[i]);
    EXPECT_EQ(row[column("energy_psys_j")], "") << "no 0 J that reads as a measurement: " << lines[i];
    EXPECT_EQ(row[column("energy_psys_complete")], "false");
    EXPECT_NE(row[column("energy_total_j")], "");
  }
  EXPECT_EQ(count_of(csv.err, "psys energy was not measured"), 1u) << csv.err;

  const Result json = run({"export", "--db", db().string(), "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto runs = testing::parse_json(json.out)["runs"];
  EXPECT_FALSE(runs.empty());
  for (const auto& run : runs) {
    for (const auto& figure : run["energy"]) {
      if (figure["domain"] != "psys") continue;
      EXPECT_TRUE(figure["energy_j"].is_null()) << run.dump();
      EXPECT_EQ(figure["measured"], false) << run.dump();
    }
  }

  // Exported, imported, exported again: the figure stays one that measured nothing.
  write_file(dir_->path() / "exported.csv", csv.out);
  const fs::path copy = dir_->path() / "copy.db";
  const Result imported = run({"import", (dir_->path() / "exported.csv").string(), "--db", copy.string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const Result again = run({"export", "--db", copy.string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(testing::lines_of(again.out).at(1), lines[1]);
}

TEST_F(UnmeasuredCampaign, ReportAndProfilesSucceedWithoutDrawingIt) {
  const fs::path out = dir_->path() / "report";
  const Result r = run({"report", "--db", db().string(), "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_all(out / "index.html");
  EXPECT_EQ(count_of(page, "psys energy was not measured in any of the 4 run(s)"), 1u) << "listed once";
  EXPECT_FALSE(fs::exists(out / "figures" / "box-m-p-psys.gp")) << "not drawn";
  EXPECT_TRUE(fs::exists(out / "figures" / "box-m-p-total.svg"));
  EXPECT_FALSE(contains(page, "nan")) << "no figure of it as NaN";

  const Result profiles = run({"profiles", "--db", db().string()});
  ASSERT_EQ(profiles.exit_code, 0) << profiles.err;
  EXPECT_TRUE(contains(profiles.out, "spin.py")) << profiles.out;
}

TEST(Unmeasured, ShortRunsOfACampaignWithoutAnIdleBaselineAreJudgedFromTheFirst) {
  // Runs far shorter than the second a stall needs: the campaign watches the counters first, so
  // the frozen counter measures nothing in the first run as in the last.
  FrozenPsysMachine machine;
  TempDir dir;
  write_file(dir.path() / "plan.toml", R"([campaign]
name = "short"
repetitions = 3
warmup = 0
cooldown = "0s"
idle = "0s"

[[workload]]
name = "w"
framework = "f"
model = "m"
phase = "p"
command = ["sleep", "0.1"]
)");
  Runner runner;
  runner.deadline = std::chrono::seconds(60);
  const fs::path db = dir.path() / "runs.db";
  const Result r = runner.run({"run", (dir.path() / "plan.toml").string(), "--db", db.string()}, machine.env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "watching the energy counters")) << r.err;
  const Store store(db);
  const auto runs = store.runs(store.campaigns().at(0).id);
  ASSERT_EQ(runs.size(), 3u);
  for (const auto& run : runs) {
    const EnergyFigure* psys = find_energy(run.energy, Domain::psys);
    ASSERT_NE(psys, nullptr);
    EXPECT_TRUE(psys->measured_nothing) << "run " << run.index;
  }
}

TEST(Unmeasured, BenchListsTheDomainOnce) {
  FrozenPsysMachine machine;
  Runner runner;
  runner.deadline = std::chrono::seconds(60);
  const Result r = runner.run({"bench", "-r", "2", "-w", "0", "--cooldown", "0s", "--idle", "0s", "sleep 1.1",
                               kCpuLoad + " --seconds 1.1 --threads 1"},
                              machine.env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "psys energy was not measured in any of the 4 run(s)"), 1u) << r.out;
}

// A workload that is its own package counter: it advances it at 20 W in its region "busy", and
// leaves it standing for 1.3 s in its region "still".
constexpr const char* kStallingWorkload = R"(import os, sys, time
counter = os.open(sys.argv[1], os.O_WRONLY)
events = int(os.environ["JOULEBENCH_EVENTS_FD"])
energy_uj = float(open(sys.argv[1]).read())
def event(text):
    os.write(events, (text + "\n").encode())
def busy(seconds):
    global energy_uj
    start = last = time.monotonic()
    while last - start < seconds:
        now = time.monotonic()
        energy_uj += 20.0 * (now - last) * 1e6
        os.pwrite(counter, b"%20d\n" % int(energy_uj), 0)
        last = now
busy(0.05)  # the counter stood still until the workload started: it moves before "busy" begins
event('{"event":"begin","region":"busy"}'); busy(0.4); event('{"event":"end","region":"busy"}')
busy(0.1)  # the stall begins after "busy" ended, however late joulebench reads its events
event('{"event":"begin","region":"still"}'); time.sleep(1.3); event('{"event":"end","region":"still"}')
busy(0.3)
)";

TEST(Unmeasured, ARegionInWhichTheCounterStoodStillIsIncomplete) {
  TempDir dir;
  const fs::path zone = dir.path() / "sys" / "class" / "powercap" / "intel-rapl:0";
  testing::make_powercap_zone(zone, "package-0", 1000, 262143328850);
  write_file(dir.path() / "work.py", kStallingWorkload);
  write_file(dir.path() / "plan.toml",
             fmt::format(R"([campaign]
name = "stall"
repetitions = 1
warmup = 0
cooldown = "0s"
idle = "0s"
interval = "50ms"

[[workload]]
name = "w"
framework = "f"
model = "m"
phase = "p"
command = ["{}", "{}", "{}"]
)",
                         JOULEBENCH_TEST_PYTHON, (dir.path() / "work.py").string(), (zone / "energy_uj").string()));
  Runner runner;
  runner.deadline = std::chrono::seconds(60);
  const fs::path db = dir.path() / "runs.db";
  const Result r = runner.run({"run", (dir.path() / "plan.toml").string(), "--db", db.string()},
                              {{"JOULEBENCH_SYSFS_ROOT", (dir.path() / "sys").string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Store store(db);
  const auto runs = store.runs(store.campaigns().at(0).id);
  ASSERT_EQ(runs.size(), 1u);
  const EnergyFigure* cpu = find_energy(runs[0].energy, Domain::cpu);
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->source, "rapl-powercap");
  EXPECT_FALSE(cpu->complete) << "the run stood still for 1.3 s";
  EXPECT_FALSE(cpu->measured_nothing);
  // The 1.3 s, and the interpreter's start: the counter (moved only by the workload) stood still
  // through the second the campaign watched it before the run, so it is unmeasured from the run's
  // start until the workload first moves it.
  EXPECT_GT(cpu->unmeasured_s, 1.05);
  EXPECT_LT(cpu->unmeasured_s, runs[0].time_s - 0.4);
  EXPECT_TRUE(contains(cpu->problem, "no working RAPL counter does")) << cpu->problem;
  ASSERT_EQ(runs[0].regions.size(), 2u);
  for (const auto& region : runs[0].regions) {
    const EnergyFigure* region_cpu = find_energy(region.energy, Domain::cpu);
    const EnergyFigure* region_total = find_energy(region.energy, DomainId::total());
    ASSERT_NE(region_cpu, nullptr);
    ASSERT_NE(region_total, nullptr);
    if (region.name == "busy") {
      EXPECT_TRUE(region_cpu->complete) << region_cpu->problem;
      EXPECT_NEAR(region_cpu->energy_j, 20.0 * (region.end_s - region.start_s), 2.0);
    } else {
      EXPECT_FALSE(region_cpu->complete) << "still: the stall was found after the region began";
      EXPECT_FALSE(region_total->complete);
      // Nearly all of it: the region's end is marked when joulebench reads the event, by which time
      // the workload may have begun to advance the counter again.
      EXPECT_GT(region_cpu->unmeasured_s, 1.0) << "of " << region.end_s - region.start_s;
    }
  }
}

// ---- a store written directly: figures of constant and zero data -------------------------------

/// Two frameworks of one model and phase, three runs each, with the figures given per run.
void write_store(const fs::path& db, const std::function<std::vector<EnergyFigure>(const std::string&, int)>& energy,
                 const std::string& model = "m") {
  Store store(db);
  CampaignPlan plan;
  plan.name = "direct " + model;
  plan.hash = model == "m" ? "fnv1a64:0000000000000001" : "fnv1a64:0000000000000002";
  const std::int64_t campaign = store.create_campaign(plan, Shard{}, 6, {});
  std::size_t index = 0;
  for (const std::string framework : {"a", "b"}) {
    for (int repetition = 1; repetition <= 3; ++repetition) {
      RunRecord run;
      run.index = index++;
      run.workload = framework;
      run.repetition = repetition;
      run.labels = {{"framework", framework}, {"model", model}, {"phase", "train"}};
      run.exit_code = 0;
      run.time_s = 2.0;
      run.energy = energy(framework, repetition);
      store.record_run(campaign, run);
    }
  }
  store.finish_campaign(campaign);
}

EnergyFigure figure(const std::string& domain, double joules) {
  EnergyFigure e;
  e.domain = *DomainId::parse(domain);
  e.energy_j = joules;
  e.source = "rapl-powercap";
  e.method = FigureMethod::counter;
  return e;
}

TEST(ReportFigures, ConstantAndZeroDataAreDrawn) {
  // Every run takes 2.000 s and its integrated GPU (uncore) measured 0 J: genuinely constant.
  TempDir dir;
  const fs::path db = dir.path() / "constant.db";
  write_store(db, [](const std::string&, int) {
    return std::vector<EnergyFigure>{figure("cpu", 5.0), figure("uncore", 0.0), figure("total", 5.0)};
  });
  Runner runner;
  runner.deadline = std::chrono::seconds(60);
  const fs::path out = dir.path() / "report";
  const Result r = runner.run({"report", "--db", db.string(), "-o", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"box-m-train-time", "box-m-train-cpu", "box-m-train-uncore", "box-m-train-total"}) {
    EXPECT_GT(fs::file_size(out / "figures" / (std::string(name) + ".svg")), 0u) << name;
  }
  const Result compare = runner.run({"compare", "--db", db.string()});
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_TRUE(contains(compare.out, "uncore energy")) << "measured zero is a measurement: " << compare.out;
  EXPECT_FALSE(contains(compare.out, "not measured")) << compare.out;
}

// ---- `report -o DIR`: only joulebench's own files --------------------------------------------

class ReportFolder : public ::testing::Test {
 protected:
  ReportFolder() {
    runner.deadline = std::chrono::seconds(60);
    write_store(db_a, [](const std::string& framework, int repetition) {
      const double j = (framework == "a" ? 10.0 : 20.0) + repetition;
      return std::vector<EnergyFigure>{figure("cpu", j), figure("total", j)};
    });
    write_store(
        db_b, [](const std::string&, int repetition) { return std::vector<EnergyFigure>{figure("total", repetition)}; },
        "other");
  }
  Result report(const fs::path& db, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"report", "--db", db.string(), "-o", out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return runner.run(args);
  }

  TempDir dir;
  Runner runner;
  const fs::path db_a = dir.path() / "a.db";
  const fs::path db_b = dir.path() / "b.db";
  const fs::path out = dir.path() / "out";
};

TEST_F(ReportFolder, ANonEmptyFolderItDidNotMakeIsRefusedUnlessForced) {
  write_file(out / "notes.txt", "mine");
  write_file(out / "figures" / "drawing.svg", "<svg>mine</svg>");
  write_file(out / "index.html", "my page");
  const Result refused = report(db_a);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(contains(refused.err, "is not empty")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "--force")) << refused.err;
  EXPECT_EQ(read_all(out / "index.html"), "my page");
  EXPECT_FALSE(fs::exists(out / "tables"));

  const Result forced = report(db_a, {"--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(read_all(out / "notes.txt"), "mine");
  EXPECT_EQ(read_all(out / "figures" / "drawing.svg"), "<svg>mine</svg>") << "a figure of another name is the user's";
  EXPECT_TRUE(contains(read_all(out / "index.html"), "<!DOCTYPE html>")) << "forced: the names it writes are replaced";
}

TEST_F(ReportFolder, AnEarlierReportIsReplacedAndTheUsersFilesStay) {
  ASSERT_EQ(report(db_a).exit_code, 0);
  ASSERT_TRUE(fs::exists(out / "figures" / "box-m-train-cpu.svg"));
  write_file(out / "figures" / "mine.svg", "<svg>mine</svg>");
  write_file(out / "figures" / "mine.gp", "# my script");
  write_file(out / "tables" / "my-table.md", "| mine |");

  const Result again = report(db_b);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(fs::exists(out / "figures" / "box-m-train-cpu.svg")) << "the earlier report's figures go";
  EXPECT_FALSE(fs::exists(out / "figures" / "box-m-train-cpu.gp"));
  EXPECT_TRUE(fs::exists(out / "figures" / "box-other-train-total.svg"));
  EXPECT_EQ(read_all(out / "figures" / "mine.svg"), "<svg>mine</svg>");
  EXPECT_EQ(read_all(out / "figures" / "mine.gp"), "# my script");
  EXPECT_EQ(read_all(out / "tables" / "my-table.md"), "| mine |");
}

TEST_F(ReportFolder, AReportThatFailedPartWayIsReplacedByTheNext) {
  // Without gnuplot the report fails after writing its data and scripts; the next one, with
  // gnuplot, needs no --force: the folder lists what the failed one wrote.
  TempDir no_programs;
  const Result failed =
      runner.run({"report", "--db", db_a.string(), "-o", out.string()}, {{"PATH", no_programs.path().string()}});
  ASSERT_NE(failed.exit_code, 0);
  EXPECT_TRUE(contains(failed.err, "gnuplot")) << failed.err;
  ASSERT_TRUE(fs::exists(out / kReportManifest));
  const Result again = report(db_a);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(fs::exists(out / "index.html"));
}

TEST_F(ReportFolder, AReportOfAnEarlierVersionNeedsForceAndSaysWhy) {
  write_file(out / "index.html", "<!DOCTYPE html><title>joulebench report</title>");
  write_file(out / "figures" / "draw_all.gp", "load 'x.gp'\n");
  const Result refused = report(db_a);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(contains(refused.err, "earlier joulebench")) << refused.err;
  EXPECT_EQ(report(db_a, {"--force"}).exit_code, 0);
}

TEST_F(ReportFolder, AHardLinkOrAFifoIsNeverWrittenThrough) {
  ASSERT_EQ(report(db_a).exit_code, 0);
  // index.html hard-linked to a file of the user's: writing it would change theirs too.
  TempDir elsewhere;
  write_file(elsewhere.path() / "page.html", "precious");
  fs::remove(out / "index.html");
  fs::create_hard_link(elsewhere.path() / "page.html", out / "index.html");
  const Result linked = report(db_a);
  EXPECT_NE(linked.exit_code, 0);
  EXPECT_TRUE(contains(linked.err, "hard links")) << linked.err;
  EXPECT_EQ(read_all(elsewhere.path() / "page.html"), "precious");

  // A FIFO where the manifest should be: no hang, no manifest, so the folder is someone else's.
  TempDir other;
  ASSERT_EQ(::mkfifo((other.path() / kReportManifest).c_str(), 0644), 0);
  const Result fifo = runner.run({"report", "--db", db_a.string(), "-o", other.path().string()});
  EXPECT_NE(fifo.exit_code, 0);
  EXPECT_TRUE(contains(fifo.err, "is not empty")) << fifo.err;
}

TEST_F(ReportFolder, NothingIsWrittenOrDeletedThroughASymbolicLink) {
  ASSERT_EQ(report(db_a).exit_code, 0);
  // figures/ replaced by a link to a folder of the user's: its files must survive.
  TempDir elsewhere;
  write_file(elsewhere.path() / "box-m-train-cpu.svg", "precious");
  write_file(elsewhere.path() / "thesis.pdf", "precious");
  fs::remove_all(out / "figures");
  fs::create_directory_symlink(elsewhere.path(), out / "figures");
  const Result linked_folder = report(db_a);
  EXPECT_NE(linked_folder.exit_code, 0);
  EXPECT_TRUE(contains(linked_folder.err, "symbolic link")) << linked_folder.err;
  EXPECT_EQ(read_all(elsewhere.path() / "box-m-train-cpu.svg"), "precious");
  EXPECT_EQ(read_all(elsewhere.path() / "thesis.pdf"), "precious");
  EXPECT_EQ(std::distance(fs::directory_iterator(elsewhere.path()), fs::directory_iterator{}), 2);

  // index.html replaced by a link to a file of the user's: it must not be overwritten.
  fs::remove(out / "figures");
  ASSERT_EQ(report(db_a).exit_code, 0);
  write_file(elsewhere.path() / "page.html", "precious");
  fs::remove(out / "index.html");
  fs::create_symlink(elsewhere.path() / "page.html", out / "index.html");
  const Result linked_file = report(db_a, {"--force"});
  EXPECT_NE(linked_file.exit_code, 0);
  EXPECT_TRUE(contains(linked_file.err, "symbolic link")) << linked_file.err;
  EXPECT_EQ(read_all(elsewhere.path() / "page.html"), "precious");
}

}  // namespace
}  // namespace joulebench

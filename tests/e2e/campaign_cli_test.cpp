// End-to-end tests of campaigns: `joulebench run` on real plans, with workloads that succeed,
// fail, crash, hang and flood their output; interruptions (Ctrl-C, kill -9) and resume; shards
// and merge; the store read back through the library.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <csignal>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "fakes/cli_runner.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::lines_of;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A campaign section with a fast protocol: no idle baseline, no cool-down.
std::string campaign_header(const std::string& name, int repetitions, int warmup, const std::string& extra = "") {
  return "[campaign]\nname = \"" + name + "\"\nseed = 7\nrepetitions = " + std::to_string(repetitions) +
         "\nwarmup = " + std::to_string(warmup) + "\nidle = \"0s\"\ncooldown = \"0s\"\ninterval = \"10ms\"\n" + extra +
         "\n";
}

std::string workload(const std::string& name, const std::string& framework, const std::string& command,
                     const std::string& extra = "") {
  return "[[workload]]\nname = \"" + name + "\"\nframework = \"" + framework +
         "\"\nmodel = \"m\"\nphase = \"train\"\nshell = true\ncommand = '''" + command + "'''\n" + extra + "\n";
}

class CampaignCli : public ::testing::Test {
 protected:
  fs::path write_plan(const std::string& text, const std::string& name = "plan.toml") {
    const fs::path path = dir.path() / name;
    testing::write_file(path, text);
    return path;
  }
  fs::path db(const std::string& name = "results.db") const { return dir.path() / name; }
  Result run(const std::vector<std::string>& args, const std::function<void(pid_t)>& during = {}) {
    return runner.run(args, {}, std::nullopt, during);
  }
  static std::vector<RunRecord> runs_of(const fs::path& file, bool with_timelines = false) {
    const Store store(file);
    return store.runs(store.campaigns().back().id, {}, with_timelines);
  }

  TempDir dir;
  Runner runner;
};

TEST_F(CampaignCli, RecordsEveryRunWithRegionsMetricsAndTimeline) {
  const std::string events =
      R"(echo '{"event":"meta","key":"framework","value":"sh"}' >&$JOULEBENCH_EVENTS_FD; )"
      R"(echo '{"event":"begin","region":"train"}' >&$JOULEBENCH_EVENTS_FD; sleep 0.2; )"
      R"(echo '{"event":"end","region":"train"}' >&$JOULEBENCH_EVENTS_FD; )"
      R"(echo '{"event":"metric","name":"accuracy","value":0.75,"unit":"%"}' >&$JOULEBENCH_EVENTS_FD; )"
      R"(echo 'not json' >&$JOULEBENCH_EVENTS_FD; echo done)";
  const fs::path plan =
      write_plan(campaign_header("basic", 3, 1) + workload("a", "one", events) + workload("b", "two", "sleep 0.05"));
  const Result r = run({"run", plan.string(), "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "8 of 8 runs recorded")) << r.err;

  const Store store(db());
  ASSERT_EQ(store.campaigns().size(), 1U);
  EXPECT_TRUE(store.campaigns().back().finished);
  const auto runs = store.runs(store.campaigns().back().id, {}, true);
  ASSERT_EQ(runs.size(), 8U);
  std::set<std::size_t> indices;
  int warmups = 0;
  for (const auto& run : runs) {
    indices.insert(run.index);
    warmups += run.warmup ? 1 : 0;
    EXPECT_EQ(run.status, RunStatus::ok) << run.workload << " " << run.reason;
    ASSERT_FALSE(run.energy.empty());
    EXPECT_TRUE(run.energy.back().domain.is_total());
    EXPECT_GT(run.energy.back().energy_j, 0.0);
    EXPECT_TRUE(run.energy.back().estimated) << "this machine only has the estimate";
    EXPECT_EQ(run.timeline.channels, (std::vector<std::string>{"cpu-0", "dram-0"}));
    EXPECT_GE(run.timeline.time_s.size(), 3U);
    if (run.workload != "a") continue;
    ASSERT_EQ(run.regions.size(), 1U);
    EXPECT_EQ(run.regions[0].name, "train");
    EXPECT_NEAR(run.regions[0].end_s - run.regions[0].start_s, 0.2, 0.15);
    EXPECT_GT(run.regions[0].energy.back().energy_j, 0.0);
    EXPECT_LT(run.regions[0].energy.back().energy_j, run.energy.back().energy_j);
    ASSERT_EQ(run.metrics.size(), 1U);
    EXPECT_EQ(run.metrics[0].name, "accuracy");
    EXPECT_DOUBLE_EQ(run.metrics[0].value, 0.75);
    EXPECT_EQ(run.metrics[0].origin, "events");
    EXPECT_EQ(run.metadata, (KeyValues{{"framework", "sh"}}));
    EXPECT_EQ(run.malformed_events, 1U) << "'not json' is skipped and counted";
    EXPECT_EQ(read_all(dir.path() / run.stdout_log.path), "done\n");
  }
  EXPECT_EQ(indices.size(), 8U);
  EXPECT_EQ(*indices.rbegin(), 7U);
  EXPECT_EQ(warmups, 2);
}

TEST_F(CampaignCli, FailuresCrashesHangsAndFloodsAreRecordedAndTheCampaignGoesOn) {
  const fs::path plan = write_plan(
      campaign_header("trouble", 1, 0, "order = \"blocked\"") + workload("fails", "x", "echo oops >&2; exit 3") +
      workload("crashes", "x", "kill -SEGV $$") + workload("hangs", "x", "sleep 30", "timeout = \"300ms\"") +
      workload("floods", "x", "head -c 30000000 /dev/zero | tr '\\0' x") + workload("fine", "x", "true"));
  const Result r = run({"run", plan.string(), "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto runs = runs_of(db());
  ASSERT_EQ(runs.size(), 5U);
  EXPECT_EQ(runs[0].status, RunStatus::failed);
  EXPECT_EQ(runs[0].exit_code, 3);
  EXPECT_EQ(read_all(dir.path() / runs[0].stderr_log.path), "oops\n");
  EXPECT_EQ(runs[1].status, RunStatus::signaled);
  EXPECT_EQ(runs[1].signal, SIGSEGV);
  EXPECT_EQ(runs[2].status, RunStatus::timed_out);
  EXPECT_LT(runs[2].time_s, 2.0) << "killed at its timeout";
  EXPECT_TRUE(contains(runs[2].reason, "timeout"));
  EXPECT_EQ(runs[3].status, RunStatus::ok);
  EXPECT_EQ(runs[3].stdout_log.bytes, 30000000U);
  EXPECT_GT(runs[3].stdout_log.dropped, 0U);
  const auto kept = fs::file_size(dir.path() / runs[3].stdout_log.path);
  EXPECT_LE(kept, (9U << 20) + 512U) << "the log is bounded: first 8 MiB and last 1 MiB";
  EXPECT_EQ(runs[4].status, RunStatus::ok);
}

TEST_F(CampaignCli, SetupFailureMarksTheWorkloadsRunsNotRunAndPrepareRunsBeforeEachRun) {
  const fs::path counter = dir.path() / "prepared";
  const fs::path plan =
      write_plan(campaign_header("helpers", 2, 1) + workload("broken", "x", "true", "setup = ['sh', '-c', 'exit 4']") +
                 workload("prepared", "y", "true", "prepare = ['sh', '-c', 'echo run >> " + counter.string() + "']"));
  const Result r = run({"run", plan.string(), "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int not_run = 0;
  for (const auto& run : runs_of(db())) {
    if (run.workload != "broken") continue;
    EXPECT_EQ(run.status, RunStatus::not_run);
    EXPECT_TRUE(contains(run.reason, "setup failed")) << run.reason;
    ++not_run;
  }
  EXPECT_EQ(not_run, 3);
  EXPECT_EQ(lines_of(read_all(counter)).size(), 3U) << "prepare before each of the warm-up and 2 measured runs";
}

TEST_F(CampaignCli, MetricsFromDlloggerMllogAndRegexOutput) {
  const std::string printing =
      R"(echo 'DLLL {"timestamp": "1.0", "datetime": "x", "elapsedtime": 1.0, "type": "LOG", "step": [], "data": {"train.loss": 0.25}}'; )"
      R"(echo ':::MLLOG {"namespace": "", "time_ms": 1, "event_type": "POINT_IN_TIME", "key": "eval_accuracy", "value": 0.5, "metadata": {}}'; )"
      R"(echo 'epoch 1 throughput=123.5 img/s')";
  const fs::path plan = write_plan(
      campaign_header("parsed", 1, 0) +
      workload("p", "x", printing, "parse = [\"dllogger\", \"mllog\"]\nregex = ['throughput=(?<throughput>[0-9.]+)']"));
  const Result r = run({"run", plan.string(), "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto runs = runs_of(db());
  ASSERT_EQ(runs.size(), 1U);
  std::map<std::string, std::pair<double, std::string>> metrics;
  for (const auto& m : runs[0].metrics) metrics[m.name] = {m.value, m.origin};
  EXPECT_EQ(metrics["train.loss"], (std::pair<double, std::string>{0.25, "dllogger"}));
  EXPECT_EQ(metrics["eval_accuracy"], (std::pair<double, std::string>{0.5, "mllog"}));
  EXPECT_EQ(metrics["throughput"], (std::pair<double, std::string>{123.5, "regex"}));
}

/// Kills joulebench with SIGKILL at random moments until the campaign completes: in the end the
/// store holds exactly the planned runs, none lost, none twice, and passes SQLite's own check.
TEST_F(CampaignCli, SurvivesKillMinus9AtRandomMomentsAndResumes) {
  const fs::path plan = write_plan(campaign_header("killed", 4, 1) + workload("a", "one", "sleep 0.06") +
                                   workload("b", "two", "sleep 0.04") + workload("c", "three", "sleep 0.05"));
  std::mt19937 random(20261128);
  std::uniform_int_distribution<int> delay_ms(20, 400);
  int kills = 0;
  int attempts = 0;
  for (; attempts < 40; ++attempts) {
    const int delay = delay_ms(random);
    const Result r = run({"run", plan.string(), "--db", db().string()}, [&](pid_t pid) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      if (::kill(pid, SIGKILL) == 0) ++kills;
    });
    if (r.exit_code == 0) break;
    ASSERT_EQ(r.term_signal, SIGKILL) << "exit " << r.exit_code << ": " << r.err;
  }
  ASSERT_LT(attempts, 40) << "the campaign never completed";
  EXPECT_GE(kills, 3) << "the test must really interrupt the campaign several times";

  const Store store(db());
  ASSERT_EQ(store.campaigns().size(), 1U) << "every restart resumed the same campaign";
  const auto runs = store.runs(store.campaigns().back().id);
  ASSERT_EQ(runs.size(), 15U);
  std::set<std::size_t> indices;
  for (const auto& run : runs) indices.insert(run.index);
  EXPECT_EQ(indices.size(), 15U) << "no run recorded twice";
  EXPECT_EQ(*indices.rbegin(), 14U);
  EXPECT_TRUE(store.campaigns().back().finished);

  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db().c_str(), &handle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* check = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(handle, "PRAGMA integrity_check", -1, &check, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(check), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(check, 0)), "ok");
  sqlite3_finalize(check);
  sqlite3_close(handle);
}

TEST_F(CampaignCli, FirstCtrlCFinishesTheRunSecondKillsItAndResumeCompletes) {
  const fs::path plan = write_plan(campaign_header("interrupted", 3, 0) + workload("slow", "one", "sleep 0.4"));
  // One SIGINT: the current run is finished and recorded, then joulebench stops with 130.
  Result r = run({"run", plan.string(), "--db", db().string()}, [](pid_t pid) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ::kill(pid, SIGINT);
  });
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_TRUE(contains(r.err, "resume")) << r.err;
  EXPECT_EQ(runs_of(db()).size(), 1U);
  EXPECT_EQ(runs_of(db())[0].status, RunStatus::ok) << "the interrupted run was finished, not killed";

  // Two SIGINTs: the current run is killed at once and not recorded.
  r = run({"run", plan.string(), "--db", db().string()}, [](pid_t pid) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ::kill(pid, SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ::kill(pid, SIGINT);
  });
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_LT(r.wall_s, 0.4) << "the run was killed, not waited for";
  EXPECT_EQ(runs_of(db()).size(), 1U);

  r = run({"run", plan.string(), "--db", db().string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "1 of 3 runs already recorded")) << r.err;
  EXPECT_EQ(runs_of(db()).size(), 3U);
}

TEST_F(CampaignCli, AChangedPlanIsRefusedUnlessAskedForANewCampaign) {
  const fs::path plan = write_plan(campaign_header("first", 1, 0) + workload("a", "one", "true"));
  ASSERT_EQ(run({"run", plan.string(), "--db", db().string()}).exit_code, 0);

  Result again = run({"run", plan.string(), "--db", db().string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "already holds the finished campaign")) << again.err;

  write_plan(campaign_header("first", 2, 0) + workload("a", "one", "true"));
  Result changed = run({"run", plan.string(), "--db", db().string()});
  EXPECT_EQ(changed.exit_code, 1);
  EXPECT_TRUE(contains(changed.err, "is different")) << changed.err;
  EXPECT_TRUE(contains(changed.err, "--new")) << changed.err;

  Result fresh = run({"run", plan.string(), "--db", db().string(), "--new"});
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(Store(db()).campaigns().size(), 2U);
}

TEST_F(CampaignCli, ShardsRunSeparatelyAndMergeIntoTheWholeCampaign) {
  const fs::path plan =
      write_plan(campaign_header("sharded", 4, 1) + workload("a", "one", "true") + workload("b", "two", "true"));
  ASSERT_EQ(run({"run", plan.string(), "--db", db("s1.db").string(), "--shard", "1/2"}).exit_code, 0);
  ASSERT_EQ(run({"run", plan.string(), "--db", db("s2.db").string(), "--shard", "2/2"}).exit_code, 0);
  const Result merged = run({"merge", db("s1.db").string(), db("s2.db").string(), "-o", db("all.db").string()});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  const auto runs = runs_of(db("all.db"));
  // 2 workloads x 4 repetitions, and each shard warmed both workloads up once.
  std::set<std::size_t> measured;
  int warmups = 0;
  for (const auto& r : runs) {
    if (r.warmup) ++warmups;
    else measured.insert(r.index);
  }
  EXPECT_EQ(measured.size(), 8U);
  EXPECT_EQ(warmups, 4) << "each shard warms both workloads up on its own machine";
  EXPECT_EQ(runs.size(), 12U);

  const fs::path other = write_plan(campaign_header("other", 1, 0) + workload("z", "one", "true"), "other.toml");
  ASSERT_EQ(run({"run", other.string(), "--db", db("other.db").string()}).exit_code, 0);
  const Result refused = run({"merge", db("s1.db").string(), db("other.db").string(), "-o", db("bad.db").string()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_FALSE(fs::exists(db("bad.db")));
}

TEST_F(CampaignCli, DryRunListsTheRunsAndRunsNothing) {
  const fs::path marker = dir.path() / "ran";
  const fs::path plan =
      write_plan(campaign_header("dry", 2, 1) + workload("a", "one", "touch " + marker.string(), "timeout = \"1m\""));
  const Result r = run({"run", plan.string(), "--db", db().string(), "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_FALSE(fs::exists(db()));
  EXPECT_TRUE(contains(r.out, "3 runs")) << r.out;
  EXPECT_TRUE(contains(r.out, "warm-up 1")) << r.out;
  EXPECT_TRUE(contains(r.out, "estimated duration")) << r.out;
  EXPECT_TRUE(contains(r.out, "at most 3 min by their timeouts")) << r.out;
}

TEST_F(CampaignCli, ExportWritesOneTidyRowPerRun) {
  const fs::path plan =
      write_plan(campaign_header("exported", 2, 1) + workload("a", "one", "true") + workload("b", "two", "true"));
  ASSERT_EQ(run({"run", plan.string(), "--db", db().string()}).exit_code, 0);
  // Measured runs only unless asked for the warm-up runs too.
  const Result r = run({"export", "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 5U) << r.out;
  EXPECT_EQ(lines_of(run({"export", "--db", db().string(), "--include-warmup"}).out).size(), 7U);
  EXPECT_EQ(lines_of(run({"export", "--db", db().string(), "--only-warmup"}).out).size(), 3U);
  // The old spelling works for one release, and says what replaces it.
  const Result old = run({"export", "--db", db().string(), "--warmup", "yes"});
  EXPECT_EQ(old.exit_code, 0) << old.err;
  EXPECT_EQ(lines_of(old.out).size(), 3U) << old.out;
  EXPECT_TRUE(contains(old.err, "--warmup is deprecated")) << old.err;
  EXPECT_TRUE(contains(old.err, "--only-warmup")) << old.err;
  EXPECT_EQ(run({"export", "--db", db().string(), "--include-warmup", "--only-warmup"}).exit_code, 2);
  EXPECT_EQ(run({"export", "--db", db().string(), "--include-warmup", "--warmup", "no"}).exit_code, 2)
      << "the old spelling and the new one together";
  EXPECT_EQ(lines[0].rfind(
                "campaign,workload,repetition,status,warmup,framework,model,phase,time_s,energy_cpu_j,energy_dram_j,"
                "energy_total_j,energy_cpu_estimated,energy_dram_estimated,energy_total_estimated",
                0),
            0U)
      << lines[0];
  const Result listed = run({"runs", "--db", db().string(), "--workload", "a", "--include-warmup"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_TRUE(contains(listed.out, "3 run(s) of 6 planned")) << listed.out;
}

TEST_F(CampaignCli, PlanErrorsNameFileLineAndColumn) {
  const fs::path plan = write_plan("[campaign]\nname = \"x\"\nrepetitons = 3\n" + workload("a", "one", "true"));
  const Result r = run({"run", plan.string(), "--db", db().string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, plan.string() + ":3:1:")) << r.err;
  EXPECT_TRUE(contains(r.err, "repetitions")) << r.err;
  EXPECT_FALSE(fs::exists(db()));
}

TEST_F(CampaignCli, IdleBaselineGivesDynamicEnergy) {
  const fs::path plan =
      write_plan("[campaign]\nname = \"idle\"\nrepetitions = 1\nwarmup = 0\nidle = \"300ms\"\ncooldown = \"0s\"\n" +
                 workload("a", "one", "sleep 0.1"));
  ASSERT_EQ(run({"run", plan.string(), "--db", db().string()}).exit_code, 0);
  const Store store(db());
  const auto id = store.campaigns().back().id;
  ASSERT_EQ(store.idle_baselines(id).size(), 1U);
  EXPECT_NEAR(store.idle_baselines(id)[0].duration_s, 0.3, 0.05);
  const auto runs = store.runs(id);
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_TRUE(runs[0].idle_baseline.has_value());
  for (const auto& e : runs[0].energy) {
    ASSERT_TRUE(e.dynamic_energy_j.has_value()) << e.domain.name();
    EXPECT_GE(*e.dynamic_energy_j, 0.0) << e.domain.name();
  }
  const auto environment = store.environment(id);
  auto has = [&](const std::string& key) {
    return std::any_of(environment.begin(), environment.end(), [&](const auto& kv) { return kv.first == key; });
  };
  EXPECT_TRUE(has("cpu.model"));
  EXPECT_TRUE(has("kernel.release"));
  EXPECT_TRUE(has("energy.cpu"));
  EXPECT_TRUE(has("joulebench.version"));
}

}  // namespace
}  // namespace joulebench

namespace joulebench {
namespace {

TEST_F(CampaignCli, APlansJoulebenchCommandsRunThisJoulebench) {
  // PATH holds no joulebench here: the built-in workload must still be found, through the
  // running binary itself.
  const fs::path plan = write_plan(campaign_header("self", 1, 0) +
                                   "[[workload]]\nname = \"load\"\nframework = \"x\"\nmodel = \"m\"\nphase = \"p\"\n"
                                   "command = [\"joulebench\", \"workload\", \"cpu-load\", \"--seconds\", \"0.05\"]\n");
  const Result r = runner.run({"run", plan.string(), "--db", db().string()}, {{"PATH", "/usr/bin:/bin"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto runs = runs_of(db());
  ASSERT_EQ(runs.size(), 1U);
  EXPECT_EQ(runs[0].status, RunStatus::ok) << runs[0].reason;
  EXPECT_GT(runs[0].user_cpu_s, 0.02);
}

}  // namespace
}  // namespace joulebench

namespace joulebench {
namespace {

TEST_F(CampaignCli, CoolsDownUntilStableAndRepeatsTheIdleBaseline) {
  const fs::path plan = write_plan(
      "[campaign]\nname = \"stable\"\nrepetitions = 4\nwarmup = 0\nidle = \"200ms\"\nidle_every = 2\n"
      "cooldown = { until = \"stable\", max = \"3s\", window = \"400ms\", max_cv = 0.25 }\n" +
      workload("a", "one", "true"));
  const Result r = run({"run", plan.string(), "--db", db().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "cool-down stable after")) << r.err;
  const Store store(db());
  const auto id = store.campaigns().back().id;
  EXPECT_EQ(store.idle_baselines(id).size(), 2U) << "one before the campaign, one after every 2 runs";
  const auto runs = store.runs(id);
  ASSERT_EQ(runs.size(), 4U);
  EXPECT_EQ(runs[0].cooldown_s, 0.0) << "no cool-down before the first run";
  for (std::size_t i = 1; i < runs.size(); ++i) {
    EXPECT_GE(runs[i].cooldown_s, 0.4) << "at least one window of samples";
    EXPECT_LE(runs[i].cooldown_s, 3.5) << "never past the maximum";
  }
  EXPECT_NE(runs[3].idle_baseline, runs[0].idle_baseline) << "later runs use the newer baseline";
}

}  // namespace
}  // namespace joulebench

// --- merge: partial merges, killed merges ----------------------------------------------------

namespace joulebench {
namespace {

TEST_F(CampaignCli, APartialMergeSaysWhichShardsAreMissing) {
  const fs::path plan = write_plan(campaign_header("thirds", 3, 0) + workload("a", "one", "true"));
  for (const char* shard : {"1/3", "2/3", "3/3"}) {
    const std::string name = std::string("s") + shard[0] + ".db";
    ASSERT_EQ(run({"run", plan.string(), "--db", db(name).string(), "--shard", shard}).exit_code, 0) << shard;
  }
  const std::string s1 = db("s1.db").string();
  const std::string s2 = db("s2.db").string();
  const std::string s3 = db("s3.db").string();
  const auto finished = [&](const std::string& name) { return Store(db(name)).campaigns().back().finished; };

  // Two of three shards, both finished: merged, but not a finished campaign, and said so. Exit
  // status 0: a partial merge is allowed.
  const Result partial = run({"merge", s1, s2, "-o", db("part.db").string()});
  EXPECT_EQ(partial.exit_code, 0) << partial.err;
  EXPECT_TRUE(contains(partial.err, "shard 3/3 is missing: the merged campaign is not finished; merge again with it"))
      << partial.err;
  EXPECT_FALSE(finished("part.db"));
  const Result one = run({"merge", s2, "-o", db("one.db").string()});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_TRUE(contains(one.err,
                       "shards 1/3 and 3/3 are missing: the merged campaign is not finished; merge again "
                       "with them"))
      << one.err;
  EXPECT_FALSE(finished("one.db"));

  // All three: the whole campaign, finished, nothing missing.
  const Result whole = run({"merge", s3, s1, s2, "-o", db("all.db").string()});
  EXPECT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_FALSE(contains(whole.err, "missing")) << whole.err;
  EXPECT_FALSE(contains(whole.err, "not finished")) << whole.err;
  EXPECT_TRUE(finished("all.db"));

  // An existing output is refused and left as it was.
  const std::string before = read_all(db("part.db"));
  const Result refused = run({"merge", s1, s2, s3, "-o", db("part.db").string()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(contains(refused.err, "already exists")) << refused.err;
  EXPECT_EQ(read_all(db("part.db")), before);
  EXPECT_FALSE(finished("part.db"));

  // A shard that is itself unfinished is named, with how far it got.
  {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open_v2(s2.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(handle, "UPDATE campaigns SET finished = 0, planned_runs = 2", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(handle);
  }
  const Result unfinished = run({"merge", s1, s2, s3, "-o", db("unfinished.db").string()});
  EXPECT_EQ(unfinished.exit_code, 0) << unfinished.err;
  EXPECT_TRUE(contains(unfinished.err, s2 + ": shard 2/3 is not finished: 1 of its 2 planned runs are recorded"))
      << unfinished.err;
  EXPECT_FALSE(contains(unfinished.err, "missing")) << unfinished.err;
  EXPECT_FALSE(finished("unfinished.db"));
}

/// A finished shard K/2 of one plan, written through the library: `runs` measured runs, each with
/// a power timeline of `samples` samples, so that merging two shards takes a while.
void write_big_shard(const fs::path& file, int shard, std::size_t runs, std::size_t samples) {
  Store store(file);
  CampaignPlan plan;
  plan.name = "big";
  plan.seed = 7;
  plan.path = "/plans/big.toml";
  plan.text = "[campaign]\nname = \"big\"\n";
  plan.hash = "fnv1a64:0000000000000b16";
  const auto campaign = store.create_campaign(plan, Shard{shard, 2}, runs, {{"host", "node" + std::to_string(shard)}});
  constexpr std::size_t kBatch = 50;  // runs per transaction: bounds the memory the records take
  for (std::size_t first = 0; first < runs; first += kBatch) {
    std::vector<RunRecord> records(std::min(kBatch, runs - first));
    for (std::size_t i = 0; i < records.size(); ++i) {
      RunRecord& r = records[i];
      r.index = 2 * (first + i) + static_cast<std::size_t>(shard - 1);
      r.workload = "a";
      r.labels = {{"framework", "one"}};
      r.repetition = static_cast<int>(first + i + 1);
      r.time_s = 0.01 * static_cast<double>(samples);
      r.metrics = {{"accuracy", 0.5, "", "events"}};
      r.timeline.channels = {"cpu-0", "dram-0"};
      for (std::size_t s = 0; s < samples; ++s) {
        r.timeline.time_s.push_back(0.01 * static_cast<double>(s + 1));
        r.timeline.power_w.push_back(static_cast<float>(s % 97));
        r.timeline.power_w.push_back(1.5F);
      }
    }
    store.record_runs(campaign, records);
  }
  store.finish_campaign(campaign);
}

TEST_F(CampaignCli, AKilledMergeLeavesNoOutputAndTheNextOneCleansUp) {
  constexpr std::size_t kRuns = 150;
  write_big_shard(db("s1.db"), 1, kRuns, 20000);
  write_big_shard(db("s2.db"), 2, kRuns, 20000);
  const fs::path output = db("all.db");
  const std::vector<std::string> args = {"merge", db("s1.db").string(), db("s2.db").string(), "-o", output.string()};
  // The whole campaign, finished: the only output a merge may ever leave.
  const auto complete = [&] {
    const Store store(output);
    const auto campaigns = store.campaigns();
    return campaigns.size() == 1 && campaigns[0].finished && store.recorded_runs(campaigns[0].id).size() == 2 * kRuns;
  };
  const auto temporary = [&](pid_t pid) { return db(".all.db.merging-" + std::to_string(pid)); };
  const auto temporaries = [&] {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      if (entry.path().filename().string().starts_with(".all.db.merging-")) found.push_back(entry.path());
    }
    return found;
  };
  const auto remove_output = [&] {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(output.string() + suffix);
  };

  // How long a whole merge takes here, so that the kills below land all through one.
  const Result whole = run(args);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  ASSERT_TRUE(complete());
  remove_output();

  constexpr int kKills = 8;
  int killed_while_writing = 0;
  for (int k = 1; k <= kKills; ++k) {
    const std::chrono::duration<double> delay(whole.wall_s * k / (kKills + 1));
    pid_t merge_pid = 0;
    const Result r = run(args, [&](pid_t pid) {
      merge_pid = pid;
      std::this_thread::sleep_for(delay);
      ::kill(pid, SIGKILL);
    });
    SCOPED_TRACE("killed after " + std::to_string(delay.count()) + " s of a " + std::to_string(whole.wall_s) +
                 " s merge");
    if (r.term_signal != SIGKILL) {
      EXPECT_EQ(r.exit_code, 0) << r.err;  // it had finished
    }
    // Whenever it is killed: no output, or the whole, finished campaign; never a part of it.
    const bool exists = fs::exists(output);
    const bool whole_output = exists && complete();
    EXPECT_TRUE(!exists || whole_output) << "a killed merge left a half-merged store";
    if (r.term_signal == SIGKILL && (fs::exists(temporary(merge_pid)) || (exists && !whole_output))) {
      ++killed_while_writing;
    }
    remove_output();
  }
  EXPECT_GE(killed_while_writing, 1) << "no kill landed while a merge was writing: the test proved nothing";

  // The next merge into the same output removes what the killed ones left (their processes are
  // gone), says so, and writes the whole store.
  const auto left = temporaries();
  const Result next = run(args);
  ASSERT_EQ(next.exit_code, 0) << next.err;
  for (const auto& file : left) {
    EXPECT_TRUE(contains(next.err,
                         "removed " + file.string() + ": left by a merge into " + output.string() + " that was killed"))
        << next.err;
  }
  EXPECT_EQ(temporaries(), std::vector<fs::path>{});
  EXPECT_TRUE(complete());
}

}  // namespace
}  // namespace joulebench

// End-to-end tests of what joulebench coordinates across the machine: one measuring command at a
// time, one writer per store, workloads that die with a killed joulebench (or are ended by the
// next one), runs on a busy machine, and who runs as what under sudo.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "fakes/cli_runner.hpp"
#include "fakes/test_user.hpp"
#include "joulebench/process.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::guard_of;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string plan_text(const std::string& command, int repetitions = 1, const std::string& extra = "") {
  return "[campaign]\nname = \"m\"\nrepetitions = " + std::to_string(repetitions) +
         "\nwarmup = 0\nidle = \"0s\"\ncooldown = \"0s\"\ninterval = \"10ms\"\n" + extra +
         "\n[[workload]]\nname = \"w\"\nframework = \"sh\"\nmodel = \"m\"\nphase = \"train\"\nshell = true\ncommand = "
         "'''" +
         command + "'''\n";
}

/// Running: the process exists and is not a zombie.
bool running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

bool stops_running_within(pid_t pid, std::chrono::milliseconds patience) {
  const auto end = std::chrono::steady_clock::now() + patience;
  while (running(pid)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<pid_t> pids_in(const fs::path& file) {
  std::vector<pid_t> pids;
  std::istringstream in(read_all(file));
  for (pid_t pid = 0; in >> pid;) pids.push_back(pid);
  return pids;
}

/// Waits until `file` holds `count` pids (a workload writes them); empty after 10 s.
std::vector<pid_t> wait_for_pids(const fs::path& file, std::size_t count) {
  for (int i = 0; i < 1000; ++i) {
    auto pids = pids_in(file);
    if (pids.size() >= count) return pids;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

/// Waits until the machine's measuring lock names a holder.
bool wait_for_holder(const Runner& runner) {
  for (int i = 0; i < 1000; ++i) {
    if (!read_all(runner.lock_dir() / "joulebench-measuring.lock").empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class MachineCli : public ::testing::Test {
 protected:
  fs::path write_plan(const std::string& text, const std::string& name = "plan.toml") {
    const fs::path path = dir.path() / name;
    testing::write_file(path, text);
    return path;
  }
  /// Runs joulebench in the background (its result comes later).
  std::future<Result> start(const std::vector<std::string>& args) {
    return std::async(std::launch::async, [this, args] { return runner.run(args); });
  }

  TempDir dir;
  Runner runner;
};

// --- one measurement per machine ----------------------------------------------------------------

TEST_F(MachineCli, ASecondMeasuringCommandFailsAtOnceNamingTheFirst) {
  auto first = start({"measure", "--", "sleep", "2"});
  ASSERT_TRUE(wait_for_holder(runner));
  const Result second = runner.run({"measure", "--", "true"});
  EXPECT_EQ(second.exit_code, 75) << second.err;
  EXPECT_TRUE(contains(second.err, "another joulebench is measuring on this machine")) << second.err;
  EXPECT_TRUE(contains(second.err, "measure -- sleep 2")) << second.err;
  EXPECT_TRUE(contains(second.err, "--wait")) << second.err;
  EXPECT_LT(second.wall_s, 1.5) << "it did not fail at once";
  // A campaign is refused alike, and names its store to whoever is refused.
  const Result campaign =
      runner.run({"run", write_plan(plan_text("true")).string(), "--db", (dir.path() / "a.db").string()});
  EXPECT_EQ(campaign.exit_code, 75) << campaign.err;
  EXPECT_FALSE(fs::exists(dir.path() / "a.db")) << "a refused campaign left a store behind";
  EXPECT_EQ(first.get().exit_code, 0);
}

TEST_F(MachineCli, WithWaitASecondMeasuringCommandRunsAfterTheFirst) {
  auto first = start({"measure", "--", "sleep", "1.5"});
  ASSERT_TRUE(wait_for_holder(runner));
  const auto waited_from = std::chrono::steady_clock::now();
  const Result second = runner.run({"measure", "--wait", "--json", "--", "true"});
  const Result first_result = first.get();
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_TRUE(contains(second.err, "waiting for the measurement running on this machine to end")) << second.err;
  EXPECT_GT(std::chrono::duration<double>(std::chrono::steady_clock::now() - waited_from).count(), 0.5);
  EXPECT_EQ(first_result.exit_code, 0) << first_result.err;
}

TEST_F(MachineCli, TheMeasuringLockIsTheMachinesOwnByDefault) {
  // The real path: no JOULEBENCH_LOCK_DIR, so /run/lock (or /tmp), as every joulebench here uses.
  auto first = std::async(std::launch::async, [&] {
    return runner.run({"measure", "--", "sleep", "1.5"}, {{"JOULEBENCH_LOCK_DIR", std::nullopt}});
  });
  const fs::path lock =
      fs::path(fs::is_directory("/run/lock") && ::access("/run/lock", W_OK) == 0 ? "/run/lock" : "/tmp") /
      "joulebench-measuring.lock";
  bool held = false;
  for (int i = 0; i < 500 && !held; ++i) {
    held = contains(read_all(lock), "measure -- sleep 1.5");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(held) << lock << " never named the first measurement";
  const Result second = runner.run({"measure", "--", "true"}, {{"JOULEBENCH_LOCK_DIR", std::nullopt}});
  EXPECT_EQ(second.exit_code, 75) << second.err;
  EXPECT_EQ(first.get().exit_code, 0);
  EXPECT_EQ(read_all(lock), "") << "the holder's name outlived its lock";
}

// --- one writer per store -----------------------------------------------------------------------

TEST_F(MachineCli, AStoreHasOneWriterAndReadersStillRead) {
  const fs::path db = dir.path() / "s.db";
  const fs::path plan = write_plan(plan_text("sleep 1", 3));
  auto campaign = start({"run", plan.string(), "--db", db.string()});
  ASSERT_TRUE(wait_for_holder(runner));
  // Wait until the first run is recorded, then read while the campaign goes on.
  for (int i = 0; i < 500; ++i) {
    const Result runs = runner.run({"runs", "--db", db.string()});
    if (runs.exit_code == 0 && contains(runs.out, "ok")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const Result reading = runner.run({"export", "--db", db.string()});
  EXPECT_EQ(reading.exit_code, 0) << reading.err;

  // A second campaign on the store is refused (the machine's lock, naming the store)...
  const Result second = runner.run({"run", plan.string(), "--db", db.string()});
  EXPECT_EQ(second.exit_code, 75) << second.err;
  EXPECT_TRUE(contains(second.err, db.string())) << second.err;
  // ...and so is any other writer of it (import takes only the store's lock).
  testing::write_file(dir.path() / "runs.csv", "workload,framework,time_s\nx,a,1\n");
  const Result import = runner.run({"import", (dir.path() / "runs.csv").string(), "--db", db.string()});
  EXPECT_EQ(import.exit_code, 75) << import.err;
  EXPECT_TRUE(contains(import.err, "is being written by another joulebench")) << import.err;

  const Result done = campaign.get();
  EXPECT_EQ(done.exit_code, 0) << done.err;
  const Store store(db);
  ASSERT_EQ(store.campaigns().size(), 1u) << "two campaigns of one plan in one store";
  EXPECT_EQ(store.runs(store.campaigns()[0].id).size(), 3u);
}

// --- a killed joulebench ------------------------------------------------------------------------

/// A workload that writes its shell's pid and a daemon's (out of its session) to `pids`, then waits.
std::string escaping_workload(const fs::path& pids) {
  return "echo $$ >> " + pids.string() + "; setsid sleep 60 & echo $! >> " + pids.string() + "; sleep 60";
}

TEST_F(MachineCli, AKilledJoulebenchTakesItsWorkloadsWithIt) {
  const fs::path pids_file = dir.path() / "pids";
  std::vector<pid_t> pids;
  const Result r = runner.run(
      {"run", write_plan(plan_text(escaping_workload(pids_file))).string(), "--db", (dir.path() / "k.db").string()}, {},
      std::nullopt, [&](pid_t joulebench) {
        pids = wait_for_pids(pids_file, 2);
        ::kill(joulebench, SIGKILL);
      });
  EXPECT_EQ(r.term_signal, SIGKILL);
  ASSERT_EQ(pids.size(), 2u);
  for (const pid_t pid : pids) {
    EXPECT_TRUE(stops_running_within(pid, std::chrono::milliseconds(3000))) << "pid " << pid << " outlived joulebench";
  }
}

TEST_F(MachineCli, TheNextJoulebenchEndsWhatAKilledOneLeft) {
  // The guard is killed too: PR_SET_PDEATHSIG still ends the workload's own process, and the
  // daemon it started out of its session is left for the next joulebench to end.
  const fs::path pids_file = dir.path() / "pids";
  const fs::path once = dir.path() / "once";
  const std::string command =
      "if [ -e " + once.string() + " ]; then exit 0; fi; touch " + once.string() + "; " + escaping_workload(pids_file);
  const fs::path plan = write_plan(plan_text(command));
  const fs::path db = dir.path() / "k.db";
  std::vector<pid_t> pids;
  pid_t guard = 0;
  const Result killed =
      runner.run({"run", plan.string(), "--db", db.string()}, {}, std::nullopt, [&](pid_t joulebench) {
        pids = wait_for_pids(pids_file, 2);
        guard = guard_of(joulebench);
        if (guard > 0) ::kill(guard, SIGKILL);
        ::kill(joulebench, SIGKILL);
      });
  ASSERT_GT(guard, 0) << "no guard process was found: " << killed.exec_error << killed.err;
  ASSERT_EQ(pids.size(), 2u);
  const pid_t shell = pids[0];
  const pid_t daemon = pids[1];
  EXPECT_TRUE(stops_running_within(shell, std::chrono::milliseconds(2000)))
      << "PR_SET_PDEATHSIG did not end the workload";
  ASSERT_TRUE(running(daemon)) << "nothing was left for the next joulebench to end";

  const Result resumed = runner.run({"run", plan.string(), "--db", db.string()});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  // The daemon, and the shell's own `sleep 60`, which the shell's death left behind.
  EXPECT_TRUE(contains(resumed.err, "ended 2 process(es) an earlier joulebench")) << resumed.err;
  EXPECT_TRUE(contains(resumed.err, "sleep (pid " + std::to_string(daemon) + ")")) << resumed.err;
  EXPECT_TRUE(stops_running_within(daemon, std::chrono::milliseconds(1000)));
  ::kill(daemon, SIGKILL);  // whatever happened, nothing outlives the test
}

TEST_F(MachineCli, ARunRecordsAndNamesWhatItLeftRunning) {
  const fs::path pids_file = dir.path() / "pids";
  const fs::path db = dir.path() / "l.db";
  const Result r = runner.run(
      {"run", write_plan(plan_text("setsid sleep 60 & echo $! >> " + pids_file.string() + "; sleep 0.2")).string(),
       "--db", db.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto pids = pids_in(pids_file);
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_FALSE(running(pids[0])) << "the escaped process outlived its run";
  const Store store(db);
  const auto runs = store.runs(store.campaigns()[0].id);
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_FALSE(runs[0].warnings.empty());
  EXPECT_EQ(runs[0].warnings[0].kind, kLeftoverProcesses);
  EXPECT_TRUE(contains(runs[0].warnings[0].message, "sleep (pid " + std::to_string(pids[0]) + ")"))
      << runs[0].warnings[0].message;
}

// --- a busy machine -----------------------------------------------------------------------------

TEST_F(MachineCli, RunsOnABusyMachineSaySoInTheStoreAndInCompare) {
  // Another process keeps a core busy all along: every run, and compare, must say so.
  SpawnOptions busy;
  busy.argv = {JOULEBENCH_CPU_LOAD, "--seconds", "20"};
  busy.foreground = false;
  busy.stdout_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ChildProcess load = ChildProcess::start(busy);
  ::close(busy.stdout_fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const fs::path db = dir.path() / "b.db";
  const std::string text =
      "[campaign]\nname = \"b\"\nrepetitions = 2\nwarmup = 0\nidle = \"0s\"\ncooldown = \"0.6s\"\n"
      "[[workload]]\nname = \"x\"\nframework = \"a\"\nmodel = \"m\"\nphase = \"p\"\ncommand = [\"sleep\", \"0.5\"]\n"
      "[[workload]]\nname = \"y\"\nframework = \"b\"\nmodel = \"m\"\nphase = \"p\"\ncommand = [\"sleep\", \"0.5\"]\n";
  const Result r = runner.run({"run", write_plan(text).string(), "--db", db.string()});
  load.signal_group(SIGKILL);
  load.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Store store(db);
  const auto runs = store.runs(store.campaigns()[0].id);
  ASSERT_EQ(runs.size(), 4u);
  std::size_t busy_runs = 0;
  for (const auto& run : runs) {
    ASSERT_TRUE(run.other_cpu_cores.has_value());
    EXPECT_GT(*run.other_cpu_cores, 0.5) << run.workload << " rep " << run.repetition;
    const bool warned = std::any_of(run.warnings.begin(), run.warnings.end(), [](const RunWarning& w) {
      return w.kind == kBusyMachine && w.message.find("while the run ran") != std::string::npos;
    });
    busy_runs += warned ? 1 : 0;
    // After the first run, the cool-down before it was watched too.
    if (run.cooldown_s > 0.5) {
      EXPECT_TRUE(run.other_cpu_before_cores.has_value());
    }
  }
  EXPECT_EQ(busy_runs, 4u);
  const Result compare = runner.run({"compare", "--db", db.string()});
  EXPECT_TRUE(contains(compare.out + compare.err, "4 of 4 run(s) ran on a busy machine")) << compare.out << compare.err;
}

// --- who runs as what ---------------------------------------------------------------------------

using testing::TestUser;

uid_t owner_of(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

TEST_F(MachineCli, UnderSudoWorkloadsRunAsTheUserAndTheFilesAreTheirs) {
  TestUser user;
  if (!user.made()) GTEST_SKIP() << "needs root and useradd to make a test user";
  fs::permissions(dir.path(), fs::perms::all);  // the user writes here too

  // measure: the command runs as the user, with the user's HOME; --as-root keeps root.
  const fs::path id_file = dir.path() / "id";
  const Result measured =
      runner.run({"measure", "--", "sh", "-c", "echo $(id -u) $(id -g) $HOME > " + id_file.string()}, user.sudo());
  ASSERT_EQ(measured.exit_code, 0) << measured.err;
  EXPECT_EQ(read_all(id_file), std::to_string(user.uid()) + " " + std::to_string(user.gid()) + " /nonexistent\n");
  EXPECT_EQ(owner_of(id_file), user.uid());
  fs::remove(id_file);
  const Result as_root =
      runner.run({"--as-root", "measure", "--", "sh", "-c", "id -u > " + id_file.string()}, user.sudo());
  ASSERT_EQ(as_root.exit_code, 0) << as_root.err;
  EXPECT_EQ(read_all(id_file), "0\n");

  // run: the store, its logs and the report belong to the user; the workload ran as the user.
  const fs::path db = dir.path() / "u.db";
  const fs::path out = dir.path() / "who";
  const Result campaign = runner.run(
      {"run", write_plan(plan_text("id -u > " + out.string() + "; echo hello", 2)).string(), "--db", db.string()},
      user.sudo());
  ASSERT_EQ(campaign.exit_code, 0) << campaign.err;
  EXPECT_EQ(read_all(out), std::to_string(user.uid()) + "\n");
  EXPECT_EQ(owner_of(db), user.uid());
  const fs::path logs = dir.path() / "u.db.logs";
  ASSERT_TRUE(fs::is_directory(logs));
  for (const auto& entry : fs::recursive_directory_iterator(logs)) {
    EXPECT_EQ(owner_of(entry.path()), user.uid()) << entry.path();
  }
  EXPECT_EQ(owner_of(logs), user.uid());
  for (const char* suffix : {"-wal", "-shm"}) {
    const fs::path journal = db.string() + suffix;
    if (fs::exists(journal)) {
      EXPECT_EQ(owner_of(journal), user.uid()) << journal;
    }
  }
  const Result report = runner.run({"report", "--db", db.string(), "-o", (dir.path() / "rep").string()}, user.sudo());
  ASSERT_EQ(report.exit_code, 0) << report.err;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path() / "rep")) {
    EXPECT_EQ(owner_of(entry.path()), user.uid()) << entry.path();
  }
}

TEST_F(MachineCli, WithoutRootJoulebenchUsesWhatItCanReadAndSaysSo) {
  TestUser user;
  if (!user.made()) GTEST_SKIP() << "needs root and useradd to make a test user";
  fs::permissions(dir.path(), fs::perms::all);
  // The machine's own sources, read as a plain user.
  const testing::Env real = {{"JOULEBENCH_SYSFS_ROOT", std::nullopt}, {"JOULEBENCH_NVML_LIBRARY", std::nullopt}};
  const Result sensors = runner.run({"sensors", "--no-watch"}, real, user.uid());
  ASSERT_EQ(sensors.exit_code, 0) << sensors.err;
  EXPECT_TRUE(contains(sensors.out, "in use:")) << sensors.out;
  const Result measured = runner.run({"measure", "--json", "--", "true"}, real, user.uid());
  ASSERT_EQ(measured.exit_code, 0) << measured.err;
  const auto j = testing::parse_json(measured.err);
  ASSERT_FALSE(j["run"]["energy"].empty()) << measured.err;
  EXPECT_EQ(j["run"]["energy"].back()["domain"], "total") << measured.err;
}

}  // namespace
}  // namespace joulebench

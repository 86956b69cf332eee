// ChildProcess, find_executable and ExitStatus, driven with real processes (/bin/sh scripts and
// the joulebench-cpu-load workload).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "fakes/fake_tree.hpp"
#include "joulebench/process.hpp"
#include "process/cgroup.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using joulebench::testing::TempDir;
using joulebench::testing::write_file;

const std::string kShell = "/bin/sh";
const std::string kCpuLoad = JOULEBENCH_CPU_LOAD;

SpawnOptions shell(const std::string& script, std::optional<fs::path> cwd = std::nullopt) {
  SpawnOptions options;
  options.argv = {kShell, "-c", script};
  options.working_directory = std::move(cwd);
  options.foreground = false;
  return options;
}

ProcessOutcome run_shell(const std::string& script) {
  ChildProcess child = ChildProcess::start(shell(script));
  return child.wait();
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Waits (at most `limit`) until `path` exists and is not empty; scripts write it with a rename,
/// so a file that exists is complete.
std::string wait_for_file(const fs::path& path, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::exists(path, ec)) {
      const std::string text = read_all(path);
      if (!text.empty()) return text;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return {};
}

/// The state letter of /proc/PID/stat ('R', 'S', 'Z', ...), or 0 if the process is gone.
char process_state(pid_t pid) {
  const std::string stat = read_all(fs::path("/proc") / std::to_string(pid) / "stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return 0;
  return stat[paren + 2];
}

/// The parent of a process (from /proc/PID/stat), or -1.
pid_t parent_of(pid_t pid) {
  const std::string stat = read_all(fs::path("/proc") / std::to_string(pid) / "stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 1));
  std::string state;
  long ppid = -1;
  fields >> state >> ppid;
  return fields ? static_cast<pid_t>(ppid) : -1;
}

/// Waits until `pid` has exited and, not yet reaped, has this process as its parent.
bool wait_until_orphan_zombie(pid_t pid, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (process_state(pid) == 'Z' && parent_of(pid) == ::getpid()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

/// Seconds of dash's "0m0.300000s" (as `times` prints them).
double parse_times_field(const std::string& field) {
  const auto m = field.find('m');
  if (m == std::string::npos || field.back() != 's') return -1.0;
  return std::stod(field.substr(0, m)) * 60.0 + std::stod(field.substr(m + 1, field.size() - m - 2));
}

/// User + system CPU time of a shell's children, from the second line of `times`.
double children_cpu_from_times(const std::string& text) {
  std::istringstream in(text);
  std::string shell_user, shell_system, children_user, children_system;
  in >> shell_user >> shell_system >> children_user >> children_system;
  if (!in) return -1.0;
  return parse_times_field(children_user) + parse_times_field(children_system);
}

pid_t parse_pid(const std::string& text) {
  try {
    return static_cast<pid_t>(std::stol(text));
  } catch (...) {
    return -1;
  }
}

std::string launch_error_message(const SpawnOptions& options, int* status) {
  try {
    ChildProcess child = ChildProcess::start(options);
    child.wait();
  } catch (const LaunchError& e) {
    *status = e.shell_status();
    return e.what();
  }
  *status = -1;
  return "(started)";
}

// --- ExitStatus ------------------------------------------------------------------------------

TEST(ExitStatus, DescribesExitCodesAndSignals) {
  ExitStatus exited;
  exited.code = 3;
  EXPECT_EQ(exited.shell_status(), 3);
  EXPECT_EQ(exited.describe(), "exit code 3");

  ExitStatus killed;
  killed.signaled = true;
  killed.signal = SIGKILL;
  EXPECT_EQ(killed.shell_status(), 137);
  EXPECT_NE(killed.describe().find("SIGKILL"), std::string::npos) << killed.describe();
  EXPECT_EQ(killed.describe().find("core dumped"), std::string::npos) << killed.describe();

  killed.signal = SIGSEGV;
  killed.core_dumped = true;
  EXPECT_EQ(killed.shell_status(), 139);
  EXPECT_NE(killed.describe().find("SIGSEGV"), std::string::npos) << killed.describe();
  EXPECT_NE(killed.describe().find("core dumped"), std::string::npos) << killed.describe();
}

// --- exit codes and signals ------------------------------------------------------------------

TEST(ChildProcess, ExitCodeZero) {
  const ProcessOutcome outcome = run_shell("exit 0");
  EXPECT_FALSE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.code, 0);
  EXPECT_EQ(outcome.status.shell_status(), 0);
  EXPECT_EQ(outcome.status.describe(), "exit code 0");
  EXPECT_GE(outcome.wall().count(), 0.0);
  EXPECT_LT(outcome.wall().count(), 1.5);
  EXPECT_GT(outcome.max_rss_kib, 0);
  EXPECT_TRUE(outcome.leftovers.empty());
}

TEST(ChildProcess, ExitCodeThree) {
  const ProcessOutcome outcome = run_shell("exit 3");
  EXPECT_FALSE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.code, 3);
  EXPECT_EQ(outcome.status.shell_status(), 3);
  EXPECT_EQ(outcome.status.describe(), "exit code 3");
}

TEST(ChildProcess, WallTimeCoversTheCommand) {
  const ProcessOutcome outcome = run_shell("sleep 0.2");
  EXPECT_EQ(outcome.status.shell_status(), 0);
  EXPECT_GE(outcome.wall().count(), 0.2);
  EXPECT_LT(outcome.wall().count(), 1.5);
  EXPECT_LE(outcome.started, outcome.ended);
  // Sleeping costs (almost) no CPU.
  EXPECT_LT(outcome.cpu().count(), 0.15);
}

TEST(ChildProcess, KilledBySegfault) {
  // No core file: `ulimit -c 0` keeps the test from writing one into the working directory.
  const ProcessOutcome outcome = run_shell("ulimit -c 0; kill -SEGV $$");
  EXPECT_TRUE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.signal, SIGSEGV);
  EXPECT_EQ(outcome.status.shell_status(), 139);
  EXPECT_FALSE(outcome.status.core_dumped);
  const std::string text = outcome.status.describe();
  EXPECT_NE(text.find("SIGSEGV"), std::string::npos) << text;
  EXPECT_NE(text.find("11"), std::string::npos) << text;
}

TEST(ChildProcess, ItsTimeStartsWhenItIsReadyToExecAfterJoulebenchsOwnWork) {
  // at_start runs once, in this process, after the child's setup (its cgroup, its user) and before
  // the command runs; the command's time starts then, so setup costs are not the command's.
  TempDir dir;
  const fs::path marker = dir.path() / "ran";
  int calls = 0;
  bool ran_before = true;
  Clock::time_point hook_time;
  ChildProcess child = ChildProcess::start(shell("touch " + marker.string()), [&] {
    ++calls;
    ran_before = fs::exists(marker);
    hook_time = Clock::now();
  });
  const ProcessOutcome outcome = child.wait();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(ran_before) << "the command waited for joulebench";
  EXPECT_TRUE(fs::exists(marker));
  EXPECT_GE(outcome.started, hook_time);
  EXPECT_EQ(outcome.status.shell_status(), 0);
}

TEST(ChildProcess, AFailingStartHookRunsNothingAndLeavesNothing) {
  TempDir dir;
  const fs::path marker = dir.path() / "ran";
  EXPECT_THROW(ChildProcess::start(shell("touch " + marker.string()), [] { throw std::runtime_error("no meter"); }),
               std::runtime_error);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fs::exists(marker));
}

TEST(ForwardSignals, ASignalThatArrivesBeforeTheCommandStartsIsPassedOn) {
  // The race CI met: SIGTERM reached joulebench while the command was starting. It is held, then
  // passed on once the command's group is known, and joulebench lives on to report.
  ProcessOutcome outcome;
  {
    ForwardSignals forward;
    ASSERT_EQ(::raise(SIGTERM), 0);
    ChildProcess child = ChildProcess::start(shell("sleep 5"));
    forward.to(child);
    outcome = child.wait();
  }
  EXPECT_TRUE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.signal, SIGTERM);
  EXPECT_LT(outcome.wall().count(), 3.0);
}

TEST(ForwardSignals, EverySignalHeldIsPassedOnExactlyOnce) {
  TempDir dir;
  const fs::path log = dir.path() / "log";
  const fs::path ready = dir.path() / "ready";
  // The command counts what reaches it; the signals are held until to() (it runs meanwhile).
  const std::string script = fmt::format(
      "trap 'echo TERM >> {0}' TERM; trap 'echo INT >> {0}' INT; touch {1}; "
      "while [ \"$(cat {0} 2>/dev/null | wc -l)\" -lt 2 ]; do sleep 0.02; done; sleep 0.3",
      log.string(), ready.string());
  ProcessOutcome outcome;
  {
    ForwardSignals forward;
    ChildProcess child = ChildProcess::start(shell(script));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!fs::exists(ready) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_TRUE(fs::exists(ready));
    ASSERT_EQ(::raise(SIGTERM), 0);
    ASSERT_EQ(::raise(SIGINT), 0);
    forward.to(child);
    outcome = child.wait();
  }
  EXPECT_EQ(outcome.status.shell_status(), 0);
  std::vector<std::string> lines;
  std::istringstream text(read_all(log));
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"INT", "TERM"}));
}

volatile std::sig_atomic_t hangups = 0;
void count_hangup(int) { hangups = hangups + 1; }

TEST(ForwardSignals, ASignalHeldForACommandThatNeverStartedIsJoulebenchsOwnAgain) {
  struct sigaction counting {};
  counting.sa_handler = count_hangup;
  ::sigemptyset(&counting.sa_mask);
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGHUP, &counting, &previous), 0);
  hangups = 0;
  {
    ForwardSignals forward;
    ASSERT_EQ(::raise(SIGHUP), 0);
    EXPECT_EQ(hangups, 0) << "held, not handled";
  }
  EXPECT_EQ(hangups, 1) << "raised again once the handlers were joulebench's own";
  ::sigaction(SIGHUP, &previous, nullptr);
}

TEST(ForwardSignals, ASignalWhileTheCommandRunsGoesToItsGroup) {
  ProcessOutcome outcome;
  {
    ForwardSignals forward;
    ChildProcess child = ChildProcess::start(shell("sleep 5"));
    forward.to(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_EQ(::raise(SIGINT), 0);
    outcome = child.wait();
  }
  EXPECT_TRUE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.signal, SIGINT);
  EXPECT_LT(outcome.wall().count(), 3.0);
}

TEST(ChildProcess, ExitStatusSurvivesAnIgnoredSigchld) {
  // SIGCHLD set to SIG_IGN (inherited from a parent) would make the kernel reap the command
  // before wait() could read its status and CPU time.
  struct sigaction ignore {};
  struct sigaction saved {};
  ignore.sa_handler = SIG_IGN;
  ::sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &saved), 0);
  std::optional<ProcessOutcome> outcome;
  try {
    outcome = run_shell(kCpuLoad + " --seconds 0.05 >/dev/null; exit 5");
  } catch (...) {}
  ::sigaction(SIGCHLD, &saved, nullptr);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->status.signaled);
  EXPECT_EQ(outcome->status.code, 5);
  EXPECT_GE(outcome->wall().count(), 0.05);
  EXPECT_LT(outcome->wall().count(), 1.5);
  EXPECT_GT(outcome->cpu().count(), 0.0);
}

// --- commands that cannot start --------------------------------------------------------------

TEST(ChildProcess, MissingCommandIsNotFound) {
  SpawnOptions options;
  options.argv = {"joulebench-test-no-such-command"};
  options.foreground = false;
  int status = 0;
  const std::string message = launch_error_message(options, &status);
  EXPECT_EQ(status, 127);
  EXPECT_NE(message.find("joulebench-test-no-such-command"), std::string::npos) << message;

  EXPECT_THROW(find_executable("joulebench-test-no-such-command"), LaunchError);
}

TEST(ChildProcess, MissingPathIsNotFound) {
  TempDir dir;
  const std::string missing = (dir.path() / "absent" / "tool").string();
  SpawnOptions options;
  options.argv = {missing};
  options.foreground = false;
  int status = 0;
  const std::string message = launch_error_message(options, &status);
  EXPECT_EQ(status, 127);
  EXPECT_NE(message.find(missing), std::string::npos) << message;
}

TEST(ChildProcess, NonExecutableFileCannotRun) {
  TempDir dir;
  const fs::path script = dir.path() / "script.sh";
  write_file(script, "#!/bin/sh\nexit 0\n");
  fs::permissions(script,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  SpawnOptions options;
  options.argv = {script.string()};
  options.foreground = false;
  int status = 0;
  const std::string message = launch_error_message(options, &status);
  EXPECT_EQ(status, 126);
  EXPECT_NE(message.find(script.string()), std::string::npos) << message;

  try {
    find_executable(script.string());
    ADD_FAILURE() << "find_executable accepted a file without execute permission";
  } catch (const LaunchError& e) {
    EXPECT_EQ(e.shell_status(), 126);
  }
}

TEST(ChildProcess, DirectoryCannotRun) {
  TempDir dir;
  SpawnOptions options;
  options.argv = {dir.path().string()};
  options.foreground = false;
  int status = 0;
  const std::string message = launch_error_message(options, &status);
  EXPECT_EQ(status, 126);
  EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;
  EXPECT_NE(message.find("directory"), std::string::npos) << message;
}

TEST(ChildProcess, ExecutableWithoutInterpreterLineCannotRun) {
  // Executable bit set, but neither ELF nor '#!': execve fails with ENOEXEC in the child.
  TempDir dir;
  const fs::path file = dir.path() / "not-a-program";
  write_file(file, "echo this is not a program\n");
  fs::permissions(file, fs::perms::owner_all);
  EXPECT_EQ(find_executable(file.string()), file);
  SpawnOptions options;
  options.argv = {file.string()};
  options.foreground = false;
  int status = 0;
  const std::string message = launch_error_message(options, &status);
  EXPECT_EQ(status, 126);
  EXPECT_NE(message.find("#!"), std::string::npos) << message;
}

TEST(FindExecutable, SearchesPath) {
  const fs::path sh = find_executable("sh");
  EXPECT_EQ(sh.filename(), "sh");
  EXPECT_TRUE(sh.is_absolute()) << sh;
  EXPECT_EQ(::access(sh.c_str(), X_OK), 0);
  EXPECT_EQ(find_executable("/bin/sh"), fs::path("/bin/sh"));
  try {
    find_executable("");
    ADD_FAILURE() << "an empty command was accepted";
  } catch (const LaunchError& e) {
    EXPECT_EQ(e.shell_status(), 127);
  }
}

TEST(ChildProcess, MissingWorkingDirectoryIsRefused) {
  TempDir dir;
  int status = 0;
  const std::string message = launch_error_message(shell("exit 0", dir.path() / "absent"), &status);
  EXPECT_EQ(status, 126);
  EXPECT_NE(message.find("absent"), std::string::npos) << message;
}

// --- CPU time of the whole tree ---------------------------------------------------------------

TEST(ChildProcess, CountsCpuTimeOfAWaitedGrandchild) {
  // The shell forks the busy workload, waits for it, then prints its children's CPU time.
  TempDir dir;
  const fs::path times = dir.path() / "times";
  const ProcessOutcome outcome = run_shell(kCpuLoad + " --seconds 0.3 >/dev/null; times > " + times.string() +
                                           ".tmp; mv " + times.string() + ".tmp " + times.string());
  ASSERT_EQ(outcome.status.shell_status(), 0);
  const double grandchild_cpu = children_cpu_from_times(read_all(times));
  ASSERT_GT(grandchild_cpu, 0.05) << read_all(times);  // the workload really was busy
  // `times` truncates to clock ticks (10 ms); rusage is in microseconds.
  EXPECT_GE(outcome.cpu().count(), grandchild_cpu - 0.011);
  EXPECT_GE(outcome.user_cpu.count(), 0.05);
  EXPECT_LE(outcome.cpu().count(), outcome.wall().count() * 2.0 + 0.05);  // one busy thread
}

TEST(ChildProcess, CountsCpuTimeOfAnOrphanThatFinishedAfterTheCommand) {
  // The command starts a busy grandchild in the background and exits at once: the grandchild is
  // orphaned and, joulebench being a subreaper, re-parented to this process. The test waits until
  // the grandchild has finished (a zombie, not yet reaped) before calling wait(), so that it is
  // certainly reaped there; without the subreaper its CPU time would be lost.
  TempDir dir;
  const std::string pid_file = (dir.path() / "pid").string();
  const std::string times_file = (dir.path() / "times").string();
  const std::string inner =
      kCpuLoad + " --seconds 0.25 >/dev/null; times > " + times_file + ".tmp; mv " + times_file + ".tmp " + times_file;
  ChildProcess child = ChildProcess::start(shell(kShell + " -c '" + inner + "' & echo $! > " + pid_file + ".tmp; mv " +
                                                 pid_file + ".tmp " + pid_file + "; exit 0"));
  const pid_t orphan = parse_pid(wait_for_file(pid_file));
  ASSERT_GT(orphan, 0);
  // Finished, and re-parented to this process (the subreaper), not to init.
  ASSERT_TRUE(wait_until_orphan_zombie(orphan))
      << "the orphan did not finish here (state " << process_state(orphan) << ", parent " << parent_of(orphan) << ")";

  const ProcessOutcome outcome = child.wait();
  EXPECT_EQ(outcome.status.shell_status(), 0);
  EXPECT_TRUE(outcome.leftovers.empty());
  EXPECT_EQ(process_state(orphan), 0) << "the orphan was not reaped";
  const double orphan_cpu = children_cpu_from_times(read_all(times_file));
  ASSERT_GT(orphan_cpu, 0.05) << read_all(times_file);
  EXPECT_GE(outcome.cpu().count(), orphan_cpu - 0.011);
}

TEST(ChildProcess, DoesNotChargeALeftoverOfAnEarlierCommandToTheNextOne) {
  // The first command leaves a busy process behind: it is killed when the first command ends, so
  // its CPU time belongs to neither measurement, and certainly not to the second.
  TempDir dir;
  const std::string pid_file = (dir.path() / "pid").string();
  ChildProcess first = ChildProcess::start(shell(kCpuLoad + " --seconds 0.3 >/dev/null & echo $! > " + pid_file +
                                                 ".tmp; mv " + pid_file + ".tmp " + pid_file));
  EXPECT_EQ(first.wait().leftovers.size(), 1u);
  const pid_t leftover = parse_pid(wait_for_file(pid_file));
  ASSERT_GT(leftover, 0);
  EXPECT_EQ(process_state(leftover), 0) << "the leftover was killed and reaped after the first command";

  SpawnOptions sleeper;
  sleeper.argv = {"sleep", "0.6"};
  sleeper.foreground = false;
  ChildProcess second = ChildProcess::start(sleeper);
  const ProcessOutcome outcome = second.wait();
  EXPECT_LT(outcome.cpu().count(), 0.1) << "the leftover's CPU was charged to 'sleep'";
}

/// Runs `script` (with $PIDS, a file it writes the pids to check into) with or without a cgroup;
/// the outcome and those pids.
std::pair<ProcessOutcome, std::vector<pid_t>> run_leaving(const std::string& script, bool own_cgroup) {
  TempDir dir;
  const std::string pid_file = (dir.path() / "pids").string();
  SpawnOptions options = shell(script);
  options.own_cgroup = own_cgroup;
  options.environment.emplace_back("PIDS", pid_file);
  ChildProcess child = ChildProcess::start(options);
  ProcessOutcome outcome = child.wait();
  std::vector<pid_t> pids;
  std::istringstream in(read_all(pid_file));
  for (pid_t pid = 0; in >> pid;) pids.push_back(pid);
  return {std::move(outcome), pids};
}

class LeftoverProcesses : public ::testing::TestWithParam<bool> {};

TEST_P(LeftoverProcesses, AreNamedAndKilledWhenTheCommandEnds) {
  const auto [outcome, pids] = run_leaving("sleep 30 & echo $! >> $PIDS; sleep 0.2", GetParam());
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_EQ(outcome.status.shell_status(), 0);
  EXPECT_LT(outcome.wall().count(), 5.0);  // wait() did not wait for the leftover
  ASSERT_EQ(outcome.leftovers.size(), 1u);
  EXPECT_EQ(outcome.leftovers[0], "sleep (pid " + std::to_string(pids[0]) + ")");
  EXPECT_EQ(process_state(pids[0]), 0) << "the leftover still runs";
}

TEST_P(LeftoverProcesses, ThatLeftTheSessionAreKilledToo) {
  // setsid takes a process out of the command's session and process group: signals to the group
  // miss it. The cgroup, or joulebench's descendants (it is a subreaper), still hold it.
  const auto [outcome, pids] =
      run_leaving("setsid sh -c 'echo $$ >> $PIDS; sleep 30 & echo $! >> $PIDS; wait' & sleep 0.3", GetParam());
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_EQ(outcome.leftovers.size(), 2u);
  for (const pid_t pid : pids) EXPECT_EQ(process_state(pid), 0) << "process " << pid << " escaped";
}

TEST_P(LeftoverProcesses, ThatDoubleForkedAreKilledToo) {
  const auto [outcome, pids] = run_leaving("(setsid sleep 30 & echo $! >> $PIDS) & wait; sleep 0.2", GetParam());
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_EQ(outcome.leftovers.size(), 1u);
  EXPECT_EQ(process_state(pids[0]), 0) << "the daemon escaped";
}

INSTANTIATE_TEST_SUITE_P(ChildProcess, LeftoverProcesses, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "InACgroup" : "AsDescendants";
                         });

TEST(ChildProcess, RunsInACgroupOfItsOwnWhereOneCanBeMade) {
  TempDir dir;
  SpawnOptions options = shell("cat /proc/self/cgroup > " + (dir.path() / "out").string());
  ChildProcess child = ChildProcess::start(options);
  const ProcessOutcome outcome = child.wait();
  const std::string text = read_all(dir.path() / "out");
  if (!outcome.in_cgroup) GTEST_SKIP() << "no cgroup can be made here: " << text;
  const auto line = text.find("0::/");
  ASSERT_NE(line, std::string::npos) << text;
  const std::string path = text.substr(line + 3, text.find('\n', line) - line - 3);
  EXPECT_NE(path.find("/joulebench."), std::string::npos) << text;
  // The cgroup is gone once the command ended.
  for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::error_code ec;
    EXPECT_FALSE(fs::exists(fs::path(mount + path), ec)) << mount << path;
  }
}

// --- process group, working directory, signals ------------------------------------------------

TEST(ChildProcess, RunsInItsOwnProcessGroup) {
  SpawnOptions options;
  options.argv = {"sleep", "10"};
  options.foreground = false;
  ChildProcess child = ChildProcess::start(options);
  ASSERT_GT(child.pid(), 0);
  EXPECT_EQ(::getpgid(child.pid()), child.pid());
  EXPECT_NE(::getpgid(child.pid()), ::getpgrp());
  child.signal_group(SIGTERM);
  const ProcessOutcome outcome = child.wait();
  EXPECT_TRUE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.signal, SIGTERM);
  EXPECT_EQ(outcome.status.shell_status(), 128 + SIGTERM);
  EXPECT_LT(outcome.wall().count(), 5.0);
}

TEST(ChildProcess, HonoursTheWorkingDirectory) {
  TempDir dir;
  ChildProcess child = ChildProcess::start(shell("pwd -P > here.tmp && mv here.tmp here", dir.path()));
  const ProcessOutcome outcome = child.wait();
  ASSERT_EQ(outcome.status.shell_status(), 0);
  ASSERT_TRUE(fs::exists(dir.path() / "here")) << "the command did not run in " << dir.path();
  EXPECT_EQ(read_all(dir.path() / "here"), fs::canonical(dir.path()).string() + "\n");
  // This process's own directory is unchanged.
  EXPECT_NE(fs::current_path(), fs::canonical(dir.path()));
}

TEST(ChildProcess, SignalGroupReachesGrandchildren) {
  // The shell waits for a grandchild that would sleep for 30 s; signalling the group must end
  // both, not only the shell.
  TempDir dir;
  const std::string pid_file = (dir.path() / "pid").string();
  ChildProcess child = ChildProcess::start(
      shell("sleep 30 & echo $! > " + pid_file + ".tmp; mv " + pid_file + ".tmp " + pid_file + "; wait"));
  const pid_t grandchild = parse_pid(wait_for_file(pid_file));
  ASSERT_GT(grandchild, 0);
  ASSERT_EQ(::kill(grandchild, 0), 0);
  EXPECT_EQ(::getpgid(grandchild), child.pid());

  const auto before = std::chrono::steady_clock::now();
  child.signal_group(SIGTERM);
  const ProcessOutcome outcome = child.wait();
  EXPECT_TRUE(outcome.status.signaled);
  EXPECT_EQ(outcome.status.signal, SIGTERM);

  // The grandchild, re-parented here, was either reaped by wait() already or is reaped now; in
  // both cases it must be gone long before its 30 s are up.
  int status = 0;
  const pid_t reaped = ::waitpid(grandchild, &status, 0);
  if (reaped == grandchild) {
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
  } else {
    EXPECT_EQ(errno, ECHILD);
    EXPECT_EQ(process_state(grandchild), 0);
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count(), 5.0);
}

TEST(ChildProcess, DestructorKillsACommandNeverWaitedFor) {
  pid_t pid = -1;
  {
    SpawnOptions options;
    options.argv = {"sleep", "30"};
    options.foreground = false;
    ChildProcess child = ChildProcess::start(options);
    pid = child.pid();
    ASSERT_EQ(::kill(pid, 0), 0);
    ChildProcess moved(std::move(child));  // the moved-from object must not kill or reap it
    EXPECT_EQ(moved.pid(), pid);
    EXPECT_EQ(child.pid(), -1);
    EXPECT_EQ(::kill(pid, 0), 0);
  }
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(WorkloadCgroup, RemovesTheCgroupsANestedJoulebenchLeftInIt) {
  // A nested joulebench (a plan's `joulebench workload ...`) makes its commands' cgroups inside
  // its own; killed with it, it cannot remove them, so the outer one removes the whole tree.
  std::string why;
  auto group = detail::WorkloadCgroup::create("joulebench.test." + std::to_string(::getpid()), why);
  if (!group) GTEST_SKIP() << why;
  const fs::path inner = group->path() / ("joulebench." + std::to_string(::getpid()) + ".inner");
  ASSERT_EQ(::mkdir(inner.c_str(), 0755), 0) << std::strerror(errno);
  ASSERT_EQ(::mkdir((inner / "deeper").c_str(), 0755), 0) << std::strerror(errno);
  EXPECT_TRUE(group->kill_all(Seconds(1)));
  EXPECT_TRUE(group->remove());
  std::error_code ec;
  EXPECT_FALSE(fs::exists(group->path(), ec));
}

}  // namespace
}  // namespace joulebench

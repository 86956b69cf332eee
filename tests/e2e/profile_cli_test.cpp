// End-to-end tests of `joulebench profile` and `joulebench profiles`: each mode on a small real
// program, and the energy attribution against known truth (a workload that drives a fake RAPL
// counter itself: high power in one function, low in another).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/python_sampler.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::csv_fields;
using testing::lines_of;
using testing::parse_json;
using testing::Result;
using testing::Runner;
using testing::TempDir;
using testing::write_file;

const std::string kPython = testing::profile_test_python();
const std::string kProgram = PROFILE_TEST_PROGRAM;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// The function of a JSON profile whose name starts with `prefix`, or null.
json function(const json& profile, const std::string& prefix) {
  for (const auto& f : profile["functions"]) {
    if (f["name"].get<std::string>().rfind(prefix, 0) == 0) return f;
  }
  return nullptr;
}

// A workload that is its own power meter: while `hot` runs it advances the fake package counter
// at 40 W, while `cold` runs at 5 W; both keep the CPU busy, so the sampler sees them alike.
constexpr const char* kKnownPowerScript = R"(import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
energy_uj = float(open(sys.argv[1]).read())

def run_at(watts, seconds):
    global energy_uj
    start = last = time.monotonic()
    while True:
        now = time.monotonic()
        energy_uj += watts * (now - last) * 1e6
        os.pwrite(fd, b"%20d\n" % int(energy_uj), 0)
        last = now
        if now - start >= seconds:
            return

def hot():
    run_at(40.0, 0.5)

def cold():
    run_at(5.0, 0.5)

hot()
cold()
hot()
cold()
)";

class ProfileCli : public ::testing::Test {
 protected:
  Runner runner;
  TempDir dir;
  ProfileCli() { runner.deadline = std::chrono::seconds(60); }
};

/// Whether the test interpreter's stacks can be read from outside (CPython 3.11, as on Debian 12).
bool external_sampler_here() { return choose_python_sampler(kPython).kind == PythonSamplerKind::external; }

/// Both Python samplers: the one outside the program where it can run here, and the one inside.
std::vector<std::string> python_samplers() {
  if (external_sampler_here()) return {"external", "in-process"};
  return {"in-process"};
}

class PythonSamplers : public ::testing::TestWithParam<std::string> {
 protected:
  Runner runner;
  TempDir dir;
  PythonSamplers() { runner.deadline = std::chrono::seconds(60); }
  /// `joulebench ARGS` with this test's sampler.
  Result run(const std::vector<std::string>& args, testing::Env environment = {}) {
    environment["JOULEBENCH_PYTHON_SAMPLER"] = GetParam();
    const Result r = runner.run(args, environment);
    EXPECT_TRUE(contains(r.err, "joulebench: python sampler: " + GetParam())) << r.err;
    return r;
  }
};

INSTANTIATE_TEST_SUITE_P(Both, PythonSamplers, ::testing::ValuesIn(python_samplers()),
                         [](const auto& sampler) { return sampler.param == "external" ? "External" : "InProcess"; });

TEST_P(PythonSamplers, AttributeKnownPowerToTheRightFunctions) {
  TempDir sysfs;
  const fs::path zone = sysfs.path() / "class" / "powercap" / "intel-rapl:0";
  testing::make_powercap_zone(zone, "package-0", 1'000'000, 262'143'328'850);
  write_file(dir.path() / "known_power.py", kKnownPowerScript);
  const Result r = run({"profile", "--mode", "python", "--source", "rapl-powercap", "--format", "json", "--", kPython,
                        (dir.path() / "known_power.py").string(), (zone / "energy_uj").string()},
                       {{"JOULEBENCH_SYSFS_ROOT", sysfs.path().string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json p = parse_json(r.out);
  EXPECT_EQ(p["mode"], "python");
  EXPECT_EQ(p["energy_rule"], "timeline");
  EXPECT_EQ(p["estimated"], false);
  const json hot = function(p, "hot (known_power.py:");
  const json cold = function(p, "cold (known_power.py:");
  ASSERT_FALSE(hot.is_null()) << p.dump(2);
  ASSERT_FALSE(cold.is_null()) << p.dump(2);
  // run_at is the leaf (self time) of both; hot and cold own it through their total time.
  const double hot_energy = hot["total_energy_j"].get<double>();
  const double cold_energy = cold["total_energy_j"].get<double>();
  const double hot_time = hot["total_s"].get<double>();
  const double cold_time = cold["total_s"].get<double>();
  // Truth: 40 W x 1.0 s and 5 W x 1.0 s. Tolerances, set for a loaded 2-core machine (tests run in
  // parallel): the split of the energy between the two within 0.06 of 40/45; each function's
  // power within 25 % (a starved script advances its counter in bursts, and a 10 ms meter interval
  // at a hot/cold edge moves up to 0.35 J); its time within 40 % (a starved sampler misses ticks,
  // and the time it misses goes to the outside row).
  EXPECT_NEAR(hot_energy / (hot_energy + cold_energy), 40.0 / 45.0, 0.06) << p.dump(2);
  EXPECT_NEAR(hot_energy / hot_time, 40.0, 10.0) << p.dump(2);
  EXPECT_NEAR(cold_energy / cold_time, 5.0, 1.25) << p.dump(2);
  EXPECT_NEAR(hot_time, 1.0, 0.4);
  EXPECT_NEAR(cold_time, 1.0, 0.4);
  // Rows and the outside-of-functions share add up to the measured energy.
  double sum = p["outside"]["energy_j"].get<double>();
  for (const auto& f : p["functions"]) sum += f["energy_j"].get<double>();
  EXPECT_NEAR(sum, p["run_energy_j"].get<double>(), 0.01 * p["run_energy_j"].get<double>());
  EXPECT_NEAR(p["run_energy_j"].get<double>(), 45.0, 4.5);
}

// Threads, a generator, and function names in each of CPython's three string widths (Latin-1,
// UCS-2, UCS-4), which the external sampler decodes itself: every function is found under the name
// the in-process sampler gives it, with the time it ran.
constexpr const char* kThreadsScript = R"(import threading, time

def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass

def naïve():
    spin(0.4)

def 计算():
    spin(0.4)

def 𐐀ready():
    spin(0.4)

def steps():
    for i in range(4):
        spin(0.1)
        yield i

worker = threading.Thread(target=naïve)
worker.start()
计算()
𐐀ready()
list(steps())
worker.join()
)";

TEST_P(PythonSamplers, SeeEveryThreadAndReadEveryName) {
  write_file(dir.path() / "threads.py", kThreadsScript);
  const Result r = run({"profile", "--mode", "python", "--format", "json", "--top", "0", "--threshold", "0", "--",
                        kPython, (dir.path() / "threads.py").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json p = parse_json(r.out);
  EXPECT_EQ(p["threads"], 2) << r.out.substr(0, 4000);
  for (const std::string name :
       {"naïve (threads.py:8)", "计算 (threads.py:11)", "𐐀ready (threads.py:14)", "steps (threads.py:17)"}) {
    const json f = function(p, name);
    ASSERT_FALSE(f.is_null()) << name << " missing from " << r.out.substr(0, 4000);
    // The worker's spin runs beside the main thread's on a loaded machine: the GIL makes each
    // thread wait for the other, and the in-process sampler waits for both.
    EXPECT_NEAR(f["total_s"].get<double>(), 0.4, 0.2) << name;
  }
}

TEST_F(ProfileCli, TheExternalSamplerKeepsTheProfileOfAProgramASignalKilled) {
  if (!external_sampler_here()) GTEST_SKIP() << "the external sampler cannot read " << kPython << " here";
  write_file(
      dir.path() / "crash.py",
      "import os, signal, time\n\ndef spin():\n    end = time.monotonic() + 0.3\n    while time.monotonic() < end:\n"
      "        pass\n\nspin()\nos.kill(os.getpid(), signal.SIGSEGV)\n");
  const Result r = runner.run(
      {"profile", "--mode", "python", "--format", "json", "--", kPython, (dir.path() / "crash.py").string()});
  EXPECT_EQ(r.exit_code, 128 + 11) << r.err;
  EXPECT_TRUE(contains(r.err, "the command ended with killed by signal 11 (SIGSEGV")) << r.err;
  const json f = function(parse_json(r.out), "spin (crash.py:3)");
  ASSERT_FALSE(f.is_null()) << r.out;
  EXPECT_NEAR(f["total_s"].get<double>(), 0.3, 0.15);
}

TEST_F(ProfileCli, CProfileCountsCallsExactly) {
  write_file(dir.path() / "calls.py",
             "def tick(i):\n    return i * 2\n\n\ndef work():\n    return sum(tick(i) for i in range(1234))\n\n\n"
             "for _ in range(3):\n    work()\nprint('done')\n");
  const fs::path csv = dir.path() / "profile.csv";
  const Result r = runner.run({"profile", "--mode", "cprofile", "--format", "csv", "--threshold", "0", "--top", "0",
                               "-o", csv.string(), "--", kPython, (dir.path() / "calls.py").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "done\n");  // with -o, the command's output stays on standard output
  std::map<std::string, std::vector<std::string>> rows;
  for (const auto& line : lines_of(testing::read_all(csv))) {
    const auto fields = csv_fields(line);
    if (fields.size() > 3) rows[fields[1]] = fields;
  }
  ASSERT_TRUE(rows.contains("tick (calls.py:1)")) << testing::read_all(csv);
  EXPECT_EQ(rows["tick (calls.py:1)"][3], std::to_string(3 * 1234));
  EXPECT_EQ(rows["work (calls.py:5)"][3], "3");
  EXPECT_EQ(rows["tick (calls.py:1)"][13], "true");  // the default sources here: the estimate
  EXPECT_EQ(rows["tick (calls.py:1)"][14], "average power");
}

// Two files with the same code: their code objects compare equal in CPython (equality ignores the
// file name), so each function must be named by its own code object, not by an equal one.
TEST_F(ProfileCli, IdenticalFunctionsInTwoFilesKeepTheirOwnNames) {
  const std::string twin =
      "import time\n\ndef spin():\n    end = time.monotonic() + 0.3\n    while time.monotonic() < end:\n        pass\n";
  write_file(dir.path() / "twin_a.py", twin);
  write_file(dir.path() / "twin_b.py", twin);
  write_file(dir.path() / "twins.py", "import twin_a, twin_b\ntwin_a.spin()\ntwin_b.spin()\n");
  for (const std::string mode : {"python", "cprofile"}) {
    const Result r = runner.run({"profile", "--mode", mode, "--format", "json", "--top", "0", "--threshold", "0", "--",
                                 kPython, (dir.path() / "twins.py").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json p = parse_json(r.out);
    for (const std::string name : {"spin (twin_a.py:3)", "spin (twin_b.py:3)"}) {
      const json f = function(p, name);
      ASSERT_FALSE(f.is_null()) << mode << ": " << name << " missing from " << r.out.substr(0, 4000);
      EXPECT_NEAR(f["total_s"].get<double>(), 0.3, 0.15) << mode << ": " << name;
    }
  }
}

TEST_F(ProfileCli, AutoPicksThePythonSamplerAndKeepsTheExitStatus) {
  write_file(dir.path() / "fails.py", "import sys, time\n\ndef nap():\n    time.sleep(0.2)\n\nnap()\nsys.exit(3)\n");
  const Result r = runner.run({"profile", "--format", "folded", "--", kPython, (dir.path() / "fails.py").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "joulebench profile: mode python (auto: a Python interpreter)")) << r.err;
  EXPECT_TRUE(contains(r.out, ";nap (fails.py:3) ")) << r.out;
}

TEST_F(ProfileCli, ABuiltInPyTorchWorkloadRunsUnderThePythonSampler) {
  const fs::path beside = fs::path(JOULEBENCH_BINARY).parent_path();
  if (!fs::exists(beside / "joulebench_pytorch.py") || !fs::exists(beside / "joulebench-data")) {
    GTEST_SKIP() << "the built-in workloads are not built here";
  }
  const Result r = runner.run({"profile", "--format", "json", "--top", "0", "--threshold", "0", "--", "joulebench",
                               "workload", "ncf", "--framework", "pytorch", "--size", "tiny"},
                              {{"JOULEBENCH_DATA_DIR", (dir.path() / "data").string()}});
  if (r.exit_code != 0 && contains(r.err, "No module named 'torch'"))
    GTEST_SKIP() << "PyTorch is not installed: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "joulebench profile: mode python (auto: a PyTorch workload)")) << r.err;
  const json p = parse_json(r.out);
  EXPECT_EQ(p["mode"], "python");
  bool in_workload = false;
  for (const auto& f : p["functions"])
    in_workload = in_workload || contains(f["name"].get<std::string>(), "joulebench_pytorch.py");
  EXPECT_TRUE(in_workload) << r.out.substr(0, 4000);
}

TEST_F(ProfileCli, PerfModeFindsTheHotNativeFunction) {
  const Result r = runner.run({"profile", "--mode", "perf", "--format", "json", "--top", "0", "--threshold", "0", "--",
                               kProgram, "0.6", "0.3"});
  if (r.exit_code != 0 && contains(r.err, "perf cannot record")) GTEST_SKIP() << "perf cannot record here: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json p = parse_json(r.out);
  EXPECT_EQ(p["mode"], "perf");
  const json hot = function(p, "(anonymous namespace)::hot_function");
  const json cold = function(p, "(anonymous namespace)::cold_function");
  ASSERT_FALSE(hot.is_null()) << r.out.substr(0, 4000);
  ASSERT_FALSE(cold.is_null()) << r.out.substr(0, 4000);
  // On-CPU time by call stack: twice as long in hot_function, within sampling noise.
  const double ratio = hot["total_s"].get<double>() / cold["total_s"].get<double>();
  EXPECT_GT(ratio, 1.4) << r.out.substr(0, 4000);
  EXPECT_LT(ratio, 2.8) << r.out.substr(0, 4000);
  EXPECT_GT(hot["total_energy_j"].get<double>(), cold["total_energy_j"].get<double>());
}

TEST_F(ProfileCli, UsageErrorsAreClear) {
  Result r = runner.run({"profile", "--mode", "python", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "must start with a Python interpreter")) << r.err;
  r = runner.run({"profile", "--threshold", "half", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "'half' is not a share")) << r.err;
  r = runner.run({"profile", "--mode", "cprofile", "--", kPython, "-c", "pass"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "not python3 -c")) << r.err;
  r = runner.run({"profile", "--mode", "python", "--", kPython, (dir.path() / "missing.py").string()});
  EXPECT_NE(r.exit_code, 0);
  // The interpreter says so itself under the external sampler, the launcher under the in-process one.
  EXPECT_TRUE(contains(r.err, "can't open file") || contains(r.err, "no such script")) << r.err;
  // --interval is the meter's, as everywhere; the profiler's is --sample-interval.
  r = runner.run({"profile", "--sample-interval", "2s", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--sample-interval") && contains(r.err, "between 0.1ms and 1s")) << r.err;
  r = runner.run({"profile", "--interval", "0.5ms", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--interval") && contains(r.err, "1ms or more")) << r.err;
  r = runner.run({"profile", "--meter-interval", "0.5ms", "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--meter-interval is deprecated")) << r.err;
}

TEST_F(ProfileCli, CampaignProfiledRunsAreStoredAndNeverCompared) {
  write_file(dir.path() / "spin.py",
             "import time\n\ndef spin():\n    end = time.monotonic() + 0.3\n    while time.monotonic() < end:\n        "
             "pass\n\n"
             "spin()\n");
  write_file(dir.path() / "plan.toml", fmt::format(R"([campaign]
name = "profiled"
repetitions = 2
warmup = 0
cooldown = "0s"
idle = "0s"
interval = "50ms"

[[workload]]
name = "spin"
framework = "py"
model = "m"
phase = "train"
command = ["{}", "{}"]
profile = ["python", "cprofile"]
)",
                                                   kPython, (dir.path() / "spin.py").string()));
  const fs::path db = dir.path() / "p.db";
  Result r = runner.run({"run", (dir.path() / "plan.toml").string(), "--db", db.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // Export and compare see the two measured runs only.
  r = runner.run({"export", "--db", db.string(), "--format", "csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 3u) << r.out;

  {
    Store store(db);
    const auto campaign = store.campaigns().back().id;
    EXPECT_EQ(store.recorded_runs(campaign).size(), 4u);  // resume skips the profiled runs too
    RunFilter all;
    all.profiled = std::nullopt;
    EXPECT_EQ(store.runs(campaign, all).size(), 4u);
    RunFilter profiled;
    profiled.profiled = true;
    const auto runs = store.runs(campaign, profiled);
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].index, 2u);  // after every measured run
    ASSERT_TRUE(runs[0].profile.has_value());
    EXPECT_EQ(runs[0].profile->mode, "python");
    EXPECT_EQ(runs[1].profile->mode, "cprofile");
    EXPECT_TRUE(runs[0].profile->problem.empty()) << runs[0].profile->problem;
    EXPECT_FALSE(runs[0].profile->functions.empty());
  }

  r = runner.run({"profiles", "--db", db.string(), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json groups = parse_json(r.out)["groups"];
  ASSERT_EQ(groups.size(), 2u) << r.out;
  for (const auto& g : groups) {
    EXPECT_EQ(g["group"]["model"], "m");
    ASSERT_EQ(g["sides"].size(), 1u);
    EXPECT_EQ(g["sides"][0]["side"], "py");
    bool found = false;
    for (const auto& f : g["sides"][0]["functions"])
      found = found || contains(f["name"].get<std::string>(), "spin (spin.py:3)");
    EXPECT_TRUE(found) << g.dump(2);
  }
  r = runner.run({"profiles", "--db", db.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "model=m phase=train, python mode")) << r.out;
  EXPECT_TRUE(contains(r.out, "*: estimated energy")) << r.out;
}

}  // namespace
}  // namespace joulebench

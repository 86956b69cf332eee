// End-to-end tests of the joulebench executable: `measure` and `sensors` run as a user would run
// them, with the sensor roots redirected (by default: real /proc, an empty sysfs, no NVML, so
// only the estimate works and its figures can be checked against the model).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"

extern char** environ;

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using joulebench::testing::make_powercap_zone;
using joulebench::testing::TempDir;
using nlohmann::json;
using testing::csv_fields;
using testing::Env;
using testing::lines_of;
using testing::parse_json;
using testing::read_all;
using testing::Result;
using testing::Runner;

const std::string kJoulebench = JOULEBENCH_BINARY;
const std::string kCpuLoad = JOULEBENCH_CPU_LOAD;

// A simple model, so the estimated figures can be computed here: 1 W per logical CPU when idle,
// 3 W when busy, 1 W per GB of DRAM.
constexpr double kIdleWattsPerCpu = 1.0;
constexpr double kDramWattsPerGb = 1.0;

/// The energy figure of `name` (a domain, or "total") in a JSON report's run, or null.
json domain(const json& report, const std::string& name) {
  if (!report.contains("run")) return nullptr;
  for (const auto& d : report["run"]["energy"]) {
    if (d.value("domain", "") == name) return d;
  }
  return nullptr;
}

/// The figures of the domains (not the total) in a JSON report's run.
std::size_t domain_count(const json& report) {
  std::size_t n = 0;
  for (const auto& d : report["run"]["energy"]) n += d["domain"] != "total" ? 1 : 0;
  return n;
}

/// Every warning of a JSON report: the run's, then the measurement's notes.
std::vector<std::string> warnings(const json& report) {
  std::vector<std::string> out;
  for (const auto& w : report["run"]["warnings"]) out.push_back(w["message"]);
  for (const auto& n : report["notes"]) out.push_back(n);
  return out;
}

/// Logical CPUs as the estimate counts them: the cpuN lines of /proc/stat.
int logical_cpus() {
  int n = 0;
  for (const auto& line : lines_of(read_all("/proc/stat"))) {
    if (line.size() > 3 && line.compare(0, 3, "cpu") == 0 && line[3] >= '0' && line[3] <= '9') ++n;
  }
  return n;
}

/// MemTotal in GB (1e9 bytes), as the estimate reads it.
double memory_gb() {
  for (const auto& line : lines_of(read_all("/proc/meminfo"))) {
    if (line.rfind("MemTotal:", 0) == 0) return std::stod(line.substr(9)) * 1024.0 / 1e9;
  }
  return 0.0;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class MeasureCli : public ::testing::Test {
 protected:
  Runner runner;
  TempDir dir;
  fs::path report = dir.path() / "report.json";
};

// --- exit status ------------------------------------------------------------------------------

TEST_F(MeasureCli, SleepReportIsCompleteAndEstimated) {
  const Result r = runner.run({"measure", "--json", "-o", report.string(), "--", "sleep", "0.3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");  // the report went to the file
  const json j = parse_json(read_all(report));
  EXPECT_EQ(j["command"], json({"sleep", "0.3"}));
  EXPECT_EQ(j["status"]["signaled"], false);
  EXPECT_EQ(j["status"]["exit_code"], 0);
  EXPECT_EQ(j["status"]["shell_status"], 0);

  const double wall = j["run"]["time_s"].get<double>();
  EXPECT_GE(wall, 0.3);
  EXPECT_LT(wall, 1.5);
  EXPECT_LE(wall, r.wall_s);
  const double window = j["window"]["duration_s"].get<double>();
  EXPECT_GE(window, wall);
  EXPECT_LT(window, wall + 0.5);
  EXPECT_LT(j["run"]["user_cpu_s"].get<double>(), 0.1);  // sleeping is not work
  EXPECT_GE(j["run"]["user_cpu_s"].get<double>(), 0.0);
  EXPECT_EQ(j["left_processes_running"], false);

  const json cpu = domain(j, "cpu");
  const json dram = domain(j, "dram");
  ASSERT_FALSE(cpu.is_null()) << j.dump(2);
  ASSERT_FALSE(dram.is_null()) << j.dump(2);
  EXPECT_EQ(domain_count(j), 2u);
  for (const json& d : {cpu, dram}) {
    EXPECT_EQ(d["estimated"], true);
    EXPECT_EQ(d["source"], "estimate");
    EXPECT_EQ(d["method"], "model");
    EXPECT_EQ(d["complete"], true);
    EXPECT_EQ(d["counted_in_total"], true);
  }
  // The model, integrated: the CPU costs at least its idle power, DRAM exactly its constant power.
  const double cpu_j = cpu["energy_j"].get<double>();
  const double dram_j = dram["energy_j"].get<double>();
  EXPECT_GE(cpu_j, kIdleWattsPerCpu * logical_cpus() * window * 0.99);
  // At most every CPU busy all the time, give or take the 10 ms ticks /proc/stat counts in.
  EXPECT_LE(cpu_j, 3.0 * logical_cpus() * (window * 1.01 + 0.03));
  EXPECT_NEAR(dram_j, kDramWattsPerGb * memory_gb() * window, 0.01 * dram_j + 1e-6);
  EXPECT_NEAR(dram["average_power_w"].get<double>(), kDramWattsPerGb * memory_gb(), 0.01 * memory_gb());

  const json total = domain(j, "total");
  EXPECT_EQ(total["estimated"], true);
  EXPECT_EQ(total["partly_estimated"], false);
  EXPECT_EQ(total["source"], "estimate");
  EXPECT_GT(total["energy_j"].get<double>(), 0.0);
  EXPECT_NEAR(total["energy_j"].get<double>(), cpu_j + dram_j, 1e-6 * (cpu_j + dram_j));
  for (const auto& c : j["channels"]) {
    EXPECT_GE(c["energy_j"].get<double>(), 0.0) << c.dump();
    EXPECT_EQ(c["estimated"], true) << c.dump();
  }
  // Tests run side by side: a busy machine is said, and is the only warning allowed here.
  for (const auto& warning : warnings(j)) {
    EXPECT_TRUE(warning.starts_with("other processes used")) << warning;
  }
}

TEST_F(MeasureCli, ExitCodeOfTheCommandIsPassedOn) {
  const Result r = runner.run({"measure", "--json", "-o", report.string(), "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  const json j = parse_json(read_all(report));
  EXPECT_EQ(j["status"]["signaled"], false);
  EXPECT_EQ(j["status"]["exit_code"], 7);
  EXPECT_EQ(j["status"]["shell_status"], 7);
  EXPECT_GT(domain(j, "total")["energy_j"].get<double>(), 0.0);  // a failing command is still measured
}

TEST_F(MeasureCli, CommandKilledBySignalGives128PlusSignal) {
  const Result r = runner.run({"measure", "--json", "-o", report.string(), "--", "sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.term_signal, 0) << "joulebench itself was killed";
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  const json j = parse_json(read_all(report));
  EXPECT_EQ(j["status"]["signaled"], true);
  EXPECT_EQ(j["status"]["signal"], SIGTERM);
  EXPECT_EQ(j["status"]["shell_status"], 128 + SIGTERM);
  EXPECT_FALSE(j["status"].contains("exit_code"));
}

TEST_F(MeasureCli, MissingCommandIs127WithoutAReport) {
  // With --idle 5s: the command is checked before the idle baseline is spent.
  const Result r = runner.run(
      {"measure", "--idle", "5s", "--json", "-o", report.string(), "--", "joulebench-test-no-such-command", "x"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_TRUE(contains(r.err, "joulebench-test-no-such-command")) << r.err;
  EXPECT_TRUE(contains(r.err, "not found")) << r.err;
  EXPECT_FALSE(contains(r.err, "{")) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(fs::exists(report));
  EXPECT_LT(r.wall_s, 2.0);
}

TEST_F(MeasureCli, NonExecutableFileIs126) {
  const fs::path script = dir.path() / "script.sh";
  joulebench::testing::write_file(script, "#!/bin/sh\nexit 0\n");
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  const Result r = runner.run({"measure", "--json", "-o", report.string(), "--", script.string()});
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_TRUE(contains(r.err, script.string())) << r.err;
  EXPECT_FALSE(fs::exists(report));
}

TEST_F(MeasureCli, ExitStatusSurvivesAnInheritedIgnoredSigchld) {
  runner.sigchld_ignored = true;
  const Result r = runner.run({"measure", "--json", "-o", report.string(), "--", "sh", "-c", "sleep 0.1; exit 5"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  const json j = parse_json(read_all(report));
  EXPECT_EQ(j["status"]["exit_code"], 5);
  EXPECT_GE(j["run"]["time_s"].get<double>(), 0.1);
  EXPECT_LT(j["run"]["time_s"].get<double>(), 1.5);
}

// --- figures ----------------------------------------------------------------------------------

TEST_F(MeasureCli, CpuTimeOfABusyCommand) {
  const Result r = runner.run({"measure", "--json", "-o", report.string(), "--", kCpuLoad, "--seconds", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "cpu-load: 1 thread(s)")) << r.out;
  const json j = parse_json(read_all(report));
  const double user = j["run"]["user_cpu_s"].get<double>();
  const double wall = j["run"]["time_s"].get<double>();
  EXPECT_GE(wall, 0.5);
  EXPECT_LE(user, wall + 0.02);  // one busy thread
  // The kernel's own count for joulebench and everything it reaped: the command's part is all of
  // it but joulebench's few milliseconds.
  EXPECT_LE(user, r.children_user_s + 0.01);
  EXPECT_GE(user, r.children_user_s - 0.05);
  EXPECT_GE(user, 0.1);
  // One thread busy for 0.5 s gets at least 0.4 s of CPU, unless the rest of the machine kept
  // every CPU busy meanwhile (a parallel build on a small machine): then it may get less.
  const double machine_busy = j["window"]["machine_cpu_busy_s"].get<double>();
  const double others = machine_busy - user - j["run"]["system_cpu_s"].get<double>();
  if (others < (logical_cpus() - 1) * wall * 0.8) {
    EXPECT_GE(user, 0.4) << "others used " << others << " s of CPU in the window";
  }
  ASSERT_TRUE(j.contains("cpu_share")) << j.dump(2);
  EXPECT_GT(j["cpu_share"].get<double>(), 0.0);
  EXPECT_LE(j["cpu_share"].get<double>(), 1.0);
  // Busy CPU time costs (3 - 1) W per CPU-second above idle in the model.
  const double window = j["window"]["duration_s"].get<double>();
  const double cpu_j = domain(j, "cpu")["energy_j"].get<double>();
  EXPECT_GE(cpu_j, kIdleWattsPerCpu * logical_cpus() * window + 2.0 * user * 0.9);
}

TEST_F(MeasureCli, CsvReportHasAHeaderAndOneRow) {
  const Result r = runner.run({"measure", "--format", "csv", "-o", report.string(), "--", "sh", "-c", "exit 0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(read_all(report));
  ASSERT_EQ(lines.size(), 2u) << read_all(report);
  const auto header = csv_fields(lines[0]);
  const auto row = csv_fields(lines[1]);
  ASSERT_EQ(header.size(), row.size()) << lines[0] << "\n" << lines[1];
  std::map<std::string, std::string> value;
  for (std::size_t i = 0; i < header.size(); ++i) value[header[i]] = row[i];
  for (const char* column : {"command", "status", "exit_code", "time_s", "energy_cpu_j", "energy_cpu_estimated",
                             "energy_dram_j", "energy_dram_estimated", "energy_total_j", "energy_total_estimated"}) {
    EXPECT_EQ(value.count(column), 1u) << "no column " << column << " in " << lines[0];
  }
  EXPECT_EQ(value["command"], "sh -c \"exit 0\"");
  EXPECT_EQ(value["status"], "exited");
  EXPECT_EQ(value["exit_code"], "0");
  EXPECT_EQ(value["energy_cpu_estimated"], "true");
  EXPECT_EQ(value["energy_total_estimated"], "true");
  EXPECT_GE(std::stod(value["time_s"]), 0.0);
  EXPECT_LT(std::stod(value["time_s"]), 1.0);
  const double cpu = std::stod(value["energy_cpu_j"]);
  const double dram = std::stod(value["energy_dram_j"]);
  const double total = std::stod(value["energy_total_j"]);
  EXPECT_GT(cpu, 0.0);
  EXPECT_GT(dram, 0.0);
  EXPECT_NEAR(total, cpu + dram, 2e-6);
  EXPECT_EQ(value.count("dynamic_energy_cpu_j"), 0u);  // no idle baseline asked for
}

TEST_F(MeasureCli, IdleBaselineGivesDynamicAndAttributedEnergy) {
  const Result r =
      runner.run({"measure", "--idle", "300ms", "--json", "-o", report.string(), "--", kCpuLoad, "--seconds", "0.2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(r.wall_s, 0.5);  // the baseline comes first, then the command
  const json j = parse_json(read_all(report));
  ASSERT_TRUE(j.contains("idle")) << j.dump(2);
  EXPECT_GE(j["idle"]["duration_s"].get<double>(), 0.3);
  EXPECT_LT(j["idle"]["duration_s"].get<double>(), 1.0);
  EXPECT_EQ(j["idle"]["complete"], true);

  const json cpu = domain(j, "cpu");
  const json dram = domain(j, "dram");
  ASSERT_FALSE(cpu.is_null());
  ASSERT_FALSE(dram.is_null());
  // Idle CPU power in the model is at least 1 W per CPU; DRAM's is constant.
  EXPECT_GE(cpu["idle_power_w"].get<double>(), kIdleWattsPerCpu * logical_cpus() * 0.99);
  EXPECT_NEAR(dram["idle_power_w"].get<double>(), kDramWattsPerGb * memory_gb(), 0.01 * memory_gb());
  for (const json& d : {cpu, dram}) {
    ASSERT_TRUE(d.contains("dynamic_energy_j")) << d.dump();
    EXPECT_GE(d["dynamic_energy_j"].get<double>(), 0.0) << d.dump();
    EXPECT_LE(d["dynamic_energy_j"].get<double>(), d["energy_j"].get<double>()) << d.dump();
  }
  // DRAM power is constant: nothing above idle (up to rounding).
  EXPECT_LT(dram["dynamic_energy_j"].get<double>(), 0.01 * dram["energy_j"].get<double>() + 1e-6);
  // Dynamic energy is the energy above idle power over the window, clamped at 0; the command's
  // share of the CPU's dynamic energy is its share of the machine's busy CPU time. (Whether the
  // CPU's dynamic energy is above 0 depends on what else the machine did: not asserted.)
  const double window = j["window"]["duration_s"].get<double>();
  for (const json& d : {cpu, dram}) {
    const double above_idle = d["energy_j"].get<double>() - d["idle_power_w"].get<double>() * window;
    EXPECT_NEAR(d["dynamic_energy_j"].get<double>(), std::max(0.0, above_idle),
                1e-6 + 1e-6 * d["energy_j"].get<double>())
        << d.dump();
    // Below idle beyond rounding: the constant DRAM model can land a last bit below its idle figure.
    EXPECT_EQ(d["below_idle"], above_idle < -1e-9 * std::max(1.0, d["energy_j"].get<double>())) << d.dump();
  }
  ASSERT_TRUE(j.contains("cpu_share")) << j.dump(2);
  const double share = j["cpu_share"].get<double>();
  EXPECT_GT(share, 0.0);
  EXPECT_LE(share, 1.0);
  ASSERT_TRUE(cpu.contains("attributed_energy_j")) << cpu.dump();
  EXPECT_GE(cpu["attributed_energy_j"].get<double>(), 0.0);
  EXPECT_NEAR(cpu["attributed_energy_j"].get<double>(), cpu["dynamic_energy_j"].get<double>() * share, 1e-9);
  EXPECT_FALSE(dram.contains("attributed_energy_j"));
  ASSERT_TRUE(domain(j, "total").contains("dynamic_energy_j"));
  EXPECT_GE(domain(j, "total")["dynamic_energy_j"].get<double>(), 0.0);
}

TEST_F(MeasureCli, TimelineHasARowPerInterval) {
  const fs::path timeline = dir.path() / "timeline.csv";
  const Result r = runner.run({"measure", "--interval", "50ms", "--timeline", timeline.string(), "--json", "-o",
                               report.string(), "--", "sleep", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = parse_json(read_all(report));
  const double window = j["window"]["duration_s"].get<double>();
  EXPECT_DOUBLE_EQ(j["window"]["interval_s"].get<double>(), 0.05);

  const auto lines = lines_of(read_all(timeline));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "time_s,interval_s,cpu-0_w,dram-0_w");
  const std::size_t rows = lines.size() - 1;
  const double expected_rows = window / 0.05;
  EXPECT_GE(static_cast<double>(rows), expected_rows - 2.0) << read_all(timeline);
  EXPECT_LE(static_cast<double>(rows), expected_rows + 2.0) << read_all(timeline);
  EXPECT_EQ(static_cast<long>(rows), j["window"]["reads"].get<long>() - 1);

  double previous_time = 0.0;
  double interval_sum = 0.0;
  double first_dram = -1.0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto f = csv_fields(lines[i]);
    ASSERT_EQ(f.size(), 4u) << lines[i];
    const double time = std::stod(f[0]);
    const double interval = std::stod(f[1]);
    const double cpu = std::stod(f[2]);
    const double dram = std::stod(f[3]);
    EXPECT_GT(time, previous_time) << lines[i];
    EXPECT_NEAR(time - previous_time, interval, 2e-6) << lines[i];
    previous_time = time;
    interval_sum += interval;
    EXPECT_GE(cpu, kIdleWattsPerCpu * logical_cpus() * 0.98) << lines[i];
    if (first_dram < 0) first_dram = dram;
    EXPECT_NEAR(dram, first_dram, 0.01 * first_dram) << lines[i];
  }
  // The rows cover the window exactly, edge to edge.
  EXPECT_NEAR(previous_time, window, 1e-5);
  EXPECT_NEAR(interval_sum, window, 1e-4);
  EXPECT_NEAR(first_dram, kDramWattsPerGb * memory_gb(), 0.01 * memory_gb());
}

// --- GPUs -------------------------------------------------------------------------------------

/// The fake NVML library with three GPUs drawing 50, 120 and 200 W.
Env fake_gpus() {
  return {{"JOULEBENCH_NVML_LIBRARY", FAKE_NVML_LIBRARY},
          {"FAKE_NVML_GPUS", "3"},
          {"FAKE_NVML_POWERS_W", "50,120,200"},
          {"FAKE_NVML_SCENARIO", std::nullopt},
          {"FAKE_NVML_NO_UUID", std::nullopt}};
}

std::string fake_uuid(int index) { return "GPU-fa4e0000-0000-4000-8000-00000000000" + std::to_string(index); }

/// A command that writes the CUDA_VISIBLE_DEVICES it was given to `file`, then sleeps a little.
std::vector<std::string> record_cuda_devices(const fs::path& file) {
  return {"sh", "-c", "printf %s \"${CUDA_VISIBLE_DEVICES-unset}\" > \"$0\"; sleep 0.3", file.string()};
}

TEST_F(MeasureCli, GpusAreAllTheCommandSeesAndAllItsGpuFigureCounts) {
  const fs::path seen = dir.path() / "cuda.txt";
  std::vector<std::string> args = {"measure", "--json", "-o", report.string(), "--source", "nvml", "--gpus", "1", "--"};
  for (const auto& a : record_cuda_devices(seen)) args.push_back(a);
  const Result r = runner.run(args, fake_gpus());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(seen), fake_uuid(1)) << "CUDA numbers GPUs its own way: the command is given UUIDs";

  const json j = parse_json(read_all(report));
  EXPECT_EQ(j["gpus"], json::parse(R"([{"index": 1, "uuid": ")" + fake_uuid(1) + R"("}])"));
  const double window_s = j["window"]["duration_s"].get<double>();
  const auto expect_watts = [&](const std::string& name, double watts, bool in_total) {
    const json f = domain(j, name);
    ASSERT_FALSE(f.is_null()) << name << " in " << j["run"]["energy"].dump(2);
    EXPECT_NEAR(f["energy_j"].get<double>(), watts * window_s, 0.005 * watts * window_s) << name;
    EXPECT_EQ(f["counted_in_total"], in_total) << name;
  };
  expect_watts("gpu", 120.0, true);
  expect_watts("gpu-other", 250.0, false);
  expect_watts("gpu-0", 50.0, false);
  expect_watts("gpu-1", 120.0, false);
  expect_watts("gpu-2", 200.0, false);
  EXPECT_NEAR(domain(j, "total")["energy_j"].get<double>(), domain(j, "gpu")["energy_j"].get<double>(), 1e-9);
  for (const auto& c : j["channels"]) {
    EXPECT_EQ(c["domain"], c["id"] == "gpu-1" ? "gpu" : "gpu-other") << c.dump();
  }
}

TEST_F(MeasureCli, GpusByIndexAndUuidWithTheirIdlePowerAndColumns) {
  const fs::path seen = dir.path() / "cuda.txt";
  std::vector<std::string> args = {"measure", "--csv", "-o",     report.string(),      "--source", "nvml",
                                   "--idle",  "200ms", "--gpus", "2, " + fake_uuid(0), "--"};
  for (const auto& a : record_cuda_devices(seen)) args.push_back(a);
  const Result r = runner.run(args, fake_gpus());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_all(seen), fake_uuid(2) + "," + fake_uuid(0));
  const auto rows = lines_of(read_all(report));
  ASSERT_EQ(rows.size(), 2u);
  const auto header = csv_fields(rows[0]);
  const auto values = csv_fields(rows[1]);
  ASSERT_EQ(header.size(), values.size());
  std::map<std::string, std::string> cell;
  for (std::size_t i = 0; i < header.size(); ++i) cell[header[i]] = values[i];
  for (const std::string column : {"energy_gpu_j", "energy_gpu-other_j", "energy_gpu-0_j", "energy_gpu-1_j",
                                   "energy_gpu-2_j", "dynamic_energy_gpu_j", "dynamic_energy_gpu-2_j"}) {
    EXPECT_TRUE(cell.contains(column)) << column << " in " << rows[0];
  }
  const double window_s = std::stod(cell["window_s"]);
  EXPECT_NEAR(std::stod(cell["energy_gpu_j"]), 250.0 * window_s, 0.005 * 250.0 * window_s);
  EXPECT_NEAR(std::stod(cell["energy_gpu-other_j"]), 120.0 * window_s, 0.005 * 120.0 * window_s);
  // Idle power is the selected GPUs' (250 W), not all three's (370 W): the GPUs' steady power is
  // all idle.
  EXPECT_LT(std::stod(cell["dynamic_energy_gpu_j"]), 0.01 * 250.0 * window_s);
}

TEST_F(MeasureCli, AGpuThatIsNotHereIsAUsageErrorAndNothingRuns) {
  const fs::path seen = dir.path() / "cuda.txt";
  std::vector<std::string> args = {"measure", "--json", "-o", report.string(), "--gpus", "0,5", "--"};
  for (const auto& a : record_cuda_devices(seen)) args.push_back(a);
  const Result r = runner.run(args, fake_gpus());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "--gpus")) << r.err;
  EXPECT_TRUE(contains(r.err, "no GPU '5' here")) << r.err;
  EXPECT_TRUE(contains(r.err, "1: Fake NVIDIA GPU 1 (" + fake_uuid(1) + ")")) << r.err;
  EXPECT_FALSE(fs::exists(seen));
  EXPECT_FALSE(fs::exists(report));

  // Without NVML (the runner's default): said so.
  const Result none = runner.run(args);
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_TRUE(contains(none.err, "no NVIDIA GPU is available here")) << none.err;
  EXPECT_FALSE(fs::exists(seen));
}

// --- bad input --------------------------------------------------------------------------------

TEST_F(MeasureCli, IntervalWithoutAUnitIsAUsageError) {
  const fs::path marker = dir.path() / "ran";
  const Result r = runner.run({"measure", "--interval", "10", "--", "touch", marker.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--interval")) << r.err;
  EXPECT_TRUE(contains(r.err, "unit")) << r.err;
  EXPECT_FALSE(fs::exists(marker)) << "the command ran despite the usage error";
}

TEST_F(MeasureCli, IntervalBelowAMillisecondIsAUsageError) {
  const fs::path marker = dir.path() / "ran";
  const Result r = runner.run({"measure", "--interval", "0.1ms", "--", "touch", marker.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--interval")) << r.err;
  EXPECT_TRUE(contains(r.err, "1ms")) << r.err;
  EXPECT_FALSE(fs::exists(marker));
}

TEST_F(MeasureCli, UnknownSourceIsRefused) {
  const fs::path marker = dir.path() / "ran";
  const Result r = runner.run({"measure", "--source", "foo", "--", "touch", marker.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "'foo'")) << r.err;
  EXPECT_FALSE(fs::exists(marker));
}

TEST_F(MeasureCli, MissingCommandIsAUsageError) {
  const Result r = runner.run({"measure", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "command")) << r.err;
  // --json and --csv are --format's aliases: one report format at a time.
  const Result both = runner.run({"measure", "--format", "csv", "--json", "--", "true"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_TRUE(contains(both.err, "excludes")) << both.err;
}

// --- output streams ---------------------------------------------------------------------------

TEST_F(MeasureCli, CommandOutputPassesThroughAndTheReportGoesToStderr) {
  const Result text = runner.run({"measure", "--", "printf", "hello\\n\\tworld\\n"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "hello\n\tworld\n");
  EXPECT_TRUE(contains(text.err, "joulebench measure: printf")) << text.err;
  EXPECT_TRUE(contains(text.err, "exit code 0")) << text.err;
  EXPECT_TRUE(contains(text.err, "estimated")) << text.err;

  const Result as_json = runner.run({"measure", "--json", "--", "printf", "hello"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_EQ(as_json.out, "hello");
  const json j = parse_json(as_json.err);
  EXPECT_EQ(j["command"], json({"printf", "hello"}));
}

TEST_F(MeasureCli, TheCommandInheritsNoDescriptorOfJoulebench) {
  // The timeline is open while the command runs; the command must not get a copy of it.
  const fs::path timeline = dir.path() / "timeline.csv";
  const Result r = runner.run(
      {"measure", "--timeline", timeline.string(), "-o", report.string(), "--", "ls", "-l", "/proc/self/fd"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> open_files;
  for (const auto& line : lines_of(r.out)) {
    const auto arrow = line.find(" -> ");
    if (arrow == std::string::npos) continue;
    const std::string target = line.substr(arrow + 4);
    if (target.rfind("/proc/", 0) == 0 && target.ends_with("/fd")) continue;  // ls reading the directory
    open_files.push_back(target);
  }
  EXPECT_TRUE(contains(r.out, "/dev/null")) << r.out;  // stdin: the listing works
  EXPECT_FALSE(contains(r.out, timeline.string())) << r.out;
  // joulebench itself was started with only 0, 1 and 2 open: the command gets those and the
  // events channel's two pipes, 3 and 4, and no more.
  ASSERT_EQ(open_files.size(), 5u) << r.out;
  EXPECT_TRUE(contains(r.out, " 3 -> pipe:")) << r.out;
  EXPECT_TRUE(contains(r.out, " 4 -> pipe:")) << r.out;

  // Without the channel: 0, 1 and 2 only (3 is ls reading the folder).
  const Result bare = runner.run({"measure", "--no-events", "-o", report.string(), "--", "ls", "-l", "/proc/self/fd"});
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_FALSE(contains(bare.out, "pipe:")) << bare.out;
  EXPECT_FALSE(contains(bare.out, " 4 -> ")) << bare.out;
}

TEST_F(MeasureCli, TerminationSignalIsForwardedAndTheRunStillReported) {
  const fs::path started = dir.path() / "started";
  const Result r = runner.run(
      {"measure", "--json", "-o", report.string(), "--", "sh", "-c", "touch " + started.string() + "; sleep 5"}, {},
      std::nullopt, [&](pid_t pid) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while (!fs::exists(started) && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        ::kill(pid, SIGTERM);
      });
  ASSERT_TRUE(fs::exists(started));
  EXPECT_EQ(r.term_signal, 0) << "joulebench was killed instead of passing the signal on";
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_LT(r.wall_s, 3.0);  // the command did not sleep its 5 s
  const json j = parse_json(read_all(report));
  EXPECT_EQ(j["status"]["signaled"], true);
  EXPECT_EQ(j["status"]["signal"], SIGTERM);
  EXPECT_GT(domain(j, "total")["energy_j"].get<double>(), 0.0);
}

// --- sensors ----------------------------------------------------------------------------------

TEST_F(MeasureCli, SensorsListsEverySource) {
  const Result r = runner.run({"sensors", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = parse_json(r.out);
  ASSERT_TRUE(j.contains("sources")) << r.out;
  std::vector<std::string> names;
  std::map<std::string, std::string> status;
  for (const auto& s : j["sources"]) {
    names.push_back(s["name"].get<std::string>());
    status[s["name"].get<std::string>()] = s["status"].get<std::string>();
    EXPECT_TRUE(s.contains("reason"));
    EXPECT_TRUE(s.contains("remedy"));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"rapl-perf", "rapl-powercap", "nvml", "estimate"}));
  EXPECT_EQ(status["rapl-perf"], "unavailable");
  EXPECT_EQ(status["rapl-powercap"], "unavailable");
  EXPECT_EQ(status["nvml"], "unavailable");
  EXPECT_EQ(status["estimate"], "ok");
  for (const auto& s : j["sources"]) {
    if (s["status"] != "ok") {
      EXPECT_FALSE(s["remedy"].get<std::string>().empty()) << s.dump();
    }
  }
  EXPECT_EQ(j["in_use"]["cpu"], "estimate");
  EXPECT_EQ(j["in_use"]["dram"], "estimate");
}

TEST_F(MeasureCli, SensorsExplainsAPowercapCounterItCannotRead) {
  // A powercap tree whose energy_uj is readable by nobody but root (as on kernels since 5.10).
  TempDir sysfs;
  fs::permissions(sysfs.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
  const fs::path zone = sysfs.path() / "class" / "powercap" / "intel-rapl:0";
  make_powercap_zone(zone, "package-0", 123456, 262143328850);
  fs::permissions(zone / "energy_uj", fs::perms::none);

  std::optional<uid_t> as_user;
  if (::geteuid() == 0) as_user = 65534;  // root reads anything: become "nobody"
  const Result r = runner.run({"sensors"}, {{"JOULEBENCH_SYSFS_ROOT", sysfs.path().string()}}, as_user);
  if (r.exec_failed) GTEST_SKIP() << "cannot run joulebench as an unprivileged user: " << r.exec_error;
  if (as_user && r.exit_code == 126)
    GTEST_SKIP() << "the unprivileged user cannot run " << kJoulebench << ": " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::string powercap_line;
  for (const auto& line : lines_of(r.out)) {
    if (line.rfind("rapl-powercap", 0) == 0) powercap_line = line;
  }
  EXPECT_TRUE(contains(powercap_line, "denied")) << r.out;
  EXPECT_TRUE(contains(r.out, (zone / "energy_uj").string())) << r.out;
  EXPECT_TRUE(contains(r.out, "perf_event_paranoid")) << r.out;
  EXPECT_TRUE(contains(r.out, "sysfs.conf")) << r.out;
  EXPECT_TRUE(contains(r.out, "udev")) << r.out;
  EXPECT_TRUE(contains(r.out, "cpu     <- estimate")) << r.out;  // falls back to the estimate

  const Result as_json = runner.run({"sensors", "--json"}, {{"JOULEBENCH_SYSFS_ROOT", sysfs.path().string()}}, as_user);
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  const json j = parse_json(as_json.out);
  bool found = false;
  for (const auto& s : j["sources"]) {
    if (s["name"] != "rapl-powercap") continue;
    found = true;
    EXPECT_EQ(s["status"], "denied");
    EXPECT_TRUE(contains(s["remedy"].get<std::string>(), "perf_event_paranoid")) << s.dump(2);
  }
  EXPECT_TRUE(found) << as_json.out;
}

}  // namespace
}  // namespace joulebench

// The meter's own cost: CPU time per read of each source, and the sampling thread's share of one
// core at 1 ms, 10 ms and 100 ms. Fake trees stand in for hardware this machine lacks; they run
// the same code (the syscalls and file reads are real, only their contents are fake).
//
//   build/bench/meter_bench [--seconds-per-interval S]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fakes/fake_tree.hpp"
#include "fakes/scripted_source.hpp"
#include "joulebench/meter.hpp"
#include "joulebench/profile.hpp"
#include "joulebench/sensors.hpp"

namespace {

using namespace joulebench;
namespace fs = std::filesystem;

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Median CPU time of one read() over batches of reads, in microseconds.
double microseconds_per_read(EnergySource& source) {
  std::vector<ChannelReading> out(source.channels().size());
  constexpr int kBatches = 15;
  constexpr int kReadsPerBatch = 2000;
  std::vector<double> per_read;
  for (int b = 0; b < kBatches; ++b) {
    const double before = thread_cpu_seconds();
    for (int i = 0; i < kReadsPerBatch; ++i) source.read(Clock::now(), out);
    per_read.push_back((thread_cpu_seconds() - before) / kReadsPerBatch * 1e6);
  }
  std::sort(per_read.begin(), per_read.end());
  return per_read[per_read.size() / 2];
}

void make_powercap_tree(const fs::path& root) {
  const fs::path zones = root / "class" / "powercap";
  const std::uint64_t range = 262143328850;
  testing::make_powercap_zone(zones / "intel-rapl:0", "package-0", 1000, range);
  testing::make_powercap_zone(zones / "intel-rapl:0:0", "core", 1000, range);
  testing::make_powercap_zone(zones / "intel-rapl:0:1", "dram", 1000, range);
  testing::make_powercap_zone(zones / "intel-rapl:1", "package-1", 1000, range);
  testing::make_powercap_zone(zones / "intel-rapl:1:0", "core", 1000, range);
  testing::make_powercap_zone(zones / "intel-rapl:1:1", "dram", 1000, range);
}

/// A software PMU dressed as the RAPL PMU: real perf_event_open and read syscalls, one counter
/// per event as on a one-socket machine with pkg, cores and ram.
void make_perf_tree(const fs::path& root) {
  const fs::path pmu = root / "bus" / "event_source" / "devices" / "power";
  testing::write_file(pmu / "type", "1\n");
  testing::write_file(pmu / "cpumask", "0\n");
  testing::write_file(pmu / "format" / "event", "config:0-63\n");
  int code = 0;
  for (const char* name : {"energy-pkg", "energy-cores", "energy-ram"}) {
    testing::write_file(pmu / "events" / name, "event=0x" + std::to_string(code++ == 0 ? 0 : 1) + "\n");
    testing::write_file(pmu / "events" / (std::string(name) + ".scale"), "1e-9\n");
    testing::write_file(pmu / "events" / (std::string(name) + ".unit"), "Joules\n");
  }
}

void report_source(const char* label, EnergySource& source, const char* note) {
  if (source.report().status != SourceStatus::ok || source.channels().empty()) {
    std::printf("  %-34s skipped: %s\n", label, source.report().reason.c_str());
    return;
  }
  const double us = microseconds_per_read(source);
  std::printf("  %-34s %8.2f us per read, %zu channel(s) (%.2f us each)  %s\n", label, us, source.channels().size(),
              us / static_cast<double>(source.channels().size()), note);
}

/// The operating system's own price of waking a thread at this interval, with no work at all: the
/// floor under any sampler's cost on this machine.
void wake_floor(Seconds interval, Seconds duration) {
  std::mutex mutex;
  std::condition_variable cv;
  std::unique_lock lock(mutex);
  const auto step = std::chrono::duration_cast<Clock::duration>(interval);
  const auto start = Clock::now();
  auto next = start;
  const double cpu_before = thread_cpu_seconds();
  std::size_t wakes = 0;
  while (Clock::now() - start < duration) {
    next += step;
    cv.wait_until(lock, next, [] { return false; });
    ++wakes;
  }
  const double cpu = thread_cpu_seconds() - cpu_before;
  std::printf("  %-26s %6.0f ms  %7zu wakes  %8.2f us CPU per wake  %7.3f %% of one core\n", "(floor: wake-ups only)",
              interval.count() * 1e3, wakes, cpu / static_cast<double>(wakes) * 1e6,
              cpu / Seconds(Clock::now() - start).count() * 100.0);
}

void meter_share(const char* label, SensorSet& sensors, Seconds interval, Seconds duration, bool timeline = false) {
  // A campaign's run keeps its timeline (TimelineKeeper); where a RAPL channel is watched for
  // stalls, the meter holds each sample back for a second before passing it on.
  TimelineKeeper keeper;
  Meter meter(sensors, MeterOptions{interval, timeline ? &keeper : nullptr});
  meter.start();
  std::this_thread::sleep_for(duration);
  const MeterWindow w = meter.stop();
  const double share = w.sampler_cpu_time / w.duration();
  std::printf("  %-26s %6.0f ms  %7zu reads  %8.2f us CPU per read  %7.3f %% of one core\n", label,
              interval.count() * 1e3, w.samples, w.sampler_cpu_time.count() / static_cast<double>(w.samples) * 1e6,
              share * 100.0);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds-per-interval") == 0) seconds = std::atof(argv[i + 1]);
  }
  testing::TempDir tree;
  make_powercap_tree(tree.path() / "powercap");
  make_perf_tree(tree.path() / "perf");

  SensorPaths powercap_paths;
  powercap_paths.sysfs_root = tree.path() / "powercap";
  SensorPaths perf_paths;
  perf_paths.sysfs_root = tree.path() / "perf";

  std::printf("CPU time per read of each source (median of 15 batches of 2000 reads):\n");
  auto powercap = open_rapl_powercap(powercap_paths);
  report_source("rapl-powercap (fake tree, 2 sockets)", *powercap, "pread of each energy_uj (kept open)");
  auto perf = open_rapl_perf(perf_paths);
  report_source("rapl-perf (software PMU stand-in)", *perf, "read(2) of each perf counter");
#ifdef FAKE_NVML_LIBRARY
  ::setenv("FAKE_NVML_SCENARIO", "counter", 1);
  ::setenv("FAKE_NVML_GPUS", "2", 1);
  SensorPaths nvml_paths;
  nvml_paths.nvml_library = FAKE_NVML_LIBRARY;
  auto nvml = open_nvml(nvml_paths);
  report_source("nvml (fake library, 2 GPUs)", *nvml, "excludes the driver's own cost on real GPUs");
#endif
  auto estimate = open_estimate(SensorPaths{}, EstimateModel{});
  report_source("estimate (this machine's /proc)", *estimate, "pread of /proc/stat");

  std::printf("\nSampling thread's CPU share (%.0f s per interval):\n", seconds);
  SensorSet here = SensorSet::open(SensorOptions{SensorPaths::from_environment(), EstimateModel{}, {}, {}});
  std::vector<std::unique_ptr<EnergySource>> fake_sources;
  fake_sources.push_back(open_rapl_powercap(powercap_paths));
  SensorSet fake = SensorSet::from_sources(std::move(fake_sources), SensorOptions{powercap_paths, {}, {}, {}});
  std::vector<std::unique_ptr<EnergySource>> no_op;
  no_op.push_back(std::make_unique<testing::ScriptedSource>(Domain::cpu, [](double t) { return t; }));
  SensorSet nothing = SensorSet::from_sources(std::move(no_op), SensorOptions{});
  for (const double ms : {1.0, 10.0, 100.0}) {
    wake_floor(Seconds(ms * 1e-3), Seconds(seconds));
    meter_share("no-op source (meter only)", nothing, Seconds(ms * 1e-3), Seconds(seconds));
    meter_share("this machine's sources", here, Seconds(ms * 1e-3), Seconds(seconds));
    meter_share("fake powercap, 6 zones", fake, Seconds(ms * 1e-3), Seconds(seconds));
    meter_share("no-op + timeline (direct)", nothing, Seconds(ms * 1e-3), Seconds(seconds), true);
    meter_share("powercap + timeline (held)", fake, Seconds(ms * 1e-3), Seconds(seconds), true);
  }
  return 0;
}

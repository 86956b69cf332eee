// The in-program API's cost (include/joulebench/monitor.hpp): CPU and wall time of one
// begin_window + end_window pair and of one begin_call + end_call pair on a joulebench::Monitor,
// beside a bare SensorSet::read of the same sources, for three setups:
//
//   rapl-powercap  a fake powercap tree (JOULEBENCH_SYSFS_ROOT = a temporary directory holding
//                  class/powercap/intel-rapl:0 "package-0" and intel-rapl:0:0 "dram"): the real
//                  source's code, pread of open files, only the contents are fake
//   estimate       the labelled estimate over this machine's real /proc/stat
//   default        this machine's default sources (all of them: what Monitor() opens)
//
// Everything runs in one process, interleaved: every round measures every setup and every kind
// once (in a rotating order), so a noisy stretch of the machine hits them all alike. Each figure
// is the median over rounds of (clock difference over a batch) / batch size. Per pair it reports
// the calling thread's CPU (CLOCK_THREAD_CPUTIME_ID: what the caller pays), the process's CPU
// (CLOCK_PROCESS_CPUTIME_ID: adds the Monitors' meter threads sampling in the background, 10 Hz
// each) and wall time. The goal (issue 21): a begin/end pair costs at most 50 us of CPU.
//
//   build/bench/monitor_overhead [--quick] [--rounds N] [--pairs N]
//     default 15 rounds x 2000 pairs (or reads) per setup and kind; --quick: 5 x 200
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fakes/fake_tree.hpp"
#include "joulebench/monitor.hpp"
#include "joulebench/sensors.hpp"

namespace {

using namespace joulebench;
namespace fs = std::filesystem;

constexpr double kGoalUs = 50.0;

double clock_seconds(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Sample {
  double thread_us = 0;
  double process_us = 0;
  double wall_us = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(at);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

enum Kind : std::size_t { kWindow, kCall, kRead, kKinds };
constexpr const char* kKindNames[kKinds] = {"begin_window+end_window", "begin_call+end_call", "bare SensorSet::read"};

/// A fake powercap tree with a package and its memory; the counters move between batches (as a
/// real RAPL counter does every millisecond), so the meter never takes them for stalled ones.
class FakePowercap {
 public:
  FakePowercap() {
    const fs::path zones = root() / "class" / "powercap";
    testing::make_powercap_zone(zones / "intel-rapl:0", "package-0", package_uj_, kRange);
    testing::make_powercap_zone(zones / "intel-rapl:0:0", "dram", dram_uj_, kRange);
  }
  fs::path root() const { return dir_.path() / "sys"; }
  /// About 5 W and 1 W over a 10 ms batch: far below any ceiling, even read microseconds apart.
  void advance() {
    package_uj_ += 50'000;
    dram_uj_ += 10'000;
    testing::write_counter(root() / "class" / "powercap" / "intel-rapl:0" / "energy_uj", package_uj_);
    testing::write_counter(root() / "class" / "powercap" / "intel-rapl:0:0" / "energy_uj", dram_uj_);
  }

 private:
  static constexpr std::uint64_t kRange = 262'143'328'850;
  testing::TempDir dir_;
  std::uint64_t package_uj_ = 1'000'000;
  std::uint64_t dram_uj_ = 1'000'000;
};

struct Setup {
  std::string label;
  FakePowercap* fake = nullptr;  ///< advanced before each of its batches
  std::unique_ptr<Monitor> monitor;
  SensorSet bare;
  std::vector<ChannelReading> out;
  std::vector<Sample> samples[kKinds];
};

/// Opens a Monitor and a SensorSet with the same options (and the same environment).
std::unique_ptr<Setup> open_setup(std::string label, std::vector<std::string> sources, FakePowercap* fake) {
  if (fake != nullptr) ::setenv("JOULEBENCH_SYSFS_ROOT", fake->root().c_str(), 1);
  MonitorOptions options;
  options.sources = sources;
  auto monitor = std::make_unique<Monitor>(options);
  SensorSet bare = SensorSet::open(SensorOptions::from_environment(sources));
  if (fake != nullptr) ::unsetenv("JOULEBENCH_SYSFS_ROOT");
  auto setup = std::unique_ptr<Setup>(new Setup{std::move(label), fake, std::move(monitor), std::move(bare), {}, {}});
  setup->out.resize(setup->bare.channels().size());
  return setup;
}

volatile double g_sink = 0;  // keeps the results alive

Sample run_batch(Setup& s, Kind kind, int n) {
  if (s.fake != nullptr) s.fake->advance();
  const double t0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
  const double p0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const double w0 = clock_seconds(CLOCK_MONOTONIC);
  double sink = 0;
  switch (kind) {
    case kWindow:
      for (int i = 0; i < n; ++i) {
        s.monitor->begin_window("w");
        sink += s.monitor->end_window("w").time_s;
      }
      break;
    case kCall:
      for (int i = 0; i < n; ++i) {
        TrackedCall call = s.monitor->begin_call("step");
        s.monitor->end_call(std::move(call));
      }
      break;
    case kRead:
      for (int i = 0; i < n; ++i) {
        s.bare.read(Clock::now(), s.out);
        sink += s.out.empty() ? 0.0 : s.out.front().energy.value;
      }
      break;
    case kKinds: break;
  }
  const double w1 = clock_seconds(CLOCK_MONOTONIC);
  const double p1 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const double t1 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
  g_sink = g_sink + sink;
  const double per = 1e6 / n;
  return {(t1 - t0) * per, (p1 - p0) * per, (w1 - w0) * per};
}

std::string describe_sources(const Setup& s) {
  std::string text;
  for (const auto& [domain, source] : s.monitor->sources()) {
    if (!text.empty()) text += ", ";
    text += domain + "=" + source;
  }
  return text.empty() ? "(no channels)" : text;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15;
  int pairs = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      rounds = 5;
      pairs = 200;
    } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
      pairs = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--rounds N] [--pairs N]\n", argv[0]);
      return 2;
    }
  }

  FakePowercap fake;
  std::vector<std::unique_ptr<Setup>> setups;
  try {
    setups.push_back(open_setup("rapl-powercap (fake tree)", {"rapl-powercap"}, &fake));
    setups.push_back(open_setup("estimate (/proc/stat)", {"estimate"}, nullptr));
    setups.push_back(open_setup("default sources (all)", {}, nullptr));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "monitor_overhead: %s\n", e.what());
    return 1;
  }
  for (const auto& s : setups) {
    if (s->monitor->under_joulebench()) {
      std::fprintf(stderr, "monitor_overhead: run it on its own, not under joulebench (its Monitors would ask it)\n");
      return 1;
    }
  }

  std::printf("Monitor cost per begin/end pair against a bare read of the same sources\n");
  std::printf("%d rounds x %d pairs (or reads) per setup and kind, interleaved; medians over rounds\n", rounds, pairs);
  for (const auto& s : setups) {
    std::printf("  %-26s %zu channel(s): %s\n", s->label.c_str(), s->bare.channels().size(),
                describe_sources(*s).c_str());
  }

  // Warm-up: caches, the first allocations of each map, the tracked name's entry.
  for (auto& s : setups) {
    for (std::size_t k = 0; k < kKinds; ++k) run_batch(*s, static_cast<Kind>(k), std::max(1, pairs / 10));
  }
  for (int r = 0; r < rounds; ++r) {
    for (std::size_t i = 0; i < setups.size(); ++i) {
      Setup& s = *setups[(i + static_cast<std::size_t>(r)) % setups.size()];
      for (std::size_t k = 0; k < kKinds; ++k) {
        const auto kind = static_cast<Kind>((k + static_cast<std::size_t>(r)) % kKinds);
        s.samples[kind].push_back(run_batch(s, kind, pairs));
      }
    }
  }

  std::printf("\n%-26s %-24s %10s %15s %11s %9s %10s %10s\n", "setup", "what", "thread CPU", "(p25-p75)", "process CPU",
              "wall", "x read", "- 2 reads");
  std::printf("%-26s %-24s %10s %15s %11s %9s %10s %10s\n", "", "", "us", "us", "us", "us", "(thread)", "us (thread)");
  double worst = 0;
  double worst_process = 0;
  std::string worst_what;
  for (const auto& s : setups) {
    std::vector<double> read_thread;
    for (const Sample& x : s->samples[kRead]) read_thread.push_back(x.thread_us);
    const double read_us = median(read_thread);
    for (std::size_t k = 0; k < kKinds; ++k) {
      std::vector<double> thread_us;
      std::vector<double> process_us;
      std::vector<double> wall_us;
      for (const Sample& x : s->samples[k]) {
        thread_us.push_back(x.thread_us);
        process_us.push_back(x.process_us);
        wall_us.push_back(x.wall_us);
      }
      const double t = median(thread_us);
      const double p = median(process_us);
      char spread[32];
      std::snprintf(spread, sizeof spread, "%.2f-%.2f", quantile(thread_us, 0.25), quantile(thread_us, 0.75));
      char ratio[16] = "";
      char extra[16] = "";
      if (k != kRead && read_us > 0) {
        std::snprintf(ratio, sizeof ratio, "%.2f", t / read_us);
        std::snprintf(extra, sizeof extra, "%.2f", t - 2 * read_us);
      }
      std::printf("%-26s %-24s %10.2f %15s %11.2f %9.2f %10s %10s\n", k == 0 ? s->label.c_str() : "", kKindNames[k], t,
                  spread, p, median(wall_us), ratio, extra);
      if (k != kRead && t > worst) {
        worst = t;
        worst_process = p;
        worst_what = s->label + ", " + kKindNames[k];
      }
    }
  }
  std::printf(
      "\n(x read: the pair's thread CPU over one bare read's; a pair reads the sources twice. - 2 reads: what the\n"
      "Monitor adds to those two reads: marks, bookkeeping, the figures of the window or call.)\n");
  const bool within = worst <= kGoalUs;
  std::printf(
      "%s %.0f us of CPU: the costliest median begin/end pair (%s) takes %.2f us of the calling "
      "thread's CPU (%.2f us of the process's)\n",
      within ? "WITHIN" : "OVER", kGoalUs, worst_what.c_str(), worst, worst_process);
  return 0;
}

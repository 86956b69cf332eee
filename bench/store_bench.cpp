// The store's cost: recording a run without a timeline (the per-run overhead a campaign pays,
// with synchronous = FULL, so one fsync per run), and recording and reading back a one-hour run's
// power timeline sampled every 10 ms (360,000 samples x 4 channels).
//
//   build/bench/store_bench [--dir DIR] [--runs N]
//
// DIR (default: the system's temporary folder) should be on the file system the stores will live
// on: fsync costs differ by orders of magnitude between tmpfs, an SSD and a network disk.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fakes/fake_tree.hpp"
#include "joulebench/store.hpp"
#include "store/sqlite_db.hpp"

namespace {

using namespace joulebench;
namespace fs = std::filesystem;
using BenchClock = std::chrono::steady_clock;

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double seconds_since(BenchClock::time_point start) {
  return std::chrono::duration<double>(BenchClock::now() - start).count();
}

std::uintmax_t size_on_disk(const fs::path& db) {
  std::uintmax_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    const auto n = fs::file_size(fs::path(db.string() + suffix), ec);
    if (!ec) total += n;
  }
  return total;
}

/// A run as a campaign records it: labels, energies per domain, two regions, metrics, metadata.
/// A counter's figure of `domain` with its idle-adjusted energy.
EnergyFigure figure(const std::string& domain, double joules, const std::string& source, FigureMethod method,
                    double dynamic_j) {
  EnergyFigure e;
  e.domain = *DomainId::parse(domain);
  e.energy_j = joules;
  e.source = source;
  e.method = method;
  e.dynamic_energy_j = dynamic_j;
  return e;
}

RunRecord typical_run(std::size_t index) {
  RunRecord r;
  r.index = index;
  r.workload = "ncf-libtorch-train";
  r.labels = {{"framework", "libtorch"}, {"model", "ncf"}, {"phase", "train"}, {"batch", "64"}};
  r.repetition = static_cast<int>(index + 1);
  r.status = RunStatus::ok;
  r.exit_code = 0;
  r.started_unix_s = 1714567890.0 + static_cast<double>(index) * 60;
  r.time_s = 42.5;
  r.user_cpu_s = 80.25;
  r.system_cpu_s = 1.5;
  r.max_rss_kib = 1 << 20;
  for (const char* domain : {"cpu", "dram", "gpu"}) {
    r.energy.push_back(figure(domain, 1000.0, "rapl-powercap", FigureMethod::counter, 800.0));
  }
  r.energy.push_back(figure("total", 3000.0, "rapl-powercap+nvml", FigureMethod::mixed, 2400.0));
  r.regions = {{"load", 0, 2.5, {figure("total", 50, "rapl-powercap+nvml", FigureMethod::mixed, 40.0)}},
               {"train", 2.5, 42.0, {figure("total", 2900, "rapl-powercap+nvml", FigureMethod::mixed, 2300.0)}}};
  r.metrics = {
      {"hr@10", 0.65, "", "events"}, {"ndcg@10", 0.39, "", "events"}, {"throughput", 1.2e6, "samples/s", "events"}};
  r.metadata = {{"framework.version", "2.1.0"}, {"threads", "8"}, {"device", "cpu"}};
  r.cooldown_s = 5;
  r.stdout_log = {"logs/c1/run.out", 12345, 0};
  r.stderr_log = {"logs/c1/run.err", 0, 0};
  return r;
}

StoredTimeline hour_timeline(std::size_t samples) {
  StoredTimeline t;
  t.channels = {"cpu-0", "dram-0", "gpu-0", "gpu-1"};
  t.time_s.reserve(samples);
  t.power_w.reserve(samples * t.channels.size());
  std::int64_t us = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    us += 10000 + static_cast<std::int64_t>((i * 7919) % 200) - 100;  // 10 ms, +-100 us of jitter
    t.time_s.push_back(static_cast<double>(us) / 1e6);
    const float x = static_cast<float>(i);
    t.power_w.push_back(35.0f + 5.0f * std::sin(x * 0.001f));
    t.power_w.push_back(4.0f + 0.5f * std::cos(x * 0.003f));
    t.power_w.push_back(i % 1000 == 0 ? std::nanf("") : 180.0f + 20.0f * std::sin(x * 0.0007f));
    t.power_w.push_back(150.0f);
  }
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir_arg;
  int runs = 50;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir_arg = argv[++i];
    } else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--dir DIR] [--runs N]\n", argv[0]);
      return 2;
    }
  }
  testing::TempDir temp;
  const fs::path dir = dir_arg.empty() ? temp.path() : fs::path(dir_arg);
  const fs::path file = dir / "store_bench.db";
  if (fs::exists(file)) {
    std::fprintf(stderr, "%s exists; remove it or choose another --dir\n", file.c_str());
    return 2;
  }

  Store store(file);
  CampaignPlan plan;
  plan.name = "store-bench";
  plan.hash = "fnv1a64:0000000000000000";
  const auto campaign = store.create_campaign(plan, Shard{}, static_cast<std::size_t>(runs) + 1, {{"bench", "store"}});
  std::printf("store: %s (SQLite, WAL, synchronous=FULL)\n\n", file.c_str());

  // Folds the WAL into the store file: what a run costs on disk for good.
  const auto checkpoint = [&] {
    store_detail::Db raw(file);
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return size_on_disk(file);
  };

  // 1. Per-run overhead: a typical run without a timeline, committed with its fsync.
  std::vector<double> per_run;
  std::vector<double> per_run_cpu;
  const auto before_runs = checkpoint();
  for (int i = 0; i < runs; ++i) {
    const RunRecord r = typical_run(static_cast<std::size_t>(i) + 1);
    const double cpu = thread_cpu_seconds();
    const auto start = BenchClock::now();
    store.record_run(campaign, r);
    per_run.push_back(seconds_since(start) * 1e3);
    per_run_cpu.push_back((thread_cpu_seconds() - cpu) * 1e3);
  }
  const auto after_runs = checkpoint();
  double mean = 0;
  for (double v : per_run) mean += v;
  mean /= static_cast<double>(per_run.size());
  std::printf(
      "record_run without timeline (%d runs): wall median %.2f ms, mean %.2f ms, max %.2f ms; "
      "CPU median %.3f ms (the rest is the fsync); %.1f KiB per run in the store file\n",
      runs, median(per_run), mean, *std::max_element(per_run.begin(), per_run.end()), median(per_run_cpu),
      static_cast<double>(after_runs - before_runs) / runs / 1024.0);

  const auto start_read_all = BenchClock::now();
  const auto all = store.runs(campaign);
  std::printf("runs() without timelines, %zu runs: %.2f ms\n\n", all.size(), seconds_since(start_read_all) * 1e3);

  // 2. A one-hour run with a 10 ms timeline.
  constexpr std::size_t kSamples = 360000;
  RunRecord big = typical_run(0);
  big.workload = "one-hour";
  big.time_s = 3600;
  big.timeline = hour_timeline(kSamples);
  const std::size_t channels = big.timeline.channels.size();

  const auto before = checkpoint();
  const auto start_record = BenchClock::now();
  store.record_run(campaign, big);
  const double record_s = seconds_since(start_record);
  const auto after = size_on_disk(file);

  RunFilter only_big;
  only_big.workload = "one-hour";
  const auto start_read = BenchClock::now();
  const auto back = store.runs(campaign, only_big, true);
  const double read_s = seconds_since(start_read);
  bool exact = back.size() == 1 && back[0].timeline.time_s == big.timeline.time_s &&
               back[0].timeline.power_w.size() == big.timeline.power_w.size() &&
               std::memcmp(back[0].timeline.power_w.data(), big.timeline.power_w.data(),
                           big.timeline.power_w.size() * sizeof(float)) == 0;

  std::int64_t blob_bytes = 0;
  std::uintmax_t checkpointed = 0;  // set below
  {
    store_detail::Db raw(file);
    blob_bytes = raw.query_integer("SELECT max(length(data)) FROM timelines");
  }
  checkpointed = checkpoint();  // the WAL folded into the store: the lasting growth

  std::printf("one-hour timeline: %zu samples x %zu channels (10 ms)\n", kSamples, channels);
  std::printf("  record_run:  %.3f s (goal: under 1 s)\n", record_s);
  std::printf("  read back:   %.3f s (%s)\n", read_s, exact ? "bit for bit identical" : "DIFFERENT");
  std::printf("  blob:        %lld bytes = %.2f bytes per sample (4 + 4 x %zu channels)\n",
              static_cast<long long>(blob_bytes), static_cast<double>(blob_bytes) / kSamples, channels);
  std::printf(
      "  file growth: %.2f MB (store + WAL) just after the commit; %.2f MB after a checkpoint "
      "= %.2f bytes per sample on disk\n",
      static_cast<double>(after - before) / 1e6, static_cast<double>(checkpointed - before) / 1e6,
      static_cast<double>(checkpointed - before) / kSamples);
  return exact ? 0 : 1;
}

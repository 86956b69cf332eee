// `joulebench compare` at scale: 100,000 runs in 100 groups (50 models x 2 phases), two
// frameworks with 500 runs each per group, every run with time, CPU, DRAM and total energy (and
// idle-adjusted total) and an accuracy metric. Times reading the runs back from the store and
// comparing them, separately and together (goal: under 2 s together), as medians of repetitions.
//
//   build/bench/compare_bench [repetitions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include "joulebench/analysis.hpp"
#include "joulebench/store.hpp"

namespace {

using namespace joulebench;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<RunRecord> synthetic_runs() {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<RunRecord> runs;
  runs.reserve(100000);
  for (int model = 0; model < 50; ++model) {
    for (const char* phase : {"train", "infer"}) {
      for (const char* framework : {"pytorch", "tensorflow"}) {
        const double scale = framework[0] == 'p' ? 1.0 : 1.0 + 0.02 * (model % 5);
        for (int rep = 1; rep <= 500; ++rep) {
          RunRecord r;
          r.index = runs.size();
          r.workload = fmt::format("{}-m{}-{}", framework, model, phase);
          r.labels = {{"framework", framework}, {"model", fmt::format("m{}", model)}, {"phase", phase}};
          r.repetition = rep;
          r.time_s = scale * (10 + 0.3 * noise(rng));
          const double cpu = scale * (300 + 9 * noise(rng));
          const double dram = scale * (40 + 2 * noise(rng));
          for (auto [domain, energy] : {std::pair{"cpu", cpu}, {"dram", dram}, {"total", cpu + dram}}) {
            EnergyFigure e;
            e.domain = *DomainId::parse(domain);
            e.energy_j = energy;
            e.source = "rapl-powercap";
            e.method = FigureMethod::counter;
            if (std::string(domain) == "total") e.dynamic_energy_j = energy - 20 * r.time_s;
            r.energy.push_back(e);
          }
          r.metrics.push_back({"accuracy", 0.9 + 0.01 * noise(rng), "", "events"});
          runs.push_back(std::move(r));
        }
      }
    }
  }
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  const int repetitions = argc > 1 ? std::atoi(argv[1]) : 5;
  const auto folder = std::filesystem::temp_directory_path() / fmt::format("joulebench-compare-bench-{}", ::getpid());
  std::filesystem::create_directories(folder);
  const auto db = folder / "runs.db";

  const auto runs = synthetic_runs();
  std::int64_t campaign = 0;
  {
    Store store(db);
    CampaignPlan plan;
    plan.name = "compare-bench";
    plan.text = "synthetic";
    plan.hash = plan_hash(plan.text);
    campaign = store.create_campaign(plan, Shard{}, runs.size(), {});
    const auto start = Clock::now();
    store.record_runs(campaign, runs);
    std::printf("stored %zu runs in one transaction: %.2f s\n", runs.size(), seconds_since(start));
  }

  std::vector<double> read_s;
  std::vector<double> compare_s;
  std::vector<double> total_s;
  std::size_t comparisons = 0;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = Clock::now();
    const Store store(db);
    const auto loaded = store.runs(campaign);
    const double read = seconds_since(start);
    CompareOptions options;
    options.group_by = {"model", "phase"};
    const auto compare_start = Clock::now();
    const auto table = compare_runs(loaded, options);
    compare_s.push_back(seconds_since(compare_start));
    read_s.push_back(read);
    total_s.push_back(seconds_since(start));
    comparisons = table.pairs.size();
  }
  std::printf(
      "%zu runs, 100 groups, %zu comparisons (time, cpu, dram, total, idle-adjusted total, accuracy), "
      "%zu bootstrap resamples each, %u threads\n",
      runs.size(), comparisons, CompareOptions{}.bootstrap.resamples,
      std::max(1u, std::thread::hardware_concurrency()));
  std::printf("median of %d: read %.3f s, compare %.3f s, together %.3f s (goal < 2 s)\n", repetitions, median(read_s),
              median(compare_s), median(total_s));
  std::filesystem::remove_all(folder);
  return 0;
}

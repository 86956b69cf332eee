// The run list: which workload runs when. Shuffling is written out by hand on std::mt19937_64,
// whose output the standard fixes, because std::shuffle and std::uniform_int_distribution are
// implementation-defined: a seed must give the same order with every standard library.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>

#include "joulebench/plan.hpp"

namespace joulebench {

namespace {

static_assert(std::mt19937_64::min() == 0 && std::mt19937_64::max() == std::numeric_limits<std::uint64_t>::max(),
              "the shuffle assumes a generator of full 64-bit words");

/// A uniformly distributed integer in [0, n), n >= 1: outputs below 2^64 mod n are rejected, so
/// every residue is equally likely (no modulo bias).
std::uint64_t uniform_below(std::mt19937_64& engine, std::uint64_t n) {
  const std::uint64_t threshold = (0 - n) % n;  // == 2^64 mod n
  for (;;) {
    const std::uint64_t x = engine();
    if (x >= threshold) return x % n;
  }
}

/// Fisher-Yates: for i = n-1 down to 1, swap element i with element uniform_below(i + 1).
void shuffle(std::vector<std::size_t>& items, std::mt19937_64& engine) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(engine, i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace

std::vector<PlannedRun> schedule_runs(const CampaignPlan& plan) {
  const std::size_t count = plan.workloads.size();
  std::vector<PlannedRun> runs;
  std::vector<bool> warmed(count, false);
  auto measured = [&](std::size_t workload, int repetition) {
    if (!warmed[workload]) {
      warmed[workload] = true;
      for (int k = 1; k <= plan.workloads[workload].warmup; ++k) runs.push_back(PlannedRun{0, workload, k, true, {}});
    }
    runs.push_back(PlannedRun{0, workload, repetition, false, {}});
  };

  if (plan.order == RunOrder::blocked) {
    for (std::size_t w = 0; w < count; ++w) {
      for (int r = 1; r <= plan.workloads[w].repetitions; ++r) measured(w, r);
    }
  } else {
    // Rounds: round r holds repetition r of every workload that has one, in plan order
    // (interleaved) or in an order shuffled afresh for each round from one seeded generator.
    int rounds = 0;
    for (const auto& w : plan.workloads) rounds = std::max(rounds, w.repetitions);
    std::mt19937_64 engine(plan.seed);
    std::vector<std::size_t> round;
    for (int r = 1; r <= rounds; ++r) {
      round.clear();
      for (std::size_t w = 0; w < count; ++w) {
        if (plan.workloads[w].repetitions >= r) round.push_back(w);
      }
      if (plan.order == RunOrder::shuffled) shuffle(round, engine);
      for (const std::size_t w : round) measured(w, r);
    }
  }
  // Profiled runs last: profilers slow a workload down and may heat the machine, so they come
  // after every measured run (repetition 1, so in shard 1 only).
  for (std::size_t w = 0; w < count; ++w) {
    for (const auto& mode : plan.workloads[w].profile) runs.push_back(PlannedRun{0, w, 1, false, mode});
  }
  for (std::size_t i = 0; i < runs.size(); ++i) runs[i].index = i;
  return runs;
}

std::vector<PlannedRun> shard_runs(const std::vector<PlannedRun>& runs, const Shard& shard) {
  if (shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    throw std::invalid_argument("invalid shard " + shard.text() + ": K must be from 1 to N");
  }
  std::vector<PlannedRun> out;
  for (const PlannedRun& run : runs) {
    if (run.warmup || (run.repetition - 1) % shard.count == shard.index - 1) out.push_back(run);
  }
  return out;
}

}  // namespace joulebench

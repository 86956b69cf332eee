// The statistics' costs: the exact Mann-Whitney test for 50 x 50 samples (the largest the
// automatic choice makes exact; goal < 10 ms), and BCa bootstrap intervals for a ratio of means or
// medians of two 500-value samples with 2000 and 10000 resamples. Prints medians over repetitions.
//
//   build/bench/stats_bench [--repetitions N]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "joulebench/stats.hpp"

namespace {

using namespace joulebench;
using BenchClock = std::chrono::steady_clock;

/// Roughly normal values (sum of 12 uniforms) from std::mt19937_64, whose output is defined.
std::vector<double> sample(std::mt19937_64& rng, std::size_t n, double centre, double scale) {
  std::vector<double> values(n);
  for (auto& v : values) {
    double sum = 0;
    for (int k = 0; k < 12; ++k) sum += static_cast<double>(rng() >> 11) * 0x1.0p-53;
    v = centre + scale * (sum - 6);
  }
  return values;
}

double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

double median_of(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + static_cast<long>(values.size() / 2), values.end());
  return values[values.size() / 2];
}

struct Timing {
  double wall_ms;
  double cpu_ms;
};

template <typename F>
Timing median_times(int repetitions, F&& run) {
  std::vector<double> wall;
  std::vector<double> cpu;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = BenchClock::now();
    const double cpu_start = thread_cpu_ms();
    run();
    cpu.push_back(thread_cpu_ms() - cpu_start);
    wall.push_back(std::chrono::duration<double, std::milli>(BenchClock::now() - start).count());
  }
  return {median_of(wall), median_of(cpu)};
}

volatile double g_sink = 0;  // keeps the results alive

}  // namespace

int main(int argc, char** argv) {
  int repetitions = 201;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      repetitions = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--repetitions N]\n", argv[0]);
      return 2;
    }
  }

  // Interleaved 50 x 50 (U = 1225, next to the middle): the most counting the exact test does.
  std::vector<double> odd(50);
  std::vector<double> even(50);
  for (std::size_t i = 0; i < 50; ++i) {
    odd[i] = static_cast<double>(2 * i + 1);
    even[i] = static_cast<double>(2 * i + 2);
  }
  const Timing mw = median_times(repetitions, [&] {
    const auto r = stats::mann_whitney(odd, even, stats::Alternative::two_sided, stats::MannWhitneyMethod::exact);
    g_sink = g_sink + r->p_value;
  });
  std::printf(
      "mann_whitney exact 50x50 (U = 1225)                 median %8.3f ms wall, %8.3f ms CPU  (%d repetitions)\n",
      mw.wall_ms, mw.cpu_ms, repetitions);

  std::mt19937_64 rng(2024);
  const auto x = sample(rng, 500, 1200, 150);
  const auto y = sample(rng, 500, 1000, 120);
  const int bootstrap_repetitions = std::max(1, repetitions / 10);
  for (auto ratio_of : {stats::RatioOf::mean, stats::RatioOf::median}) {
    for (std::size_t resamples : {std::size_t{2000}, std::size_t{10000}}) {
      const stats::BootstrapOptions options{ratio_of, stats::BootstrapMethod::bca, 0.95, resamples, 42};
      const Timing t = median_times(bootstrap_repetitions, [&] {
        const auto r = stats::bootstrap_ratio(x, y, options);
        g_sink = g_sink + r->lower;
      });
      std::printf(
          "bootstrap_ratio %-6s BCa 500+500, %5zu resamples  median %8.3f ms wall, %8.3f ms CPU  (%d repetitions)\n",
          ratio_of == stats::RatioOf::mean ? "mean" : "median", resamples, t.wall_ms, t.cpu_ms, bootstrap_repetitions);
    }
  }
  return 0;
}

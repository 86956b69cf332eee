// A CPU-bound load for measuring joulebench itself: a floating-point loop on N threads, for a
// fixed time (--seconds) or a fixed amount of work (--iterations, for comparing runs).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: joulebench-cpu-load [--seconds S | --iterations N] [--threads T]\n"
               "  --seconds S      run for S seconds (default 3)\n"
               "  --iterations N   do N million iterations per thread instead, however long it takes\n"
               "  --threads T      threads (default 1)\n");
}

/// One unit of work: dependent multiply-adds the compiler cannot remove.
double spin(double x, long iterations) {
  for (long i = 0; i < iterations; ++i) x = x * 1.0000001 + 1e-9 - std::floor(x);
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3.0;
  long millions = 0;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--seconds" && has_value) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--iterations" && has_value) {
      millions = std::atol(argv[++i]);
    } else if (arg == "--threads" && has_value) {
      threads = std::atoi(argv[++i]);
    } else {
      usage();
      return 2;
    }
  }
  if (threads < 1 || seconds <= 0 || millions < 0) {
    usage();
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::atomic<long> done{0};
  std::vector<double> results(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      double x = 0.5 + t;
      long chunks = 0;
      if (millions > 0) {
        for (long m = 0; m < millions; ++m) x = spin(x, 1'000'000);
        chunks = millions;
      } else {
        while (std::chrono::steady_clock::now() < deadline) {
          x = spin(x, 1'000'000);
          ++chunks;
        }
      }
      results[static_cast<std::size_t>(t)] = x;
      done += chunks;
    });
  }
  for (auto& thread : pool) thread.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double checksum = 0;
  for (double r : results) checksum += r;
  std::printf("cpu-load: %d thread(s), %.3f s, %ld million iterations (checksum %.6f)\n", threads, elapsed, done.load(),
              checksum);
  return 0;
}

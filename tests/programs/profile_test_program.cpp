// A small native program for perf mode's end-to-end test: two functions that keep a CPU busy for
// known CPU times (not wall times: on a loaded machine the wall time of each varies with what else
// runs, while perf's cpu-clock samples count CPU time), so the profile can be checked against them.
#include <time.h>

#include <cstdio>
#include <cstdlib>

namespace {

volatile double sink = 0;

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Arithmetic until this thread has used `seconds` of CPU, reading the clock rarely so that
/// samples land here.
[[gnu::noinline]] void spin(double seconds, double step) {
  const double end = thread_cpu_seconds() + seconds;
  double x = sink;
  while (thread_cpu_seconds() < end) {
    for (int i = 0; i < 20000; ++i) x = x * 0.999999 + step;
    sink = x;
  }
}

[[gnu::noinline]] void hot_function(double seconds) { spin(seconds, 1.0); }
[[gnu::noinline]] void cold_function(double seconds) { spin(seconds, 2.0); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s HOT_SECONDS COLD_SECONDS\n", argv[0]);
    return 2;
  }
  hot_function(std::atof(argv[1]));
  cold_function(std::atof(argv[2]));
  return 0;
}

// A workload of a user's own, built against the installed headers and libjoulebench
// (tests/packaging/install_test.sh): it writes events, and measures a part of itself with a Monitor.
// Prints the inner window's `time_s total_j`.
#include <chrono>
#include <cstdio>
#include <thread>

#include "joulebench/events.hpp"
#include "joulebench/monitor.hpp"

int main() {
  joulebench::events::Region work("work");
  joulebench::events::metric("answer", 42.0);
  try {
    joulebench::MonitorOptions options;
    options.sources = {"rapl-powercap"};
    joulebench::Monitor monitor(options);
    monitor.begin_window("outer");
    joulebench::Measurement inner;
    {
      joulebench::ScopedWindow window(monitor, "inner");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      inner = window.end();
    }
    const joulebench::Measurement outer = monitor.end_window("outer");
    if (inner.energy_j.count("cpu") == 0 || outer.energy_j.count("cpu") == 0) {
      std::fprintf(stderr, "no cpu energy: %s\n", inner.to_json().c_str());
      return 1;
    }
    if (outer.time_s < inner.time_s || outer.total_j < inner.total_j) {
      std::fprintf(stderr, "the outer window is shorter than the inner one: %s %s\n", outer.to_json().c_str(),
                   inner.to_json().c_str());
      return 1;
    }
    std::printf("%.6f %.6f\n", inner.time_s, inner.total_j);
  } catch (const joulebench::MonitorError& e) {
    std::fprintf(stderr, "joulebench::Monitor: %s\n", e.what());
    return 1;
  }
  return 0;
}

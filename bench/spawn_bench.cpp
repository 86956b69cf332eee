// What containment costs per command: starting and reaping `true` in a cgroup of its own (made,
// joined, killed, removed) against following it as a descendant, interleaved, N times each.
// Prints the median of each and their ratio. Usage: spawn_bench [N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "joulebench/process.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double spawn_once(bool own_cgroup, bool& contained) {
  joulebench::SpawnOptions options;
  options.argv = {"/bin/true"};
  options.foreground = false;
  options.own_cgroup = own_cgroup;
  const auto start = std::chrono::steady_clock::now();
  joulebench::ChildProcess child = joulebench::ChildProcess::start(options);
  contained = child.wait().in_cgroup;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 300;
  std::vector<double> with_cgroup;
  std::vector<double> as_descendant;
  bool contained = false;
  for (int i = 0; i < n; ++i) {
    bool ignored = false;
    with_cgroup.push_back(spawn_once(true, contained));
    as_descendant.push_back(spawn_once(false, ignored));
  }
  const double a = median(with_cgroup);
  const double b = median(as_descendant);
  std::printf("start + wait of /bin/true, median of %d each, interleaved:\n", n);
  std::printf("  in a cgroup of its own: %.3f ms%s\n", a, contained ? "" : " (no cgroup could be made: descendants)");
  std::printf("  as a descendant:        %.3f ms\n", b);
  std::printf("  ratio:                  %.2f (%.3f ms more per command)\n", a / b, a - b);
  return 0;
}

// percentile.hpp: the latency percentiles that every C++ workload reports (workloads/README.md,
// infer): linear interpolation between order statistics. C++17, the standard library only.
#pragma once

#include <vector>

namespace joulebench::workloads {

/// The p-th percentile (0 to 100) of `values` with linear interpolation between order statistics
/// (NumPy's default, R's type 7); NaN when there are none. `values` need not be sorted.
double percentile(std::vector<double> values, double p);

}  // namespace joulebench::workloads

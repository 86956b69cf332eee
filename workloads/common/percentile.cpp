// percentile.cpp: percentile.hpp's interpolation.
#include "percentile.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace joulebench::workloads {

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const double position = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (values[above] - values[below]) * (position - static_cast<double>(below));
}

}  // namespace joulebench::workloads

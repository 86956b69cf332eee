// Helpers shared by the statistics sources; not part of the public interface.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace joulebench::stats::detail {

inline bool all_finite(std::span<const double> values) {
  return std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); });
}

/// Names the first value that is NaN or infinite ("x[3] is NaN"); empty when all are finite.
inline std::string non_finite_reason(std::span<const double> values, std::string_view name) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return std::string(name) + "[" + std::to_string(i) + "] is " + (std::isnan(values[i]) ? "NaN" : "infinite");
    }
  }
  return {};
}

/// The mean, refined by a second pass over the residuals (as R's mean) so that large offsets
/// cost no accuracy.
inline double mean_of(std::span<const double> values) {
  const auto n = static_cast<double>(values.size());
  double sum = 0;
  for (double v : values) sum += v;
  const double first = sum / n;
  double residual = 0;
  for (double v : values) residual += v - first;
  return first + residual / n;
}

/// The sample variance (n - 1 denominator) about a given mean; needs at least 2 values.
inline double variance_of(std::span<const double> values, double mean) {
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return squares / static_cast<double>(values.size() - 1);
}

/// sum(t^3 - t) over the groups of tied values of sorted data: the tie correction of rank tests.
inline double tie_term(std::span<const double> sorted) {
  double term = 0;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    const auto t = static_cast<double>(j - i);
    term += t * t * t - t;
    i = j;
  }
  return term;
}

inline std::vector<double> concatenate(std::span<const double> x, std::span<const double> y) {
  std::vector<double> both(x.begin(), x.end());
  both.insert(both.end(), y.begin(), y.end());
  return both;
}

}  // namespace joulebench::stats::detail

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "joulebench/stats.hpp"
#include "stats/common.hpp"

namespace joulebench::stats {

double quantile_sorted(std::span<const double> sorted, double p) {
  if (sorted.empty()) throw std::invalid_argument("quantile of an empty sample");
  if (!(p >= 0 && p <= 1)) throw std::invalid_argument("quantile probability outside [0, 1]");
  // R's type 7 written as R writes it (1-based index, (1 - h) lo + h hi), so results match R's
  // quantile() to the last bit rather than to rounding.
  const double index = 1 + static_cast<double>(sorted.size() - 1) * p;
  const double lo = std::floor(index);
  const double hi = std::ceil(index);
  const double at_lo = sorted[static_cast<std::size_t>(lo) - 1];
  const double at_hi = sorted[static_cast<std::size_t>(hi) - 1];
  if (index > lo && at_hi != at_lo) {
    const double h = index - lo;
    return (1 - h) * at_lo + h * at_hi;
  }
  return at_lo;
}

std::vector<double> average_ranks(std::span<const double> values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i + 1;
    while (j < order.size() && values[order[j]] == values[order[i]]) ++j;
    // Positions i..j-1 hold ranks i+1..j; each tied value gets their mean.
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

StatResult<Descriptive> describe(std::span<const double> sample) {
  if (sample.empty()) return StatResult<Descriptive>::unavailable("the sample is empty");
  if (auto reason = detail::non_finite_reason(sample, "sample"); !reason.empty()) {
    return StatResult<Descriptive>::unavailable(reason);
  }
  std::vector<double> sorted(sample.begin(), sample.end());
  std::sort(sorted.begin(), sorted.end());

  Descriptive d;
  d.n = sample.size();
  d.mean = detail::mean_of(sample);
  if (d.n >= 2) {
    d.sd = std::sqrt(detail::variance_of(sample, d.mean));
    if (d.mean != 0) d.cv = *d.sd / std::abs(d.mean);
  }
  d.median = quantile_sorted(sorted, 0.5);
  d.q1 = quantile_sorted(sorted, 0.25);
  d.q3 = quantile_sorted(sorted, 0.75);
  d.iqr = d.q3 - d.q1;
  d.min = sorted.front();
  d.max = sorted.back();
  d.lower_fence = d.q1 - 1.5 * d.iqr;
  d.upper_fence = d.q3 + 1.5 * d.iqr;
  for (std::size_t i = 0; i < sample.size(); ++i) {
    if (sample[i] < d.lower_fence || sample[i] > d.upper_fence) d.outliers.push_back(i);
  }
  return d;
}

}  // namespace joulebench::stats

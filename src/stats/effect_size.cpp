// Vargha-Delaney A12 and Cliff's delta from the rank sum (O((n + m) log(n + m))), not from all
// n m pairs.
#include <algorithm>
#include <cmath>

#include "joulebench/stats.hpp"
#include "stats/common.hpp"

namespace joulebench::stats {
namespace {

/// U of x: the number of pairs with x > y, ties counting one half (a multiple of 0.5, exact).
double u_of_x(std::span<const double> x, std::span<const double> y) {
  const std::vector<double> ranks = average_ranks(detail::concatenate(x, y));
  double rank_sum_x = 0;
  for (std::size_t i = 0; i < x.size(); ++i) rank_sum_x += ranks[i];
  const auto n1 = static_cast<double>(x.size());
  return rank_sum_x - n1 * (n1 + 1) / 2;
}

EffectMagnitude judge(double distance, const EffectThresholds& thresholds) {
  if (distance >= thresholds.large) return EffectMagnitude::large;
  if (distance >= thresholds.medium) return EffectMagnitude::medium;
  if (distance >= thresholds.small) return EffectMagnitude::small;
  return EffectMagnitude::negligible;
}

std::string check_samples(std::span<const double> x, std::span<const double> y) {
  if (x.empty()) return "x is empty";
  if (y.empty()) return "y is empty";
  if (auto reason = detail::non_finite_reason(x, "x"); !reason.empty()) return reason;
  return detail::non_finite_reason(y, "y");
}

}  // namespace

StatResult<EffectSize> vargha_delaney_a12(std::span<const double> x, std::span<const double> y,
                                          const EffectThresholds& thresholds) {
  if (auto reason = check_samples(x, y); !reason.empty()) return StatResult<EffectSize>::unavailable(reason);
  const double u = u_of_x(x, y);
  const double pairs = static_cast<double>(x.size()) * static_cast<double>(y.size());
  EffectSize result;
  result.value = u / pairs;
  // max(A, 1 - A) as one division of exact numbers, so A and 1 - A are judged alike.
  result.magnitude = judge(std::max(u, pairs - u) / pairs, thresholds);
  return result;
}

StatResult<EffectSize> cliffs_delta(std::span<const double> x, std::span<const double> y,
                                    const EffectThresholds& thresholds) {
  if (auto reason = check_samples(x, y); !reason.empty()) return StatResult<EffectSize>::unavailable(reason);
  const double u = u_of_x(x, y);
  const double pairs = static_cast<double>(x.size()) * static_cast<double>(y.size());
  EffectSize result;
  // delta = 2 A12 - 1 = (2U - n m) / (n m); the numerator is exact.
  result.value = (2 * u - pairs) / pairs;
  result.magnitude = judge(std::abs(2 * u - pairs) / pairs, thresholds);
  return result;
}

}  // namespace joulebench::stats

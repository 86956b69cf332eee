// Rank tests: Mann-Whitney U, Kruskal-Wallis H and Spearman's rho, computed as R and SciPy
// compute them (average ranks for ties, tie-corrected variances, continuity correction).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/binomial.hpp>

#include "joulebench/stats.hpp"
#include "stats/common.hpp"

namespace joulebench::stats {
namespace {

/// A forced exact test is refused beyond this many (x, y) pairs: the counting below costs up to
/// (n1 n2)^2 / 4 additions, about 25 million (tens of milliseconds) here.
constexpr std::size_t kExactMaxPairs = 10000;

/// P(U <= k) under the null hypothesis without ties, for k <= n1 n2 / 2, by counting the
/// arrangements of i x's and j y's with U = v (c(i, j, v) = c(i - 1, j, v - j) + c(i, j - 1, v)).
/// Only v <= k is needed, which also bounds the work. Counts are sums of positive terms, so
/// doubles keep their relative precision even far out in the tail.
double exact_lower_tail_counted(std::size_t n1, std::size_t n2, std::size_t k) {
  const std::size_t width = k + 1;
  std::vector<double> previous((n2 + 1) * width, 0.0);            // c(i - 1, j, v) at [j * width + v]
  std::vector<double> current((n2 + 1) * width, 0.0);             // c(i, j, v)
  for (std::size_t j = 0; j <= n2; ++j) previous[j * width] = 1;  // c(0, j, 0) = 1
  current[0] = 1;                                                 // c(i, 0, 0) = 1
  for (std::size_t i = 1; i <= n1; ++i) {
    for (std::size_t j = 1; j <= n2; ++j) {
      const std::size_t top = std::min(i * j, k);
      double* out = &current[j * width];
      const double* fewer_y = &current[(j - 1) * width];  // c(i, j - 1, .)
      const double* fewer_x = &previous[j * width];       // c(i - 1, j, .)
      // Entries above a row's reach are still zero: reaches only grow as i grows.
      const std::size_t shared = std::min(j, top + 1);
      for (std::size_t v = 0; v < shared; ++v) out[v] = fewer_y[v];
      for (std::size_t v = j; v <= top; ++v) out[v] = fewer_y[v] + fewer_x[v - j];
    }
    std::swap(previous, current);
    current[0] = 1;
  }
  double count = 0;
  for (std::size_t v = 0; v <= k; ++v) count += previous[n2 * width + v];
  return count / boost::math::binomial_coefficient<double>(static_cast<unsigned>(n1 + n2), static_cast<unsigned>(n1));
}

/// P(U <= k) for any integer k, using the distribution's symmetry about n1 n2 / 2 so that the
/// counting never goes past the middle.
double exact_cdf(std::size_t n1, std::size_t n2, long long k) {
  const auto pairs = static_cast<long long>(n1 * n2);
  if (k < 0) return 0;
  if (k >= pairs) return 1;
  if (2 * k <= pairs) return exact_lower_tail_counted(n1, n2, static_cast<std::size_t>(k));
  return 1 - exact_lower_tail_counted(n1, n2, static_cast<std::size_t>(pairs - k - 1));
}

double exact_p_value(std::size_t n1, std::size_t n2, double u, Alternative alternative) {
  const auto pairs = static_cast<long long>(n1 * n2);
  const auto k = std::llround(u);
  switch (alternative) {
    case Alternative::less: return exact_cdf(n1, n2, k);
    case Alternative::greater: return exact_cdf(n1, n2, pairs - k);  // P(U >= k) = P(U <= n1 n2 - k)
    case Alternative::two_sided: break;
  }
  return std::min(1.0, 2 * exact_cdf(n1, n2, std::min(k, pairs - k)));
}

}  // namespace

StatResult<MannWhitneyResult> mann_whitney(std::span<const double> x, std::span<const double> y,
                                           Alternative alternative, MannWhitneyMethod method) {
  using Result = StatResult<MannWhitneyResult>;
  if (x.empty() || y.empty()) return Result::unavailable("Mann-Whitney needs at least one value in each sample");
  if (auto reason = detail::non_finite_reason(x, "x"); !reason.empty()) return Result::unavailable(reason);
  if (auto reason = detail::non_finite_reason(y, "y"); !reason.empty()) return Result::unavailable(reason);

  const std::size_t n1 = x.size();
  const std::size_t n2 = y.size();
  const std::vector<double> both = detail::concatenate(x, y);
  const std::vector<double> ranks = average_ranks(both);
  double rank_sum_x = 0;
  for (std::size_t i = 0; i < n1; ++i) rank_sum_x += ranks[i];

  std::vector<double> sorted = both;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() == sorted.back()) return Result::unavailable("all values are equal");
  const double tie_term = detail::tie_term(sorted);

  MannWhitneyResult result;
  const auto dn1 = static_cast<double>(n1);
  const auto dn2 = static_cast<double>(n2);
  result.u = rank_sum_x - dn1 * (dn1 + 1) / 2;
  result.ties = tie_term > 0;

  const bool small = n1 <= kMannWhitneyExactMax && n2 <= kMannWhitneyExactMax;
  if (method == MannWhitneyMethod::exact) {
    if (result.ties) {
      return Result::unavailable(
          "the exact Mann-Whitney distribution assumes no ties, and the samples have ties; "
          "use the normal approximation");
    }
    if (n1 * n2 > kExactMaxPairs) {
      return Result::unavailable(
          "the exact Mann-Whitney distribution is computed only for n1 * n2 <= " + std::to_string(kExactMaxPairs) +
          " (here " + std::to_string(n1) + " * " + std::to_string(n2) + "); use the normal approximation");
    }
  }
  const bool use_exact =
      method == MannWhitneyMethod::exact || (method == MannWhitneyMethod::automatic && !result.ties && small);
  if (use_exact) {
    result.method = MannWhitneyMethod::exact;
    result.p_value = exact_p_value(n1, n2, result.u, alternative);
    return result;
  }

  result.method = MannWhitneyMethod::normal;
  const double n = dn1 + dn2;
  const double sigma = std::sqrt(dn1 * dn2 / 12 * ((n + 1) - tie_term / (n * (n - 1))));
  const double deviation = result.u - dn1 * dn2 / 2;
  double correction = 0;
  switch (alternative) {
    case Alternative::two_sided: correction = deviation > 0 ? 0.5 : (deviation < 0 ? -0.5 : 0.0); break;
    case Alternative::greater: correction = 0.5; break;
    case Alternative::less: correction = -0.5; break;
  }
  const double z = (deviation - correction) / sigma;
  result.z = z;
  const boost::math::normal standard_normal;
  switch (alternative) {
    case Alternative::two_sided:
      result.p_value = std::min(1.0, 2 * boost::math::cdf(standard_normal, -std::abs(z)));
      break;
    case Alternative::less: result.p_value = boost::math::cdf(standard_normal, z); break;
    case Alternative::greater: result.p_value = boost::math::cdf(boost::math::complement(standard_normal, z)); break;
  }
  return result;
}

StatResult<KruskalWallisResult> kruskal_wallis(std::span<const std::vector<double>> groups) {
  using Result = StatResult<KruskalWallisResult>;
  if (groups.size() < 2) return Result::unavailable("Kruskal-Wallis needs at least two groups");
  std::vector<double> all;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) return Result::unavailable("group " + std::to_string(g) + " is empty");
    if (auto reason = detail::non_finite_reason(groups[g], "group " + std::to_string(g) + " value"); !reason.empty()) {
      return Result::unavailable(reason);
    }
    all.insert(all.end(), groups[g].begin(), groups[g].end());
  }
  std::vector<double> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() == sorted.back()) return Result::unavailable("all values are equal");

  const std::vector<double> ranks = average_ranks(all);
  const auto n = static_cast<double>(all.size());
  const double mean_rank = (n + 1) / 2;
  // sum n_i (mean rank_i - (N + 1) / 2)^2: equal to R's sum R_i^2 / n_i - N (N + 1)^2 / 4, without
  // the cancellation between two large terms.
  double between = 0;
  std::size_t offset = 0;
  for (const auto& group : groups) {
    double rank_sum = 0;
    for (std::size_t i = 0; i < group.size(); ++i) rank_sum += ranks[offset + i];
    const auto size = static_cast<double>(group.size());
    const double deviation = rank_sum / size - mean_rank;
    between += size * deviation * deviation;
    offset += group.size();
  }
  KruskalWallisResult result;
  result.h = 12 / (n * (n + 1)) * between / (1 - detail::tie_term(sorted) / (n * n * n - n));
  result.df = static_cast<double>(groups.size() - 1);
  result.p_value = boost::math::cdf(boost::math::complement(boost::math::chi_squared(result.df), result.h));
  return result;
}

StatResult<SpearmanResult> spearman(std::span<const double> x, std::span<const double> y) {
  using Result = StatResult<SpearmanResult>;
  if (x.size() != y.size()) {
    return Result::unavailable("Spearman needs paired samples of equal length, got " + std::to_string(x.size()) +
                               " and " + std::to_string(y.size()));
  }
  if (x.size() < 3) return Result::unavailable("Spearman needs at least 3 pairs, got " + std::to_string(x.size()));
  if (auto reason = detail::non_finite_reason(x, "x"); !reason.empty()) return Result::unavailable(reason);
  if (auto reason = detail::non_finite_reason(y, "y"); !reason.empty()) return Result::unavailable(reason);
  const auto [x_min, x_max] = std::minmax_element(x.begin(), x.end());
  if (*x_min == *x_max) return Result::unavailable("x is constant, so its ranks carry no order");
  const auto [y_min, y_max] = std::minmax_element(y.begin(), y.end());
  if (*y_min == *y_max) return Result::unavailable("y is constant, so its ranks carry no order");

  const std::vector<double> rx = average_ranks(x);
  const std::vector<double> ry = average_ranks(y);
  const auto n = static_cast<double>(x.size());
  const double mean_rank = (n + 1) / 2;  // exact for average ranks, ties or not
  double sxy = 0;
  double sxx = 0;
  double syy = 0;
  for (std::size_t i = 0; i < rx.size(); ++i) {
    const double dx = rx[i] - mean_rank;
    const double dy = ry[i] - mean_rank;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  SpearmanResult result;
  result.n = x.size();
  result.rho = std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
  const double df = n - 2;
  if (std::abs(result.rho) == 1) {
    result.p_value = 0;  // t is infinite: a perfect monotone relation
    return result;
  }
  // SciPy's form of t = rho sqrt(df / (1 - rho^2)).
  const double t = result.rho * std::sqrt(df / ((result.rho + 1) * (1 - result.rho)));
  result.p_value = 2 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::abs(t)));
  return result;
}

}  // namespace joulebench::stats

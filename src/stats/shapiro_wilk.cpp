// Shapiro-Wilk W by Royston's algorithm AS R94 (Applied Statistics 44(4), 1995), in double
// precision as R's swilk.c runs it: approximate coefficients from normal scores with polynomial
// corrections for the two largest, W as the squared correlation of the data with them, and the
// p-value from Royston's normalising transformations of W.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include <boost/math/distributions/normal.hpp>

#include "joulebench/stats.hpp"
#include "stats/common.hpp"

namespace joulebench::stats {
namespace {

/// AS 181.2: c[0] + c[1] x + ... + c[N-1] x^(N-1), evaluated in the published order.
template <std::size_t N>
double poly(const std::array<double, N>& c, double x) {
  double result = c[0];
  if constexpr (N > 1) {
    double p = x * c[N - 1];
    for (std::size_t j = N - 2; j > 0; --j) p = (p + c[j]) * x;
    result += p;
  }
  return result;
}

// Royston's published constants (AS R94).
constexpr std::array<double, 2> kG{-2.273, 0.459};
constexpr std::array<double, 6> kC1{0.0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056};
constexpr std::array<double, 6> kC2{0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633};
constexpr std::array<double, 4> kC3{0.544, -0.39978, 0.025054, -6.714e-4};
constexpr std::array<double, 4> kC4{1.3822, -0.77857, 0.062767, -0.0020322};
constexpr std::array<double, 4> kC5{-1.5861, -0.31082, -0.083751, 0.0038915};
constexpr std::array<double, 3> kC6{-0.4803, -0.082676, 0.0030302};

constexpr std::size_t kMinN = 3;
constexpr std::size_t kMaxN = 5000;

/// The coefficients a[1..n/2] (a[0] unused, as in the published 1-based algorithm).
std::vector<double> coefficients(std::size_t n) {
  const std::size_t half = n / 2;
  std::vector<double> a(half + 1, 0.0);
  if (n == 3) {
    a[1] = std::sqrt(0.5);
    return a;
  }
  const double an = static_cast<double>(n);
  const boost::math::normal standard_normal;
  double summ2 = 0;
  for (std::size_t i = 1; i <= half; ++i) {
    a[i] = boost::math::quantile(standard_normal, (static_cast<double>(i) - 0.375) / (an + 0.25));
    summ2 += a[i] * a[i];
  }
  summ2 *= 2;
  const double ssumm2 = std::sqrt(summ2);
  const double rsn = 1 / std::sqrt(an);
  const double a1 = poly(kC1, rsn) - a[1] / ssumm2;

  std::size_t first_scaled = 0;
  double fac = 0;
  if (n > 5) {
    first_scaled = 3;
    const double a2 = -a[2] / ssumm2 + poly(kC2, rsn);
    fac = std::sqrt((summ2 - 2 * (a[1] * a[1]) - 2 * (a[2] * a[2])) / (1 - 2 * (a1 * a1) - 2 * (a2 * a2)));
    a[2] = a2;
  } else {
    first_scaled = 2;
    fac = std::sqrt((summ2 - 2 * (a[1] * a[1])) / (1 - 2 * (a1 * a1)));
  }
  a[1] = a1;
  for (std::size_t i = first_scaled; i <= half; ++i) a[i] /= -fac;
  return a;
}

double sign(long v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

}  // namespace

StatResult<ShapiroWilkResult> shapiro_wilk(std::span<const double> sample) {
  using Result = StatResult<ShapiroWilkResult>;
  const std::size_t n = sample.size();
  if (n < kMinN) return Result::unavailable("Shapiro-Wilk needs at least 3 values, got " + std::to_string(n));
  if (n > kMaxN)
    return Result::unavailable("Shapiro-Wilk (AS R94) is defined for at most 5000 values, got " + std::to_string(n));
  if (auto reason = detail::non_finite_reason(sample, "sample"); !reason.empty()) return Result::unavailable(reason);

  std::vector<double> x(sample.begin(), sample.end());
  std::sort(x.begin(), x.end());
  const double range = x.back() - x.front();
  if (range == 0) return Result::unavailable("all values are equal");
  // W does not depend on location or scale. Mapping the data onto [0, 1] (R only divides by the
  // range) keeps a large common offset from costing precision in the sums below.
  const double lowest = x.front();
  for (double& v : x) v = (v - lowest) / range;

  const std::vector<double> a = coefficients(n);
  const auto signed_n = static_cast<long>(n);

  // Means of the data and of the signed coefficients, then W as their squared correlation.
  double sx = x[0];
  double sa = -a[1];
  for (long i = 1, j = signed_n - 1; i < signed_n; --j) {
    sx += x[static_cast<std::size_t>(i)];
    ++i;
    if (i != j) sa += sign(i - j) * a[static_cast<std::size_t>(std::min(i, j))];
  }
  sa /= static_cast<double>(n);
  sx /= static_cast<double>(n);
  double ssa = 0;
  double ssx = 0;
  double sax = 0;
  for (long i = 0, j = signed_n - 1; i < signed_n; ++i, --j) {
    const double asa = i != j ? sign(i - j) * a[static_cast<std::size_t>(1 + std::min(i, j))] - sa : -sa;
    const double xsx = x[static_cast<std::size_t>(i)] - sx;
    ssa += asa * asa;
    ssx += xsx * xsx;
    sax += asa * xsx;
  }
  // 1 - W computed directly: W is close to 1 for large samples, where 1 - W would lose digits.
  const double ssassx = std::sqrt(ssa * ssx);
  const double w1 = (ssassx - sax) * (ssassx + sax) / (ssa * ssx);
  ShapiroWilkResult result;
  result.w = 1 - w1;

  if (n == 3) {
    constexpr double kSixOverPi = 1.90985931710274;
    constexpr double kPiOverThree = 1.04719755119660;
    result.p_value = std::max(0.0, kSixOverPi * (std::asin(std::sqrt(result.w)) - kPiOverThree));
    return result;
  }
  const double an = static_cast<double>(n);
  double y = std::log(w1);
  double m = 0;
  double s = 0;
  if (n <= 11) {
    const double gamma = poly(kG, an);
    if (y >= gamma) {
      // Beyond the transformation's range: W is so small that the p-value is effectively 0;
      // R reports 1e-99 here too.
      result.p_value = 1e-99;
      return result;
    }
    y = -std::log(gamma - y);
    m = poly(kC3, an);
    s = std::exp(poly(kC4, an));
  } else {
    const double log_n = std::log(an);
    m = poly(kC5, log_n);
    s = std::exp(poly(kC6, log_n));
  }
  result.p_value = boost::math::cdf(boost::math::complement(boost::math::normal(m, s), y));
  return result;
}

}  // namespace joulebench::stats

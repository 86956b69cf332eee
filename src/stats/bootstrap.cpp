// Two-sample bootstrap intervals for a ratio of means or medians: percentile and BCa (Efron and
// Tibshirani 1993, ch. 14), with BCa's z0 and acceleration computed as SciPy's bootstrap does for
// a statistic of several independent samples.
//
// Defined procedure, so that a seed reproduces an interval anywhere: both samples are sorted
// (so the interval does not depend on the input's order); resample b draws n1 indices into the
// sorted x, then n2 indices into the sorted y, with Xoshiro256StarStar::below; the quantiles of
// the resampled ratios are R's type 7 (NumPy's default).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <boost/math/distributions/normal.hpp>

#include "joulebench/stats.hpp"
#include "stats/common.hpp"
#include "stats/random.hpp"

namespace joulebench::stats {
namespace {

const char* statistic_name(RatioOf ratio_of) { return ratio_of == RatioOf::mean ? "mean" : "median"; }

double sum_of(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum;
}

/// The median of sorted values, the two middle ones averaged as NumPy does.
double median_sorted(const std::vector<double>& sorted) {
  const std::size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/// Draws one resample of a sorted sample and returns its statistic, allocating nothing: a mean is
/// the sum of the drawn values; a median comes from counting how often each (sorted) position was
/// drawn, which finds the middle order statistics in O(n) without moving any values.
class Resampler {
 public:
  Resampler(const std::vector<double>& sorted, RatioOf ratio_of)
      : sorted_(sorted), ratio_of_(ratio_of), draws_(ratio_of == RatioOf::median ? sorted.size() : 0) {}

  double draw(detail::Xoshiro256StarStar& rng) {
    const std::size_t n = sorted_.size();
    if (ratio_of_ == RatioOf::mean) {
      double sum = 0;
      for (std::size_t i = 0; i < n; ++i) sum += sorted_[rng.below(n)];
      return sum / static_cast<double>(n);
    }
    std::fill(draws_.begin(), draws_.end(), 0u);
    for (std::size_t i = 0; i < n; ++i) ++draws_[rng.below(n)];
    // The resample's order statistics k = (n - 1) / 2 and n / 2 (0-based).
    const std::size_t lower_k = (n - 1) / 2;
    const std::size_t upper_k = n / 2;
    std::size_t seen = 0;
    std::size_t position = 0;
    while (seen + draws_[position] <= lower_k) seen += draws_[position++];
    const double lower = sorted_[position];
    while (seen + draws_[position] <= upper_k) seen += draws_[position++];
    const double upper = sorted_[position];
    return n % 2 == 1 ? lower : (lower + upper) / 2;
  }

 private:
  const std::vector<double>& sorted_;
  RatioOf ratio_of_;
  std::vector<std::uint32_t> draws_;
};

/// The statistic of the sorted sample without the value at each sorted position in turn (a
/// leave-one-out value depends only on which value is left out, not on which of equal copies).
std::vector<double> jackknife(const std::vector<double>& sorted, RatioOf ratio_of) {
  const std::size_t n = sorted.size();
  std::vector<double> values(n);
  if (ratio_of == RatioOf::mean) {
    const double sum = sum_of(sorted);
    for (std::size_t r = 0; r < n; ++r) values[r] = (sum - sorted[r]) / static_cast<double>(n - 1);
    return values;
  }
  const std::size_t m = n - 1;
  for (std::size_t r = 0; r < n; ++r) {
    // Remaining position t is sorted[t] below the removed one and sorted[t + 1] from it on.
    auto remaining = [&](std::size_t t) { return sorted[t < r ? t : t + 1]; };
    values[r] = m % 2 == 1 ? remaining(m / 2) : (remaining(m / 2 - 1) + remaining(m / 2)) / 2;
  }
  return values;
}

/// One sample's terms of SciPy's acceleration: sum U^3 / n^3 and sum U^2 / n^2 with
/// U_i = (n - 1) (mean of the jackknife ratios - ratio_i).
struct AccelerationTerms {
  double cubes = 0;
  double squares = 0;
};
AccelerationTerms acceleration_terms(const std::vector<double>& ratios) {
  const auto n = static_cast<double>(ratios.size());
  const double dot = sum_of(ratios) / n;
  AccelerationTerms terms;
  for (double ratio : ratios) {
    const double u = (n - 1) * (dot - ratio);
    terms.cubes += u * u * u;
    terms.squares += u * u;
  }
  terms.cubes /= n * n * n;
  terms.squares /= n * n;
  return terms;
}

}  // namespace

StatResult<RatioInterval> bootstrap_ratio(std::span<const double> x, std::span<const double> y,
                                          const BootstrapOptions& options) {
  using Result = StatResult<RatioInterval>;
  if (x.size() < 2) return Result::unavailable("the bootstrap needs at least 2 values in x, got " + std::to_string(x.size()));
  if (y.size() < 2) return Result::unavailable("the bootstrap needs at least 2 values in y, got " + std::to_string(y.size()));
  if (auto reason = detail::non_finite_reason(x, "x"); !reason.empty()) return Result::unavailable(reason);
  if (auto reason = detail::non_finite_reason(y, "y"); !reason.empty()) return Result::unavailable(reason);
  if (!(options.confidence > 0 && options.confidence < 1)) {
    return Result::unavailable("the confidence level must lie strictly between 0 and 1");
  }
  if (options.resamples == 0) return Result::unavailable("the bootstrap needs at least one resample");
  if (x.size() > UINT32_MAX || y.size() > UINT32_MAX) return Result::unavailable("a sample is too large to resample");

  const std::string statistic = statistic_name(options.ratio_of);
  std::vector<double> sorted_x(x.begin(), x.end());
  std::vector<double> sorted_y(y.begin(), y.end());
  std::sort(sorted_x.begin(), sorted_x.end());
  std::sort(sorted_y.begin(), sorted_y.end());
  const auto statistic_of = [&](const std::vector<double>& sorted) {
    return options.ratio_of == RatioOf::mean ? sum_of(sorted) / static_cast<double>(sorted.size()) : median_sorted(sorted);
  };
  const double denominator = statistic_of(sorted_y);
  if (denominator == 0) return Result::unavailable("the " + statistic + " of y (the denominator) is 0");

  RatioInterval interval;
  interval.estimate = statistic_of(sorted_x) / denominator;
  interval.confidence = options.confidence;
  interval.method = options.method;
  interval.resamples = options.resamples;
  if (!std::isfinite(interval.estimate)) return Result::unavailable("the ratio of the samples' " + statistic + "s overflows");

  detail::Xoshiro256StarStar rng(options.seed);
  Resampler resample_x(sorted_x, options.ratio_of);
  Resampler resample_y(sorted_y, options.ratio_of);
  std::vector<double> ratios(options.resamples);
  for (std::size_t b = 0; b < ratios.size(); ++b) {
    const double numerator = resample_x.draw(rng);
    const double resampled_denominator = resample_y.draw(rng);
    if (resampled_denominator == 0) {
      return Result::unavailable("the " + statistic + " of y (the denominator) is 0 in resample " + std::to_string(b) +
                                 ", so the ratio is undefined");
    }
    ratios[b] = numerator / resampled_denominator;
    if (!std::isfinite(ratios[b])) return Result::unavailable("a resampled ratio overflows");
  }
  std::sort(ratios.begin(), ratios.end());

  const double alpha = (1 - options.confidence) / 2;
  if (options.method == BootstrapMethod::percentile) {
    interval.lower = quantile_sorted(ratios, alpha);
    interval.upper = quantile_sorted(ratios, 1 - alpha);
    return interval;
  }

  // Bias correction: where the estimate sits in the bootstrap distribution, ties counting half.
  const auto below = std::lower_bound(ratios.begin(), ratios.end(), interval.estimate) - ratios.begin();
  const auto at_or_below = std::upper_bound(ratios.begin(), ratios.end(), interval.estimate) - ratios.begin();
  const double proportion = static_cast<double>(below + at_or_below) / (2 * static_cast<double>(ratios.size()));
  if (proportion <= 0 || proportion >= 1) {
    return Result::unavailable("every resampled ratio lies on one side of the estimate, so BCa's bias correction is infinite");
  }
  const boost::math::normal standard_normal;
  const double z0 = boost::math::quantile(standard_normal, proportion);

  // Acceleration from the jackknife over all n1 + n2 leave-one-out ratios, each sample's terms
  // kept apart (SciPy's multi-sample form).
  const double numerator_statistic = statistic_of(sorted_x);
  std::vector<double> ratios_without_x = jackknife(sorted_x, options.ratio_of);
  for (double& r : ratios_without_x) r /= denominator;
  std::vector<double> ratios_without_y = jackknife(sorted_y, options.ratio_of);
  for (double& r : ratios_without_y) {
    if (r == 0) {
      return Result::unavailable("leaving one value out of y makes its " + statistic +
                                 " 0, so BCa's jackknife ratio is undefined");
    }
    r = numerator_statistic / r;
  }
  const AccelerationTerms from_x = acceleration_terms(ratios_without_x);
  const AccelerationTerms from_y = acceleration_terms(ratios_without_y);
  const double squares = from_x.squares + from_y.squares;
  if (squares == 0) {
    return Result::unavailable("leaving out any one value leaves the ratio unchanged (every value is equal), "
                               "so BCa has no acceleration");
  }
  const double acceleration = (from_x.cubes + from_y.cubes) / 6 / std::pow(squares, 1.5);

  const double z_alpha = boost::math::quantile(standard_normal, alpha);
  const auto adjusted = [&](double z) {
    const double shifted = z0 + z;
    const double argument = z0 + shifted / (1 - acceleration * shifted);
    if (std::isnan(argument) || std::isfinite(argument)) {
      return std::isnan(argument) ? argument : boost::math::cdf(standard_normal, argument);
    }
    return argument > 0 ? 1.0 : 0.0;
  };
  const double alpha_lower = adjusted(z_alpha);
  const double alpha_upper = adjusted(-z_alpha);
  if (!std::isfinite(alpha_lower) || !std::isfinite(alpha_upper)) {
    return Result::unavailable("BCa's adjusted levels are undefined for this bootstrap distribution");
  }
  interval.lower = quantile_sorted(ratios, alpha_lower);
  interval.upper = quantile_sorted(ratios, alpha_upper);
  return interval;
}

}  // namespace joulebench::stats

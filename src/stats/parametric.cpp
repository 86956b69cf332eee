// Welch's t-test, as R's t.test(var.equal = FALSE) and SciPy's ttest_ind(equal_var = False).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <boost/math/distributions/students_t.hpp>

#include "joulebench/stats.hpp"
#include "stats/common.hpp"

namespace joulebench::stats {

StatResult<WelchResult> welch_t_test(std::span<const double> x, std::span<const double> y, Alternative alternative) {
  using Result = StatResult<WelchResult>;
  if (x.size() < 2)
    return Result::unavailable("Welch's t-test needs at least 2 values in x, got " + std::to_string(x.size()));
  if (y.size() < 2)
    return Result::unavailable("Welch's t-test needs at least 2 values in y, got " + std::to_string(y.size()));
  if (auto reason = detail::non_finite_reason(x, "x"); !reason.empty()) return Result::unavailable(reason);
  if (auto reason = detail::non_finite_reason(y, "y"); !reason.empty()) return Result::unavailable(reason);

  const auto nx = static_cast<double>(x.size());
  const auto ny = static_cast<double>(y.size());
  const double mean_x = detail::mean_of(x);
  const double mean_y = detail::mean_of(y);
  const double var_x = detail::variance_of(x, mean_x) / nx;  // squared standard errors
  const double var_y = detail::variance_of(y, mean_y) / ny;
  const double stderr_diff = std::sqrt(var_x + var_y);
  // R's test: a standard error at rounding level of the means makes t meaningless.
  if (stderr_diff < 10 * std::numeric_limits<double>::epsilon() * std::max(std::abs(mean_x), std::abs(mean_y)) ||
      stderr_diff == 0) {
    return Result::unavailable(
        "both samples have zero variance (or a standard error at the rounding level of "
        "their means), so t is undefined");
  }
  WelchResult result;
  result.mean_difference = mean_x - mean_y;
  result.t = result.mean_difference / stderr_diff;
  result.df = (var_x + var_y) * (var_x + var_y) / (var_x * var_x / (nx - 1) + var_y * var_y / (ny - 1));
  const boost::math::students_t distribution(result.df);
  switch (alternative) {
    case Alternative::two_sided: result.p_value = 2 * boost::math::cdf(distribution, -std::abs(result.t)); break;
    case Alternative::less: result.p_value = boost::math::cdf(distribution, result.t); break;
    case Alternative::greater:
      result.p_value = boost::math::cdf(boost::math::complement(distribution, result.t));
      break;
  }
  return result;
}

StatResult<MeanInterval> mean_interval(std::span<const double> sample, double confidence) {
  using Result = StatResult<MeanInterval>;
  if (sample.size() < 2) return Result::unavailable("an interval needs at least 2 values");
  if (auto reason = detail::non_finite_reason(sample, "sample"); !reason.empty()) return Result::unavailable(reason);
  if (!(confidence > 0 && confidence < 1)) return Result::unavailable("the confidence must be between 0 and 1");
  const auto n = static_cast<double>(sample.size());
  MeanInterval interval;
  interval.confidence = confidence;
  interval.mean = detail::mean_of(sample);
  const double standard_error = std::sqrt(detail::variance_of(sample, interval.mean) / n);
  const boost::math::students_t distribution(n - 1);
  const double half_width = boost::math::quantile(distribution, (1 + confidence) / 2) * standard_error;
  interval.lower = interval.mean - half_width;
  interval.upper = interval.mean + half_width;
  return interval;
}

}  // namespace joulebench::stats

// Two-sample bootstrap intervals for a ratio of means or medians: percentile and BCa (Efron and
// Tibshirani 1993, ch. 14), with BCa's z0 and acceleration computed as SciPy's bootstrap does for
// a statistic of several independent samples.
//
// Defined procedure, so that a seed reproduces an interval anywhere: both samples are sorted
// (so the interval does not depend on the input's order); resample b draws n1 indices into the
// sorted x, then n2 indices into the sorted y, with Xoshiro256StarStar::below; the quantiles of
// the resampled ratios are R's type 7 (NumPy's default). Several ratios with samples of the same
// sizes can share one seed's draws (bootstrap_ratios): the draws do not depend on the values, so
// each ratio's interval is the one it would get alone.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
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

/// The positions of one resample, drawn once and shared by every sample of one size.
using Positions = std::vector<std::uint32_t>;

/// Draws n positions into a row-major table sizeof...(C) columns wide (recording them) and sums
/// each column's drawn values in draw order, as a lone sample's sum would be, to the bit. Drawing
/// and summing in one loop lets the generator's and the sums' chains of dependent instructions
/// overlap; the columns are spelled out (no inner loop) so that the sums stay in registers.
template <std::size_t... C>
void draw_and_sum(detail::Xoshiro256StarStar& rng, const double* rows, Positions& drawn, double* sums,
                  std::index_sequence<C...>) {
  constexpr std::size_t width = sizeof...(C);
  detail::Xoshiro256StarStar local = rng;  // a copy that the stores below cannot alias
  const std::size_t n = drawn.size();
  double acc[width] = {};
  for (auto& position : drawn) {
    position = static_cast<std::uint32_t>(local.below(n));
    const double* row = rows + std::size_t{position} * width;
    ((acc[C] += row[C]), ...);
  }
  rng = local;
  ((sums[C] = acc[C]), ...);
}

/// The same sums for positions already drawn.
template <std::size_t... C>
void sum_drawn(const double* rows, const Positions& drawn, double* sums, std::index_sequence<C...>) {
  constexpr std::size_t width = sizeof...(C);
  double acc[width] = {};
  for (const std::uint32_t position : drawn) {
    const double* row = rows + std::size_t{position} * width;
    ((acc[C] += row[C]), ...);
  }
  ((sums[C] = acc[C]), ...);
}

/// Blocks of up to kBlockWidth samples: the first block draws, the others reuse its positions.
constexpr std::size_t kBlockWidth = 8;
template <std::size_t Width>
void sum_block(detail::Xoshiro256StarStar* rng, const double* rows, Positions& drawn, double* sums) {
  if (rng != nullptr) {
    draw_and_sum(*rng, rows, drawn, sums, std::make_index_sequence<Width>{});
  } else {
    sum_drawn(rows, drawn, sums, std::make_index_sequence<Width>{});
  }
}
using SumBlock = void (*)(detail::Xoshiro256StarStar*, const double*, Positions&, double*);
template <std::size_t... W>
constexpr std::array<SumBlock, sizeof...(W)> sum_blocks(std::index_sequence<W...>) {
  return {&sum_block<W + 1>...};
}
constexpr auto kSumBlock = sum_blocks(std::make_index_sequence<kBlockWidth>{});

/// Resamples several sorted samples of one size n together, allocating nothing per resample: each
/// resample draws n positions once, and every sample's statistic is taken at those positions. A
/// mean is the sum of the drawn values, over row-major blocks of up to kBlockWidth samples (one
/// drawn position reads one row); a median comes from counting how often each (sorted) position
/// was drawn, which finds the middle order statistics' positions in O(n), the same for every sample.
class Resampler {
 public:
  Resampler(std::vector<const std::vector<double>*> sorted, std::size_t n, RatioOf ratio_of)
      : sorted_(std::move(sorted)), n_(n), ratio_of_(ratio_of) {
    if (ratio_of_ == RatioOf::median) {
      draws_.resize(n_);
      return;
    }
    drawn_.resize(n_);
    for (std::size_t first = 0; first < sorted_.size(); first += kBlockWidth) {
      const std::size_t width = std::min(kBlockWidth, sorted_.size() - first);
      std::vector<double> rows(n_ * width);
      for (std::size_t p = 0; p < n_; ++p) {
        for (std::size_t c = 0; c < width; ++c) rows[p * width + c] = (*sorted_[first + c])[p];
      }
      blocks_.push_back(std::move(rows));
    }
  }

  /// Draws one resample (n calls of rng.below(n)) and writes each sample's statistic to out.
  void draw(detail::Xoshiro256StarStar& rng, std::vector<double>& out) {
    if (ratio_of_ == RatioOf::mean) {
      for (std::size_t b = 0; b < blocks_.size(); ++b) {
        const std::size_t first = b * kBlockWidth;
        const std::size_t width = std::min(kBlockWidth, sorted_.size() - first);
        kSumBlock[width - 1](b == 0 ? &rng : nullptr, blocks_[b].data(), drawn_, &out[first]);
      }
      for (std::size_t c = 0; c < sorted_.size(); ++c) out[c] /= static_cast<double>(n_);
      return;
    }
    std::fill(draws_.begin(), draws_.end(), 0u);
    for (std::size_t i = 0; i < n_; ++i) ++draws_[rng.below(n_)];
    // The resample's order statistics k = (n - 1) / 2 and n / 2 (0-based).
    const std::size_t lower_k = (n_ - 1) / 2;
    const std::size_t upper_k = n_ / 2;
    std::size_t seen = 0;
    std::size_t position = 0;
    while (seen + draws_[position] <= lower_k) seen += draws_[position++];
    const std::size_t lower = position;
    while (seen + draws_[position] <= upper_k) seen += draws_[position++];
    const std::size_t upper = position;
    for (std::size_t c = 0; c < sorted_.size(); ++c) {
      const auto& sorted = *sorted_[c];
      out[c] = n_ % 2 == 1 ? sorted[lower] : (sorted[lower] + sorted[upper]) / 2;
    }
  }

 private:
  std::vector<const std::vector<double>*> sorted_;
  std::size_t n_;
  RatioOf ratio_of_;
  Positions drawn_;                          // mean: this resample's positions
  std::vector<std::vector<double>> blocks_;  // mean: the samples, row-major, kBlockWidth at a time
  std::vector<std::uint32_t> draws_;         // median: how often each position was drawn
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

/// One ratio's samples, checked and sorted, with what its interval needs besides the resamples.
struct Prepared {
  std::vector<double> sorted_x;
  std::vector<double> sorted_y;
  double numerator = 0;    // statistic(x)
  double denominator = 0;  // statistic(y)
  RatioInterval interval;  // all but the bounds
};

double statistic_of(const std::vector<double>& sorted, RatioOf ratio_of) {
  return ratio_of == RatioOf::mean ? sum_of(sorted) / static_cast<double>(sorted.size()) : median_sorted(sorted);
}

/// Fills `p`; returns why the ratio cannot be bootstrapped, or nothing.
std::string prepare(std::span<const double> x, std::span<const double> y, const BootstrapOptions& options,
                    Prepared& p) {
  if (x.size() < 2) return "the bootstrap needs at least 2 values in x, got " + std::to_string(x.size());
  if (y.size() < 2) return "the bootstrap needs at least 2 values in y, got " + std::to_string(y.size());
  if (auto reason = detail::non_finite_reason(x, "x"); !reason.empty()) return reason;
  if (auto reason = detail::non_finite_reason(y, "y"); !reason.empty()) return reason;
  if (!(options.confidence > 0 && options.confidence < 1))
    return "the confidence level must lie strictly between 0 and 1";
  if (options.resamples == 0) return "the bootstrap needs at least one resample";
  if (x.size() > UINT32_MAX || y.size() > UINT32_MAX) return "a sample is too large to resample";

  const std::string statistic = statistic_name(options.ratio_of);
  p.sorted_x.assign(x.begin(), x.end());
  p.sorted_y.assign(y.begin(), y.end());
  std::sort(p.sorted_x.begin(), p.sorted_x.end());
  std::sort(p.sorted_y.begin(), p.sorted_y.end());
  p.numerator = statistic_of(p.sorted_x, options.ratio_of);
  p.denominator = statistic_of(p.sorted_y, options.ratio_of);
  if (p.denominator == 0) return "the " + statistic + " of y (the denominator) is 0";
  p.interval.estimate = p.numerator / p.denominator;
  p.interval.confidence = options.confidence;
  p.interval.method = options.method;
  p.interval.resamples = options.resamples;
  if (!std::isfinite(p.interval.estimate)) return "the ratio of the samples' " + statistic + "s overflows";
  return {};
}

/// The interval from the resampled ratios (sorted here) and, for BCa, the jackknife.
StatResult<RatioInterval> interval_of(const Prepared& p, std::vector<double>& ratios, const BootstrapOptions& options) {
  using Result = StatResult<RatioInterval>;
  const std::string statistic = statistic_name(options.ratio_of);
  RatioInterval interval = p.interval;
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
    return Result::unavailable(
        "every resampled ratio lies on one side of the estimate, so BCa's bias correction is infinite");
  }
  const boost::math::normal standard_normal;
  const double z0 = boost::math::quantile(standard_normal, proportion);

  // Acceleration from the jackknife over all n1 + n2 leave-one-out ratios, each sample's terms
  // kept apart (SciPy's multi-sample form).
  std::vector<double> ratios_without_x = jackknife(p.sorted_x, options.ratio_of);
  for (double& r : ratios_without_x) r /= p.denominator;
  std::vector<double> ratios_without_y = jackknife(p.sorted_y, options.ratio_of);
  for (double& r : ratios_without_y) {
    if (r == 0) {
      return Result::unavailable("leaving one value out of y makes its " + statistic +
                                 " 0, so BCa's jackknife ratio is undefined");
    }
    r = p.numerator / r;
  }
  const AccelerationTerms from_x = acceleration_terms(ratios_without_x);
  const AccelerationTerms from_y = acceleration_terms(ratios_without_y);
  const double squares = from_x.squares + from_y.squares;
  if (squares == 0) {
    return Result::unavailable(
        "leaving out any one value leaves the ratio unchanged (every value is equal), "
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

}  // namespace

std::vector<StatResult<RatioInterval>> bootstrap_ratios(std::span<const RatioSamples> samples,
                                                        const BootstrapOptions& options) {
  using Result = StatResult<RatioInterval>;
  for (const auto& s : samples) {
    if (s.x.size() != samples.front().x.size() || s.y.size() != samples.front().y.size()) {
      throw std::invalid_argument("bootstrap_ratios needs every x of one size and every y of one size, got " +
                                  std::to_string(samples.front().x.size()) + " and " +
                                  std::to_string(samples.front().y.size()) + " values, then " +
                                  std::to_string(s.x.size()) + " and " + std::to_string(s.y.size()));
    }
  }
  std::vector<Result> results;
  std::vector<Prepared> prepared;
  std::vector<std::size_t> owner;  // prepared -> result
  for (std::size_t i = 0; i < samples.size(); ++i) {
    Prepared p;
    std::string reason = prepare(samples[i].x, samples[i].y, options, p);
    if (!reason.empty()) {
      results.push_back(Result::unavailable(std::move(reason)));
      continue;
    }
    results.push_back(Result::unavailable("not resampled"));  // replaced below
    prepared.push_back(std::move(p));
    owner.push_back(i);
  }
  if (prepared.empty()) return results;

  std::vector<const std::vector<double>*> xs;
  std::vector<const std::vector<double>*> ys;
  for (const auto& p : prepared) {
    xs.push_back(&p.sorted_x);
    ys.push_back(&p.sorted_y);
  }
  const std::string statistic = statistic_name(options.ratio_of);
  // Resample b draws n1 positions into x, then n2 into y, whatever the number of ratios.
  detail::Xoshiro256StarStar rng(options.seed);
  Resampler resample_x(std::move(xs), samples.front().x.size(), options.ratio_of);
  Resampler resample_y(std::move(ys), samples.front().y.size(), options.ratio_of);
  std::vector<double> numerators(prepared.size());
  std::vector<double> denominators(prepared.size());
  std::vector<std::vector<double>> ratios(prepared.size(), std::vector<double>(options.resamples));
  std::vector<std::optional<std::string>> failed(prepared.size());
  for (std::size_t b = 0; b < options.resamples; ++b) {
    resample_x.draw(rng, numerators);
    resample_y.draw(rng, denominators);
    for (std::size_t k = 0; k < prepared.size(); ++k) {
      if (failed[k]) continue;
      if (denominators[k] == 0) {
        failed[k] = "the " + statistic + " of y (the denominator) is 0 in resample " + std::to_string(b) +
                    ", so the ratio is undefined";
        continue;
      }
      const double ratio = numerators[k] / denominators[k];
      if (!std::isfinite(ratio)) failed[k] = "a resampled ratio overflows";
      ratios[k][b] = ratio;
    }
  }
  for (std::size_t k = 0; k < prepared.size(); ++k) {
    results[owner[k]] = failed[k] ? Result::unavailable(*failed[k]) : interval_of(prepared[k], ratios[k], options);
  }
  return results;
}

StatResult<RatioInterval> bootstrap_ratio(std::span<const double> x, std::span<const double> y,
                                          const BootstrapOptions& options) {
  const RatioSamples samples{x, y};
  return std::move(bootstrap_ratios(std::span(&samples, 1), options).front());
}

}  // namespace joulebench::stats

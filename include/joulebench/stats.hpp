// Statistics: the numbers behind "does A cost more than B, by how much, and how sure are we".
// Pure functions on samples; no I/O. Distributions come from Boost.Math. Every function that can
// meet input it cannot honestly summarise (too few values, all values equal, NaN or infinity)
// returns the reason instead of a number (StatResult), so no caller can print an unjustified
// p-value. Reference values for the tests come from R and SciPy (see tests/unit/stats_*_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace joulebench::stats {

/// A statistic, or the reason it could not be computed.
template <typename T>
class StatResult {
 public:
  StatResult(T value) : state_(std::move(value)) {}  // NOLINT: implicit, so functions can `return value;`
  static StatResult unavailable(std::string reason) { return StatResult(Reason{std::move(reason)}); }

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  /// The value; throws std::logic_error (with the reason) when there is none.
  const T& value() const {
    if (!ok()) throw std::logic_error("statistic unavailable: " + std::get<Reason>(state_).text);
    return std::get<T>(state_);
  }
  const T* operator->() const { return &value(); }
  const T& operator*() const { return value(); }
  /// Why there is no value (empty when there is one).
  std::string reason() const { return ok() ? std::string() : std::get<Reason>(state_).text; }

 private:
  struct Reason {
    std::string text;
  };
  explicit StatResult(Reason reason) : state_(std::move(reason)) {}
  std::variant<T, Reason> state_;
};

// ---- Descriptive statistics ----------------------------------------------------------------

struct Descriptive {
  std::size_t n = 0;
  double mean = 0;
  std::optional<double> sd;  ///< sample standard deviation (n - 1); absent when n < 2
  std::optional<double> cv;  ///< sd / |mean|; absent when n < 2 or the mean is 0
  double median = 0;
  double q1 = 0;  ///< quartiles by linear interpolation (R's type 7, NumPy's default)
  double q3 = 0;
  double iqr = 0;
  double min = 0;
  double max = 0;
  double lower_fence = 0;  ///< Tukey's fences: q1 - 1.5 IQR, q3 + 1.5 IQR
  double upper_fence = 0;
  std::vector<std::size_t> outliers;  ///< indices (into the input) outside the fences; flagged, never removed
};
/// Unavailable for an empty sample or one holding NaN or infinity.
StatResult<Descriptive> describe(std::span<const double> sample);

/// The p-quantile (0 <= p <= 1) of sorted data by linear interpolation (R type 7). Throws
/// std::invalid_argument for empty data or p outside [0, 1].
double quantile_sorted(std::span<const double> sorted, double p);

/// Ranks 1..n, ties given the average of the ranks they span.
std::vector<double> average_ranks(std::span<const double> values);

// ---- Tests --------------------------------------------------------------------------------

/// Which difference a test looks for. `less`: x tends to be smaller than y; `greater`: larger.
enum class Alternative : std::uint8_t { two_sided, less, greater };
std::string_view alternative_name(Alternative alternative);

struct ShapiroWilkResult {
  double w = 0;
  double p_value = 0;
};
/// Shapiro-Wilk W test of normality by Royston's algorithm (AS R94), for 3 <= n <= 5000.
StatResult<ShapiroWilkResult> shapiro_wilk(std::span<const double> sample);

enum class MannWhitneyMethod : std::uint8_t {
  automatic,  ///< exact when there are no ties and both samples have at most kMannWhitneyExactMax values
  exact,      ///< the exact null distribution of U (unavailable with ties, or when n1 * n2 > 10000)
  normal,     ///< normal approximation with tie correction and continuity correction
};
inline constexpr std::size_t kMannWhitneyExactMax = 50;

struct MannWhitneyResult {
  double u = 0;  ///< U of x: the number of pairs (x_i, y_j) with x_i > y_j, ties counting one half
  double p_value = 0;
  MannWhitneyMethod method = MannWhitneyMethod::exact;  ///< the one used: exact or normal, never automatic
  bool ties = false;
  std::optional<double> z;  ///< the normal approximation's z (continuity-corrected), when it was used
};
/// Mann-Whitney U (Wilcoxon rank-sum) test. Unavailable when a sample is empty, a value is not
/// finite, or every value of both samples is equal.
StatResult<MannWhitneyResult> mann_whitney(std::span<const double> x, std::span<const double> y,
                                           Alternative alternative = Alternative::two_sided,
                                           MannWhitneyMethod method = MannWhitneyMethod::automatic);

struct WelchResult {
  double t = 0;
  double df = 0;  ///< Welch-Satterthwaite degrees of freedom
  double p_value = 0;
  double mean_difference = 0;  ///< mean(x) - mean(y)
};
/// Welch's unequal-variances t-test. Unavailable when a sample has fewer than 2 values, a value
/// is not finite, or both samples have zero variance.
StatResult<WelchResult> welch_t_test(std::span<const double> x, std::span<const double> y,
                                     Alternative alternative = Alternative::two_sided);

/// A confidence interval of a sample's mean.
struct MeanInterval {
  double mean = 0;
  double lower = 0;
  double upper = 0;
  double confidence = 0.95;
};
/// Student's t interval of the mean: mean -/+ t(n-1, (1 + confidence) / 2) * sd / sqrt(n), as
/// scipy.stats.t.interval(confidence, n - 1, loc=mean, scale=sem) gives it. Unavailable with fewer
/// than 2 values, a value that is not finite, or a confidence outside (0, 1).
StatResult<MeanInterval> mean_interval(std::span<const double> sample, double confidence = 0.95);

struct KruskalWallisResult {
  double h = 0;  ///< tie-corrected
  double df = 0;
  double p_value = 0;  ///< from the chi-squared distribution with df degrees of freedom
};
/// Kruskal-Wallis H test for two or more groups. Unavailable with fewer than two groups, an
/// empty group, a non-finite value, or all values equal.
StatResult<KruskalWallisResult> kruskal_wallis(std::span<const std::vector<double>> groups);

struct SpearmanResult {
  double rho = 0;
  double p_value = 0;  ///< two-sided, from the t distribution with n - 2 degrees of freedom (as SciPy)
  std::size_t n = 0;
};
/// Spearman's rank correlation of paired samples. Unavailable when the lengths differ, n < 3, a
/// value is not finite, or either sample is constant.
StatResult<SpearmanResult> spearman(std::span<const double> x, std::span<const double> y);

// ---- Effect sizes ---------------------------------------------------------------------------

enum class EffectMagnitude : std::uint8_t { negligible, small, medium, large };
std::string_view effect_magnitude_name(EffectMagnitude magnitude);

/// Where small, medium and large begin, on the scale of the effect size's distance from "no effect"
/// (|A12 - 0.5| + 0.5 for A12, |delta| for Cliff's delta).
struct EffectThresholds {
  double small = 0;
  double medium = 0;
  double large = 0;
};
/// Vargha and Delaney (2000): 0.56, 0.64, 0.71.
inline constexpr EffectThresholds kA12Standard{0.56, 0.64, 0.71};
/// The thresholds of the study being replicated (Georgiou et al., ICSE 2022): 0.6, 0.7, 0.8.
inline constexpr EffectThresholds kA12Study{0.6, 0.7, 0.8};
/// Romano et al. (2006): 0.147, 0.33, 0.474.
inline constexpr EffectThresholds kCliffDeltaStandard{0.147, 0.33, 0.474};

struct EffectSize {
  double value = 0;
  EffectMagnitude magnitude = EffectMagnitude::negligible;
};
/// Vargha-Delaney A12 = P(X > Y) + 0.5 P(X = Y). Unavailable for an empty or non-finite sample.
StatResult<EffectSize> vargha_delaney_a12(std::span<const double> x, std::span<const double> y,
                                          const EffectThresholds& thresholds = kA12Standard);
/// Cliff's delta = P(X > Y) - P(X < Y). Unavailable for an empty or non-finite sample.
StatResult<EffectSize> cliffs_delta(std::span<const double> x, std::span<const double> y,
                                    const EffectThresholds& thresholds = kCliffDeltaStandard);

// ---- Bootstrap confidence intervals ---------------------------------------------------------

enum class RatioOf : std::uint8_t { mean, median };
enum class BootstrapMethod : std::uint8_t { percentile, bca };

struct BootstrapOptions {
  RatioOf ratio_of = RatioOf::mean;
  BootstrapMethod method = BootstrapMethod::bca;
  double confidence = 0.95;
  std::size_t resamples = 10000;
  /// The generator and the draws are defined exactly (not by the standard library's
  /// implementation-defined distributions), so a seed gives the same interval everywhere; the
  /// samples are sorted before resampling, so neither does the interval depend on their order.
  std::uint64_t seed = 42;
};

struct RatioInterval {
  double estimate = 0;  ///< statistic(x) / statistic(y) on the samples themselves
  double lower = 0;
  double upper = 0;
  double confidence = 0.95;
  BootstrapMethod method = BootstrapMethod::bca;
  std::size_t resamples = 0;
};
/// A two-sample bootstrap confidence interval for statistic(x) / statistic(y): each resample
/// draws x and y with replacement, each from itself. Unavailable when a sample has fewer than 2
/// values, a value is not finite, the denominator's statistic is 0 (or becomes 0 in resamples),
/// or (BCa) the jackknife gives no acceleration because every value is equal.
StatResult<RatioInterval> bootstrap_ratio(std::span<const double> x, std::span<const double> y,
                                          const BootstrapOptions& options = {});

/// The two samples of one ratio statistic(x) / statistic(y).
struct RatioSamples {
  std::span<const double> x;
  std::span<const double> y;
};
/// Several ratios bootstrapped with one random stream: result i is, to the bit,
/// bootstrap_ratio(samples[i].x, samples[i].y, options). Resample b draws the same positions into
/// every sorted x (and into every sorted y), so the draws are made once for all ratios; their
/// intervals then share their Monte-Carlo error. Every x must have the same size, and every y:
/// throws std::invalid_argument otherwise.
std::vector<StatResult<RatioInterval>> bootstrap_ratios(std::span<const RatioSamples> samples,
                                                        const BootstrapOptions& options = {});

// ---- Multiple testing -----------------------------------------------------------------------

enum class Correction : std::uint8_t { holm, bonferroni, none };
std::string_view correction_name(Correction correction);
/// Adjusted p-values in the input's order (as R's p.adjust), capped at 1. As R, a NaN p-value
/// stays NaN in place and does not count towards the number of tests.
std::vector<double> adjust_p_values(std::span<const double> p_values, Correction correction);

}  // namespace joulebench::stats

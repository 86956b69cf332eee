// Welch's t-test and the Shapiro-Wilk test against R 4.2.2 (tests/reference/stats_reference.R;
// the R call beside each value) and SciPy 1.10.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "joulebench/stats.hpp"
#include "unit/stats_test_data.hpp"

namespace joulebench::stats {
namespace {

using testdata::near_relative;
using testdata::normalish;
using testdata::skewed;

constexpr double kTight = 1e-12;

// ---- Welch ----

struct WelchExpected {
  double t;
  double df;
  double two_sided;
  double less;
  double greater;
};

void expect_welch(std::span<const double> x, std::span<const double> y, const WelchExpected& e) {
  const auto r = welch_t_test(x, y);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_TRUE(near_relative(r->t, e.t, kTight));
  EXPECT_TRUE(near_relative(r->df, e.df, kTight));
  EXPECT_TRUE(near_relative(r->p_value, e.two_sided, 1e-10));
  EXPECT_TRUE(near_relative(welch_t_test(x, y, Alternative::less)->p_value, e.less, 1e-10));
  EXPECT_TRUE(near_relative(welch_t_test(x, y, Alternative::greater)->p_value, e.greater, 1e-10));
}

TEST(StatsMeanInterval, NeedsTwoFiniteValuesAndASensibleConfidence) {
  const std::vector<double> one{1.0};
  EXPECT_FALSE(mean_interval(one).ok());
  const std::vector<double> with_nan{1.0, std::nan("")};
  EXPECT_FALSE(mean_interval(with_nan).ok());
  const std::vector<double> two{1.0, 3.0};
  EXPECT_FALSE(mean_interval(two, 1.0).ok());
  // scipy.stats.t.interval(0.95, 1, loc=2, scale=1) == (-10.706204736432095, 14.706204736432095)
  const auto interval = mean_interval(two);
  ASSERT_TRUE(interval.ok()) << interval.reason();
  EXPECT_NEAR(interval->lower, -10.706204736432095, 1e-9);
  EXPECT_NEAR(interval->upper, 14.706204736432095, 1e-9);
  const std::vector<double> constant{2.0, 2.0, 2.0};
  EXPECT_EQ(mean_interval(constant)->lower, 2.0) << "no spread: the interval is the mean";
}

TEST(StatsWelch, MatchesRAndSciPy) {
  const std::vector<double> x{19.1, 21.4, 18.7, 22.0, 20.3, 19.9};
  const std::vector<double> y{23.5, 24.1, 22.8, 25.9, 23.3, 24.4, 26.0, 22.1};
  // t.test(x, y, alternative, var.equal = FALSE); stats.ttest_ind(x, y, equal_var=False) 1e-15 apart
  expect_welch(
      x, y,
      {-5.2572485809031333, 11.386494925111196, 0.00024039370635787089, 0.00012019685317893545, 0.99987980314682101});
  EXPECT_TRUE(near_relative(welch_t_test(x, y)->mean_difference, 20.233333333333334 - 24.0125, kTight));
}

TEST(StatsWelch, TwoValuesEachAndOneConstantSample) {
  const std::vector<double> x{1, 2};
  const std::vector<double> y{3, 5};
  // t.test(c(1, 2), c(3, 5), alternative, var.equal = FALSE)
  expect_welch(
      x, y, {-2.2360679774997898, 1.4705882352941178, 0.19872738893452604, 0.099363694467263022, 0.90063630553273699});
  const std::vector<double> constant{5, 5, 5};
  const std::vector<double> varied{1, 2, 3.5};
  // t.test(c(5, 5, 5), c(1, 2, 3.5), alternative, var.equal = FALSE): only y's variance counts
  expect_welch(constant, varied,
               {3.9000674757995504, 2, 0.059897851864137257, 0.97005107406793134, 0.029948925932068628});
}

TEST(StatsWelch, LargeSamples) {
  const auto x = normalish(30, 200, 1000, 50);
  const auto y = normalish(31, 150, 1012, 80);
  // t.test(normalish(30, 200, 1000, 50), normalish(31, 150, 1012, 80), alternative, var.equal = FALSE)
  expect_welch(
      x, y,
      {-2.6463864024143411, 232.36925014183893, 0.0086917025383140799, 0.0043458512691570399, 0.99565414873084301});
}

TEST(StatsWelch, RefusesDegenerateInput) {
  const std::vector<double> one{1};
  const std::vector<double> three{1, 2, 3};
  EXPECT_NE(welch_t_test(one, three).reason().find("at least 2 values in x"), std::string::npos);
  EXPECT_NE(welch_t_test(three, one).reason().find("at least 2 values in y"), std::string::npos);
  const std::vector<double> fives{5, 5, 5};
  const std::vector<double> sevens{7, 7};
  EXPECT_NE(welch_t_test(fives, sevens).reason().find("zero variance"), std::string::npos);
  const std::vector<double> with_nan{1, std::nan("")};
  EXPECT_NE(welch_t_test(three, with_nan).reason().find("y[1] is NaN"), std::string::npos);
}

// ---- Shapiro-Wilk ----

// W to 1e-10 and p to 1e-9 relative: the same algorithm, differing from R only in the normal
// quantile function (Boost's versus R's AS 241) and the order of some sums.
void expect_shapiro(std::span<const double> sample, double w, double p) {
  const auto r = shapiro_wilk(sample);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_TRUE(near_relative(r->w, w, 1e-10));
  EXPECT_TRUE(near_relative(r->p_value, p, 1e-9));
}

TEST(StatsShapiroWilk, SmallSamplesMatchR) {
  // shapiro.test(x): n = 3 uses the exact p-value; n = 4, 5 normalise a[1] only; n <= 11 its own
  // transformation of W
  expect_shapiro(std::vector<double>{1, 2, 4}, 0.96428571428571419, 0.6368868450289632);
  expect_shapiro(std::vector<double>{2.1, 3.4, 1.9, 5.6}, 0.87603183393998441, 0.32196480117232057);
  expect_shapiro(std::vector<double>{148, 154, 158, 160, 161}, 0.90228045833036385, 0.42261778709902209);
  expect_shapiro(std::vector<double>{1.0, 2.5, 3.1, 4.7, 5.0, 7.2, 9.9}, 0.96241635525468616, 0.83917869683711532);
  expect_shapiro(std::vector<double>{0.5, 0.7, 0.9, 1.1, 1.2, 1.9, 2.5, 3.8, 6.1, 9.7, 15.2}, 0.75955971297495839,
                 0.0027709934053213162);
  // shapiro.test(c(1, 1, 2, 2, 2, 3, 3, 4, 5, 8, 13, 21)): ties
  expect_shapiro(std::vector<double>{1, 1, 2, 2, 2, 3, 3, 4, 5, 8, 13, 21}, 0.73251173434367089, 0.0017657561641708827);
  // shapiro.test(normalish(11, 20, 0, 1))
  expect_shapiro(normalish(11, 20, 0, 1), 0.96641337690197016, 0.67807302878334208);
}

TEST(StatsShapiroWilk, AgreesWithSciPyToSinglePrecision) {
  // stats.shapiro([1.0, 2.5, 3.1, 4.7, 5.0, 7.2, 9.9]): SciPy's swilk.f computes in single precision
  const auto r = shapiro_wilk(std::vector<double>{1.0, 2.5, 3.1, 4.7, 5.0, 7.2, 9.9});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(near_relative(r->w, 0.96241629123687744, 1e-6));
  EXPECT_TRUE(near_relative(r->p_value, 0.83917808532714844, 1e-5));
}

TEST(StatsShapiroWilk, LargeSamplesMatchR) {
  // shapiro.test(skewed(12, 100, 0, 1))
  expect_shapiro(skewed(12, 100, 0, 1), 0.90815570711575733, 3.4910842893410227e-06);
  // shapiro.test(normalish(13, 5000, 1000, 50)): the largest sample AS R94 covers
  expect_shapiro(normalish(13, 5000, 1000, 50), 0.9994500009226468, 0.14760714753404455);
  // shapiro.test(skewed(14, 5000, 0, 1))
  expect_shapiro(skewed(14, 5000, 0, 1), 0.89839723712924102, 1.7714961339562085e-49);
}

TEST(StatsShapiroWilk, LargeOffsetCostsNoPrecision) {
  // shapiro.test(1e6 + c(0.125, 0.5, 0.25, 0.75, 1.5, 0.375, 2.25, 0.625))
  const std::vector<double> offset{1e6 + 0.125, 1e6 + 0.5,   1e6 + 0.25, 1e6 + 0.75,
                                   1e6 + 1.5,   1e6 + 0.375, 1e6 + 2.25, 1e6 + 0.625};
  expect_shapiro(offset, 0.84175514476430813, 0.078511400516841093);
}

TEST(StatsShapiroWilk, RefusesDegenerateInput) {
  EXPECT_NE(shapiro_wilk(std::vector<double>{1, 2}).reason().find("at least 3 values"), std::string::npos);
  EXPECT_NE(shapiro_wilk(normalish(1, 5001, 0, 1)).reason().find("at most 5000"), std::string::npos);
  EXPECT_EQ(shapiro_wilk(std::vector<double>{3, 3, 3, 3}).reason(), "all values are equal");
  EXPECT_NE(shapiro_wilk(std::vector<double>{1, 2, std::nan("")}).reason().find("NaN"), std::string::npos);
}

}  // namespace
}  // namespace joulebench::stats

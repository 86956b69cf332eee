// Descriptive statistics, ranks, multiple-testing corrections and names. Reference values:
// tests/reference/stats_reference.R (R 4.2.2), the R call given beside each.
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "joulebench/stats.hpp"
#include "unit/stats_test_data.hpp"

namespace joulebench::stats {
namespace {

using testdata::near_relative;

constexpr double kTight = 1e-12;

TEST(StatsDescribe, MatchesRWithAnOutlier) {
  const std::vector<double> d1{12.1, 15.3, 11.8, 14.2, 13.9, 40.0, 12.7, 13.3, 12.9, 14.8};
  const auto d = describe(d1);
  ASSERT_TRUE(d.ok()) << d.reason();
  EXPECT_EQ(d->n, 10u);
  EXPECT_TRUE(near_relative(d->mean, 16.100000000000001, kTight));  // mean(d1)
  EXPECT_TRUE(near_relative(*d->sd, 8.4729635376951258, kTight));   // sd(d1)
  EXPECT_TRUE(near_relative(*d->cv, 8.4729635376951258 / 16.100000000000001, kTight));
  EXPECT_TRUE(near_relative(d->q1, 12.749999999999998, kTight));      // quantile(d1, 0.25, type = 7)
  EXPECT_TRUE(near_relative(d->median, 13.600000000000001, kTight));  // quantile(d1, 0.5, type = 7)
  EXPECT_TRUE(near_relative(d->q3, 14.650000000000002, kTight));      // quantile(d1, 0.75, type = 7)
  EXPECT_TRUE(near_relative(d->iqr, 1.9000000000000039, 1e-10));      // IQR(d1)
  EXPECT_DOUBLE_EQ(d->min, 11.8);
  EXPECT_DOUBLE_EQ(d->max, 40.0);
  EXPECT_TRUE(near_relative(d->lower_fence, 12.75 - 1.5 * 1.9, 1e-10));
  EXPECT_TRUE(near_relative(d->upper_fence, 14.65 + 1.5 * 1.9, 1e-10));
  EXPECT_EQ(d->outliers, std::vector<std::size_t>{5});  // 40.0, flagged by index and kept
}

TEST(StatsDescribe, MatchesRWithTiesAndNegativeValues) {
  const std::vector<double> d2{-3, -3, 0, 2, 2, 2, 7, -20};
  const auto d = describe(d2);
  ASSERT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(d->mean, -1.625);                               // mean(d2)
  EXPECT_TRUE(near_relative(*d->sd, 8.0876890571852655, kTight));  // sd(d2)
  EXPECT_DOUBLE_EQ(d->q1, -3);                                     // quantile(d2, c(.25, .5, .75), type = 7)
  EXPECT_DOUBLE_EQ(d->median, 1);
  EXPECT_DOUBLE_EQ(d->q3, 2);
  EXPECT_DOUBLE_EQ(d->lower_fence, -10.5);
  EXPECT_DOUBLE_EQ(d->upper_fence, 9.5);
  EXPECT_EQ(d->outliers, std::vector<std::size_t>{7});
}

TEST(StatsDescribe, KeepsPrecisionUnderALargeOffset) {
  const std::vector<double> d3{1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3, 1e9 + 0.4};
  const auto d = describe(d3);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(near_relative(d->mean, 1000000000.25, kTight));      // mean(d3)
  EXPECT_TRUE(near_relative(*d->sd, 0.12909941409387804, 1e-10));  // sd(d3)
}

TEST(StatsDescribe, MatchesROnALargeSample) {
  const auto d4 = testdata::normalish(1, 200, 1000, 50);
  const auto d = describe(d4);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(near_relative(d->mean, 995.69061541557312, kTight));  // mean(normalish(1, 200, 1000, 50))
  EXPECT_TRUE(near_relative(*d->sd, 50.622251340247175, kTight));   // sd(...)
  EXPECT_TRUE(near_relative(d->q1, 958.26243162155151, kTight));    // quantile(..., c(.25, .5, .75), type = 7)
  EXPECT_TRUE(near_relative(d->median, 995.06094455718994, kTight));
  EXPECT_TRUE(near_relative(d->q3, 1024.5327591896057, kTight));
}

TEST(StatsDescribe, TinySamples) {
  const std::vector<double> one{5};
  const auto d = describe(one);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->mean, 5);
  EXPECT_FALSE(d->sd.has_value());
  EXPECT_FALSE(d->cv.has_value());
  EXPECT_EQ(d->median, 5);
  EXPECT_EQ(d->q1, 5);
  EXPECT_EQ(d->iqr, 0);
  EXPECT_TRUE(d->outliers.empty());

  const std::vector<double> two{-1, 1};
  const auto d2 = describe(two);
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(d2->mean, 0);
  EXPECT_TRUE(near_relative(*d2->sd, std::sqrt(2.0), kTight));
  EXPECT_FALSE(d2->cv.has_value()) << "no coefficient of variation around a zero mean";
  EXPECT_EQ(d2->q1, -0.5);
}

TEST(StatsDescribe, RefusesEmptyAndNonFiniteSamples) {
  const auto empty = describe({});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.reason().find("empty"), std::string::npos) << empty.reason();
  EXPECT_THROW(empty.value(), std::logic_error);

  const std::vector<double> with_nan{1, 2, std::nan("")};
  EXPECT_NE(describe(with_nan).reason().find("[2] is NaN"), std::string::npos) << describe(with_nan).reason();
  const std::vector<double> with_inf{1, std::numeric_limits<double>::infinity()};
  EXPECT_NE(describe(with_inf).reason().find("[1] is infinite"), std::string::npos);
}

TEST(StatsQuantile, MatchesRType7) {
  std::vector<double> d2{-3, -3, 0, 2, 2, 2, 7, -20};
  std::sort(d2.begin(), d2.end());
  // quantile(d2, c(0, 0.1, 0.33, 0.9, 1), type = 7)
  EXPECT_EQ(quantile_sorted(d2, 0), -20);
  EXPECT_TRUE(near_relative(quantile_sorted(d2, 0.1), -8.0999999999999979, kTight));
  EXPECT_TRUE(near_relative(quantile_sorted(d2, 0.33), -2.0699999999999998, kTight));
  EXPECT_TRUE(near_relative(quantile_sorted(d2, 0.9), 3.4999999999999991, kTight));
  EXPECT_EQ(quantile_sorted(d2, 1), 7);
  const std::vector<double> single{4.5};
  EXPECT_EQ(quantile_sorted(single, 0.3), 4.5);
  EXPECT_THROW(quantile_sorted({}, 0.5), std::invalid_argument);
  EXPECT_THROW(quantile_sorted(single, 1.5), std::invalid_argument);
  EXPECT_THROW(quantile_sorted(single, std::nan("")), std::invalid_argument);
}

TEST(StatsRanks, AverageTies) {
  const std::vector<double> values{3.5, 1, 2, 3.5, 3.5, -1, 10, 2};
  // rank(values, ties.method = "average")
  EXPECT_EQ(average_ranks(values), (std::vector<double>{6, 2, 3.5, 6, 6, 1, 8, 3.5}));
  EXPECT_TRUE(average_ranks({}).empty());
}

TEST(StatsAdjust, HolmAndBonferroniMatchRWithUnsortedTiedPValues) {
  const std::vector<double> p{0.04, 0.01, 0.03, 0.005, 0.2, 0.04, 0.5};
  // p.adjust(p, "holm")
  const std::vector<double> holm{0.16, 0.06, 0.15, 0.035, 0.4, 0.16, 0.5};
  // p.adjust(p, "bonferroni")
  const std::vector<double> bonferroni{0.28, 0.07, 0.21, 0.035, 1, 0.28, 1};
  const auto h = adjust_p_values(p, Correction::holm);
  const auto b = adjust_p_values(p, Correction::bonferroni);
  ASSERT_EQ(h.size(), p.size());
  ASSERT_EQ(b.size(), p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    EXPECT_TRUE(near_relative(h[i], holm[i], kTight)) << i;
    EXPECT_TRUE(near_relative(b[i], bonferroni[i], kTight)) << i;
  }
  EXPECT_EQ(adjust_p_values(p, Correction::none), p);
}

TEST(StatsAdjust, NaNStaysInPlaceAndDoesNotCountAsATest) {
  const std::vector<double> p{0.02, std::nan(""), 0.01, 0.3};
  // p.adjust(c(0.02, NaN, 0.01, 0.3), "holm"): n = 3, the non-NA count
  const auto h = adjust_p_values(p, Correction::holm);
  EXPECT_TRUE(near_relative(h[0], 0.04, kTight));
  EXPECT_TRUE(std::isnan(h[1]));
  EXPECT_TRUE(near_relative(h[2], 0.03, kTight));
  EXPECT_TRUE(near_relative(h[3], 0.3, kTight));
  // p.adjust(c(0.02, NaN, 0.01, 0.3), "bonferroni")
  const auto b = adjust_p_values(p, Correction::bonferroni);
  EXPECT_TRUE(near_relative(b[0], 0.06, kTight));
  EXPECT_TRUE(std::isnan(b[1]));
  EXPECT_TRUE(near_relative(b[2], 0.03, kTight));
  EXPECT_TRUE(near_relative(b[3], 0.9, kTight));
}

TEST(StatsAdjust, EdgeCases) {
  EXPECT_TRUE(adjust_p_values({}, Correction::holm).empty());
  const std::vector<double> one{0.3};
  EXPECT_EQ(adjust_p_values(one, Correction::holm), one);  // p.adjust(0.3, "holm")
  EXPECT_EQ(adjust_p_values(one, Correction::bonferroni), one);
  const std::vector<double> large{0.6, 0.7};
  EXPECT_EQ(adjust_p_values(large, Correction::holm), (std::vector<double>{1, 1}));
}

TEST(StatsNames, AreTheDocumentedStrings) {
  EXPECT_EQ(alternative_name(Alternative::two_sided), "two-sided");
  EXPECT_EQ(alternative_name(Alternative::less), "less");
  EXPECT_EQ(alternative_name(Alternative::greater), "greater");
  EXPECT_EQ(correction_name(Correction::holm), "holm");
  EXPECT_EQ(correction_name(Correction::bonferroni), "bonferroni");
  EXPECT_EQ(correction_name(Correction::none), "none");
  EXPECT_EQ(effect_magnitude_name(EffectMagnitude::negligible), "negligible");
  EXPECT_EQ(effect_magnitude_name(EffectMagnitude::small), "small");
  EXPECT_EQ(effect_magnitude_name(EffectMagnitude::medium), "medium");
  EXPECT_EQ(effect_magnitude_name(EffectMagnitude::large), "large");
}

}  // namespace
}  // namespace joulebench::stats

// Vargha-Delaney A12 and Cliff's delta against their definitions over all pairs, computed in R
// (tests/reference/stats_reference.R): a12 <- mean(outer(x, y, ">")) + 0.5 * mean(outer(x, y, "=="));
// cliff <- mean(sign(outer(x, y, "-"))).
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "joulebench/stats.hpp"
#include "unit/stats_test_data.hpp"

namespace joulebench::stats {
namespace {

using testdata::near_relative;

constexpr double kTight = 1e-12;

const std::vector<double> kX{10, 12, 12, 15, 9, 11, 14};
const std::vector<double> kY{8, 12, 9, 10, 10, 13};

TEST(StatsEffectSize, TiesMatchTheDefinition) {
  const auto a = vargha_delaney_a12(kX, kY);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(near_relative(a->value, 0.70238095238095244, kTight));                     // a12(x, y)
  EXPECT_EQ(a->magnitude, EffectMagnitude::medium);                                      // 0.70 in [0.64, 0.71)
  EXPECT_EQ(vargha_delaney_a12(kX, kY, kA12Study)->magnitude, EffectMagnitude::medium);  // in [0.7, 0.8)
  const auto d = cliffs_delta(kX, kY);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(near_relative(d->value, 0.40476190476190477, kTight));  // cliff(x, y)
  EXPECT_EQ(d->magnitude, EffectMagnitude::medium);                   // 0.40 in [0.33, 0.474)
}

TEST(StatsEffectSize, SwappingTheSamplesMirrorsTheValueAndKeepsTheMagnitude) {
  const auto a = vargha_delaney_a12(kY, kX);
  EXPECT_TRUE(near_relative(a->value, 1 - 0.70238095238095244, kTight));
  EXPECT_EQ(a->magnitude, EffectMagnitude::medium);
  const auto d = cliffs_delta(kY, kX);
  EXPECT_TRUE(near_relative(d->value, -0.40476190476190477, kTight));
  EXPECT_EQ(d->magnitude, EffectMagnitude::medium);
}

TEST(StatsEffectSize, LargeSamplesMatchTheDefinition) {
  const auto x = testdata::normalish(50, 200, 100, 10);
  const auto y = testdata::quartered(testdata::normalish(51, 300, 98, 10));
  // a12(normalish(50, 200, 100, 10), quartered(normalish(51, 300, 98, 10))), cliff(...)
  EXPECT_TRUE(near_relative(vargha_delaney_a12(x, y)->value, 0.51496666666666668, kTight));
  EXPECT_TRUE(near_relative(cliffs_delta(x, y)->value, 0.029933333333333333, kTight));
  EXPECT_EQ(vargha_delaney_a12(x, y)->magnitude, EffectMagnitude::negligible);
  EXPECT_EQ(cliffs_delta(x, y)->magnitude, EffectMagnitude::negligible);
}

TEST(StatsEffectSize, ThresholdsAreInclusiveOnBothSides) {
  // y = 0..9; x beats 10 seven times, 1 once, none twice: U = 71 of 100 pairs, A12 = 0.71 exactly.
  std::vector<double> y(10);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i);
  const std::vector<double> x{9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 0.5, -1, -1};
  EXPECT_EQ(vargha_delaney_a12(x, y)->value, 0.71);
  EXPECT_EQ(vargha_delaney_a12(x, y)->magnitude, EffectMagnitude::large);
  EXPECT_EQ(vargha_delaney_a12(y, x)->value, 0.29);
  EXPECT_EQ(vargha_delaney_a12(y, x)->magnitude, EffectMagnitude::large) << "1 - 0.29 is judged as 0.71";
  EXPECT_EQ(cliffs_delta(x, y)->value, 0.42);
  EXPECT_EQ(cliffs_delta(y, x)->magnitude, EffectMagnitude::medium);
  const std::vector<double> same{1, 2};
  EXPECT_EQ(vargha_delaney_a12(same, same)->value, 0.5);
  EXPECT_EQ(cliffs_delta(same, same)->value, 0);
  EXPECT_EQ(cliffs_delta(same, same)->magnitude, EffectMagnitude::negligible);
}

TEST(StatsEffectSize, SingleValues) {
  const std::vector<double> one{1};
  const std::vector<double> two{2};
  EXPECT_EQ(vargha_delaney_a12(one, two)->value, 0);
  EXPECT_EQ(cliffs_delta(one, two)->value, -1);
  EXPECT_EQ(cliffs_delta(one, two)->magnitude, EffectMagnitude::large);
  EXPECT_EQ(vargha_delaney_a12(one, one)->value, 0.5);
}

TEST(StatsEffectSize, RefusesDegenerateInput) {
  const std::vector<double> some{1, 2};
  EXPECT_EQ(vargha_delaney_a12({}, some).reason(), "x is empty");
  EXPECT_EQ(cliffs_delta(some, {}).reason(), "y is empty");
  const std::vector<double> with_inf{1, -INFINITY};
  EXPECT_NE(cliffs_delta(with_inf, some).reason().find("x[1] is infinite"), std::string::npos);
}

}  // namespace
}  // namespace joulebench::stats

// The two-sample bootstrap of a ratio. Two kinds of reference (tests/reference/stats_reference.py):
// - the same resamples: the script replays joulebench's defined random stream and resampling
//   order in Python, then computes the interval with SciPy's own BCa code
//   (scipy.stats._resampling._bca_interval) and np.percentile. Only rounding separates the two.
// - scipy.stats.bootstrap with its own random stream (200000 resamples): agreement within
//   Monte-Carlo error only.
#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "joulebench/stats.hpp"
#include "stats/random.hpp"
#include "unit/stats_test_data.hpp"

namespace joulebench::stats {
namespace {

using testdata::near_relative;
using testdata::normalish;
using testdata::skewed;

TEST(StatsRandom, XoshiroMatchesTheReferenceImplementation) {
  // Vigna's xoshiro256starstar.c from the state {1, 2, 3, 4} (the vector rand_xoshiro tests with).
  auto rng = detail::Xoshiro256StarStar::from_state({1, 2, 3, 4});
  const std::array<std::uint64_t, 10> expected{11520ULL,
                                               0ULL,
                                               1509978240ULL,
                                               1215971899390074240ULL,
                                               1216172134540287360ULL,
                                               607988272756665600ULL,
                                               16172922978634559625ULL,
                                               8476171486693032832ULL,
                                               10595114339597558777ULL,
                                               2904607092377533576ULL};
  for (auto value : expected) EXPECT_EQ(rng.next(), value);
  // splitmix64 from 0: its first output is 0xe220a8397b1dcdaf.
  std::uint64_t state = 0;
  EXPECT_EQ(detail::splitmix64(state), 0xe220a8397b1dcdafULL);
}

TEST(StatsRandom, SeedingAndBoundedDrawsMatchThePythonTwin) {
  // stats_reference.py: xoshiro42.first5, xoshiro7.below10, xoshiro7.below_3e18
  detail::Xoshiro256StarStar rng(42);
  for (std::uint64_t value : {1546998764402558742ULL, 6990951692964543102ULL, 12544586762248559009ULL,
                              17057574109182124193ULL, 18295552978065317476ULL}) {
    EXPECT_EQ(rng.next(), value);
  }
  detail::Xoshiro256StarStar seven(7);
  for (std::uint64_t value : {7, 2, 8, 9, 9, 8, 0, 1, 4, 1, 5, 7, 9, 8, 4, 5, 2, 4, 1, 1}) {
    EXPECT_EQ(seven.below(10), value);
  }
  detail::Xoshiro256StarStar seven_wide(7);  // a range where rejection is likely (3e18 of 2^64)
  for (std::uint64_t value : {2101729446539069055ULL, 836253688421353037ULL, 2518882385629259434ULL,
                              2943293175044805348ULL, 2972580836499204921ULL}) {
    EXPECT_EQ(seven_wide.below(3'000'000'000'000'000'000ULL), value);
  }
}

struct Case {
  RatioOf ratio_of;
  BootstrapMethod method;
  double confidence;
  std::uint64_t seed;
  double estimate;
  double lower;
  double upper;
};

TEST(StatsBootstrap, SameResamplesGiveSciPysInterval) {
  const auto x = normalish(60, 25, 100, 15);
  const auto y = skewed(61, 30, 70, 30);
  // replicate(name, normalish(60, 25, 100, 15), skewed(61, 30, 70, 30), ratio_of, method, 2000, seed)
  const Case cases[] = {
      {RatioOf::mean, BootstrapMethod::bca, 0.95, 42, 1.2693241462538092, 1.1592182261630839, 1.367408704908829},
      {RatioOf::median, BootstrapMethod::bca, 0.95, 42, 1.3646791768051605, 1.1997428494236866, 1.5082276733888536},
      {RatioOf::mean, BootstrapMethod::percentile, 0.9, 42, 1.2693241462538092, 1.1816852152897093, 1.3569040241560824},
      {RatioOf::median, BootstrapMethod::percentile, 0.95, 42, 1.3646791768051605, 1.1582606686006476,
       1.481948384084798},
      {RatioOf::mean, BootstrapMethod::bca, 0.95, 7, 1.2693241462538092, 1.1613865699459556, 1.373622423994628},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << (c.ratio_of == RatioOf::mean ? "mean " : "median ")
                                    << (c.method == BootstrapMethod::bca ? "bca " : "percentile ") << c.seed);
    const auto r = bootstrap_ratio(x, y, {c.ratio_of, c.method, c.confidence, 2000, c.seed});
    ASSERT_TRUE(r.ok()) << r.reason();
    EXPECT_TRUE(near_relative(r->estimate, c.estimate, 1e-14));
    EXPECT_TRUE(near_relative(r->lower, c.lower, 1e-12));
    EXPECT_TRUE(near_relative(r->upper, c.upper, 1e-12));
    EXPECT_EQ(r->resamples, 2000u);
    EXPECT_EQ(r->confidence, c.confidence);
    EXPECT_EQ(r->method, c.method);
  }
}

TEST(StatsBootstrap, MedianOfEvenAndOddSamplesGivesSciPysInterval) {
  // replicate("boot_even_odd_median_bca", normalish(62, 10, 50, 5), skewed(63, 11, 40, 20), "median", "bca", 1000, 3)
  const auto r = bootstrap_ratio(normalish(62, 10, 50, 5), skewed(63, 11, 40, 20),
                                 {RatioOf::median, BootstrapMethod::bca, 0.95, 1000, 3});
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_TRUE(near_relative(r->estimate, 0.96265532331640324, 1e-14));
  EXPECT_TRUE(near_relative(r->lower, 0.86781014321261563, 1e-12));
  EXPECT_TRUE(near_relative(r->upper, 1.1617094271313566, 1e-12));
}

TEST(StatsBootstrap, AgreesWithSciPysBootstrapWithinMonteCarloError) {
  const auto x = normalish(64, 60, 100, 15);
  const auto y = skewed(65, 80, 70, 30);
  struct Reference {
    RatioOf ratio_of;
    BootstrapMethod method;
    double lower;
    double upper;
  };
  // stats.bootstrap((x, y), lambda a, b, axis: stat(a, axis) / stat(b, axis), n_resamples=200000,
  //                 method, random_state=np.random.default_rng(1))
  const Reference references[] = {
      {RatioOf::mean, BootstrapMethod::bca, 1.1645182606064228, 1.2724602671823235},
      {RatioOf::mean, BootstrapMethod::percentile, 1.1645560123551839, 1.2725118061051293},
      {RatioOf::median, BootstrapMethod::bca, 1.1925157881397404, 1.3398726280003164},
      {RatioOf::median, BootstrapMethod::percentile, 1.1740428627800534, 1.3246185644934219},
  };
  for (const auto& ref : references) {
    const auto r = bootstrap_ratio(x, y, {ref.ratio_of, ref.method, 0.95, 100000, 42});
    ASSERT_TRUE(r.ok()) << r.reason();
    // Both runs' Monte-Carlo error is well below 1% of either bound (the bound's standard error is
    // about 0.2% of the interval's width for the mean; the median's lumpier distribution allows 2%).
    const double width = ref.upper - ref.lower;
    const double allowed = (ref.ratio_of == RatioOf::mean ? 0.01 : 0.02) * width;
    EXPECT_NEAR(r->lower, ref.lower, allowed) << "ratio of " << (ref.ratio_of == RatioOf::mean ? "means" : "medians");
    EXPECT_NEAR(r->upper, ref.upper, allowed) << "ratio of " << (ref.ratio_of == RatioOf::mean ? "means" : "medians");
  }
}

TEST(StatsBootstrap, ASeedReproducesTheIntervalAndAnotherChangesIt) {
  const auto x = normalish(66, 40, 100, 15);
  const auto y = normalish(67, 50, 90, 12);
  for (auto ratio_of : {RatioOf::mean, RatioOf::median}) {
    const BootstrapOptions options{ratio_of, BootstrapMethod::bca, 0.95, 3000, 1234};
    const auto first = bootstrap_ratio(x, y, options);
    const auto second = bootstrap_ratio(x, y, options);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(first->lower, second->lower);
    EXPECT_EQ(first->upper, second->upper);

    auto reseeded = options;
    reseeded.seed = 1235;
    const auto other = bootstrap_ratio(x, y, reseeded);
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(other->estimate, first->estimate);
    EXPECT_TRUE(other->lower != first->lower || other->upper != first->upper);

    // The samples are sorted before resampling, so the input's order does not matter.
    auto shuffled_x = x;
    std::reverse(shuffled_x.begin(), shuffled_x.end());
    std::rotate(shuffled_x.begin(), shuffled_x.begin() + 7, shuffled_x.end());
    const auto reordered = bootstrap_ratio(shuffled_x, y, options);
    EXPECT_EQ(reordered->lower, first->lower);
    EXPECT_EQ(reordered->upper, first->upper);
  }
}

TEST(StatsBootstrap, SharedDrawsGiveEachRatioTheIntervalItGetsAlone) {
  // More ratios than one block of the mean's kernel (8), one unavailable from the start (a NaN)
  // and one whose resampled denominator becomes 0: none changes any other's interval.
  std::vector<std::vector<double>> xs;
  std::vector<std::vector<double>> ys;
  for (std::int64_t k = 0; k < 11; ++k) {
    xs.push_back(normalish(70 + k, 30, 100 + 5 * static_cast<double>(k), 15));
    ys.push_back(skewed(90 + k, 25, 70, 30));
  }
  xs[3][4] = std::nan("");
  ys[6] = std::vector<double>(25, 1);
  ys[6][0] = 0;
  ys[6][1] = -24;  // mean 0 in a resample that draws -24 once and 1 24 times (p = 0.13)
  std::vector<RatioSamples> samples;
  for (std::size_t k = 0; k < xs.size(); ++k) samples.push_back({xs[k], ys[k]});
  for (auto ratio_of : {RatioOf::mean, RatioOf::median}) {
    for (auto method : {BootstrapMethod::bca, BootstrapMethod::percentile}) {
      const BootstrapOptions options{ratio_of, method, 0.95, 2000, 99};
      const auto shared = bootstrap_ratios(samples, options);
      ASSERT_EQ(shared.size(), samples.size());
      for (std::size_t k = 0; k < samples.size(); ++k) {
        SCOPED_TRACE(testing::Message() << "ratio " << k << (ratio_of == RatioOf::mean ? " mean " : " median ")
                                        << (method == BootstrapMethod::bca ? "bca" : "percentile"));
        const auto alone = bootstrap_ratio(xs[k], ys[k], options);
        ASSERT_EQ(shared[k].ok(), alone.ok()) << shared[k].reason() << " / " << alone.reason();
        if (!alone.ok()) {
          EXPECT_EQ(shared[k].reason(), alone.reason());
          continue;
        }
        EXPECT_EQ(shared[k]->estimate, alone->estimate);
        EXPECT_EQ(shared[k]->lower, alone->lower);
        EXPECT_EQ(shared[k]->upper, alone->upper);
      }
      EXPECT_NE(shared[3].reason().find("x[4] is NaN"), std::string::npos) << shared[3].reason();
      if (ratio_of == RatioOf::mean) {
        EXPECT_NE(shared[6].reason().find("is 0 in resample"), std::string::npos) << shared[6].reason();
      }
      EXPECT_TRUE(shared[0].ok() && shared[10].ok());
    }
  }
}

TEST(StatsBootstrap, SharedDrawsReplaySciPysInterval) {
  // The first case of SameResamplesGiveSciPysInterval, as one of two ratios sharing the draws.
  const auto x = normalish(60, 25, 100, 15);
  const auto y = skewed(61, 30, 70, 30);
  const auto other_x = normalish(80, 25, 50, 5);
  const auto other_y = normalish(81, 30, 40, 5);
  const std::vector<RatioSamples> samples{{other_x, other_y}, {x, y}};
  const auto r = bootstrap_ratios(samples, {RatioOf::mean, BootstrapMethod::bca, 0.95, 2000, 42});
  ASSERT_TRUE(r[1].ok()) << r[1].reason();
  EXPECT_TRUE(near_relative(r[1]->lower, 1.1592182261630839, 1e-12));
  EXPECT_TRUE(near_relative(r[1]->upper, 1.367408704908829, 1e-12));
}

TEST(StatsBootstrap, SharedDrawsNeedSamplesOfOneSize) {
  const std::vector<double> three{1, 2, 3};
  const std::vector<double> four{1, 2, 3, 4};
  EXPECT_TRUE(bootstrap_ratios({}).empty());
  const std::vector<RatioSamples> different_x{{three, four}, {four, four}};
  EXPECT_THROW(bootstrap_ratios(different_x), std::invalid_argument);
  const std::vector<RatioSamples> different_y{{three, four}, {three, three}};
  EXPECT_THROW(bootstrap_ratios(different_y), std::invalid_argument);
}

TEST(StatsBootstrap, IntervalContainsTheEstimateAndNarrowsWithLowerConfidence) {
  const auto x = normalish(68, 100, 50, 5);
  const auto y = normalish(69, 100, 40, 5);
  const auto wide = bootstrap_ratio(x, y, {RatioOf::mean, BootstrapMethod::bca, 0.99, 5000, 1});
  const auto narrow = bootstrap_ratio(x, y, {RatioOf::mean, BootstrapMethod::bca, 0.8, 5000, 1});
  ASSERT_TRUE(wide.ok() && narrow.ok());
  EXPECT_LT(wide->lower, narrow->lower);
  EXPECT_LT(narrow->lower, narrow->estimate);
  EXPECT_LT(narrow->estimate, narrow->upper);
  EXPECT_LT(narrow->upper, wide->upper);
}

TEST(StatsBootstrap, ConstantSamples) {
  const std::vector<double> twos{2, 2, 2};
  const std::vector<double> ones{1, 1, 1, 1};
  const auto percentile = bootstrap_ratio(twos, ones, {RatioOf::mean, BootstrapMethod::percentile, 0.95, 100, 1});
  ASSERT_TRUE(percentile.ok());
  EXPECT_EQ(percentile->lower, 2);
  EXPECT_EQ(percentile->upper, 2);
  const auto bca = bootstrap_ratio(twos, ones, {RatioOf::median, BootstrapMethod::bca, 0.95, 100, 1});
  ASSERT_FALSE(bca.ok());
  EXPECT_NE(bca.reason().find("every value is equal"), std::string::npos) << bca.reason();
}

TEST(StatsBootstrap, RefusesDegenerateInput) {
  const std::vector<double> one{1};
  const std::vector<double> some{1, 2, 3};
  EXPECT_NE(bootstrap_ratio(one, some).reason().find("at least 2 values in x"), std::string::npos);
  EXPECT_NE(bootstrap_ratio(some, one).reason().find("at least 2 values in y"), std::string::npos);
  const std::vector<double> with_nan{1, std::nan("")};
  EXPECT_NE(bootstrap_ratio(some, with_nan).reason().find("y[1] is NaN"), std::string::npos);

  const std::vector<double> zero_mean{-1, 1};
  EXPECT_EQ(bootstrap_ratio(some, zero_mean).reason(), "the mean of y (the denominator) is 0");
  // Resampling {0, 1, 2} draws three zeros with probability 1/27: it happens within 2000 resamples.
  const std::vector<double> can_draw_zero{0, 1, 2};
  const auto resampled_zero =
      bootstrap_ratio(some, can_draw_zero, {RatioOf::mean, BootstrapMethod::bca, 0.95, 2000, 42});
  ASSERT_FALSE(resampled_zero.ok());
  EXPECT_NE(resampled_zero.reason().find("is 0 in resample"), std::string::npos) << resampled_zero.reason();
  const std::vector<double> median_can_be_zero{0, 0, 1, 2, 3};
  EXPECT_NE(bootstrap_ratio(some, median_can_be_zero, {RatioOf::median, BootstrapMethod::percentile, 0.95, 2000, 42})
                .reason()
                .find("median of y (the denominator) is 0 in resample"),
            std::string::npos);

  EXPECT_NE(bootstrap_ratio(some, some, {RatioOf::mean, BootstrapMethod::bca, 1.0, 100, 1}).reason().find("confidence"),
            std::string::npos);
  EXPECT_NE(bootstrap_ratio(some, some, {RatioOf::mean, BootstrapMethod::bca, std::nan(""), 100, 1})
                .reason()
                .find("confidence"),
            std::string::npos);
  EXPECT_NE(bootstrap_ratio(some, some, {RatioOf::mean, BootstrapMethod::bca, 0.95, 0, 1}).reason().find("resample"),
            std::string::npos);
}

}  // namespace
}  // namespace joulebench::stats

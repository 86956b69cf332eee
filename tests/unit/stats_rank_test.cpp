// Mann-Whitney U, Kruskal-Wallis H and Spearman's rho against R 4.2.2 and SciPy 1.10. The values
// come from tests/reference/stats_reference.R and stats_reference.py; the call is given beside
// each. Where R and SciPy run the same algorithm, the tolerance is 1e-12 relative (they differ
// from each other by up to ~1e-13 in the exact tail sums).
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "joulebench/stats.hpp"
#include "unit/stats_test_data.hpp"

namespace joulebench::stats {
namespace {

using testdata::near_relative;
using testdata::normalish;
using testdata::quartered;

constexpr double kTight = 1e-12;

struct Expected {
  double two_sided;
  double less;
  double greater;
};

void expect_p_values(std::span<const double> x, std::span<const double> y, MannWhitneyMethod method,
                     const Expected& expected, double tolerance = kTight) {
  const std::pair<Alternative, double> cases[] = {{Alternative::two_sided, expected.two_sided},
                                                  {Alternative::less, expected.less},
                                                  {Alternative::greater, expected.greater}};
  for (const auto& [alternative, p] : cases) {
    const auto r = mann_whitney(x, y, alternative, method);
    ASSERT_TRUE(r.ok()) << r.reason();
    EXPECT_TRUE(near_relative(r->p_value, p, tolerance)) << alternative_name(alternative);
  }
}

// ---- Mann-Whitney ----

const std::vector<double> kAbX{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
const std::vector<double> kAbY{1.15, 0.88, 0.90, 0.74, 1.21};

TEST(StatsMannWhitney, ExactWithoutTiesMatchesRAndSciPy) {
  // wilcox.test(x, y, alternative, exact = TRUE); stats.mannwhitneyu(x, y, alternative, method="exact")
  expect_p_values(kAbX, kAbY, MannWhitneyMethod::exact, {0.2544122544122544, 0.89676989676989671, 0.1272061272061272});
  const auto r = mann_whitney(kAbX, kAbY);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->u, 35);  // wilcox.test(x, y)$statistic; mannwhitneyu(x, y).statistic
  EXPECT_EQ(r->method, MannWhitneyMethod::exact) << "automatic: no ties and both samples at most 50";
  EXPECT_FALSE(r->ties);
  EXPECT_FALSE(r->z.has_value());
  EXPECT_TRUE(near_relative(r->p_value, 0.2544122544122544, kTight));
}

TEST(StatsMannWhitney, NormalApproximationMatchesRAndSciPy) {
  // wilcox.test(x, y, alternative, exact = FALSE, correct = TRUE)
  expect_p_values(kAbX, kAbY, MannWhitneyMethod::normal,
                  {0.24462360512698336, 0.90077534820399385, 0.12231180256349168});
  const auto r = mann_whitney(kAbX, kAbY, Alternative::two_sided, MannWhitneyMethod::normal);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->method, MannWhitneyMethod::normal);
  // (35 - 10 * 5 / 2 - 0.5) / sqrt(10 * 5 / 12 * 16)
  EXPECT_TRUE(near_relative(*r->z, 9.5 / std::sqrt(50.0 / 12 * 16), kTight));
}

TEST(StatsMannWhitney, TiesUseTheTieCorrectedNormalApproximation) {
  const std::vector<double> x{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30};
  const std::vector<double> y{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29};
  // wilcox.test(x, y, alternative, exact = FALSE, correct = TRUE);
  // stats.mannwhitneyu(x, y, alternative, method="asymptotic") agrees to 1e-15
  expect_p_values(x, y, MannWhitneyMethod::automatic, {0.13291945818531886, 0.94420440028971275, 0.066459729092659431});
  const auto r = mann_whitney(x, y);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->u, 58);
  EXPECT_TRUE(r->ties);
  EXPECT_EQ(r->method, MannWhitneyMethod::normal);

  const auto forced = mann_whitney(x, y, Alternative::two_sided, MannWhitneyMethod::exact);
  ASSERT_FALSE(forced.ok());
  EXPECT_NE(forced.reason().find("ties"), std::string::npos) << forced.reason();
}

TEST(StatsMannWhitney, TinySamples) {
  const std::vector<double> one{1};
  const std::vector<double> two{2};
  // wilcox.test(1, 2, alternative, exact = TRUE / exact = FALSE)
  expect_p_values(one, two, MannWhitneyMethod::exact, {1, 0.5, 1});
  expect_p_values(one, two, MannWhitneyMethod::normal, {1, 0.5, 0.97724986805182079});
  EXPECT_EQ(mann_whitney(one, two)->u, 0);

  const std::vector<double> x2{1, 3};
  // wilcox.test(c(1, 3), 2, alternative, exact = TRUE / FALSE)
  expect_p_values(x2, two, MannWhitneyMethod::exact, {1, 0.66666666666666663, 0.66666666666666674});
  expect_p_values(x2, two, MannWhitneyMethod::normal, {1, 0.72985431269628998, 0.72985431269628998});
  EXPECT_EQ(mann_whitney(x2, two)->u, 1);

  const std::vector<double> x3{1, 2, 3};
  const std::vector<double> y3{4, 5, 6};
  // wilcox.test(1:3, 4:6, alternative, exact = TRUE / FALSE); SciPy exact and asymptotic agree
  expect_p_values(x3, y3, MannWhitneyMethod::exact, {0.1, 0.05, 1});
  expect_p_values(x3, y3, MannWhitneyMethod::normal, {0.080855598370052295, 0.040427799185026148, 0.98545183412937387});

  const std::vector<double> y3_tie{3, 4, 5};
  // wilcox.test(1:3, 3:5, alternative, exact = FALSE, correct = TRUE)
  expect_p_values(x3, y3_tie, MannWhitneyMethod::automatic,
                  {0.12118327283746319, 0.060591636418731595, 0.97684920254244501});
  EXPECT_EQ(mann_whitney(x3, y3_tie)->u, 0.5);
}

TEST(StatsMannWhitney, ExactUpToFiftyPerSample) {
  const auto x40 = normalish(20, 40, 100, 10);
  const auto y45 = normalish(21, 45, 103, 10);
  // wilcox.test(x, y, alternative, exact = TRUE): R's own automatic choice here too
  expect_p_values(x40, y45, MannWhitneyMethod::automatic,
                  {0.0033811398415513078, 0.0016905699207756539, 0.99835875600647417});
  EXPECT_EQ(mann_whitney(x40, y45)->u, 570);

  const auto x50 = normalish(22, 50, 100, 10);
  const auto y50 = normalish(23, 50, 104, 10);
  // wilcox.test(x, y, alternative, exact = TRUE): joulebench's automatic choice is exact at 50
  // (R's switches to the normal approximation at 50)
  expect_p_values(x50, y50, MannWhitneyMethod::automatic,
                  {0.10920978663246673, 0.054604893316233367, 0.94615888112908186});
  // stats.mannwhitneyu(x, y, alternative, method="exact"): SciPy's sums differ from R's by 1e-14
  expect_p_values(x50, y50, MannWhitneyMethod::exact, {0.10920978663246551, 0.054604893316232757, 0.94615888112908342});
  const auto r = mann_whitney(x50, y50);
  EXPECT_EQ(r->u, 1017);
  EXPECT_EQ(r->method, MannWhitneyMethod::exact);
  // wilcox.test(x, y, alternative, exact = FALSE, correct = TRUE)
  expect_p_values(x50, y50, MannWhitneyMethod::normal, {0.10897591910806299, 0.054487959554031497, 0.946269075509238});
}

TEST(StatsMannWhitney, ExactTailFarBelowDoublePrecisionOfOne) {
  std::vector<double> x(50);
  std::vector<double> y(50);
  for (std::size_t i = 0; i < 50; ++i) {
    x[i] = static_cast<double>(51 + i);
    y[i] = static_cast<double>(1 + i);
  }
  // wilcox.test(51:100, 1:50, alternative, exact = TRUE): 2 / choose(100, 50) two-sided
  expect_p_values(x, y, MannWhitneyMethod::automatic, {1.9823306042836899e-29, 1, 9.9116530214184495e-30});
  // wilcox.test(51:100, 1:50, alternative, exact = FALSE, correct = TRUE)
  expect_p_values(x, y, MannWhitneyMethod::normal, {7.0660719303889642e-18, 1, 3.5330359651944821e-18}, 1e-10);
  EXPECT_EQ(mann_whitney(x, y)->u, 2500);
  EXPECT_EQ(mann_whitney(y, x)->u, 0);
}

TEST(StatsMannWhitney, LargeSamples) {
  const auto x100 = normalish(26, 100, 100, 10);
  const auto y100 = normalish(27, 100, 103, 10);
  // wilcox.test(x, y, alternative, exact = TRUE): the largest forced exact test (n1 n2 = 10000)
  expect_p_values(x100, y100, MannWhitneyMethod::exact,
                  {0.018213751822445903, 0.0091068759112229516, 0.99095358549351387});
  // wilcox.test(x, y, alternative, exact = FALSE, correct = TRUE): automatic above 50
  expect_p_values(x100, y100, MannWhitneyMethod::automatic,
                  {0.018440688765888631, 0.0092203443829443153, 0.99084014257220665});

  const auto x200 = normalish(24, 200, 100, 10);
  const auto y200 = normalish(25, 200, 102, 10);
  // wilcox.test(x, y, alternative, exact = FALSE, correct = TRUE)
  expect_p_values(x200, y200, MannWhitneyMethod::automatic,
                  {0.25446761446699012, 0.12723380723349506, 0.87294636806748738});
  EXPECT_EQ(mann_whitney(x200, y200)->u, 18682);
  const auto forced = mann_whitney(x200, y200, Alternative::two_sided, MannWhitneyMethod::exact);
  ASSERT_FALSE(forced.ok());
  EXPECT_NE(forced.reason().find("n1 * n2 <= 10000"), std::string::npos) << forced.reason();

  const auto x200t = quartered(normalish(24, 200, 10, 1));
  const auto y200t = quartered(normalish(25, 200, 10.2, 1));
  // wilcox.test(x, y, alternative, exact = FALSE, correct = TRUE); SciPy asymptotic agrees to 1e-16
  expect_p_values(x200t, y200t, MannWhitneyMethod::automatic,
                  {0.21809042981137094, 0.10904521490568547, 0.89111677133999267});
  EXPECT_EQ(mann_whitney(x200t, y200t)->u, 18579.5);
}

TEST(StatsMannWhitney, ExactAndNormalAgreeOnTheCentre) {
  // Symmetric samples: U = n1 n2 / 2 and every two-sided p-value is 1.
  const std::vector<double> x{1, 4, 5, 8};
  const std::vector<double> y{2, 3, 6, 7};
  for (auto method : {MannWhitneyMethod::exact, MannWhitneyMethod::normal}) {
    const auto r = mann_whitney(x, y, Alternative::two_sided, method);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->u, 8);
    EXPECT_EQ(r->p_value, 1);
  }
}

TEST(StatsMannWhitney, RefusesDegenerateInput) {
  const std::vector<double> some{1, 2, 3};
  const auto empty = mann_whitney({}, some);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.reason().find("at least one value"), std::string::npos);
  const std::vector<double> with_nan{1, std::nan("")};
  EXPECT_NE(mann_whitney(some, with_nan).reason().find("y[1] is NaN"), std::string::npos);
  const std::vector<double> fives{5, 5, 5};
  const std::vector<double> more_fives{5, 5};
  const auto equal = mann_whitney(fives, more_fives);
  ASSERT_FALSE(equal.ok());
  EXPECT_EQ(equal.reason(), "all values are equal");
}

// ---- Kruskal-Wallis ----

void expect_kruskal(const std::vector<std::vector<double>>& groups, double h, double df, double p) {
  const auto r = kruskal_wallis(groups);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_TRUE(near_relative(r->h, h, kTight));
  EXPECT_EQ(r->df, df);
  EXPECT_TRUE(near_relative(r->p_value, p, kTight));
}

TEST(StatsKruskalWallis, MatchesR) {
  // kruskal.test(list(c(2.9, 3.0, 2.5, 2.6, 3.2), c(3.8, 2.7, 4.0, 2.4), c(2.8, 3.4, 3.7, 2.2, 2.0)))
  expect_kruskal({{2.9, 3.0, 2.5, 2.6, 3.2}, {3.8, 2.7, 4.0, 2.4}, {2.8, 3.4, 3.7, 2.2, 2.0}}, 0.77142857142857224, 2,
                 0.67996477357889362);
  // kruskal.test(list(c(1.5, 2.5), c(3.5, 4.5, 5.5)))
  expect_kruskal({{1.5, 2.5}, {3.5, 4.5, 5.5}}, 3, 1, 0.083264516663550558);
}

TEST(StatsKruskalWallis, TiesMatchRAndSciPy) {
  // kruskal.test(list(c(1, 2, 2, 3), c(2, 3, 3, 4, 4), c(1, 1, 5))); stats.kruskal gives p 1e-15 apart
  expect_kruskal({{1, 2, 2, 3}, {2, 3, 3, 4, 4}, {1, 1, 5}}, 2.5089133089133111, 2, 0.28523078500439414);
  // kruskal.test(list(1, 3, 2, 2)): groups of one value
  expect_kruskal({{1}, {3}, {2}, {2}}, 2.9999999999999991, 3, 0.39162517627108967);
  // kruskal.test(list(quartered(normalish(40, 200, 10, 1)), quartered(normalish(41, 180, 10.3, 1)),
  //                   quartered(normalish(42, 220, 9.9, 1)))); stats.kruskal agrees
  expect_kruskal({quartered(normalish(40, 200, 10, 1)), quartered(normalish(41, 180, 10.3, 1)),
                  quartered(normalish(42, 220, 9.9, 1))},
                 11.448598796161477, 2, 0.0032656403886287301);
}

TEST(StatsKruskalWallis, RefusesDegenerateInput) {
  EXPECT_NE(kruskal_wallis(std::vector<std::vector<double>>{{1, 2}}).reason().find("two groups"), std::string::npos);
  EXPECT_NE(kruskal_wallis(std::vector<std::vector<double>>{{1, 2}, {}}).reason().find("group 1 is empty"),
            std::string::npos);
  EXPECT_NE(kruskal_wallis(std::vector<std::vector<double>>{{1, 2}, {3, INFINITY}}).reason().find("infinite"),
            std::string::npos);
  EXPECT_EQ(kruskal_wallis(std::vector<std::vector<double>>{{4, 4}, {4}}).reason(), "all values are equal");
}

// ---- Spearman ----

TEST(StatsSpearman, TiesMatchSciPy) {
  const std::vector<double> x{1, 2, 2, 3, 4, 4, 4, 6};
  const std::vector<double> y{2, 1, 3, 3, 5, 4, 6, 6};
  const auto r = spearman(x, y);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->n, 8u);
  // cor(x, y, method = "spearman") = 0.90077751054014776; stats.spearmanr(x, y) 1e-16 apart
  EXPECT_TRUE(near_relative(r->rho, 0.90077751054014776, kTight));
  EXPECT_TRUE(near_relative(r->p_value, 0.0022640090646742633, 1e-10));  // stats.spearmanr(x, y).pvalue
}

TEST(StatsSpearman, SmallestAndLargeSamples) {
  const std::vector<double> x3{1, 2, 3};
  const std::vector<double> y3{1, 3, 2};
  const auto r3 = spearman(x3, y3);
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(near_relative(r3->rho, 0.5, kTight));  // stats.spearmanr([1, 2, 3], [1, 3, 2])
  EXPECT_TRUE(near_relative(r3->p_value, 0.66666666666666674, 1e-10));

  const auto a = normalish(70, 200, 10, 1);
  const auto b = normalish(71, 200, 7, 1);
  std::vector<double> y(200);
  for (std::size_t i = 0; i < 200; ++i) y[i] = a[i] * 0.3 + b[i];
  // stats.spearmanr(quartered(normalish(70, 200, 10, 1)), quartered(normalish(70, 200, 10, 1) * 0.3 + normalish(71, 200, 7, 1)))
  const auto r = spearman(quartered(a), quartered(y));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(near_relative(r->rho, 0.36150898173416141, kTight));
  EXPECT_TRUE(near_relative(r->p_value, 1.4450450361957012e-07, 1e-10));
}

TEST(StatsSpearman, PerfectMonotoneRelation) {
  const std::vector<double> x{1, 2, 3, 4, 5};
  const std::vector<double> up{2, 4, 8, 16, 32};
  const std::vector<double> down{9, 7, 5, 3, 1};
  // stats.spearmanr gives rho 0.99999999999999989 and p 1.4e-24 (its correlation rounds below 1);
  // the exact rho is 1 and the t statistic infinite, so p is 0.
  EXPECT_EQ(spearman(x, up)->rho, 1);
  EXPECT_EQ(spearman(x, up)->p_value, 0);
  EXPECT_EQ(spearman(x, down)->rho, -1);
  EXPECT_EQ(spearman(x, down)->p_value, 0);
}

TEST(StatsSpearman, RefusesDegenerateInput) {
  const std::vector<double> three{1, 2, 3};
  const std::vector<double> two{1, 2};
  EXPECT_NE(spearman(three, two).reason().find("equal length"), std::string::npos);
  EXPECT_NE(spearman(two, two).reason().find("at least 3"), std::string::npos);
  const std::vector<double> constant{7, 7, 7};
  EXPECT_NE(spearman(three, constant).reason().find("y is constant"), std::string::npos);
  EXPECT_NE(spearman(constant, three).reason().find("x is constant"), std::string::npos);
  const std::vector<double> with_nan{1, std::nan(""), 3};
  EXPECT_NE(spearman(with_nan, three).reason().find("x[1] is NaN"), std::string::npos);
}

}  // namespace
}  // namespace joulebench::stats

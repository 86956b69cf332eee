// Randomised cross-check against SciPy at test time: 20 generated sample triples (a fixed seed;
// some rounded so that they tie) go to /usr/bin/python3, which prints SciPy's results as JSON.
// Skipped, saying so, where SciPy is not installed (Debian: python3-scipy).
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "joulebench/stats.hpp"
#include "unit/stats_test_data.hpp"

namespace joulebench::stats {
namespace {

namespace fs = std::filesystem;
using testdata::near_relative;

constexpr const char* kSciPyScript = R"(
import json, sys
import numpy as np
from scipy import stats

results = []
for case in json.load(open(sys.argv[1])):
    x, y, z = (np.array(case[k], dtype=float) for k in ("x", "y", "z"))
    r = {}
    ties = len(np.unique(np.concatenate([x, y]))) < len(x) + len(y)
    for alt in ("two-sided", "less", "greater"):
        r["mw_normal_" + alt] = stats.mannwhitneyu(x, y, alternative=alt, method="asymptotic").pvalue
        if not ties:
            r["mw_exact_" + alt] = stats.mannwhitneyu(x, y, alternative=alt, method="exact").pvalue
        r["welch_" + alt] = stats.ttest_ind(x, y, equal_var=False, alternative=alt).pvalue
    r["mw_u"] = stats.mannwhitneyu(x, y).statistic
    r["welch_t"] = stats.ttest_ind(x, y, equal_var=False).statistic
    k = stats.kruskal(x, y, z)
    r["kw_h"], r["kw_p"] = k.statistic, k.pvalue
    m = min(len(x), len(y))
    s = stats.spearmanr(x[:m], y[:m])
    r["sp_rho"], r["sp_p"] = s.correlation, s.pvalue
    r["mean_lower"], r["mean_upper"] = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    r["mean_lower_90"], r["mean_upper_90"] = stats.t.interval(0.9, len(y) - 1, loc=np.mean(y), scale=stats.sem(y))
    w = stats.shapiro(x)
    r["sw_w"], r["sw_p"] = w.statistic, w.pvalue
    results.append({key: float(value) for key, value in r.items()})
print(json.dumps(results))
)";

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("joulebench-stats-scipy-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Roughly normal values from std::mt19937_64 (whose output the standard defines), rounded to
/// halves when `ties` is set.
std::vector<double> generate(std::mt19937_64& rng, std::size_t n, double centre, bool ties) {
  std::vector<double> values(n);
  for (auto& v : values) {
    double sum = 0;
    for (int k = 0; k < 12; ++k) sum += static_cast<double>(rng() >> 11) * 0x1.0p-53;
    v = centre + 10 * (sum - 6);
    if (ties) v = std::floor(v * 2) / 2;
  }
  return values;
}

TEST(StatsSciPyCrossCheck, RandomSamplesAgree) {
  const std::string python = JOULEBENCH_TEST_PYTHON;
  if (std::system(("'" + python + "' -c 'import scipy' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import scipy: python3-scipy is missing (apt-get install python3-scipy)";
  }
  std::mt19937_64 rng(20240501);
  nlohmann::json cases = nlohmann::json::array();
  for (int i = 0; i < 20; ++i) {
    const bool ties = i % 3 == 2;
    const auto n1 = static_cast<std::size_t>(3 + rng() % 58);
    const auto n2 = static_cast<std::size_t>(3 + rng() % 58);
    const auto n3 = static_cast<std::size_t>(2 + rng() % 30);
    const double shift = 2.0 * (i % 5);
    cases.push_back({{"x", generate(rng, n1, 100, ties)},
                     {"y", generate(rng, n2, 100 + shift, ties)},
                     {"z", generate(rng, n3, 100 - shift, ties)}});
  }
  TempDir dir;
  std::ofstream(dir.path / "cases.json") << cases.dump();
  std::ofstream(dir.path / "check.py") << kSciPyScript;
  const std::string command = "'" + python + "' '" + (dir.path / "check.py").string() + "' '" +
                              (dir.path / "cases.json").string() + "' >'" + (dir.path / "out.json").string() + "' 2>'" +
                              (dir.path / "err.txt").string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_file(dir.path / "err.txt");
  const auto results = nlohmann::json::parse(read_file(dir.path / "out.json"));
  ASSERT_EQ(results.size(), cases.size());

  constexpr double kTolerance = 1e-9;  // same algorithms; Boost's and Cephes' distributions differ at ~1e-14
  int exact_cases = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    const auto x = cases[i]["x"].get<std::vector<double>>();
    const auto y = cases[i]["y"].get<std::vector<double>>();
    const auto z = cases[i]["z"].get<std::vector<double>>();
    const auto& expected = results[i];
    const std::pair<Alternative, std::string> alternatives[] = {
        {Alternative::two_sided, "two-sided"}, {Alternative::less, "less"}, {Alternative::greater, "greater"}};
    for (const auto& [alternative, name] : alternatives) {
      const auto normal = mann_whitney(x, y, alternative, MannWhitneyMethod::normal);
      ASSERT_TRUE(normal.ok()) << normal.reason();
      EXPECT_TRUE(near_relative(normal->p_value, expected["mw_normal_" + name].get<double>(), kTolerance)) << name;
      EXPECT_EQ(normal->u, expected["mw_u"].get<double>());
      if (expected.contains("mw_exact_" + name)) {
        const auto exact = mann_whitney(x, y, alternative, MannWhitneyMethod::exact);
        ASSERT_TRUE(exact.ok()) << exact.reason();
        EXPECT_TRUE(near_relative(exact->p_value, expected["mw_exact_" + name].get<double>(), kTolerance)) << name;
        ++exact_cases;
      }
      const auto welch = welch_t_test(x, y, alternative);
      ASSERT_TRUE(welch.ok()) << welch.reason();
      EXPECT_TRUE(near_relative(welch->p_value, expected["welch_" + name].get<double>(), kTolerance)) << name;
      EXPECT_TRUE(near_relative(welch->t, expected["welch_t"].get<double>(), kTolerance));
    }
    const auto mean95 = mean_interval(x);
    ASSERT_TRUE(mean95.ok()) << mean95.reason();
    EXPECT_TRUE(near_relative(mean95->lower, expected["mean_lower"].get<double>(), kTolerance));
    EXPECT_TRUE(near_relative(mean95->upper, expected["mean_upper"].get<double>(), kTolerance));
    const auto mean90 = mean_interval(y, 0.9);
    ASSERT_TRUE(mean90.ok()) << mean90.reason();
    EXPECT_TRUE(near_relative(mean90->lower, expected["mean_lower_90"].get<double>(), kTolerance));
    EXPECT_TRUE(near_relative(mean90->upper, expected["mean_upper_90"].get<double>(), kTolerance));
    const std::vector<std::vector<double>> groups{x, y, z};
    const auto kw = kruskal_wallis(groups);
    ASSERT_TRUE(kw.ok()) << kw.reason();
    EXPECT_TRUE(near_relative(kw->h, expected["kw_h"].get<double>(), kTolerance));
    EXPECT_TRUE(near_relative(kw->p_value, expected["kw_p"].get<double>(), kTolerance));

    const std::size_t m = std::min(x.size(), y.size());
    const auto sp = spearman(std::span(x).first(m), std::span(y).first(m));
    ASSERT_TRUE(sp.ok()) << sp.reason();
    EXPECT_NEAR(sp->rho, expected["sp_rho"].get<double>(), 1e-12);
    EXPECT_TRUE(near_relative(sp->p_value, expected["sp_p"].get<double>(), kTolerance));

    // SciPy's swilk.f works in single precision: agreement to about 1e-7 in W.
    const auto sw = shapiro_wilk(x);
    ASSERT_TRUE(sw.ok()) << sw.reason();
    EXPECT_NEAR(sw->w, expected["sw_w"].get<double>(), 1e-6);
    EXPECT_NEAR(sw->p_value, expected["sw_p"].get<double>(), 1e-5 + 1e-4 * sw->p_value);
  }
  EXPECT_GT(exact_cases, 20) << "the exact Mann-Whitney path should be exercised";
}

}  // namespace
}  // namespace joulebench::stats

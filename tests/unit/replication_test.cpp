// A campaign beside a reference one (replication.hpp) on runs made here: orientation of the ratios
// and their intervals, the agreement rules, label mappings.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "joulebench/replication.hpp"

namespace joulebench {
namespace {

/// Runs of one model: `a` and `b` are each side's times (framework x and y).
std::vector<RunRecord> runs_of(const std::vector<double>& x_times, const std::vector<double>& y_times,
                               const std::string& x = "x", const std::string& y = "y") {
  std::vector<RunRecord> runs;
  for (const auto& [side, times] : {std::pair{x, x_times}, std::pair{y, y_times}}) {
    int rep = 0;
    for (const double t : times) {
      RunRecord r;
      r.index = runs.size();
      r.workload = "m-" + side;
      r.labels = {{"framework", side}, {"model", "m"}};
      r.repetition = ++rep;
      r.time_s = t;
      runs.push_back(r);
    }
  }
  return runs;
}

CompareOptions time_only() {
  CompareOptions o;
  o.metrics = {"time"};
  o.bootstrap.resamples = 500;
  o.threads = 1;
  return o;
}

const std::vector<double> kFast{10, 10.5, 9.8, 10.2, 10.1, 9.9, 10.3, 10.0};
const std::vector<double> kSlow{20, 21, 19.5, 20.4, 20.2, 19.8, 20.6, 20.1};

TEST(Replication, RatiosAreOrientedSecondOverFirstWithTheirIntervals) {
  // The reference: y twice as slow as x; the campaign: y half as slow (x the slow one now).
  const auto reference = runs_of(kFast, kSlow);
  const auto current = runs_of(kSlow, kFast);
  const ReplicationComparison c = compare_with_reference(current, reference, time_only());
  ASSERT_EQ(c.rows.size(), 1U);
  const ReplicationRow& row = c.rows[0];
  ASSERT_TRUE(row.compared()) << row.problem;
  EXPECT_EQ(row.first, "x");
  EXPECT_EQ(row.second, "y");
  const auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s / static_cast<double>(v.size());
  };
  EXPECT_NEAR(row.reference->ratio.estimate, mean(kSlow) / mean(kFast), 1e-12);
  EXPECT_NEAR(row.current->ratio.estimate, mean(kFast) / mean(kSlow), 1e-12);
  // An inverted ratio's interval is the inverted interval, still lower < estimate < upper.
  EXPECT_LT(row.current->ratio.lower, row.current->ratio.estimate);
  EXPECT_GT(row.current->ratio.upper, row.current->ratio.estimate);
  EXPECT_NEAR(row.current->ratio.lower * row.reference->ratio.upper, 1.0, 0.05);
  EXPECT_EQ(row.reference->cheaper, "x");
  EXPECT_EQ(row.current->cheaper, "y");
  EXPECT_TRUE(row.current->significant);
  EXPECT_TRUE(row.reference->significant);
  EXPECT_FALSE(row.direction_agrees);
  EXPECT_FALSE(row.significance_agrees);  // both significant, opposite ways
  EXPECT_FALSE(row.intervals_overlap);
  EXPECT_NEAR(*row.ratio_of_ratios, (mean(kFast) / mean(kSlow)) / (mean(kSlow) / mean(kFast)), 1e-12);
  EXPECT_EQ(c.compared, 1U);
  EXPECT_EQ(c.direction_agrees, 0U);
}

TEST(Replication, TheSameRunsAgreeInEveryWay) {
  const auto runs = runs_of(kFast, kSlow);
  const ReplicationComparison c = compare_with_reference(runs, runs, time_only());
  ASSERT_EQ(c.compared, 1U);
  EXPECT_EQ(c.direction_agrees, 1U);
  EXPECT_EQ(c.significance_agrees, 1U);
  EXPECT_EQ(c.intervals_overlap, 1U);
  EXPECT_DOUBLE_EQ(*c.rows[0].ratio_of_ratios, 1.0);
}

TEST(Replication, NeitherSignificantAgrees) {
  const std::vector<double> a{10, 11, 9, 10.5};
  const std::vector<double> b{10.2, 10.8, 9.4, 10.3};
  const ReplicationComparison c = compare_with_reference(runs_of(a, b), runs_of(b, a), time_only());
  ASSERT_EQ(c.compared, 1U);
  EXPECT_FALSE(c.rows[0].current->significant);
  EXPECT_FALSE(c.rows[0].reference->significant);
  EXPECT_TRUE(c.rows[0].significance_agrees);
  EXPECT_FALSE(c.rows[0].direction_agrees);  // the point estimates point opposite ways
}

TEST(Replication, LabelsAreMappedAndUnmatchedRowsListed) {
  auto reference = runs_of(kFast, kSlow, "PyTorch", "TensorFlow");
  const auto current = runs_of(kFast, kSlow, "pytorch", "tensorflow");
  const ReplicationComparison unmapped = compare_with_reference(current, reference, time_only());
  EXPECT_EQ(unmapped.compared, 0U);
  ASSERT_EQ(unmapped.rows.size(), 2U);  // one in each campaign only
  for (const auto& row : unmapped.rows) {
    EXPECT_EQ(row.problem, row.current ? "not in the reference" : "not in the campaign");
  }
  ASSERT_FALSE(unmapped.notes.empty());
  EXPECT_NE(unmapped.notes.back().find("--map"), std::string::npos);

  const std::vector<LabelMapping> mappings{parse_label_mapping("framework=PyTorch:pytorch"),
                                           parse_label_mapping("framework=TensorFlow:tensorflow")};
  apply_label_mappings(reference, mappings);
  const ReplicationComparison mapped = compare_with_reference(current, reference, time_only());
  EXPECT_EQ(mapped.compared, 1U);
  EXPECT_EQ(mapped.direction_agrees, 1U);
}

TEST(Replication, MappingsApplySideBySideSoNamesCanSwap) {
  auto runs = runs_of(kFast, kSlow, "a", "b");
  const std::vector<LabelMapping> swap{parse_label_mapping("framework=a:b"), parse_label_mapping("framework=b:a")};
  apply_label_mappings(runs, swap);
  EXPECT_EQ(runs.front().labels[0].second, "b");
  EXPECT_EQ(runs.back().labels[0].second, "a");
}

TEST(Replication, AMappingMustSayKeyFromAndTo) {
  const LabelMapping m = parse_label_mapping("model=transformer_xl:transformer-xl");
  EXPECT_EQ(m.key, "model");
  EXPECT_EQ(m.from, "transformer_xl");
  EXPECT_EQ(m.to, "transformer-xl");
  EXPECT_EQ(parse_label_mapping("k=a:b:c").to, "b:c");  // the first colon splits
  for (const char* bad : {"PyTorch", "framework=PyTorch", "=a:b", "k=:b", "k=a:", "k:a=b"}) {
    EXPECT_THROW(parse_label_mapping(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace joulebench

// The analysis part: metric columns as export names them, selection, exclusions, reproducible
// intervals, verdict wording. The statistics themselves are tested against R and SciPy in
// stats_*_test.cpp; the numbers of whole comparisons in e2e/compare_cli_test.cpp.
#include <gtest/gtest.h>

#include "joulebench/analysis.hpp"

namespace joulebench {
namespace {

EnergyFigure energy(const std::string& domain, double joules, bool estimated = false, bool complete = true) {
  EnergyFigure e;
  e.domain = *DomainId::parse(domain);
  e.energy_j = joules;
  e.source = estimated ? "estimate" : "rapl-powercap";
  e.method = estimated ? FigureMethod::model : FigureMethod::counter;
  e.estimated = estimated;
  e.complete = complete;
  return e;
}

RunRecord run(const std::string& framework, const std::string& model, double time_s, double cpu_j) {
  RunRecord r;
  r.workload = framework + "-" + model;
  r.labels = {{"framework", framework}, {"model", model}, {"phase", "train"}};
  r.time_s = time_s;
  r.energy = {energy("cpu", cpu_j), energy("dram", cpu_j / 10), energy("total", cpu_j * 1.1)};
  return r;
}

std::vector<RunRecord> two_frameworks(const std::string& model, double slower) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < 8; ++i) {
    runs.push_back(run("pytorch", model, 10 + 0.1 * i, 100 + i));
    runs.push_back(run("tensorflow", model, slower * (10 + 0.1 * ((i * 3) % 8)), slower * (100 + (i * 5) % 8)));
  }
  return runs;
}

TEST(MetricTable, NamesColumnsAsExportDoesInExportsOrder) {
  RunRecord r = run("pytorch", "ncf", 2.0, 50);
  r.energy[2].dynamic_energy_j = 30;
  r.regions = {{"train", 0.5, 1.5, {energy("total", 20)}},
               {"train", 1.6, 1.8, {energy("total", 4)}},
               {"load", 0, 0.5, {energy("total", 5, false, false)}}};
  r.metrics = {{"accuracy", 0.5, "", "events"}, {"accuracy", 0.9, "", "events"}};
  const std::vector<RunRecord> runs{r};
  const MetricTable table = metric_table(runs);
  std::vector<std::string> names;
  for (const auto& c : table.columns) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"time_s", "energy_cpu_j", "energy_dram_j", "energy_total_j",
                                             "dynamic_energy_total_j", "region_load_time_s", "region_train_time_s",
                                             "region_train_energy_total_j", "metric_accuracy"}));
  const auto value = [&](const std::string& name) {
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      if (table.columns[i].name == name) return table.cells[i][0];
    }
    ADD_FAILURE() << name;
    return MetricCell{};
  };
  EXPECT_DOUBLE_EQ(value("region_train_time_s").value, 1.2);         // both visits
  EXPECT_DOUBLE_EQ(value("region_train_energy_total_j").value, 24);  // both visits
  EXPECT_DOUBLE_EQ(value("metric_accuracy").value, 0.9);             // the last report
  EXPECT_EQ(table.columns[4].description, "idle-adjusted total energy");
  EXPECT_EQ(table.columns.back().kind, MetricKind::quality);
}

TEST(MetricTable, IncompleteEnergyIsNeitherAValueNorMissing) {
  RunRecord r = run("pytorch", "ncf", 2.0, 50);
  r.energy[0].complete = false;
  const std::vector<RunRecord> runs{r};
  const MetricTable table = metric_table(runs);
  EXPECT_EQ(table.columns[1].name, "energy_cpu_j");
  EXPECT_FALSE(table.cells[1][0].present);
  EXPECT_TRUE(table.cells[1][0].incomplete);
}

TEST(SelectMetrics, FamiliesExactNamesAndAClearErrorForTheRest) {
  const auto runs = two_frameworks("ncf", 1.2);
  const MetricTable table = metric_table(runs);
  const std::vector<std::string> energy{"energy"};
  EXPECT_EQ(select_metrics(table, energy).size(), 3u);
  const std::vector<std::string> exact{"energy_dram_j", "time"};
  EXPECT_EQ(select_metrics(table, exact), (std::vector<std::size_t>{0, 2}));
  const std::vector<std::string> unknown{"energy_gpu_j"};
  try {
    select_metrics(table, unknown);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("energy_cpu_j"), std::string::npos) << e.what();
  }
}

TEST(CompareRuns, ExcludesWarmupAndFailedRunsAndCountsThem) {
  auto runs = two_frameworks("ncf", 1.2);
  runs[0].warmup = true;
  runs[1].status = RunStatus::failed;
  runs[3].status = RunStatus::not_run;
  CompareOptions options;
  options.group_by = {"model"};
  options.metrics = {"time"};
  const ComparisonTable table = compare_runs(runs, options);
  ASSERT_EQ(table.pairs.size(), 1u);
  EXPECT_EQ(table.warmup_excluded, 1u);
  EXPECT_EQ(table.failed_excluded, 2u);
  EXPECT_EQ(table.pairs[0].first.values.size(), 7u);
  EXPECT_EQ(table.pairs[0].second.values.size(), 6u);
  EXPECT_EQ(table.pairs[0].first.warmup_excluded, 1u);
  EXPECT_EQ(table.pairs[0].second.failed_excluded, 2u);
}

TEST(CompareRuns, IntervalsAreReproducibleAndIndependentOfOtherGroups) {
  CompareOptions options;
  options.group_by = {"model"};
  options.metrics = {"time"};
  options.bootstrap.resamples = 2000;
  const auto alone = two_frameworks("ncf", 1.2);
  auto with_other = alone;
  const auto other = two_frameworks("resnet", 1.5);
  with_other.insert(with_other.end(), other.begin(), other.end());

  const auto a = compare_runs(alone, options);
  const auto b = compare_runs(alone, options);
  const auto c = compare_runs(with_other, options);
  ASSERT_TRUE(a.pairs[0].ratio.ok()) << a.pairs[0].ratio.reason();
  EXPECT_EQ(a.pairs[0].ratio->lower, b.pairs[0].ratio->lower);
  EXPECT_EQ(a.pairs[0].ratio->upper, b.pairs[0].ratio->upper);
  ASSERT_EQ(c.pairs[0].group, a.pairs[0].group);
  EXPECT_EQ(a.pairs[0].ratio->lower, c.pairs[0].ratio->lower);
  EXPECT_EQ(a.pairs[0].ratio->upper, c.pairs[0].ratio->upper);

  options.bootstrap.seed = 7;
  const auto d = compare_runs(alone, options);
  EXPECT_NE(a.pairs[0].ratio->lower, d.pairs[0].ratio->lower);
}

TEST(CompareRuns, AMetricsIntervalDoesNotDependOnTheOtherMetricsCompared) {
  // The metrics of a group's pair of sides share a seed and the bootstrap's draws. Accuracy is
  // missing from two runs (smaller samples, so bootstrapped apart) and is higher for pytorch,
  // whereas time and energy are higher for tensorflow.
  auto runs = two_frameworks("ncf", 1.2);
  for (std::size_t i = 2; i < runs.size(); ++i) {
    const bool pytorch = runs[i].labels[0].second == "pytorch";
    runs[i].metrics.push_back({"accuracy", (pytorch ? 0.85 : 0.80) + 0.01 * static_cast<double>(i % 5), "", "events"});
  }
  CompareOptions options;
  options.group_by = {"model"};
  options.metrics = {"time", "energy", "metric_accuracy"};
  const auto all = compare_runs(runs, options);
  ASSERT_EQ(all.pairs.size(), 5u);
  EXPECT_EQ(all.pairs.back().first.values.size(), 7u);
  EXPECT_EQ(all.pairs.back().higher.value_or(-1), 0);
  EXPECT_EQ(all.pairs.front().higher.value_or(-1), 1);
  for (const auto& pair : all.pairs) {
    SCOPED_TRACE(all.metrics[pair.metric].name);
    CompareOptions one = options;
    one.metrics = {all.metrics[pair.metric].name};
    const auto alone = compare_runs(runs, one);
    ASSERT_EQ(alone.pairs.size(), 1u);
    ASSERT_TRUE(pair.ratio.ok()) << pair.ratio.reason();
    ASSERT_TRUE(alone.pairs[0].ratio.ok()) << alone.pairs[0].ratio.reason();
    EXPECT_EQ(pair.ratio->lower, alone.pairs[0].ratio->lower);
    EXPECT_EQ(pair.ratio->upper, alone.pairs[0].ratio->upper);
    EXPECT_LT(pair.ratio->lower, pair.ratio->estimate);
    EXPECT_GT(pair.ratio->upper, pair.ratio->estimate);
  }
}

TEST(CompareRuns, VerdictsSayWhoNeedsLessAndWhoHasMore) {
  auto runs = two_frameworks("ncf", 1.5);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const bool pytorch = runs[i].labels[0].second == "pytorch";
    runs[i].metrics.push_back({"accuracy", (pytorch ? 0.80 : 0.90) + 0.001 * static_cast<double>(i), "", "events"});
  }
  CompareOptions options;
  options.group_by = {"model"};
  options.metrics = {"energy_cpu_j", "metric_accuracy"};
  const auto table = compare_runs(runs, options);
  ASSERT_EQ(table.pairs.size(), 2u);
  EXPECT_EQ(table.pairs[0].verdict.rfind("pytorch uses 1.5", 0), 0u) << table.pairs[0].verdict;
  EXPECT_NE(table.pairs[0].verdict.find("less CPU energy than tensorflow; p = 0.00016 (Holm); A12 = 1.00, large"),
            std::string::npos)
      << table.pairs[0].verdict;
  EXPECT_EQ(table.pairs[1].verdict.rfind("tensorflow has 1.1", 0), 0u) << table.pairs[1].verdict;
  EXPECT_NE(table.pairs[1].verdict.find("higher accuracy than pytorch"), std::string::npos) << table.pairs[1].verdict;
}

TEST(CompareRuns, StudyThresholdsChangeTheMagnitudeOnly) {
  // A12 = 0.72: large by the standard thresholds (from 0.71), medium by the study's (0.7 to 0.8).
  std::vector<RunRecord> runs;
  const std::vector<double> a{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const std::vector<double> b{0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5};
  for (double v : a) runs.push_back(run("x", "m", v + 2.0, 1));
  for (double v : b) runs.push_back(run("y", "m", v, 1));
  CompareOptions options;
  options.metrics = {"time"};
  const auto standard = compare_runs(runs, options);
  options.a12_thresholds = stats::kA12Study;
  const auto study = compare_runs(runs, options);
  ASSERT_TRUE(standard.pairs[0].a12.ok());
  EXPECT_EQ(standard.pairs[0].a12->value, study.pairs[0].a12->value);
  EXPECT_NE(standard.pairs[0].a12->magnitude, study.pairs[0].a12->magnitude);
}

}  // namespace
}  // namespace joulebench

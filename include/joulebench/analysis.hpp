// Analysis: the study's question asked of a store's runs. Runs are grouped (by model and phase,
// say), the sides being contrasted (the frameworks) are compared metric by metric with a
// significance test, an effect size, a bootstrap interval for the ratio and a correction for
// multiple comparisons, and each comparison ends in a one-line verdict. Nothing is printed here:
// report.hpp turns a ComparisonTable into terminal, Markdown, CSV, JSON or LaTeX text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "joulebench/plan.hpp"
#include "joulebench/stats.hpp"
#include "joulebench/store.hpp"

namespace joulebench {

/// Whether less is better (time, energy) or the direction is the workload's (accuracy, throughput).
enum class MetricKind : std::uint8_t { cost, quality };

/// A quantity measured in every run that can be compared, named as `joulebench export` names its
/// column: time_s, energy_<domain>_j, dynamic_energy_<domain>_j, region_<name>_time_s,
/// region_<name>_energy_total_j, metric_<name>.
struct MetricColumn {
  std::string name;
  std::string description;  ///< for sentences: "time", "CPU energy", "idle-adjusted total energy", "accuracy"
  std::string unit;         ///< "s", "J", or the workload's own unit
  MetricKind kind = MetricKind::cost;
};

/// One value of one run: absent (not reported, a run that did not start) or measured; an energy
/// figure with unmeasured intervals is kept apart as incomplete (a lower bound, not comparable).
struct MetricCell {
  double value = 0;
  bool present = false;
  bool incomplete = false;
  bool estimated = false;
};

/// Every comparable metric of every run, in columns (built once; compare reads only this).
struct MetricTable {
  std::vector<MetricColumn> columns;
  std::vector<std::vector<MetricCell>> cells;  ///< [column][run]
};
MetricTable metric_table(std::span<const RunRecord> runs);

/// An energy figure ("cpu", ..., "total") that not one run measured completely: nothing can be
/// compared or plotted for it. Every reader lists it once, with the first reason, and leaves it out.
struct UnmeasuredDomain {
  DomainId domain;
  std::size_t runs = 0;              ///< runs that have the figure (all of them incomplete)
  std::size_t measured_nothing = 0;  ///< of those, runs in which it measured nothing at all
  std::string reason;                ///< the first problem recorded, "" when none was
};
/// The unmeasured figures of the runs that count (ok, not warm-up), in domain order.
std::vector<UnmeasuredDomain> unmeasured_domains(std::span<const RunRecord> runs);
/// "psys energy was not measured in any of the 6 runs (psys-0: the counter did not advance...): left out".
std::string describe_unmeasured(const UnmeasuredDomain& domain);

/// A kind of run warning (store.hpp, RunWarning) among the runs that count (ok, not warm-up): every
/// reader lists it once, with how many runs carry it and the first message.
struct RunWarningSummary {
  std::string kind;
  std::size_t runs = 0;  ///< runs that carry it
  std::size_t of = 0;    ///< runs that count
  std::string first_message;
  std::string first_run;  ///< which run the first message is of: "WORKLOAD rep N"
};
std::vector<RunWarningSummary> run_warning_summaries(std::span<const RunRecord> runs);
/// "3 of 20 runs ran on a busy machine (first: ncf rep 2: other processes used 0.85 cores ...)".
std::string describe_run_warnings(const RunWarningSummary& summary);

/// Which metrics a selector names: an exact column name, or a family: "time" (time_s), "energy"
/// (energy_<each domain>_j and energy_total_j), "dynamic" (dynamic_energy_*), "regions"
/// (region_*), "metrics" (metric_*). Empty selectors: time, energy, dynamic_energy_total_j,
/// regions, metrics. Throws std::invalid_argument naming an unknown selector and what exists.
std::vector<std::size_t> select_metrics(const MetricTable& table, std::span<const std::string> selectors);

/// One cost metric (time, an energy domain, the total) over one workload's counted runs.
struct MetricSummary {
  MetricColumn column;
  std::vector<double> values;  ///< one per counted run that has the figure complete, in run order
  stats::StatResult<stats::Descriptive> descriptive = stats::StatResult<stats::Descriptive>::unavailable("no runs");
  stats::StatResult<stats::MeanInterval> mean_interval = stats::StatResult<stats::MeanInterval>::unavailable("no runs");
  bool estimated = false;      ///< some value is a model estimate, not a measurement
  std::size_t incomplete = 0;  ///< counted runs whose figure has unmeasured intervals (left out)
};

/// One workload's measured runs summarised, without a comparison: what `bench` prints per command,
/// as hyperfine does. Counted are the measured runs that started, whatever their status (a
/// failing command's runs count as hyperfine counts them with -i); warm-up, profiled and
/// not-run runs are not.
struct WorkloadSummary {
  std::string workload;
  std::vector<RunRecord> runs;         ///< the counted runs, in the order they ran
  std::vector<MetricSummary> metrics;  ///< time_s, energy_<domain>_j, energy_total_j, dynamic_energy_*
};
/// Every workload of `runs`, in the order of their first run, with intervals of each mean at
/// `confidence` (Student's t).
std::vector<WorkloadSummary> summarize_workloads(std::span<const RunRecord> runs, double confidence = 0.95);

enum class TestChoice : std::uint8_t {
  mann_whitney,  ///< the rank-sum test (the default: no normality assumed, as the study)
  welch,         ///< Welch's t-test
  automatic,     ///< Welch when Shapiro-Wilk rejects normality on neither side at alpha, else Mann-Whitney
};

/// Which p-values are adjusted together (one family for the multiple-testing correction).
enum class CorrectionFamily : std::uint8_t {
  metric,  ///< the pairwise comparisons of one metric in one group (the post-hoc family; the default)
  group,   ///< every metric and pair of one group
  table,   ///< every comparison of the table (the most conservative)
};

struct CompareOptions {
  std::vector<std::string> group_by;  ///< label keys ("workload" also works); empty: one group
  std::string between = "framework";  ///< the label whose values are contrasted
  std::vector<std::string> metrics;   ///< selectors (select_metrics)
  TestChoice test = TestChoice::mann_whitney;
  double alpha = 0.05;
  stats::Correction correction = stats::Correction::holm;
  CorrectionFamily family = CorrectionFamily::metric;
  stats::EffectThresholds a12_thresholds = stats::kA12Standard;
  bool study_thresholds = false;  ///< for the table's legend: a12_thresholds are the study's
  /// The ratio's interval. Each comparison's seed is derived from this seed and the comparison's
  /// group and pair of sides, not its metric, so adding a group or a metric never changes another's
  /// interval. The metrics of one group and pair of sides thus resample the same positions (into
  /// each sample sorted on its own, see stats::bootstrap_ratios), drawn once for all of them: each
  /// interval is exactly stats::bootstrap_ratio(higher side, lower side) with that seed.
  stats::BootstrapOptions bootstrap{stats::RatioOf::mean, stats::BootstrapMethod::bca, 0.95, 2000, 42};
  /// The label the win summary is split by (the study's "per phase"); absent or not a label: one scope.
  std::string summary_by = "phase";
  std::size_t threads = 0;  ///< 0: one per core
};

/// One side of a comparison in one group for one metric.
struct SideSummary {
  std::string name;  ///< the value of the `between` label
  std::vector<double> values;
  stats::StatResult<stats::Descriptive> descriptive = stats::StatResult<stats::Descriptive>::unavailable("no runs");
  std::size_t warmup_excluded = 0;
  std::size_t failed_excluded = 0;  ///< status other than ok
  std::size_t missing = 0;          ///< ok runs that do not have this metric
  std::size_t incomplete = 0;       ///< ok runs whose energy figure has unmeasured intervals
  bool estimated = false;           ///< some value is a model estimate, not a measurement
};

/// Two sides compared on one metric in one group.
struct PairComparison {
  KeyValues group;         ///< group_by key = value
  std::size_t metric = 0;  ///< into ComparisonTable::metrics
  SideSummary first;       ///< the sides in name order
  SideSummary second;
  std::string test;  ///< "Mann-Whitney U (exact)", "Mann-Whitney U (normal approximation)", "Welch's t"
  stats::StatResult<double> p_value = stats::StatResult<double>::unavailable("not tested");
  std::optional<double> p_adjusted;  ///< within its family (CompareOptions::family)
  /// 0: `first` has the higher mean, 1: `second`; absent when the means are equal or unknown.
  std::optional<int> higher;
  /// A12 and Cliff's delta of the higher side against the lower (A12 > 0.5: the higher side's runs
  /// tend to be higher, as the means say).
  stats::StatResult<stats::EffectSize> a12 = stats::StatResult<stats::EffectSize>::unavailable("not computed");
  stats::StatResult<stats::EffectSize> cliffs_delta = stats::StatResult<stats::EffectSize>::unavailable("not computed");
  /// higher / lower, with its bootstrap interval.
  stats::StatResult<stats::RatioInterval> ratio = stats::StatResult<stats::RatioInterval>::unavailable("not computed");
  bool significant = false;  ///< p_adjusted < alpha
  /// The one-line answer, e.g. "pytorch uses 1.50x [1.41, 1.60] less CPU energy than tensorflow;
  /// p = 0.0002 (Holm); A12 = 1.00, large".
  std::string verdict;
};

/// Three or more sides in one group on one metric: Kruskal-Wallis before the pairwise tests.
struct OmnibusTest {
  KeyValues group;
  std::size_t metric = 0;
  std::vector<std::string> sides;
  stats::StatResult<stats::KruskalWallisResult> kruskal_wallis =
      stats::StatResult<stats::KruskalWallisResult>::unavailable("not tested");
  std::optional<double> p_adjusted;  ///< over the omnibus tests of its family (per group for `group`, all for `table`)
};

/// How often a side won, over cost metrics only (time and energy): significantly cheaper, and
/// significantly cheaper with a large effect.
struct WinCount {
  std::string scope;  ///< the summary_by label's value, or "all"
  std::string side;
  std::size_t comparisons = 0;
  std::size_t significant_wins = 0;
  std::size_t large_wins = 0;
};

/// The runs one group's statistics are computed from: per side, the measured runs that count
/// (ok, not warm-up), as positions in the runs compare_runs was given.
struct ComparedGroup {
  KeyValues key;                                                        ///< group_by key = value
  std::vector<std::pair<std::string, std::vector<std::size_t>>> sides;  ///< by side name
};

struct ComparisonTable {
  CompareOptions options;
  std::vector<ComparedGroup> groups;   ///< in the order of their values
  std::vector<MetricColumn> metrics;   ///< those compared
  std::vector<bool> metric_estimated;  ///< per metric: some value compared is an estimate
  std::vector<std::string> sides;      ///< every value of `between` seen, in name order
  std::vector<PairComparison> pairs;
  std::vector<OmnibusTest> omnibus;
  std::vector<WinCount> wins;
  std::size_t runs = 0;             ///< runs read
  std::size_t warmup_excluded = 0;  ///< over the whole table
  std::size_t failed_excluded = 0;
  std::size_t without_side = 0;  ///< runs that lack the `between` label (not compared)
  /// Energy figures among the selected metrics that no run measured completely (left out).
  std::vector<UnmeasuredDomain> unmeasured;
  std::vector<std::string> notes;  ///< things a reader must know (estimates, runs without the label...)
};

/// A run's value of a label ("workload" is its workload's name); empty when it has no such label.
std::string_view label_value(const RunRecord& run, const std::string& key);

/// The labels that form the groups when none are asked for: model and phase, those of them the
/// runs have (and that are not `between`).
std::vector<std::string> default_group_by(std::span<const RunRecord> runs, const std::string& between);
/// Whether some run has the label (every run has "workload").
bool any_run_has_label(std::span<const RunRecord> runs, const std::string& key);

/// Compares the runs. Throws std::invalid_argument for options that cannot work (an unknown
/// metric selector, alpha outside (0, 1), a `between` label no run has); degenerate data never
/// throws: it gives reasons.
ComparisonTable compare_runs(std::span<const RunRecord> runs, const CompareOptions& options);

/// Numbers as tables and verdicts write them: `significant` significant digits, no exponent for
/// everyday magnitudes ("1.23", "0.0123", "1230").
std::string format_number(double value, int significant = 3);
/// "0.0123", "0.43", "< 0.0001".
std::string format_p_value(double p);
/// "Holm", "Bonferroni", "uncorrected": how tables and verdicts name a correction.
std::string correction_title(stats::Correction correction);
/// "1.50x [1.41, 1.60]".
std::string format_ratio(const stats::RatioInterval& ratio);

}  // namespace joulebench

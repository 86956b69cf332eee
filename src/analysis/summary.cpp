// Each workload's runs on their own: descriptive statistics and an interval of the mean for time
// and energy, the figures hyperfine users expect from a benchmark of one command.
#include <algorithm>

#include "joulebench/analysis.hpp"

namespace joulebench {

namespace {

bool counted(const RunRecord& run) { return !run.warmup && !run.profile && run.status != RunStatus::not_run; }

bool is_cost_figure(const MetricColumn& column) {
  const auto id = MetricId::parse(column.name);
  return id && (id->kind == MetricId::Kind::time || id->kind == MetricId::Kind::energy ||
                id->kind == MetricId::Kind::dynamic_energy);
}

MetricSummary summarize_column(const MetricColumn& column, const std::vector<MetricCell>& cells, double confidence) {
  MetricSummary summary;
  summary.column = column;
  for (const MetricCell& cell : cells) {
    if (cell.incomplete) ++summary.incomplete;
    if (!cell.present) continue;
    summary.values.push_back(cell.value);
    summary.estimated = summary.estimated || cell.estimated;
  }
  summary.descriptive = stats::describe(summary.values);
  summary.mean_interval = stats::mean_interval(summary.values, confidence);
  return summary;
}

}  // namespace

std::vector<WorkloadSummary> summarize_workloads(std::span<const RunRecord> runs, double confidence) {
  std::vector<WorkloadSummary> out;
  for (const RunRecord& run : runs) {
    if (!counted(run)) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& w) { return w.workload == run.workload; });
    if (it == out.end()) {
      out.push_back(WorkloadSummary{run.workload, {}, {}});
      it = std::prev(out.end());
    }
    it->runs.push_back(run);
  }
  for (WorkloadSummary& workload : out) {
    const MetricTable table = metric_table(workload.runs);
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      if (is_cost_figure(table.columns[i]))
        workload.metrics.push_back(summarize_column(table.columns[i], table.cells[i], confidence));
    }
  }
  return out;
}

}  // namespace joulebench

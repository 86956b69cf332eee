// A campaign beside a reference one (replication.hpp): each compared as `compare` does, then the
// two tables matched row by row.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "joulebench/replication.hpp"

namespace joulebench {

namespace {

/// What identifies a row in both tables: group, metric and the pair of sides.
using RowKey = std::tuple<KeyValues, std::string, std::string, std::string>;

RowKey key_of(const ComparisonTable& table, const PairComparison& pair) {
  return {pair.group, table.metrics[pair.metric].name, pair.first.name, pair.second.name};
}

/// second / first, from a comparison's higher / lower ratio.
std::optional<OrientedRatio> oriented(const PairComparison& pair) {
  if (!pair.ratio || !pair.higher) return std::nullopt;
  OrientedRatio o;
  const stats::RatioInterval& r = *pair.ratio;
  o.ratio = r;
  if (*pair.higher == 0) {  // first is higher: second / first = lower / higher
    o.ratio.estimate = 1.0 / r.estimate;
    o.ratio.lower = 1.0 / r.upper;
    o.ratio.upper = 1.0 / r.lower;
  }
  o.cheaper = *pair.higher == 0 ? pair.second.name : pair.first.name;
  o.significant = pair.significant;
  o.p_adjusted = pair.p_adjusted;
  o.first_runs = pair.first.values.size();
  o.second_runs = pair.second.values.size();
  return o;
}

/// Why a comparison has no oriented ratio.
std::string no_ratio(const PairComparison& pair) {
  return pair.ratio ? std::string("the sides' means are equal") : pair.ratio.reason();
}

}  // namespace

LabelMapping parse_label_mapping(std::string_view text) {
  const auto equals = text.find('=');
  const auto colon = equals == std::string_view::npos ? std::string_view::npos : text.find(':', equals + 1);
  if (equals == std::string_view::npos || equals == 0 || colon == std::string_view::npos || colon == equals + 1 ||
      colon + 1 == text.size()) {
    throw std::invalid_argument(
        fmt::format("'{}' is not a label mapping: write KEY=FROM:TO, the reference's spelling then the campaign's "
                    "(framework=PyTorch:pytorch)",
                    text));
  }
  return {std::string(text.substr(0, equals)), std::string(text.substr(equals + 1, colon - equals - 1)),
          std::string(text.substr(colon + 1))};
}

void apply_label_mappings(std::vector<RunRecord>& runs, std::span<const LabelMapping> mappings) {
  // Each value is renamed once, by the first mapping of its key and spelling: mappings apply side
  // by side, not in turn, so two values can swap names.
  const auto renamed = [&](const std::string& key, std::string& value) {
    for (const auto& m : mappings) {
      if (m.key == key && m.from == value) {
        value = m.to;
        return;
      }
    }
  };
  for (auto& run : runs) {
    renamed("workload", run.workload);
    for (auto& [key, value] : run.labels) renamed(key, value);
  }
}

ReplicationComparison compare_with_reference(std::span<const RunRecord> current, std::span<const RunRecord> reference,
                                             CompareOptions options) {
  // One grouping for both: the current campaign's (its labels are the ones mapped to).
  if (options.group_by.empty()) options.group_by = default_group_by(current, options.between);
  for (const auto& [runs, which] : {std::pair{current, "the campaign"}, std::pair{reference, "the reference"}}) {
    if (!runs.empty() && !any_run_has_label(runs, options.between)) {
      throw std::invalid_argument(
          fmt::format("no run of {} has a '{}' label: map the reference's labels (--map) or choose --between", which,
                      options.between));
    }
  }
  const ComparisonTable now = compare_runs(current, options);
  const ComparisonTable ref = compare_runs(reference, options);

  ReplicationComparison out;
  out.options = options;
  out.current_runs = now.runs;
  out.reference_runs = ref.runs;
  for (const auto& n : now.notes) out.notes.push_back("campaign: " + n);
  for (const auto& n : ref.notes) out.notes.push_back("reference: " + n);

  std::map<RowKey, const PairComparison*> reference_rows;
  for (const auto& pair : ref.pairs) reference_rows[key_of(ref, pair)] = &pair;
  std::map<RowKey, bool> seen;
  for (const auto& pair : now.pairs) {
    const RowKey key = key_of(now, pair);
    seen[key] = true;
    ReplicationRow row;
    row.group = pair.group;
    row.metric = now.metrics[pair.metric];
    row.first = pair.first.name;
    row.second = pair.second.name;
    row.current = oriented(pair);
    const auto match = reference_rows.find(key);
    if (match == reference_rows.end()) {
      row.problem = "not in the reference";
    } else {
      row.reference = oriented(*match->second);
      if (!row.reference) row.problem = "the reference has no ratio: " + no_ratio(*match->second);
    }
    if (!row.current && row.problem.empty()) row.problem = "the campaign has no ratio: " + no_ratio(pair);
    if (row.compared()) {
      const OrientedRatio& c = *row.current;
      const OrientedRatio& r = *row.reference;
      row.direction_agrees = !c.cheaper.empty() && c.cheaper == r.cheaper;
      row.significance_agrees = c.significant == r.significant && (!c.significant || row.direction_agrees);
      row.intervals_overlap = std::max(c.ratio.lower, r.ratio.lower) <= std::min(c.ratio.upper, r.ratio.upper);
      row.ratio_of_ratios = c.ratio.estimate / r.ratio.estimate;
      ++out.compared;
      out.direction_agrees += row.direction_agrees ? 1 : 0;
      out.significance_agrees += row.significance_agrees ? 1 : 0;
      out.intervals_overlap += row.intervals_overlap ? 1 : 0;
    }
    out.rows.push_back(std::move(row));
  }
  // What only the reference has: listed, so that nothing is dropped silently.
  for (const auto& [key, pair] : reference_rows) {
    if (seen.contains(key)) continue;
    ReplicationRow row;
    row.group = pair->group;
    row.metric = ref.metrics[pair->metric];
    row.first = pair->first.name;
    row.second = pair->second.name;
    row.reference = oriented(*pair);
    row.problem = "not in the campaign";
    out.rows.push_back(std::move(row));
  }
  std::stable_sort(out.rows.begin(), out.rows.end(), [](const ReplicationRow& a, const ReplicationRow& b) {
    return std::tie(a.group, a.first, a.second) < std::tie(b.group, b.first, b.second);
  });
  if (out.compared == 0) {
    out.notes.push_back(
        "nothing could be compared: no group, pair of sides and metric is in both campaigns; map the reference's "
        "labels with --map KEY=FROM:TO");
  }
  return out;
}

}  // namespace joulebench

// compare_runs: groups, sides, tests, effect sizes, intervals, correction, verdicts.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "joulebench/analysis.hpp"

namespace joulebench {

std::string_view label_value(const RunRecord& run, const std::string& key) {
  if (key == "workload") return run.workload;
  for (const auto& [k, v] : run.labels) {
    if (k == key) return v;
  }
  return {};
}

namespace {

bool has_label(const RunRecord& run, const std::string& key) {
  if (key == "workload") return true;
  return std::any_of(run.labels.begin(), run.labels.end(), [&](const auto& kv) { return kv.first == key; });
}

/// The bootstrap's seed for one group and pair of sides, whatever the metric: it depends only on
/// what is compared, never on what else is (other groups, other metrics).
std::uint64_t comparison_seed(std::uint64_t base, const KeyValues& group, const std::string& first,
                              const std::string& second) {
  std::string identity = first + '\x1f' + second;
  for (const auto& [k, v] : group) identity += '\x1f' + k + '=' + v;
  const std::string hash = plan_hash(identity);  // "fnv1a64:<16 hex digits>"
  return base ^ std::stoull(hash.substr(hash.find(':') + 1), nullptr, 16);
}

/// Group values -> side name -> indices of the runs that count (measured, ok, not warm-up).
struct Grouping {
  std::map<std::vector<std::string>, std::map<std::string, std::vector<std::size_t>>> groups;
  /// Excluded runs per group and side: warm-ups, then failures.
  std::map<std::vector<std::string>, std::map<std::string, std::pair<std::size_t, std::size_t>>> excluded;
};

SideSummary summarise_side(const std::string& name, const std::vector<std::size_t>& runs,
                           const std::vector<MetricCell>& cells, std::pair<std::size_t, std::size_t> excluded) {
  SideSummary side;
  side.name = name;
  side.warmup_excluded = excluded.first;
  side.failed_excluded = excluded.second;
  side.values.reserve(runs.size());
  for (std::size_t r : runs) {
    const MetricCell& cell = cells[r];
    if (cell.incomplete) {
      ++side.incomplete;
    } else if (!cell.present) {
      ++side.missing;
    } else {
      side.values.push_back(cell.value);
      side.estimated = side.estimated || cell.estimated;
    }
  }
  side.descriptive = stats::describe(side.values);
  return side;
}

/// The smallest two-sided p-value the exact rank-sum test can give with these sample sizes:
/// 2 / C(n1 + n2, n1). Below alpha nothing can be significant, whatever the data.
double smallest_exact_p(std::size_t n1, std::size_t n2) {
  double combinations = 1;
  for (std::size_t i = 1; i <= n1; ++i)
    combinations = combinations * static_cast<double>(n2 + i) / static_cast<double>(i);
  return std::min(1.0, 2.0 / combinations);
}

/// The values of the side with the higher mean (the first when the means are equal), and of the other.
const std::vector<double>& higher_values(const PairComparison& pair) {
  return pair.higher.value_or(0) == 0 ? pair.first.values : pair.second.values;
}
const std::vector<double>& lower_values(const PairComparison& pair) {
  return pair.higher.value_or(0) == 0 ? pair.second.values : pair.first.values;
}

void run_test(PairComparison& pair, const CompareOptions& options) {
  const auto& x = pair.first.values;
  const auto& y = pair.second.values;
  bool welch = options.test == TestChoice::welch;
  std::string choice;
  if (options.test == TestChoice::automatic) {
    const auto sx = stats::shapiro_wilk(x);
    const auto sy = stats::shapiro_wilk(y);
    welch = sx && sy && sx->p_value > options.alpha && sy->p_value > options.alpha;
    choice = welch ? " (both sides pass Shapiro-Wilk)" : " (normality rejected or untestable)";
  }
  if (welch) {
    pair.test = "Welch's t" + choice;
    const auto result = stats::welch_t_test(x, y);
    pair.p_value =
        result ? stats::StatResult<double>(result->p_value) : stats::StatResult<double>::unavailable(result.reason());
    return;
  }
  const auto result = stats::mann_whitney(x, y);
  if (!result) {
    pair.test = "Mann-Whitney U" + choice;
    pair.p_value = stats::StatResult<double>::unavailable(result.reason());
    return;
  }
  pair.test = fmt::format("Mann-Whitney U ({}){}",
                          result->method == stats::MannWhitneyMethod::exact ? "exact" : "normal approximation", choice);
  pair.p_value = result->p_value;
}

/// Tests and effect sizes of one comparison; false when it has too few runs for any statistic
/// (the bootstrap included), with the reasons set.
bool test_pair(PairComparison& pair, const CompareOptions& options) {
  const auto& first = pair.first;
  const auto& second = pair.second;
  if (first.values.size() < 2 || second.values.size() < 2) {
    const auto& small = first.values.size() < 2 ? first : second;
    const std::string reason =
        fmt::format("n = {} for {}: at least 2 runs per side are needed", small.values.size(), small.name);
    pair.p_value = stats::StatResult<double>::unavailable(reason);
    pair.ratio = stats::StatResult<stats::RatioInterval>::unavailable(reason);
    pair.a12 = stats::StatResult<stats::EffectSize>::unavailable(reason);
    pair.cliffs_delta = stats::StatResult<stats::EffectSize>::unavailable(reason);
    pair.test = "none";
    return false;
  }
  run_test(pair, options);
  const double m1 = first.descriptive->mean;
  const double m2 = second.descriptive->mean;
  if (m1 != m2) pair.higher = m1 > m2 ? 0 : 1;
  pair.a12 = stats::vargha_delaney_a12(higher_values(pair), lower_values(pair), options.a12_thresholds);
  pair.cliffs_delta = stats::cliffs_delta(higher_values(pair), lower_values(pair));
  return true;
}

/// The comparisons of one group and one pair of sides, one per metric. Their intervals share the
/// pair's seed, so the metrics whose samples have the same sizes are bootstrapped together on one
/// stream of draws (stats::bootstrap_ratios); each interval is still the one its metric gets alone.
void compute_pairs(std::span<PairComparison> pairs, std::span<const std::size_t> members,
                   const CompareOptions& options) {
  std::map<std::pair<std::size_t, std::size_t>, std::vector<std::size_t>> by_sizes;  // (n higher, n lower)
  for (std::size_t i : members) {
    if (!test_pair(pairs[i], options)) continue;
    by_sizes[{higher_values(pairs[i]).size(), lower_values(pairs[i]).size()}].push_back(i);
  }
  if (by_sizes.empty()) return;
  const PairComparison& any = pairs[members.front()];
  stats::BootstrapOptions bootstrap = options.bootstrap;
  bootstrap.seed = comparison_seed(options.bootstrap.seed, any.group, any.first.name, any.second.name);
  for (const auto& [sizes, same] : by_sizes) {
    std::vector<stats::RatioSamples> samples;
    for (std::size_t i : same) samples.push_back({higher_values(pairs[i]), lower_values(pairs[i])});
    auto intervals = stats::bootstrap_ratios(samples, bootstrap);
    for (std::size_t k = 0; k < same.size(); ++k) {
      pairs[same[k]].ratio = std::move(intervals[k]);
      // BCa is undefined where every jackknife ratio is equal (constant samples, a deterministic
      // metric); the percentile interval still is, and says it is one.
      if (!pairs[same[k]].ratio && bootstrap.method == stats::BootstrapMethod::bca) {
        stats::BootstrapOptions percentile = bootstrap;
        percentile.method = stats::BootstrapMethod::percentile;
        auto fallback = stats::bootstrap_ratio(samples[k].x, samples[k].y, percentile);
        if (fallback) pairs[same[k]].ratio = std::move(fallback);
      }
    }
  }
}

/// Runs `work(i)` for i in [0, n) on `threads` threads; each i is independent.
template <class Work>
void parallel_for(std::size_t n, std::size_t threads, Work work) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, n);
  std::atomic<std::size_t> next{0};
  const auto loop = [&] {
    for (std::size_t i = next++; i < n; i = next++) work(i);
  };
  std::vector<std::jthread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(loop);
  loop();
}

std::string p_phrase(double p) {
  const std::string text = format_p_value(p);
  return text.starts_with("<") ? "p " + text : "p = " + text;
}

/// The one-line answer. Cost metrics say who needs less; quality metrics say who has more.
std::string verdict(const PairComparison& pair, const MetricColumn& metric, bool estimated,
                    const CompareOptions& options) {
  const std::string what = metric.description + (estimated ? " (estimated)" : "");
  if (!pair.p_value) {
    return fmt::format("cannot compare {} and {} on {}: {}", pair.first.name, pair.second.name, what,
                       pair.p_value.reason());
  }
  const std::string evidence = fmt::format(
      "{} ({}); {}", p_phrase(pair.p_adjusted.value_or(*pair.p_value)), correction_title(options.correction),
      pair.a12 ? fmt::format("A12 = {:.2f}, {}", pair.a12->value, stats::effect_magnitude_name(pair.a12->magnitude))
               : "A12 unavailable: " + pair.a12.reason());
  if (!pair.higher) {
    return fmt::format("{} and {} have the same mean {}; {}", pair.first.name, pair.second.name, what, evidence);
  }
  const SideSummary& high = *pair.higher == 0 ? pair.first : pair.second;
  const SideSummary& low = *pair.higher == 0 ? pair.second : pair.first;
  const std::string ratio = pair.ratio ? format_ratio(*pair.ratio) : "(no ratio: " + pair.ratio.reason() + ")";
  if (!pair.significant) {
    return fmt::format("no significant difference in {} between {} and {} ({} / {} = {}); {}", what, pair.first.name,
                       pair.second.name, high.name, low.name, ratio, evidence);
  }
  if (metric.kind == MetricKind::quality) {
    return fmt::format("{} has {} higher {} than {}; {}", high.name, ratio, what, low.name, evidence);
  }
  const char* verb = metric.unit == "s" ? "takes" : "uses";
  return fmt::format("{} {} {} less {} than {}; {}", low.name, verb, ratio, what, high.name, evidence);
}

std::string group_scope(const KeyValues& group, const std::string& key) {
  for (const auto& [k, v] : group) {
    if (k == key) return v;
  }
  return "all";
}

/// Refuses options that cannot work.
void check_options(std::span<const RunRecord> runs, const CompareOptions& options) {
  if (!(options.alpha > 0 && options.alpha < 1)) throw std::invalid_argument("alpha must lie strictly between 0 and 1");
  if (options.between.empty())
    throw std::invalid_argument("a comparison needs the label whose values it compares (framework, say)");
  if (!runs.empty() && !any_run_has_label(runs, options.between)) {
    throw std::invalid_argument(
        fmt::format("no run has a '{}' label: compare between workload, or one of the labels the "
                    "plan gives its workloads",
                    options.between));
  }
  if (std::find(options.group_by.begin(), options.group_by.end(), options.between) != options.group_by.end()) {
    throw std::invalid_argument(fmt::format("'{}' cannot both group and be compared", options.between));
  }
}

/// The runs by group and side; the sides found, and the runs left out, counted in `table`.
Grouping group_runs(std::span<const RunRecord> runs, const CompareOptions& options, ComparisonTable& table) {
  Grouping grouping;
  // Runs of one group and side mostly come one after another: the maps are searched again only
  // when the group or the side changes (the views point into `runs`).
  std::vector<std::string_view> run_key(options.group_by.size());
  std::string_view run_side;
  std::vector<std::string_view> last_key;
  std::string_view last_side;
  std::vector<std::size_t>* side_runs = nullptr;
  std::pair<std::size_t, std::size_t>* side_excluded = nullptr;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const RunRecord& run = runs[r];
    if (!has_label(run, options.between)) {
      ++table.without_side;
      continue;
    }
    for (std::size_t g = 0; g < run_key.size(); ++g) run_key[g] = label_value(run, options.group_by[g]);
    run_side = label_value(run, options.between);
    if (side_runs == nullptr || run_key != last_key || run_side != last_side) {
      const std::vector<std::string> names(run_key.begin(), run_key.end());
      const std::string side_name(run_side);
      side_runs = &grouping.groups[names][side_name];  // a side whose runs all failed still shows, with n = 0
      side_excluded = &grouping.excluded[names][side_name];
      if (std::find(table.sides.begin(), table.sides.end(), run_side) == table.sides.end()) {
        table.sides.push_back(side_name);
      }
      last_key = run_key;
      last_side = run_side;
    }
    if (run.warmup) {
      ++side_excluded->first;
      ++table.warmup_excluded;
    } else if (run.status != RunStatus::ok) {
      ++side_excluded->second;
      ++table.failed_excluded;
    } else {
      side_runs->push_back(r);
    }
  }
  std::sort(table.sides.begin(), table.sides.end());

  return grouping;
}

/// Every group's comparisons, metric by metric: the sides summarised, an omnibus test for three
/// or more, a pair per two sides (not yet computed). Returns the pairs of each group's pair of
/// sides over the metrics, as indices into table.pairs: the units computed in parallel.
std::vector<std::vector<std::size_t>> plan_pairs(const Grouping& grouping, const MetricTable& metrics,
                                                 const std::vector<std::size_t>& selected,
                                                 const CompareOptions& options, ComparisonTable& table) {
  std::vector<std::vector<std::size_t>> pair_sets;
  for (const auto& [key, sides] : grouping.groups) {
    std::map<std::pair<std::size_t, std::size_t>, std::size_t> set_of;  // sides (i, j) -> into pair_sets
    KeyValues group;
    for (std::size_t i = 0; i < key.size(); ++i) group.emplace_back(options.group_by[i], key[i]);
    table.groups.push_back({group, {sides.begin(), sides.end()}});
    const auto& excluded = grouping.excluded.at(key);
    for (std::size_t m = 0; m < selected.size(); ++m) {
      const auto& cells = metrics.cells[selected[m]];
      std::vector<SideSummary> summaries;
      for (const auto& [name, indices] : sides)
        summaries.push_back(summarise_side(name, indices, cells, excluded.at(name)));
      const std::size_t with_values = static_cast<std::size_t>(
          std::count_if(summaries.begin(), summaries.end(), [](const SideSummary& s) { return !s.values.empty(); }));
      // A metric nobody in this group reported (a region only one framework has) is left out.
      if (with_values == 0) continue;
      for (const auto& s : summaries) table.metric_estimated[m] = table.metric_estimated[m] || s.estimated;
      if (summaries.size() >= 3) {
        OmnibusTest omnibus;
        omnibus.group = group;
        omnibus.metric = m;
        std::vector<std::vector<double>> samples;
        for (const auto& s : summaries) {
          omnibus.sides.push_back(s.name);
          samples.push_back(s.values);
        }
        omnibus.kruskal_wallis = stats::kruskal_wallis(samples);
        table.omnibus.push_back(std::move(omnibus));
      }
      for (std::size_t i = 0; i < summaries.size(); ++i) {
        for (std::size_t j = i + 1; j < summaries.size(); ++j) {
          PairComparison pair;
          pair.group = group;
          pair.metric = m;
          pair.first = summaries[i];
          pair.second = summaries[j];
          const auto [set, added] = set_of.try_emplace({i, j}, pair_sets.size());
          if (added) pair_sets.emplace_back();
          pair_sets[set->second].push_back(table.pairs.size());
          table.pairs.push_back(std::move(pair));
        }
      }
    }
  }

  return pair_sets;
}

/// Multiple testing, family by family; the omnibus tests form families of their own.
void correct_p_values(const CompareOptions& options, ComparisonTable& table) {
  const auto family_of = [&](const KeyValues& group, std::size_t metric) {
    switch (options.family) {
      case CorrectionFamily::metric: return std::pair{group, metric};
      case CorrectionFamily::group: return std::pair{group, std::size_t{0}};
      case CorrectionFamily::table: break;
    }
    return std::pair{KeyValues{}, std::size_t{0}};
  };
  const auto adjust = [&](auto& items, auto p_of, auto set) {
    std::map<std::pair<KeyValues, std::size_t>, std::vector<std::size_t>> families;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (p_of(items[i])) families[family_of(items[i].group, items[i].metric)].push_back(i);
    }
    for (const auto& [family, members] : families) {
      std::vector<double> p;
      for (std::size_t i : members) p.push_back(*p_of(items[i]));
      const auto adjusted = stats::adjust_p_values(p, options.correction);
      for (std::size_t k = 0; k < members.size(); ++k) set(items[members[k]], adjusted[k]);
    }
  };
  adjust(
      table.pairs,
      [](const PairComparison& pair) { return pair.p_value ? std::optional<double>(*pair.p_value) : std::nullopt; },
      [&](PairComparison& pair, double p) {
        pair.p_adjusted = p;
        pair.significant = p < options.alpha && pair.higher.has_value();
      });
  adjust(
      table.omnibus,
      [](const OmnibusTest& o) {
        return o.kruskal_wallis ? std::optional<double>(o.kruskal_wallis->p_value) : std::nullopt;
      },
      [](OmnibusTest& o, double p) { o.p_adjusted = p; });
}

void add_verdicts(const CompareOptions& options, ComparisonTable& table) {
  for (auto& pair : table.pairs) {
    const bool estimated = pair.first.estimated || pair.second.estimated;
    pair.verdict = verdict(pair, table.metrics[pair.metric], estimated, options);
    if (pair.p_value && pair.test.starts_with("Mann-Whitney U (exact)")) {
      const double floor = smallest_exact_p(pair.first.values.size(), pair.second.values.size());
      if (floor >= options.alpha) {
        pair.verdict += fmt::format(" (with n = {} and {}, no p-value below {} is possible)", pair.first.values.size(),
                                    pair.second.values.size(), format_number(floor));
      }
    }
  }
}

/// Wins, over cost metrics, per scope.
void count_wins(const CompareOptions& options, ComparisonTable& table) {
  std::map<std::pair<std::string, std::string>, WinCount> wins;
  for (const auto& pair : table.pairs) {
    if (table.metrics[pair.metric].kind != MetricKind::cost) continue;
    const std::string scope = group_scope(pair.group, options.summary_by);
    for (const auto* side : {&pair.first, &pair.second}) {
      auto& w = wins[{scope, side->name}];
      w.scope = scope;
      w.side = side->name;
      ++w.comparisons;
    }
    if (!pair.significant) continue;
    const auto& lower = *pair.higher == 0 ? pair.second : pair.first;
    auto& w = wins[{scope, lower.name}];
    ++w.significant_wins;
    if (pair.a12 && pair.a12->magnitude == stats::EffectMagnitude::large) ++w.large_wins;
  }
  for (auto& [key, w] : wins) table.wins.push_back(std::move(w));
}

/// What a reader must know besides the numbers: unmeasured figures, warnings, estimates, runs
/// without a side.
void add_notes(std::span<const RunRecord> runs, const CompareOptions& options, ComparisonTable& table) {
  for (auto& domain : unmeasured_domains(runs)) {
    const bool selected_metric = std::any_of(table.metrics.begin(), table.metrics.end(), [&](const MetricColumn& c) {
      return c.name == MetricId::energy(domain.domain).column() ||
             c.name == MetricId::dynamic_energy(domain.domain).column();
    });
    if (!selected_metric) continue;
    table.notes.push_back(describe_unmeasured(domain));
    table.unmeasured.push_back(std::move(domain));
  }
  for (const auto& summary : run_warning_summaries(runs)) table.notes.push_back(describe_run_warnings(summary));
  if (std::find(table.metric_estimated.begin(), table.metric_estimated.end(), true) != table.metric_estimated.end()) {
    table.notes.push_back(
        "figures marked (estimated) come from a power model, not from a sensor: compare them with care");
  }
  // A figure summed from power samples (an imported study's GPU energy) is said once per domain.
  std::vector<std::string> sampled;
  for (const auto& run : runs) {
    for (const auto& e : run.energy) {
      if (e.method != FigureMethod::sample_sum || e.domain.is_total()) continue;
      const bool selected = std::any_of(table.metrics.begin(), table.metrics.end(), [&](const MetricColumn& c) {
        return c.name == MetricId::energy(e.domain).column() || c.name == MetricId::energy(DomainId::total()).column();
      });
      if (selected && std::find(sampled.begin(), sampled.end(), e.domain.name()) == sampled.end()) {
        sampled.push_back(e.domain.name());
      }
    }
  }
  for (const auto& domain : sampled) {
    table.notes.push_back(fmt::format(
        "{} energy (and the total it adds into) is the plain sum of power samples, each taken as one second (as the "
        "ICSE 2022 study computed GPU energy from nvidia-smi's 1 Hz samples), not a counter's reading",
        domain));
  }
  if (table.without_side > 0) {
    table.notes.push_back(
        fmt::format("{} run(s) have no '{}' label and are not compared", table.without_side, options.between));
  }
  if (table.sides.size() < 2) {
    table.notes.push_back(fmt::format("fewer than two values of '{}' were found: nothing to compare", options.between));
  }
}

}  // namespace

bool any_run_has_label(std::span<const RunRecord> runs, const std::string& key) {
  if (key == "workload") return true;
  return std::any_of(runs.begin(), runs.end(), [&](const RunRecord& run) {
    return std::any_of(run.labels.begin(), run.labels.end(), [&](const auto& label) { return label.first == key; });
  });
}

std::vector<std::string> default_group_by(std::span<const RunRecord> runs, const std::string& between) {
  std::vector<std::string> keys;
  for (const char* key : {"model", "phase"}) {
    if (key != between && any_run_has_label(runs, key)) keys.emplace_back(key);
  }
  return keys;
}

ComparisonTable compare_runs(std::span<const RunRecord> runs, const CompareOptions& options) {
  check_options(runs, options);
  ComparisonTable table;
  table.options = options;
  table.runs = runs.size();
  const MetricTable metrics = metric_table(runs);
  const std::vector<std::size_t> selected = select_metrics(metrics, options.metrics);
  for (std::size_t m : selected) table.metrics.push_back(metrics.columns[m]);
  table.metric_estimated.assign(selected.size(), false);

  const Grouping grouping = group_runs(runs, options, table);
  const auto pair_sets = plan_pairs(grouping, metrics, selected, options, table);
  // The costly part (tests and bootstrap intervals), each group's pair of sides on its own.
  parallel_for(pair_sets.size(), options.threads,
               [&](std::size_t i) { compute_pairs(table.pairs, pair_sets[i], options); });

  // Read as a table: each group's pair of sides together, metrics in column order.
  std::stable_sort(table.pairs.begin(), table.pairs.end(), [](const PairComparison& a, const PairComparison& b) {
    return std::tie(a.group, a.first.name, a.second.name) < std::tie(b.group, b.first.name, b.second.name);
  });

  correct_p_values(options, table);
  add_verdicts(options, table);
  count_wins(options, table);
  add_notes(runs, options, table);
  return table;
}

}  // namespace joulebench

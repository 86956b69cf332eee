// `joulebench compare`: does one framework cost more than another, by how much, how sure are we.
#include <cstdio>
#include <sstream>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/replication.hpp"

namespace joulebench::cli {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<std::string> grouping(const std::string& group_by, bool given, const std::string& between,
                                  std::span<const RunRecord> runs) {
  if (given) return split_commas(group_by);
  return default_group_by(runs, between);
}

void add_compare_options(CLI::App* cmd, CompareArguments& args, bool with_output) {
  cmd->add_option("--group-by", args.group_by,
                  "labels whose values form the groups compared separately, comma-separated (default: model,phase, "
                  "those the runs have)")
      ->type_name("KEYS")
      ->each([&args](const std::string&) { args.group_by_given = true; });
  cmd->add_option("--between", args.between, "the label whose values are compared ('workload' also works)")
      ->type_name("KEY")
      ->capture_default_str();
  cmd->add_option("--metrics", args.metrics,
                  "what to compare: time, energy, dynamic, regions, metrics, or column names as export writes them "
                  "(energy_cpu_j, metric_accuracy...); default: time, energy, dynamic_energy_total_j, regions, metrics")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("LIST");
  cmd->add_option("--test", args.test,
                  "mwu: Mann-Whitney U (rank-sum); welch: Welch's t; auto: Welch where Shapiro-Wilk accepts normality "
                  "on both sides")
      ->check(CLI::IsMember({"auto", "mwu", "welch"}))
      ->capture_default_str();
  cmd->add_option("--alpha", args.alpha, "significance level")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--correction", args.correction, "multiple-testing correction over the table's comparisons")
      ->check(CLI::IsMember({"holm", "bonferroni", "none"}))
      ->capture_default_str();
  cmd->add_option("--family", args.family,
                  "which p-values are corrected together: metric (the sides' pairwise comparisons of one metric in one "
                  "group), group (all of a group) or table (everything)")
      ->check(CLI::IsMember({"metric", "group", "table"}))
      ->capture_default_str();
  cmd->add_option("--thresholds", args.thresholds,
                  "A12 magnitude thresholds: standard (0.56/0.64/0.71) or study (0.6/0.7/0.8, for replication)")
      ->check(CLI::IsMember({"standard", "study"}))
      ->capture_default_str();
  cmd->add_option("--ratio", args.ratio, "the ratio reported: of means or of medians")
      ->check(CLI::IsMember({"mean", "median"}))
      ->capture_default_str();
  cmd->add_option("--ci-method", args.ci_method, "the bootstrap interval's method: bca or percentile")
      ->check(CLI::IsMember({"bca", "percentile"}))
      ->capture_default_str();
  cmd->add_option("--confidence", args.confidence, "the interval's confidence level")
      ->check(CLI::Range(0.5, 0.9999))
      ->capture_default_str();
  cmd->add_option("--resamples", args.resamples, "bootstrap resamples")
      ->check(CLI::Range(100, 1000000))
      ->capture_default_str();
  cmd->add_option("--seed", args.seed, "the bootstrap's seed (intervals are reproducible)")->capture_default_str();
  if (!with_output) return;
  cmd->add_option("--format", args.format, "table, md, csv, json or latex")
      ->check(CLI::IsMember({"table", "md", "csv", "json", "latex"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", args.output, "write to this file instead of standard output")->type_name("FILE");
}

void add_deprecated_interval(CLI::App* cmd, CompareArguments& args) {
  add_deprecated_option(cmd, "--interval", "--ci-method", [&args](const std::string& value) {
    if (value != "bca" && value != "percentile") throw CLI::ValidationError("--interval", "bca or percentile");
    args.ci_method = value;
  })->excludes(cmd->get_option("--ci-method"));
}

CompareOptions compare_options(const CompareArguments& args, std::span<const RunRecord> runs) {
  CompareOptions o;
  o.group_by = grouping(args.group_by, args.group_by_given, args.between, runs);
  o.between = args.between;
  if (!any_run_has_label(runs, o.between) && !runs.empty()) {
    // Said here with the option's name; compare_runs refuses it too.
    throw CLI::ValidationError("--between",
                               fmt::format("no run has a '{}' label; try --between workload, or one of the "
                                           "labels the plan gives its workloads",
                                           o.between));
  }
  o.metrics = args.metrics;
  o.test = args.test == "welch"  ? TestChoice::welch
           : args.test == "auto" ? TestChoice::automatic
                                 : TestChoice::mann_whitney;
  o.alpha = args.alpha;
  o.correction = args.correction == "bonferroni" ? stats::Correction::bonferroni
                 : args.correction == "none"     ? stats::Correction::none
                                                 : stats::Correction::holm;
  o.family = args.family == "table"   ? CorrectionFamily::table
             : args.family == "group" ? CorrectionFamily::group
                                      : CorrectionFamily::metric;
  o.study_thresholds = args.thresholds == "study";
  o.a12_thresholds = o.study_thresholds ? stats::kA12Study : stats::kA12Standard;
  o.bootstrap.ratio_of = args.ratio == "median" ? stats::RatioOf::median : stats::RatioOf::mean;
  o.bootstrap.method =
      args.ci_method == "percentile" ? stats::BootstrapMethod::percentile : stats::BootstrapMethod::bca;
  o.bootstrap.confidence = args.confidence;
  o.bootstrap.resamples = args.resamples;
  o.bootstrap.seed = args.seed;
  return o;
}

void add_reference_options(CLI::App* cmd, ReferenceArguments& args) {
  auto* reference =
      cmd->add_option("--reference", args.db,
                      "a store whose campaign to put this one beside (a published study's, say): per group, metric "
                      "and pair of sides, both campaigns' ratios, whether they agree, and the ratio of ratios")
          ->type_name("REF.db")
          ->check(CLI::ExistingFile);
  cmd->add_option("--reference-campaign", args.campaign, "the reference store's campaign (default: its latest)")
      ->type_name("ID")
      ->needs(reference);
  cmd->add_option("--map", args.mappings,
                  "a label value as the reference spells it and as this campaign does: KEY=FROM:TO (repeatable), "
                  "e.g. framework=PyTorch:pytorch")
      ->type_name("KEY=FROM:TO")
      ->allow_extra_args(false)
      ->needs(reference);
}

std::vector<RunRecord> reference_runs(const ReferenceArguments& args) {
  std::vector<LabelMapping> mappings;
  for (const auto& text : args.mappings) {
    try {
      mappings.push_back(parse_label_mapping(text));
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError("--map", e.what());
    }
  }
  const Store store(args.db);
  RunSelection selection;
  selection.db = args.db;
  selection.campaign = args.campaign;
  auto runs = store.runs(selected_campaign(store, selection), run_filter(selection));
  apply_label_mappings(runs, mappings);
  return runs;
}

std::string reference_title(const ReferenceArguments& args) {
  const Store store(args.db);
  RunSelection selection;
  selection.db = args.db;
  selection.campaign = args.campaign;
  const std::int64_t id = selected_campaign(store, selection);
  for (const auto& c : store.campaigns()) {
    if (c.id == id) return fmt::format("{} (campaign {} of {})", c.name, id, args.db);
  }
  return fmt::format("campaign {} of {}", id, args.db);
}

void print_comparison(const CompareArguments& args, std::span<const RunRecord> runs) {
  ComparisonTable table;
  try {
    table = compare_runs(runs, compare_options(args, runs));
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("compare", e.what());
  }
  const std::string text = comparison_report(table, *parse_table_format(args.format));
  write_report(text, args.output, stdout);
}

Command add_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compare",
      "Compare the sides of a campaign (frameworks, say) metric by metric: test, effect size, ratio, verdict");
  auto selection = std::make_shared<RunSelection>();
  selection->warmup_options = false;
  auto args = std::make_shared<CompareArguments>();
  auto reference = std::make_shared<ReferenceArguments>();
  add_selection_options(cmd, *selection);
  add_compare_options(cmd, *args);
  add_reference_options(cmd, *reference);
  add_deprecated_interval(cmd, *args);
  return {cmd, [selection, args, reference] {
            const Store store(selection->db);
            const std::int64_t id = selected_campaign(store, *selection);
            const auto runs = store.runs(id, run_filter(*selection));
            if (reference->db.empty()) {
              print_comparison(*args, runs);
              return 0;
            }
            const auto reference_side = reference_runs(*reference);
            ReplicationComparison replication;
            try {
              replication = compare_with_reference(runs, reference_side, compare_options(*args, runs));
            } catch (const std::invalid_argument& e) {
              throw CLI::ValidationError("compare", e.what());
            }
            const std::string text =
                replication_report(replication, *parse_table_format(args->format), reference_title(*reference));
            write_report(text, args->output, stdout);
            return 0;
          }};
}

}  // namespace joulebench::cli

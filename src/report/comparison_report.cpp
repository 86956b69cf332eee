// A ComparisonTable as text for a terminal, Markdown, CSV, JSON or LaTeX.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "joulebench/json_output.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using nlohmann::ordered_json;
using report_detail::html_escape;
using report_detail::md_escape;
using report_detail::tex_escape;

std::string group_text(const KeyValues& group) {
  if (group.empty()) return "all runs";
  std::string out;
  for (const auto& [k, v] : group) out += fmt::format("{}{}={}", out.empty() ? "" : " ", k, v.empty() ? "(none)" : v);
  return out;
}

std::string metric_title(const ComparisonTable& table, std::size_t m) {
  const auto& metric = table.metrics[m];
  return fmt::format("{}{}{}", metric.description, metric.unit.empty() ? "" : " [" + metric.unit + "]",
                     table.metric_estimated[m] ? " (estimated)" : "");
}

std::string mean_sd(const SideSummary& side) {
  if (!side.descriptive) return "-";
  const auto& d = *side.descriptive;
  return d.sd ? fmt::format("{} ± {}", format_number(d.mean), format_number(*d.sd, 2)) : format_number(d.mean);
}

std::string median(const SideSummary& side) { return side.descriptive ? format_number(side.descriptive->median) : "-"; }

std::string ratio_cell(const PairComparison& pair) {
  if (!pair.ratio) return "-";
  const auto& high = *pair.higher == 0 ? pair.first : pair.second;
  return fmt::format("{} ({} higher)", format_ratio(*pair.ratio), high.name);
}

std::string p_cell(const PairComparison& pair) {
  if (!pair.p_adjusted) return "-";
  return format_p_value(*pair.p_adjusted) + (pair.significant ? " *" : "");
}

std::string a12_cell(const PairComparison& pair) {
  if (!pair.a12) return "-";
  return fmt::format("{:.2f} {}", pair.a12->value, stats::effect_magnitude_name(pair.a12->magnitude));
}

std::string excluded_text(const SideSummary& side) {
  std::vector<std::string> parts;
  if (side.warmup_excluded) parts.push_back(fmt::format("{} warm-up", side.warmup_excluded));
  if (side.failed_excluded) parts.push_back(fmt::format("{} failed", side.failed_excluded));
  if (parts.empty()) return {};
  return fmt::format("; excluded {}", fmt::join(parts, ", "));
}

/// Pairs grouped by (group, first, second), in table order.
std::vector<std::vector<const PairComparison*>> blocks_of(const ComparisonTable& table) {
  std::vector<std::vector<const PairComparison*>> blocks;
  for (const auto& pair : table.pairs) {
    if (blocks.empty() || blocks.back().front()->group != pair.group ||
        blocks.back().front()->first.name != pair.first.name ||
        blocks.back().front()->second.name != pair.second.name) {
      blocks.emplace_back();
    }
    blocks.back().push_back(&pair);
  }
  return blocks;
}

std::string method_line(const ComparisonTable& table) {
  const auto& o = table.options;
  const char* test = o.test == TestChoice::welch ? "Welch's t-test"
                     : o.test == TestChoice::automatic
                         ? "Welch's t-test where Shapiro-Wilk accepts normality on both sides, else Mann-Whitney U"
                         : "Mann-Whitney U (rank-sum)";
  return fmt::format(
      "{}, two-sided; p-values: {} {}; significant: adjusted p < {:g}; effect size "
      "Vargha-Delaney A12 ({} thresholds {:g}/{:g}/{:g}); ratio = higher / lower {} with a {:g}% {} bootstrap interval "
      "({} resamples)",
      test, o.correction == stats::Correction::none ? "not adjusted" : "adjusted by " + correction_title(o.correction),
      o.family == CorrectionFamily::metric  ? "within each group and metric (the pairwise comparisons of its sides)"
      : o.family == CorrectionFamily::group ? "within each group (all its metrics and pairs)"
                                            : fmt::format("over all {} comparison(s) of the table", table.pairs.size()),
      o.alpha, o.study_thresholds ? "the study's" : "standard", o.a12_thresholds.small, o.a12_thresholds.medium,
      o.a12_thresholds.large, o.bootstrap.ratio_of == stats::RatioOf::mean ? "mean" : "median",
      o.bootstrap.confidence * 100, o.bootstrap.method == stats::BootstrapMethod::bca ? "BCa" : "percentile",
      o.bootstrap.resamples);
}

std::string runs_line(const ComparisonTable& table) {
  return fmt::format("{} run(s) read; excluded: {} warm-up, {} failed or not run", table.runs, table.warmup_excluded,
                     table.failed_excluded);
}

std::string omnibus_line(const ComparisonTable& table, const OmnibusTest& o) {
  const std::string sides = fmt::format("{}", fmt::join(o.sides, ", "));
  if (!o.kruskal_wallis) {
    return fmt::format("{}, {}: Kruskal-Wallis over {}: not tested: {}", group_text(o.group),
                       table.metrics[o.metric].description, sides, o.kruskal_wallis.reason());
  }
  return fmt::format("{}, {}: Kruskal-Wallis over {}: H = {}, df = {}, p = {} ({})", group_text(o.group),
                     table.metrics[o.metric].description, sides, format_number(o.kruskal_wallis->h),
                     format_number(o.kruskal_wallis->df),
                     format_p_value(o.p_adjusted.value_or(o.kruskal_wallis->p_value)),
                     correction_title(table.options.correction));
}

// ---- text -------------------------------------------------------------------------------------

/// Left-aligned columns, each as wide as its widest cell.
std::string align(const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<std::size_t> width;
  const auto display_width = [](const std::string& s) {
    // UTF-8: count code points, not bytes ("±" is two bytes, one column).
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - display_width(row[i]) + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string wins_text(const ComparisonTable& table) {
  if (table.wins.empty()) return {};
  std::vector<std::vector<std::string>> rows{
      {"scope", "side", "cost comparisons", "significantly cheaper", "of which large"}};
  for (const auto& w : table.wins) {
    rows.push_back({w.scope, w.side, std::to_string(w.comparisons), std::to_string(w.significant_wins),
                    std::to_string(w.large_wins)});
  }
  return align(rows, "  ");
}

std::string text_report(const ComparisonTable& table) {
  std::string out = fmt::format("Comparing {}: {}\n", table.options.between,
                                table.sides.empty() ? "(nothing)" : fmt::format("{}", fmt::join(table.sides, ", ")));
  out += "Method: " + method_line(table) + "\n";
  out += "Runs: " + runs_line(table) + "\n";
  for (const auto& block : blocks_of(table)) {
    const auto& head = *block.front();
    out += fmt::format("\n{}: {} (n = {}{}) vs {} (n = {}{})\n", group_text(head.group), head.first.name,
                       head.first.values.size(), excluded_text(head.first), head.second.name, head.second.values.size(),
                       excluded_text(head.second));
    std::vector<std::vector<std::string>> rows{{"metric", head.first.name + " mean ± sd", "median",
                                                head.second.name + " mean ± sd", "median", "ratio [CI]",
                                                "p (" + correction_title(table.options.correction) + ")", "A12"}};
    for (const auto* pair : block) {
      const auto n_note = [&](const SideSummary& side, std::size_t n) {
        return side.values.size() == n ? std::string() : fmt::format(" (n={})", side.values.size());
      };
      rows.push_back({metric_title(table, pair->metric),
                      mean_sd(pair->first) + n_note(pair->first, head.first.values.size()), median(pair->first),
                      mean_sd(pair->second) + n_note(pair->second, head.second.values.size()), median(pair->second),
                      pair->ratio ? format_ratio(*pair->ratio) : "-", p_cell(*pair), a12_cell(*pair)});
    }
    out += align(rows, "  ");
    for (const auto* pair : block) out += "  - " + pair->verdict + "\n";
  }
  if (!table.omnibus.empty()) {
    out += "\nThree or more sides (Kruskal-Wallis before the pairwise tests):\n";
    for (const auto& o : table.omnibus) out += "  " + omnibus_line(table, o) + "\n";
  }
  if (!table.wins.empty()) {
    out += fmt::format("\nSummary (cost metrics: time and energy; significant at adjusted p < {:g}):\n",
                       table.options.alpha);
    out += wins_text(table);
  }
  if (!table.notes.empty()) {
    out += "\nNotes:\n";
    for (const auto& n : table.notes) out += "  - " + n + "\n";
  }
  out +=
      "\n* significant; ratio = higher mean / lower mean; A12 = probability that a run of the higher side is "
      "higher than one of the lower side\n";
  return out;
}

// ---- Markdown ---------------------------------------------------------------------------------

std::string markdown_report(const ComparisonTable& table) {
  std::string out = "Method: " + md_escape(method_line(table)) + ".\n\n" + runs_line(table) + ".\n\n";
  using report_detail::TableCell;
  const auto left = [](std::string name) {
    return report_detail::TableColumn{std::move(name), report_detail::ColumnAlign::left, {}};
  };
  report_detail::Table pairs({left("group"), left("metric"), left("sides"), left("n"), left("mean ± sd"),
                              left("median"), left("ratio (higher / lower) [CI]"), left("test"),
                              left("p (" + correction_title(table.options.correction) + ")"), left("A12")});
  for (const auto& pair : table.pairs) {
    pairs.add_row({TableCell::text(group_text(pair.group)), TableCell::text(metric_title(table, pair.metric)),
                   TableCell::text(pair.first.name + " / " + pair.second.name),
                   TableCell::formatted(fmt::format("{} / {}", pair.first.values.size(), pair.second.values.size())),
                   TableCell::formatted(mean_sd(pair.first) + " / " + mean_sd(pair.second)),
                   TableCell::formatted(median(pair.first) + " / " + median(pair.second)),
                   TableCell::text(pair.ratio && pair.higher ? ratio_cell(pair) : "-"), TableCell::formatted(pair.test),
                   TableCell::formatted(p_cell(pair)), TableCell::formatted(a12_cell(pair))});
  }
  out += pairs.markdown() + "\n";
  for (const auto& pair : table.pairs) out += "- " + md_escape(group_text(pair.group) + ": " + pair.verdict) + "\n";
  if (!table.omnibus.empty()) {
    out += "\n";
    for (const auto& o : table.omnibus) out += "- " + md_escape(omnibus_line(table, o)) + "\n";
  }
  if (!table.wins.empty()) {
    report_detail::Table wins(
        {left("scope"), left("side"), left("cost comparisons"), left("significantly cheaper"), left("of which large")});
    for (const auto& w : table.wins) {
      wins.add_row({TableCell::text(w.scope), TableCell::text(w.side),
                    TableCell::integer(static_cast<long long>(w.comparisons)),
                    TableCell::integer(static_cast<long long>(w.significant_wins)),
                    TableCell::integer(static_cast<long long>(w.large_wins))});
    }
    out += "\n" + wins.markdown();
  }
  for (const auto& n : table.notes) out += "\n> " + md_escape(n) + "\n";
  return out;
}

// ---- HTML (one group, for the report page) ------------------------------------------------------

std::string html_group(const ComparisonTable& table, const KeyValues& group) {
  std::string rows;
  std::string verdicts;
  for (const auto& pair : table.pairs) {
    if (pair.group != group) continue;
    rows += fmt::format(
        "<tr><td>{}</td><td>{} / {}</td><td class=\"num\">{} / {}</td><td class=\"num\">{} / {}</td>"
        "<td class=\"num\">{} / {}</td><td>{}</td><td>{}</td><td class=\"num{}\">{}</td><td>{}</td></tr>\n",
        html_escape(metric_title(table, pair.metric)), html_escape(pair.first.name), html_escape(pair.second.name),
        pair.first.values.size(), pair.second.values.size(), html_escape(mean_sd(pair.first)),
        html_escape(mean_sd(pair.second)), median(pair.first), median(pair.second),
        html_escape(pair.ratio && pair.higher ? ratio_cell(pair) : "-"), html_escape(pair.test),
        pair.significant ? " significant" : "", html_escape(p_cell(pair)), html_escape(a12_cell(pair)));
    verdicts += "<li>" + html_escape(pair.verdict) + "</li>\n";
  }
  if (rows.empty()) return "<p>No comparison: this group has runs of fewer than two sides.</p>\n";
  std::string out = fmt::format(
      "<table class=\"comparison\">\n<thead><tr><th>metric</th><th>sides</th><th>n</th><th>mean &plusmn; sd</th>"
      "<th>median</th><th>ratio (higher / lower) [CI]</th><th>test</th><th>p ({})</th><th>A12</th></tr></thead>\n"
      "<tbody>\n{}</tbody>\n</table>\n<ul class=\"verdicts\">\n{}</ul>\n",
      html_escape(correction_title(table.options.correction)), rows, verdicts);
  for (const auto& o : table.omnibus) {
    if (o.group == group) out += "<p class=\"omnibus\">" + html_escape(omnibus_line(table, o)) + "</p>\n";
  }
  return out;
}

// ---- CSV and JSON -------------------------------------------------------------------------------

/// The facts of one comparison, flat, unrounded: the CSV's columns and the JSON's keys.
ordered_json pair_json(const ComparisonTable& table, const PairComparison& pair) {
  const auto optional_number = [](const std::optional<double>& v) -> ordered_json {
    return v && std::isfinite(*v) ? ordered_json(*v) : ordered_json(nullptr);
  };
  ordered_json j = ordered_json::object();
  for (const auto& [k, v] : pair.group) j[k] = v;
  const auto& metric = table.metrics[pair.metric];
  j["metric"] = metric.name;
  j["unit"] = metric.unit;
  j["kind"] = metric.kind == MetricKind::cost ? "cost" : "quality";
  j["estimated"] = table.metric_estimated[pair.metric];
  for (const auto* side : {&pair.first, &pair.second}) {
    const std::string p = side == &pair.first ? "first" : "second";
    j[p] = side->name;
    j["n_" + p] = side->values.size();
    const bool ok = side->descriptive.ok();
    j["mean_" + p] = ok ? ordered_json(side->descriptive->mean) : ordered_json(nullptr);
    j["sd_" + p] = ok ? optional_number(side->descriptive->sd) : ordered_json(nullptr);
    j["median_" + p] = ok ? ordered_json(side->descriptive->median) : ordered_json(nullptr);
    j["iqr_" + p] = ok ? ordered_json(side->descriptive->iqr) : ordered_json(nullptr);
    j["cv_" + p] = ok ? optional_number(side->descriptive->cv) : ordered_json(nullptr);
    j["min_" + p] = ok ? ordered_json(side->descriptive->min) : ordered_json(nullptr);
    j["max_" + p] = ok ? ordered_json(side->descriptive->max) : ordered_json(nullptr);
    j["outliers_" + p] = ok ? side->descriptive->outliers.size() : 0;
    j["warmup_excluded_" + p] = side->warmup_excluded;
    j["failed_excluded_" + p] = side->failed_excluded;
    j["missing_" + p] = side->missing;
    j["incomplete_" + p] = side->incomplete;
  }
  j["test"] = pair.test;
  j["p_value"] = pair.p_value ? ordered_json(*pair.p_value) : ordered_json(nullptr);
  j["p_adjusted"] = optional_number(pair.p_adjusted);
  j["correction"] = std::string(stats::correction_name(table.options.correction));
  j["significant"] = pair.significant;
  j["higher"] =
      pair.higher ? ordered_json(*pair.higher == 0 ? pair.first.name : pair.second.name) : ordered_json(nullptr);
  j["ratio"] = pair.ratio ? ordered_json(pair.ratio->estimate) : ordered_json(nullptr);
  j["ratio_lower"] = pair.ratio ? ordered_json(pair.ratio->lower) : ordered_json(nullptr);
  j["ratio_upper"] = pair.ratio ? ordered_json(pair.ratio->upper) : ordered_json(nullptr);
  j["ratio_of"] = table.options.bootstrap.ratio_of == stats::RatioOf::mean ? "mean" : "median";
  // BCa where defined; the percentile interval where BCa is not (constant samples).
  j["ratio_interval"] = pair.ratio
                            ? ordered_json(pair.ratio->method == stats::BootstrapMethod::bca ? "bca" : "percentile")
                            : ordered_json(nullptr);
  j["a12"] = pair.a12 ? ordered_json(pair.a12->value) : ordered_json(nullptr);
  j["a12_magnitude"] =
      pair.a12 ? ordered_json(stats::effect_magnitude_name(pair.a12->magnitude)) : ordered_json(nullptr);
  j["cliffs_delta"] = pair.cliffs_delta ? ordered_json(pair.cliffs_delta->value) : ordered_json(nullptr);
  j["cliffs_delta_magnitude"] = pair.cliffs_delta
                                    ? ordered_json(stats::effect_magnitude_name(pair.cliffs_delta->magnitude))
                                    : ordered_json(nullptr);
  j["reason"] = pair.p_value ? "" : pair.p_value.reason();
  j["verdict"] = pair.verdict;
  return j;
}

/// The comparisons as one table, a row per pair: what CSV writes, and JSON's "comparisons".
report_detail::Table pairs_table(const ComparisonTable& table) {
  using report_detail::TableCell;
  std::vector<ordered_json> rows;
  for (const auto& pair : table.pairs) rows.push_back(pair_json(table, pair));
  // Every row has the same keys except the group's, which are the same across rows too.
  std::vector<report_detail::TableColumn> columns;
  if (!rows.empty()) {
    for (const auto& item : rows.front().items()) columns.push_back({item.key(), report_detail::ColumnAlign::left, {}});
  } else {
    for (const char* key : {"metric", "first", "second", "p_value", "verdict"})
      columns.push_back({key, report_detail::ColumnAlign::left, {}});
  }
  report_detail::Table out(columns);
  for (const auto& row : rows) {
    std::vector<TableCell> cells;
    for (const auto& column : columns) {
      const ordered_json value = row.value(column.name, ordered_json());
      if (value.is_string()) cells.push_back(TableCell::text(value.get<std::string>()));
      else if (value.is_boolean()) cells.push_back(TableCell::flag(value.get<bool>()));
      else if (value.is_number_integer()) cells.push_back(TableCell::integer(value.get<long long>()));
      else if (value.is_number()) cells.push_back(TableCell::number(value.get<double>()));
      else cells.emplace_back();
    }
    out.add_row(std::move(cells));
  }
  return out;
}

std::string csv_report(const ComparisonTable& table) { return pairs_table(table).csv(); }

std::string json_report(const ComparisonTable& table) {
  const auto& o = table.options;
  ordered_json j = json_document(JsonSchema::compare);
  j["between"] = o.between;
  j["group_by"] = o.group_by;
  j["sides"] = table.sides;
  j["method"] = {
      {"test", o.test == TestChoice::welch       ? "welch"
               : o.test == TestChoice::automatic ? "auto"
                                                 : "mann-whitney"},
      {"alternative", "two-sided"},
      {"alpha", o.alpha},
      {"correction", std::string(stats::correction_name(o.correction))},
      {"family", o.family == CorrectionFamily::metric  ? "metric"
                 : o.family == CorrectionFamily::group ? "group"
                                                       : "table"},
      {"a12_thresholds", {o.a12_thresholds.small, o.a12_thresholds.medium, o.a12_thresholds.large}},
      {"ratio_of", o.bootstrap.ratio_of == stats::RatioOf::mean ? "mean" : "median"},
      {"interval", o.bootstrap.method == stats::BootstrapMethod::bca ? "bca" : "percentile"},
      {"confidence", o.bootstrap.confidence},
      {"resamples", o.bootstrap.resamples},
      {"seed", o.bootstrap.seed},
  };
  j["runs"] = {{"read", table.runs},
               {"warmup_excluded", table.warmup_excluded},
               {"failed_excluded", table.failed_excluded},
               {"without_side", table.without_side}};
  j["comparisons"] = pairs_table(table).json();
  j["omnibus"] = ordered_json::array();
  for (const auto& om : table.omnibus) {
    ordered_json x = ordered_json::object();
    for (const auto& [k, v] : om.group) x[k] = v;
    x["metric"] = table.metrics[om.metric].name;
    x["sides"] = om.sides;
    x["test"] = "kruskal-wallis";
    x["h"] = om.kruskal_wallis ? ordered_json(om.kruskal_wallis->h) : ordered_json(nullptr);
    x["df"] = om.kruskal_wallis ? ordered_json(om.kruskal_wallis->df) : ordered_json(nullptr);
    x["p_value"] = om.kruskal_wallis ? ordered_json(om.kruskal_wallis->p_value) : ordered_json(nullptr);
    x["p_adjusted"] = om.p_adjusted ? ordered_json(*om.p_adjusted) : ordered_json(nullptr);
    x["reason"] = om.kruskal_wallis ? "" : om.kruskal_wallis.reason();
    j["omnibus"].push_back(std::move(x));
  }
  j["wins"] = ordered_json::array();
  for (const auto& w : table.wins) {
    j["wins"].push_back({{"scope", w.scope},
                         {"side", w.side},
                         {"comparisons", w.comparisons},
                         {"significant_wins", w.significant_wins},
                         {"large_wins", w.large_wins}});
  }
  j["notes"] = table.notes;
  return dump_json(j);
}

// ---- LaTeX ------------------------------------------------------------------------------------

std::string tex_mean_sd(const SideSummary& side) {
  if (!side.descriptive) return "--";
  const auto& d = *side.descriptive;
  return d.sd ? fmt::format("${} \\pm {}$", format_number(d.mean), format_number(*d.sd, 2)) : format_number(d.mean);
}

std::string latex_report(const ComparisonTable& table) {
  using report_detail::TableCell;
  std::string out = "% " + method_line(table) + "\n% " + runs_line(table) + "\n";
  for (const auto& n : table.notes) out += "% " + n + "\n";
  out += "% Needs \\usepackage{booktabs}.\n";
  const auto column = [](std::string latex, report_detail::ColumnAlign align) {
    return report_detail::TableColumn{latex, align, latex};
  };
  using report_detail::ColumnAlign;
  report_detail::Table pairs({column("Group", ColumnAlign::left), column("Metric", ColumnAlign::left),
                              column("Sides", ColumnAlign::left), column("Mean $\\pm$ sd (first)", ColumnAlign::right),
                              column("Mean $\\pm$ sd (second)", ColumnAlign::right),
                              column("Ratio [95\\% CI]", ColumnAlign::left),
                              column("$p$ (" + correction_title(table.options.correction) + ")", ColumnAlign::right),
                              column("$\\hat{A}_{12}$", ColumnAlign::left)});
  for (const auto& pair : table.pairs) {
    pairs.add_row({TableCell::text(group_text(pair.group)), TableCell::text(metric_title(table, pair.metric)),
                   TableCell::text(pair.first.name + " / " + pair.second.name),
                   TableCell::latex(tex_mean_sd(pair.first), mean_sd(pair.first)),
                   TableCell::latex(tex_mean_sd(pair.second), mean_sd(pair.second)),
                   pair.ratio ? TableCell::text(format_ratio(*pair.ratio)) : TableCell(),
                   pair.p_adjusted ? TableCell::latex(tex_escape(format_p_value(*pair.p_adjusted)) +
                                                          (pair.significant ? "$^{*}$" : ""),
                                                      format_p_value(*pair.p_adjusted))
                                   : TableCell(),
                   TableCell::text(a12_cell(pair))});
  }
  out += pairs.latex();
  return out;
}

}  // namespace

std::optional<TableFormat> parse_table_format(std::string_view name) {
  if (name == "table" || name == "text") return TableFormat::text;
  if (name == "md" || name == "markdown") return TableFormat::markdown;
  if (name == "csv") return TableFormat::csv;
  if (name == "json") return TableFormat::json;
  if (name == "latex" || name == "tex") return TableFormat::latex;
  return std::nullopt;
}

std::string comparison_method(const ComparisonTable& table) {
  return method_line(table) + ". " + runs_line(table) + ".";
}

std::string comparison_group_html(const ComparisonTable& table, const KeyValues& group) {
  return html_group(table, group);
}

std::string comparison_wins_html(const ComparisonTable& table) {
  if (table.wins.empty()) return {};
  std::string out =
      "<table class=\"wins\">\n<thead><tr><th>scope</th><th>side</th><th>cost comparisons</th>"
      "<th>significantly cheaper</th><th>of which large</th></tr></thead>\n<tbody>\n";
  for (const auto& w : table.wins) {
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        html_escape(w.scope), html_escape(w.side), w.comparisons, w.significant_wins, w.large_wins);
  }
  return out + "</tbody>\n</table>\n";
}

std::string comparison_report(const ComparisonTable& table, TableFormat format) {
  switch (format) {
    case TableFormat::text: return text_report(table);
    case TableFormat::markdown: return markdown_report(table);
    case TableFormat::csv: return csv_report(table);
    case TableFormat::json: return json_report(table);
    case TableFormat::latex: return latex_report(table);
  }
  return {};
}

}  // namespace joulebench

// A campaign beside a reference one (replication.hpp) as text, Markdown, CSV, JSON or LaTeX.
#include <fmt/format.h>

#include "joulebench/json_output.hpp"
#include "joulebench/report.hpp"
#include "report/escape.hpp"
#include "report/table.hpp"

namespace joulebench {

namespace {

using report_detail::TableCell;

std::string group_text(const KeyValues& group) {
  if (group.empty()) return "all runs";
  std::string out;
  for (const auto& [k, v] : group) out += fmt::format("{}{}={}", out.empty() ? "" : " ", k, v.empty() ? "(none)" : v);
  return out;
}

std::string metric_title(const MetricColumn& metric) {
  return metric.description + (metric.unit.empty() ? "" : " [" + metric.unit + "]");
}

std::string yes_no(const ReplicationRow& row, bool value) { return !row.compared() ? "-" : value ? "yes" : "no"; }

}  // namespace

std::string replication_method(const ReplicationComparison& c, const std::string& reference) {
  const auto& o = c.options;
  return fmt::format(
      "Beside the reference {}: {} run(s) read against its {}. Each campaign is compared on its own, as `compare` "
      "does ({}; {} within each family; significant: adjusted p < {:g}); ratios are second / first side in name "
      "order, of {}s, with {:g}% {} bootstrap intervals ({} resamples). The ratio of ratios is the campaign's over "
      "the reference's.",
      reference, c.current_runs, c.reference_runs,
      o.test == TestChoice::welch       ? "Welch's t"
      : o.test == TestChoice::automatic ? "Welch or Mann-Whitney U"
                                        : "Mann-Whitney U",
      correction_title(o.correction), o.alpha, o.bootstrap.ratio_of == stats::RatioOf::median ? "median" : "mean",
      o.bootstrap.confidence * 100, o.bootstrap.method == stats::BootstrapMethod::bca ? "BCa" : "percentile",
      o.bootstrap.resamples);
}

std::string replication_summary(const ReplicationComparison& c) {
  const auto share = [&](std::size_t n) {
    return c.compared == 0
               ? std::string()
               : fmt::format(" ({:.0f} %)", 100.0 * static_cast<double>(n) / static_cast<double>(c.compared));
  };
  std::string out = fmt::format(
      "{} comparison(s) in both campaigns: the direction agrees in {}{}, the significance in {}{}; the intervals "
      "overlap in {}{}.",
      c.compared, c.direction_agrees, share(c.direction_agrees), c.significance_agrees, share(c.significance_agrees),
      c.intervals_overlap, share(c.intervals_overlap));
  const std::size_t not_compared = c.rows.size() - c.compared;
  if (not_compared > 0)
    out += fmt::format(" {} not compared (in one campaign only, or without a ratio).", not_compared);
  return out;
}

namespace {

std::string text(const ReplicationComparison& c, const std::string& reference) {
  std::string out = replication_method(c, reference) + "\n";
  const KeyValues* group = nullptr;
  std::pair<std::string, std::string> sides;
  for (const auto& row : c.rows) {
    if (group == nullptr || *group != row.group || sides != std::pair{row.first, row.second}) {
      group = &row.group;
      sides = {row.first, row.second};
      out += fmt::format("\n{}: {} / {}\n", group_text(row.group), row.second, row.first);
      out += fmt::format("  {:<22} {:<26} {:<26} {:<24} {:<9} {:<12} {:<7} {}\n", "metric", "campaign [CI]",
                         "reference [CI]", "cheaper (campaign/ref)", "direction", "significance", "overlap",
                         "ratio of ratios");
    }
    const std::string cheaper =
        fmt::format("{} / {}", row.current && !row.current->cheaper.empty() ? row.current->cheaper : "-",
                    row.reference && !row.reference->cheaper.empty() ? row.reference->cheaper : "-");
    out += fmt::format("  {:<22} {:<26} {:<26} {:<24} {:<9} {:<12} {:<7} {}\n", metric_title(row.metric),
                       replication_ratio_text(row.current), replication_ratio_text(row.reference), cheaper,
                       !row.compared()        ? "-"
                       : row.direction_agrees ? "agrees"
                                              : "DIFFERS",
                       !row.compared()           ? "-"
                       : row.significance_agrees ? "agrees"
                                                 : "DIFFERS",
                       yes_no(row, row.intervals_overlap),
                       row.ratio_of_ratios ? format_number(*row.ratio_of_ratios) : row.problem);
  }
  out += "\n* significant in that campaign.\n" + replication_summary(c) + "\n";
  for (const auto& note : c.notes) out += "note: " + note + "\n";
  return out;
}

report_detail::Table table(const ReplicationComparison& c) {
  using report_detail::ColumnAlign;
  std::vector<report_detail::TableColumn> columns;
  for (const auto& key : c.options.group_by) columns.push_back({key, ColumnAlign::left, {}});
  for (const char* name : {"metric", "first", "second"}) columns.push_back({name, ColumnAlign::left, {}});
  for (const char* who : {"campaign", "reference"}) {
    for (const char* what : {"ratio", "ratio_lower", "ratio_upper", "cheaper", "significant", "p_adjusted"}) {
      columns.push_back({fmt::format("{}_{}", who, what), ColumnAlign::right, {}});
    }
  }
  for (const char* name :
       {"direction_agrees", "significance_agrees", "intervals_overlap", "ratio_of_ratios", "problem"}) {
    columns.push_back({name, ColumnAlign::right, {}});
  }
  report_detail::Table t(std::move(columns));
  for (const auto& row : c.rows) {
    std::vector<TableCell> cells;
    for (const auto& key : c.options.group_by) {
      std::string value;
      for (const auto& [k, v] : row.group) {
        if (k == key) value = v;
      }
      cells.push_back(TableCell::text(value));
    }
    cells.push_back(TableCell::text(row.metric.name));
    cells.push_back(TableCell::text(row.first));
    cells.push_back(TableCell::text(row.second));
    for (const auto* r : {&row.current, &row.reference}) {
      if (!*r) {
        for (int i = 0; i < 6; ++i) cells.emplace_back();
        continue;
      }
      const OrientedRatio& o = **r;
      cells.push_back(TableCell::number(o.ratio.estimate));
      cells.push_back(TableCell::number(o.ratio.lower));
      cells.push_back(TableCell::number(o.ratio.upper));
      cells.push_back(TableCell::text(o.cheaper));
      cells.push_back(TableCell::flag(o.significant));
      cells.push_back(TableCell::number(o.p_adjusted));
    }
    if (row.compared()) {
      cells.push_back(TableCell::flag(row.direction_agrees));
      cells.push_back(TableCell::flag(row.significance_agrees));
      cells.push_back(TableCell::flag(row.intervals_overlap));
    } else {
      for (int i = 0; i < 3; ++i) cells.emplace_back();
    }
    cells.push_back(TableCell::number(row.ratio_of_ratios));
    cells.push_back(TableCell::text(row.problem));
    t.add_row(std::move(cells));
  }
  return t;
}

}  // namespace

std::string replication_ratio_text(const std::optional<OrientedRatio>& r) {
  if (!r) return "-";
  return fmt::format("{} [{}, {}]{}", format_number(r->ratio.estimate), format_number(r->ratio.lower),
                     format_number(r->ratio.upper), r->significant ? " *" : "");
}

std::string replication_report(const ReplicationComparison& comparison, TableFormat format,
                               const std::string& reference) {
  switch (format) {
    case TableFormat::text: return text(comparison, reference);
    case TableFormat::csv: return table(comparison).csv();
    case TableFormat::markdown: {
      std::string out = report_detail::md_escape(replication_method(comparison, reference)) + "\n\n" +
                        table(comparison).markdown() + "\n" + replication_summary(comparison) + "\n";
      for (const auto& note : comparison.notes) out += "\n- " + report_detail::md_escape(note);
      return out + (comparison.notes.empty() ? "" : "\n");
    }
    case TableFormat::latex: return table(comparison).latex();
    case TableFormat::json: {
      Json document = json_document(JsonSchema::replication);
      document["reference"] = reference;
      document["method"] = replication_method(comparison, reference);
      document["runs"] = {{"campaign", comparison.current_runs}, {"reference", comparison.reference_runs}};
      document["rows"] = table(comparison).json();
      document["summary"] = {{"compared", comparison.compared},
                             {"direction_agrees", comparison.direction_agrees},
                             {"significance_agrees", comparison.significance_agrees},
                             {"intervals_overlap", comparison.intervals_overlap},
                             {"not_compared", comparison.rows.size() - comparison.compared}};
      document["notes"] = comparison.notes;
      return dump_json(document);
    }
  }
  return {};
}

}  // namespace joulebench

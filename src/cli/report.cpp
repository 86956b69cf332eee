// `joulebench report`: the HTML report of a campaign, with its figures and tables beside it.
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/report.hpp"

namespace joulebench::cli {

namespace {

struct ReportArguments {
  RunSelection selection;
  CompareArguments compare;
  ReferenceArguments reference;
  std::string output = "report";
  std::string figures = "svg";
  std::optional<double> carbon_intensity;
  double pue = 1.0;
  std::string quality;
  std::size_t top = 10;
  bool force = false;
};

int run_report(const ReportArguments& args) {
  const Store store(args.selection.db);
  const std::int64_t campaign = selected_campaign(store, args.selection);
  HtmlReportOptions options;
  options.directory = args.output;
  options.force = args.force;
  options.figure_format = *parse_figure_format(args.figures);
  if (args.carbon_intensity) options.carbon = CarbonConversion{*args.carbon_intensity, args.pue};
  options.quality_metric = args.quality;
  options.top_functions = args.top;
  // The grouping's default depends on the runs' labels: read them once without their timelines.
  options.compare = compare_options(args.compare, store.runs(campaign));
  if (!args.reference.db.empty()) {
    options.reference = HtmlReportOptions::Reference{reference_runs(args.reference), reference_title(args.reference)};
  }
  HtmlReportResult result;
  try {
    result = write_html_report(store, campaign, options);
  } catch (const FolderNotEmpty& e) {
    throw ReportError(fmt::format("{} (--force)", e.what()));
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("report", e.what());  // options that cannot work on the campaign or the reference
  }
  std::fprintf(stderr, "report: %s (%zu group(s), %zu figure(s))\n", result.index.c_str(), result.groups,
               result.figures);
  return 0;
}

}  // namespace

Command add_report(CLI::App& app) {
  auto* cmd = app.add_subcommand("report",
                                 "An HTML report of a campaign: distributions, power over time, cost against quality, "
                                 "function profiles, comparison tables, CO2e, and beside a reference campaign "
                                 "(--reference); figures drawn by gnuplot");
  auto args = std::make_shared<ReportArguments>();
  add_store_options(cmd, args->selection);
  cmd->add_option("-o,--output", args->output, "the report's folder (index.html, figures/, tables/)")
      ->type_name("DIR")
      ->capture_default_str();
  cmd->add_flag("--force", args->force,
                "write into a non-empty folder that holds no earlier report (files of other names are left alone, "
                "files of the names the report writes are replaced)");
  auto* figures = cmd->add_option("--figures", args->figures,
                                  "the kept figure files: svg, png or pdf (the page embeds SVG, or PNG)")
                      ->check(CLI::IsMember({"svg", "png", "pdf"}))
                      ->capture_default_str();
  add_deprecated_option(cmd, "--format", "--figures", [args](const std::string& value) {
    if (!parse_figure_format(value)) throw CLI::ValidationError("--format", "svg, png or pdf");
    args->figures = value;
  })->excludes(figures);
  auto* intensity =
      cmd->add_option("--carbon-intensity", args->carbon_intensity,
                      "the grid's carbon intensity in g CO2e per kWh, to convert energy to CO2e (none: no conversion)")
          ->check(CLI::NonNegativeNumber)
          ->type_name("G_PER_KWH");
  cmd->add_option("--pue", args->pue, "the facility's power usage effectiveness, for the CO2e conversion")
      ->check(CLI::Range(1.0, 10.0))
      ->needs(intensity)
      ->capture_default_str();
  cmd->add_option("--quality", args->quality,
                  "the metric drawn against energy (default: each group's first metric without a unit, e.g. accuracy)")
      ->type_name("METRIC");
  cmd->add_option("--top", args->top, "functions per profile figure")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_compare_options(cmd, args->compare, false);
  add_reference_options(cmd, args->reference);
  add_deprecated_interval(cmd, args->compare);
  cmd->get_option("--metrics")
      ->description(
          "what the tables compare, as for compare (default here: time, each energy domain and the total, "
          "dynamic_energy_total_j, and the metrics without a unit such as accuracy)");
  return {cmd, [args] { return run_report(*args); }};
}

}  // namespace joulebench::cli

#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/analysis.hpp"
#include "joulebench/report.hpp"
#include "joulebench/store.hpp"

namespace joulebench::cli {

Command add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write one tidy row per run (CSV or JSON): for pandas, R or a spreadsheet");
  auto selection = std::make_shared<RunSelection>();
  auto format = std::make_shared<std::string>("csv");
  auto output = std::make_shared<std::string>();
  auto raw = std::make_shared<bool>(false);
  add_selection_options(cmd, *selection);
  cmd->add_option("--format", *format, "csv or json")->check(CLI::IsMember({"csv", "json"}))->capture_default_str();
  cmd->add_option("-o,--output", *output, "write to this file instead of standard output")->type_name("FILE");
  cmd->add_flag("--raw", *raw,
                "CSV: write text as it is, without the ' before text a spreadsheet would run as a formula "
                "(=, +, -, @, tab or carriage return first)");
  return {cmd, [selection, format, output, raw] {
            const Store store(selection->db);
            const std::int64_t id = selected_campaign(store, *selection);
            const RunFilter filter = run_filter(*selection);
            ExportOptions options;
            options.guard_formulas = !*raw;
            const std::string text =
                *format == "json" ? export_json(store, id, filter) : export_csv(store, id, filter, options);
            write_report(text, *output, stdout);
            // Their columns are empty: say once why.
            for (const auto& domain : unmeasured_domains(store.runs(id, filter))) {
              std::fprintf(stderr, "joulebench: note: %s\n", describe_unmeasured(domain).c_str());
            }
            return 0;
          }};
}

}  // namespace joulebench::cli

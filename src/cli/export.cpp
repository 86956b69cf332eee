#include <cstdio>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/report.hpp"
#include "joulebench/store.hpp"

namespace joulebench::cli {

Command add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write one tidy row per run (CSV or JSON): for pandas, R or a spreadsheet");
  auto selection = std::make_shared<RunSelection>();
  auto format = std::make_shared<std::string>("csv");
  auto output = std::make_shared<std::string>();
  add_selection_options(cmd, *selection);
  cmd->add_option("--format", *format, "csv or json")->check(CLI::IsMember({"csv", "json"}))->capture_default_str();
  cmd->add_option("-o,--output", *output, "write to this file instead of standard output")->type_name("FILE");
  return {cmd, [selection, format, output] {
            const Store store(selection->db);
            const std::int64_t id = selected_campaign(store, *selection);
            const RunFilter filter = run_filter(*selection);
            const std::string text = *format == "json" ? export_json(store, id, filter) : export_csv(store, id, filter);
            write_report(text, *output, stdout);
            return 0;
          }};
}

}  // namespace joulebench::cli

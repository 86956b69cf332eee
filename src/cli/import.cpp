// `joulebench import`: runs measured elsewhere (a paper's data, another harness) into a store.
#include <cstdio>

#include "commands.hpp"

namespace joulebench::cli {

Command add_import(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "import", "Read a tidy CSV (the columns 'joulebench export' writes) into a store as a new campaign");
  auto csv = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  cmd->add_option("csv", *csv, "the runs: labels and at least one measured column")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--db", *db, "the store (created if it does not exist)")->required()->type_name("FILE");
  cmd->add_option("--name", *name, "the campaign's name (default: the CSV's campaign column, else its file name)");
  auto wait = std::make_shared<bool>(false);
  add_wait_option(cmd, *wait);
  return {cmd, [csv, db, name, wait] {
            WritableStore writable = open_store_for_writing(*db, *wait);
            Store& store = writable.store;
            const ImportResult result = import_csv(store, *csv, ImportOptions{*name});
            std::fprintf(stderr, "imported %zu run(s) from %s as campaign %lld '%s' in %s\n", result.runs, csv->c_str(),
                         static_cast<long long>(result.campaign), result.name.c_str(), db->c_str());
            return 0;
          }};
}

}  // namespace joulebench::cli

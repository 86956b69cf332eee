// `joulebench import`: runs measured elsewhere (a paper's data, another harness) into a store.
#include <cstdio>

#include "commands.hpp"

namespace joulebench::cli {

namespace {

struct ImportArguments {
  std::string from = "csv";
  std::string input;
  std::string db;
  std::string name;
  bool wait = false;
};

int run_import(const ImportArguments& args) {
  WritableStore writable = open_store_for_writing(args.db, args.wait);
  Store& store = writable.store;
  // --from has one value today (checked by CLI11); the study's raw files are the next.
  const ImportResult result = import_csv(store, args.input, ImportOptions{args.name});
  std::fprintf(stderr, "imported %zu run(s) from %s as campaign %lld '%s' in %s\n", result.runs, args.input.c_str(),
               static_cast<long long>(result.campaign), result.name.c_str(), args.db.c_str());
  return 0;
}

}  // namespace

Command add_import(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "import",
      "Read runs measured elsewhere into a store as a new campaign (--from csv: the columns 'export' writes)");
  auto args = std::make_shared<ImportArguments>();
  cmd->add_option("--from", args->from, "what the input is: csv (a tidy CSV, the columns 'joulebench export' writes)")
      ->check(CLI::IsMember({"csv"}))
      ->capture_default_str();
  cmd->add_option("input", args->input, "the runs: labels and at least one measured column")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--db", args->db, "the store (created if it does not exist)")->required()->type_name("FILE");
  cmd->add_option("--name", args->name, "the campaign's name (default: the CSV's campaign column, else its file name)");
  add_wait_option(cmd, args->wait);
  return {cmd, [args] { return run_import(*args); }};
}

}  // namespace joulebench::cli

// `joulebench import`: runs measured elsewhere (a paper's data, another harness) into a store.
#include <cstdio>

#include "commands.hpp"
#include "joulebench/replication.hpp"

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
  const ImportOptions options{args.name};
  const ImportResult result =
      args.from == "icse2022" ? import_icse2022(store, args.input, options) : import_csv(store, args.input, options);
  std::fprintf(stderr, "imported %zu run(s) from %s as campaign %lld '%s' in %s\n", result.runs, args.input.c_str(),
               static_cast<long long>(result.campaign), result.name.c_str(), args.db.c_str());
  return 0;
}

}  // namespace

Command add_import(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "import",
      "Read runs measured elsewhere into a store as a new campaign (--from csv: the columns 'export' writes; "
      "--from icse2022: the ICSE 2022 study's raw measurements)");
  auto args = std::make_shared<ImportArguments>();
  cmd->add_option("--from", args->from,
                  "what the input is: csv (a tidy CSV, the columns 'joulebench export' writes) or icse2022 (the "
                  "ICSE 2022 study's artifact folder: its raw perf and nvidia-smi files)")
      ->check(CLI::IsMember({"csv", "icse2022"}))
      ->capture_default_str();
  cmd->add_option("input", args->input,
                  "the runs: a CSV with labels and at least one measured column, or the study's folder")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--db", args->db, "the store (created if it does not exist)")->required()->type_name("FILE");
  cmd->add_option("--name", args->name, "the campaign's name (default: the CSV's campaign column, else its file name)");
  add_wait_option(cmd, args->wait);
  return {cmd, [args] { return run_import(*args); }};
}

}  // namespace joulebench::cli

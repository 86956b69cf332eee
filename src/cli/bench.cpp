// `joulebench bench 'CMD A' 'CMD B'`: hyperfine for energy. The commands become a campaign (a
// real plan, kept in the store, so the comparison can be rerun with `joulebench run`), run
// shuffled with warm-up and cool-down, and the comparison is printed.
#include <cstdio>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "commands.hpp"
#include "joulebench/plan.hpp"
#include "joulebench/process.hpp"

namespace joulebench::cli {

namespace {

namespace fs = std::filesystem;

struct BenchArguments {
  std::vector<std::string> commands;
  std::vector<std::string> names;
  int runs = 10;
  int warmup = 1;
  std::string cooldown = "5s";
  std::string idle = "5s";
  std::string timeout;
  std::uint64_t order_seed = 42;
  bool shell = false;
  std::string db;
  bool wait = false;
};

/// The commands as a campaign: each a workload of its own, compared by name.
CampaignPlan bench_plan(const BenchArguments& args) {
  CampaignPlan plan;
  plan.name = "bench";
  plan.seed = args.order_seed;
  plan.repetitions = args.runs;
  plan.warmup = args.warmup;
  plan.order = RunOrder::shuffled;
  plan.cooldown.fixed = duration_option("--cooldown", args.cooldown);
  plan.idle = duration_option("--idle", args.idle);
  const std::optional<Seconds> timeout =
      args.timeout.empty() ? std::nullopt : std::optional<Seconds>(duration_option("--timeout", args.timeout));
  for (std::size_t i = 0; i < args.commands.size(); ++i) {
    WorkloadSpec w;
    w.name = args.names[i];
    w.labels = {{"framework", args.names[i]}, {"model", "bench"}, {"phase", "run"}};
    w.shell = args.shell;
    if (args.shell) {
      w.command = {"/bin/sh", "-c", args.commands[i]};
    } else {
      try {
        w.command = split_shell_words(args.commands[i]);
      } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("bench", fmt::format("command {}: {}", i + 1, e.what()));
      }
    }
    w.timeout = timeout;
    w.repetitions = plan.repetitions;
    w.warmup = plan.warmup;
    plan.workloads.push_back(std::move(w));
  }
  try {
    seal_plan(plan, "Written by `joulebench bench`; run it again with `joulebench run THIS_FILE`.");
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("bench", e.what());
  }
  return plan;
}

int bench(BenchArguments args, CompareArguments compare) {
  if (args.commands.size() < 2) throw CLI::ValidationError("bench", "give at least two commands to compare");
  if (!args.names.empty() && args.names.size() != args.commands.size()) {
    throw CLI::ValidationError("-n", fmt::format("{} name(s) for {} command(s): give one per command, or none",
                                                 args.names.size(), args.commands.size()));
  }
  if (args.names.empty()) args.names = args.commands;
  if (std::set<std::string>(args.names.begin(), args.names.end()).size() != args.names.size()) {
    throw CLI::ValidationError("-n", "two commands have the same name: name them apart with -n");
  }
  CampaignPlan plan = bench_plan(args);

  std::optional<TemporaryFolder> temporary;
  fs::path db;
  if (args.db.empty()) {
    temporary.emplace("bench");
    db = temporary->path() / "bench.db";
  } else {
    db = args.db;
  }
  const MachineLock measuring = begin_measuring(temporary ? std::string() : fs::absolute(db).string(), args.wait);
  const fs::path plan_file = fs::path(db).replace_extension(".toml");
  plan.path = plan_file;
  if (temporary == std::nullopt) {
    write_file_for_invoking_user(plan_file, plan.text);
  }

  WritableStore writable = open_store_for_writing(db, args.wait);
  Store& store = writable.store;
  CampaignOptions options;
  options.start_new = true;
  const CampaignResult result = run_with_progress(plan, store, options);
  std::fprintf(stderr, "\n");
  const auto runs = store.runs(result.campaign);
  print_comparison(compare, runs);
  if (temporary == std::nullopt) {
    std::fprintf(stderr, "runs stored in %s (campaign %lld); plan in %s\n", db.string().c_str(),
                 static_cast<long long>(result.campaign), plan_file.string().c_str());
  }
  return result.interrupted ? 130 : 0;
}

}  // namespace

Command add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Compare commands' energy and time, like hyperfine: shuffled runs, warm-up, cool-down, then the verdict");
  auto args = std::make_shared<BenchArguments>();
  auto compare = std::make_shared<CompareArguments>();
  compare->between = "workload";
  compare->group_by_given = true;  // one group: the commands themselves
  cmd->add_option("commands", args->commands,
                  "the commands (each one argument; quoted words are split as a shell would)")
      ->required();
  cmd->add_option("-r,--runs", args->runs, "measured runs of each command")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("-w,--warmup", args->warmup, "unmeasured warm-up runs of each command")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--cooldown", args->cooldown, "the wait between runs")->capture_default_str();
  cmd->add_option("--idle", args->idle, "the idle baseline measured first (0s: none; no idle-adjusted energy then)")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "kill a run after this long (recorded as timed-out)");
  cmd->add_option("-n,--command-name", args->names, "a name for each command, in order (repeat: -n a -n b)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  cmd->add_option("--order-seed", args->order_seed, "the seed of the shuffled run order")->capture_default_str();
  cmd->add_flag("--shell", args->shell, "run each command with /bin/sh -c (default: split into words, no shell)");
  cmd->add_option("--db", args->db, "keep the runs in this store, with the plan beside it (default: a temporary store)")
      ->type_name("FILE");
  add_wait_option(cmd, args->wait);
  add_compare_options(cmd, *compare);
  return {cmd, [args, compare] { return bench(*args, *compare); }};
}

}  // namespace joulebench::cli

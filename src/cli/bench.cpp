// `joulebench bench 'CMD A' 'CMD B'`: hyperfine for energy. The commands become a campaign (a
// real plan, kept in the store, so the comparison can be rerun with `joulebench run`), run
// shuffled with warm-up and cool-down, and the comparison is printed.
#include <stdlib.h>

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

/// A TOML basic string.
std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

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

std::string bench_plan_text(const BenchArguments& args) {
  std::string text = fmt::format(
      "# Written by `joulebench bench`; run it again with `joulebench run THIS_FILE`.\n"
      "[campaign]\nname = \"bench\"\nseed = {}\nrepetitions = {}\nwarmup = {}\norder = \"shuffled\"\n"
      "cooldown = {}\nidle = {}\n",
      args.order_seed, args.runs, args.warmup, toml_string(args.cooldown), toml_string(args.idle));
  for (std::size_t i = 0; i < args.commands.size(); ++i) {
    const std::string& name = args.names[i];
    text += fmt::format("\n[[workload]]\nname = {}\nframework = {}\nmodel = \"bench\"\nphase = \"run\"\ncommand = {}\n",
                        toml_string(name), toml_string(name), toml_string(args.commands[i]));
    if (args.shell) text += "shell = true\n";
    if (!args.timeout.empty()) text += fmt::format("timeout = {}\n", toml_string(args.timeout));
  }
  return text;
}

/// A folder removed when the bench ends, for the store a user did not ask to keep.
class TemporaryFolder {
 public:
  TemporaryFolder() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = (fs::path(base && *base ? base : "/tmp") / "joulebench-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary folder for the store");
    path_ = pattern;
  }
  ~TemporaryFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

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
  for (const auto* d : {&args.cooldown, &args.idle}) duration_option("--cooldown/--idle", *d);
  if (!args.timeout.empty()) duration_option("--timeout", args.timeout);

  std::optional<TemporaryFolder> temporary;
  fs::path db;
  if (args.db.empty()) {
    temporary.emplace();
    db = temporary->path() / "bench.db";
  } else {
    db = args.db;
  }
  const MachineLock measuring = begin_measuring(temporary ? std::string() : fs::absolute(db).string(), args.wait);
  const fs::path plan_file = fs::path(db).replace_extension(".toml");
  const std::string text = bench_plan_text(args);
  CampaignPlan plan;
  try {
    plan = parse_plan(text, plan_file);
  } catch (const PlanError& e) {
    // The commands themselves are the only free text: a quote left open, say.
    throw CLI::ValidationError("bench", e.message());
  }
  if (temporary == std::nullopt) {
    std::FILE* f = ::fdopen(create_file_for_invoking_user(plan_file), "w");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
      throw std::runtime_error(fmt::format("cannot write {}", plan_file.string()));
    }
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
      "bench", "Compare commands' energy and time, like hyperfine: shuffled runs, warm-up, cool-down, then the verdict");
  auto args = std::make_shared<BenchArguments>();
  auto compare = std::make_shared<CompareArguments>();
  compare->between = "workload";
  compare->group_by_given = true;  // one group: the commands themselves
  cmd->add_option("commands", args->commands, "the commands (each one argument; quoted words are split as a shell would)")
      ->required();
  cmd->add_option("-r,--runs", args->runs, "measured runs of each command")->check(CLI::Range(1, 100000))->capture_default_str();
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

// `joulebench bench 'CMD A' 'CMD B'`: hyperfine for energy. The commands (times each parameter
// value of -P/-L) become a campaign (a real plan, kept in the store, so it can be rerun with
// `joulebench run`), run shuffled with warm-up and cool-down; each command's time and energy are
// printed, then the comparison when there are two or more.
#include <algorithm>
#include <cmath>
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
  std::string interval = "100ms";
  std::uint64_t order_seed = 42;
  bool shell = false;
  std::vector<std::string> prepare;
  std::vector<std::string> setup;
  std::vector<std::string> cleanup;
  std::vector<std::string> parameter_scan;   ///< NAME MIN MAX
  std::string step_size;                     ///< -D; "" is 1
  std::vector<std::string> parameter_lists;  ///< NAME A,B,C, repeated
  bool ignore_failure = false;
  std::string export_json;
  std::string export_csv;
  std::string export_markdown;
  std::string db;
  bool wait = false;
};

struct Parameter {
  std::string name;
  std::vector<std::string> values;
};

double scan_number(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(value))
    throw CLI::ValidationError("-P", fmt::format("{} '{}' is not a number", what, text));
  return value;
}

/// -P NAME MIN MAX with -D STEP: MIN, MIN + STEP, ... up to MAX, written as integers when all are.
Parameter scanned_parameter(const std::vector<std::string>& scan, const std::string& step_text) {
  const double min = scan_number(scan[1], "the minimum");
  const double max = scan_number(scan[2], "the maximum");
  const double step = step_text.empty() ? 1.0 : scan_number(step_text, "the step (-D)");
  if (step <= 0) throw CLI::ValidationError("-D", "the step must be more than 0");
  if (min > max) throw CLI::ValidationError("-P", fmt::format("the minimum {} is above the maximum {}", min, max));
  constexpr double kMaxValues = 10000;
  const double count = std::floor((max - min) / step * (1 + 1e-12)) + 1;
  if (count > kMaxValues)
    throw CLI::ValidationError("-P", fmt::format("{:g} values: at most {:g}; raise -D", count, kMaxValues));
  // Integers are written as such while a double holds them exactly (below 2^53).
  constexpr double kExactIntegers = 9007199254740992.0;
  const bool integers = std::floor(min) == min && std::floor(step) == step && std::abs(min) < kExactIntegers &&
                        std::abs(max) < kExactIntegers;
  Parameter parameter{scan[0], {}};
  for (int i = 0; i < static_cast<int>(count); ++i) {
    const double value = min + i * step;  // no running sum: no rounding drift
    parameter.values.push_back(integers ? fmt::format("{}", static_cast<long long>(value))
                                        : fmt::format("{:.10g}", value));
  }
  return parameter;
}

std::vector<Parameter> parameters(const BenchArguments& args) {
  std::vector<Parameter> out;
  if (args.parameter_scan.empty() && !args.step_size.empty())
    throw CLI::ValidationError("-D", "a step is for -P's scan: give -P NAME MIN MAX too");
  if (!args.parameter_scan.empty()) out.push_back(scanned_parameter(args.parameter_scan, args.step_size));
  for (std::size_t i = 0; i + 1 < args.parameter_lists.size(); i += 2) {
    Parameter parameter{args.parameter_lists[i], split_commas(args.parameter_lists[i + 1])};
    if (parameter.values.empty())
      throw CLI::ValidationError("-L", fmt::format("parameter '{}' has no values", parameter.name));
    out.push_back(std::move(parameter));
  }
  std::set<std::string> seen;
  for (const auto& p : out) {
    if (p.name.empty() || p.name.find_first_of("{} ") != std::string::npos)
      throw CLI::ValidationError("-P/-L", fmt::format("'{}' is not a parameter name", p.name));
    if (!seen.insert(p.name).second)
      throw CLI::ValidationError("-P/-L", fmt::format("parameter '{}' is given twice", p.name));
  }
  return out;
}

/// Every combination of the parameters' values, the first parameter varying slowest.
std::vector<KeyValues> combinations(const std::vector<Parameter>& parameters) {
  std::vector<KeyValues> out{{}};
  for (const auto& p : parameters) {
    std::vector<KeyValues> next;
    for (const auto& partial : out) {
      for (const auto& value : p.values) {
        KeyValues extended = partial;
        extended.emplace_back(p.name, value);
        next.push_back(std::move(extended));
      }
    }
    out = std::move(next);
  }
  return out;
}

/// `text` with each {NAME} replaced by the parameter's value.
std::string with_values(std::string text, const KeyValues& values) {
  for (const auto& [name, value] : values) {
    const std::string placeholder = "{" + name + "}";
    for (std::size_t at = text.find(placeholder); at != std::string::npos;
         at = text.find(placeholder, at + value.size())) {
      text.replace(at, placeholder.size(), value);
    }
  }
  return text;
}

/// -p/-s/-c: none, one for every command, or one per command.
std::string helper_for(const std::vector<std::string>& given, std::size_t command, const char* option,
                       std::size_t commands) {
  if (given.empty()) return {};
  if (given.size() == 1) return given.front();
  if (given.size() != commands) {
    throw CLI::ValidationError(option, fmt::format("{} given for {} command(s): give one for all, or one per command",
                                                   given.size(), commands));
  }
  return given[command];
}

std::vector<std::string> shell_command(const std::string& text) {
  if (text.empty()) return {};
  return {"/bin/sh", "-c", text};
}

/// One bench command with one combination of parameter values: a workload of the plan.
struct BenchCommand {
  std::string name;
  std::string command;
  KeyValues parameters;
};

/// The commands as a campaign: each command and parameter combination a workload of its own,
/// compared by name; -p, -s and -c are its prepare, setup and cleanup (run by /bin/sh, as hyperfine does).
CampaignPlan bench_plan(const BenchArguments& args, std::vector<BenchCommand>& commands) {
  CampaignPlan plan;
  plan.name = "bench";
  plan.seed = args.order_seed;
  plan.repetitions = args.runs;
  plan.warmup = args.warmup;
  plan.order = RunOrder::shuffled;
  plan.cooldown.fixed = duration_option("--cooldown", args.cooldown);
  plan.idle = duration_option("--idle", args.idle);
  plan.interval = duration_option("--interval", args.interval);
  if (plan.interval < Seconds(1e-3) * 0.999) throw CLI::ValidationError("--interval", "must be 1ms or more");
  const std::optional<Seconds> timeout =
      args.timeout.empty() ? std::nullopt : std::optional<Seconds>(duration_option("--timeout", args.timeout));
  const auto params = parameters(args);
  const auto combos = combinations(params);
  for (const auto& p : params) {
    const std::string placeholder = "{" + p.name + "}";
    const bool used = std::any_of(args.commands.begin(), args.commands.end(),
                                  [&](const std::string& c) { return c.find(placeholder) != std::string::npos; });
    if (!used) throw CLI::ValidationError("-P/-L", fmt::format("no command uses {}", placeholder));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < args.commands.size(); ++i) {
    for (const KeyValues& values : combos) {
      BenchCommand c{with_values(args.names.empty() ? args.commands[i] : args.names[i], values),
                     with_values(args.commands[i], values), values};
      if (!names.insert(c.name).second) {
        throw CLI::ValidationError(
            "-n", fmt::format("two commands are named '{}': name them apart with -n (which may use {{NAME}})", c.name));
      }
      WorkloadSpec w;
      w.name = c.name;
      w.labels = {{"framework", c.name}, {"model", "bench"}, {"phase", "run"}};
      w.labels.insert(w.labels.end(), values.begin(), values.end());
      w.shell = args.shell;
      if (args.shell) {
        w.command = shell_command(c.command);
      } else {
        try {
          w.command = split_shell_words(c.command);
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError("bench", fmt::format("command {}: {}", i + 1, e.what()));
        }
      }
      const std::size_t n = args.commands.size();
      w.prepare = shell_command(with_values(helper_for(args.prepare, i, "--prepare", n), values));
      w.setup = shell_command(with_values(helper_for(args.setup, i, "--setup", n), values));
      w.cleanup = shell_command(with_values(helper_for(args.cleanup, i, "--cleanup", n), values));
      w.timeout = timeout;
      w.repetitions = plan.repetitions;
      w.warmup = plan.warmup;
      plan.workloads.push_back(std::move(w));
      commands.push_back(std::move(c));
    }
  }
  try {
    seal_plan(plan, "Written by `joulebench bench`; run it again with `joulebench run THIS_FILE`.");
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("bench", e.what());
  }
  return plan;
}

std::string describe_failure(const RunRecord& run) {
  std::string what = run.reason.empty() ? std::string(run_status_name(run.status)) : run.reason;
  if (run.exit_code && run.status == RunStatus::failed) what = fmt::format("exit code {}", *run.exit_code);
  return fmt::format("{} {} {}: {}", run.workload, run.warmup ? "warm-up" : "run", run.repetition, what);
}

/// Each command's figures go to standard output, unless the comparison writes a machine-readable
/// format there (--format json with no -o): then to standard error, so the output parses.
void write_results(const BenchArguments& args, std::span<const BenchResult> results, const CompareArguments& compare) {
  const bool comparison_on_stdout = results.size() >= 2 && compare.output.empty() && compare.format != "table";
  std::fputs(bench_report(results, BenchFormat::text).c_str(), comparison_on_stdout ? stderr : stdout);
  if (!args.export_json.empty()) write_report(bench_report(results, BenchFormat::json), args.export_json, stdout);
  if (!args.export_csv.empty()) write_report(bench_report(results, BenchFormat::csv), args.export_csv, stdout);
  if (!args.export_markdown.empty())
    write_report(bench_report(results, BenchFormat::markdown), args.export_markdown, stdout);
}

int bench(BenchArguments args, const CompareArguments& compare) {
  if (!args.names.empty() && args.names.size() != args.commands.size()) {
    throw CLI::ValidationError("-n", fmt::format("{} name(s) for {} command(s): give one per command, or none",
                                                 args.names.size(), args.commands.size()));
  }
  std::vector<BenchCommand> commands;
  CampaignPlan plan = bench_plan(args, commands);
  if (commands.size() == 1 && (compare.format != "table" || !compare.output.empty())) {
    throw CLI::ValidationError("--format/-o",
                               "they format the comparison, and one command has none: its figures go "
                               "to --export-json, --export-csv or --export-markdown");
  }

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
  options.stop_at_first_failure = !args.ignore_failure;
  const CampaignResult result = run_with_progress(plan, store, options);
  std::fprintf(stderr, "\n");
  if (temporary == std::nullopt) {
    std::fprintf(stderr, "runs stored in %s (campaign %lld); plan in %s\n", db.string().c_str(),
                 static_cast<long long>(result.campaign), plan_file.string().c_str());
  }
  for (const auto& [workload, why] : result.failed_cleanups)
    std::fprintf(stderr, "joulebench bench: the cleanup of %s failed: %s\n", workload.c_str(), why.c_str());
  if (result.stopped_by) {
    std::fprintf(stderr,
                 "joulebench bench: %s. Stopped there, as hyperfine does; -i (--ignore-failure) measures "
                 "failing commands too\n",
                 describe_failure(*result.stopped_by).c_str());
    return 1;
  }
  const auto runs = store.runs(result.campaign);
  // In the order the commands were given, as hyperfine lists them (the runs were shuffled).
  auto summaries = summarize_workloads(runs, compare.confidence);
  std::vector<BenchResult> results;
  for (const BenchCommand& c : commands) {
    const auto it = std::find_if(summaries.begin(), summaries.end(),
                                 [&](const WorkloadSummary& s) { return s.workload == c.name; });
    if (it != summaries.end()) results.push_back({c.command, c.parameters, std::move(*it)});
  }
  write_results(args, results, compare);
  if (commands.size() >= 2) print_comparison(compare, runs);
  if (result.interrupted) return 130;
  return result.failed_cleanups.empty() ? 0 : 1;
}

}  // namespace

Command add_bench(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("bench",
                         "Measure commands' time and energy, like hyperfine: shuffled runs, warm-up, cool-down, "
                         "each command's figures, then the verdict between them");
  auto args = std::make_shared<BenchArguments>();
  auto compare = std::make_shared<CompareArguments>();
  compare->between = "workload";
  compare->group_by_given = true;  // one group: the commands themselves
  cmd->add_option("commands", args->commands,
                  "the commands (each one argument; quoted words are split as a shell would; {NAME} takes a "
                  "parameter's value)")
      ->required();
  cmd->add_option("-r,--runs", args->runs, "measured runs of each command")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("-w,--warmup", args->warmup, "unmeasured warm-up runs of each command")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("-p,--prepare", args->prepare,
                  "a shell command run before every run, unmeasured (once: for all commands; or once per command)")
      ->type_name("CMD")
      ->allow_extra_args(false);
  cmd->add_option("-s,--setup", args->setup, "a shell command run once before a command's runs, unmeasured")
      ->type_name("CMD")
      ->allow_extra_args(false);
  cmd->add_option("-c,--cleanup", args->cleanup, "a shell command run once after a command's last run, unmeasured")
      ->type_name("CMD")
      ->allow_extra_args(false);
  cmd->add_option("-P,--parameter-scan", args->parameter_scan,
                  "run each command for NAME = MIN, MIN + STEP, ... MAX ({NAME} in the command)")
      ->expected(3)
      ->type_name("NAME MIN MAX");
  cmd->add_option("-D,--parameter-step-size", args->step_size, "the step of -P (default: 1)")->type_name("STEP");
  cmd->add_option("-L,--parameter-list", args->parameter_lists,
                  "run each command for each value of NAME, comma-separated (repeatable: every combination)")
      ->expected(2)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->type_name("NAME VALUES");
  cmd->add_flag("-i,--ignore-failure", args->ignore_failure,
                "measure on when a run fails (default: the first failing run stops the bench, exit status 1)");
  cmd->add_option("--cooldown", args->cooldown, "the wait between runs")->capture_default_str();
  cmd->add_option("--idle", args->idle, "the idle baseline measured first (0s: none; no idle-adjusted energy then)")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "kill a run after this long (recorded as timed-out)");
  cmd->add_option("--interval", args->interval, "how often the meter samples power (1ms or more)")
      ->capture_default_str()
      ->type_name("DURATION");
  cmd->add_option("-n,--command-name", args->names,
                  "a name for each command, in order (repeat: -n a -n b; may use {NAME})")
      ->type_name("NAME")
      ->allow_extra_args(false);
  cmd->add_option("--order-seed", args->order_seed, "the seed of the shuffled run order")->capture_default_str();
  cmd->add_flag("--shell", args->shell, "run each command with /bin/sh -c (default: split into words, no shell)");
  cmd->add_option("--export-json", args->export_json,
                  "write the results as JSON in hyperfine's shape, with energy per command and per run")
      ->type_name("FILE");
  cmd->add_option("--export-csv", args->export_csv, "write the results as CSV: hyperfine's columns, then energy")
      ->type_name("FILE");
  cmd->add_option("--export-markdown", args->export_markdown, "write the results as a Markdown table")
      ->type_name("FILE");
  cmd->add_option("--db", args->db, "keep the runs in this store, with the plan beside it (default: a temporary store)")
      ->type_name("FILE");
  add_wait_option(cmd, args->wait);
  add_compare_options(cmd, *compare);
  return {cmd, [args, compare] { return bench(*args, *compare); }};
}

}  // namespace joulebench::cli

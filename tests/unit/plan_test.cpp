#include <gtest/gtest.h>

#include <chrono>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <unistd.h>

#include "joulebench/plan.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using Words = std::vector<std::string>;

/// The message of the PlanError a plan raises, or "no error".
std::string error_of(std::string_view text) {
  try {
    (void)parse_plan(text, "plan.toml");
  } catch (const PlanError& e) {
    return e.what();
  }
  return "no error";
}

constexpr std::string_view kCampaign = "[campaign]\nname = \"c\"\n";  // lines 1-2

/// A minimal valid workload, starting at line 3 after kCampaign.
std::string workload(std::string_view name = "a", std::string_view extra = "") {
  return "[[workload]]\nname = \"" + std::string(name) +
         "\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"train\"\ncommand = [\"true\"]\n" + std::string(extra);
}

TEST(PlanErrors, DurationsThatDoNotFitAreRefusedWhereTheyAreWritten) {
  EXPECT_EQ(
      error_of(std::string(kCampaign) + workload("a", "timeout = \"3000000h\"\n")),
      "plan.toml:9:11: 'timeout': '3000000h' is longer than a year (8760h), the longest duration joulebench takes");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncooldown = \"99999999999999999h\"\n" + workload()),
            "plan.toml:3:12: 'cooldown': '99999999999999999h' is longer than a year (8760h), the longest duration "
            "joulebench takes");
}

TEST(PlanErrors, NulBytesAreRefusedWhereTheyAreWritten) {
  const std::string message =
      "a NUL byte in a string: joulebench refuses them in names, labels and arguments (a command "
      "would see the text cut short at it)";
  EXPECT_EQ(error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\\u0000b\"\nframework = \"f\"\nmodel = \"m\"\n"
                                              "phase = \"train\"\ncommand = [\"true\"]\n"),
            "plan.toml:4:8: " + message);
  EXPECT_EQ(error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\n"
                                              "phase = \"train\"\ncommand = [\"echo\", \"x\\u0000; rm -rf /\"]\n"),
            "plan.toml:8:20: " + message);
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "labels = { batch = \"3\\u0000\" }\n")),
            "plan.toml:9:20: " + message);
  EXPECT_NE(
      error_of(std::string(kCampaign) + workload("a", "env = { \"A\\u0000B\" = \"1\" }\n")).find("a NUL byte in a key"),
      std::string::npos);
}

TEST(PlanErrors, AbsurdSizesAreRefusedBeforeTheyAreBuilt) {
  std::string values;
  for (int i = 0; i < 1000; ++i) values += (i ? "," : "") + std::to_string(i);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of(std::string(kCampaign) +
                     workload("a-{x}-{y}", "matrix = { x = [" + values + "], y = [" + values + "] }\n")),
            "plan.toml:3:1: this [[workload]] makes the plan 1000000 workloads (its matrix multiplies out); a plan may "
            "have at most 100000");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 5.0)
      << "the matrix was built before it was refused";
  // Under the workload limit, but 100 runs each: too many runs.
  std::string hundred;
  for (int i = 0; i < 20000; ++i) hundred += (i ? "," : "") + std::to_string(i);
  const std::string message =
      error_of(std::string(kCampaign) + workload("a-{x}", "repetitions = 100\nmatrix = { x = [" + hundred + "] }\n"));
  EXPECT_EQ(message,
            "plan.toml:3:1: with this [[workload]] the campaign has more than 1000000 runs (20000 workloads of 101 "
            "runs each here): split it into several plans");
}

TEST(PlanErrors, WhatNoRunCouldStartIsRefusedAtItsKey) {
  // command = [""]: no program at all.
  EXPECT_EQ(error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\n"
                                              "phase = \"train\"\ncommand = [\"\"]\n"),
            "plan.toml:8:12: 'command' starts with an empty program name: there is nothing to run");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "setup = [\"\", \"x\"]\n")),
            "plan.toml:9:10: 'setup' starts with an empty program name: there is nothing to run");
}

TEST(PlanErrors, CodePointsMissingFromTomlsTablesAreAnErrorNotUndefinedBehaviour) {
  // toml++ 3.3 reached __builtin_unreachable on these where whitespace may stand (fuzz/plan_fuzz,
  // under UBSan); each is an ordinary parse error now.
  for (const char* text : {"\xEF\xBB\xAF", "\xC3\xA9 = 1\n", "[campaign]\n\xE3\x80\x81name = \"c\"\n"}) {
    EXPECT_TRUE(error_of(text).starts_with("plan.toml:")) << error_of(text);
  }
}

TEST(Plan, ReadsEveryKeyOfAFullPlan) {
  const std::string text = R"([campaign]
name = "frameworks"
seed = 7
repetitions = 12
warmup = 2
order = "interleaved"
cooldown = { until = "stable", max = "90s", window = "5s", max_cv = 0.1, max_temperature_rise_c = 2 }
idle = "30s"
idle_every = 20
interval = "50ms"

[[workload]]
name = "ncf-{framework}"
framework = "libtorch"
model = "ncf"
phase = "train"
command = "joulebench workload ncf --data 'my data' --phase {phase}"
cwd = "work/{model}"
env = { OMP_NUM_THREADS = "2", TAG = "{framework}" }
timeout = "10m"
setup = ["python3", "make_checkpoint.py"]
prepare = "sync"
cleanup = ["rm", "-f", "checkpoint.pt"]
repetitions = 5
warmup = 0
parse = ["dllogger", "mllog"]
regex = ['loss=(?<loss>[0-9.]+)']
labels = { dataset = "ml-1m", size = 3, fast = true }

[[workload]]
name = "shell"
framework = "pytorch"
model = "ncf"
phase = "infer"
shell = true
command = "python3 infer.py | tee out.log"
)";
  const CampaignPlan plan = parse_plan(text, "plans/full.toml");
  EXPECT_EQ(plan.name, "frameworks");
  EXPECT_EQ(plan.seed, 7u);
  EXPECT_EQ(plan.repetitions, 12);
  EXPECT_EQ(plan.warmup, 2);
  EXPECT_EQ(plan.order, RunOrder::interleaved);
  EXPECT_EQ(plan.cooldown.kind, Cooldown::Kind::until_stable);
  EXPECT_DOUBLE_EQ(plan.cooldown.max.count(), 90.0);
  EXPECT_DOUBLE_EQ(plan.cooldown.window.count(), 5.0);
  EXPECT_DOUBLE_EQ(plan.cooldown.max_cv, 0.1);
  EXPECT_DOUBLE_EQ(plan.cooldown.max_temperature_rise_c, 2.0);
  EXPECT_DOUBLE_EQ(plan.idle.count(), 30.0);
  EXPECT_EQ(plan.idle_every_runs, 20);
  EXPECT_DOUBLE_EQ(plan.interval.count(), 0.05);
  EXPECT_EQ(plan.path, fs::path("plans/full.toml"));
  EXPECT_EQ(plan.text, text);
  EXPECT_EQ(plan.hash, plan_hash(text));
  ASSERT_EQ(plan.workloads.size(), 2u);

  const WorkloadSpec& a = plan.workloads[0];
  EXPECT_EQ(a.name, "ncf-libtorch");
  EXPECT_EQ(a.labels, (KeyValues{{"framework", "libtorch"},
                                 {"model", "ncf"},
                                 {"phase", "train"},
                                 {"dataset", "ml-1m"},
                                 {"size", "3"},
                                 {"fast", "true"}}));
  EXPECT_EQ(a.label("dataset"), "ml-1m");
  EXPECT_EQ(a.label("nothing"), "");
  EXPECT_EQ(a.command, (Words{"joulebench", "workload", "ncf", "--data", "my data", "--phase", "train"}));
  EXPECT_FALSE(a.shell);
  ASSERT_TRUE(a.working_directory.has_value());
  EXPECT_EQ(*a.working_directory, fs::absolute("plans/work/ncf").lexically_normal());
  EXPECT_EQ(a.environment, (KeyValues{{"OMP_NUM_THREADS", "2"}, {"TAG", "libtorch"}}));
  ASSERT_TRUE(a.timeout.has_value());
  EXPECT_DOUBLE_EQ(a.timeout->count(), 600.0);
  EXPECT_EQ(a.setup, (Words{"python3", "make_checkpoint.py"}));
  EXPECT_EQ(a.prepare, (Words{"sync"}));
  EXPECT_EQ(a.cleanup, (Words{"rm", "-f", "checkpoint.pt"}));
  EXPECT_EQ(a.repetitions, 5);
  EXPECT_EQ(a.warmup, 0);
  ASSERT_EQ(a.parsers.size(), 3u);
  EXPECT_EQ(a.parsers[0].kind, OutputParser::Kind::dllogger);
  EXPECT_EQ(a.parsers[1].kind, OutputParser::Kind::mllog);
  EXPECT_EQ(a.parsers[2].kind, OutputParser::Kind::regex);
  EXPECT_EQ(a.parsers[2].pattern, "loss=(?<loss>[0-9.]+)");
  EXPECT_EQ(a.location.file, "plans/full.toml");
  EXPECT_EQ(a.location.line, 12);
  EXPECT_EQ(a.location.column, 1);

  const WorkloadSpec& b = plan.workloads[1];
  EXPECT_EQ(b.name, "shell");
  EXPECT_TRUE(b.shell);
  EXPECT_EQ(b.command, (Words{"/bin/sh", "-c", "python3 infer.py | tee out.log"}));
  EXPECT_EQ(b.repetitions, 12);  // the campaign's defaults
  EXPECT_EQ(b.warmup, 2);
  EXPECT_FALSE(b.working_directory.has_value());
  EXPECT_FALSE(b.timeout.has_value());
  EXPECT_EQ(b.location.line, 30);
}

TEST(Plan, AppliesDefaults) {
  const std::string text = std::string(kCampaign) + workload();
  const CampaignPlan plan = parse_plan(text, "plan.toml");
  EXPECT_EQ(plan.name, "c");
  EXPECT_EQ(plan.seed, 42u);
  EXPECT_EQ(plan.repetitions, 10);
  EXPECT_EQ(plan.warmup, 1);
  EXPECT_EQ(plan.order, RunOrder::shuffled);
  EXPECT_EQ(plan.cooldown.kind, Cooldown::Kind::fixed);
  EXPECT_DOUBLE_EQ(plan.cooldown.fixed.count(), 5.0) << "a cool-down by default, as DESIGN.md asks";
  EXPECT_DOUBLE_EQ(plan.idle.count(), 10.0);
  EXPECT_FALSE(plan.idle_every_runs.has_value());
  EXPECT_DOUBLE_EQ(plan.interval.count(), 0.1);
  ASSERT_EQ(plan.workloads.size(), 1u);
  const WorkloadSpec& w = plan.workloads[0];
  EXPECT_EQ(w.repetitions, 10);
  EXPECT_EQ(w.warmup, 1);
  EXPECT_FALSE(w.shell);
  EXPECT_TRUE(w.environment.empty());
  EXPECT_TRUE(w.setup.empty());
  EXPECT_TRUE(w.prepare.empty());
  EXPECT_TRUE(w.parsers.empty());
  EXPECT_EQ(w.labels, (KeyValues{{"framework", "f"}, {"model", "m"}, {"phase", "train"}}));
  EXPECT_EQ(w.command, (Words{"true"}));
}

TEST(Plan, ReadsCooldownDurationsAndIdleNone) {
  const std::string text = "[campaign]\nname = \"c\"\ncooldown = \"5s\"\nidle = \"0s\"\n" + workload();
  const CampaignPlan plan = parse_plan(text, "plan.toml");
  EXPECT_EQ(plan.cooldown.kind, Cooldown::Kind::fixed);
  EXPECT_DOUBLE_EQ(plan.cooldown.fixed.count(), 5.0);
  EXPECT_DOUBLE_EQ(plan.idle.count(), 0.0);
  // A cooldown table's defaults.
  const CampaignPlan stable =
      parse_plan("[campaign]\nname = \"c\"\ncooldown = { until = \"stable\" }\n" + workload(), "plan.toml");
  EXPECT_EQ(stable.cooldown.kind, Cooldown::Kind::until_stable);
  EXPECT_DOUBLE_EQ(stable.cooldown.max.count(), 120.0);
  EXPECT_DOUBLE_EQ(stable.cooldown.window.count(), 10.0);
  EXPECT_DOUBLE_EQ(stable.cooldown.max_cv, 0.05);
  EXPECT_DOUBLE_EQ(stable.cooldown.max_temperature_rise_c, 3.0);
}

TEST(Plan, ExpandsAMatrixInWrittenKeyOrder) {
  const std::string text = std::string(kCampaign) + R"([[workload]]
name = "ncf-{framework}-b{batch}"
framework = "libtorch"
model = "ncf"
phase = "train"
command = ["run", "--batch", "{batch}", "--threads={threads}", "--lr", "{lr}", "{{literal}}", "awk '{print $1}'"]
setup = "prep {batch}"
prepare = ["echo", "{threads}"]
cleanup = "rm -r out/{batch}"
cwd = "out/{batch}"
env = { THREADS = "{threads}" }
labels = { note = "b{batch}" }
matrix = { threads = [1, 2], batch = [32, 64, 128], lr = [0.50, 1e-4] }
)";
  const CampaignPlan plan = parse_plan(text, "dir/plan.toml");
  ASSERT_EQ(plan.workloads.size(), 12u);  // 2 x 3 x 2
  // threads (written first) varies slowest, lr (written last) fastest. The name mentions batch
  // but neither threads nor lr, so they are appended.
  std::vector<std::string> names;
  for (const auto& w : plan.workloads) names.push_back(w.name);
  EXPECT_EQ(names, (Words{"ncf-libtorch-b32-threads1-lr0.50", "ncf-libtorch-b32-threads1-lr1e-4",
                          "ncf-libtorch-b64-threads1-lr0.50", "ncf-libtorch-b64-threads1-lr1e-4",
                          "ncf-libtorch-b128-threads1-lr0.50", "ncf-libtorch-b128-threads1-lr1e-4",
                          "ncf-libtorch-b32-threads2-lr0.50", "ncf-libtorch-b32-threads2-lr1e-4",
                          "ncf-libtorch-b64-threads2-lr0.50", "ncf-libtorch-b64-threads2-lr1e-4",
                          "ncf-libtorch-b128-threads2-lr0.50", "ncf-libtorch-b128-threads2-lr1e-4"}));
  const WorkloadSpec& w = plan.workloads[9];  // threads 2, batch 64, lr 1e-4
  EXPECT_EQ(w.labels, (KeyValues{{"framework", "libtorch"},
                                 {"model", "ncf"},
                                 {"phase", "train"},
                                 {"note", "b64"},
                                 {"threads", "2"},
                                 {"batch", "64"},
                                 {"lr", "1e-4"}}));
  EXPECT_EQ(w.command, (Words{"run", "--batch", "64", "--threads=2", "--lr", "1e-4", "{literal}", "awk '{print $1}'"}));
  EXPECT_EQ(w.setup, (Words{"prep", "64"}));
  EXPECT_EQ(w.prepare, (Words{"echo", "2"}));
  EXPECT_EQ(w.cleanup, (Words{"rm", "-r", "out/64"}));
  EXPECT_EQ(*w.working_directory, fs::absolute("dir/out/64").lexically_normal());
  EXPECT_EQ(w.environment, (KeyValues{{"THREADS", "2"}}));
  for (const auto& each : plan.workloads) EXPECT_EQ(each.location.line, 3);
}

TEST(Plan, MatrixValuesMayVaryTheFrameworkAndBeBooleans) {
  const std::string text = std::string(kCampaign) + R"([[workload]]
name = "{model}"
framework = "{fw}"
model = "m"
phase = "train"
command = "run --fw {fw} --amp {amp}"
matrix = { fw = ["torch", "tf"], amp = [true, false] }
)";
  const CampaignPlan plan = parse_plan(text, "plan.toml");
  ASSERT_EQ(plan.workloads.size(), 4u);
  EXPECT_EQ(plan.workloads[0].name, "m-fwtorch-amptrue");
  EXPECT_EQ(plan.workloads[3].name, "m-fwtf-ampfalse");
  EXPECT_EQ(plan.workloads[3].label("framework"), "tf");
  EXPECT_EQ(plan.workloads[3].label("amp"), "false");
  EXPECT_EQ(plan.workloads[2].command, (Words{"run", "--fw", "tf", "--amp", "true"}));
}

TEST(Plan, ResolvesRelativeWorkingDirectoriesAgainstThePlansFolder) {
  const std::string text =
      std::string(kCampaign) + workload("a", "cwd = \"../data\"\n") + workload("b", "cwd = \"/abs/dir\"\n");
  const CampaignPlan plan = parse_plan(text, "/srv/plans/x.toml");
  EXPECT_EQ(*plan.workloads[0].working_directory, fs::path("/srv/data"));
  EXPECT_EQ(*plan.workloads[1].working_directory, fs::path("/abs/dir"));
}

TEST(ShellWords, SplitsLikeAShell) {
  EXPECT_EQ(split_shell_words("  a  b\tc\n"), (Words{"a", "b", "c"}));
  EXPECT_EQ(split_shell_words("say 'hello world' \"and $you\""), (Words{"say", "hello world", "and $you"}));
  EXPECT_EQ(split_shell_words(R"(a\ b c\"d 'x\y' "p\"q\\r\s")"), (Words{"a b", "c\"d", "x\\y", "p\"q\\r\\s"}));
  EXPECT_EQ(split_shell_words(R"(--opt='' "" x)"), (Words{"--opt=", "", "x"}));
  EXPECT_EQ(split_shell_words("ab'cd'\"ef\"gh"), (Words{"abcdefgh"}));
  EXPECT_EQ(split_shell_words("a \\\nb"), (Words{"a", "b"}));
  EXPECT_EQ(split_shell_words("echo a|b > c"), (Words{"echo", "a|b", ">", "c"}));  // no shell syntax
  EXPECT_TRUE(split_shell_words("   ").empty());
}

TEST(ShellWords, RefusesUnterminatedQuotes) {
  try {
    (void)split_shell_words("echo 'oops");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unterminated single quote (') in: echo 'oops");
  }
  try {
    (void)split_shell_words("echo \"oops\\\"");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unterminated double quote (\") in: echo \"oops\\\"");
  }
}

TEST(PlanHash, IsFnv1a64) {
  EXPECT_EQ(plan_hash(""), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(plan_hash("a"), "fnv1a64:af63dc4c8601ec8c");
  EXPECT_EQ(plan_hash("foobar"), "fnv1a64:85944171f73967e8");
}

TEST(RunOrderName, NamesEachOrder) {
  EXPECT_EQ(run_order_name(RunOrder::shuffled), "shuffled");
  EXPECT_EQ(run_order_name(RunOrder::interleaved), "interleaved");
  EXPECT_EQ(run_order_name(RunOrder::blocked), "blocked");
}

TEST(PlanErrors, ReportTomlSyntaxErrorsWithTheirLocation) {
  const std::string message = error_of("[campaign]\nname = \"c\"\nseed = = 3\n");
  EXPECT_EQ(message.rfind("plan.toml:3:8: ", 0), 0u) << message;
  EXPECT_NE(message.find("Error while parsing"), std::string::npos) << message;
  try {
    (void)parse_plan("[campaign]\nname = \"c\nx", "plan.toml");
    FAIL() << "no exception";
  } catch (const PlanError& e) {
    EXPECT_EQ(e.where().file, "plan.toml");
    EXPECT_EQ(e.where().line, 2);
    EXPECT_FALSE(e.message().empty());
    EXPECT_EQ(std::string(e.what()), "plan.toml:2:" + std::to_string(e.where().column) + ": " + e.message());
  }
}

TEST(PlanErrors, NameUnknownKeysAndTheNearestValidOne) {
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\n  repetiton = 3\n" + workload()),
            "plan.toml:3:3: unknown key 'repetiton' in [campaign] (did you mean 'repetitions'?)");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nsede = 3\n" + workload()),
            "plan.toml:3:1: unknown key 'sede' in [campaign] (did you mean 'seed'?)");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncolour = \"red\"\n" + workload()),
            "plan.toml:3:1: unknown key 'colour' in [campaign] (valid keys: name, seed, repetitions, warmup, order, "
            "cooldown, idle, idle_every, interval, max_other_cpu)");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "comand = \"x\"\n")),
            "plan.toml:9:1: unknown key 'comand' in [[workload]] (did you mean 'command'?)");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "Timeout = \"1s\"\n")),
            "plan.toml:9:1: unknown key 'Timeout' in [[workload]] (did you mean 'timeout'?)");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncooldown = { until = \"stable\", windw = \"5s\" }\n" + workload()),
            "plan.toml:3:32: unknown key 'windw' in [campaign.cooldown] (did you mean 'window'?)");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload() + "[campain]\nname = \"x\"\n"),
            "plan.toml:9:2: unknown table [campain] (did you mean [campaign]?)");
  EXPECT_EQ(error_of(std::string(kCampaign) + "[[workloads]]\nname = \"x\"\n"),
            "plan.toml:3:3: unknown table [[workloads]] (did you mean [[workload]]?)");
  EXPECT_EQ(error_of("title = \"x\"\n" + std::string(kCampaign) + workload()),
            "plan.toml:1:1: unknown key 'title' (a plan has [campaign] and [[workload]] tables)");
}

TEST(PlanErrors, NameWrongTypesAtTheValue) {
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nrepetitions = \"10\"\n" + workload()),
            "plan.toml:3:15: 'repetitions' must be an integer >= 1, not a string");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nrepetitions = 0\n" + workload()),
            "plan.toml:3:15: 'repetitions' must be an integer >= 1, not 0");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nseed = -1\n" + workload()),
            "plan.toml:3:8: 'seed' must be an integer >= 0, not -1");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nwarmup = 1.5\n" + workload()),
            "plan.toml:3:10: 'warmup' must be an integer >= 0, not a float");
  EXPECT_EQ(error_of("[campaign]\nname = 3\n" + workload()), "plan.toml:2:8: 'name' must be a string, not an integer");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\norder = \"shufled\"\n" + workload()),
            "plan.toml:3:9: 'order' must be \"shuffled\", \"interleaved\" or \"blocked\", not \"shufled\" (did you "
            "mean \"shuffled\"?)");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nidle = 10\n" + workload()),
            "plan.toml:3:8: 'idle' must be a duration such as \"100ms\", \"10s\" or \"5m\", not an integer");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\nidle = \"10\"\n" + workload()),
            "plan.toml:3:8: 'idle': '10' has no unit (write 100ms, 10s, 5m or 1h)");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ninterval = \"500us\"\n" + workload()),
            "plan.toml:3:12: 'interval' must be at least 1ms, not \"500us\"");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncooldown = { until = \"cool\" }\n" + workload()),
            "plan.toml:3:22: 'until' must be \"stable\", not \"cool\"");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncooldown = { until = \"stable\", max = \"5s\" }\n" + workload()),
            "plan.toml:3:38: 'window' (10s by default) must not be longer than 'max' (5s): power could never be judged "
            "stable");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncooldown = 5\n" + workload()),
            "plan.toml:3:12: 'cooldown' must be a duration such as \"60s\" or a table such as "
            "{ until = \"stable\", max = \"120s\" }, not an integer");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "shell = \"yes\"\n")),
            "plan.toml:9:9: 'shell' must be true or false, not a string");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "env = { N = 2 }\n")),
            "plan.toml:9:13: 'env.N' must be a string, not an integer");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "labels = { x = [1] }\n")),
            "plan.toml:9:16: 'labels.x' must be a string, number or boolean, not an array");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "timeout = \"0s\"\n")),
            "plan.toml:9:11: 'timeout' must be more than 0s");
  EXPECT_EQ(
      error_of(std::string(kCampaign) + workload("a", "parse = [\"dlloger\"]\n")),
      "plan.toml:9:10: 'parse' must name \"dllogger\" or \"mllog\", not \"dlloger\" (did you mean \"dllogger\"?)");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "matrix = { batch = [] }\n")),
            "plan.toml:9:20: 'matrix.batch' must be a non-empty array of values, not an empty array");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "matrix = { batch = 32 }\n")),
            "plan.toml:9:20: 'matrix.batch' must be a non-empty array of values, not an integer");
  EXPECT_EQ(
      error_of(std::string(kCampaign) +
               "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\ncommand = [\"x\", 3]\n"),
      "plan.toml:8:17: 'command[1]' must be a string, not an integer");
  EXPECT_EQ(error_of("workload = { name = \"x\" }\n" + std::string(kCampaign)),
            "plan.toml:1:12: 'workload' must be an array of tables ([[workload]]), not a table");
}

TEST(PlanErrors, NameMissingRequiredKeysAtTheTable) {
  EXPECT_EQ(error_of("[campaign]\nseed = 1\n" + workload()),
            "plan.toml:1:1: missing required key 'name' in [campaign]");
  EXPECT_EQ(error_of(workload()), "plan.toml:1:1: missing required table [campaign]");
  EXPECT_EQ(error_of(std::string(kCampaign) +
                     "\n  [[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\n"),
            "plan.toml:4:3: missing required key 'command' in [[workload]]");
  EXPECT_EQ(error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\ncommand = \"x\"\n"),
            "plan.toml:3:1: missing required key 'framework' in [[workload]]");
  EXPECT_EQ(error_of(std::string(kCampaign)), "plan.toml:1:1: the plan has no [[workload]] tables: nothing to run");
  EXPECT_EQ(error_of("[campaign]\nname = \"c\"\ncooldown = { max = \"1s\" }\n" + workload()),
            "plan.toml:3:12: missing required key 'until' in [campaign.cooldown]");
}

TEST(PlanErrors, RefuseAnArrayCommandWithShell) {
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "shell = true\n")),
            "plan.toml:8:11: 'command' must be a string when shell = true, not an array");
}

TEST(PlanErrors, RefuseUnterminatedQuotesInCommandStrings) {
  EXPECT_EQ(
      error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\n"
                                        "command = \"echo 'oops\"\n"),
      "plan.toml:8:11: 'command': unterminated single quote (') in: echo 'oops");
}

TEST(PlanErrors, RefuseEmptyCommands) {
  EXPECT_EQ(
      error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\n"
                                        "command = \"  \"\n"),
      "plan.toml:8:11: 'command' must not be empty");
  EXPECT_EQ(
      error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\n"
                                        "command = []\n"),
      "plan.toml:8:11: 'command' must not be empty");
}

TEST(PlanErrors, RefuseDuplicateNamesAtTheSecondTable) {
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a") + workload("b") + workload("a")),
            "plan.toml:15:1: duplicate workload name 'a' (already used by the [[workload]] at line 3, column 1)");
  // After expansion: "x-batch1" from the matrix, then a plain workload with that name.
  EXPECT_EQ(
      error_of(std::string(kCampaign) + workload("x", "matrix = { batch = [1, 2] }\n") + workload("x-batch2")),
      "plan.toml:10:1: duplicate workload name 'x-batch2' (already used by the [[workload]] at line 3, column 1)");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("x", "matrix = { batch = [1, 1] }\n")),
            "plan.toml:3:1: duplicate workload name 'x-batch1': the matrix gives two workloads this name");
}

TEST(PlanErrors, NameUnknownPlaceholdersAndTheNearestValidOne) {
  EXPECT_EQ(
      error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\n"
                                        "command = [\"run\", \"--batch\", \"{bach}\"]\nmatrix = { batch = [1] }\n"),
      "plan.toml:8:30: unknown placeholder '{bach}' in 'command' (did you mean '{batch}'?)");
  EXPECT_EQ(
      error_of(std::string(kCampaign) + "[[workload]]\nname = \"{framwork}-x\"\nframework = \"f\"\nmodel = \"m\"\n"
                                        "phase = \"p\"\ncommand = \"x\"\n"),
      "plan.toml:4:8: unknown placeholder '{framwork}' in 'name' (did you mean '{framework}'?)");
  EXPECT_EQ(
      error_of(std::string(kCampaign) + workload("a", "env = { P = \"{HOME}/x\" }\n")),
      "plan.toml:9:13: unknown placeholder '{HOME}' in 'env.P' (valid placeholders: {framework}, {model}, {phase}; "
      "write '{{HOME}}' for literal braces)");
  EXPECT_EQ(error_of(std::string(kCampaign) + "[[workload]]\nname = \"a\"\nframework = \"{model}\"\nmodel = \"m\"\n"
                                              "phase = \"p\"\ncommand = \"x\"\n"),
            "plan.toml:5:13: unknown placeholder '{model}' in 'framework' (no placeholders can be used here; "
            "write '{{model}}' for literal braces)");
}

TEST(Plan, LeavesShellVariablesJsonAndEscapedPlaceholdersAlone) {
  const std::string text = std::string(kCampaign) +
                           "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"p\"\nshell = true\n"
                           "command = '''echo ${HOME} {{phase}} {phase} '{\"a\": {\"b\": 1}}' '''\n";
  const CampaignPlan plan = parse_plan(text, "plan.toml");
  EXPECT_EQ(plan.workloads.at(0).command.back(), "echo ${HOME} {phase} p '{\"a\": {\"b\": 1}}' ");
}

TEST(PlanErrors, RefuseLabelsAndMatrixKeysThatClash) {
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "labels = { model = \"x\" }\n")),
            "plan.toml:9:12: label 'model' is set by the workload's own 'model' key");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "labels = { batch = \"x\" }\nmatrix = { batch = [1] }\n")),
            "plan.toml:10:12: matrix key 'batch' is also a label in 'labels'");
  EXPECT_EQ(error_of(std::string(kCampaign) + workload("a", "matrix = { framework = [\"a\", \"b\"] }\n")),
            "plan.toml:9:12: matrix key 'framework' would replace the workload's own 'framework': give the key another "
            "name and use it as a placeholder, e.g. framework = \"{fw}\"");
}

TEST(PlanFiles, LoadsTheQuickExample) {
  const fs::path example = fs::path(__FILE__).parent_path().parent_path().parent_path() / "examples" / "quick.toml";
  const CampaignPlan plan = load_plan(example);
  EXPECT_EQ(plan.name, "quick");
  EXPECT_EQ(plan.path, example);
  std::ifstream in(example, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(plan.text, text);
  EXPECT_EQ(plan.hash, plan_hash(text));
  ASSERT_EQ(plan.workloads.size(), 2u);
  EXPECT_EQ(plan.workloads[0].name, "cpu-1thread");
  EXPECT_EQ(plan.workloads[0].label("framework"), "one");
  EXPECT_EQ(plan.workloads[1].name, "cpu-2threads");
  EXPECT_EQ(plan.workloads[1].label("framework"), "two");
  for (const auto& w : plan.workloads) {
    EXPECT_EQ(w.label("model"), "cpu-load");
    EXPECT_EQ(w.label("phase"), "train");
    ASSERT_GE(w.command.size(), 3u);
    EXPECT_EQ(Words(w.command.begin(), w.command.begin() + 3), (Words{"joulebench", "workload", "cpu-load"}));
  }
  EXPECT_FALSE(schedule_runs(plan).empty());
}

TEST(PlanFiles, TheMainJobHasEveryModelFrameworkAndPhaseWithEnoughRepetitions) {
  const fs::path example =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "examples" / "frameworks.toml";
  const CampaignPlan plan = load_plan(example);
  ASSERT_EQ(plan.workloads.size(), 16u);  // 3 models x {libtorch, pytorch} x 2 phases + 2 models x dlib x 2
  EXPECT_EQ(plan.order, RunOrder::shuffled);
  for (const auto& w : plan.workloads) {
    EXPECT_GE(w.repetitions, 5) << w.name;  // the fewest with which the rank-sum test can reach significance
    EXPECT_GE(w.warmup, 1) << w.name;
    // Inference loads a checkpoint made by an unmeasured setup step.
    EXPECT_EQ(w.setup.empty(), w.label("phase") == "train") << w.name;
  }
  EXPECT_GT(plan.cooldown.fixed.count(), 0);
  EXPECT_GT(plan.idle.count(), 0);
}

TEST(PlanFiles, TheDeepLearningExamplesPlanParsesItsOutputThroughDlLogger) {
  const fs::path example =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "examples" / "deeplearningexamples.toml";
  const CampaignPlan plan = load_plan(example);
  std::set<std::string> frameworks;
  for (const auto& w : plan.workloads) {
    frameworks.insert(w.label("framework"));
    ASSERT_EQ(w.parsers.size(), 1u) << w.name;
    EXPECT_EQ(w.parsers[0].kind, OutputParser::Kind::dllogger) << w.name;
  }
  EXPECT_EQ(frameworks, (std::set<std::string>{"pytorch", "tensorflow"}));
}

TEST(PlanOverrides, ChangeEveryWorkloadAndTheHash) {
  CampaignPlan plan =
      parse_plan(std::string(kCampaign) + workload("a") + workload("b", "repetitions = 7\n"), "plan.toml");
  const std::string original_hash = plan.hash;
  PlanOverrides overrides;
  EXPECT_TRUE(overrides.empty());
  apply_overrides(plan, overrides);
  EXPECT_EQ(plan.hash, original_hash);  // nothing changed, nothing to record

  overrides.repetitions = 2;
  overrides.warmup = 0;
  overrides.cooldown = Seconds(0);
  overrides.idle = Seconds(1.5);
  EXPECT_EQ(overrides.text(), "--repetitions 2 --warmup 0 --cooldown 0s --idle 1.5s");
  apply_overrides(plan, overrides);
  for (const auto& w : plan.workloads) {
    EXPECT_EQ(w.repetitions, 2) << w.name;
    EXPECT_EQ(w.warmup, 0) << w.name;
  }
  EXPECT_EQ(plan.cooldown.kind, Cooldown::Kind::fixed);
  EXPECT_EQ(plan.cooldown.fixed.count(), 0);
  EXPECT_EQ(plan.idle.count(), 1.5);
  EXPECT_NE(plan.hash, original_hash);  // a store will not resume this campaign under other overrides
  EXPECT_EQ(plan.hash, plan_hash(plan.text));
  EXPECT_NE(plan.text.find("# run with: --repetitions 2 --warmup 0 --cooldown 0s --idle 1.5s"), std::string::npos);
  EXPECT_EQ(schedule_runs(plan).size(), 4u);

  PlanOverrides bad;
  bad.repetitions = 0;
  EXPECT_THROW(apply_overrides(plan, bad), std::invalid_argument);
  bad.repetitions.reset();
  bad.warmup = -1;
  EXPECT_THROW(apply_overrides(plan, bad), std::invalid_argument);
}

TEST(PlanFiles, ReportsAFileThatCannotBeRead) {
  EXPECT_THROW((void)load_plan("/nonexistent/plan.toml"), std::runtime_error);
  const fs::path dir = fs::temp_directory_path() / ("joulebench-plan-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "bad.toml");
    out << "[campaign]\nname = \"x\"\nrepetitions = \"3\"\n";
  }
  try {
    (void)load_plan(dir / "bad.toml");
    FAIL() << "no exception";
  } catch (const PlanError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "bad.toml").string() + ":3:15: 'repetitions' must be an integer >= 1, not a string");
  }
  fs::remove_all(dir);
}

TEST(Shard, ParsesKOfN) {
  EXPECT_EQ(Shard::parse("2/3"), (Shard{2, 3}));
  EXPECT_EQ(Shard::parse("1/1"), (Shard{1, 1}));
  EXPECT_EQ(Shard::parse("10/12").text(), "10/12");
  auto reason = [](const std::string& text) {
    try {
      (void)Shard::parse(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(reason("0/3"), "shard '0/3': K must be from 1 to 3");
  EXPECT_EQ(reason("4/3"), "shard '4/3': K must be from 1 to 3");
  EXPECT_EQ(reason("1/0"), "shard '1/0': N must be at least 1");
  EXPECT_EQ(reason("a/b"), "'a/b' is not a shard: K and N in K/N must be whole numbers, e.g. 2/4");
  EXPECT_EQ(reason("-1/3"), "'-1/3' is not a shard: K and N in K/N must be whole numbers, e.g. 2/4");
  EXPECT_EQ(reason("1/99999999999"), "'1/99999999999' is not a shard: K and N in K/N must be whole numbers, e.g. 2/4");
  EXPECT_EQ(reason("3"), "'3' is not a shard: write K/N, e.g. 2/4 for the second of four parts");
}

}  // namespace
}  // namespace joulebench

namespace joulebench {
namespace {

void expect_same_plan(const CampaignPlan& a, const CampaignPlan& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.repetitions, b.repetitions);
  EXPECT_EQ(a.warmup, b.warmup);
  EXPECT_EQ(a.order, b.order);
  EXPECT_EQ(a.cooldown.kind, b.cooldown.kind);
  EXPECT_EQ(a.cooldown.fixed, b.cooldown.fixed);
  EXPECT_EQ(a.cooldown.max, b.cooldown.max);
  EXPECT_EQ(a.cooldown.window, b.cooldown.window);
  EXPECT_EQ(a.cooldown.max_cv, b.cooldown.max_cv);
  EXPECT_EQ(a.cooldown.max_temperature_rise_c, b.cooldown.max_temperature_rise_c);
  EXPECT_EQ(a.idle, b.idle);
  EXPECT_EQ(a.idle_every_runs, b.idle_every_runs);
  EXPECT_EQ(a.interval, b.interval);
  EXPECT_EQ(a.max_other_cpu_cores, b.max_other_cpu_cores);
  ASSERT_EQ(a.workloads.size(), b.workloads.size());
  for (std::size_t i = 0; i < a.workloads.size(); ++i) {
    const WorkloadSpec& x = a.workloads[i];
    const WorkloadSpec& y = b.workloads[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.labels, y.labels);
    EXPECT_EQ(x.command, y.command);
    EXPECT_EQ(x.shell, y.shell);
    EXPECT_EQ(x.working_directory, y.working_directory);
    EXPECT_EQ(x.environment, y.environment);
    EXPECT_EQ(x.timeout, y.timeout);
    EXPECT_EQ(x.setup, y.setup);
    EXPECT_EQ(x.cleanup, y.cleanup);
    EXPECT_EQ(x.prepare, y.prepare);
    EXPECT_EQ(x.repetitions, y.repetitions);
    EXPECT_EQ(x.warmup, y.warmup);
    EXPECT_EQ(x.profile, y.profile);
    ASSERT_EQ(x.parsers.size(), y.parsers.size());
    for (std::size_t p = 0; p < x.parsers.size(); ++p) {
      EXPECT_EQ(x.parsers[p].kind, y.parsers[p].kind);
      EXPECT_EQ(x.parsers[p].pattern, y.parsers[p].pattern);
    }
  }
}

TEST(PlanToml, WritesWhatLoadsBackIntoTheSamePlan) {
  const std::string text = R"([campaign]
name = "round \"trip\""
seed = 7
repetitions = 12
warmup = 2
order = "interleaved"
cooldown = { until = "stable", max = "90s", window = "2.5s", max_cv = 0.1, max_temperature_rise_c = 2 }
idle = "30s"
idle_every = 20
interval = "50ms"
max_other_cpu = 0.25

[[workload]]
name = "ncf-{framework}"
framework = "libtorch"
model = "ncf"
phase = "train"
command = "joulebench workload ncf --data 'my data' --phase {phase}"
cwd = "/tmp"
env = { OMP_NUM_THREADS = "2", TAG = "{framework}" }
timeout = "10m"
setup = ["python3", "make_checkpoint.py"]
prepare = "sync"
cleanup = "rm checkpoint.pt"
repetitions = 5
warmup = 0
parse = ["dllogger", "mllog"]
regex = ['loss=(?<loss>[0-9.]+)']
labels = { dataset = "ml-1m", size = 3 }
profile = ["python", "perf"]

[[workload]]
name = "shell"
framework = "pytorch"
model = "ncf"
phase = "infer"
shell = true
command = "awk '{print $1}' in.txt | tee \"out\tlog\" {{framework}} ${HOME} {model}"
)";
  const CampaignPlan plan = parse_plan(text, "plan.toml");
  ASSERT_EQ(plan.workloads[1].command.back(), "awk '{print $1}' in.txt | tee \"out\tlog\" {framework} ${HOME} ncf");
  const std::string written = plan_toml(plan);
  const CampaignPlan again = parse_plan(written, "plan.toml");
  expect_same_plan(plan, again);
  EXPECT_EQ(plan_toml(again), written) << "writing is stable";
}

TEST(PlanToml, APlanBuiltInCodeIsSealedWithItsText) {
  CampaignPlan plan;
  plan.name = "bench";
  plan.cooldown.fixed = Seconds(0.5);
  WorkloadSpec w;
  w.name = "a";
  w.labels = {{"framework", "a"}, {"model", "bench"}, {"phase", "run"}};
  // Braces the reader would take for placeholders come back as they are.
  w.command = {"sh", "-c", "echo {phase} {{x}} ${HOME} {not a word} {", "{model}"};
  plan.workloads.push_back(w);
  seal_plan(plan, "a heading");
  EXPECT_TRUE(plan.text.starts_with("# a heading\n[campaign]\n")) << plan.text;
  EXPECT_EQ(plan.hash, plan_hash(plan.text));
  const CampaignPlan read = parse_plan(plan.text, "bench.toml");
  expect_same_plan(plan, read);
  EXPECT_EQ(read.hash, plan.hash) << "a rerun from the written file is the same campaign";

  CampaignPlan unnamed = plan;
  unnamed.workloads[0].labels.erase(unnamed.workloads[0].labels.begin());
  EXPECT_THROW(seal_plan(unnamed), std::invalid_argument);
  CampaignPlan twice = plan;
  twice.workloads.push_back(w);
  EXPECT_THROW(seal_plan(twice), std::invalid_argument);
  CampaignPlan instant = plan;
  instant.workloads[0].timeout = Seconds(0);
  EXPECT_THROW(seal_plan(instant), std::invalid_argument) << "no plan file could hold it";
  CampaignPlan huge_seed = plan;
  huge_seed.seed = std::numeric_limits<std::uint64_t>::max();
  EXPECT_THROW(seal_plan(huge_seed), std::invalid_argument);
}

}  // namespace
}  // namespace joulebench

// --- containers and GPUs (issue 23) ----------------------------------------------------------------

namespace joulebench {
namespace {

constexpr std::string_view kContainerPlanHead =
    "[campaign]\nname = \"c\"\n\n[[workload]]\nname = \"w-{fw}\"\nframework = \"{fw}\"\nmodel = \"m\"\n"
    "phase = \"p\"\ncommand = [\"python\", \"ncf.py\"]\nmatrix = { fw = [\"pytorch\"] }\n";

TEST(PlanContainers, AContainerIsReadWithItsMountsResolvedAndWrittenBack) {
  const std::string text = std::string(kContainerPlanHead) +
                           "container = { image = \"dle-ncf-{fw}:ab6267ad\", runtime = \"podman\", mounts = "
                           "[\"data:/data:ro\", \"/abs:/abs\"], workdir = \"/workspace/ncf\", options = "
                           "[\"--shm-size=1g\"] }\ngpus = [0, \"GPU-1234\"]\n";
  const CampaignPlan plan = parse_plan(text, "/plans/p.toml");
  ASSERT_EQ(plan.workloads.size(), 1u);
  const WorkloadSpec& w = plan.workloads[0];
  ASSERT_TRUE(w.container);
  EXPECT_EQ(w.container->image, "dle-ncf-pytorch:ab6267ad");
  EXPECT_EQ(w.container->runtime, "podman");
  EXPECT_EQ(w.container->mounts, (std::vector<std::string>{"/plans/data:/data:ro", "/abs:/abs"}));
  EXPECT_EQ(w.container->workdir, "/workspace/ncf");
  EXPECT_EQ(w.container->options, std::vector<std::string>{"--shm-size=1g"});
  EXPECT_EQ(w.container->location.line, 11);
  EXPECT_EQ(w.gpus, (std::vector<std::string>{"0", "GPU-1234"}));
  EXPECT_EQ(w.gpus_location.line, 12);
  // The resolved plan loads back into the same workload.
  const CampaignPlan again = parse_plan(plan_toml(plan), "/plans/p.toml");
  ASSERT_TRUE(again.workloads[0].container);
  EXPECT_EQ(again.workloads[0].container->image, w.container->image);
  EXPECT_EQ(again.workloads[0].container->mounts, w.container->mounts);
  EXPECT_EQ(again.workloads[0].container->options, w.container->options);
  EXPECT_EQ(again.workloads[0].gpus, w.gpus);
}

TEST(PlanContainers, TheRuntimeDefaultsToDocker) {
  const CampaignPlan plan = parse_plan(std::string(kContainerPlanHead) + "container = { image = \"x:1\" }\n", "p.toml");
  EXPECT_EQ(plan.workloads[0].container->runtime, "docker");
  EXPECT_TRUE(plan.workloads[0].gpus.empty());
}

TEST(PlanContainers, MistakesAreRefusedWhereTheyAreWritten) {
  const std::string head(kContainerPlanHead);
  EXPECT_EQ(error_of(head + "container = { image = \"x\", runtime = \"podmn\" }\n"),
            "plan.toml:11:38: 'container.runtime' must be \"docker\" or \"podman\", not \"podmn\" (did you mean "
            "\"podman\"?)");
  EXPECT_EQ(error_of(head + "container = { runtime = \"podman\" }\n"),
            "plan.toml:11:13: missing required key 'image' in 'container'");
  EXPECT_EQ(error_of(head + "container = { image = \"x\", mount = [] }\n"),
            "plan.toml:11:28: unknown key 'mount' in 'container' (did you mean 'mounts'?)");
  EXPECT_EQ(error_of(head + "container = { image = \"x\", mounts = [\"/data\"] }\n"),
            "plan.toml:11:38: 'container.mounts' entry \"/data\" must be \"HOST:CONTAINER\" or "
            "\"HOST:CONTAINER:OPTIONS\", with an absolute CONTAINER path");
  EXPECT_EQ(error_of(head + "container = { image = \"x\", workdir = \"ncf\" }\n"),
            "plan.toml:11:38: 'container.workdir' must be an absolute path inside the container, not \"ncf\"");
  EXPECT_EQ(error_of(head + "container = \"x\"\n"),
            "plan.toml:11:13: 'container' must be a table such as { image = \"name:tag\", runtime = \"podman\" }, "
            "not a string");
  EXPECT_EQ(error_of(head + "gpus = []\n"),
            "plan.toml:11:8: 'gpus' must be a non-empty array of GPU indices or UUIDs such as [0] or [\"GPU-...\"], "
            "not an empty array");
  EXPECT_EQ(error_of(head + "gpus = [0, 0]\n"), "plan.toml:11:12: 'gpus' names GPU 0 twice");
  EXPECT_EQ(error_of(head + "profile = [\"perf\"]\ncontainer = { image = \"x\" }\n"),
            "plan.toml:11:11: 'profile' cannot be used with 'container': joulebench profiles commands it runs on "
            "this host, not inside a container");
  EXPECT_EQ(error_of(head + "gpus = [-1]\n"), "plan.toml:11:9: 'gpus' indices must be 0 or more");
  EXPECT_EQ(error_of(head + "gpus = [1.5]\n"),
            "plan.toml:11:9: 'gpus[0]' must be a GPU index (an integer) or UUID (a string), not a float");
}

}  // namespace
}  // namespace joulebench

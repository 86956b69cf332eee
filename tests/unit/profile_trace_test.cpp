// Reading traces: joulebench's trace format and perf script output, and their errors.
#include <gtest/gtest.h>

#include <string>

#include "fakes/fake_tree.hpp"
#include "joulebench/plan.hpp"
#include "joulebench/profile.hpp"

namespace joulebench {
namespace {

using testing::TempDir;
using testing::write_file;

const std::string kHeader = "# joulebench-profile 1\n";

std::string error_of(const std::string& text) {
  try {
    parse_trace(text, "t.trace");
  } catch (const TraceError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ProfileTrace, ReadsEveryRecordKind) {
  const Trace t = parse_trace(kHeader +
                                  "mode\ttorch\nclock\tmonotonic_ns\n# a comment\n\n"
                                  "s\t100\t7\tmain;work;leaf\n"
                                  "s\t200\t7\tmain;work;leaf\n"
                                  "i\t10\t90\t3\tstep;aten::mm\n"
                                  "f\t12\t5000\t9000\tf (a.py:3)\n"
                                  "c\taten::mm\t4\n",
                              "t.trace");
  ASSERT_TRUE(t.mode.has_value());
  EXPECT_EQ(*t.mode, ProfileMode::torch);
  ASSERT_EQ(t.samples.size(), 2u);
  EXPECT_EQ(t.samples[0].time_ns, 100);
  EXPECT_EQ(t.samples[0].thread, 7u);
  EXPECT_EQ(t.samples[0].stack, t.samples[1].stack);  // interned
  EXPECT_EQ(t.stacks[t.samples[0].stack], "main;work;leaf");
  ASSERT_EQ(t.intervals.size(), 1u);
  EXPECT_EQ(t.intervals[0].start_ns, 10);
  EXPECT_EQ(t.intervals[0].end_ns, 90);
  EXPECT_EQ(t.stacks[t.intervals[0].stack], "step;aten::mm");
  ASSERT_EQ(t.functions.size(), 1u);
  EXPECT_EQ(t.functions[0].name, "f (a.py:3)");
  EXPECT_EQ(t.functions[0].calls, 12u);
  EXPECT_EQ(t.functions[0].self_ns, 5000);
  EXPECT_EQ(t.functions[0].total_ns, 9000);
  EXPECT_EQ(t.call_counts.at("aten::mm"), 4u);
}

TEST(ProfileTrace, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(error_of(""), "t.trace: the trace is empty (the profiled program wrote nothing)");
  EXPECT_EQ(error_of("hello\n"), "t.trace:1: not a joulebench trace: the first line must be '# joulebench-profile 1'");
  EXPECT_EQ(error_of(kHeader + "mode\tpython\nx\t1\n"),
            "t.trace:3: unknown record type 'x' (s, i, f, c, mode or clock)");
  EXPECT_EQ(error_of(kHeader + "s\t1\t2\n"), "t.trace:2: a 's' record has 3 fields, not 4 (s <t_ns> <tid> <stack>)");
  EXPECT_EQ(error_of(kHeader + "s\tsoon\t2\ta\n"), "t.trace:2: time 'soon' is not an integer");
  EXPECT_EQ(error_of(kHeader + "s\t1\t-2\ta\n"), "t.trace:2: thread '-2' is not an integer");
  EXPECT_EQ(error_of(kHeader + "s\t1\t2\ta;;b\n"), "t.trace:2: empty frame name in stack 'a;;b'");
  EXPECT_EQ(error_of(kHeader + "i\t9\t5\t1\ta\n"), "t.trace:2: the interval ends before it starts");
  EXPECT_EQ(error_of(kHeader + "f\t1\t-5\t5\tf\n"), "t.trace:2: negative time");
  EXPECT_EQ(error_of(kHeader + "mode\tjax\n"), "t.trace:2: unknown mode 'jax' (python, cprofile, torch or perf)");
  EXPECT_EQ(error_of(kHeader + "clock\trealtime\n"),
            "t.trace:2: unknown clock 'realtime': only monotonic_ns is understood");
}

TEST(ProfileTrace, MissingFileSaysNoTraceWasWritten) {
  TempDir dir;
  try {
    read_trace(dir.path() / "none.trace");
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_NE(std::string(e.what()).find("no trace was written"), std::string::npos) << e.what();
  }
  write_file(dir.path() / "ok.trace", kHeader + "s\t1\t1\ta\n");
  EXPECT_EQ(read_trace(dir.path() / "ok.trace").samples.size(), 1u);
}

TEST(ProfileTrace, PerfScriptSamplesBecomeRootFirstStacks) {
  const std::string text =
      "my prog 4242  20530.973773258: \n"
      "\tffffffff81678ec9 do_syscall_64 ([kernel.kallsyms])\n"
      "\t           fdc47 hot_loop (/tmp/prog)\n"
      "\t           1f9c12 main (/tmp/prog)\n"
      "\n"
      "prog  4243 20531.000000001:\n"
      "\t          1f9c12 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)\n"
      "\n";
  Trace t;
  parse_perf_script(text, "perf.txt", t);
  ASSERT_EQ(t.samples.size(), 2u);
  EXPECT_EQ(t.samples[0].thread, 4242u);
  EXPECT_EQ(t.samples[0].time_ns, 20530973773258);
  EXPECT_EQ(t.stacks[t.samples[0].stack], "main;hot_loop;do_syscall_64");
  EXPECT_EQ(t.samples[1].time_ns, 20531000000001);
  EXPECT_EQ(t.stacks[t.samples[1].stack], "[libc.so.6]");
}

TEST(ProfileTrace, PerfScriptErrorsNameTheLine) {
  Trace t;
  try {
    parse_perf_script("prog 12 notatime:\n", "perf.txt", t);
    FAIL() << "no error";
  } catch (const TraceError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("perf.txt:1: ", 0), 0u) << e.what();
  }
}

TEST(ProfileTrace, ModesAndCommands) {
  for (auto mode : {ProfileMode::python, ProfileMode::cprofile, ProfileMode::torch, ProfileMode::perf}) {
    EXPECT_EQ(parse_profile_mode(profile_mode_name(mode)), mode);
  }
  EXPECT_FALSE(parse_profile_mode("auto"));
  EXPECT_TRUE(is_python_command({"python3"}));
  EXPECT_TRUE(is_python_command({"/usr/bin/python3.11", "x.py"}));
  EXPECT_TRUE(is_python_command({"python"}));
  EXPECT_FALSE(is_python_command({"pythonista"}));
  EXPECT_FALSE(is_python_command({"/bin/sh"}));
  EXPECT_EQ(auto_profile_mode({"python3", "a.py"}), ProfileMode::python);
  EXPECT_EQ(auto_profile_mode({"/x/joulebench-libtorch", "--model", "ncf"}), ProfileMode::torch);
  EXPECT_EQ(auto_profile_mode({"joulebench", "workload", "ncf", "--framework", "libtorch"}), ProfileMode::torch);
  EXPECT_EQ(auto_profile_mode({"joulebench", "workload", "ncf", "--framework", "dlib"}), ProfileMode::perf);
  EXPECT_EQ(auto_profile_mode({"./a.out"}), ProfileMode::perf);
}

TEST(ProfileTrace, PythonModesRefuseWhatIsNotAScript) {
  TempDir dir;
  const auto error = [&](ProfileMode mode, const std::vector<std::string>& argv) {
    try {
      profiled_command(mode, argv, Seconds(0.005), dir.path());
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error(ProfileMode::python, {"./a.out"}).find("must start with a Python interpreter"), std::string::npos);
  EXPECT_NE(error(ProfileMode::cprofile, {"python3", "-c", "pass"}).find("not python3 -c"), std::string::npos);
}

TEST(ProfilePlan, ProfiledRunsComeLastAndInShardOne) {
  const CampaignPlan plan = parse_plan(
      "[campaign]\nname = \"p\"\nrepetitions = 2\nwarmup = 1\n"
      "[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\nphase = \"train\"\ncommand = \"true\"\n"
      "profile = [\"python\", \"perf\"]\n"
      "[[workload]]\nname = \"b\"\nframework = \"g\"\nmodel = \"m\"\nphase = \"train\"\ncommand = \"true\"\n",
      "p.toml");
  EXPECT_EQ(plan.workloads[0].profile, (std::vector<std::string>{"python", "perf"}));
  const auto runs = schedule_runs(plan);
  ASSERT_EQ(runs.size(), 8u);  // 2 x (1 warm-up + 2 measured), then 2 profiled
  EXPECT_EQ(runs[6].profile, "python");
  EXPECT_EQ(runs[7].profile, "perf");
  EXPECT_EQ(runs[7].workload, 0u);
  EXPECT_EQ(runs[7].index, 7u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_TRUE(runs[i].profile.empty());
  EXPECT_EQ(shard_runs(runs, Shard{2, 2}).size(), 4u);  // warm-ups and repetition 2: no profiled run
  EXPECT_EQ(shard_runs(runs, Shard{1, 2}).size(), 6u);
}

TEST(ProfilePlan, UnknownModesAreRefusedWithASuggestion) {
  try {
    parse_plan(
        "[campaign]\nname = \"p\"\n[[workload]]\nname = \"a\"\nframework = \"f\"\nmodel = \"m\"\n"
        "phase = \"train\"\ncommand = \"true\"\nprofile = [\"pyton\"]\n",
        "p.toml");
    FAIL() << "no error";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("p.toml:9:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(did you mean \"python\"?)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace joulebench

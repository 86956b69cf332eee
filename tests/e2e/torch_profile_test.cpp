// End-to-end tests of the torch mode's two trace writers: include/joulebench/torch_profile.hpp as
// compiled into joulebench-libtorch, and python/joulebench_torch_profile.py around the PyTorch
// workload. Each runs the NCF workload at tiny size with the profile variables set and checks the
// trace: its header, well-formed lines, the operators NCF must call, forward and backward, nesting
// that agrees with the chains, and operator time inside the train region that the workload itself
// reports through its events (timestamped here on receipt, as joulebench does).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fakes/cli_runner.hpp"
#include "fakes/fake_tree.hpp"
#include "joulebench/process.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::lines_of;
using testing::read_all;
using testing::Runner;
using testing::TempDir;

const fs::path kBinDir = fs::path(JOULEBENCH_BINARY).parent_path();
const std::string kPython = JOULEBENCH_TEST_PYTHON;

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Interval {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::uint64_t tid = 0;
  std::vector<std::string> chain;  // root first, the operator's own name last
};

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  for (std::size_t from = 0;;) {
    const std::size_t at = text.find(separator, from);
    parts.emplace_back(text.substr(from, at == std::string_view::npos ? std::string_view::npos : at - from));
    if (at == std::string_view::npos) return parts;
    from = at + 1;
  }
}

template <class Integer>
std::optional<Integer> integer(std::string_view text) {
  Integer value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

/// The trace's `i` lines, with a test failure for anything that is not the format exactly: the
/// three header lines first, then `i` lines of five fields (comments, '#', allowed).
std::vector<Interval> read_trace(const fs::path& file) {
  std::vector<Interval> intervals;
  if (!fs::exists(file)) {
    ADD_FAILURE() << file << " was not written";
    return intervals;
  }
  const std::vector<std::string> lines = lines_of(read_all(file));
  const std::vector<std::string> header{"# joulebench-profile 1", "mode\ttorch", "clock\tmonotonic_ns"};
  if (lines.size() < header.size() || !std::equal(header.begin(), header.end(), lines.begin())) {
    ADD_FAILURE() << file << ": the header is not the torch trace header";
    return intervals;
  }
  int bad_lines = 0;
  for (std::size_t n = header.size(); n < lines.size(); ++n) {
    const std::string& line = lines[n];
    if (line.starts_with('#')) continue;
    const std::vector<std::string> fields = split(line, '\t');
    Interval interval;
    bool good = fields.size() == 5 && fields[0] == "i";
    if (good) {
      const auto start = integer<std::int64_t>(fields[1]);
      const auto end = integer<std::int64_t>(fields[2]);
      const auto tid = integer<std::uint64_t>(fields[3]);
      interval.chain = split(fields[4], ';');
      good = start && end && tid && *start <= *end &&
             std::none_of(interval.chain.begin(), interval.chain.end(), [](const std::string& f) { return f.empty(); });
      if (good) {
        interval.start_ns = *start;
        interval.end_ns = *end;
        interval.tid = *tid;
      }
    }
    if (good) {
      intervals.push_back(std::move(interval));
    } else if (++bad_lines <= 5) {
      ADD_FAILURE() << file << ":" << n + 1 << ": not an `i` line of the torch trace: '" << line << "'";
    }
  }
  EXPECT_EQ(bad_lines, 0);
  return intervals;
}

/// On each thread, intervals nest as their chains say: an interval whose chain is P;NAME lies
/// within the enclosing interval with chain P, and intervals that neither contains overlap not.
void expect_nesting_agrees_with_chains(std::vector<Interval> intervals) {
  std::stable_sort(intervals.begin(), intervals.end(), [](const Interval& a, const Interval& b) {
    if (a.tid != b.tid) return a.tid < b.tid;
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.chain.size() < b.chain.size();
  });
  std::vector<const Interval*> open;
  int failures = 0;
  const auto fail = [&](const Interval& interval, const std::string& why) {
    if (++failures <= 5) {
      ADD_FAILURE() << "thread " << interval.tid << ", [" << interval.start_ns << ", " << interval.end_ns << "] "
                    << interval.chain.back() << " (depth " << interval.chain.size() << "): " << why;
    }
  };
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    const Interval& interval = intervals[i];
    if (i > 0 && intervals[i - 1].tid != interval.tid) open.clear();
    const std::size_t depth = interval.chain.size();
    if (open.size() + 1 < depth) {
      fail(interval, "its parent's interval is missing");
      continue;
    }
    while (open.size() >= depth) {
      if (open.back()->end_ns > interval.start_ns) fail(interval, "overlaps an interval that does not enclose it");
      open.pop_back();
    }
    if (!open.empty()) {
      const Interval& parent = *open.back();
      if (!std::equal(parent.chain.begin(), parent.chain.end(), interval.chain.begin())) {
        fail(interval, "its chain does not extend the enclosing interval's");
      }
      if (interval.end_ns > parent.end_ns) fail(interval, "ends after the interval enclosing it");
    }
    open.push_back(&interval);
  }
  EXPECT_EQ(failures, 0);
}

/// How many intervals have `name` as their own name, or anywhere in their chain.
std::size_t count_named(const std::vector<Interval>& intervals, std::string_view name, bool anywhere = false) {
  return std::count_if(intervals.begin(), intervals.end(), [&](const Interval& i) {
    return anywhere ? std::find(i.chain.begin(), i.chain.end(), name) != i.chain.end() : i.chain.back() == name;
  });
}

struct Region {
  std::int64_t begin_ns = -1;
  std::int64_t end_ns = -1;
};

struct WorkloadRun {
  ExitStatus status;
  std::string out;
  std::string err;
  std::int64_t started_ns = 0;
  std::int64_t ended_ns = 0;
  std::map<std::string, Region> regions;  // from the workload's events, timed on receipt
};

/// Runs `argv` with `environment` and an events pipe (JOULEBENCH_EVENTS_FD), reading it as it
/// comes, as joulebench does: a region's times are when its begin and end lines arrived.
WorkloadRun run_workload(const std::vector<std::string>& argv,
                         std::vector<std::pair<std::string, std::string>> environment, const fs::path& logs) {
  constexpr int kEventsFd = 3;
  int events[2];
  if (::pipe2(events, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const fs::path out = logs / "stdout";
  const fs::path err = logs / "stderr";
  SpawnOptions options;
  options.argv = argv;
  options.foreground = false;
  environment.emplace_back("JOULEBENCH_EVENTS_FD", std::to_string(kEventsFd));
  options.environment = std::move(environment);
  options.stdout_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  options.stderr_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  options.inherited_fds = {{events[1], kEventsFd}};

  WorkloadRun run;
  run.started_ns = monotonic_ns();
  auto child = ChildProcess::start(options);
  ::close(events[1]);
  ::close(options.stdout_fd);
  ::close(options.stderr_fd);

  // A tiny workload takes a second or two; a loaded machine is given much longer.
  const auto deadline = Clock::now() + std::chrono::seconds(180);
  std::string pending;
  char buffer[4096];
  for (;;) {
    pollfd waiter{events[0], POLLIN, 0};
    if (::poll(&waiter, 1, 1000) == 0) {
      if (Clock::now() > deadline) {
        child.signal_group(SIGKILL);
        ADD_FAILURE() << argv[0] << " did not finish in 180 s";
        break;
      }
      continue;
    }
    const ssize_t n = ::read(events[0], buffer, sizeof buffer);
    if (n <= 0) break;  // the workload closed its end: it has exited
    const std::int64_t now = monotonic_ns();
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t newline; (newline = pending.find('\n')) != std::string::npos; pending.erase(0, newline + 1)) {
      const auto event = nlohmann::json::parse(pending.substr(0, newline), nullptr, false);
      if (!event.is_object() || !event.contains("region")) continue;
      Region& region = run.regions[event["region"].get<std::string>()];
      (event["event"] == "begin" ? region.begin_ns : region.end_ns) = now;
    }
  }
  ::close(events[0]);
  run.status = child.wait(Seconds(60)).status;
  run.ended_ns = monotonic_ns();
  run.out = read_all(out);
  run.err = read_all(err);
  return run;
}

/// The checks both writers must pass on a train run of NCF.
void expect_ncf_training_profile(const std::vector<Interval>& intervals, const WorkloadRun& run, const fs::path& data) {
  ASSERT_FALSE(intervals.empty());
  expect_nesting_agrees_with_chains(intervals);

  // Forward: NCF's MLP tower and output layer are linear layers, computed by addmm.
  EXPECT_GT(count_named(intervals, "aten::addmm"), 0u);
  EXPECT_GT(count_named(intervals, "aten::embedding"), 0u);
  // Backward: autograd's nodes, with the operators they call beneath them.
  EXPECT_GT(count_named(intervals, "AddmmBackward0"), 0u);
  EXPECT_GT(count_named(intervals, "EmbeddingBackward0"), 0u);
  EXPECT_GT(count_named(intervals, "aten::mm"), 0u);
  const bool mm_under_backward = std::any_of(intervals.begin(), intervals.end(), [](const Interval& i) {
    return i.chain.back() == "aten::mm" && std::find(i.chain.begin(), i.chain.end(), "AddmmBackward0") != i.chain.end();
  });
  EXPECT_TRUE(mm_under_backward) << "no aten::mm inside AddmmBackward0";
  // Every operator is recorded, none sampled away: one backward node per linear layer (the MLP
  // tower's and the output layer) and per embedding (GMF and MLP, user and item) in each step.
  const nlohmann::json meta = testing::parse_json(read_all(data / "meta.json"));
  const auto steps = meta["steps"].get<std::size_t>();
  const std::size_t linear_layers = meta["mlp_layers"].size();
  EXPECT_EQ(count_named(intervals, "AddmmBackward0"), steps * linear_layers);
  EXPECT_EQ(count_named(intervals, "EmbeddingBackward0"), steps * 4);

  // The trace is on the test's own monotonic clock: inside the time the process ran.
  for (const Interval& i : intervals) {
    ASSERT_GE(i.start_ns, run.started_ns) << i.chain.back() << " starts before the process did";
    ASSERT_LE(i.end_ns, run.ended_ns) << i.chain.back() << " ends after the process did";
  }

  // The operators of the train region: on one thread, top-level operators never overlap, so the
  // time they cover inside the region is at most the region's length. A training step is mostly
  // operators: on this machine they cover about 66 % of LibTorch's tiny NCF train region (the
  // rest: C++ between operators, the recording itself) and 80 % of PyTorch's; 40 % is asked.
  ASSERT_TRUE(run.regions.contains("train")) << run.out;
  const Region train = run.regions.at("train");
  ASSERT_GT(train.begin_ns, 0);
  ASSERT_GT(train.end_ns, train.begin_ns);
  std::map<std::uint64_t, std::int64_t> covered_ns;
  std::size_t backward_in_train = 0;
  std::size_t backward = 0;
  for (const Interval& i : intervals) {
    const bool is_backward = i.chain.front().starts_with("autograd::engine::evaluate_function");
    backward += is_backward;
    // Events are timestamped when this test reads them, which a loaded machine delays: a late
    // `end` only widens the region, a late `begin` can miss the first steps, so begin gets slack.
    constexpr std::int64_t kReceiptSlackNs = 2'000'000'000;
    if (i.start_ns >= train.begin_ns - kReceiptSlackNs && i.end_ns <= train.end_ns) backward_in_train += is_backward;
    if (i.chain.size() != 1) continue;
    const std::int64_t from = std::max(i.start_ns, train.begin_ns);
    const std::int64_t to = std::min(i.end_ns, train.end_ns);
    if (to > from) covered_ns[i.tid] += to - from;
  }
  const std::int64_t region_ns = train.end_ns - train.begin_ns;
  std::int64_t most_covered_ns = 0;
  for (const auto& [tid, ns] : covered_ns) {
    EXPECT_LE(ns, region_ns) << "thread " << tid;
    most_covered_ns = std::max(most_covered_ns, ns);
  }
  EXPECT_GT(static_cast<double>(most_covered_ns), 0.4 * static_cast<double>(region_ns))
      << "operators cover " << most_covered_ns << " ns of the " << region_ns << " ns train region";
  // Training is where the backward pass runs: all of it inside the train region.
  EXPECT_GT(backward, 0u);
  EXPECT_EQ(backward_in_train, backward);
}

/// The function named `name` in `joulebench profile --format json` output, or null.
nlohmann::json profiled_function(const nlohmann::json& profile, const std::string& name) {
  for (const auto& f : profile["functions"]) {
    if (f["name"] == name) return f;
  }
  return nullptr;
}

/// What `joulebench profile --mode torch` must make of an NCF training run's trace.
void expect_ncf_operator_profile(const testing::Result& r) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json p = testing::parse_json(r.out);
  EXPECT_EQ(p["mode"], "torch");
  EXPECT_GT(p["records"].get<double>(), 1000) << "operator intervals read";
  double self_s = 0;
  for (const auto& f : p["functions"]) self_s += f["self_s"].get<double>();
  EXPECT_LE(self_s, p["run_time_s"].get<double>() * 1.001) << "operators on one thread take no more than the run";
  for (const std::string name : {"aten::addmm", "AddmmBackward0", "aten::mm"}) {
    const nlohmann::json f = profiled_function(p, name);
    ASSERT_FALSE(f.is_null()) << name << " missing from " << r.out;
    EXPECT_GT(f["self_s"].get<double>(), 0) << name;
    EXPECT_GT(f["energy_j"].get<double>(), 0) << name;
  }
}

class TorchProfile : public ::testing::Test {
 protected:
  TempDir dir;

  fs::path trace(const std::string& name) const { return dir.path() / name; }

  /// Generates the tiny NCF data set through `joulebench workload` (LibTorch, profiled, so the
  /// workload command's own path is covered too) and returns its folder.
  fs::path ncf_data_through_workload_command(const fs::path& trace_file) {
    Runner runner;
    runner.deadline = std::chrono::seconds(180);
    const auto r = runner.run({"workload", "ncf", "--framework", "libtorch", "--size", "tiny", "--phase", "train",
                               "--data-dir", (dir.path() / "data").string()},
                              {{"JOULEBENCH_PROFILE_MODE", "torch"}, {"JOULEBENCH_PROFILE_OUT", trace_file.string()}});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return dir.path() / "data" / "ncf-tiny-seed42";
  }
};

bool python_imports_torch() {
  SpawnOptions options;
  options.argv = {kPython, "-c", "import torch"};
  options.foreground = false;
  options.stdout_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  options.stderr_fd = options.stdout_fd;
  try {
    const auto outcome = ChildProcess::start(options).wait(Seconds(120));
    ::close(options.stdout_fd);
    return !outcome.status.signaled && outcome.status.code == 0;
  } catch (const LaunchError&) {
    ::close(options.stdout_fd);
    return false;
  }
}

TEST_F(TorchProfile, LibTorchWorkloadWritesItsOperators) {
  const fs::path workload = kBinDir / "joulebench-libtorch";
  if (!fs::exists(workload)) {
    GTEST_SKIP() << workload << " is not built (LibTorch not installed, or JOULEBENCH_WORKLOADS=OFF)";
  }
  const fs::path data = ncf_data_through_workload_command(trace("through-workload-command.trace"));
  ASSERT_TRUE(fs::exists(data / "manifest.json"));
  EXPECT_GT(read_trace(trace("through-workload-command.trace")).size(), 1000u);

  const WorkloadRun run = run_workload(
      {workload.string(), "--model", "ncf", "--phase", "train", "--data", data.string(), "--checkpoint",
       (dir.path() / "ncf.ckpt").string()},
      {{"JOULEBENCH_PROFILE_MODE", "torch"}, {"JOULEBENCH_PROFILE_OUT", trace("libtorch.trace").string()}}, dir.path());
  ASSERT_EQ(run.status.shell_status(), 0) << run.out << run.err;
  const std::vector<Interval> intervals = read_trace(trace("libtorch.trace"));
  expect_ncf_training_profile(intervals, run, data);
  // LibTorch 1.13's C++ Linear module calls addmm itself (torch::nn::functional::linear), so
  // addmm is a top-level operator there.
  EXPECT_TRUE(std::any_of(intervals.begin(), intervals.end(),
                          [](const Interval& i) { return i.chain == std::vector<std::string>{"aten::addmm"}; }));
  // The C++ writer names threads by their kernel thread id, never 0 or 1 (init) for a workload.
  EXPECT_TRUE(std::all_of(intervals.begin(), intervals.end(), [](const Interval& i) { return i.tid > 1; }));
}

TEST_F(TorchProfile, LibTorchWorkloadWithoutTheVariablesWritesNothing) {
  const fs::path workload = kBinDir / "joulebench-libtorch";
  if (!fs::exists(workload)) {
    GTEST_SKIP() << workload << " is not built (LibTorch not installed, or JOULEBENCH_WORKLOADS=OFF)";
  }
  const fs::path data = ncf_data_through_workload_command(trace("first.trace"));
  const std::vector<std::string> argv{workload.string(), "--model",      "ncf",
                                      "--phase",         "train",        "--data",
                                      data.string(),     "--checkpoint", (dir.path() / "ncf.ckpt").string()};
  // Another mode's variables: not for this writer.
  WorkloadRun run = run_workload(
      argv, {{"JOULEBENCH_PROFILE_MODE", "perf"}, {"JOULEBENCH_PROFILE_OUT", trace("perf.trace").string()}},
      dir.path());
  EXPECT_EQ(run.status.shell_status(), 0) << run.err;
  EXPECT_FALSE(fs::exists(trace("perf.trace")));
  // torch without a file: said once, and the workload runs as usual.
  run = run_workload(argv, {{"JOULEBENCH_PROFILE_MODE", "torch"}}, dir.path());
  EXPECT_EQ(run.status.shell_status(), 0) << run.err;
  EXPECT_NE(run.err.find("JOULEBENCH_PROFILE_OUT is not set"), std::string::npos) << run.err;
  // A file that cannot be written: said, and the workload's own exit status is kept.
  run = run_workload(argv, {{"JOULEBENCH_PROFILE_MODE", "torch"}, {"JOULEBENCH_PROFILE_OUT", "/nonexistent/dir/t"}},
                     dir.path());
  EXPECT_EQ(run.status.shell_status(), 0) << run.err;
  EXPECT_NE(run.err.find("cannot write /nonexistent/dir/t"), std::string::npos) << run.err;
}

TEST_F(TorchProfile, ProfileCommandAttributesTheLibTorchWorkloadsOperators) {
  const fs::path workload = kBinDir / "joulebench-libtorch";
  if (!fs::exists(workload)) {
    GTEST_SKIP() << workload << " is not built (LibTorch not installed, or JOULEBENCH_WORKLOADS=OFF)";
  }
  const fs::path data = ncf_data_through_workload_command(trace("first.trace"));
  Runner runner;
  runner.deadline = std::chrono::seconds(180);
  const std::vector<std::string> command{workload.string(), "--model",      "ncf",
                                         "--phase",         "train",        "--data",
                                         data.string(),     "--checkpoint", (dir.path() / "ncf.ckpt").string()};
  std::vector<std::string> args{"profile", "--mode", "torch", "--format", "json", "--"};
  args.insert(args.end(), command.begin(), command.end());
  expect_ncf_operator_profile(runner.run(args));
  // auto picks torch for the built-in LibTorch workload.
  args.erase(args.begin() + 1, args.begin() + 3);
  const auto r = runner.run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::parse_json(r.out)["mode"], "torch");
}

class PythonTorchProfile : public TorchProfile {
 protected:
  void SetUp() override {
    if (!fs::exists(kBinDir / "joulebench_torch_profile.py") || !fs::exists(kBinDir / "joulebench_pytorch.py")) {
      GTEST_SKIP() << "joulebench_torch_profile.py or joulebench_pytorch.py is not beside " << JOULEBENCH_BINARY;
    }
    if (!python_imports_torch()) GTEST_SKIP() << kPython << " cannot import torch (Debian: python3-torch)";
  }

  std::vector<std::string> profiled(std::vector<std::string> script_and_arguments) const {
    script_and_arguments.insert(script_and_arguments.begin(),
                                {kPython, (kBinDir / "joulebench_torch_profile.py").string()});
    return script_and_arguments;
  }
};

TEST_F(PythonTorchProfile, PyTorchWorkloadWritesItsOperators) {
  const fs::path data = ncf_data_through_workload_command(trace("libtorch.trace"));
  const WorkloadRun run = run_workload(
      profiled({(kBinDir / "joulebench_pytorch.py").string(), "--model", "ncf", "--phase", "train", "--data",
                data.string(), "--checkpoint", (dir.path() / "ncf.ckpt").string()}),
      {{"JOULEBENCH_PROFILE_MODE", "torch"}, {"JOULEBENCH_PROFILE_OUT", trace("pytorch.trace").string()}}, dir.path());
  ASSERT_EQ(run.status.shell_status(), 0) << run.out << run.err;
  const std::vector<Interval> intervals = read_trace(trace("pytorch.trace"));
  expect_ncf_training_profile(intervals, run, data);
  // Python's nn.Linear calls aten::linear, which calls addmm.
  const bool addmm_under_linear = std::any_of(intervals.begin(), intervals.end(), [](const Interval& i) {
    return i.chain.size() >= 2 && i.chain.back() == "aten::addmm" && i.chain[i.chain.size() - 2] == "aten::linear";
  });
  EXPECT_TRUE(addmm_under_linear) << "no aten::linear;aten::addmm chain";
  // The launcher's clock markers are not operators of the script.
  EXPECT_EQ(count_named(intervals, "joulebench_torch_profile::clock_marker", true), 0u);
  // The script's own record_function ranges are kept: the optimizer's step.
  EXPECT_GT(count_named(intervals, "Optimizer.step#Adam.step"), 0u);
}

TEST_F(PythonTorchProfile, ProfileCommandAttributesThePyTorchWorkloadsOperators) {
  const fs::path data = ncf_data_through_workload_command(trace("libtorch.trace"));
  Runner runner;
  runner.deadline = std::chrono::seconds(180);
  expect_ncf_operator_profile(
      runner.run({"profile", "--mode", "torch", "--format", "json", "--", kPython,
                  (kBinDir / "joulebench_pytorch.py").string(), "--model", "ncf", "--phase", "train", "--data",
                  data.string(), "--checkpoint", (dir.path() / "ncf.ckpt").string()}));
}

TEST_F(PythonTorchProfile, TheScriptsExitStatusArgumentsAndPathAreItsOwn) {
  const fs::path script = dir.path() / "script dir" / "exits.py";
  testing::write_file(script.parent_path() / "helper_beside.py", "VALUE = 7\n");
  testing::write_file(script, R"(import os, sys
os.environ["OMP_NUM_THREADS"] = "1"   # set before torch is imported, as scripts do
import torch
import helper_beside                  # found beside the script: sys.path[0] is its folder
assert sys.argv[1:] == ["--flag", "a b"], sys.argv
assert os.path.basename(sys.argv[0]) == "exits.py", sys.argv
assert torch.get_num_threads() == 1
torch.ones(3).add(1)
sys.exit(helper_beside.VALUE - 4)
)");
  WorkloadRun run = run_workload(profiled({script.string(), "--flag", "a b"}),
                                 {{"JOULEBENCH_PROFILE_OUT", trace("exits.trace").string()}}, dir.path());
  EXPECT_EQ(run.status.shell_status(), 3) << run.err;
  const std::vector<Interval> intervals = read_trace(trace("exits.trace"));
  EXPECT_EQ(count_named(intervals, "aten::add"), 1u);
  EXPECT_EQ(count_named(intervals, "aten::ones"), 1u);

  // An exception: Python's traceback and status 1, and the profile up to it.
  testing::write_file(script, "import torch\ntorch.zeros(2)\nraise ValueError('from the script')\n");
  run = run_workload(profiled({script.string()}), {{"JOULEBENCH_PROFILE_OUT", trace("raises.trace").string()}},
                     dir.path());
  EXPECT_EQ(run.status.shell_status(), 1);
  EXPECT_NE(run.err.find("ValueError: from the script"), std::string::npos) << run.err;
  EXPECT_EQ(count_named(read_trace(trace("raises.trace")), "aten::zeros"), 1u);

  // Usage errors: status 2 and a message, no traceback.
  run = run_workload(profiled({script.string()}), {}, dir.path());
  EXPECT_EQ(run.status.shell_status(), 2);
  EXPECT_NE(run.err.find("JOULEBENCH_PROFILE_OUT is not set"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("Traceback"), std::string::npos) << run.err;
  run = run_workload(profiled({(dir.path() / "missing.py").string()}),
                     {{"JOULEBENCH_PROFILE_OUT", trace("missing.trace").string()}}, dir.path());
  EXPECT_EQ(run.status.shell_status(), 2);
  EXPECT_NE(run.err.find("missing.py: no such file"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace joulebench

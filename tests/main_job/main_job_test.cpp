// The main job end to end: examples/frameworks.toml run by the real joulebench at quick size with
// two repetitions per workload (`joulebench run --repetitions 2`), then compared. It checks what a
// user of the README's first command relies on: every workload runs, learns (its metric beats
// chance by a clear margin), reports the same parameter count in every framework, and the
// comparison covers every model and phase. Also: the data generator is deterministic.
//
// Its own executable, because it takes minutes (ctest's timeout for it is set in CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "fakes/cli_runner.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::Result;
using testing::Runner;
using testing::TempDir;

const fs::path kBinaryDir = fs::path(JOULEBENCH_BINARY).parent_path();

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Every regular file under `dir`, by path relative to it.
std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = file_bytes(entry.path());
  }
  return files;
}

std::optional<double> metric(const RunRecord& run, const std::string& name) {
  for (const auto& m : run.metrics) {
    if (m.name == name) return m.value;
  }
  return std::nullopt;
}

std::string metadata(const RunRecord& run, const std::string& key) {
  for (const auto& [k, v] : run.metadata) {
    if (k == key) return v;
  }
  return {};
}

std::string label(const RunRecord& run, const std::string& key) {
  for (const auto& [k, v] : run.labels) {
    if (k == key) return v;
  }
  return {};
}

TEST(DataGenerator, SameSeedGivesByteIdenticalFilesAndAnotherSeedOthers) {
  TempDir dir;
  Runner runner;
  runner.deadline = std::chrono::seconds(120);
  const auto generate = [&](const std::string& folder, const std::string& seed) {
    const Result r = runner.run({"workload", "data", "--model", "all", "--size", "quick", "--seed", seed},
                                {{"JOULEBENCH_DATA_DIR", (dir.path() / folder).string()}});
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    return files_under(dir.path() / folder);
  };
  const auto first = generate("a", "7");
  const auto second = generate("b", "7");
  const auto other = generate("c", "8");
  ASSERT_GE(first.size(), 18U);  // three models: their .npy files, meta.json and manifest.json
  ASSERT_EQ(first.size(), second.size());
  for (const auto& [name, bytes] : first) {
    ASSERT_TRUE(second.count(name)) << name;
    EXPECT_TRUE(bytes == second.at(name)) << name << " differs between two runs with seed 7";
  }
  // Another seed draws other data and another order (Fashion-MNIST's images stay the same).
  int differing = 0;
  for (const auto& [name, bytes] : first) {
    std::string renamed = name;
    renamed.replace(renamed.find("seed7"), 5, "seed8");
    if (other.count(renamed) && other.at(renamed) != bytes) ++differing;
  }
  EXPECT_GE(differing, 6);
}

/// Chance and the margin each model's metric must clear on quick, stated in workloads/README.md.
struct LearningBar {
  std::string metric;
  double chance;
  double required;
};
const std::map<std::string, LearningBar> kBars = {
    // 10 of 100 candidates; popularity alone reaches 0.44, so 0.5 needs the user-item structure.
    {"ncf", {"hr@10", 0.10, 0.50}},
    // 4 classes; bag-of-words is capped at 0.75, so 0.80 needs attention to positions.
    {"transformer", {"accuracy", 0.25, 0.80}},
    // 10 classes; 0.45 to 0.6 after 60 steps, depending on the framework.
    {"resnet", {"accuracy", 0.10, 0.40}},
};

TEST(MainJob, FrameworksPlanRunsLearnsAndCompares) {
  if (!fs::exists(kBinaryDir / "joulebench-libtorch") || !fs::exists(kBinaryDir / "joulebench-dlib") ||
      !fs::exists(kBinaryDir / "joulebench_pytorch.py")) {
    GTEST_SKIP() << "the built-in workloads are not built here (JOULEBENCH_WORKLOADS=OFF or a framework missing)";
  }
  TempDir dir;
  Runner runner;
  runner.deadline = std::chrono::seconds(900);
  const fs::path db = dir.path() / "frameworks.db";
  const testing::Env env = {{"JOULEBENCH_DATA_DIR", (dir.path() / "data").string()},
                            {"JOULEBENCH_WORKLOAD_SIZE", "quick"}};
  const Result run = runner.run({"run", JOULEBENCH_EXAMPLES_DIR "/frameworks.toml", "--db", db.string(),
                                 "--repetitions", "2", "--warmup", "0", "--cooldown", "0s", "--idle", "1s"},
                                env);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(contains(run.err, "with --repetitions 2 --warmup 0 --cooldown 0s --idle 1s")) << run.err;

  const Store store(db);
  const auto runs = store.runs(store.campaigns().back().id, {});
  ASSERT_EQ(runs.size(), 32U);                              // 16 workloads x 2
  std::map<std::string, std::set<std::string>> parameters;  // model -> the counts its frameworks report
  std::set<std::string> frameworks;
  for (const auto& r : runs) {
    ASSERT_EQ(r.status, RunStatus::ok) << r.workload << ": " << r.reason;
    const std::string model = label(r, "model");
    ASSERT_TRUE(kBars.count(model)) << r.workload;
    const LearningBar& bar = kBars.at(model);
    const auto value = metric(r, bar.metric);
    ASSERT_TRUE(value.has_value()) << r.workload << " reported no " << bar.metric;
    EXPECT_GE(*value, bar.required) << r.workload << ": " << bar.metric << " " << *value << " (chance " << bar.chance
                                    << ")";
    const std::string phase = label(r, "phase");
    EXPECT_TRUE(metric(r, phase == "train" ? "train_examples_per_s" : "throughput_examples_per_s").has_value())
        << r.workload;
    if (phase == "infer") {
      for (const char* p : {"latency_p50_ms", "latency_p90_ms", "latency_p99_ms"})
        EXPECT_TRUE(metric(r, p).has_value()) << r.workload << " " << p;
    }
    parameters[model].insert(metadata(r, "parameters"));
    frameworks.insert(label(r, "framework"));
    EXPECT_EQ(metadata(r, "size"), "quick") << r.workload;
  }
  EXPECT_EQ(frameworks, (std::set<std::string>{"dlib", "libtorch", "pytorch"}));
  EXPECT_EQ(parameters["ncf"], std::set<std::string>{"60681"});
  EXPECT_EQ(parameters["transformer"], std::set<std::string>{"71300"});
  EXPECT_EQ(parameters["resnet"], std::set<std::string>{"19074"});

  const Result compare =
      runner.run({"compare", "--db", db.string(), "--metrics", "time,energy_total_j", "--format", "csv"}, env);
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  const auto lines = testing::lines_of(compare.out);
  ASSERT_GE(lines.size(), 2U) << compare.out;
  const auto header = testing::csv_fields(lines[0]);
  const auto column = [&](const std::string& name) {
    const auto at = std::find(header.begin(), header.end(), name);
    EXPECT_NE(at, header.end()) << name << " not in " << lines[0];
    return static_cast<std::size_t>(at - header.begin());
  };
  const std::size_t model = column("model");
  const std::size_t phase = column("phase");
  const std::size_t ratio = column("ratio");
  std::set<std::string> groups;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto row = testing::csv_fields(lines[i]);
    ASSERT_EQ(row.size(), header.size()) << lines[i];
    groups.insert(row[model] + " " + row[phase]);
    EXPECT_FALSE(row[ratio].empty()) << lines[i];
  }
  EXPECT_EQ(groups.size(), 6U) << compare.out;  // three models x two phases

  // The report the README's first command ends with: every group has its figures.
  const fs::path report = dir.path() / "report";
  const Result written = runner.run({"report", "--db", db.string(), "-o", report.string()}, env);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  for (const std::string m : {"ncf", "transformer", "resnet"}) {
    for (const std::string p : {"train", "infer"}) {
      for (const std::string& figure :
           {"box-" + m + "-" + p + "-total", "quality-" + m + "-" + p, "power-" + m + "-" + p + "-libtorch"}) {
        EXPECT_TRUE(fs::exists(report / "figures" / (figure + ".svg"))) << figure;
      }
    }
  }
  // NCF training's operator profiles, one per framework, side by side.
  RunFilter profiled;
  profiled.profiled = true;
  const auto profiles = store.runs(store.campaigns().back().id, profiled);
  ASSERT_EQ(profiles.size(), 2U);
  for (const auto& r : profiles) {
    ASSERT_TRUE(r.profile.has_value()) << r.workload;
    EXPECT_EQ(r.profile->mode, "torch") << r.workload;
    EXPECT_TRUE(r.profile->problem.empty()) << r.workload << ": " << r.profile->problem;
    const bool addmm = std::any_of(r.profile->functions.begin(), r.profile->functions.end(),
                                   [](const StoredProfileFunction& f) { return f.name == "aten::addmm"; });
    EXPECT_TRUE(addmm) << r.workload << " has no aten::addmm";
  }
  for (const std::string fw : {"libtorch", "pytorch"}) {
    EXPECT_TRUE(fs::exists(report / "figures" / ("profile-ncf-train-torch-" + fw + ".svg"))) << fw;
  }
  const std::string page = testing::read_all(report / "index.html");
  EXPECT_TRUE(contains(page, "model=resnet phase=infer")) << "every group has its section";
}

}  // namespace
}  // namespace joulebench

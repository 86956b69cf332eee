// End-to-end tests of `joulebench import`, `compare` and `bench`: runs go in through the real
// executable, and the comparison's numbers are checked against SciPy 1.10's (the calls are named
// next to each value).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fakes/cli_runner.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::lines_of;
using testing::parse_json;
using testing::read_all;
using testing::Result;
using testing::Runner;
using testing::TempDir;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Six measured runs per framework, plus a warm-up and a failed run that must be excluded.
//   time:     pytorch 10.1 10.3 9.9 10.2 10.0 10.4; tensorflow 12.0 12.5 11.8 12.2 12.1 11.9
//   energy:   pytorch 300 310 305 298 302 307;      tensorflow 301 309 303 300 306 304 (estimated)
//   accuracy: pytorch .91 .90 .92 .91 .93 .90;      tensorflow .91 .89 .90 .92 .90 .91
const char* kTwoFrameworks =
    "workload,framework,model,phase,warmup,status,time_s,energy_total_j,energy_total_estimated,metric_accuracy\n"
    "pt,pytorch,ncf,train,true,ok,30.0,900,true,0.5\n"
    "pt,pytorch,ncf,train,false,ok,10.1,300,true,0.91\n"
    "tf,tensorflow,ncf,train,false,ok,12.0,301,true,0.91\n"
    "pt,pytorch,ncf,train,false,ok,10.3,310,true,0.90\n"
    "tf,tensorflow,ncf,train,false,ok,12.5,309,true,0.89\n"
    "pt,pytorch,ncf,train,false,ok,9.9,305,true,0.92\n"
    "tf,tensorflow,ncf,train,false,ok,11.8,303,true,0.90\n"
    "tf,tensorflow,ncf,train,false,failed,1.0,10,true,\n"
    "pt,pytorch,ncf,train,false,ok,10.2,298,true,0.91\n"
    "tf,tensorflow,ncf,train,false,ok,12.2,300,true,0.92\n"
    "pt,pytorch,ncf,train,false,ok,10.0,302,true,0.93\n"
    "tf,tensorflow,ncf,train,false,ok,12.1,306,true,0.90\n"
    "pt,pytorch,ncf,train,false,ok,10.4,307,true,0.90\n"
    "tf,tensorflow,ncf,train,false,ok,11.9,304,true,0.91\n";

class CompareCli : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = dir.path() / name;
    testing::write_file(path, text);
    return path;
  }
  fs::path db() const { return dir.path() / "runs.db"; }
  Result import(const std::string& csv_text, const std::string& name = "runs.csv") {
    return runner.run({"import", "--from", "csv", write(name, csv_text).string(), "--db", db().string()});
  }
  Result compare(std::vector<std::string> extra) {
    std::vector<std::string> args{"compare", "--db", db().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return runner.run(args);
  }
  static const nlohmann::json& find(const nlohmann::json& comparisons, const std::string& metric) {
    for (const auto& c : comparisons) {
      if (c["metric"] == metric) return c;
    }
    ADD_FAILURE() << "no comparison of " << metric;
    static const nlohmann::json none;
    return none;
  }

  TempDir dir;
  Runner runner;
};

TEST_F(CompareCli, AnswersTheStudysQuestionWithSciPysNumbers) {
  const Result imported = import(kTwoFrameworks);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_TRUE(contains(imported.err, "imported 14 run(s)")) << imported.err;

  const Result r = compare({"--format", "json", "--family", "table"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = parse_json(r.out);
  EXPECT_EQ(j["method"]["family"], "table");
  EXPECT_EQ(j["runs"]["read"], 14);
  EXPECT_EQ(j["runs"]["warmup_excluded"], 1);
  EXPECT_EQ(j["runs"]["failed_excluded"], 1);
  EXPECT_EQ(j["group_by"], nlohmann::json({"model", "phase"}));
  const auto& comparisons = j["comparisons"];
  ASSERT_EQ(comparisons.size(), 3u) << r.out;

  const auto& time = find(comparisons, "time_s");
  EXPECT_EQ(time["first"], "pytorch");
  EXPECT_EQ(time["n_first"], 6);
  EXPECT_EQ(time["warmup_excluded_first"], 1);
  EXPECT_EQ(time["failed_excluded_second"], 1);
  // scipy.stats.mannwhitneyu(tf, pt, method="exact").pvalue == 0.0021645021645021645 (= 2 / C(12, 6))
  EXPECT_NEAR(time["p_value"].get<double>(), 0.0021645021645021645, 1e-12);
  EXPECT_EQ(time["test"], "Mann-Whitney U (exact)");
  // Holm over the table's three p-values (0.0021645, 1.0, 0.40554): 3 x 0.0021645.
  EXPECT_NEAR(time["p_adjusted"].get<double>(), 0.0064935064935064935, 1e-12);
  EXPECT_EQ(time["higher"], "tensorflow");
  EXPECT_DOUBLE_EQ(time["a12"].get<double>(), 1.0);
  EXPECT_EQ(time["a12_magnitude"], "large");
  EXPECT_DOUBLE_EQ(time["cliffs_delta"].get<double>(), 1.0);
  // mean(tf) / mean(pt) = 72.5 / 60.9
  EXPECT_NEAR(time["ratio"].get<double>(), 72.5 / 60.9, 1e-12);
  EXPECT_LE(time["ratio_lower"].get<double>(), time["ratio"].get<double>());
  EXPECT_GE(time["ratio_upper"].get<double>(), time["ratio"].get<double>());
  EXPECT_GT(time["ratio_lower"].get<double>(), 1.0);
  EXPECT_TRUE(time["significant"].get<bool>());
  EXPECT_FALSE(time["estimated"].get<bool>());
  EXPECT_TRUE(contains(time["verdict"], "pytorch takes 1.19x [")) << time["verdict"];
  EXPECT_TRUE(contains(time["verdict"], "less time than tensorflow; p = 0.0065 (Holm); A12 = 1.00, large"))
      << time["verdict"];

  const auto& energy = find(comparisons, "energy_total_j");
  EXPECT_TRUE(energy["estimated"].get<bool>());
  // Ties (300 on both sides): the normal approximation with tie and continuity corrections.
  // scipy.stats.mannwhitneyu(pe, te, method="asymptotic").pvalue == 1.0
  EXPECT_EQ(energy["test"], "Mann-Whitney U (normal approximation)");
  EXPECT_NEAR(energy["p_value"].get<double>(), 1.0, 1e-12);
  EXPECT_FALSE(energy["significant"].get<bool>());
  EXPECT_TRUE(contains(energy["verdict"],
                       "no significant difference in total energy (estimated) between pytorch and "
                       "tensorflow"))
      << energy["verdict"];

  const auto& accuracy = find(comparisons, "metric_accuracy");
  EXPECT_EQ(accuracy["kind"], "quality");
  // scipy.stats.mannwhitneyu(pa, ta).pvalue == 0.4055446969502646 (ties: normal approximation)
  EXPECT_NEAR(accuracy["p_value"].get<double>(), 0.4055446969502646, 1e-12);
  EXPECT_NEAR(accuracy["p_adjusted"].get<double>(), 2 * 0.4055446969502646, 1e-12);
  EXPECT_EQ(accuracy["n_second"], 6);

  ASSERT_EQ(j["wins"].size(), 2u);
  for (const auto& w : j["wins"]) {
    EXPECT_EQ(w["scope"], "train");
    EXPECT_EQ(w["comparisons"], 2);  // time and energy; accuracy is not a cost
    EXPECT_EQ(w["significant_wins"], w["side"] == "pytorch" ? 1 : 0);
  }
}

TEST_F(CompareCli, CorrectsWithinEachMetricByDefault) {
  ASSERT_EQ(import(kTwoFrameworks).exit_code, 0);
  const Result r = compare({"--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = parse_json(r.out);
  EXPECT_EQ(j["method"]["family"], "metric");
  // Two sides: each metric's family holds one comparison, which Holm leaves as it is.
  for (const auto& c : j["comparisons"]) EXPECT_EQ(c["p_adjusted"], c["p_value"]) << c["metric"];
  EXPECT_TRUE(contains(find(j["comparisons"], "time_s")["verdict"], "p = 0.0022 (Holm)"));
}

TEST_F(CompareCli, PrintsEveryFormatWithEstimatesMarked) {
  ASSERT_EQ(import(kTwoFrameworks).exit_code, 0);
  const Result table = compare({});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(contains(table.out,
                       "model=ncf phase=train: pytorch (n = 6; excluded 1 warm-up) vs tensorflow (n = 6; "
                       "excluded 1 failed)"))
      << table.out;
  EXPECT_TRUE(contains(table.out, "total energy [J] (estimated)")) << table.out;
  EXPECT_TRUE(contains(table.out, "Summary")) << table.out;
  EXPECT_TRUE(contains(table.out, "power model")) << table.out;

  const Result md = compare({"--format", "md"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_TRUE(contains(md.out, "| group | metric |")) << md.out;
  EXPECT_TRUE(contains(md.out, "(estimated)")) << md.out;

  const Result csv = compare({"--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const auto lines = lines_of(csv.out);
  ASSERT_EQ(lines.size(), 4u) << csv.out;
  const auto header = testing::csv_fields(lines[0]);
  const auto estimated = std::find(header.begin(), header.end(), "estimated") - header.begin();
  ASSERT_LT(static_cast<std::size_t>(estimated), header.size());
  bool some_estimated = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto row = testing::csv_fields(lines[i]);
    ASSERT_EQ(row.size(), header.size()) << lines[i];
    some_estimated = some_estimated || row[static_cast<std::size_t>(estimated)] == "true";
  }
  EXPECT_TRUE(some_estimated);

  const Result latex = compare({"--format", "latex"});
  ASSERT_EQ(latex.exit_code, 0) << latex.err;
  EXPECT_TRUE(contains(latex.out, "\\begin{tabular}")) << latex.out;
  EXPECT_TRUE(contains(latex.out, "(estimated)")) << latex.out;
}

TEST_F(CompareCli, ThreeFrameworksGetKruskalWallisThenCorrectedPairs) {
  std::string csv = "framework,model,phase,time_s\n";
  const std::vector<std::pair<std::string, std::vector<double>>> sides{
      {"pytorch", {10.1, 10.3, 9.9, 10.2, 10.0, 10.4}},
      {"tensorflow", {12.0, 12.5, 11.8, 12.2, 12.1, 11.9}},
      {"jax", {11.0, 11.2, 10.9, 11.1, 11.3, 10.8}}};
  for (const auto& [name, values] : sides) {
    for (double v : values) csv += name + ",m,train," + std::to_string(v) + "\n";
  }
  ASSERT_EQ(import(csv).exit_code, 0);
  const Result r = compare({"--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = parse_json(r.out);
  ASSERT_EQ(j["omnibus"].size(), 1u);
  // scipy.stats.kruskal(pt, tf, jx): statistic 15.157894736842096, pvalue 0.0005110989388394336
  EXPECT_NEAR(j["omnibus"][0]["h"].get<double>(), 15.157894736842096, 1e-9);
  EXPECT_NEAR(j["omnibus"][0]["p_value"].get<double>(), 0.0005110989388394336, 1e-12);
  ASSERT_EQ(j["comparisons"].size(), 3u);
  for (const auto& c : j["comparisons"]) {
    // Each pair separates completely: exact p = 2 / C(12, 6); Holm over three equal p-values: x 3.
    EXPECT_NEAR(c["p_value"].get<double>(), 0.0021645021645021645, 1e-12);
    EXPECT_NEAR(c["p_adjusted"].get<double>(), 3 * 0.0021645021645021645, 1e-12);
  }
}

TEST_F(CompareCli, SaysWhyInsteadOfPrintingAnUnjustifiedNumber) {
  ASSERT_EQ(
      import("framework,model,phase,time_s\npytorch,m,train,1.0\ntensorflow,m,train,2.0\ntensorflow,m,train,2.1\n")
          .exit_code,
      0);
  const Result r = compare({"--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = parse_json(r.out);
  ASSERT_EQ(j["comparisons"].size(), 1u);
  EXPECT_TRUE(j["comparisons"][0]["p_value"].is_null());
  EXPECT_TRUE(contains(j["comparisons"][0]["reason"], "n = 1 for pytorch")) << j["comparisons"][0];
  EXPECT_TRUE(contains(j["comparisons"][0]["verdict"], "cannot compare")) << j["comparisons"][0];
}

TEST_F(CompareCli, WarnsWhenTheSamplesAreTooSmallForSignificance) {
  ASSERT_EQ(import("framework,model,phase,time_s\na,m,t,1\na,m,t,2\na,m,t,3\nb,m,t,4\nb,m,t,5\nb,m,t,6\n").exit_code,
            0);
  const Result r = compare({"--metrics", "time"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // n = 3 and 3: the smallest exact two-sided p is 2 / C(6, 3) = 0.1.
  EXPECT_TRUE(contains(r.out, "no p-value below 0.100 is possible")) << r.out;
}

TEST_F(CompareCli, RejectsOptionsThatCannotWork) {
  ASSERT_EQ(import(kTwoFrameworks).exit_code, 0);
  const Result metric = compare({"--metrics", "energy_gpu_j"});
  EXPECT_EQ(metric.exit_code, 2);
  EXPECT_TRUE(contains(metric.err, "no metric 'energy_gpu_j'")) << metric.err;
  EXPECT_TRUE(contains(metric.err, "energy_total_j")) << metric.err;
  const Result between = compare({"--between", "backend"});
  EXPECT_EQ(between.exit_code, 2);
  EXPECT_TRUE(contains(between.err, "no run has a 'backend' label")) << between.err;
  // The bootstrap's method is --ci-method; the old --interval still works for one release, and warns.
  const Result method = compare({"--ci-method", "percentile", "--format", "json"});
  ASSERT_EQ(method.exit_code, 0) << method.err;
  const Result old = compare({"--interval", "percentile", "--format", "json"});
  ASSERT_EQ(old.exit_code, 0) << old.err;
  EXPECT_TRUE(contains(old.err, "--interval is deprecated")) << old.err;
  EXPECT_TRUE(contains(old.err, "--ci-method")) << old.err;
  EXPECT_EQ(method.out, old.out);
  EXPECT_TRUE(contains(method.out, "percentile")) << method.out;
}

TEST_F(CompareCli, ImportReportsEveryMalformedRowWithItsLineAndImportsNothing) {
  const Result r = import(
      "framework,time_s,energy_cpu_j,warmup\n"
      "a,1.0,5,false\n"
      "a,fast,5,false\n"
      "\"b, quoted\nover two lines\",1.0,-3,false\n"
      "b,1.0,5\n"
      "b,1.0,5,perhaps\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "line 3, column 'time_s': 'fast' is not a finite number")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 4, column 'energy_cpu_j': -3 is negative")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 6: 3 field(s), the header has 4")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 7, column 'warmup': 'perhaps' is not true or false")) << r.err;
  const Store store(db());
  EXPECT_TRUE(store.campaigns().empty());
}

TEST_F(CompareCli, ImportNeedsAMeasuredColumnAndRefusesTheSameFileTwice) {
  const Result labels_only = import("framework,model\na,m\n", "labels.csv");
  EXPECT_EQ(labels_only.exit_code, 1);
  EXPECT_TRUE(contains(labels_only.err, "no measured column")) << labels_only.err;

  ASSERT_EQ(import(kTwoFrameworks).exit_code, 0);
  const Result again = runner.run({"import", (dir.path() / "runs.csv").string(), "--db", db().string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "already in the store as campaign 1")) << again.err;
}

TEST_F(CompareCli, ExportThenImportKeepsEveryComparedFigure) {
  ASSERT_EQ(import(kTwoFrameworks).exit_code, 0);
  const Result exported = runner.run({"export", "--db", db().string(), "--include-warmup"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const fs::path second_db = dir.path() / "second.db";
  const fs::path csv = write("exported.csv", exported.out);
  const Result reimported = runner.run({"import", csv.string(), "--db", second_db.string(), "--name", "again"});
  ASSERT_EQ(reimported.exit_code, 0) << reimported.err;
  const Result a = compare({"--format", "csv"});
  const Result b = runner.run({"compare", "--db", second_db.string(), "--format", "csv"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

// Two sides whose names and workloads a spreadsheet would run as formulas, with negative metrics.
const char* kFormulas =
    "workload,framework,model,phase,time_s,energy_total_j,metric_delta\n"
    "=cmd|' /C calc'!A0,-x,ncf,train,10.1,300,-3.5\n"
    "=cmd|' /C calc'!A0,-x,ncf,train,10.3,310,-1e-05\n"
    "=cmd|' /C calc'!A0,-x,ncf,train,9.9,305,-2\n"
    "plain,ncf-libtorch-train,ncf,train,12.0,301,1\n"
    "plain,ncf-libtorch-train,ncf,train,12.5,309,2\n"
    "plain,ncf-libtorch-train,ncf,train,11.8,303,3\n";

/// The cells of one CSV row by column name.
std::map<std::string, std::string> row_of(const std::string& csv, std::size_t row) {
  const auto lines = lines_of(csv);
  if (lines.size() <= row) {
    ADD_FAILURE() << "no row " << row << " in\n" << csv;
    return {};
  }
  const auto header = testing::csv_fields(lines[0]);
  const auto fields = testing::csv_fields(lines[row]);
  EXPECT_EQ(header.size(), fields.size()) << csv;
  std::map<std::string, std::string> cells;
  for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) cells[header[i]] = fields[i];
  return cells;
}

TEST_F(CompareCli, ExportGuardsFormulasImportRemovesTheGuardAndRawOptsOut) {
  ASSERT_EQ(import(kFormulas).exit_code, 0);
  const Result exported = runner.run({"export", "--db", db().string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  auto first = row_of(exported.out, 1);
  EXPECT_EQ(first["workload"], "'=cmd|' /C calc'!A0") << exported.out;
  EXPECT_EQ(first["framework"], "'-x");
  EXPECT_EQ(first["metric_delta"], "-3.5") << "a number is never guarded";
  EXPECT_EQ(row_of(exported.out, 2)["metric_delta"], "-1e-05");
  auto fourth = row_of(exported.out, 4);
  EXPECT_EQ(fourth["workload"], "plain");
  EXPECT_EQ(fourth["framework"], "ncf-libtorch-train");

  const Result raw = runner.run({"export", "--db", db().string(), "--raw"});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(row_of(raw.out, 1)["workload"], "=cmd|' /C calc'!A0") << raw.out;
  EXPECT_EQ(row_of(raw.out, 1)["framework"], "-x");

  // export -> import -> export gives the same file, and the store the text as written.
  const fs::path second_db = dir.path() / "second.db";
  const Result reimported =
      runner.run({"import", write("exported.csv", exported.out).string(), "--db", second_db.string()});
  ASSERT_EQ(reimported.exit_code, 0) << reimported.err;
  const Result again = runner.run({"export", "--db", second_db.string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, exported.out);
  const Result again_raw = runner.run({"export", "--db", second_db.string(), "--raw"});
  EXPECT_EQ(again_raw.out, raw.out);

  // The comparison's CSV guards the side names too, and leaves its numbers alone.
  const Result csv = compare({"--format", "csv", "--metrics", "metric_delta"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  auto comparison = row_of(csv.out, 1);
  EXPECT_EQ(comparison["first"], "'-x") << csv.out;
  EXPECT_EQ(comparison["second"], "ncf-libtorch-train");
  EXPECT_EQ(comparison["min_first"], "-3.5") << csv.out;
  EXPECT_EQ(comparison["max_first"], "-1e-05") << csv.out;
}

TEST_F(CompareCli, MarkdownTablesCarryNoHtml) {
  const std::string evil = "</script><img src=x onerror=alert(1)>";
  std::string csv = "framework,model,time_s\n";
  for (const char* time : {"1.0", "1.1", "1.2"}) csv += fmt::format("\"{}\",m|x,{}\n", evil, time);
  for (const char* time : {"2.0", "2.1", "2.2"}) csv += fmt::format("plain,m|x,{}\n", time);
  ASSERT_EQ(import(csv).exit_code, 0);
  const Result md = compare({"--format", "md", "--group-by", "model"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_EQ(md.out.find('<'), std::string::npos) << md.out;
  EXPECT_TRUE(contains(md.out, "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;")) << md.out;
  EXPECT_TRUE(contains(md.out, "model=m\\|x")) << md.out;
  // Every row of the comparison table has the header's 10 cells: no pipe in a label splits one.
  const auto lines = lines_of(md.out);
  auto line = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("| group |"); });
  ASSERT_NE(line, lines.end()) << md.out;
  for (; line != lines.end() && line->starts_with("|"); ++line) {
    std::size_t unescaped = 0;
    for (std::size_t i = 0; i < line->size(); ++i)
      unescaped += (*line)[i] == '|' && (i == 0 || (*line)[i - 1] != '\\') ? 1 : 0;
    EXPECT_EQ(unescaped, 11u) << *line;
  }
}

TEST_F(CompareCli, BenchComparesCommandsLikeHyperfineForEnergy) {
  const std::string load = JOULEBENCH_CPU_LOAD;
  runner.deadline = std::chrono::seconds(60);
  const fs::path kept = dir.path() / "bench.db";
  // Five runs each: the smallest exact p, 2 / C(10, 5), survives Holm over the four metrics.
  const Result r =
      runner.run({"bench", "-r", "5", "-w", "1", "--cooldown", "0s", "--idle", "0s", "-n", "short", "-n", "long",
                  "--db", kept.string(), load + " --iterations 5 --threads 1", load + " --iterations 20 --threads 1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Comparing workload: long, short")) << r.out;
  EXPECT_TRUE(contains(r.out, "all runs: long (n = 5; excluded 1 warm-up) vs short (n = 5; excluded 1 warm-up)"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "short takes")) << r.out;
  EXPECT_TRUE(contains(r.out, "Benchmark 1: short")) << "each command's figures, in the order given\n" << r.out;
  // A machine-readable comparison on standard output parses: the figures go to standard error then.
  const Result json = runner.run(
      {"bench", "-r", "2", "-w", "0", "--cooldown", "0s", "--idle", "0s", "--format", "json", "true", "sleep 0"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(parse_json(json.out)["schema"], "compare/2");
  EXPECT_TRUE(contains(json.err, "Benchmark 2: sleep 0")) << json.err;
  // The runs and a plan that reruns them are kept.
  EXPECT_TRUE(fs::exists(dir.path() / "bench.toml"));
  const Store store(kept);
  EXPECT_EQ(store.runs(store.campaigns().back().id).size(), 12u);
  const Result rerun = runner.run(
      {"run", (dir.path() / "bench.toml").string(), "--db", (dir.path() / "again.db").string(), "--dry-run"});
  EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
}

TEST_F(CompareCli, BenchOfOneCommandReportsTimeAndEnergyInHyperfinesShapes) {
  const std::string load = JOULEBENCH_CPU_LOAD;
  runner.deadline = std::chrono::seconds(60);
  const fs::path json_file = dir.path() / "results.json";
  const fs::path csv_file = dir.path() / "results.csv";
  const fs::path markdown_file = dir.path() / "results.md";
  const Result r = runner.run({"bench", "-r", "3", "-w", "0", "--cooldown", "0s", "--idle", "0s", "--export-json",
                               json_file.string(), "--export-csv", csv_file.string(), "--export-markdown",
                               markdown_file.string(), load + " --iterations 3 --threads 1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Benchmark 1: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "Time (mean ± σ): ")) << r.out;
  EXPECT_TRUE(contains(r.out, "Total energy (mean ± σ): ")) << r.out;
  EXPECT_TRUE(contains(r.out, "95% CI")) << r.out;
  EXPECT_FALSE(contains(r.out, "Comparing")) << "one command: nothing to compare\n" << r.out;

  // hyperfine's keys, meaning what they mean there, then joulebench's energy.
  const auto j = parse_json(read_all(json_file));
  EXPECT_EQ(j["schema"], "bench/1");
  ASSERT_EQ(j["results"].size(), 1u);
  const auto& result = j["results"][0];
  EXPECT_EQ(result["command"], load + " --iterations 3 --threads 1");
  const auto times = result["times"].get<std::vector<double>>();
  ASSERT_EQ(times.size(), 3u);
  const double mean = (times[0] + times[1] + times[2]) / 3;
  EXPECT_NEAR(result["mean"].get<double>(), mean, 1e-12);
  EXPECT_EQ(result["min"].get<double>(), *std::min_element(times.begin(), times.end()));
  EXPECT_EQ(result["max"].get<double>(), *std::max_element(times.begin(), times.end()));
  for (const char* key : {"stddev", "median", "user", "system"}) EXPECT_TRUE(result[key].is_number()) << key;
  EXPECT_EQ(result["exit_codes"], nlohmann::json({0, 0, 0}));
  EXPECT_TRUE(result["parameters"].is_object());
  const auto& total = result["energy"]["energy_total_j"];
  ASSERT_TRUE(total.is_object()) << result.dump(2);
  EXPECT_GT(total["mean"].get<double>(), 0.0);
  EXPECT_LT(total["mean_interval"]["lower"].get<double>(), total["mean"].get<double>());
  EXPECT_GT(total["mean_interval"]["upper"].get<double>(), total["mean"].get<double>());
  ASSERT_EQ(result["runs"].size(), 3u);
  double sum = 0;
  for (const auto& run : result["runs"]) sum += run["energy_j"]["total"].get<double>();
  EXPECT_NEAR(total["mean"].get<double>(), sum / 3, 1e-9);

  const auto csv = lines_of(read_all(csv_file));
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[0].rfind("command,mean,stddev,median,user,system,min,max,", 0), 0u) << csv[0];
  EXPECT_TRUE(contains(csv[0], "energy_total_j_mean")) << csv[0];
  EXPECT_TRUE(contains(read_all(markdown_file), "| Command | Mean [s] | Min [s] | Max [s] | Relative |"));
}

TEST_F(CompareCli, BenchScansParametersAndRunsPrepareSetupAndCleanup) {
  runner.deadline = std::chrono::seconds(60);
  const fs::path log = dir.path() / "log";
  const fs::path json_file = dir.path() / "results.json";
  const Result r = runner.run({"bench",
                               "-r",
                               "2",
                               "-w",
                               "1",
                               "--cooldown",
                               "0s",
                               "--idle",
                               "0s",
                               "--shell",
                               "-P",
                               "n",
                               "1",
                               "2",
                               "-L",
                               "word",
                               "a,b",
                               "-n",
                               "echo-{n}-{word}",
                               "-p",
                               "echo prepare >> " + log.string(),
                               "-s",
                               "echo setup-{n}{word} >> " + log.string(),
                               "-c",
                               "echo cleanup-{n}{word} >> " + log.string(),
                               "--export-json",
                               json_file.string(),
                               "echo {n} {word}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = parse_json(read_all(json_file));
  ASSERT_EQ(j["results"].size(), 4u);
  // In the order given: the first parameter varies slowest.
  EXPECT_EQ(j["results"][0]["command"], "echo 1 a");
  EXPECT_EQ(j["results"][0]["parameters"], nlohmann::json({{"n", "1"}, {"word", "a"}}));
  EXPECT_EQ(j["results"][3]["command"], "echo 2 b");
  EXPECT_EQ(j["results"][3]["name"], "echo-2-b");
  const auto lines = lines_of(read_all(log));
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "prepare"), 12) << "before each of 4 x (1 + 2) runs";
  for (const char* combination : {"1a", "1b", "2a", "2b"}) {
    EXPECT_EQ(std::count(lines.begin(), lines.end(), std::string("setup-") + combination), 1) << combination;
    EXPECT_EQ(std::count(lines.begin(), lines.end(), std::string("cleanup-") + combination), 1) << combination;
    // The setup before the command's first run, the cleanup after its last (the runs are shuffled
    // with the other commands': at least its own 3 prepares lie between them).
    const auto setup = std::find(lines.begin(), lines.end(), std::string("setup-") + combination);
    const auto cleanup = std::find(lines.begin(), lines.end(), std::string("cleanup-") + combination);
    EXPECT_GE(std::count(setup, cleanup, "prepare"), 3) << combination;
  }
  EXPECT_TRUE(contains(r.out, "Comparing workload")) << r.out;
}

TEST_F(CompareCli, BenchStopsAtTheFirstFailingRunUnlessToldToIgnoreIt) {
  runner.deadline = std::chrono::seconds(60);
  const fs::path kept = dir.path() / "bench.db";
  const fs::path log = dir.path() / "cleanups";
  const Result stopped =
      runner.run({"bench", "-r", "3", "-w", "0", "--cooldown", "0s", "--idle", "0s", "--db", kept.string(), "-c",
                  "echo true >> " + log.string(), "-c", "echo false >> " + log.string(), "true", "false"});
  EXPECT_EQ(stopped.exit_code, 1) << stopped.err;
  EXPECT_TRUE(contains(stopped.err, "false run 1: exit code 1")) << stopped.err;
  EXPECT_TRUE(contains(stopped.err, "--ignore-failure")) << stopped.err;
  const Store store(kept);
  const auto runs = store.runs(store.campaigns().back().id);
  EXPECT_LT(runs.size(), 6u) << "stopped at the failure";
  EXPECT_EQ(runs.back().status, RunStatus::failed);
  // Stopped early, each command that started is cleaned up all the same, once.
  const auto cleanups = lines_of(read_all(log));
  const bool true_ran = std::any_of(runs.begin(), runs.end(), [](const RunRecord& r) { return r.workload == "true"; });
  EXPECT_EQ(std::count(cleanups.begin(), cleanups.end(), "false"), 1) << read_all(log);
  EXPECT_EQ(std::count(cleanups.begin(), cleanups.end(), "true"), true_ran ? 1 : 0) << read_all(log);

  const fs::path json_file = dir.path() / "results.json";
  const Result ignored = runner.run({"bench", "-r", "2", "-w", "0", "--cooldown", "0s", "--idle", "0s", "-i",
                                     "--export-json", json_file.string(), "true", "false"});
  EXPECT_EQ(ignored.exit_code, 0) << ignored.err;
  const auto j = parse_json(read_all(json_file));
  EXPECT_EQ(j["results"][1]["exit_codes"], nlohmann::json({1, 1}));
}

TEST_F(CompareCli, BenchRefusesWhatCannotWork) {
  const Result names = runner.run({"bench", "-n", "a", "true", "false"});
  EXPECT_EQ(names.exit_code, 2);
  EXPECT_TRUE(contains(names.err, "1 name(s) for 2 command(s)")) << names.err;
  const Result unused = runner.run({"bench", "-L", "x", "1,2", "true"});
  EXPECT_EQ(unused.exit_code, 2);
  EXPECT_TRUE(contains(unused.err, "no command uses {x}")) << unused.err;
  const Result same = runner.run({"bench", "-L", "x", "1,2", "-n", "same", "echo {x}"});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_TRUE(contains(same.err, "two commands are named 'same'")) << same.err;
  const Result prepares = runner.run({"bench", "-p", "a", "-p", "b", "-p", "c", "true", "false"});
  EXPECT_EQ(prepares.exit_code, 2);
  EXPECT_TRUE(contains(prepares.err, "3 given for 2 command(s)")) << prepares.err;
  const Result scan = runner.run({"bench", "-P", "n", "3", "1", "echo {n}"});
  EXPECT_EQ(scan.exit_code, 2);
  EXPECT_TRUE(contains(scan.err, "above the maximum")) << scan.err;
  const Result step = runner.run({"bench", "-D", "2", "echo"});
  EXPECT_EQ(step.exit_code, 2);
  EXPECT_TRUE(contains(step.err, "give -P NAME MIN MAX too")) << step.err;
  const Result one = runner.run({"bench", "--format", "json", "echo"});
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_TRUE(contains(one.err, "--export-json")) << one.err;
}

}  // namespace
}  // namespace joulebench

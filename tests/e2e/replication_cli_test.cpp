// `joulebench import --from icse2022`: the ICSE 2022 study's raw files (a committed excerpt of its
// artifact, tests/data/icse2022) read into a store, each figure checked against the files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "fakes/cli_runner.hpp"
#include "joulebench/plan.hpp"
#include "joulebench/store.hpp"

namespace joulebench {
namespace {

namespace fs = std::filesystem;
using testing::Result;
using testing::Runner;
using testing::TempDir;

const fs::path kExcerpt = fs::path(JOULEBENCH_TEST_DATA) / "icse2022";

const RunRecord* find_run(const std::vector<RunRecord>& runs, const std::string& workload, int repetition) {
  for (const auto& r : runs) {
    if (r.workload == workload && r.repetition == repetition) return &r;
  }
  return nullptr;
}

class Icse2022Import : public ::testing::Test {
 protected:
  std::vector<RunRecord> imported_runs() const {
    const Store store(db);
    return store.runs(store.campaigns().back().id);
  }
  TempDir dir;
  fs::path db = dir.path() / "ref.db";
  Runner runner;
};

TEST_F(Icse2022Import, ReadsEveryRunWithTheStudysFigures) {
  const Result r = runner.run({"import", "--from", "icse2022", kExcerpt.string(), "--db", db.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("imported 16 run(s)"), std::string::npos) << r.err;
  const auto runs = imported_runs();
  ASSERT_EQ(runs.size(), 16U);

  // Values read off the files by hand (perf's "Joules" with thousands separators; the GPU's
  // samples summed as the study's tools/compile_results.sh does).
  const RunRecord* t = find_run(runs, "transformer-xl-pytorch-train", 1);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(value_of(t->labels, "framework"), "pytorch");
  EXPECT_EQ(value_of(t->labels, "model"), "transformer-xl");
  EXPECT_EQ(value_of(t->labels, "phase"), "train");
  EXPECT_EQ(value_of(t->metadata, "study_framework"), "PyTorch");
  EXPECT_EQ(value_of(t->metadata, "study_model"), "transformer_xl");
  EXPECT_EQ(value_of(t->metadata, "study_phase"), "measurements_train");
  EXPECT_EQ(value_of(t->metadata, "gpu_samples"), "1426");
  EXPECT_DOUBLE_EQ(t->time_s, 1430.778288485);
  const EnergyFigure* cpu = find_energy(t->energy, DomainId(Domain::cpu));
  const EnergyFigure* dram = find_energy(t->energy, DomainId(Domain::dram));
  const EnergyFigure* gpu = find_energy(t->energy, DomainId(Domain::gpu));
  const EnergyFigure* total = find_energy(t->energy, DomainId::total());
  ASSERT_TRUE(cpu && dram && gpu && total);
  EXPECT_DOUBLE_EQ(cpu->energy_j, 145367.62);
  EXPECT_EQ(cpu->method, FigureMethod::counter);
  EXPECT_EQ(cpu->source, "perf-stat");
  EXPECT_DOUBLE_EQ(dram->energy_j, 15074.14);
  EXPECT_NEAR(gpu->energy_j, 117332.01, 0.005);
  EXPECT_EQ(gpu->method, FigureMethod::sample_sum);
  EXPECT_EQ(gpu->source, "nvidia-smi");
  EXPECT_FALSE(gpu->estimated);
  EXPECT_NEAR(total->energy_j, 145367.62 + 15074.14 + 117332.01, 0.01);

  const RunRecord* n = find_run(runs, "ncf-tensorflow-infer", 1);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(value_of(n->labels, "phase"), "infer");
  EXPECT_DOUBLE_EQ(n->time_s, 336.019819082);
  EXPECT_DOUBLE_EQ(find_energy(n->energy, DomainId(Domain::cpu))->energy_j, 32405.60);
  EXPECT_DOUBLE_EQ(find_energy(n->energy, DomainId(Domain::dram))->energy_j, 3569.48);
  EXPECT_NEAR(find_energy(n->energy, DomainId(Domain::gpu))->energy_j, 3876.30, 0.005);
  EXPECT_EQ(value_of(n->metadata, "gpu_samples"), "331");
  ASSERT_NE(find_run(runs, "mask-rcnn-tensorflow-train", 2), nullptr);
  ASSERT_NE(find_run(runs, "gnmt-pytorch-infer", 2), nullptr);

  // The same data again is refused; the store keeps one campaign.
  const Result again = runner.run({"import", "--from", "icse2022", kExcerpt.string(), "--db", db.string()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already in the store"), std::string::npos) << again.err;
  EXPECT_EQ(Store(db).campaigns().size(), 1U);

  // compare reads them as any campaign: PyTorch against TensorFlow per model and phase.
  const Result compared = runner.run({"compare", "--db", db.string(), "--metrics", "energy_cpu_j"});
  EXPECT_EQ(compared.exit_code, 0) << compared.err;
  EXPECT_NE(compared.out.find("transformer-xl"), std::string::npos) << compared.out;
}

TEST_F(Icse2022Import, AMalformedFileIsNamedWithItsLineAndNothingIsImported) {
  const fs::path copy = dir.path() / "artifact";
  fs::copy(kExcerpt, copy, fs::copy_options::recursive);
  const fs::path smi = copy / "data" / "measurements_train" / "mask_rcnn_PyTorch_nvidia_smi_2.txt";
  {
    std::ofstream out(smi, std::ios::app);
    out << "[N/A]\n";
  }
  fs::remove(copy / "data" / "measurements_inference" / "ncf_PyTorch_perf_2.txt");
  const Result r = runner.run({"import", "--from", "icse2022", copy.string(), "--db", db.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("mask_rcnn_PyTorch_nvidia_smi_2.txt:2447: not a power sample"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ncf_PyTorch_nvidia_smi_2.txt: its perf file is missing"), std::string::npos) << r.err;
  if (fs::exists(db)) {
    EXPECT_TRUE(Store(db).campaigns().empty());
  }

  const Result as_csv = runner.run({"import", copy.string(), "--db", db.string()});
  EXPECT_NE(as_csv.exit_code, 0);
  EXPECT_NE(as_csv.err.find("a folder, not a CSV file"), std::string::npos) << as_csv.err;

  const Result nowhere = runner.run({"import", "--from", "icse2022", dir.path().string(), "--db", db.string()});
  EXPECT_NE(nowhere.exit_code, 0);
  EXPECT_NE(nowhere.err.find("no data/measurements_train or data/measurements_inference folder"), std::string::npos)
      << nowhere.err;
}

}  // namespace
}  // namespace joulebench

// --- compare --reference ----------------------------------------------------------------------

namespace joulebench {
namespace {

class ReplicationCompare : public Icse2022Import {
 protected:
  void import(const fs::path& source, const fs::path& store) {
    const Result r = runner.run({"import", "--from", "icse2022", source.string(), "--db", store.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  nlohmann::json compare_json(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"compare", "--db", db.string(), "--format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const Result r = runner.run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return testing::parse_json(r.out);
  }
  static const nlohmann::json* row(const nlohmann::json& doc, const std::string& model, const std::string& phase,
                                   const std::string& metric) {
    for (const auto& r : doc["rows"]) {
      if (r["model"] == model && r["phase"] == phase && r["metric"] == metric) return &r;
    }
    return nullptr;
  }
};

TEST_F(ReplicationCompare, TheStudyAgainstItselfAgreesEverywhere) {
  import(kExcerpt, db);
  const auto doc = compare_json({"--reference", db.string(), "--metrics", "time,energy"});
  EXPECT_EQ(doc["schema"], "replication/1");
  // 4 groups (2 models x their phase) x 5 metrics (time; cpu, dram, gpu, total energy).
  EXPECT_EQ(doc["summary"]["compared"], 20);
  EXPECT_EQ(doc["summary"]["direction_agrees"], 20);
  EXPECT_EQ(doc["summary"]["significance_agrees"], 20);
  EXPECT_EQ(doc["summary"]["intervals_overlap"], 20);
  for (const auto& r : doc["rows"]) {
    EXPECT_DOUBLE_EQ(r["ratio_of_ratios"].get<double>(), 1.0) << r.dump();
    EXPECT_EQ(r["first"], "pytorch");
    EXPECT_EQ(r["second"], "tensorflow");
  }
  // The ratio is tensorflow / pytorch of the means: transformer-xl's training time, by hand from
  // the files (1430.778288485 and 1431.584266139 s against 2313.050642112 and 2571.542328823 s).
  const auto* time = row(doc, "transformer-xl", "train", "time_s");
  ASSERT_NE(time, nullptr) << doc.dump();
  EXPECT_NEAR((*time)["campaign_ratio"].get<double>(),
              (2313.050642112 + 2571.542328823) / (1430.778288485 + 1431.584266139), 1e-12);
  EXPECT_EQ((*time)["campaign_cheaper"], "pytorch");
}

TEST_F(ReplicationCompare, APerturbedCopyDisagreesWhereItWasChanged) {
  // The copy: TensorFlow's transformer_xl training now takes a third of the time it took.
  const fs::path copy = dir.path() / "perturbed";
  fs::copy(kExcerpt, copy, fs::copy_options::recursive);
  for (const char* rep : {"1", "2"}) {
    const fs::path perf =
        copy / "data" / "measurements_train" / (std::string("transformer_xl_TensorFlow_perf_") + rep + ".txt");
    std::string text = testing::read_all(perf);
    const auto at = text.find(" seconds time elapsed");
    const auto start = text.rfind(' ', at - 1) + 1;
    const double seconds = std::stod(text.substr(start, at - start));
    text.replace(start, at - start, fmt::format("{:.9f}", seconds / 3.0));
    testing::write_file(perf, text);
  }
  const fs::path reference = dir.path() / "reference.db";
  import(kExcerpt, reference);
  import(copy, db);
  const auto doc = compare_json({"--reference", reference.string(), "--metrics", "time,energy_cpu_j"});
  const auto* time = row(doc, "transformer-xl", "train", "time_s");
  ASSERT_NE(time, nullptr) << doc.dump();
  EXPECT_EQ((*time)["campaign_cheaper"], "tensorflow");
  EXPECT_EQ((*time)["reference_cheaper"], "pytorch");
  EXPECT_FALSE((*time)["direction_agrees"].get<bool>());
  EXPECT_FALSE((*time)["intervals_overlap"].get<bool>());
  EXPECT_NEAR((*time)["ratio_of_ratios"].get<double>(), 1.0 / 3.0, 1e-9);
  // Everything else is as it was: 8 comparisons, 7 agree in direction.
  EXPECT_EQ(doc["summary"]["compared"], 8);
  EXPECT_EQ(doc["summary"]["direction_agrees"], 7);
  const auto* energy = row(doc, "transformer-xl", "train", "energy_cpu_j");
  ASSERT_NE(energy, nullptr);
  EXPECT_TRUE((*energy)["direction_agrees"].get<bool>());

  // The text says which rows differ.
  const Result text =
      runner.run({"compare", "--db", db.string(), "--reference", reference.string(), "--metrics", "time"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("DIFFERS"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("the direction agrees in 3 (75 %)"), std::string::npos) << text.out;
}

TEST_F(ReplicationCompare, LabelsSpelledDifferentlyAreMapped) {
  // A reference with the study's spellings: exported, renamed, imported back as a CSV.
  import(kExcerpt, db);
  const fs::path csv = dir.path() / "study.csv";
  const Result exported = runner.run({"export", "--db", db.string(), "-o", csv.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::string text = testing::read_all(csv);
  for (const auto& [ours, study] : std::vector<std::pair<std::string, std::string>>{
           {",pytorch,", ",PyTorch,"}, {",tensorflow,", ",TensorFlow,"}, {",transformer-xl,", ",transformer_xl,"}}) {
    for (auto at = text.find(ours); at != std::string::npos; at = text.find(ours, at + study.size())) {
      text.replace(at, ours.size(), study);
    }
  }
  testing::write_file(csv, text);
  const fs::path reference = dir.path() / "study.db";
  const Result imported = runner.run({"import", csv.string(), "--db", reference.string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  const auto unmapped = compare_json({"--reference", reference.string(), "--metrics", "time"});
  EXPECT_EQ(unmapped["summary"]["compared"], 0);
  const auto mapped =
      compare_json({"--reference", reference.string(), "--metrics", "time", "--map", "framework=PyTorch:pytorch",
                    "--map", "framework=TensorFlow:tensorflow", "--map", "model=transformer_xl:transformer-xl"});
  EXPECT_EQ(mapped["summary"]["compared"], 4);
  EXPECT_EQ(mapped["summary"]["direction_agrees"], 4);

  const Result bad =
      runner.run({"compare", "--db", db.string(), "--reference", reference.string(), "--map", "PyTorch"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("write KEY=FROM:TO"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace joulebench

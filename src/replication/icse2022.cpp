// The ICSE 2022 study's raw measurements (replication.hpp): perf stat outputs and nvidia-smi power
// samples, a pair of files per run.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "joulebench/figures.hpp"
#include "joulebench/plan.hpp"
#include "joulebench/replication.hpp"

namespace joulebench {

namespace {

namespace fs = std::filesystem;

/// The study's spellings, and joulebench's (examples/deeplearningexamples.toml spells its plans so).
struct Spelling {
  std::string_view study;
  std::string_view ours;
};
constexpr Spelling kModels[] = {{"ncf", "ncf"},           {"transformer_xl", "transformer-xl"}, {"gnmt", "gnmt"},
                                {"resnet50", "resnet50"}, {"mask_rcnn", "mask-rcnn"},           {"ssd", "ssd"}};
constexpr Spelling kFrameworks[] = {{"PyTorch", "pytorch"}, {"TensorFlow", "tensorflow"}};
constexpr Spelling kPhases[] = {{"measurements_train", "train"}, {"measurements_inference", "infer"}};

std::string ours(std::span<const Spelling> table, const std::string& study) {
  for (const auto& s : table) {
    if (s.study == study) return std::string(s.ours);
  }
  std::string fallback = study;  // a model the study did not have: underscores as hyphens
  std::replace(fallback.begin(), fallback.end(), '_', '-');
  return fallback;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StoreError(fmt::format("cannot read {}", path.string()));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

/// A number as perf prints it in an English locale: thousands separated by ',', '.' for decimals.
std::optional<double> perf_number(std::string text) {
  std::erase(text, ',');
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  return value;
}

struct PerfFigures {
  std::optional<double> package_j;
  std::optional<double> dram_j;
  std::optional<double> elapsed_s;
};

/// perf stat's output: "   319,106.02 Joules power/energy-pkg/", "... power/energy-ram/",
/// "   5632.912895624 seconds time elapsed".
PerfFigures read_perf(const fs::path& path, std::vector<std::string>& problems) {
  PerfFigures f;
  const auto lines = read_lines(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::istringstream words(lines[i]);
    std::string value;
    std::string unit;
    std::string event;
    words >> value >> unit >> event;
    std::optional<double>* target = nullptr;
    if (event == "power/energy-pkg/") target = &f.package_j;
    else if (event == "power/energy-ram/") target = &f.dram_j;
    else if (unit == "seconds" && event == "time") target = &f.elapsed_s;
    if (target == nullptr) continue;
    if ((target != &f.elapsed_s && unit != "Joules") || !(*target = perf_number(value))) {
      problems.push_back(
          fmt::format("{}:{}: cannot read '{}' (perf could not count it?)", path.string(), i + 1, lines[i]));
    }
  }
  if (!f.package_j) problems.push_back(fmt::format("{}: no power/energy-pkg/ line", path.string()));
  if (!f.dram_j) problems.push_back(fmt::format("{}: no power/energy-ram/ line", path.string()));
  if (!f.elapsed_s) problems.push_back(fmt::format("{}: no 'seconds time elapsed' line", path.string()));
  return f;
}

struct GpuSamples {
  double sum_w = 0;
  std::size_t count = 0;
};

/// nvidia-smi --format=csv,noheader --query-gpu=power.draw: one "27.25 W" a line.
GpuSamples read_gpu_samples(const fs::path& path, std::vector<std::string>& problems) {
  GpuSamples g;
  const auto lines = read_lines(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::istringstream words(lines[i]);
    std::string value;
    std::string unit;
    std::string rest;
    if (!(words >> value)) continue;  // a blank line
    words >> unit >> rest;
    const auto watts = perf_number(value);
    if (!watts || unit != "W" || !rest.empty()) {
      problems.push_back(fmt::format("{}:{}: not a power sample ('27.25 W'): '{}'", path.string(), i + 1, lines[i]));
      continue;
    }
    g.sum_w += *watts;
    ++g.count;
  }
  if (g.count == 0 && problems.empty()) problems.push_back(fmt::format("{}: no power samples", path.string()));
  return g;
}

/// The measurement folders under `dir`: DIR/data/measurements_*, DIR/measurements_*, or DIR itself.
std::vector<fs::path> measurement_folders(const fs::path& dir) {
  for (const fs::path& base : {dir / "data", dir}) {
    std::vector<fs::path> found;
    for (const auto& phase : kPhases) {
      if (fs::is_directory(base / phase.study)) found.push_back(base / phase.study);
    }
    if (!found.empty()) return found;
  }
  const std::string name = dir.filename().string();
  for (const auto& phase : kPhases) {
    if (name == phase.study && fs::is_directory(dir)) return {dir};
  }
  return {};
}

struct RunKey {
  std::string phase;  ///< the study's folder name
  std::string model;
  std::string framework;
  int repetition = 0;
  auto tie() const { return std::tie(phase, model, framework, repetition); }
  bool operator<(const RunKey& o) const { return tie() < o.tie(); }
};

struct RunFiles {
  fs::path perf;
  fs::path gpu;
};

EnergyFigure figure(Domain domain, double joules, std::string source, FigureMethod method) {
  EnergyFigure e;
  e.domain = domain;
  e.energy_j = joules;
  e.source = std::move(source);
  e.method = method;
  return e;
}

}  // namespace

ImportResult import_icse2022(Store& store, const fs::path& dir, const ImportOptions& options) {
  const std::string where = dir.string();
  const auto folders = measurement_folders(dir);
  if (folders.empty()) {
    throw ImportError(where, {"no data/measurements_train or data/measurements_inference folder here: give the "
                              "folder of the study's artifact (stefanos1316/ICSE_2022_artifact)"});
  }

  static const std::regex kName(R"(^([a-z0-9_]+?)_(PyTorch|TensorFlow)_(perf|nvidia_smi)_([0-9]+)\.txt$)");
  std::map<RunKey, RunFiles> files;
  std::vector<std::string> problems;
  for (const auto& folder : folders) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      std::smatch m;
      if (!entry.is_regular_file() || !std::regex_match(name, m, kName)) {
        if (entry.path().extension() == ".txt") {
          problems.push_back(
              fmt::format("{}: not a run's file (<model>_<PyTorch|TensorFlow>_<perf|nvidia_smi>_<rep>.txt)",
                          entry.path().string()));
        }
        continue;
      }
      RunKey key{folder.filename().string(), m[1], m[2], std::stoi(m[4])};
      (m[3] == "perf" ? files[key].perf : files[key].gpu) = entry.path();
    }
  }

  std::vector<RunRecord> runs;
  std::string digest;  // what the plan hash covers: every file's name and content
  for (const auto& [key, pair] : files) {
    if (pair.perf.empty() || pair.gpu.empty()) {
      problems.push_back(fmt::format("{}: its {} file is missing", (pair.perf.empty() ? pair.gpu : pair.perf).string(),
                                     pair.perf.empty() ? "perf" : "nvidia_smi"));
      continue;
    }
    const PerfFigures perf = read_perf(pair.perf, problems);
    const GpuSamples gpu = read_gpu_samples(pair.gpu, problems);
    if (!perf.package_j || !perf.dram_j || !perf.elapsed_s || gpu.count == 0) continue;
    for (const auto& path : {pair.perf, pair.gpu}) {
      digest += path.filename().string() + "\n";
      for (const auto& line : read_lines(path)) digest += line + "\n";
    }

    RunRecord run;
    run.index = runs.size();
    const std::string model = ours(kModels, key.model);
    const std::string framework = ours(kFrameworks, key.framework);
    const std::string phase = ours(kPhases, key.phase);
    run.workload = fmt::format("{}-{}-{}", model, framework, phase);
    run.labels = {{"framework", framework}, {"model", model}, {"phase", phase}};
    run.repetition = key.repetition;
    run.time_s = *perf.elapsed_s;
    run.energy.push_back(figure(Domain::cpu, *perf.package_j, "perf-stat", FigureMethod::counter));
    run.energy.push_back(figure(Domain::dram, *perf.dram_j, "perf-stat", FigureMethod::counter));
    run.energy.push_back(figure(Domain::gpu, gpu.sum_w, "nvidia-smi", FigureMethod::sample_sum));
    run.energy.push_back(total_figure(run.energy, Seconds(run.time_s)));
    run.metadata = {{"study_framework", key.framework},
                    {"study_model", key.model},
                    {"study_phase", key.phase},
                    {"perf_file", fs::relative(pair.perf, dir).string()},
                    {"nvidia_smi_file", fs::relative(pair.gpu, dir).string()},
                    {"gpu_samples", std::to_string(gpu.count)}};
    runs.push_back(std::move(run));
  }
  if (!problems.empty()) throw ImportError(where, std::move(problems));
  if (runs.empty()) throw ImportError(where, {"no runs: no perf and nvidia_smi files in the measurement folders"});

  CampaignPlan plan;
  plan.name = !options.campaign_name.empty() ? options.campaign_name : "icse2022";
  plan.path = dir;
  plan.text = fmt::format("# the ICSE 2022 study's raw measurements, {} runs read from {}\n", runs.size(), where);
  plan.hash = plan_hash(digest);
  plan.seed = 0;
  for (const auto& c : store.campaigns()) {
    if (c.plan_hash == plan.hash) {
      throw ImportError(
          where, {fmt::format("these measurements are already in the store as campaign {} ('{}')", c.id, c.name)});
    }
  }
  const std::int64_t id = store.create_campaign(
      plan, Shard{}, runs.size(),
      {{"imported_from", fs::absolute(dir).string()},
       {"imported_as", "icse2022: Georgiou et al., ICSE 2022 (stefanos1316/ICSE_2022_artifact)"},
       {"gpu_energy", "the plain sum of nvidia-smi's 1 Hz power samples, as the study computed it"}});
  store.record_runs(id, runs);
  store.finish_campaign(id);
  return {id, runs.size(), plan.name};
}

}  // namespace joulebench

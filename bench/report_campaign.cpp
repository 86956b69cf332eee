// A synthetic campaign store for timing `joulebench report` at the size of a real frameworks
// campaign (bench/report_speed.sh): 3 models x 2 phases x 3 frameworks = 18 workloads, 1,000
// measured runs spread evenly over them in shuffled order, a warm-up per workload, two failed
// runs, one profiled run per workload, an idle baseline, and a 10 ms power timeline for every run
// (a 10 s run has 1,000 samples per channel). Written through the real Store API, so the store is
// exactly what `joulebench run` would leave.
//
//   build/bench/report_campaign OUT.db [--runs 1000] [--seed 1]
//
// The campaign is named "synthetic report benchmark" and its environment says the data is
// synthetic, so the store can never be mistaken for a measurement.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "joulebench/plan.hpp"
#include "joulebench/store.hpp"

namespace {

using namespace joulebench;
namespace fs = std::filesystem;

constexpr double kInterval = 0.01;  // the timeline's sampling interval, s
constexpr double kIdleCpuW = 12.4;  // the idle baseline's power per domain
constexpr double kIdleDramW = 2.9;
constexpr double kCooldown = 1.0;  // between runs, s
constexpr double kIdleDuration = 10.0;
constexpr double kCampaignStart = 1714567890.0;  // 2024-05-01, so the store's dates are fixed
constexpr std::size_t kBatch = 64;               // runs per transaction: fast, and memory stays small
constexpr int kFailedRuns = 2;

const std::vector<std::string> kModels = {"ncf", "transformer", "resnet"};
const std::vector<std::string> kPhases = {"train", "infer"};
const std::vector<std::string> kFrameworks = {"libtorch", "pytorch", "dlib"};

/// What makes one workload's runs differ from another's.
struct Character {
  double base_time_s = 0;  // a measured run's mean wall time
  double cpu_w = 0;        // CPU power in its main region
  double dram_w = 0;
  double accuracy = 0;
  double examples = 0;  // examples processed per run
};

Character character(const std::string& model, const std::string& phase, const std::string& framework) {
  // Training 3-4x longer than inference; frameworks in the study's order of cost.
  const std::map<std::string, double> model_time = {{"ncf", 7.0}, {"transformer", 11.0}, {"resnet", 14.5}};
  const std::map<std::string, double> framework_time = {{"libtorch", 1.0}, {"pytorch", 1.12}, {"dlib", 1.3}};
  const std::map<std::string, double> framework_power = {{"libtorch", 1.0}, {"pytorch", 0.96}, {"dlib", 0.9}};
  const std::map<std::string, double> model_accuracy = {{"ncf", 0.64}, {"transformer", 0.86}, {"resnet", 0.89}};
  const bool train = phase == "train";
  Character c;
  c.base_time_s = std::clamp(model_time.at(model) * framework_time.at(framework) * (train ? 1.0 : 0.28), 2.0, 20.0);
  c.cpu_w = (train ? 46.0 : 38.0) * framework_power.at(framework) + (model == "resnet" ? 4.0 : 0.0);
  c.dram_w = model == "transformer" ? 7.5 : 5.5;
  c.accuracy = model_accuracy.at(model) - (framework == "dlib" ? 0.012 : 0.0);
  c.examples = (train ? 60000.0 : 100000.0) * (model == "ncf" ? 4.0 : 1.0);
  return c;
}

/// The plan, as a file would hold it: one [[workload]] table each, since runs spread evenly over
/// 18 workloads give some one repetition more than others.
std::string plan_text(std::uint64_t seed, const std::vector<int>& repetitions) {
  std::string text = fmt::format(
      "# Synthetic: written by bench/report_campaign for timing `joulebench report`; nothing here was measured.\n"
      "[campaign]\nname = \"synthetic report benchmark\"\nseed = {}\nwarmup = 1\norder = \"shuffled\"\n"
      "cooldown = \"1s\"\nidle = \"10s\"\ninterval = \"10ms\"\n",
      seed);
  std::size_t w = 0;
  for (const auto& model : kModels) {
    for (const auto& phase : kPhases) {
      for (const auto& framework : kFrameworks) {
        text += fmt::format(
            "\n[[workload]]\nname = \"{0}-{2}-{1}\"\nframework = \"{2}\"\nmodel = \"{0}\"\nphase = \"{1}\"\n"
            "command = [\"joulebench\", \"workload\", \"{0}\", \"--framework\", \"{2}\", \"--phase\", \"{1}\", "
            "\"--threads\", \"2\"]\n"
            "repetitions = {3}\nprofile = [\"python\"]\n",
            model, phase, framework, repetitions[w++]);
      }
    }
  }
  return text;
}

KeyValues environment() {
  return {{"joulebench.version", "0.1.0"},
          {"host.name", "synthetic"},
          {"note", "synthetic data written by bench/report_campaign: nothing here was measured"},
          {"kernel.release", "6.1.0-21-amd64"},
          {"kernel.version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)"},
          {"machine", "x86_64"},
          {"os", "Debian GNU/Linux 12 (bookworm)"},
          {"cpu.model", "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"},
          {"cpu.sockets", "1"},
          {"cpu.cores", "20"},
          {"cpu.threads", "40"},
          {"cpu.governor", "performance"},
          {"cpu.driver", "intel_pstate"},
          {"cpu.turbo", "off"},
          {"memory.total_gb", "201.4"},
          {"energy.cpu", "rapl-powercap"},
          {"energy.dram", "rapl-powercap"},
          {"source.rapl-perf.status", "unavailable"},
          {"source.rapl-powercap.status", "ok"},
          {"source.rapl-powercap.zones", "package-0, dram"},
          {"source.nvml.status", "unavailable"}};
}

/// One region of a run: its share of the run's time and its power, relative to the main region.
struct Phase {
  std::string name;
  double start = 0;
  double end = 0;
  double cpu_scale = 1;
  double dram_scale = 1;
};

std::vector<Phase> phases_of(const std::string& phase, double time_s) {
  if (phase == "train") {
    return {{"load", 0, 0.08 * time_s, 0.45, 0.8},
            {"train", 0.08 * time_s, 0.88 * time_s, 1, 1},
            {"eval", 0.88 * time_s, time_s, 0.8, 0.9}};
  }
  return {{"load", 0, 0.15 * time_s, 0.45, 0.8}, {"infer", 0.15 * time_s, time_s, 1, 1}};
}

EnergyFigure energy(const std::string& domain, double joules, double seconds, double idle_w) {
  EnergyFigure e;
  e.domain = *DomainId::parse(domain);
  e.energy_j = joules;
  e.source = "rapl-powercap";
  e.method = FigureMethod::counter;
  e.dynamic_energy_j = joules - idle_w * seconds;
  return e;
}

/// Energies per domain and their total over [from, to), integrated from the timeline as a counter
/// read at those instants would give them.
std::vector<EnergyFigure> energies(const StoredTimeline& t, double from, double to) {
  double cpu = 0;
  double dram = 0;
  double previous = 0;
  for (std::size_t i = 0; i < t.time_s.size(); ++i) {
    const double lo = std::max(previous, from);
    const double hi = std::min(t.time_s[i], to);
    previous = t.time_s[i];
    if (hi <= lo) continue;
    cpu += static_cast<double>(t.power_w[2 * i]) * (hi - lo);
    dram += static_cast<double>(t.power_w[2 * i + 1]) * (hi - lo);
  }
  const double seconds = to - from;
  return {energy("cpu", cpu, seconds, kIdleCpuW), energy("dram", dram, seconds, kIdleDramW),
          energy("total", cpu + dram, seconds, kIdleCpuW + kIdleDramW)};
}

StoredTimeline timeline(const std::vector<Phase>& phases, const Character& c, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0.0, 1.0);
  StoredTimeline t;
  t.channels = {"cpu-0", "dram-0"};
  const double end = phases.back().end;
  const auto samples = static_cast<std::size_t>(std::ceil(end / kInterval - 1e-9));
  t.time_s.reserve(samples);
  t.power_w.reserve(2 * samples);
  std::size_t p = 0;
  for (std::size_t i = 1; i <= samples; ++i) {
    const double at = std::min(static_cast<double>(i) * kInterval, end);
    while (p + 1 < phases.size() && at > phases[p].end) ++p;
    // A slow wave (batches, garbage collection) plus sampling noise, never below idle.
    const double wave = 1.0 + 0.04 * std::sin(at * 2.3);
    const double cpu = c.cpu_w * phases[p].cpu_scale * wave * (1.0 + 0.03 * noise(rng));
    const double dram = c.dram_w * phases[p].dram_scale * (1.0 + 0.02 * noise(rng));
    t.time_s.push_back(at);
    t.power_w.push_back(static_cast<float>(std::max(cpu, kIdleCpuW)));
    t.power_w.push_back(static_cast<float>(std::max(dram, kIdleDramW)));
  }
  return t;
}

/// A Python sampler's profile: ~30 functions, self times falling off like a real profile's, the
/// energy of each attributed from the run's average power.
StoredProfile profile(const RunRecord& run, const std::string& model, const std::string& framework,
                      std::mt19937_64& rng) {
  const std::vector<std::string> common = {
      "torch.autograd.backward (torch/autograd/__init__.py:200)",
      "torch.optim.adam.Adam.step (torch/optim/adam.py:135)",
      "torch.nn.modules.module.Module._call_impl (torch/nn/modules/module.py:1520)",
      "torch.nn.functional.linear (torch/nn/functional.py:2001)",
      "torch.nn.functional.cross_entropy (torch/nn/functional.py:3029)",
      "torch.utils.data.dataloader._BaseDataLoaderIter.__next__ (torch/utils/data/dataloader.py:628)",
      "torch.utils.data._utils.collate.default_collate (torch/utils/data/_utils/collate.py:206)",
      "torch.Tensor.to (torch/_tensor.py:1000)",
      "torch.nn.functional.relu (torch/nn/functional.py:1469)",
      "torch.nn.modules.dropout.Dropout.forward (torch/nn/modules/dropout.py:58)",
      "torch.optim.optimizer.Optimizer.zero_grad (torch/optim/optimizer.py:780)",
      "numpy.core.fromnumeric.argsort (numpy/core/fromnumeric.py:1025)",
      "json.encoder.JSONEncoder.encode (json/encoder.py:182)",
      "joulebench_events.metric (joulebench_events.py:88)",
      "joulebench_events.region (joulebench_events.py:61)",
  };
  const std::map<std::string, std::vector<std::string>> own = {
      {"ncf",
       {"NeuMF.forward", "GMF.forward", "MLP.forward", "sample_negatives", "hit_rate_at_k", "ndcg_at_k",
        "load_interactions", "build_user_index", "Embedding.forward", "batches"}},
      {"transformer",
       {"Encoder.forward", "MultiHeadAttention.forward", "scaled_dot_product", "FeedForward.forward",
        "LayerNorm.forward", "PositionalEncoding.forward", "tokenize", "pad_batch", "load_corpus", "accuracy"}},
      {"resnet",
       {"ResNet.forward", "BasicBlock.forward", "Conv2d._conv_forward", "BatchNorm2d.forward", "max_pool2d",
        "adaptive_avg_pool2d", "load_fashion_mnist", "normalise_images", "augment", "top1_accuracy"}},
  };
  std::vector<std::string> names;
  const std::string script = framework == "pytorch" ? "joulebench_pytorch.py" : "joulebench_" + framework + ".py";
  int line = 40;
  for (const auto& f : own.at(model)) names.push_back(fmt::format("{} ({}:{})", f, script, line += 23));
  names.insert(names.end(), common.begin(), common.end());
  names.push_back(fmt::format("main ({}:{})", script, line + 31));
  names.push_back(fmt::format("<module> ({}:1)", script));
  names.push_back("importlib._bootstrap._find_and_load (<frozen importlib._bootstrap>:1165)");
  names.push_back("(outside profiled functions)");

  const double time = run.time_s;
  const double energy_j = run.energy.back().energy_j;
  const double idle_w = kIdleCpuW + kIdleDramW;
  const double power = energy_j / time;
  std::uniform_real_distribution<double> jitter(0.7, 1.3);
  std::vector<double> weights;
  double sum = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    weights.push_back(jitter(rng) / std::pow(static_cast<double>(i + 1), 1.1));
    sum += weights.back();
  }
  StoredProfile p;
  p.mode = "python";
  p.energy_rule = "timeline";
  p.interval_s = 0.005;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double self = time * weights[i] / sum;
    const bool entry = names[i].starts_with("main ") || names[i].starts_with("<module>");
    const double total = entry ? time * 0.97 : std::min(time, self * jitter(rng) * 1.8);
    // Power differs a little from function to function: the timeline attributes it by time.
    const double watts = power * jitter(rng) * 0.3 + power * 0.7;
    p.functions.push_back(
        {names[i], std::nullopt, self, total, self * watts, total * watts, self * idle_w, self * (watts - idle_w)});
  }
  std::sort(p.functions.begin(), p.functions.end(),
            [](const auto& a, const auto& b) { return a.energy_j.value_or(0) > b.energy_j.value_or(0); });
  return p;
}

struct Options {
  fs::path out;
  int runs = 1000;
  std::uint64_t seed = 1;
};

int usage(const char* program) {
  std::fprintf(stderr, "usage: %s OUT.db [--runs N (>= 18, default 1000)] [--seed S (default 1)]\n", program);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      options.runs = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (argv[i][0] != '-' && options.out.empty()) {
      options.out = argv[i];
    } else {
      return usage(argv[0]);
    }
  }
  const std::size_t workloads = kModels.size() * kPhases.size() * kFrameworks.size();
  if (options.out.empty() || options.runs < static_cast<int>(workloads)) return usage(argv[0]);
  if (fs::exists(options.out)) {
    std::fprintf(stderr, "%s exists: report_campaign writes a new store only\n", options.out.c_str());
    return 1;
  }

  try {
    const auto started = std::chrono::steady_clock::now();
    std::mt19937_64 rng(options.seed);

    // Runs spread evenly; two workloads, picked at random, get one more run, which fails.
    const auto n = static_cast<std::size_t>(options.runs);
    std::vector<int> repetitions(workloads, static_cast<int>(n / workloads));
    for (std::size_t w = 0; w < n % workloads; ++w) ++repetitions[w];
    std::vector<std::size_t> order(workloads);
    for (std::size_t w = 0; w < workloads; ++w) order[w] = w;
    std::shuffle(order.begin(), order.end(), rng);
    std::map<std::size_t, int> failing;  // workload -> the repetition that fails
    for (int f = 0; f < kFailedRuns; ++f) {
      const std::size_t w = order[static_cast<std::size_t>(f)];
      ++repetitions[w];
      failing[w] = std::uniform_int_distribution<int>(1, repetitions[w])(rng);
    }

    const std::string text = plan_text(options.seed, repetitions);
    const CampaignPlan plan = parse_plan(text, "synthetic-report-benchmark.toml");
    const std::vector<PlannedRun> schedule = schedule_runs(plan);

    // Each workload's mean time and power, with a little spread between workloads of one kind.
    std::vector<Character> characters;
    std::uniform_real_distribution<double> spread(0.96, 1.04);
    for (const auto& w : plan.workloads) {
      Character c = character(w.label("model"), w.label("phase"), w.label("framework"));
      c.base_time_s = std::clamp(c.base_time_s * spread(rng), 2.0, 20.0);
      c.cpu_w *= spread(rng);
      characters.push_back(c);
    }

    std::optional<Store> store(std::in_place, options.out);
    const std::int64_t campaign = store->create_campaign(plan, Shard{}, schedule.size(), environment());
    IdleRecord idle;
    idle.started_unix_s = kCampaignStart;
    idle.duration_s = kIdleDuration;
    idle.power_w = {{"cpu", kIdleCpuW}, {"dram", kIdleDramW}};
    idle.cpu_temperature_c = 41.0;
    const std::int64_t idle_id = store->record_idle(campaign, idle);

    std::normal_distribution<double> noise(0.0, 1.0);
    double clock = kCampaignStart + kIdleDuration;
    std::size_t samples = 0;
    std::vector<RunRecord> batch;
    for (const PlannedRun& planned : schedule) {
      const WorkloadSpec& w = plan.workloads[planned.workload];
      const Character& c = characters[planned.workload];
      const std::string model = w.label("model");
      const std::string phase = w.label("phase");
      const std::string framework = w.label("framework");
      const auto fail = failing.find(planned.workload);
      const bool failed =
          !planned.warmup && planned.profile.empty() && fail != failing.end() && fail->second == planned.repetition;

      RunRecord r;
      r.index = planned.index;
      r.workload = w.name;
      r.labels = w.labels;
      r.repetition = planned.repetition;
      r.warmup = planned.warmup;
      r.idle_baseline = idle_id;
      r.cooldown_s = kCooldown;
      r.started_unix_s = clock;
      // ~5 % noise; a warm-up is slower (cold caches, lazy initialisation), a profiled run carries
      // the sampler's cost, a failed run stops part way.
      double time = c.base_time_s * (1.0 + 0.05 * noise(rng));
      if (planned.warmup) time *= 1.35;
      if (!planned.profile.empty()) time *= 1.08;
      if (failed) time *= 0.4;
      r.time_s = std::clamp(time, 1.0, 25.0);
      std::vector<Phase> phases = phases_of(phase, r.time_s);
      if (failed) {
        r.status = RunStatus::failed;
        r.exit_code = 1;
        r.reason = "exited with code 1";
        phases.pop_back();  // it died in its main region
        phases.back().end = r.time_s;
      } else {
        r.status = RunStatus::ok;
        r.exit_code = 0;
      }
      r.user_cpu_s = r.time_s * 1.9 * (1.0 + 0.02 * noise(rng));
      r.system_cpu_s = r.time_s * 0.04;
      r.max_rss_kib = (model == "ncf"           ? 380000
                       : model == "transformer" ? 620000
                                                : 540000) +
                      (framework == "pytorch" ? 310000 : 0);
      r.timeline = timeline(phases, c, rng);
      samples += r.timeline.time_s.size();
      r.energy = energies(r.timeline, 0, r.time_s);
      for (const auto& p : phases) r.regions.push_back({p.name, p.start, p.end, energies(r.timeline, p.start, p.end)});
      if (!failed) {
        const double accuracy = std::clamp(c.accuracy + 0.006 * noise(rng), 0.0, 1.0);
        r.metrics = {
            {"accuracy", accuracy, "", "events"},
            {"examples_per_s", c.examples / (r.time_s * (phase == "train" ? 0.8 : 0.85)), "examples/s", "events"}};
      }
      r.metadata = {
          {"framework.version", framework == "dlib" ? "19.24.0" : "2.1.2"}, {"threads", "2"}, {"device", "cpu"}};
      const std::string stem = fmt::format("logs/c{}/{:05}-{}", campaign, r.index, w.name);
      r.stdout_log = {stem + ".stdout", static_cast<std::uint64_t>(900 + 40 * r.time_s), 0};
      r.stderr_log = {stem + ".stderr", failed ? 2400u : 0u, 0};
      if (!planned.profile.empty()) r.profile = profile(r, model, framework, rng);

      clock += r.time_s + kCooldown;
      batch.push_back(std::move(r));
      if (batch.size() == kBatch) {
        store->record_runs(campaign, batch);
        batch.clear();
      }
    }
    if (!batch.empty()) store->record_runs(campaign, batch);
    store->finish_campaign(campaign);
    store.reset();  // closed, so its size is the file's alone, as a report will read it

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::error_code ec;
    std::uintmax_t bytes = 0;
    for (const char* suffix : {"", "-wal"}) {
      const auto size = fs::file_size(fs::path(options.out.string() + suffix), ec);
      if (!ec) bytes += size;
    }
    std::printf(
        "%s: campaign \"synthetic report benchmark\", %zu runs (%d measured, %d failed, %zu warm-up, %zu profiled), "
        "%zu timeline samples per channel; %.1f MB written in %.2f s\n",
        options.out.c_str(), schedule.size(), options.runs, kFailedRuns, workloads, workloads, samples,
        static_cast<double>(bytes) / 1e6, seconds);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "report_campaign: %s\n", e.what());
    return 1;
  }
}

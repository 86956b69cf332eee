#include "common.hpp"

#include <dlfcn.h>

#include <dlib/revision.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <joulebench/events.hpp>

namespace jbdlib {
namespace {

long parse_count(const std::string& flag, const std::string& text) {
  long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1)
    throw UsageError(flag + " wants a positive integer, not '" + text + "'");
  return value;
}

}  // namespace

const char* usage_text() {
  return "usage: joulebench-dlib --model resnet|ncf --phase train|infer --data DIR\n"
         "                       [--checkpoint FILE] [--threads N] [--batch N] [--steps N]\n"
         "  --data DIR         a directory written by joulebench-data (meta.json, *.npy)\n"
         "  --checkpoint FILE  train: where to save (default DIR/dlib.ckpt); infer: what to load\n"
         "  --threads N        threads (default 1): OpenBLAS's, which run dlib's matrix products\n"
         "  --batch N          infer: the batch size (default: the training batch of meta.json)\n"
         "  --steps N          train: override meta.json's steps\n"
         "  --device cpu       accepted for compatibility; dlib here runs on the CPU only\n";
}

const char* phase_name(Phase phase) { return phase == Phase::train ? "train" : "infer"; }

Options parse_options(int argc, char** argv) {
  Options options;
  bool has_phase = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool has_value = false;
    if (const auto equals = flag.find('='); flag.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag.resize(equals);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") throw HelpRequested{};
    const bool known = flag == "--model" || flag == "--phase" || flag == "--data" || flag == "--checkpoint" ||
                       flag == "--threads" || flag == "--batch" || flag == "--steps" || flag == "--device";
    if (!known) throw UsageError("unknown argument '" + flag + "'");
    if (!has_value) {
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "--model") {
      options.model = value;
    } else if (flag == "--phase") {
      if (value == "train") {
        options.phase = Phase::train;
      } else if (value == "infer") {
        options.phase = Phase::infer;
      } else {
        throw UsageError("--phase is train or infer, not '" + value + "'");
      }
      has_phase = true;
    } else if (flag == "--data") {
      options.data = value;
    } else if (flag == "--checkpoint") {
      options.checkpoint = value;
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(std::min(parse_count(flag, value), 1024L));
    } else if (flag == "--batch") {
      options.batch = parse_count(flag, value);
    } else if (flag == "--steps") {
      options.steps = parse_count(flag, value);
    } else if (value != "cpu") {
      throw UsageError("--device " + value + ": this dlib build runs on the CPU only");
    }
  }
  if (options.model.empty()) throw UsageError("--model is required");
  if (!has_phase) throw UsageError("--phase is required");
  if (options.data.empty()) throw UsageError("--data is required");
  if (options.checkpoint.empty()) options.checkpoint = options.data / "dlib.ckpt";
  return options;
}

Meta::Meta(const std::filesystem::path& dir) : path_(dir / "meta.json") {
  if (!std::filesystem::is_directory(dir)) throw InputError(dir.string() + ": no such data directory");
  if (!std::filesystem::exists(dir / "manifest.json"))
    throw InputError(dir.string() + ": incomplete data directory (no manifest.json); run joulebench-data");
  std::ifstream in(path_);
  if (!in) throw InputError(path_.string() + ": cannot open");
  try {
    json_ = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path_.string() + ": " + e.what());
  }
  if (!json_.is_object()) throw InputError(path_.string() + ": not a JSON object");
  if (integer("format_version") != 1)
    throw InputError(path_.string() + ": format_version " + std::to_string(integer("format_version")) +
                     ", this workload reads version 1");
}

const nlohmann::json& Meta::at(const char* key) const {
  const auto found = json_.find(key);
  if (found == json_.end())
    throw InputError(path_.string() + ": missing key '" + key + "' (regenerate the directory with joulebench-data)");
  return *found;
}

long Meta::integer(const char* key) const {
  const auto& value = at(key);
  if (!value.is_number_integer()) throw InputError(path_.string() + ": '" + key + "' is not an integer");
  return value.get<long>();
}

double Meta::number(const char* key) const {
  const auto& value = at(key);
  if (!value.is_number()) throw InputError(path_.string() + ": '" + key + "' is not a number");
  return value.get<double>();
}

std::string Meta::text(const char* key) const {
  const auto& value = at(key);
  if (!value.is_string()) throw InputError(path_.string() + ": '" + key + "' is not a string");
  return value.get<std::string>();
}

std::vector<long> Meta::integers(const char* key) const {
  const auto& value = at(key);
  if (!value.is_array()) throw InputError(path_.string() + ": '" + key + "' is not an array");
  std::vector<long> out;
  for (const auto& item : value) {
    if (!item.is_number_integer()) throw InputError(path_.string() + ": '" + key + "' holds a non-integer");
    out.push_back(item.get<long>());
  }
  return out;
}

TrainPlan train_plan(const Meta& meta, const Options& options) {
  TrainPlan plan;
  plan.steps = options.steps > 0 ? options.steps : meta.integer("steps");
  plan.batch = meta.integer("batch");
  plan.epochs = meta.integer("epochs");
  plan.n_train = meta.integer("n_train");
  plan.lr = meta.number("lr");
  infer_passes(meta);  // a directory that infer would reject fails at train already
  if (plan.steps < 1 || plan.batch < 1 || plan.epochs < 1 || plan.n_train < plan.batch)
    throw InputError("meta.json: steps, batch and epochs must be positive and n_train at least batch");
  return plan;
}

long infer_passes(const Meta& meta) {
  const long passes = meta.integer("infer_passes");
  if (passes < 1) throw InputError("meta.json: infer_passes must be positive");
  return passes;
}

TrainingOrder::TrainingOrder(npy::Array<std::int64_t> order, const TrainPlan& plan)
    : order_(std::move(order)),
      batches_per_epoch_(plan.n_train / plan.batch),
      batch_(plan.batch),
      n_train_(plan.n_train) {
  require_shape(order_, {static_cast<std::size_t>(plan.epochs), static_cast<std::size_t>(plan.n_train)}, "order");
  for (const std::int64_t index : order_.values)
    if (index < 0 || index >= n_train_) throw InputError("order.npy: index " + std::to_string(index) + " out of range");
}

const std::int64_t* TrainingOrder::batch(long step) const {
  // --steps beyond the epochs of order.npy starts over at its first epoch.
  const long epoch = (step / batches_per_epoch_) % static_cast<long>(order_.dim(0));
  const long within = step % batches_per_epoch_;
  return order_.values.data() + epoch * n_train_ + within * batch_;
}

std::string set_threads(int threads) {
  const std::string count = std::to_string(threads);
  setenv("OMP_NUM_THREADS", count.c_str(), 1);
  setenv("OPENBLAS_NUM_THREADS", count.c_str(), 1);
  // OpenBLAS read OPENBLAS_NUM_THREADS when it was loaded, before main: set it through its API.
  using SetThreads = void (*)(int);
  using GetThreads = int (*)();
  using GetConfig = char* (*)();
  const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  const auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (set == nullptr || get == nullptr) return "unknown BLAS (not OpenBLAS: threads not set)";
  set(threads);
  std::string name = config != nullptr ? config() : "OpenBLAS";
  return name + " (threads: " + std::to_string(get()) + ")";
}

std::string framework_name() {
  return "dlib " + std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION) + "." +
         std::to_string(DLIB_PATCH_VERSION);
}

std::string with_commas(long value) {
  const std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out = value < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void print_summary_header(const Options& options, const Meta& meta, long parameters) {
  std::printf("%s  %s %s  size %s seed %ld  cpu, %d thread%s  %s parameters\n", framework_name().c_str(),
              options.model.c_str(), phase_name(options.phase), meta.text("size").c_str(), meta.integer("seed"),
              options.threads, options.threads > 1 ? "s" : "", with_commas(parameters).c_str());
}

void report_training(const TrainPlan& plan, double train_seconds, double loss) {
  namespace jb = joulebench::events;
  const double examples_per_s = static_cast<double>(plan.steps * plan.batch) / train_seconds;
  jb::metric("loss", loss);
  jb::metric("train_examples_per_s", examples_per_s, "examples/s");
  std::printf("  train  %7.3f s  %ld steps of %ld  %s examples/s  loss %.4f\n", train_seconds, plan.steps, plan.batch,
              with_commas(std::lround(examples_per_s)).c_str(), loss);
}

void report_inference(std::vector<double> latencies_ms, long examples_per_pass, long passes, long batch, double seconds,
                      const std::string& metrics_text) {
  namespace jb = joulebench::events;
  const double throughput = static_cast<double>(examples_per_pass * passes) / seconds;
  const double p50 = percentile(latencies_ms, 50);
  const double p90 = percentile(latencies_ms, 90);
  const double p99 = percentile(latencies_ms, 99);
  jb::metric("throughput_examples_per_s", throughput, "examples/s");
  jb::metric("latency_p50_ms", p50, "ms");
  jb::metric("latency_p90_ms", p90, "ms");
  jb::metric("latency_p99_ms", p99, "ms");
  std::printf("  infer  %7.3f s  %ld x %ld examples in %zu batches of %ld  %s examples/s\n", seconds, passes,
              examples_per_pass, latencies_ms.size(), batch, with_commas(std::lround(throughput)).c_str());
  std::printf("         latency per batch p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  %s\n", p50, p90, p99,
              metrics_text.c_str());
}

void report_common_metadata(const Options& options, const Meta& meta, long parameters, long batch, long steps,
                            const std::string& blas) {
  namespace jb = joulebench::events;
  jb::meta("framework", framework_name());
  jb::meta("model", options.model);
  jb::meta("phase", phase_name(options.phase));
  jb::meta("threads", options.threads);
  jb::meta("device", "cpu");
  jb::meta("parameters", parameters);
  jb::meta("batch", batch);
  jb::meta("steps", steps);
  jb::meta("seed", meta.integer("seed"));
  jb::meta("size", meta.text("size"));
  jb::meta("blas", blas);
}

}  // namespace jbdlib

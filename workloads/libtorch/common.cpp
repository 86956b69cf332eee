// common.cpp: what common.hpp declares: the command line, thread control, meta.json and the data
// files, the contract's initialisation, and the phases of workloads/README.md for any Workload:
// load (data, model, checkpoint), train (over order.npy, then one eval pass; saves the checkpoint)
// and infer (infer_passes passes, per-batch latencies), with their regions, metrics, metadata and
// standalone summary.
#include "common.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/percentile.hpp"
#include "joulebench/events.hpp"

namespace joulebench::libtorch {

namespace nn = torch::nn;
namespace jb = joulebench::events;
using joulebench::workloads::percentile;

namespace {

std::int64_t positive_integer(std::string_view flag, std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1) {
    throw InputError(fmt::format("{} needs a positive integer, not '{}'", flag, text));
  }
  return value;
}

torch::ScalarType scalar_type(npy::Dtype dtype) {
  switch (dtype) {
    case npy::Dtype::int64: return torch::kInt64;
    case npy::Dtype::float32: return torch::kFloat32;
    case npy::Dtype::uint8: return torch::kUInt8;
  }
  return torch::kFloat32;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Arguments and threads

Arguments parse_arguments(int argc, char** argv) {
  Arguments arguments;
  std::optional<std::string> device;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      arguments.help = true;
      return arguments;
    }
    std::string value;
    if (const auto equals = flag.find('='); flag.starts_with("--") && equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag.resize(equals);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw InputError(fmt::format("{} needs a value", flag));
    }

    if (flag == "--model") {
      arguments.model = value;
    } else if (flag == "--phase") {
      arguments.phase = value;
    } else if (flag == "--data") {
      arguments.data = value;
    } else if (flag == "--checkpoint") {
      arguments.checkpoint = value;
    } else if (flag == "--threads") {
      const std::int64_t threads = positive_integer(flag, value);
      if (threads > 1024) throw InputError(fmt::format("--threads {} is more than 1024", threads));
      arguments.threads = static_cast<int>(threads);
    } else if (flag == "--batch") {
      arguments.batch = positive_integer(flag, value);
    } else if (flag == "--steps") {
      arguments.steps = positive_integer(flag, value);
    } else if (flag == "--device") {
      device = value;
    } else {
      throw InputError(fmt::format("unknown option '{}'", flag));
    }
  }

  if (arguments.model != "ncf" && arguments.model != "transformer" && arguments.model != "resnet") {
    throw InputError(arguments.model.empty() ? "--model is required"
                                             : fmt::format("unknown model '{}'", arguments.model));
  }
  if (arguments.phase != "train" && arguments.phase != "infer") {
    throw InputError(arguments.phase.empty() ? "--phase is required"
                                             : fmt::format("unknown phase '{}'", arguments.phase));
  }
  if (arguments.data.empty()) throw InputError("--data is required");
  if (device && *device != "cpu") {
    throw InputError(fmt::format("--device {}: this LibTorch build runs on the CPU only", *device));
  }
  if (arguments.checkpoint.empty()) arguments.checkpoint = arguments.data / fmt::format("{}.ckpt", kFramework);
  return arguments;
}

void configure_threads(int threads) {
  using SetThreads = void (*)(int);
  if (void* symbol = dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) reinterpret_cast<SetThreads>(symbol)(threads);
  torch::set_num_threads(threads);
  at::set_num_interop_threads(1);
}

// ---------------------------------------------------------------------------------------------
// Data

Meta::Meta(const fs::path& directory) : path_((directory / "meta.json").string()) {
  std::ifstream file(path_);
  if (!file) {
    throw InputError(fmt::format("{}: cannot open (is --data a directory written by joulebench-data?)", path_));
  }
  try {
    json_ = nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& error) {
    throw InputError(fmt::format("{}: {}", path_, error.what()));
  }
  if (!json_.is_object()) throw InputError(fmt::format("{}: not a JSON object", path_));
  if (integer("format_version") != 1) {
    throw InputError(fmt::format("{}: format_version {} (this program reads 1)", path_, integer("format_version")));
  }
}

std::int64_t Meta::integer(const std::string& key) const {
  const auto& value = at(key);
  if (!value.is_number_integer()) wrong_type(key, "an integer");
  return value.get<std::int64_t>();
}

std::int64_t Meta::positive(const std::string& key) const {
  const std::int64_t value = integer(key);
  if (value < 1) throw InputError(fmt::format("{}: '{}' is {}, not positive", path_, key, value));
  return value;
}

double Meta::number(const std::string& key) const {
  const auto& value = at(key);
  if (!value.is_number()) wrong_type(key, "a number");
  return value.get<double>();
}

std::string Meta::text(const std::string& key) const {
  const auto& value = at(key);
  if (!value.is_string()) wrong_type(key, "a string");
  return value.get<std::string>();
}

std::vector<std::int64_t> Meta::integers(const std::string& key) const {
  const auto& value = at(key);
  std::vector<std::int64_t> values;
  if (!value.is_array() || value.empty()) wrong_type(key, "a list of integers");
  for (const auto& entry : value) {
    if (!entry.is_number_integer() || entry.get<std::int64_t>() < 1) wrong_type(key, "a list of positive integers");
    values.push_back(entry.get<std::int64_t>());
  }
  return values;
}

std::string Meta::as_text(const std::string& key) const {
  const auto& value = at(key);
  return value.is_string() ? value.get<std::string>() : value.dump();
}

const nlohmann::json& Meta::at(const std::string& key) const {
  const auto found = json_.find(key);
  if (found == json_.end()) throw InputError(fmt::format("{}: no '{}'", path_, key));
  return *found;
}

void Meta::wrong_type(const std::string& key, std::string_view expected) const {
  throw InputError(fmt::format("{}: '{}' is not {}", path_, key, expected));
}

torch::Tensor load_array(const fs::path& directory, const std::string& file, npy::Dtype dtype,
                         const std::vector<std::int64_t>& shape) {
  torch::Tensor tensor;
  try {
    npy::read(directory / file, dtype, shape.size(), [&](const npy::Header& header) {
      tensor = torch::empty(header.shape, torch::TensorOptions().dtype(scalar_type(dtype)));
      return npy::Destination{tensor.data_ptr(), tensor.nbytes()};
    });
  } catch (const npy::Error& error) {
    throw InputError(error.what());
  }
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] >= 0 && tensor.size(static_cast<std::int64_t>(d)) != shape[d]) {
      throw InputError(fmt::format("{}: shape {}, expected {} (from meta.json)", (directory / file).string(),
                                   fmt::join(tensor.sizes(), "x"), fmt::join(shape, "x")));
    }
  }
  return tensor;
}

void check_range(const torch::Tensor& values, std::int64_t end, const fs::path& file) {
  if (values.numel() == 0) return;
  const std::int64_t low = values.min().item<std::int64_t>();
  const std::int64_t high = values.max().item<std::int64_t>();
  if (low < 0 || high >= end) {
    throw InputError(
        fmt::format("{}: values from {} to {}, expected 0 to {} (from meta.json)", file.string(), low, high, end - 1));
  }
}

// ---------------------------------------------------------------------------------------------
// Models

double accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
}

void initialise(torch::nn::Module& module, double embedding_std) {
  torch::NoGradGuard no_grad;
  const auto he_normal = [](torch::Tensor& weight) {
    nn::init::kaiming_normal_(weight, 0.0, torch::kFanIn, torch::kReLU);
  };
  const auto zero = [](torch::Tensor& bias) {
    if (bias.defined()) nn::init::zeros_(bias);
  };
  for (const auto& child : module.modules(/*include_self=*/true)) {
    if (auto* linear = child->as<nn::Linear>()) {
      he_normal(linear->weight);
      zero(linear->bias);
    } else if (auto* conv = child->as<nn::Conv2d>()) {
      he_normal(conv->weight);
      zero(conv->bias);
    } else if (auto* attention = child->as<nn::MultiheadAttention>()) {
      // The packed query/key/value projection [3d, d]: fan-in d, as three d->d linear layers.
      // Its output projection is an nn::Linear, handled above when the loop reaches it.
      he_normal(attention->in_proj_weight);
      zero(attention->in_proj_bias);
    } else if (auto* embedding = child->as<nn::Embedding>()) {
      nn::init::normal_(embedding->weight, 0.0, embedding_std);
    } else if (auto* batch_norm = child->as<nn::BatchNorm2d>()) {
      nn::init::ones_(batch_norm->weight);
      nn::init::zeros_(batch_norm->bias);
    } else if (auto* layer_norm = child->as<nn::LayerNorm>()) {
      nn::init::ones_(layer_norm->weight);
      nn::init::zeros_(layer_norm->bias);
    }
  }
}

std::int64_t trainable_parameters(const torch::nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) count += parameter.numel();
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Phases

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Meta& meta, std::vector<torch::Tensor> parameters) {
  const std::string name = meta.text("optimizer");
  const double lr = meta.number("lr");
  const double weight_decay = meta.number("weight_decay");
  if (!(lr > 0) || weight_decay < 0) throw InputError(fmt::format("{}: bad lr or weight_decay", meta.path()));
  if (name == "adam") {
    return std::make_unique<torch::optim::Adam>(
        std::move(parameters), torch::optim::AdamOptions(lr).betas({0.9, 0.999}).eps(1e-8).weight_decay(weight_decay));
  }
  if (name == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        std::move(parameters),
        torch::optim::SGDOptions(lr).momentum(meta.number("momentum")).weight_decay(weight_decay));
  }
  throw InputError(fmt::format("{}: unknown optimizer '{}'", meta.path(), name));
}

/// `passes` passes over the test set in batches of `batch`: the last pass's outputs and every
/// batch's latency.
struct TestPasses {
  torch::Tensor outputs;
  std::vector<double> latencies_ms;
  double seconds = 0;
};

TestPasses run_test_set(Workload& workload, std::int64_t batch, std::int64_t passes) {
  torch::NoGradGuard no_grad;
  workload.module()->eval();
  TestPasses result;
  const std::int64_t examples = workload.test_examples();
  const auto start = Clock::now();
  for (std::int64_t pass = 0; pass < passes; ++pass) {
    std::vector<torch::Tensor> chunks;
    for (std::int64_t offset = 0; offset < examples; offset += batch) {
      const auto batch_start = Clock::now();
      chunks.push_back(workload.predict(offset, std::min(batch, examples - offset)));
      result.latencies_ms.push_back(seconds_since(batch_start) * 1e3);
    }
    result.outputs = torch::cat(chunks);
  }
  result.seconds = seconds_since(start);
  return result;
}

std::string metrics_text(const std::vector<Metric>& metrics) {
  std::string text;
  for (const auto& metric : metrics)
    text += fmt::format("{}{} {:.4f}", text.empty() ? "" : ", ", metric.name, metric.value);
  return text;
}

void report(const std::vector<Metric>& metrics) {
  for (const auto& metric : metrics) jb::metric(metric.name, metric.value);
}

constexpr const char* kStepsKey = "joulebench_steps";

/// The module's parameters and buffers, and the steps it was trained for (infer reports them).
void save_checkpoint(torch::nn::Module& module, std::int64_t steps, const fs::path& path) {
  // Written beside and renamed, so that a failed save never leaves half a checkpoint.
  const fs::path partial = fs::path(path).concat(".partial");
  try {
    torch::serialize::OutputArchive archive;
    module.save(archive);
    archive.write(kStepsKey, c10::IValue(steps));
    archive.save_to(partial.string());
  } catch (const c10::Error& error) {
    throw InputError(fmt::format("{}: cannot save the checkpoint: {}", path.string(), error.what_without_backtrace()));
  }
  std::error_code failure;
  fs::rename(partial, path, failure);
  if (failure) throw InputError(fmt::format("{}: cannot save the checkpoint: {}", path.string(), failure.message()));
}

/// Loads the module's parameters and buffers; returns the steps it was trained for, if recorded.
std::optional<std::int64_t> load_checkpoint(torch::nn::Module& module, const fs::path& path) {
  if (!fs::is_regular_file(path)) {
    throw InputError(fmt::format("{}: no checkpoint (run --phase train first, or pass --checkpoint)", path.string()));
  }
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    module.load(archive);
    c10::IValue steps;
    if (archive.try_read(kStepsKey, steps) && steps.isInt()) return steps.toInt();
    return std::nullopt;
  } catch (const c10::Error& error) {
    throw InputError(
        fmt::format("{}: not a checkpoint of this model: {}", path.string(), error.what_without_backtrace()));
  }
}

/// What the load region prepares: meta.json, the data and the model (initialised for train,
/// restored from the checkpoint for infer), and the training order.
struct Loaded {
  std::optional<Meta> meta;
  std::unique_ptr<Workload> workload;
  torch::Tensor order;                        // train only
  std::optional<std::int64_t> trained_steps;  // infer only, when the checkpoint records them
};

Loaded load(const Arguments& arguments, const MakeWorkload& make, bool training) {
  if (!fs::is_directory(arguments.data)) {
    throw InputError(fmt::format("--data {}: no such directory", arguments.data.string()));
  }
  // joulebench-data writes manifest.json last: without it the directory is incomplete.
  if (!fs::is_regular_file(arguments.data / "manifest.json")) {
    throw InputError(
        fmt::format("{}: not a complete joulebench-data directory (no manifest.json)", arguments.data.string()));
  }
  Loaded loaded;
  const Meta& meta = loaded.meta.emplace(arguments.data);
  if (meta.text("model") != arguments.model) {
    throw InputError(fmt::format("{}: holds model '{}', not '{}'", meta.path(), meta.text("model"), arguments.model));
  }
  torch::manual_seed(static_cast<std::uint64_t>(meta.integer("seed")));
  try {
    loaded.workload = make(meta, arguments.data, training);
  } catch (const c10::Error& error) {
    throw InputError(fmt::format("{}: {}", meta.path(), error.what_without_backtrace()));
  }
  if (training) {
    const std::int64_t examples = loaded.workload->training_examples();
    loaded.order = load_array(arguments.data, "order.npy", npy::Dtype::int64, {meta.positive("epochs"), examples});
    check_range(loaded.order, examples, arguments.data / "order.npy");
    loaded.workload->initialise();
  } else {
    loaded.trained_steps = load_checkpoint(*loaded.workload->module(), arguments.checkpoint);
  }
  return loaded;
}

void train(const Arguments& arguments, const Loaded& loaded, std::int64_t steps, std::int64_t batch) {
  const Meta& meta = *loaded.meta;
  Workload& workload = *loaded.workload;
  const std::int64_t batches_per_epoch = workload.training_examples() / batch;
  if (batches_per_epoch == 0) {
    throw InputError(fmt::format("{}: batch {} is larger than the {} training examples", meta.path(), batch,
                                 workload.training_examples()));
  }
  const std::int64_t epochs = loaded.order.size(0);
  const auto module = workload.module();
  const auto optimizer = make_optimizer(meta, module->parameters());
  std::vector<double> last_losses;

  jb::begin("train");
  const auto train_start = Clock::now();
  module->train();
  for (std::int64_t step = 0; step < steps; ++step) {
    // --steps beyond the rows of order.npy reuses them from the first.
    const std::int64_t epoch = (step / batches_per_epoch) % epochs;
    const torch::Tensor indices = loaded.order[epoch].narrow(0, (step % batches_per_epoch) * batch, batch);
    // Gradients dropped rather than zeroed, as PyTorch's zero_grad(set_to_none=True).
    module->zero_grad(/*set_to_none=*/true);
    const torch::Tensor loss = workload.training_loss(indices);
    loss.backward();
    optimizer->step();
    if (step >= steps - 10) last_losses.push_back(loss.item<double>());
  }
  const double train_seconds = seconds_since(train_start);
  jb::end("train");

  jb::begin("eval");
  const auto eval_start = Clock::now();
  const TestPasses pass = run_test_set(workload, batch, 1);
  const std::vector<Metric> metrics = workload.score(pass.outputs);
  const double eval_seconds = seconds_since(eval_start);
  jb::end("eval");

  double loss = 0;
  for (const double value : last_losses) loss += value;
  loss /= static_cast<double>(last_losses.size());
  const double examples_per_second = static_cast<double>(steps * batch) / train_seconds;
  jb::metric("loss", loss);
  report(metrics);
  jb::metric("train_examples_per_s", examples_per_second, "examples/s");
  save_checkpoint(*module, steps, arguments.checkpoint);

  fmt::print("  train  {:8.3f} s  {} steps, {:.0f} examples/s, loss {:.4f}\n", train_seconds, steps,
             examples_per_second, loss);
  fmt::print("  eval   {:8.3f} s  {}\n", eval_seconds, metrics_text(metrics));
  fmt::print("  checkpoint {}\n", arguments.checkpoint.string());
}

void infer(const Loaded& loaded, std::int64_t batch) {
  Workload& workload = *loaded.workload;
  const std::int64_t passes = loaded.meta->positive("infer_passes");
  jb::begin("infer");
  const TestPasses pass = run_test_set(workload, batch, passes);
  jb::end("infer");

  const std::vector<Metric> metrics = workload.score(pass.outputs);
  const double throughput = static_cast<double>(passes * workload.test_examples()) / pass.seconds;
  const double p50 = percentile(pass.latencies_ms, 50);
  const double p90 = percentile(pass.latencies_ms, 90);
  const double p99 = percentile(pass.latencies_ms, 99);
  report(metrics);
  jb::metric("throughput_examples_per_s", throughput, "examples/s");
  jb::metric("latency_p50_ms", p50, "ms");
  jb::metric("latency_p90_ms", p90, "ms");
  jb::metric("latency_p99_ms", p99, "ms");

  fmt::print("  infer  {:8.3f} s  {} x {} examples in {} batches, {:.0f} examples/s\n", pass.seconds, passes,
             workload.test_examples(), pass.latencies_ms.size(), throughput);
  fmt::print("  latency per batch: p50 {:.3f} ms, p90 {:.3f} ms, p99 {:.3f} ms\n", p50, p90, p99);
  fmt::print("  {}\n", metrics_text(metrics));
}

}  // namespace

int run(const Arguments& arguments, const MakeWorkload& make) {
  configure_threads(arguments.threads);
  const bool training = arguments.phase == "train";
  const std::string framework = fmt::format("{} {}", kFramework, TORCH_VERSION);
  jb::meta("framework", framework);
  jb::meta("model", arguments.model);
  jb::meta("phase", arguments.phase);
  jb::meta("threads", arguments.threads);
  jb::meta("device", "cpu");

  jb::begin("load");
  const auto load_start = Clock::now();
  const Loaded loaded = load(arguments, make, training);
  const double load_seconds = seconds_since(load_start);
  jb::end("load");

  const Meta& meta = *loaded.meta;
  const std::int64_t train_batch = meta.positive("batch");
  const std::int64_t batch = training ? train_batch : arguments.batch.value_or(train_batch);
  // infer reports the steps its checkpoint was trained for.
  const std::int64_t steps = training ? arguments.steps.value_or(meta.positive("steps"))
                                      : loaded.trained_steps.value_or(meta.positive("steps"));
  const std::int64_t parameters = trainable_parameters(*loaded.workload->module());
  jb::meta("parameters", parameters);
  jb::meta("batch", batch);
  jb::meta("steps", steps);
  jb::meta("seed", meta.as_text("seed"));
  jb::meta("size", meta.as_text("size"));

  fmt::print("{}  {} {}  size {} seed {}  {} thread(s)  {} parameters  batch {}\n", framework, arguments.model,
             arguments.phase, meta.as_text("size"), meta.as_text("seed"), arguments.threads, parameters, batch);
  fmt::print("  load   {:8.3f} s\n", load_seconds);
  if (training) {
    train(arguments, loaded, steps, batch);
  } else {
    infer(loaded, batch);
  }
  return 0;
}

}  // namespace joulebench::libtorch

// joulebench-libtorch: NCF, the Transformer classifier and the small ResNet of the workload
// contract (workloads/README.md) in LibTorch, phases train and infer, reporting regions, metrics
// and metadata through joulebench's events.
#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "joulebench/events.hpp"
#include "joulebench/torch_profile.hpp"
#include "models.hpp"
#include "npy.hpp"

namespace {

namespace fs = std::filesystem;
namespace jb = joulebench::events;
namespace npy = joulebench::npy;
namespace lt = joulebench::libtorch;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProgram = "joulebench-libtorch";
constexpr std::string_view kFramework = "libtorch";
constexpr std::string_view kUsage =
    "usage: joulebench-libtorch --model ncf|transformer|resnet --phase train|infer --data DIR\n"
    "                           [--checkpoint FILE] [--threads N] [--batch N] [--steps N] [--device cpu]\n"
    "  --data DIR          a directory written by joulebench-data (meta.json and .npy files)\n"
    "  --checkpoint FILE   train: where to save, infer: what to load (default DIR/libtorch.ckpt)\n"
    "  --threads N         intra-op threads, OpenMP and OpenBLAS included (default 1)\n"
    "  --batch N           infer: batch size (default: the training batch of meta.json)\n"
    "  --steps N           train: steps instead of meta.json's\n"
    "  --device cpu        the only device of this build\n";

/// Bad arguments, or data or a checkpoint that is missing or not what the contract says: exit 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// ---------------------------------------------------------------------------------------------
// Arguments

struct Arguments {
  std::string model;
  std::string phase;
  fs::path data;
  fs::path checkpoint;  // empty: DIR/libtorch.ckpt
  int threads = 1;
  std::optional<std::int64_t> batch;
  std::optional<std::int64_t> steps;
  bool help = false;
};

std::int64_t positive_integer(std::string_view flag, std::string_view text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1) {
    throw InputError(fmt::format("{} needs a positive integer, not '{}'", flag, text));
  }
  return value;
}

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

/// Every thread pool sized to `threads` before any computation: ATen's OpenMP pool (which oneDNN
/// shares) and its inter-op pool (one thread: the workloads run one operator at a time). OpenBLAS
/// (Debian's pthread build) sized its own pool from the CPU count when it was loaded, before main,
/// so setting OPENBLAS_NUM_THREADS here would be too late: it is told directly, where present.
void configure_threads(int threads) {
  using SetThreads = void (*)(int);
  if (void* symbol = dlsym(RTLD_DEFAULT, "openblas_set_num_threads")) reinterpret_cast<SetThreads>(symbol)(threads);
  torch::set_num_threads(threads);
  at::set_num_interop_threads(1);
}

// ---------------------------------------------------------------------------------------------
// Data

/// meta.json, with typed access that names the key when it is missing or of the wrong type.
class Meta {
 public:
  explicit Meta(const fs::path& directory) : path_((directory / "meta.json").string()) {
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

  std::int64_t integer(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_number_integer()) wrong_type(key, "an integer");
    return value.get<std::int64_t>();
  }
  std::int64_t positive(const std::string& key) const {
    const std::int64_t value = integer(key);
    if (value < 1) throw InputError(fmt::format("{}: '{}' is {}, not positive", path_, key, value));
    return value;
  }
  double number(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_number()) wrong_type(key, "a number");
    return value.get<double>();
  }
  std::string text(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_string()) wrong_type(key, "a string");
    return value.get<std::string>();
  }
  std::vector<std::int64_t> integers(const std::string& key) const {
    const auto& value = at(key);
    std::vector<std::int64_t> values;
    if (!value.is_array() || value.empty()) wrong_type(key, "a list of integers");
    for (const auto& entry : value) {
      if (!entry.is_number_integer() || entry.get<std::int64_t>() < 1) wrong_type(key, "a list of positive integers");
      values.push_back(entry.get<std::int64_t>());
    }
    return values;
  }
  /// seed and size as written, for metadata.
  std::string as_text(const std::string& key) const {
    const auto& value = at(key);
    return value.is_string() ? value.get<std::string>() : value.dump();
  }
  const std::string& path() const { return path_; }

 private:
  const nlohmann::json& at(const std::string& key) const {
    const auto found = json_.find(key);
    if (found == json_.end()) throw InputError(fmt::format("{}: no '{}'", path_, key));
    return *found;
  }
  [[noreturn]] void wrong_type(const std::string& key, std::string_view expected) const {
    throw InputError(fmt::format("{}: '{}' is not {}", path_, key, expected));
  }

  std::string path_;
  nlohmann::json json_;
};

torch::ScalarType scalar_type(npy::Dtype dtype) {
  switch (dtype) {
    case npy::Dtype::int64:
      return torch::kInt64;
    case npy::Dtype::float32:
      return torch::kFloat32;
    case npy::Dtype::uint8:
      return torch::kUInt8;
  }
  return torch::kFloat32;
}

/// An .npy file of the data directory, read straight into a tensor, with its shape checked
/// against `shape` (-1: any size).
torch::Tensor load_array(const fs::path& directory, const std::string& file, npy::Dtype dtype,
                         const std::vector<std::int64_t>& shape) {
  torch::Tensor tensor;
  try {
    npy::read(directory / file, dtype, shape.size(), [&](const npy::Header& header) {
      tensor = torch::empty(header.shape, torch::TensorOptions().dtype(scalar_type(dtype)));
      return std::span<std::byte>(static_cast<std::byte*>(tensor.data_ptr()), tensor.nbytes());
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

/// Indices and labels must lie in [0, end): an embedding or a loss would otherwise fail deep inside.
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
// Workloads: each model's data, loss and metrics behind one interface.

struct Metric {
  std::string name;
  double value;
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::shared_ptr<torch::nn::Module> module() = 0;
  /// The contract's initialisation of the model.
  virtual void initialise() = 0;
  virtual std::int64_t training_examples() const = 0;
  /// The mean loss over the training examples at `indices`, with the graph for backward.
  virtual torch::Tensor training_loss(const torch::Tensor& indices) = 0;
  /// How many test examples one pass over the test set predicts.
  virtual std::int64_t test_examples() const = 0;
  /// The model's outputs for test examples [start, start + count).
  virtual torch::Tensor predict(std::int64_t start, std::int64_t count) = 0;
  /// The model's metrics from the outputs of all test examples, in order.
  virtual std::vector<Metric> score(const torch::Tensor& outputs) const = 0;
};

/// Test "examples" are (user, item) pairs, the unit of the training batch: the test set is
/// test_users x 100 candidates, flattened row by row.
class NcfWorkload final : public Workload {
 public:
  NcfWorkload(const Meta& meta, const fs::path& directory, bool training)
      : model_(lt::NcfOptions{meta.positive("users"), meta.positive("items"), meta.positive("gmf_dim"),
                              meta.positive("mlp_dim"), meta.integers("mlp_layers")}),
        top_k_(meta.positive("top_k")) {
    const std::int64_t users = meta.positive("users");
    const std::int64_t items = meta.positive("items");
    if (training) {
      const std::int64_t n = meta.positive("n_train");
      train_users_ = load_array(directory, "train_users.npy", npy::Dtype::int64, {n});
      train_items_ = load_array(directory, "train_items.npy", npy::Dtype::int64, {n});
      train_labels_ = load_array(directory, "train_labels.npy", npy::Dtype::float32, {n});
      check_range(train_users_, users, directory / "train_users.npy");
      check_range(train_items_, items, directory / "train_items.npy");
    }
    const std::int64_t n_test = meta.positive("n_test");
    const std::int64_t candidates = meta.positive("eval_negatives") + 1;
    const torch::Tensor test_users = load_array(directory, "test_users.npy", npy::Dtype::int64, {n_test});
    const torch::Tensor test_items = load_array(directory, "test_items.npy", npy::Dtype::int64, {n_test, candidates});
    check_range(test_users, users, directory / "test_users.npy");
    check_range(test_items, items, directory / "test_items.npy");
    test_users_ = test_users.unsqueeze(1).expand({n_test, candidates}).reshape({-1});
    test_items_ = test_items.reshape({-1});
    candidates_ = candidates;
  }

  std::shared_ptr<torch::nn::Module> module() override { return model_.ptr(); }
  void initialise() override { lt::initialise(*model_, lt::kNcfEmbeddingStd); }
  std::int64_t training_examples() const override { return train_users_.size(0); }

  torch::Tensor training_loss(const torch::Tensor& indices) override {
    const torch::Tensor logits = model_(train_users_.index_select(0, indices), train_items_.index_select(0, indices));
    return torch::nn::functional::binary_cross_entropy_with_logits(logits, train_labels_.index_select(0, indices));
  }

  std::int64_t test_examples() const override { return test_users_.size(0); }

  torch::Tensor predict(std::int64_t start, std::int64_t count) override {
    return model_(test_users_.narrow(0, start, count), test_items_.narrow(0, start, count));
  }

  /// HR@k and NDCG@k: the held-out item (column 0) ranks by the number of candidates scoring at
  /// least as high, itself included, so ties count against it.
  std::vector<Metric> score(const torch::Tensor& outputs) const override {
    const torch::Tensor scores = outputs.reshape({-1, candidates_});
    const torch::Tensor rank = scores.ge(scores.narrow(1, 0, 1)).sum(1).to(torch::kFloat64);
    const torch::Tensor hit = rank.le(static_cast<double>(top_k_));
    const torch::Tensor gain = torch::where(hit, 1.0 / torch::log2(rank + 1.0), torch::zeros_like(rank));
    return {{fmt::format("hr@{}", top_k_), hit.to(torch::kFloat64).mean().item<double>()},
            {fmt::format("ndcg@{}", top_k_), gain.mean().item<double>()}};
  }

 private:
  lt::Ncf model_;
  std::int64_t top_k_;
  std::int64_t candidates_ = 0;
  torch::Tensor train_users_, train_items_, train_labels_;
  torch::Tensor test_users_, test_items_;
};

double accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
}

class TransformerWorkload final : public Workload {
 public:
  TransformerWorkload(const Meta& meta, const fs::path& directory, bool training)
      : model_(lt::TransformerOptions{meta.positive("vocab"), meta.positive("seq_len"), meta.positive("d_model"),
                                      meta.positive("heads"), meta.positive("ff"), meta.positive("layers"),
                                      meta.positive("classes")}) {
    const std::int64_t vocab = meta.positive("vocab");
    const std::int64_t seq_len = meta.positive("seq_len");
    const std::int64_t classes = meta.positive("classes");
    if (training) {
      const std::int64_t n = meta.positive("n_train");
      train_tokens_ = load_array(directory, "train_tokens.npy", npy::Dtype::int64, {n, seq_len});
      train_labels_ = load_array(directory, "train_labels.npy", npy::Dtype::int64, {n});
      check_range(train_tokens_, vocab, directory / "train_tokens.npy");
      check_range(train_labels_, classes, directory / "train_labels.npy");
    }
    const std::int64_t n_test = meta.positive("n_test");
    test_tokens_ = load_array(directory, "test_tokens.npy", npy::Dtype::int64, {n_test, seq_len});
    test_labels_ = load_array(directory, "test_labels.npy", npy::Dtype::int64, {n_test});
    check_range(test_tokens_, vocab, directory / "test_tokens.npy");
    check_range(test_labels_, classes, directory / "test_labels.npy");
  }

  std::shared_ptr<torch::nn::Module> module() override { return model_.ptr(); }
  void initialise() override { lt::initialise(*model_, lt::kTransformerEmbeddingStd); }
  std::int64_t training_examples() const override { return train_tokens_.size(0); }

  torch::Tensor training_loss(const torch::Tensor& indices) override {
    return torch::nn::functional::cross_entropy(model_(train_tokens_.index_select(0, indices)),
                                                train_labels_.index_select(0, indices));
  }

  std::int64_t test_examples() const override { return test_tokens_.size(0); }
  torch::Tensor predict(std::int64_t start, std::int64_t count) override {
    return model_(test_tokens_.narrow(0, start, count));
  }
  std::vector<Metric> score(const torch::Tensor& outputs) const override {
    return {{"accuracy", accuracy(outputs, test_labels_)}};
  }

 private:
  lt::TransformerClassifier model_;
  torch::Tensor train_tokens_, train_labels_, test_tokens_, test_labels_;
};

/// Images stay uint8 in memory and are normalised batch by batch, as every framework does:
/// x = (pixel / 255 - mean) / std, shape [batch, 1, 28, 28].
class ResNetWorkload final : public Workload {
 public:
  ResNetWorkload(const Meta& meta, const fs::path& directory, bool training)
      : model_(lt::ResNetOptions{meta.integers("channels"), meta.positive("classes")}),
        pixel_mean_(meta.number("pixel_mean")),
        pixel_std_(meta.number("pixel_std")) {
    if (!(pixel_std_ > 0)) throw InputError(fmt::format("{}: pixel_std must be positive", meta.path()));
    const std::int64_t classes = meta.positive("classes");
    if (training) {
      const std::int64_t n = meta.positive("n_train");
      train_images_ = load_array(directory, "train_images.npy", npy::Dtype::uint8, {n, -1, -1});
      train_labels_ = load_array(directory, "train_labels.npy", npy::Dtype::int64, {n});
      check_range(train_labels_, classes, directory / "train_labels.npy");
    }
    const std::int64_t n_test = meta.positive("n_test");
    test_images_ = load_array(directory, "test_images.npy", npy::Dtype::uint8, {n_test, -1, -1});
    test_labels_ = load_array(directory, "test_labels.npy", npy::Dtype::int64, {n_test});
    check_range(test_labels_, classes, directory / "test_labels.npy");
    if (training && train_images_.sizes().slice(1) != test_images_.sizes().slice(1)) {
      throw InputError(fmt::format("{}: training and test images differ in size", directory.string()));
    }
  }

  std::shared_ptr<torch::nn::Module> module() override { return model_.ptr(); }
  void initialise() override { lt::initialise(*model_, /*embedding_std=*/0.0); }  // it has no embeddings
  std::int64_t training_examples() const override { return train_images_.size(0); }

  torch::Tensor training_loss(const torch::Tensor& indices) override {
    return torch::nn::functional::cross_entropy(model_(normalise(train_images_.index_select(0, indices))),
                                                train_labels_.index_select(0, indices));
  }

  std::int64_t test_examples() const override { return test_images_.size(0); }
  torch::Tensor predict(std::int64_t start, std::int64_t count) override {
    return model_(normalise(test_images_.narrow(0, start, count)));
  }
  std::vector<Metric> score(const torch::Tensor& outputs) const override {
    return {{"accuracy", accuracy(outputs, test_labels_)}};
  }

 private:
  torch::Tensor normalise(const torch::Tensor& pixels) const {
    return pixels.to(torch::kFloat32).div_(255.0).sub_(pixel_mean_).div_(pixel_std_).unsqueeze(1);
  }

  lt::ResNet model_;
  double pixel_mean_;
  double pixel_std_;
  torch::Tensor train_images_, train_labels_, test_images_, test_labels_;
};

std::unique_ptr<Workload> make_workload(const std::string& model, const Meta& meta, const fs::path& directory,
                                        bool training) {
  if (model == "ncf") return std::make_unique<NcfWorkload>(meta, directory, training);
  if (model == "transformer") return std::make_unique<TransformerWorkload>(meta, directory, training);
  return std::make_unique<ResNetWorkload>(meta, directory, training);
}

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

// ---------------------------------------------------------------------------------------------
// Phases

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

/// The p-th percentile with linear interpolation between order statistics (NumPy's default).
double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const double position = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (values[above] - values[below]) * (position - static_cast<double>(below));
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

Loaded load(const Arguments& arguments, bool training) {
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
    loaded.workload = make_workload(arguments.model, meta, arguments.data, training);
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

int run(const Arguments& arguments) {
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
  const Loaded loaded = load(arguments, training);
  const double load_seconds = seconds_since(load_start);
  jb::end("load");

  const Meta& meta = *loaded.meta;
  const std::int64_t train_batch = meta.positive("batch");
  const std::int64_t batch = training ? train_batch : arguments.batch.value_or(train_batch);
  // infer reports the steps its checkpoint was trained for.
  const std::int64_t steps = training ? arguments.steps.value_or(meta.positive("steps"))
                                      : loaded.trained_steps.value_or(meta.positive("steps"));
  const std::int64_t parameters = lt::trainable_parameters(*loaded.workload->module());
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

}  // namespace

int main(int argc, char** argv) {
  // Operator profile for `joulebench profile --mode torch`; nothing without its variables.
  const joulebench::torch_profile::Session profile;
  Arguments arguments;
  try {
    arguments = parse_arguments(argc, argv);
  } catch (const InputError& error) {
    fmt::print(stderr, "{}: {}\n{}", kProgram, error.what(), kUsage);
    return 2;
  }
  if (arguments.help) {
    fmt::print("{}", kUsage);
    return 0;
  }
  try {
    return run(arguments);
  } catch (const InputError& error) {
    fmt::print(stderr, "{}: {}\n", kProgram, error.what());
    return 2;
  } catch (const c10::Error& error) {
    fmt::print(stderr, "{}: LibTorch: {}\n", kProgram, error.what_without_backtrace());
    return 1;
  } catch (const std::exception& error) {
    fmt::print(stderr, "{}: {}\n", kProgram, error.what());
    return 1;
  }
}

// common.hpp: what the LibTorch workloads share: the command line of workloads/README.md, thread
// control, meta.json, the data files, the Workload interface that each model implements (ncf.cpp,
// transformer.cpp, resnet.cpp), the contract's initialisation, and the phases that drive any
// Workload. All of it is defined in common.cpp.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/npy.hpp"

namespace joulebench::libtorch {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline constexpr std::string_view kFramework = "libtorch";
inline constexpr std::string_view kUsage =
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

// ---------------------------------------------------------------------------------------------
// Arguments and threads

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

/// Parses and checks the flags (model and phase among the known ones); throws InputError.
Arguments parse_arguments(int argc, char** argv);

/// Every thread pool sized to `threads` before any computation: ATen's OpenMP pool (which oneDNN
/// shares) and its inter-op pool (one thread: the workloads run one operator at a time). OpenBLAS
/// (Debian's pthread build) sized its own pool from the CPU count when it was loaded, before main,
/// so setting OPENBLAS_NUM_THREADS here would be too late: it is told directly, where present.
void configure_threads(int threads);

// ---------------------------------------------------------------------------------------------
// Data

/// meta.json, with typed access that names the key when it is missing or of the wrong type.
class Meta {
 public:
  explicit Meta(const fs::path& directory);

  std::int64_t integer(const std::string& key) const;
  std::int64_t positive(const std::string& key) const;
  double number(const std::string& key) const;
  std::string text(const std::string& key) const;
  std::vector<std::int64_t> integers(const std::string& key) const;
  /// seed and size as written, for metadata.
  std::string as_text(const std::string& key) const;
  const std::string& path() const { return path_; }

 private:
  const nlohmann::json& at(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, std::string_view expected) const;

  std::string path_;
  nlohmann::json json_;
};

/// An .npy file of the data directory, read straight into a tensor, with its shape checked
/// against `shape` (-1: any size).
torch::Tensor load_array(const fs::path& directory, const std::string& file, npy::Dtype dtype,
                         const std::vector<std::int64_t>& shape);

/// Indices and labels must lie in [0, end): an embedding or a loss would otherwise fail deep inside.
void check_range(const torch::Tensor& values, std::int64_t end, const fs::path& file);

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

/// Builds a model's Workload in the load region: its data (the training set only when `training`)
/// from `directory`, sizes from `meta`, the model with LibTorch's default initialisation.
using MakeWorkload =
    std::function<std::unique_ptr<Workload>(const Meta& meta, const fs::path& directory, bool training)>;

/// Top-1 accuracy of `logits` [n, classes] against `labels` [n].
double accuracy(const torch::Tensor& logits, const torch::Tensor& labels);

/// The contract's initialisation, applied to every submodule of `module`: He normal (fan-in, ReLU
/// gain) for linear, convolution and attention projection weights, zero biases, N(0,
/// embedding_std) embeddings, normalisation weights 1 and biases 0.
void initialise(torch::nn::Module& module, double embedding_std);

/// The number of trainable parameters (elements of the parameters that require gradients).
std::int64_t trainable_parameters(const torch::nn::Module& module);

// ---------------------------------------------------------------------------------------------
// Phases

/// Runs `arguments.phase` (train or infer) for the workload `make` builds: regions, metrics,
/// metadata and the standalone summary of workloads/README.md. Returns the exit status; throws
/// InputError for bad data or checkpoints.
int run(const Arguments& arguments, const MakeWorkload& make);

}  // namespace joulebench::libtorch

// common.hpp: what the dlib workloads share: the command line of workloads/README.md, meta.json,
// the data files, thread control, timing and the metadata every run reports.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/npy.hpp"
#include "common/percentile.hpp"

namespace jbdlib {

namespace npy = joulebench::npy;
using joulebench::workloads::percentile;

/// Bad arguments or missing or malformed data: a message on stderr and exit status 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A command line that does not parse: InputError, and the usage hint.
class UsageError : public InputError {
 public:
  using InputError::InputError;
};

/// --help was asked for: the usage on stdout and exit status 0.
struct HelpRequested {};

enum class Phase { train, infer };

struct Options {
  std::string model;  // ncf, transformer, resnet
  Phase phase = Phase::train;
  std::filesystem::path data;
  std::filesystem::path checkpoint;  // empty: DIR/dlib.ckpt
  int threads = 1;
  long batch = 0;  // infer batch; 0: meta.json's
  long steps = 0;  // 0: meta.json's
};

/// Parses the flags; throws UsageError or HelpRequested.
Options parse_options(int argc, char** argv);
const char* usage_text();
const char* phase_name(Phase phase);

/// meta.json of a data directory, with typed access that names the key on failure.
class Meta {
 public:
  /// Reads DIR/meta.json; the directory must be complete (manifest.json present).
  explicit Meta(const std::filesystem::path& dir);

  long integer(const char* key) const;
  double number(const char* key) const;
  std::string text(const char* key) const;
  std::vector<long> integers(const char* key) const;

 private:
  const nlohmann::json& at(const char* key) const;
  std::filesystem::path path_;
  nlohmann::json json_;
};

/// Loads DIR/NAME.npy, turning npy errors into InputError.
template <class T>
npy::Array<T> load_array(const std::filesystem::path& dir, const char* name) {
  try {
    return npy::load<T>(dir / (std::string(name) + ".npy"));
  } catch (const npy::Error& e) {
    throw InputError(e.what());
  }
}

/// Throws InputError unless `array` has exactly `shape`.
template <class T>
void require_shape(const npy::Array<T>& array, const std::vector<std::size_t>& shape, const char* name) {
  if (array.shape == shape) return;
  auto text = [](const std::vector<std::size_t>& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  };
  throw InputError(std::string(name) + ".npy: shape " + text(array.shape) + ", expected " + text(shape));
}

/// The training run's shared settings from meta.json and the flags.
struct TrainPlan {
  long steps = 0;
  long batch = 0;
  long epochs = 0;
  long n_train = 0;
  double lr = 0;
};
TrainPlan train_plan(const Meta& meta, const Options& options);

/// How many times infer runs the whole test set (so that inference lasts long enough to measure).
long infer_passes(const Meta& meta);

/// Checks order.npy ([epochs, n_train], each row within range) and returns the example indices of
/// step `step` (0-based): order[e, b*batch : (b+1)*batch], epochs visited in turn.
class TrainingOrder {
 public:
  TrainingOrder(npy::Array<std::int64_t> order, const TrainPlan& plan);
  const std::int64_t* batch(long step) const;

 private:
  npy::Array<std::int64_t> order_;
  long batches_per_epoch_;
  long batch_;
  long n_train_;
};

/// The mean of the last `capacity` values added: the reported loss is the last 10 steps' mean.
class RecentMean {
 public:
  explicit RecentMean(std::size_t capacity) : capacity_(capacity) {}
  void add(double value) {
    values_.push_back(value);
    if (values_.size() > capacity_) values_.pop_front();
  }
  double mean() const {
    double sum = 0;
    for (const double value : values_) sum += value;
    return values_.empty() ? 0.0 : sum / static_cast<double>(values_.size());
  }

 private:
  std::size_t capacity_;
  std::deque<double> values_;
};

/// Sets the BLAS library's threads (OpenBLAS through its run-time API, found with dlsym so that any
/// BLAS behind Debian's libblas.so.3 alternative links) and OMP_NUM_THREADS for anything else.
/// Returns a description such as "OpenBLAS 0.3.21 ... (2 threads)".
std::string set_threads(int threads);

/// The metadata every run reports (workloads/README.md), plus the BLAS description.
void report_common_metadata(const Options& options, const Meta& meta, long parameters, long batch, long steps,
                            const std::string& blas);

/// "dlib 19.24.0".
std::string framework_name();

/// "19,074".
std::string with_commas(long value);

/// The standalone summary's first line (the other frameworks print the same):
/// "dlib 19.24.0  resnet train  size quick seed 0  cpu, 1 thread  19,074 parameters".
void print_summary_header(const Options& options, const Meta& meta, long parameters);

/// Emits the training metrics of workloads/README.md (the mean loss of the last steps, examples/s
/// over the train region) and prints them.
void report_training(const TrainPlan& plan, double train_seconds, double loss);

/// Emits the inference metrics of workloads/README.md (throughput over all passes, per-batch
/// latency percentiles) and prints them with the model's metrics (`metrics_text`, already emitted).
void report_inference(std::vector<double> latencies_ms, long examples_per_pass, long passes, long batch, double seconds,
                      const std::string& metrics_text);

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace jbdlib

// The vision workload (workloads/README.md, "ResNet"): a small ResNet on Fashion-MNIST with dlib's
// DNN layers, trained by an explicit loop over order.npy's batches (no dnn_trainer: its background
// thread and learning-rate shrinking are not part of the contract).
#include <dlib/dnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <joulebench/events.hpp>
#include <numeric>
#include <optional>
#include <type_traits>

#include "checkpoint.hpp"
#include "common.hpp"
#include "layer_utils.hpp"
#include "workloads.hpp"

namespace jbdlib {
namespace {

namespace jb = joulebench::events;

// --- The network -------------------------------------------------------------------------------
// The filter and class counts below are the contract's; configure() sets them from meta.json.

// A 3x3 convolution with padding 1 at any stride (dlib's con<> pads only stride-1 convolutions).
template <long filters, int stride, typename SUBNET>
using conv3x3 = dlib::add_layer<dlib::con_<filters, 3, 3, stride, stride, 1, 1>, SUBNET>;

// conv (stride s) -> BN -> ReLU -> conv -> BN.
template <template <typename> class BN, long filters, int stride, typename SUBNET>
using basic_block = BN<conv3x3<filters, 1, dlib::relu<BN<conv3x3<filters, stride, SUBNET>>>>>;

// Identity shortcut.
template <template <typename> class BN, long filters, typename SUBNET>
using stage = dlib::relu<dlib::add_prev1<basic_block<BN, filters, 1, dlib::tag1<SUBNET>>>>;

// Option A shortcut: 2x2 average pool, stride 2; add_prev pads the missing channels with zeros.
template <template <typename> class BN, long filters, typename SUBNET>
using stage_down = dlib::relu<dlib::add_prev2<
    dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<basic_block<BN, filters, 2, dlib::tag1<SUBNET>>>>>>>;

template <template <typename> class BN>
using resnet = dlib::loss_multiclass_log<dlib::fc<
    10,
    dlib::avg_pool_everything<stage_down<
        BN, 32, stage_down<BN, 16, stage<BN, 8, dlib::relu<BN<conv3x3<8, 1, dlib::input<dlib::matrix<float>>>>>>>>>>>;

// Training uses batch statistics; evaluation and inference fold each BN's running statistics into
// a per-channel scale and shift (dlib's affine layer, converted from bn_con), like eval() in PyTorch.
using TrainNet = resnet<dlib::bn_con>;
using InferNet = resnet<dlib::affine>;

template <class T>
struct IsCon : std::false_type {};
template <long F, long R, long C, int SY, int SX, int PY, int PX>
struct IsCon<dlib::con_<F, R, C, SY, SX, PY, PX>> : std::true_type {};

// dlib's averaging factor for running statistics is 1/(n+1), n capped at the window size: a window
// of 9 gives PyTorch's momentum 0.1 from the tenth batch on.
constexpr unsigned long kBatchNormWindow = 9;
constexpr double kBatchNormEps = 1e-5;

/// Sets the contract's widths, no convolution bias, BN epsilon and window, and weight decay on
/// every parameter (PyTorch's SGD decays all of them) before the parameters are allocated.
void configure(TrainNet& net, const std::vector<long>& channels, long classes) {
  // Convolutions from the output down: stage 3 (2), stage 2 (2), stage 1 (2), stem.
  const std::vector<long> filters = {channels[2], channels[2], channels[1], channels[1],
                                     channels[0], channels[0], channels[0]};
  std::size_t next = 0;
  dlib::visit_computational_layers(net, [&](auto& layer) {
    using Layer = std::decay_t<decltype(layer)>;
    if constexpr (IsCon<Layer>::value) {
      layer.set_num_filters(filters.at(next++));
      layer.disable_bias();
      // sgd's con_ overload still splits off the last num_filters values as "biases" when the bias
      // is disabled: multipliers of 1 keep those weights decayed like the rest.
      layer.set_bias_weight_decay_multiplier(1);
      layer.set_bias_learning_rate_multiplier(1);
    } else if constexpr (std::is_same_v<Layer, dlib::bn_<dlib::CONV_MODE>>) {
      layer = dlib::bn_<dlib::CONV_MODE>(kBatchNormWindow, kBatchNormEps);
      layer.set_weight_decay_multiplier(1);
      layer.set_bias_weight_decay_multiplier(1);
    } else if constexpr (IsFc<Layer>::value) {
      layer.set_num_outputs(classes);
      layer.set_bias_weight_decay_multiplier(1);
    }
  });
  if (next != filters.size()) throw std::logic_error("resnet: unexpected number of convolutions");
}

/// He (Kaiming) normal, fan-in, gain sqrt(2) for convolution and linear weights; biases 0. dlib's
/// own initialisation (uniform) is overwritten once setup() has allocated the parameters.
void initialise(TrainNet& net, std::uint64_t seed) {
  dlib::rand random(static_cast<time_t>(seed));
  dlib::visit_computational_layers(net, [&](auto& layer) {
    using Layer = std::decay_t<decltype(layer)>;
    if constexpr (IsCon<Layer>::value) {
      dlib::tensor& params = layer.get_layer_params();  // filters only: the bias is disabled
      const auto filters = static_cast<std::size_t>(layer.num_filters());
      fill_he_normal(params.host(), params.size(), params.size() / filters, random);
    } else if constexpr (IsFc<Layer>::value) {
      initialise_fc(layer, random);
    }
  });
}

// --- The data ----------------------------------------------------------------------------------

struct Images {
  long count = 0;
  long rows = 0;
  long cols = 0;
  std::vector<float> pixels;  // normalised, [count, rows, cols]
  std::vector<unsigned long> labels;

  const float* image(std::int64_t index) const {
    return pixels.data() + static_cast<std::size_t>(index) * static_cast<std::size_t>(rows * cols);
  }
};

Images load_images(const std::filesystem::path& dir, const char* images_name, const char* labels_name, long count,
                   long classes, const Meta& meta) {
  const auto raw = load_array<std::uint8_t>(dir, images_name);
  const auto labels = load_array<std::int64_t>(dir, labels_name);
  if (raw.shape.size() != 3 || raw.dim(0) != static_cast<std::size_t>(count))
    throw InputError(std::string(images_name) + ".npy: expected shape [" + std::to_string(count) + ", rows, cols]");
  require_shape(labels, {static_cast<std::size_t>(count)}, labels_name);

  Images images;
  images.count = count;
  images.rows = static_cast<long>(raw.dim(1));
  images.cols = static_cast<long>(raw.dim(2));
  if (images.rows < 4 || images.cols < 4) throw InputError(std::string(images_name) + ".npy: images too small");
  // The contract's normalisation, in float32 as every framework computes it.
  const auto mean = static_cast<float>(meta.number("pixel_mean"));
  const auto std_dev = static_cast<float>(meta.number("pixel_std"));
  images.pixels.resize(raw.values.size());
  std::transform(raw.values.begin(), raw.values.end(), images.pixels.begin(),
                 [&](std::uint8_t p) { return (static_cast<float>(p) / 255.0f - mean) / std_dev; });
  images.labels.reserve(static_cast<std::size_t>(count));
  for (const std::int64_t label : labels.values) {
    if (label < 0 || label >= classes)
      throw InputError(std::string(labels_name) + ".npy: label " + std::to_string(label) + " out of range");
    images.labels.push_back(static_cast<unsigned long>(label));
  }
  return images;
}

/// Copies the images at `indices` into a [n, 1, rows, cols] tensor.
void gather(const Images& images, const std::int64_t* indices, long n, dlib::resizable_tensor& batch) {
  batch.set_size(n, 1, images.rows, images.cols);
  const auto image_size = static_cast<std::size_t>(images.rows * images.cols);
  float* out = batch.host_write_only();
  for (long i = 0; i < n; ++i)
    std::memcpy(out + static_cast<std::size_t>(i) * image_size, images.image(indices[i]), image_size * sizeof(float));
}

/// Predicted classes of a forward pass's [n, classes] output.
void argmax_rows(const dlib::tensor& logits, std::vector<unsigned long>& predicted) {
  const auto n = static_cast<std::size_t>(logits.num_samples());
  const auto classes = static_cast<std::size_t>(logits.k());
  const float* values = logits.host();
  predicted.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = values + i * classes;
    predicted[i] = static_cast<unsigned long>(std::max_element(row, row + classes) - row);
  }
}

/// Runs `net` over every image in batches of `batch`; calls `on_batch(seconds)` for each batch and
/// returns the number classified correctly.
template <class OnBatch>
long classify(InferNet& net, const Images& images, long batch, OnBatch&& on_batch) {
  std::vector<std::int64_t> indices(static_cast<std::size_t>(images.count));
  std::iota(indices.begin(), indices.end(), 0);
  dlib::resizable_tensor input;
  std::vector<unsigned long> predicted;
  long correct = 0;
  for (long start = 0; start < images.count; start += batch) {
    const long n = std::min(batch, images.count - start);
    const auto begin = Clock::now();
    gather(images, indices.data() + start, n, input);
    argmax_rows(net.subnet().forward(input), predicted);
    on_batch(seconds_since(begin));
    for (long i = 0; i < n; ++i)
      correct += predicted[static_cast<std::size_t>(i)] == images.labels[static_cast<std::size_t>(start + i)] ? 1 : 0;
  }
  return correct;
}

void report_differences() {
  jb::meta("difference.batch_norm",
           "running statistics (used by eval and infer, not by training): dlib's bn_con weights the first "
           "10 batches equally (window 9), then uses factor 0.1 like PyTorch's momentum 0.1, which starts "
           "from mean 0, variance 1; the difference decays as 0.9^(steps - 10)");
  jb::meta("difference.threads",
           "only the BLAS matrix products (convolutions via im2col, the linear layer) use the threads; "
           "dlib's batch norm, pooling, ReLU, im2col and additions run on one thread");
}

struct Config {
  std::vector<long> channels;
  long classes = 0;
};

Config read_config(const Meta& meta) {
  if (meta.text("model") != "resnet")
    throw InputError("meta.json: model '" + meta.text("model") + "', expected resnet");
  Config config;
  config.channels = meta.integers("channels");
  config.classes = meta.integer("classes");
  if (config.channels.size() != 3 || config.classes < 2 ||
      std::any_of(config.channels.begin(), config.channels.end(), [](long c) { return c < 1; }))
    throw InputError("meta.json: resnet wants three positive channels and at least two classes");
  if (config.channels[0] > config.channels[1] || config.channels[1] > config.channels[2])
    throw InputError("meta.json: channels must not decrease (option A shortcuts zero-pad)");
  return config;
}

/// Runs one forward pass on a blank image: setup() allocates every layer's parameters. A single
/// sample takes bn_con's inference path, so the running statistics are not touched.
template <class Net>
void allocate(Net& net, long rows, long cols) {
  const dlib::matrix<float> blank = dlib::zeros_matrix<float>(rows, cols);
  dlib::resizable_tensor input;
  net.to_tensor(&blank, &blank + 1, input);
  net.subnet().forward(input);
}

int train(const Options& options) {
  const std::string blas = set_threads(options.threads);
  TrainNet net;
  Images train_set;
  Images test_set;
  TrainPlan plan;
  std::optional<TrainingOrder> order;
  std::optional<Meta> meta;
  double momentum = 0;
  double weight_decay = 0;
  const auto load_start = Clock::now();
  {
    jb::Region region("load");
    meta.emplace(options.data);
    const Config config = read_config(*meta);
    plan = train_plan(*meta, options);
    require_checkpoint_folder(options.checkpoint);
    momentum = meta->number("momentum");
    weight_decay = meta->number("weight_decay");
    if (meta->text("optimizer") != "sgd") throw InputError("meta.json: resnet's optimizer must be sgd");
    train_set = load_images(options.data, "train_images", "train_labels", plan.n_train, config.classes, *meta);
    test_set = load_images(options.data, "test_images", "test_labels", meta->integer("n_test"), config.classes, *meta);
    if (test_set.rows != train_set.rows || test_set.cols != train_set.cols)
      throw InputError("train and test images differ in size");
    order.emplace(load_array<std::int64_t>(options.data, "order"), plan);
    configure(net, config.channels, config.classes);
    allocate(net, train_set.rows, train_set.cols);
    initialise(net, static_cast<std::uint64_t>(meta->integer("seed")));
  }
  const double load_seconds = seconds_since(load_start);
  const long parameters = count_parameters(net);
  report_common_metadata(options, *meta, parameters, plan.batch, plan.steps, blas);
  report_differences();
  print_summary_header(options, *meta, parameters);
  std::printf("  load   %7.3f s  %s\n", load_seconds, blas.c_str());

  std::vector<dlib::sgd> solvers(TrainNet::num_computational_layers,
                                 dlib::sgd(static_cast<float>(weight_decay), static_cast<float>(momentum)));
  RecentMean recent_losses(10);
  dlib::resizable_tensor input;
  std::vector<unsigned long> labels(static_cast<std::size_t>(plan.batch));
  const auto train_start = Clock::now();
  {
    jb::Region region("train");
    for (long step = 0; step < plan.steps; ++step) {
      const std::int64_t* indices = order->batch(step);
      gather(train_set, indices, plan.batch, input);
      for (long i = 0; i < plan.batch; ++i)
        labels[static_cast<std::size_t>(i)] = train_set.labels[static_cast<std::size_t>(indices[i])];
      const double loss = net.compute_parameter_gradients(input, labels.begin());
      net.update_parameters(solvers, plan.lr);
      recent_losses.add(loss);
    }
  }
  report_training(plan, seconds_since(train_start), recent_losses.mean());

  const auto eval_start = Clock::now();
  double accuracy = 0;
  {
    jb::Region region("eval");
    InferNet eval_net(net);
    const long correct = classify(eval_net, test_set, plan.batch, [](double) {});
    accuracy = static_cast<double>(correct) / static_cast<double>(test_set.count);
    jb::metric("accuracy", accuracy);
  }
  std::printf("  eval   %7.3f s  accuracy %.4f\n", seconds_since(eval_start), accuracy);

  net.clean();
  save_checkpoint(options.checkpoint, "resnet", plan.steps, net);
  std::printf("  checkpoint %s\n", options.checkpoint.c_str());
  return 0;
}

int infer(const Options& options) {
  const std::string blas = set_threads(options.threads);
  std::optional<Meta> meta;
  Images test_set;
  InferNet net;
  long batch = 0;
  long passes = 0;
  long parameters = 0;
  long steps = 0;
  const auto load_start = Clock::now();
  {
    jb::Region region("load");
    meta.emplace(options.data);
    const Config config = read_config(*meta);
    batch = options.batch > 0 ? options.batch : meta->integer("batch");
    passes = infer_passes(*meta);
    test_set = load_images(options.data, "test_images", "test_labels", meta->integer("n_test"), config.classes, *meta);
    TrainNet trained;
    steps = load_checkpoint(options.checkpoint, "resnet", trained);
    parameters = count_parameters(trained);
    net = trained;
  }
  const double load_seconds = seconds_since(load_start);
  report_common_metadata(options, *meta, parameters, batch, steps, blas);
  report_differences();
  print_summary_header(options, *meta, parameters);
  std::printf("  load   %7.3f s  %s\n", load_seconds, blas.c_str());

  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(passes * ((test_set.count + batch - 1) / batch)));
  const auto start = Clock::now();
  long correct = 0;
  {
    jb::Region region("infer");
    for (long pass = 0; pass < passes; ++pass)
      correct = classify(net, test_set, batch, [&](double seconds) { latencies_ms.push_back(seconds * 1e3); });
  }
  const double seconds = seconds_since(start);
  const double accuracy = static_cast<double>(correct) / static_cast<double>(test_set.count);
  jb::metric("accuracy", accuracy);
  char metrics_text[64];
  std::snprintf(metrics_text, sizeof metrics_text, "accuracy %.4f", accuracy);
  report_inference(std::move(latencies_ms), test_set.count, passes, batch, seconds, metrics_text);
  return 0;
}

}  // namespace

int run_resnet(const Options& options) { return options.phase == Phase::train ? train(options) : infer(options); }

}  // namespace jbdlib

// The recommender workload (workloads/README.md, "NCF"): NeuMF with dlib's layer API. dlib 19.24
// has no embedding layer and no multi-input network, so this file adds two small pieces through
// dlib's documented extension points:
//   - an input layer whose input_type is a (user, item) pair: it writes a [n, 2] tensor of ids
//     (as floats: exact below 2^24, which load() checks);
//   - an embedding layer (EXAMPLE_COMPUTATIONAL_LAYER_ of layers_abstract.h) that looks up one
//     column of those ids in its [rows, dims] table, with a dense gradient like PyTorch's
//     nn.Embedding(sparse=False).
// The four embeddings branch off the ids with tag/skip layers; GMF is mult_prev, the
// concatenations are concat2.
#include <dlib/dnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <joulebench/events.hpp>
#include <optional>
#include <type_traits>

#include "checkpoint.hpp"
#include "common.hpp"
#include "layer_utils.hpp"
#include "workloads.hpp"

namespace jbdlib {
namespace {

namespace jb = joulebench::events;

constexpr long kUserColumn = 0;
constexpr long kItemColumn = 1;
constexpr long kLargestExactId = 1L << 24;  // every integer below is exact in a float

struct UserItem {
  std::int64_t user = 0;
  std::int64_t item = 0;
};

/// dlib input layer: (user, item) pairs to a [n, 2] tensor of ids.
class UserItemInput {
 public:
  using input_type = UserItem;

  template <typename ForwardIterator>
  void to_tensor(ForwardIterator begin, ForwardIterator end, dlib::resizable_tensor& data) const {
    data.set_size(std::distance(begin, end), 2);
    float* out = data.host_write_only();
    for (auto it = begin; it != end; ++it) {
      *out++ = static_cast<float>(it->user);
      *out++ = static_cast<float>(it->item);
    }
  }

  friend void serialize(const UserItemInput&, std::ostream& out) { dlib::serialize("user_item_input", out); }
  friend void deserialize(UserItemInput&, std::istream& in) {
    std::string version;
    dlib::deserialize(version, in);
    if (version != "user_item_input") throw dlib::serialization_error("unexpected layer '" + version + "'");
  }
  friend std::ostream& operator<<(std::ostream& out, const UserItemInput&) { return out << "user_item_input"; }
  friend void to_xml(const UserItemInput&, std::ostream& out) { out << "<user_item_input/>\n"; }
};

/// dlib computational layer: row `ids[:, column]` of a [rows, dims] table for each sample.
template <long column>
class embedding_ {
 public:
  void set_shape(long rows, long dims) {
    rows_ = rows;
    dims_ = dims;
  }
  long rows() const { return rows_; }
  long dims() const { return dims_; }

  template <typename SUBNET>
  void setup(const SUBNET& sub) {
    if (sub.get_output().k() <= column)
      throw std::logic_error("embedding: the input has no id column " + std::to_string(column));
    params_.set_size(rows_, dims_);
    params_ = 0;  // initialise() writes the contract's values
  }

  template <typename SUBNET>
  void forward(const SUBNET& sub, dlib::resizable_tensor& output) {
    const dlib::tensor& ids = sub.get_output();
    const long stride = ids.k() * ids.nr() * ids.nc();
    output.set_size(ids.num_samples(), dims_);
    const float* id = ids.host();
    const float* table = params_.host();
    float* out = output.host_write_only();
    const auto row_bytes = static_cast<std::size_t>(dims_) * sizeof(float);
    for (long i = 0; i < ids.num_samples(); ++i) {
      const auto row = static_cast<long>(id[i * stride + column]);  // in range: checked when loaded
      std::memcpy(out + i * dims_, table + row * dims_, row_bytes);
    }
  }

  /// The table's gradient, dense (zero for rows not in the batch); ids have no gradient, so
  /// nothing is added to the input's.
  template <typename SUBNET>
  void backward(const dlib::tensor& gradient_input, SUBNET& sub, dlib::tensor& params_grad) {
    const dlib::tensor& ids = sub.get_output();
    const long stride = ids.k() * ids.nr() * ids.nc();
    params_grad = 0;
    const float* id = ids.host();
    const float* gradient = gradient_input.host();
    float* table_gradient = params_grad.host();
    for (long i = 0; i < ids.num_samples(); ++i) {
      float* row = table_gradient + static_cast<long>(id[i * stride + column]) * dims_;
      const float* g = gradient + i * dims_;
      for (long d = 0; d < dims_; ++d) row[d] += g[d];
    }
  }

  const dlib::tensor& get_layer_params() const { return params_; }
  dlib::tensor& get_layer_params() { return params_; }

  friend void serialize(const embedding_& item, std::ostream& out) {
    dlib::serialize("embedding_", out);
    dlib::serialize(column, out);
    dlib::serialize(item.rows_, out);
    dlib::serialize(item.dims_, out);
    dlib::serialize(item.params_, out);
  }
  friend void deserialize(embedding_& item, std::istream& in) {
    std::string version;
    dlib::deserialize(version, in);
    if (version != "embedding_") throw dlib::serialization_error("unexpected layer '" + version + "'");
    long saved_column = 0;
    dlib::deserialize(saved_column, in);
    if (saved_column != column) throw dlib::serialization_error("embedding of another id column");
    dlib::deserialize(item.rows_, in);
    dlib::deserialize(item.dims_, in);
    dlib::deserialize(item.params_, in);
  }
  friend std::ostream& operator<<(std::ostream& out, const embedding_& item) {
    return out << "embedding\t (column=" << column << ", rows=" << item.rows_ << ", dims=" << item.dims_ << ")";
  }
  friend void to_xml(const embedding_& item, std::ostream& out) {
    out << "<embedding column='" << column << "' rows='" << item.rows_ << "' dims='" << item.dims_ << "'>\n"
        << dlib::mat(item.params_) << "</embedding>\n";
  }

 private:
  dlib::resizable_tensor params_;
  long rows_ = 1;
  long dims_ = 1;
};

template <long column, typename SUBNET>
using embedding = dlib::add_layer<embedding_<column>, SUBNET>;

// GMF (tag3): the user's GMF embedding (tag2) times the item's, both looked up in the ids (tag1).
template <typename SUBNET>
using gmf = dlib::mult_prev2<embedding<kItemColumn, dlib::skip1<dlib::tag2<embedding<kUserColumn, SUBNET>>>>>;

// The MLP's input: [user, item] MLP embeddings (tag4, tag5), looked up in the ids (tag1).
template <typename SUBNET>
using mlp_embeddings = dlib::concat2<
    dlib::tag4, dlib::tag5,
    dlib::tag5<embedding<kItemColumn, dlib::skip1<dlib::tag4<embedding<kUserColumn, dlib::skip1<SUBNET>>>>>>>;

template <typename SUBNET>
using mlp = dlib::relu<dlib::fc<8, dlib::relu<dlib::fc<16, mlp_embeddings<SUBNET>>>>>;

// [GMF, MLP (tag6)] -> fc 1 -> logistic loss. The widths are the contract's; configure() sets
// them from meta.json.
using NcfNet = dlib::loss_binary_log<
    dlib::fc<1, dlib::concat2<dlib::tag3, dlib::tag6, dlib::tag6<mlp<dlib::tag3<gmf<dlib::tag1<UserItemInput>>>>>>>>;

template <class T>
struct IsEmbedding : std::false_type {};
template <long column>
struct IsEmbedding<embedding_<column>> : std::true_type {
  static constexpr long id_column = column;
};

struct Config {
  long users = 0;
  long items = 0;
  long gmf_dim = 0;
  long mlp_dim = 0;
  std::vector<long> mlp_layers;
  long top_k = 0;
  long candidates = 0;  // per test user: the held-out item and its negatives
};

Config read_config(const Meta& meta) {
  if (meta.text("model") != "ncf") throw InputError("meta.json: model '" + meta.text("model") + "', expected ncf");
  Config config;
  config.users = meta.integer("users");
  config.items = meta.integer("items");
  config.gmf_dim = meta.integer("gmf_dim");
  config.mlp_dim = meta.integer("mlp_dim");
  config.mlp_layers = meta.integers("mlp_layers");
  config.top_k = meta.integer("top_k");
  config.candidates = meta.integer("eval_negatives") + 1;
  if (config.users < 1 || config.items < 1 || config.users >= kLargestExactId || config.items >= kLargestExactId)
    throw InputError("meta.json: users and items must be between 1 and 2^24");
  if (config.gmf_dim < 1 || config.mlp_dim < 1 || config.top_k < 1)
    throw InputError("meta.json: gmf_dim, mlp_dim and top_k must be positive");
  if (config.mlp_layers.size() != 3 || config.mlp_layers[0] != 2 * config.mlp_dim || config.mlp_layers[1] < 1 ||
      config.mlp_layers[2] < 1)
    throw InputError("meta.json: mlp_layers must be [2 x mlp_dim, a, b] (two hidden layers)");
  return config;
}

/// Sets the table sizes and layer widths before the parameters are allocated.
void configure(NcfNet& net, const Config& config) {
  // Embeddings from the output down: MLP item, MLP user, GMF item, GMF user.
  const std::vector<std::pair<long, long>> tables = {{config.items, config.mlp_dim},
                                                     {config.users, config.mlp_dim},
                                                     {config.items, config.gmf_dim},
                                                     {config.users, config.gmf_dim}};
  const std::vector<long> widths = {1, config.mlp_layers[2], config.mlp_layers[1]};
  std::size_t next_table = 0;
  std::size_t next_width = 0;
  dlib::visit_computational_layers(net, [&](auto& layer) {
    using Layer = std::decay_t<decltype(layer)>;
    if constexpr (IsEmbedding<Layer>::value) {
      const auto [rows, dims] = tables.at(next_table++);
      layer.set_shape(rows, dims);
    } else if constexpr (IsFc<Layer>::value) {
      layer.set_num_outputs(widths.at(next_width++));
    }
  });
  if (next_table != tables.size() || next_width != widths.size())
    throw std::logic_error("ncf: unexpected layers in the network");
}

/// Embeddings normal with standard deviation 0.01; linear weights He normal (fan-in, gain
/// sqrt(2)), biases 0.
void initialise(NcfNet& net, std::uint64_t seed) {
  dlib::rand random(static_cast<time_t>(seed));
  dlib::visit_computational_layers(net, [&](auto& layer) {
    using Layer = std::decay_t<decltype(layer)>;
    if constexpr (IsEmbedding<Layer>::value) {
      dlib::tensor& params = layer.get_layer_params();
      fill_normal(params.host(), params.size(), 0.01, random);
    } else if constexpr (IsFc<Layer>::value) {
      initialise_fc(layer, random);
    }
  });
}

/// Allocates every layer's parameters with one forward pass (and sets the network's sample
/// expansion factor, which compute_parameter_gradients needs).
void allocate(NcfNet& net) {
  const UserItem pair;
  dlib::resizable_tensor input;
  net.to_tensor(&pair, &pair + 1, input);
  net.subnet().forward(input);
}

std::vector<std::int64_t> load_ids(const std::filesystem::path& dir, const char* name,
                                   const std::vector<std::size_t>& shape, long limit, const char* what) {
  auto ids = load_array<std::int64_t>(dir, name);
  require_shape(ids, shape, name);
  for (const std::int64_t id : ids.values)
    if (id < 0 || id >= limit)
      throw InputError(std::string(name) + ".npy: " + what + " " + std::to_string(id) + " out of range");
  return std::move(ids.values);
}

/// The test set: for each user, the held-out item (column 0) and its negatives, as flat pairs.
struct TestSet {
  long users = 0;
  long candidates = 0;
  std::vector<float> pairs;  // [users * candidates, 2] ids, ready to copy into a tensor

  long size() const { return users * candidates; }
};

TestSet load_test_set(const std::filesystem::path& dir, const Config& config, const Meta& meta) {
  TestSet test;
  test.users = meta.integer("n_test");
  test.candidates = config.candidates;
  const auto users = load_ids(dir, "test_users", {static_cast<std::size_t>(test.users)}, config.users, "user");
  const auto items =
      load_ids(dir, "test_items", {static_cast<std::size_t>(test.users), static_cast<std::size_t>(test.candidates)},
               config.items, "item");
  test.pairs.reserve(static_cast<std::size_t>(test.size()) * 2);
  for (std::size_t i = 0; i < items.size(); ++i) {
    test.pairs.push_back(static_cast<float>(users[i / static_cast<std::size_t>(test.candidates)]));
    test.pairs.push_back(static_cast<float>(items[i]));
  }
  return test;
}

/// Scores every test pair in batches of `batch`; calls `on_batch(seconds)` for each batch.
template <class OnBatch>
std::vector<float> score(NcfNet& net, const TestSet& test, long batch, OnBatch&& on_batch) {
  std::vector<float> scores(static_cast<std::size_t>(test.size()));
  dlib::resizable_tensor input;
  for (long start = 0; start < test.size(); start += batch) {
    const long n = std::min(batch, test.size() - start);
    const auto begin = Clock::now();
    input.set_size(n, 2);
    std::memcpy(input.host_write_only(), test.pairs.data() + start * 2,
                static_cast<std::size_t>(n) * 2 * sizeof(float));
    const dlib::tensor& logits = net.subnet().forward(input);
    std::copy(logits.host(), logits.host() + n, scores.begin() + start);
    on_batch(seconds_since(begin));
  }
  return scores;
}

struct Ranking {
  double hit_rate = 0;
  double ndcg = 0;
};

/// HR@k and NDCG@k: the held-out item's rank is the number of candidates scoring at least as
/// high as it (ties count against it).
Ranking rank(const std::vector<float>& scores, const TestSet& test, long top_k) {
  Ranking result;
  for (long u = 0; u < test.users; ++u) {
    const float* row = scores.data() + u * test.candidates;
    const auto position = std::count_if(row, row + test.candidates, [&](float s) { return s >= row[0]; });
    if (position <= top_k) {
      result.hit_rate += 1;
      result.ndcg += 1.0 / std::log2(static_cast<double>(position) + 1.0);
    }
  }
  result.hit_rate /= static_cast<double>(test.users);
  result.ndcg /= static_cast<double>(test.users);
  return result;
}

std::string report_ranking(const Ranking& ranking, long top_k) {
  const std::string k = std::to_string(top_k);
  jb::metric("hr@" + k, ranking.hit_rate);
  jb::metric("ndcg@" + k, ranking.ndcg);
  char text[96];
  std::snprintf(text, sizeof text, "hr@%ld %.4f  ndcg@%ld %.4f", top_k, ranking.hit_rate, top_k, ranking.ndcg);
  return text;
}

void report_differences() {
  jb::meta("difference.optimizer",
           "Adam: dlib adds epsilon (1e-8) to sqrt(v) before the bias correction, PyTorch after it "
           "(dlib's epsilon is PyTorch's times sqrt(1 - 0.999^t): about 32x larger at step 1, "
           "the same in the limit)");
  jb::meta("difference.threads",
           "only the BLAS matrix products (the linear layers) use the threads; dlib's embeddings (a "
           "user-defined layer), concatenations, products, ReLU and Adam updates run on one thread");
}

int train(const Options& options) {
  const std::string blas = set_threads(options.threads);
  NcfNet net;
  std::optional<Meta> meta;
  std::optional<TrainingOrder> order;
  TrainPlan plan;
  Config config;
  TestSet test;
  std::vector<float> train_pairs;   // [n_train, 2]
  std::vector<float> train_labels;  // +1 / -1, dlib's binary labels
  const auto load_start = Clock::now();
  {
    jb::Region region("load");
    meta.emplace(options.data);
    config = read_config(*meta);
    plan = train_plan(*meta, options);
    require_checkpoint_folder(options.checkpoint);
    if (meta->text("optimizer") != "adam") throw InputError("meta.json: ncf's optimizer must be adam");
    if (meta->number("weight_decay") != 0) throw InputError("meta.json: ncf's weight_decay must be 0");
    const auto n = static_cast<std::size_t>(plan.n_train);
    const auto users = load_ids(options.data, "train_users", {n}, config.users, "user");
    const auto items = load_ids(options.data, "train_items", {n}, config.items, "item");
    const auto labels = load_array<float>(options.data, "train_labels");
    require_shape(labels, {n}, "train_labels");
    train_pairs.resize(2 * n);
    train_labels.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      train_pairs[2 * i] = static_cast<float>(users[i]);
      train_pairs[2 * i + 1] = static_cast<float>(items[i]);
      if (labels.values[i] != 0.0f && labels.values[i] != 1.0f)
        throw InputError("train_labels.npy: labels must be 0 or 1");
      train_labels[i] = labels.values[i] > 0.5f ? 1.0f : -1.0f;
    }
    order.emplace(load_array<std::int64_t>(options.data, "order"), plan);
    test = load_test_set(options.data, config, *meta);
    configure(net, config);
    allocate(net);
    initialise(net, static_cast<std::uint64_t>(meta->integer("seed")));
  }
  const double load_seconds = seconds_since(load_start);
  const long parameters = count_parameters(net);
  report_common_metadata(options, *meta, parameters, plan.batch, plan.steps, blas);
  report_differences();
  print_summary_header(options, *meta, parameters);
  std::printf("  load   %7.3f s  %s\n", load_seconds, blas.c_str());

  std::vector<dlib::adam> solvers(NcfNet::num_computational_layers, dlib::adam(0.0f, 0.9f, 0.999f));
  RecentMean recent_losses(10);
  dlib::resizable_tensor input;
  std::vector<float> labels(static_cast<std::size_t>(plan.batch));
  const auto train_start = Clock::now();
  {
    jb::Region region("train");
    for (long step = 0; step < plan.steps; ++step) {
      const std::int64_t* indices = order->batch(step);
      input.set_size(plan.batch, 2);
      float* pairs = input.host_write_only();
      for (long i = 0; i < plan.batch; ++i) {
        const auto example = static_cast<std::size_t>(indices[i]);
        pairs[2 * i] = train_pairs[2 * example];
        pairs[2 * i + 1] = train_pairs[2 * example + 1];
        labels[static_cast<std::size_t>(i)] = train_labels[example];
      }
      const double loss = net.compute_parameter_gradients(input, labels.begin());
      net.update_parameters(solvers, plan.lr);
      recent_losses.add(loss);
    }
  }
  report_training(plan, seconds_since(train_start), recent_losses.mean());

  const auto eval_start = Clock::now();
  std::string metrics_text;
  {
    jb::Region region("eval");
    const auto scores = score(net, test, plan.batch, [](double) {});
    metrics_text = report_ranking(rank(scores, test, config.top_k), config.top_k);
  }
  std::printf("  eval   %7.3f s  %s\n", seconds_since(eval_start), metrics_text.c_str());

  net.clean();
  save_checkpoint(options.checkpoint, "ncf", plan.steps, net);
  std::printf("  checkpoint %s\n", options.checkpoint.c_str());
  return 0;
}

int infer(const Options& options) {
  const std::string blas = set_threads(options.threads);
  NcfNet net;
  std::optional<Meta> meta;
  Config config;
  TestSet test;
  long batch = 0;
  long passes = 0;
  long steps = 0;
  const auto load_start = Clock::now();
  {
    jb::Region region("load");
    meta.emplace(options.data);
    config = read_config(*meta);
    batch = options.batch > 0 ? options.batch : meta->integer("batch");
    passes = infer_passes(*meta);
    test = load_test_set(options.data, config, *meta);
    steps = load_checkpoint(options.checkpoint, "ncf", net);
  }
  const double load_seconds = seconds_since(load_start);
  const long parameters = count_parameters(net);
  report_common_metadata(options, *meta, parameters, batch, steps, blas);
  report_differences();
  print_summary_header(options, *meta, parameters);
  std::printf("  load   %7.3f s  %s\n", load_seconds, blas.c_str());

  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(passes * ((test.size() + batch - 1) / batch)));
  std::vector<float> scores;
  const auto start = Clock::now();
  {
    jb::Region region("infer");
    for (long pass = 0; pass < passes; ++pass)
      scores = score(net, test, batch, [&](double seconds) { latencies_ms.push_back(seconds * 1e3); });
  }
  const double seconds = seconds_since(start);
  const std::string metrics_text = report_ranking(rank(scores, test, config.top_k), config.top_k);
  report_inference(std::move(latencies_ms), test.size(), passes, batch, seconds, metrics_text);
  return 0;
}

}  // namespace

int run_ncf(const Options& options) { return options.phase == Phase::train ? train(options) : infer(options); }

}  // namespace jbdlib

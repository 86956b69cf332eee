// transformer.cpp: the Transformer classifier (the language model of workloads/README.md) in
// LibTorch: the model (sinusoidal positions, post-norm encoder layers), its data (token sequences,
// classes), cross-entropy loss and accuracy.
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.hpp"
#include "workloads.hpp"

namespace joulebench::libtorch {

namespace {

namespace nn = torch::nn;

struct TransformerOptions {
  std::int64_t vocab = 64;
  std::int64_t seq_len = 32;
  std::int64_t d_model = 64;
  std::int64_t heads = 4;
  std::int64_t ff = 128;
  std::int64_t layers = 2;
  std::int64_t classes = 4;
};

/// Token embedding plus fixed sinusoidal positions, post-norm encoder layers, mean over positions,
/// linear classifier.
class TransformerClassifierImpl : public torch::nn::Module {
 public:
  explicit TransformerClassifierImpl(const TransformerOptions& options);
  /// tokens: [batch, seq_len] int64 -> logits [batch, classes].
  torch::Tensor forward(const torch::Tensor& tokens);

 private:
  torch::nn::Embedding embedding_{nullptr};
  torch::Tensor positions_;  // [seq_len, 1, d_model], a buffer: no parameters
  torch::nn::TransformerEncoder encoder_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(TransformerClassifier);

/// The sinusoidal encoding of "Attention is all you need": PE[p, 2i] = sin(p / 10000^(2i/d)),
/// PE[p, 2i+1] = cos(p / 10000^(2i/d)); computed in double, stored as float.
torch::Tensor sinusoidal_positions(std::int64_t length, std::int64_t d_model) {
  torch::Tensor table = torch::zeros({length, d_model});
  auto entries = table.accessor<float, 2>();
  for (std::int64_t position = 0; position < length; ++position) {
    for (std::int64_t i = 0; 2 * i < d_model; ++i) {
      const double angle =
          static_cast<double>(position) / std::pow(10000.0, static_cast<double>(2 * i) / static_cast<double>(d_model));
      entries[position][2 * i] = static_cast<float>(std::sin(angle));
      if (2 * i + 1 < d_model) entries[position][2 * i + 1] = static_cast<float>(std::cos(angle));
    }
  }
  return table;
}

TransformerClassifierImpl::TransformerClassifierImpl(const TransformerOptions& options) {
  embedding_ = register_module("embedding", nn::Embedding(options.vocab, options.d_model));
  // LibTorch's encoder layer wants [sequence, batch, features]; the table broadcasts over the batch.
  positions_ = register_buffer("positions", sinusoidal_positions(options.seq_len, options.d_model).unsqueeze(1));
  // LibTorch 1.13's layer is post-norm with layer-norm epsilon 1e-5 and has no option for either.
  const nn::TransformerEncoderLayer layer(nn::TransformerEncoderLayerOptions(options.d_model, options.heads)
                                              .dim_feedforward(options.ff)
                                              .dropout(0.0)
                                              .activation(torch::kReLU));
  // The encoder clones the layer, and LibTorch's clone re-runs the default initialisation where
  // PyTorch's deepcopy draws nothing: the generator is rewound so that the contract's
  // initialisation draws what PyTorch's does, and the same seed gives the same initial weights.
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  const torch::Tensor state = generator.get_state();
  encoder_ = register_module("encoder", nn::TransformerEncoder(nn::TransformerEncoderOptions(layer, options.layers)));
  generator.set_state(state);
  classifier_ = register_module("classifier", nn::Linear(options.d_model, options.classes));
}

torch::Tensor TransformerClassifierImpl::forward(const torch::Tensor& tokens) {
  const torch::Tensor x = embedding_(tokens.t()) + positions_.narrow(0, 0, tokens.size(1));
  return classifier_(encoder_(x).mean(0));
}

/// The token embedding's standard deviation: PyTorch's default 1; at the NCF paper's 0.01 the
/// tokens would be drowned by the positional encoding (amplitude 1).
constexpr double kTransformerEmbeddingStd = 1.0;

class TransformerWorkload final : public Workload {
 public:
  TransformerWorkload(const Meta& meta, const fs::path& directory, bool training)
      : model_(TransformerOptions{meta.positive("vocab"), meta.positive("seq_len"), meta.positive("d_model"),
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
  void initialise() override { libtorch::initialise(*model_, kTransformerEmbeddingStd); }
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
  TransformerClassifier model_;
  torch::Tensor train_tokens_, train_labels_, test_tokens_, test_labels_;
};

}  // namespace

int run_transformer(const Arguments& arguments) {
  return run(arguments, [](const Meta& meta, const fs::path& directory, bool training) -> std::unique_ptr<Workload> {
    return std::make_unique<TransformerWorkload>(meta, directory, training);
  });
}

}  // namespace joulebench::libtorch

// models.hpp: the three models of the workload contract (workloads/README.md) as LibTorch modules,
// with the contract's initialisation.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace joulebench::libtorch {

struct NcfOptions {
  std::int64_t users = 0;
  std::int64_t items = 0;
  std::int64_t gmf_dim = 8;
  std::int64_t mlp_dim = 16;
  std::vector<std::int64_t> mlp_layers{32, 16, 8};  // the first is 2 * mlp_dim
};

/// NeuMF: a GMF branch (elementwise product of embeddings) and an MLP branch (concatenated
/// embeddings through ReLU layers), concatenated into one logit per (user, item) pair.
class NcfImpl : public torch::nn::Module {
 public:
  explicit NcfImpl(const NcfOptions& options);
  /// users, items: [batch] int64 -> logits [batch].
  torch::Tensor forward(const torch::Tensor& users, const torch::Tensor& items);

 private:
  torch::nn::Embedding gmf_user_{nullptr}, gmf_item_{nullptr}, mlp_user_{nullptr}, mlp_item_{nullptr};
  torch::nn::Sequential mlp_{nullptr};
  torch::nn::Linear output_{nullptr};
};
TORCH_MODULE(Ncf);

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

struct ResNetOptions {
  std::vector<std::int64_t> channels{8, 16, 32};
  std::int64_t classes = 10;
};

/// Basic block: conv-BN-ReLU-conv-BN plus a parameter-free shortcut (2x2 average pool when strided,
/// zero channels appended when widening: the ResNet paper's option A), then ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  std::int64_t added_channels_;
  std::int64_t stride_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
};
TORCH_MODULE(BasicBlock);

/// Stem conv-BN-ReLU, one basic block per stage (strides 1, 2, 2), global average pool, linear.
class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  /// images: [batch, 1, 28, 28] float, normalised -> logits [batch, classes].
  torch::Tensor forward(const torch::Tensor& images);

 private:
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  torch::nn::Sequential stages_{nullptr};
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(ResNet);

/// The embeddings' standard deviation: the NCF paper's 0.01; PyTorch's default 1 for the
/// Transformer, whose tokens would be drowned by the positional encoding (amplitude 1) at 0.01.
inline constexpr double kNcfEmbeddingStd = 0.01;
inline constexpr double kTransformerEmbeddingStd = 1.0;

/// The contract's initialisation, applied to every submodule of `module`: He normal (fan-in, ReLU
/// gain) for linear, convolution and attention projection weights, zero biases, N(0,
/// embedding_std) embeddings, normalisation weights 1 and biases 0.
void initialise(torch::nn::Module& module, double embedding_std);

/// The number of trainable parameters (elements of the parameters that require gradients).
std::int64_t trainable_parameters(const torch::nn::Module& module);

}  // namespace joulebench::libtorch

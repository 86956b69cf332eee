#include "models.hpp"

#include <cmath>
#include <string>

namespace joulebench::libtorch {

namespace nn = torch::nn;

NcfImpl::NcfImpl(const NcfOptions& options) {
  TORCH_CHECK(options.mlp_layers.size() >= 2 && options.mlp_layers.front() == 2 * options.mlp_dim,
              "NCF: mlp_layers must start with 2 * mlp_dim and have at least two entries");
  gmf_user_ = register_module("gmf_user", nn::Embedding(options.users, options.gmf_dim));
  gmf_item_ = register_module("gmf_item", nn::Embedding(options.items, options.gmf_dim));
  mlp_user_ = register_module("mlp_user", nn::Embedding(options.users, options.mlp_dim));
  mlp_item_ = register_module("mlp_item", nn::Embedding(options.items, options.mlp_dim));
  nn::Sequential mlp;
  for (std::size_t i = 0; i + 1 < options.mlp_layers.size(); ++i) {
    mlp->push_back(nn::Linear(options.mlp_layers[i], options.mlp_layers[i + 1]));
    mlp->push_back(nn::ReLU());
  }
  mlp_ = register_module("mlp", mlp);
  output_ = register_module("output", nn::Linear(options.gmf_dim + options.mlp_layers.back(), 1));
}

torch::Tensor NcfImpl::forward(const torch::Tensor& users, const torch::Tensor& items) {
  const torch::Tensor gmf = gmf_user_(users) * gmf_item_(items);
  const torch::Tensor mlp = mlp_->forward(torch::cat({mlp_user_(users), mlp_item_(items)}, 1));
  return output_(torch::cat({gmf, mlp}, 1)).squeeze(1);
}

namespace {

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

}  // namespace

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

BasicBlockImpl::BasicBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride)
    : added_channels_(out_channels - in_channels), stride_(stride) {
  TORCH_CHECK(added_channels_ >= 0, "ResNet: a block cannot narrow its channels with a parameter-free shortcut");
  const auto conv = [](std::int64_t in, std::int64_t out, std::int64_t step) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(step).padding(1).bias(false));
  };
  const auto norm = [](std::int64_t channels) {
    return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).momentum(0.1).eps(1e-5));
  };
  conv1_ = register_module("conv1", conv(in_channels, out_channels, stride));
  bn1_ = register_module("bn1", norm(out_channels));
  conv2_ = register_module("conv2", conv(out_channels, out_channels, 1));
  bn2_ = register_module("bn2", norm(out_channels));
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor residual = bn2_(conv2_(torch::relu(bn1_(conv1_(x)))));
  torch::Tensor shortcut = x;
  if (stride_ != 1) shortcut = torch::avg_pool2d(shortcut, {stride_, stride_}, {stride_, stride_});
  // Zero channels appended after the input's: the sum keeps the input in the first channels.
  if (added_channels_ > 0) shortcut = torch::constant_pad_nd(shortcut, {0, 0, 0, 0, 0, added_channels_});
  return torch::relu(residual + shortcut);
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) {
  TORCH_CHECK(!options.channels.empty(), "ResNet: no stages");
  const std::int64_t first = options.channels.front();
  stem_ = register_module("stem", nn::Conv2d(nn::Conv2dOptions(1, first, 3).padding(1).bias(false)));
  stem_bn_ = register_module("stem_bn", nn::BatchNorm2d(nn::BatchNorm2dOptions(first).momentum(0.1).eps(1e-5)));
  nn::Sequential stages;
  std::int64_t in_channels = first;
  for (std::size_t stage = 0; stage < options.channels.size(); ++stage) {
    const std::int64_t stride = stage == 0 ? 1 : 2;
    stages->push_back(BasicBlock(in_channels, options.channels[stage], stride));
    in_channels = options.channels[stage];
  }
  stages_ = register_module("stages", stages);
  classifier_ = register_module("classifier", nn::Linear(in_channels, options.classes));
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& images) {
  const torch::Tensor features = stages_->forward(torch::relu(stem_bn_(stem_(images))));
  return classifier_(features.mean({2, 3}));
}

void initialise(nn::Module& module, double embedding_std) {
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

std::int64_t trainable_parameters(const nn::Module& module) {
  std::int64_t count = 0;
  for (const auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) count += parameter.numel();
  }
  return count;
}

}  // namespace joulebench::libtorch

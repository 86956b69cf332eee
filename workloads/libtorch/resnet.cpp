// resnet.cpp: the small ResNet (the vision model of workloads/README.md, Fashion-MNIST) in
// LibTorch: the model (basic blocks with parameter-free shortcuts), its data (uint8 images,
// normalised batch by batch), cross-entropy loss and accuracy.
#include <cstdint>
#include <memory>
#include <vector>

#include "common.hpp"
#include "workloads.hpp"

namespace joulebench::libtorch {

namespace {

namespace nn = torch::nn;

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

/// Images stay uint8 in memory and are normalised batch by batch, as every framework does:
/// x = (pixel / 255 - mean) / std, shape [batch, 1, 28, 28].
class ResNetWorkload final : public Workload {
 public:
  ResNetWorkload(const Meta& meta, const fs::path& directory, bool training)
      : model_(ResNetOptions{meta.integers("channels"), meta.positive("classes")}),
        pixel_mean_(meta.number("pixel_mean")),
        pixel_std_(meta.number("pixel_std")) {
    if (!(pixel_std_ > 0)) throw InputError(meta.path() + ": pixel_std must be positive");
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
      throw InputError(directory.string() + ": training and test images differ in size");
    }
  }

  std::shared_ptr<torch::nn::Module> module() override { return model_.ptr(); }
  void initialise() override { libtorch::initialise(*model_, /*embedding_std=*/0.0); }  // it has no embeddings
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

  ResNet model_;
  double pixel_mean_;
  double pixel_std_;
  torch::Tensor train_images_, train_labels_, test_images_, test_labels_;
};

}  // namespace

int run_resnet(const Arguments& arguments) {
  return run(arguments, [](const Meta& meta, const fs::path& directory, bool training) -> std::unique_ptr<Workload> {
    return std::make_unique<ResNetWorkload>(meta, directory, training);
  });
}

}  // namespace joulebench::libtorch

// ncf.cpp: NCF (NeuMF, the recommender of workloads/README.md) in LibTorch: the model, its data
// (training triples, the test users' 100 candidates), loss and HR@10 / NDCG@10.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"
#include "workloads.hpp"

namespace joulebench::libtorch {

namespace {

namespace nn = torch::nn;

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

/// The embeddings' standard deviation: the NCF paper's 0.01.
constexpr double kNcfEmbeddingStd = 0.01;

/// Test "examples" are (user, item) pairs, the unit of the training batch: the test set is
/// test_users x 100 candidates, flattened row by row.
class NcfWorkload final : public Workload {
 public:
  NcfWorkload(const Meta& meta, const fs::path& directory, bool training)
      : model_(NcfOptions{meta.positive("users"), meta.positive("items"), meta.positive("gmf_dim"),
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
  void initialise() override { libtorch::initialise(*model_, kNcfEmbeddingStd); }
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
    return {{"hr@" + std::to_string(top_k_), hit.to(torch::kFloat64).mean().item<double>()},
            {"ndcg@" + std::to_string(top_k_), gain.mean().item<double>()}};
  }

 private:
  Ncf model_;
  std::int64_t top_k_;
  std::int64_t candidates_ = 0;
  torch::Tensor train_users_, train_items_, train_labels_;
  torch::Tensor test_users_, test_items_;
};

}  // namespace

int run_ncf(const Arguments& arguments) {
  return run(arguments, [](const Meta& meta, const fs::path& directory, bool training) -> std::unique_ptr<Workload> {
    return std::make_unique<NcfWorkload>(meta, directory, training);
  });
}

}  // namespace joulebench::libtorch

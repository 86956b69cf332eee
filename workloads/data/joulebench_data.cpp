// joulebench-data: writes the built-in workloads' data sets (workloads/README.md, "Data").
//
// Every byte is a function of (model, size, seed) alone: the generator draws from std::mt19937_64
// (whose output the C++ standard fixes) through draws defined here with IEEE-754 +, -, *, / only.
// Standard library distributions and transcendental functions (std::exp, std::log) are avoided
// because neither is specified to the last bit, and one different bit could change a sample.
#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

/// Bumped whenever the files for an unchanged (model, size, seed) would change.
constexpr int kFormatVersion = 1;

constexpr std::string_view kDefaultFashionMnist = "/usr/share/datasets/fashion-mnist";

/// Bad arguments or missing input data: exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Sizes. Every number here ends up in meta.json; workloads read them from there.

enum class Size { tiny, quick, standard };
constexpr std::array<std::string_view, 3> kSizeNames = {"tiny", "quick", "standard"};

// infer_passes: how many times the infer phase runs the whole test set, so that inference lasts
// long enough to measure (NCF scores a pair in about a microsecond).
struct NcfSize {
  std::int64_t users, items, max_interactions, steps, batch, infer_passes;
  double lr;
};
struct TransformerSize {
  std::int64_t n_train, n_test, steps, batch, infer_passes;
  double lr;
};
struct ResnetSize {
  std::int64_t n_train, n_test, steps, batch, infer_passes;
  double lr;
};

// Tiny: a CI smoke test. Quick: a few seconds a run on 2 cores, each model clearly above chance.
// Standard: a minute or two of training, models near what they can reach.
constexpr std::array<NcfSize, 3> kNcf = {{
    {200, 400, 40, 20, 256, 1, 0.005},
    {1500, 1000, 100, 1000, 256, 8, 0.005},
    {6040, 3706, 400, 20000, 256, 40, 0.001},  // MovieLens-1M's numbers of users and items
}};
constexpr std::array<TransformerSize, 3> kTransformer = {{
    {512, 256, 10, 64, 1, 0.001},
    {8192, 2048, 80, 64, 4, 0.001},
    {65536, 8192, 2000, 64, 12, 0.001},
}};
constexpr std::array<ResnetSize, 3> kResnet = {{
    {512, 256, 8, 64, 1, 0.05},
    {8192, 2000, 60, 64, 3, 0.05},
    {60000, 10000, 1800, 64, 6, 0.05},
}};

// Fixed by the contract (workloads/README.md), the same at every size.
constexpr std::int64_t kNcfMinInteractions = 5;
constexpr std::int64_t kNcfLatentDim = 8;
// Scales the user-item dot product (standard deviation sqrt(8) for unit normals) into affinities.
// At 1, popularity alone reaches HR@10 of about 0.45 and NeuMF about 0.6 after a few epochs, as on
// MovieLens; at 0.5 popularity explains nearly everything.
constexpr double kNcfAffinityScale = 1.0;
constexpr std::int64_t kNcfTrainNegatives = 4;
constexpr std::int64_t kNcfEvalNegatives = 99;
constexpr std::int64_t kSeqLen = 32;
constexpr std::int64_t kVocab = 64;
constexpr std::int64_t kMarkerA = 1;
constexpr std::int64_t kMarkerB = 2;
constexpr std::int64_t kFirstPlainToken = 3;
constexpr std::int64_t kImageSide = 28;

// Every user needs 99 distinct items it never interacted with, and the rejection sampling of its
// interactions needs room to finish quickly.
constexpr bool ncf_sizes_valid() {
  for (const auto& s : kNcf) {
    if (s.max_interactions < kNcfMinInteractions || s.items < 2 * s.max_interactions + kNcfEvalNegatives) return false;
  }
  return true;
}
static_assert(ncf_sizes_valid());

// ---------------------------------------------------------------------------------------------
// Hashing and exactly defined random draws.

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a64(std::span<const unsigned char> bytes, std::uint64_t hash = kFnvOffset) {
  for (unsigned char b : bytes) hash = (hash ^ b) * kFnvPrime;
  return hash;
}

std::uint64_t fnv1a64(std::string_view text) {
  return fnv1a64(std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// One independent stream per purpose ("ncf/data", "ncf/order"), so that changing the number of
/// steps changes order.npy and nothing else.
class Random {
 public:
  Random(std::uint64_t seed, std::string_view stream) : engine_(splitmix64(seed ^ fnv1a64(stream))) {}

  /// Uniform on [0, 1): the top 53 bits of one draw.
  double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// Uniform on {0, ..., n-1} (n > 0), by rejection: no modulo bias.
  std::int64_t below(std::int64_t n) {
    const auto range = static_cast<std::uint64_t>(n);
    const std::uint64_t threshold = (0 - range) % range;  // 2^64 mod n
    for (;;) {
      const std::uint64_t x = engine_();
      if (x >= threshold) return static_cast<std::int64_t>(x % range);
    }
  }

  /// Approximately standard normal: the sum of 12 uniforms minus 6 (mean 0, variance 1), which
  /// needs no logarithm or cosine and so is exact everywhere.
  double normal() {
    double sum = 0.0;
    for (int i = 0; i < 12; ++i) sum += uniform01();
    return sum - 6.0;
  }

 private:
  std::mt19937_64 engine_;
};

/// exp(x) from +, * and / only: the Taylor series of exp(x / 1024), squared ten times. Relative
/// error below 1e-12 for |x| up to a few hundred (affinities stay within about +-20).
double exact_exp(double x) {
  const double y = x / 1024.0;
  double term = 1.0;
  double sum = 1.0;
  for (int k = 1; k <= 12; ++k) {
    term = term * y / static_cast<double>(k);
    sum += term;
  }
  for (int i = 0; i < 10; ++i) sum *= sum;
  return sum;
}

/// epochs x n_train: row e is a Fisher-Yates permutation of 0..n_train-1.
std::vector<std::int64_t> make_order(std::int64_t epochs, std::int64_t n_train, Random& rng) {
  std::vector<std::int64_t> order;
  order.reserve(static_cast<std::size_t>(epochs * n_train));
  std::vector<std::int64_t> row(static_cast<std::size_t>(n_train));
  for (std::int64_t e = 0; e < epochs; ++e) {
    for (std::int64_t i = 0; i < n_train; ++i) row[i] = i;
    for (std::int64_t i = n_train - 1; i > 0; --i) std::swap(row[i], row[rng.below(i + 1)]);
    order.insert(order.end(), row.begin(), row.end());
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// Output: .npy files, meta.json and manifest.json in a directory being written.

template <class T>
constexpr std::string_view npy_descr() {
  if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
  if constexpr (std::is_same_v<T, float>) return "<f4";
  if constexpr (std::is_same_v<T, std::uint8_t>) return "|u1";
}

/// Little-endian bytes of each value, whatever the machine's byte order.
template <class T>
void append_little_endian(std::vector<unsigned char>& bytes, T value) {
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t,
                                  std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint8_t>>;
  auto bits = std::bit_cast<Bits>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    bytes.push_back(static_cast<unsigned char>(bits & 0xffU));
    if constexpr (sizeof(T) > 1) bits = static_cast<Bits>(bits >> 8);
  }
}

class OutputDirectory {
 public:
  explicit OutputDirectory(fs::path dir) : dir_(std::move(dir)) {}

  /// An .npy version 1.0 file, C order, the header padded so the data starts at a multiple of 64.
  template <class T>
  void write_npy(const std::string& name, std::span<const std::int64_t> shape, const std::vector<T>& values) {
    std::string shape_text = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) shape_text += fmt::format("{}, ", shape[i]);
    if (shape.size() > 1) shape_text.resize(shape_text.size() - 2);
    else shape_text.resize(shape_text.size() - 1);
    shape_text += ")";
    std::string header =
        fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", npy_descr<T>(), shape_text);
    constexpr std::size_t kPrefix = 10;  // magic (6), version (2), header length (2)
    const std::size_t padded = (kPrefix + header.size() + 1 + 63) / 64 * 64;
    header.append(padded - kPrefix - header.size() - 1, ' ');
    header += '\n';

    std::vector<unsigned char> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    append_little_endian(bytes, static_cast<std::uint8_t>(header.size() & 0xffU));
    append_little_endian(bytes, static_cast<std::uint8_t>(header.size() >> 8));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.reserve(bytes.size() + values.size() * sizeof(T));
    for (const T& v : values) append_little_endian(bytes, v);
    write_file(name, bytes);
  }

  void write_text(const std::string& name, const std::string& text) {
    write_file(name, std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
  }

  /// Written last: its presence marks the directory complete.
  void write_manifest(std::uint64_t recipe_hash) {
    json files = json::array();
    for (const auto& f : files_) files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"fnv1a64", hex(f.hash)}});
    const json manifest = {{"format_version", kFormatVersion}, {"recipe_fnv1a64", hex(recipe_hash)}, {"files", files}};
    write_text("manifest.json", manifest.dump(2) + "\n");
  }

  static std::string hex(std::uint64_t value) { return fmt::format("{:016x}", value); }

 private:
  struct Entry {
    std::string name;
    std::uint64_t bytes;
    std::uint64_t hash;
  };

  void write_file(const std::string& name, std::span<const unsigned char> bytes) {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    files_.push_back({name, bytes.size(), fnv1a64(bytes)});
  }

  fs::path dir_;
  std::vector<Entry> files_;
};

std::int64_t epochs_for(std::int64_t steps, std::int64_t n_train, std::int64_t batch) {
  const std::int64_t batches_per_epoch = n_train / batch;
  if (batches_per_epoch < 1) throw std::logic_error("fewer training examples than one batch");
  return (steps + batches_per_epoch - 1) / batches_per_epoch;
}

/// The keys every model's meta.json shares.
json common_meta(std::string_view model, Size size, std::uint64_t seed, std::int64_t steps, std::int64_t batch,
                 std::int64_t infer_passes, double lr, bool adam, std::string_view metric) {
  return {{"format_version", kFormatVersion},
          {"model", model},
          {"size", kSizeNames[static_cast<std::size_t>(size)]},
          {"seed", seed},
          {"steps", steps},
          {"batch", batch},
          {"infer_passes", infer_passes},
          {"lr", lr},
          {"optimizer", adam ? "adam" : "sgd"},
          {"momentum", adam ? 0.0 : 0.9},
          {"weight_decay", adam ? 0.0 : 5e-4},
          {"metric", metric}};
}

// ---------------------------------------------------------------------------------------------
// The three data sets. Each returns its meta.json (n_train, n_test and epochs filled in).

json generate_ncf(Size size, std::uint64_t seed, OutputDirectory& out) {
  const NcfSize& s = kNcf[static_cast<std::size_t>(size)];
  Random rng(seed, "ncf/data");
  const auto users = static_cast<std::size_t>(s.users);
  const auto items = static_cast<std::size_t>(s.items);
  const auto dim = static_cast<std::size_t>(kNcfLatentDim);

  std::vector<double> user_vectors(users * dim);
  std::vector<double> item_vectors(items * dim);
  for (double& v : user_vectors) v = rng.normal();
  for (double& v : item_vectors) v = rng.normal();

  std::vector<std::int64_t> train_users, train_items, test_users, test_items;
  std::vector<float> train_labels;
  std::vector<double> cumulative(items + 1);
  std::vector<char> interacted(items, 0);
  std::vector<char> picked(items, 0);
  std::vector<std::int64_t> sequence;
  for (std::size_t u = 0; u < users; ++u) {
    // Zipf popularity (exponent 1, item 0 the most popular) times exp(affinity).
    cumulative[0] = 0.0;
    for (std::size_t i = 0; i < items; ++i) {
      double dot = 0.0;
      for (std::size_t d = 0; d < dim; ++d) dot += user_vectors[u * dim + d] * item_vectors[i * dim + d];
      const double weight = exact_exp(kNcfAffinityScale * dot) / static_cast<double>(i + 1);
      cumulative[i + 1] = cumulative[i] + weight;
    }

    // A Pareto tail with exponent 1 (P(count >= k) = 5 / k), capped.
    const double draw = static_cast<double>(kNcfMinInteractions) / (1.0 - rng.uniform01());
    const std::int64_t count =
        draw >= static_cast<double>(s.max_interactions) ? s.max_interactions : static_cast<std::int64_t>(draw);

    // Without replacement, in the order drawn: the last draw is the held-out item.
    sequence.clear();
    while (static_cast<std::int64_t>(sequence.size()) < count) {
      const double target = rng.uniform01() * cumulative[items];
      auto it = std::upper_bound(cumulative.begin() + 1, cumulative.end(), target);
      const auto item = std::min<std::size_t>(static_cast<std::size_t>(it - (cumulative.begin() + 1)), items - 1);
      if (interacted[item]) continue;
      interacted[item] = 1;
      sequence.push_back(static_cast<std::int64_t>(item));
    }

    const auto user = static_cast<std::int64_t>(u);
    auto draw_unseen = [&] {
      for (;;) {
        const std::int64_t item = rng.below(s.items);
        if (!interacted[item]) return item;
      }
    };
    for (std::size_t p = 0; p + 1 < sequence.size(); ++p) {
      train_users.push_back(user);
      train_items.push_back(sequence[p]);
      train_labels.push_back(1.0F);
      for (std::int64_t n = 0; n < kNcfTrainNegatives; ++n) {
        train_users.push_back(user);
        train_items.push_back(draw_unseen());
        train_labels.push_back(0.0F);
      }
    }
    test_users.push_back(user);
    test_items.push_back(sequence.back());
    std::vector<std::int64_t> negatives;
    while (static_cast<std::int64_t>(negatives.size()) < kNcfEvalNegatives) {
      const std::int64_t item = draw_unseen();
      if (picked[item]) continue;
      picked[item] = 1;
      negatives.push_back(item);
    }
    test_items.insert(test_items.end(), negatives.begin(), negatives.end());
    for (std::int64_t item : negatives) picked[item] = 0;
    for (std::int64_t item : sequence) interacted[item] = 0;
  }

  const auto n_train = static_cast<std::int64_t>(train_users.size());
  const std::int64_t epochs = epochs_for(s.steps, n_train, s.batch);
  Random order_rng(seed, "ncf/order");
  const std::vector<std::int64_t> order = make_order(epochs, n_train, order_rng);

  const std::array<std::int64_t, 1> train_shape = {n_train};
  out.write_npy("train_users.npy", train_shape, train_users);
  out.write_npy("train_items.npy", train_shape, train_items);
  out.write_npy("train_labels.npy", train_shape, train_labels);
  out.write_npy("test_users.npy", std::array<std::int64_t, 1>{s.users}, test_users);
  out.write_npy("test_items.npy", std::array<std::int64_t, 2>{s.users, 1 + kNcfEvalNegatives}, test_items);
  out.write_npy("order.npy", std::array<std::int64_t, 2>{epochs, n_train}, order);

  json meta = common_meta("ncf", size, seed, s.steps, s.batch, s.infer_passes, s.lr, true, "hr@10");
  meta["n_train"] = n_train;
  meta["n_test"] = s.users;
  meta["epochs"] = epochs;
  meta["users"] = s.users;
  meta["items"] = s.items;
  meta["min_interactions"] = kNcfMinInteractions;
  meta["max_interactions"] = s.max_interactions;
  meta["gmf_dim"] = 8;
  meta["mlp_dim"] = 16;
  meta["mlp_layers"] = {32, 16, 8};
  meta["train_negatives"] = kNcfTrainNegatives;
  meta["eval_negatives"] = kNcfEvalNegatives;
  meta["top_k"] = 10;
  return meta;
}

json generate_transformer(Size size, std::uint64_t seed, OutputDirectory& out) {
  const TransformerSize& s = kTransformer[static_cast<std::size_t>(size)];
  Random rng(seed, "transformer/data");
  auto make = [&](std::int64_t n, std::vector<std::int64_t>& tokens, std::vector<std::int64_t>& labels) {
    for (std::int64_t e = 0; e < n; ++e) {
      const std::int64_t label = rng.below(4);
      std::array<std::int64_t, kSeqLen> sequence{};
      for (auto& token : sequence) token = kFirstPlainToken + rng.below(kVocab - kFirstPlainToken);
      const std::int64_t p = rng.below(kSeqLen);
      std::int64_t q = rng.below(kSeqLen - 1);
      if (q >= p) ++q;
      // The class is (first marker, second marker) in position order: AA 0, AB 1, BA 2, BB 3.
      sequence[std::min(p, q)] = label < 2 ? kMarkerA : kMarkerB;
      sequence[std::max(p, q)] = label % 2 == 0 ? kMarkerA : kMarkerB;
      tokens.insert(tokens.end(), sequence.begin(), sequence.end());
      labels.push_back(label);
    }
  };
  std::vector<std::int64_t> train_tokens, train_labels, test_tokens, test_labels;
  make(s.n_train, train_tokens, train_labels);
  make(s.n_test, test_tokens, test_labels);

  const std::int64_t epochs = epochs_for(s.steps, s.n_train, s.batch);
  Random order_rng(seed, "transformer/order");
  const std::vector<std::int64_t> order = make_order(epochs, s.n_train, order_rng);

  out.write_npy("train_tokens.npy", std::array<std::int64_t, 2>{s.n_train, kSeqLen}, train_tokens);
  out.write_npy("train_labels.npy", std::array<std::int64_t, 1>{s.n_train}, train_labels);
  out.write_npy("test_tokens.npy", std::array<std::int64_t, 2>{s.n_test, kSeqLen}, test_tokens);
  out.write_npy("test_labels.npy", std::array<std::int64_t, 1>{s.n_test}, test_labels);
  out.write_npy("order.npy", std::array<std::int64_t, 2>{epochs, s.n_train}, order);

  json meta = common_meta("transformer", size, seed, s.steps, s.batch, s.infer_passes, s.lr, true, "accuracy");
  meta["n_train"] = s.n_train;
  meta["n_test"] = s.n_test;
  meta["epochs"] = epochs;
  meta["vocab"] = kVocab;
  meta["seq_len"] = kSeqLen;
  meta["d_model"] = 64;
  meta["heads"] = 4;
  meta["ff"] = 128;
  meta["layers"] = 2;
  meta["classes"] = 4;
  return meta;
}

/// An IDX file (big-endian header: magic, counts, then unsigned bytes), gzip-compressed.
class IdxReader {
 public:
  IdxReader(const fs::path& path, std::uint32_t magic) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      throw UsageError(
          fmt::format("cannot open {}: {} (Fashion-MNIST: install dataset-fashion-mnist, or pass "
                      "--fashion-mnist DIR)",
                      path.string(), std::strerror(errno)));
    }
    if (read_u32() != magic)
      throw std::runtime_error(fmt::format("{} is not an IDX file of the expected kind", path.string()));
  }
  ~IdxReader() { gzclose(file_); }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  std::uint32_t read_u32() {
    std::array<unsigned char, 4> b{};
    read(b.data(), b.size());
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
  }

  void read(unsigned char* data, std::size_t size) {
    while (size > 0) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(size, 1U << 30));
      const int got = gzread(file_, data, chunk);
      if (got <= 0) throw std::runtime_error(fmt::format("{} is truncated or damaged", path_.string()));
      data += got;
      size -= static_cast<std::size_t>(got);
    }
  }

 private:
  fs::path path_;
  gzFile file_ = nullptr;
};

std::vector<std::uint8_t> read_idx_images(const fs::path& path, std::int64_t n) {
  IdxReader reader(path, 0x00000803);
  const std::uint32_t count = reader.read_u32();
  const std::uint32_t rows = reader.read_u32();
  const std::uint32_t cols = reader.read_u32();
  if (rows != kImageSide || cols != kImageSide || count < n) {
    throw std::runtime_error(fmt::format("{}: {} images of {}x{}, wanted {} of {}x{}", path.string(), count, rows, cols,
                                         n, kImageSide, kImageSide));
  }
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(n * kImageSide * kImageSide));
  reader.read(pixels.data(), pixels.size());
  return pixels;
}

std::vector<std::int64_t> read_idx_labels(const fs::path& path, std::int64_t n) {
  IdxReader reader(path, 0x00000801);
  const std::uint32_t count = reader.read_u32();
  if (count < n) throw std::runtime_error(fmt::format("{}: {} labels, wanted {}", path.string(), count, n));
  std::vector<unsigned char> raw(static_cast<std::size_t>(n));
  reader.read(raw.data(), raw.size());
  return {raw.begin(), raw.end()};
}

json generate_resnet(Size size, std::uint64_t seed, const fs::path& fashion_mnist, OutputDirectory& out) {
  const ResnetSize& s = kResnet[static_cast<std::size_t>(size)];
  const auto train_images = read_idx_images(fashion_mnist / "train-images-idx3-ubyte.gz", s.n_train);
  const auto train_labels = read_idx_labels(fashion_mnist / "train-labels-idx1-ubyte.gz", s.n_train);
  const auto test_images = read_idx_images(fashion_mnist / "t10k-images-idx3-ubyte.gz", s.n_test);
  const auto test_labels = read_idx_labels(fashion_mnist / "t10k-labels-idx1-ubyte.gz", s.n_test);

  const std::int64_t epochs = epochs_for(s.steps, s.n_train, s.batch);
  Random order_rng(seed, "resnet/order");
  const std::vector<std::int64_t> order = make_order(epochs, s.n_train, order_rng);

  out.write_npy("train_images.npy", std::array<std::int64_t, 3>{s.n_train, kImageSide, kImageSide}, train_images);
  out.write_npy("train_labels.npy", std::array<std::int64_t, 1>{s.n_train}, train_labels);
  out.write_npy("test_images.npy", std::array<std::int64_t, 3>{s.n_test, kImageSide, kImageSide}, test_images);
  out.write_npy("test_labels.npy", std::array<std::int64_t, 1>{s.n_test}, test_labels);
  out.write_npy("order.npy", std::array<std::int64_t, 2>{epochs, s.n_train}, order);

  json meta = common_meta("resnet", size, seed, s.steps, s.batch, s.infer_passes, s.lr, false, "accuracy");
  meta["n_train"] = s.n_train;
  meta["n_test"] = s.n_test;
  meta["epochs"] = epochs;
  meta["channels"] = {8, 16, 32};
  meta["classes"] = 10;
  meta["pixel_mean"] = 0.2860;
  meta["pixel_std"] = 0.3530;
  return meta;
}

// ---------------------------------------------------------------------------------------------
// Directories: complete ones are reused; new ones are written beside and renamed into place, so a
// directory under its final name is always complete, even with two generators racing.

/// Everything that decides the files' contents, so a directory made by a generator with other
/// sizes is noticed and replaced.
std::uint64_t recipe_hash(std::string_view model, Size size, std::uint64_t seed) {
  const auto i = static_cast<std::size_t>(size);
  std::string recipe =
      fmt::format("joulebench-data format {} {} {} seed {}: ", kFormatVersion, model, kSizeNames[i], seed);
  if (model == "ncf") {
    const auto& s = kNcf[i];
    recipe += fmt::format("{} {} {} {} {} {} {} {} {}", s.users, s.items, s.max_interactions, s.steps, s.batch,
                          s.infer_passes, s.lr, kNcfAffinityScale, kNcfMinInteractions);
  } else if (model == "transformer") {
    const auto& s = kTransformer[i];
    recipe += fmt::format("{} {} {} {} {} {}", s.n_train, s.n_test, s.steps, s.batch, s.infer_passes, s.lr);
  } else {
    const auto& s = kResnet[i];
    recipe += fmt::format("{} {} {} {} {} {}", s.n_train, s.n_test, s.steps, s.batch, s.infer_passes, s.lr);
  }
  return fnv1a64(recipe);
}

/// Whether dir holds a manifest for this recipe and every file it lists, with the listed size.
bool complete(const fs::path& dir, std::uint64_t recipe) {
  std::ifstream in(dir / "manifest.json");
  if (!in) return false;
  try {
    const json manifest = json::parse(in);
    if (manifest.at("recipe_fnv1a64").get<std::string>() != OutputDirectory::hex(recipe)) return false;
    for (const auto& f : manifest.at("files")) {
      std::error_code ec;
      const auto bytes = fs::file_size(dir / f.at("name").get<std::string>(), ec);
      if (ec || bytes != f.at("bytes").get<std::uint64_t>()) return false;
    }
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

fs::path generate(std::string_view model, Size size, std::uint64_t seed, const fs::path& out_dir,
                  const fs::path& fashion_mnist) {
  const fs::path final_dir =
      out_dir / fmt::format("{}-{}-seed{}", model, kSizeNames[static_cast<std::size_t>(size)], seed);
  const std::uint64_t recipe = recipe_hash(model, size, seed);
  if (complete(final_dir, recipe)) return final_dir;

  fs::create_directories(out_dir);
  const fs::path staging = out_dir / fmt::format(".{}.partial-{}", final_dir.filename().string(), ::getpid());
  fs::remove_all(staging);
  fs::create_directory(staging);
  try {
    OutputDirectory out(staging);
    json meta;
    if (model == "ncf") meta = generate_ncf(size, seed, out);
    else if (model == "transformer") meta = generate_transformer(size, seed, out);
    else meta = generate_resnet(size, seed, fashion_mnist, out);
    out.write_text("meta.json", meta.dump(2) + "\n");
    out.write_manifest(recipe);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }

  if (fs::exists(final_dir)) {
    if (complete(final_dir, recipe)) {  // another generator finished first
      fs::remove_all(staging);
      return final_dir;
    }
    std::fprintf(stderr, "joulebench-data: replacing %s (incomplete or from another version)\n", final_dir.c_str());
    fs::remove_all(final_dir);
  }
  std::error_code ec;
  fs::rename(staging, final_dir, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    if (!complete(final_dir, recipe))
      throw fs::filesystem_error("cannot move the data into place", staging, final_dir, ec);
  }
  return final_dir;
}

// ---------------------------------------------------------------------------------------------

constexpr std::string_view kUsage =
    "usage: joulebench-data --model ncf|transformer|resnet|all --size tiny|quick|standard --seed N --out DIR\n"
    "                       [--fashion-mnist DIR]\n"
    "Writes DIR/<model>-<size>-seed<N>/ (reused when already complete) and prints its path.\n"
    "--fashion-mnist: where the Fashion-MNIST .gz files are (default /usr/share/datasets/fashion-mnist)\n";

struct Options {
  std::vector<std::string> models;
  Size size = Size::quick;
  std::uint64_t seed = 0;
  fs::path out;
  fs::path fashion_mnist{std::string(kDefaultFashionMnist)};
};

std::uint64_t parse_seed(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(fmt::format("--seed wants a non-negative integer below 10^19, not '{}'", text));
  }
  return std::stoull(text);
}

Options parse(std::span<char*> args) {
  Options options;
  std::optional<std::string> model, size, seed;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      std::exit(0);
    }
    constexpr std::array<std::string_view, 5> kFlags = {"--model", "--size", "--seed", "--out", "--fashion-mnist"};
    if (std::find(kFlags.begin(), kFlags.end(), arg) == kFlags.end()) {
      throw UsageError(fmt::format("unknown argument '{}'", arg));
    }
    if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", arg));
    const std::string value = args[++i];
    if (arg == "--model") model = value;
    else if (arg == "--size") size = value;
    else if (arg == "--seed") seed = value;
    else if (arg == "--out") options.out = value;
    else options.fashion_mnist = value;
  }
  if (!model || !size || !seed || options.out.empty())
    throw UsageError("--model, --size, --seed and --out are required");

  if (*model == "all") options.models = {"ncf", "transformer", "resnet"};
  else if (*model == "ncf" || *model == "transformer" || *model == "resnet") options.models = {*model};
  else throw UsageError(fmt::format("--model wants ncf, transformer, resnet or all, not '{}'", *model));

  const auto found = std::find(kSizeNames.begin(), kSizeNames.end(), *size);
  if (found == kSizeNames.end()) throw UsageError(fmt::format("--size wants tiny, quick or standard, not '{}'", *size));
  options.size = static_cast<Size>(found - kSizeNames.begin());
  options.seed = parse_seed(*seed);
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(std::span(argv + 1, static_cast<std::size_t>(argc - 1)));
    for (const auto& model : options.models) {
      const fs::path dir = generate(model, options.size, options.seed, options.out, options.fashion_mnist);
      std::printf("%s\n", dir.c_str());
    }
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "joulebench-data: %s\n", e.what());
    if (argc <= 1) std::fputs(kUsage.data(), stderr);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "joulebench-data: %s\n", e.what());
    return 1;
  }
}

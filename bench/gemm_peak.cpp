// The machine's float32 matrix-multiply limit through OpenBLAS (the BLAS LibTorch, PyTorch and dlib
// call here): cblas_sgemm at each thread count, on square sizes and on the shapes the built-in
// workloads' layers multiply, best and median of several repetitions. A GEMM of m x k by k x n
// counts 2 m n k floating-point operations. The best square figure is the peak that
// bench/workload_throughput.sh divides the workloads' achieved FLOP/s by.
//
//   build-bench/bench/gemm_peak [--threads 1,2] [--repetitions 5] [--min-time 0.2] [--csv]
#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "joulebench/units.hpp"

namespace {

using joulebench::Clock;
using joulebench::Seconds;

/// C[m, n] = A[m, k] x B[n, k]^T, row-major: nn.Linear's x W^T, where W is [out, in].
struct Shape {
  std::string name;
  int m;
  int n;
  int k;
};

/// Squares, then the workloads' own GEMMs at quick size (workloads/README.md; batch 256 for NCF and
/// 64 for the others). The Transformer multiplies all 64 x 32 tokens at once; a convolution, as
/// im2col, is [out channels] x [output pixels] x [in channels x 9] per image (oneDNN blocks it
/// differently, but this is the work's shape).
std::vector<Shape> shapes() {
  return {
      {"square", 256, 256, 256},
      {"square", 512, 512, 512},
      {"square", 1024, 1024, 1024},
      {"square", 2048, 2048, 2048},
      {"ncf mlp 32->16", 256, 16, 32},
      {"ncf mlp 16->8", 256, 8, 16},
      {"ncf output 16->1", 256, 1, 16},
      {"transformer in-proj", 2048, 192, 64},
      {"transformer out-proj", 2048, 64, 64},
      {"transformer ff 64->128", 2048, 128, 64},
      {"transformer ff 128->64", 2048, 64, 128},
      {"transformer scores (per head)", 32, 32, 16},
      {"resnet stage-1 conv (per image)", 8, 784, 72},
      {"resnet stage-3 conv2 (per image)", 32, 49, 288},
  };
}

double flops_per_gemm(const Shape& shape) { return 2.0 * shape.m * shape.n * shape.k; }

struct Result {
  double best_gflops;
  double median_gflops;
};

/// Random operands in [-1, 1): no denormals, no zeros a BLAS could shortcut.
std::vector<float> operand(std::size_t size, std::mt19937_64& engine) {
  std::uniform_real_distribution<float> uniform(-1.0F, 1.0F);
  std::vector<float> values(size);
  for (float& value : values) value = uniform(engine);
  return values;
}

Result measure(const Shape& shape, int repetitions, Seconds min_time, std::mt19937_64& engine) {
  const auto m = static_cast<std::size_t>(shape.m);
  const auto n = static_cast<std::size_t>(shape.n);
  const auto k = static_cast<std::size_t>(shape.k);
  const std::vector<float> a = operand(m * k, engine);
  const std::vector<float> b = operand(n * k, engine);
  std::vector<float> c(m * n);
  const auto gemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, shape.m, shape.n, shape.k, 1.0F, a.data(), shape.k, b.data(),
                shape.k, 0.0F, c.data(), shape.n);
  };
  // Calibration (also the warm-up): double the calls until one batch lasts min_time.
  std::int64_t calls = 1;
  for (;;) {
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < calls; ++i) gemm();
    if (Seconds(Clock::now() - start) >= min_time) break;
    calls *= 2;
  }
  std::vector<double> gflops;
  for (int repetition = 0; repetition < repetitions; ++repetition) {
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < calls; ++i) gemm();
    const Seconds elapsed = Clock::now() - start;
    gflops.push_back(flops_per_gemm(shape) * static_cast<double>(calls) / elapsed.count() * 1e-9);
  }
  std::sort(gflops.begin(), gflops.end());
  const std::size_t middle = gflops.size() / 2;
  const double median = gflops.size() % 2 == 1 ? gflops[middle] : (gflops[middle - 1] + gflops[middle]) / 2;
  return {gflops.back(), median};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Peak float32 GEMM throughput through OpenBLAS's cblas_sgemm"};
  std::vector<int> thread_counts{1, 2};
  int repetitions = 5;
  double min_seconds = 0.2;
  bool csv = false;
  app.add_option("--threads", thread_counts, "OpenBLAS thread counts, e.g. 1,2")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  app.add_option("--repetitions", repetitions, "timed repetitions per shape and thread count")
      ->check(CLI::Range(1, 1000));
  app.add_option("--min-time", min_seconds, "seconds each repetition lasts at least")->check(CLI::Range(0.001, 60.0));
  app.add_flag("--csv", csv, "CSV: shape,m,n,k,threads,best_gflops,median_gflops");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // CLI11 exits 0 for --help and 106-ish codes for errors; the project's convention is 2.
    const int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }

  std::mt19937_64 engine(42);
  if (csv) {
    fmt::print("shape,m,n,k,threads,best_gflops,median_gflops\n");
  } else {
    fmt::print("OpenBLAS {} (core {}); C = A x B^T, row-major; GFLOP/s = 2 m n k / time; {} repetitions of >= {} s\n",
               openblas_get_config(), openblas_get_corename(), repetitions, min_seconds);
    fmt::print("{:<34} {:>5} {:>5} {:>5} {:>8} {:>10} {:>10}\n", "shape", "m", "n", "k", "threads", "best", "median");
  }
  for (const int threads : thread_counts) {
    openblas_set_num_threads(threads);
    for (const Shape& shape : shapes()) {
      const Result result = measure(shape, repetitions, Seconds(min_seconds), engine);
      if (csv) {
        fmt::print("\"{}\",{},{},{},{},{:.3f},{:.3f}\n", shape.name, shape.m, shape.n, shape.k, threads,
                   result.best_gflops, result.median_gflops);
      } else {
        fmt::print("{:<34} {:>5} {:>5} {:>5} {:>8} {:>10.2f} {:>10.2f}\n", shape.name, shape.m, shape.n, shape.k,
                   threads, result.best_gflops, result.median_gflops);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}

// Data sets shared by the statistics tests and by the scripts that print their reference values
// (tests/reference/stats_reference.R and .py hold twins of these generators). Every value is an
// exact binary fraction, so C++, R and Python hold the same doubles.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace joulebench::stats::testdata {

/// Park-Miller minimal standard generator: s <- 16807 s mod (2^31 - 1).
inline std::vector<double> park_miller(std::int64_t seed, std::size_t n) {
  std::vector<double> values(n);
  std::int64_t s = seed;
  for (auto& v : values) {
    s = (16807 * s) % 2147483647;
    v = static_cast<double>(s);
  }
  return values;
}

/// Roughly normal: centre + scale * (sum of 12 uniform 20-bit integers - 6 * 2^20) / 2^20.
inline std::vector<double> normalish(std::int64_t seed, std::size_t n, double centre, double scale) {
  const std::vector<double> u = park_miller(seed, 12 * n);
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0;
    for (std::size_t k = 0; k < 12; ++k) sum += std::fmod(u[12 * i + k], 1048576.0);
    values[i] = centre + scale * ((sum - 6 * 1048576.0) / 1048576.0);
  }
  return values;
}

/// Right-skewed: centre + scale * u^2, u uniform on [0, 1) with 20 bits.
inline std::vector<double> skewed(std::int64_t seed, std::size_t n, double centre, double scale) {
  std::vector<double> values = park_miller(seed, n);
  for (auto& v : values) {
    const double u = std::fmod(v, 1048576.0) / 1048576.0;
    v = centre + scale * u * u;
  }
  return values;
}

/// Ties: values rounded down to a multiple of 1/4.
inline std::vector<double> quartered(std::vector<double> values) {
  for (auto& v : values) v = std::floor(v * 4) / 4;
  return values;
}

/// |actual - expected| <= relative |expected|, with both numbers in the failure message.
inline ::testing::AssertionResult near_relative(double actual, double expected, double relative) {
  if (std::abs(actual - expected) <= relative * std::abs(expected)) return ::testing::AssertionSuccess();
  char buffer[200];
  std::snprintf(buffer, sizeof buffer, "actual %.17g, expected %.17g, relative error %.3g > %.3g", actual, expected,
                std::abs(actual - expected) / std::abs(expected), relative);
  return ::testing::AssertionFailure() << buffer;
}

}  // namespace joulebench::stats::testdata

// The bootstrap's random numbers, defined to the bit so that a seed gives the same interval on
// every platform and standard library: xoshiro256** (Blackman and Vigna, 2018) seeded by
// splitmix64, and bounded integers by Lemire's multiply-shift with rejection (2019). The
// standard library's distributions are implementation-defined and are not used.
#pragma once

#include <array>
#include <cstdint>

namespace joulebench::stats::detail {

/// splitmix64 (Steele, Lea and Flood, 2014), as Vigna's reference code.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Xoshiro256StarStar {
 public:
  /// The state is the first four outputs of splitmix64 started at the seed (Vigna's advice).
  explicit Xoshiro256StarStar(std::uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }
  /// A generator in a given state, for checking against the reference implementation's outputs.
  static Xoshiro256StarStar from_state(const std::array<std::uint64_t, 4>& state) {
    Xoshiro256StarStar rng(0);
    rng.s_ = state;
    return rng;
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform on [0, range), range > 0: the high word of next() * range, rejecting the low words
  /// below 2^64 mod range so that every value is exactly equally likely.
  std::uint64_t below(std::uint64_t range) {
    __extension__ using Wide = unsigned __int128;
    Wide product = static_cast<Wide>(next()) * range;
    auto low = static_cast<std::uint64_t>(product);
    if (low < range) {
      const std::uint64_t threshold = (0 - range) % range;
      while (low < threshold) {
        product = static_cast<Wide>(next()) * range;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

}  // namespace joulebench::stats::detail

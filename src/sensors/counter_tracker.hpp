// Turns successive raw reads of a hardware energy counter into accumulated counts: corrects wraps
// (when the counter has a known modulus), refuses decreases it cannot explain, and says which
// intervals could not be measured. Shared by every counter-based source.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "joulebench/units.hpp"

namespace joulebench::detail {

class CounterTracker {
 public:
  static constexpr Seconds kUpdateSlack{0.01};

  struct Update {
    bool counted = true;
    std::string_view problem;
  };

  /// `wrap_modulus`: the counter runs modulo this value (nothing: it never wraps).
  /// `max_counts_per_second`: a decrease is taken as a wrap only if the implied increase fits.
  explicit CounterTracker(std::optional<std::uint64_t> wrap_modulus = std::nullopt,
                          double max_counts_per_second = std::numeric_limits<double>::infinity())
      : modulus_(wrap_modulus), max_rate_(max_counts_per_second) {}

  /// Counts accumulated over every measured interval so far.
  std::uint64_t total() const { return total_; }

  /// Feeds one read (nothing if the read failed) taken at `now`.
  Update update(std::optional<std::uint64_t> raw, Clock::time_point now) {
    if (!raw || (modulus_ && *raw > *modulus_)) {
      primed_ = false;
      ever_failed_ = true;
      return {false, raw ? "counter value above its range" : "counter could not be read"};
    }
    if (!primed_) {
      primed_ = true;
      last_ = *raw;
      last_time_ = now;
      // The very first read only sets the baseline; a later re-baseline loses an interval.
      if (ever_failed_) return {false, "counter readable again: the interval before is lost"};
      return {};
    }
    std::uint64_t delta = 0;
    if (*raw >= last_) {
      delta = *raw - last_;
    } else if (modulus_) {
      delta = *modulus_ - last_ + *raw;
      // Hardware counters advance in steps (RAPL about every millisecond), so a short interval
      // can hold a whole step: the allowance includes one update period of slack.
      const double seconds = Seconds(now - last_time_).count() + kUpdateSlack.count();
      if (static_cast<double>(delta) > max_rate_ * seconds) {
        rebase(*raw, now);
        return {false, "counter went backwards without a plausible wrap"};
      }
    } else {
      rebase(*raw, now);
      return {false, "counter went backwards"};
    }
    total_ += delta;
    rebase(*raw, now);
    return {};
  }

 private:
  void rebase(std::uint64_t raw, Clock::time_point now) {
    last_ = raw;
    last_time_ = now;
  }

  std::optional<std::uint64_t> modulus_;
  double max_rate_;
  std::uint64_t total_ = 0;
  std::uint64_t last_ = 0;
  Clock::time_point last_time_{};
  bool primed_ = false;
  bool ever_failed_ = false;
};

}  // namespace joulebench::detail

// Turns successive raw reads of a hardware energy counter into accumulated counts: corrects wraps
// (when the counter has a known modulus), refuses steps no device could have drawn and decreases
// it cannot explain, says which intervals could not be measured, and remembers since when the
// counter has not moved. Shared by every counter-based source.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "joulebench/units.hpp"

namespace joulebench::detail {

class CounterTracker {
 public:
  /// Hardware counters advance in steps, so a short interval can hold a whole step: every
  /// plausibility check allows one update period of slack. RAPL updates about every millisecond.
  static constexpr Seconds kRaplUpdateSlack{0.01};

  struct Update {
    bool counted = true;
    std::string_view problem;  ///< valid until the next update
    Clock::time_point unchanged_since{};
  };

  /// A counter with no ceiling and no wrap (tests; sources always state both).
  CounterTracker() = default;
  /// `joules_per_count`: the counter's unit. `ceiling`: the most the device can draw; a step
  /// implying more than that over its interval plus `update_slack` is a glitch. `wrap_modulus`:
  /// the counter runs modulo this value (nothing: it never wraps); a decrease is taken as a wrap
  /// only if the implied increase is plausible.
  CounterTracker(double joules_per_count, Watts ceiling, Seconds update_slack,
                 std::optional<std::uint64_t> wrap_modulus = std::nullopt)
      : modulus_(wrap_modulus), joules_per_count_(joules_per_count), ceiling_(ceiling), slack_(update_slack) {}

  /// Counts accumulated over every measured interval so far.
  std::uint64_t total() const { return total_; }

  /// Feeds one read (nothing if the read failed) taken at `now`.
  Update update(std::optional<std::uint64_t> raw, Clock::time_point now) {
    if (!raw || (modulus_ && *raw > *modulus_)) {
      primed_ = false;
      ever_failed_ = true;
      return {false, raw ? "counter value above its range" : "counter could not be read", now};
    }
    if (!primed_) {
      primed_ = true;
      rebase(*raw, now);
      unchanged_since_ = now;
      // The very first read only sets the baseline; a later re-baseline loses an interval.
      if (ever_failed_) return {false, "counter readable again: the interval before is lost", now};
      return {true, {}, now};
    }
    const bool wrapped = *raw < last_;
    if (wrapped && !modulus_) {
      rebase(*raw, now);
      unchanged_since_ = now;
      return {false, "counter went backwards", now};
    }
    const std::uint64_t delta = wrapped ? *modulus_ - last_ + *raw : *raw - last_;
    const Seconds elapsed = now - last_time_;
    const double joules = static_cast<double>(delta) * joules_per_count_;
    if (joules > ceiling_.value * (elapsed + slack_).count()) {
      rebase(*raw, now);
      unchanged_since_ = now;
      if (wrapped) return {false, "counter went backwards without a plausible wrap", now};
      problem_ = fmt::format(
          "the counter jumped by {:.4g} J in {:.3f} s ({:.4g} W), more than the device can draw (at most {:.4g} W): "
          "a glitch, not energy",
          joules, elapsed.count(), joules / std::max(elapsed.count(), 1e-9), ceiling_.value);
      return {false, problem_, now};
    }
    total_ += delta;
    if (delta > 0) unchanged_since_ = now;
    rebase(*raw, now);
    return {true, {}, unchanged_since_};
  }

 private:
  void rebase(std::uint64_t raw, Clock::time_point now) {
    last_ = raw;
    last_time_ = now;
  }

  std::optional<std::uint64_t> modulus_;
  double joules_per_count_ = 1.0;
  Watts ceiling_{std::numeric_limits<double>::infinity()};
  Seconds slack_{0};
  std::uint64_t total_ = 0;
  std::uint64_t last_ = 0;
  Clock::time_point last_time_{};
  Clock::time_point unchanged_since_{};
  bool primed_ = false;
  bool ever_failed_ = false;
  std::string problem_;
};

}  // namespace joulebench::detail

// Physical units used across joulebench: energy, power and time never travel as bare doubles.
#pragma once

#include <chrono>
#include <compare>

namespace joulebench {

/// A quantity held as a double in its SI unit; the tag keeps joules and watts from mixing.
template <class Tag>
struct Quantity {
  double value = 0.0;

  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : value(v) {}

  constexpr auto operator<=>(const Quantity&) const = default;
  constexpr Quantity& operator+=(Quantity o) {
    value += o.value;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    value -= o.value;
    return *this;
  }
  friend constexpr Quantity operator+(Quantity a, Quantity b) { return Quantity(a.value + b.value); }
  friend constexpr Quantity operator-(Quantity a, Quantity b) { return Quantity(a.value - b.value); }
  friend constexpr Quantity operator*(Quantity a, double k) { return Quantity(a.value * k); }
  friend constexpr Quantity operator*(double k, Quantity a) { return Quantity(a.value * k); }
  friend constexpr Quantity operator/(Quantity a, double k) { return Quantity(a.value / k); }
  friend constexpr double operator/(Quantity a, Quantity b) { return a.value / b.value; }
};

using Joules = Quantity<struct JoulesTag>;
using Watts = Quantity<struct WattsTag>;

/// Durations in floating seconds; std::chrono does the conversions.
using Seconds = std::chrono::duration<double>;

/// The clock every measurement is timed with: monotonic, unaffected by wall-clock changes.
using Clock = std::chrono::steady_clock;

constexpr Joules operator*(Watts p, Seconds t) { return Joules(p.value * t.count()); }
constexpr Joules operator*(Seconds t, Watts p) { return p * t; }
constexpr Watts operator/(Joules e, Seconds t) { return Watts(e.value / t.count()); }

}  // namespace joulebench

#include <string_view>

namespace joulebench {

/// The longest duration parse_duration takes: a year.
inline constexpr Seconds kLongestDuration{365.0 * 24 * 3600};

/// Parses a duration written as a number and a unit: "250ms", "10s", "1.5m", "2h", "100us".
/// A bare number is refused: a unit is never guessed, and so is one longer than kLongestDuration.
/// Throws std::invalid_argument with the reason.
Seconds parse_duration(std::string_view text);

}  // namespace joulebench

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "joulebench/units.hpp"

namespace joulebench {

Seconds parse_duration(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, double>, 6> kUnits = {{
      {"us", 1e-6},
      {"ms", 1e-3},
      {"s", 1.0},
      {"m", 60.0},
      {"min", 60.0},
      {"h", 3600.0},
  }};
  const std::string value(text);
  const char* begin = value.c_str();
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(begin, &end);
  const std::string_view unit(end);
  if (end == begin || errno != 0 || !std::isfinite(number)) {
    throw std::invalid_argument("'" + value + "' is not a duration (examples: 100ms, 10s, 5m)");
  }
  if (number < 0) throw std::invalid_argument("'" + value + "' is negative");
  for (const auto& [name, seconds] : kUnits) {
    if (unit != name) continue;
    // Beyond this a duration stops fitting the clock's nanoseconds once added to a time point: a
    // timeout would fire at once, a cool-down not wait at all. No measurement needs a year.
    if (number * seconds > kLongestDuration.count()) {
      throw std::invalid_argument("'" + value +
                                  "' is longer than a year (8760h), the longest duration joulebench takes");
    }
    return Seconds(number * seconds);
  }
  if (unit.empty()) throw std::invalid_argument("'" + value + "' has no unit (write 100ms, 10s, 5m or 1h)");
  throw std::invalid_argument("'" + value + "' has an unknown unit '" + std::string(unit) + "' (use us, ms, s, m, h)");
}

}  // namespace joulebench

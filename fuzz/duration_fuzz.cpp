// libFuzzer harness: durations ("10s", "1.5m"): a value or std::invalid_argument, and what is
// taken fits the clock.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "joulebench/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const joulebench::Seconds d =
        joulebench::parse_duration(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!(d.count() >= 0) || d > joulebench::kLongestDuration) __builtin_trap();
    (void)std::chrono::duration_cast<joulebench::Clock::duration>(d);
  } catch (const std::invalid_argument&) {}
  return 0;
}

// The lines every joulebench profile trace starts with (the format: profile.hpp), defined once for
// the C++ writers and the reader: the library (src/profile/trace.cpp, the external Python sampler)
// and torch_profile.hpp, which LibTorch programs compile without linking joulebench. Header-only,
// standard library only, C++17. The Python writers take theirs from python/joulebench_profile.py
// (TRACE_HEADER, trace_opening).
#pragma once

#include <string>
#include <string_view>

namespace joulebench {

/// A trace's first line, exactly (without its line break).
inline constexpr std::string_view kTraceHeader = "# joulebench-profile 1";
/// The clock of every time in a trace: CLOCK_MONOTONIC nanoseconds.
inline constexpr std::string_view kTraceClock = "monotonic_ns";

/// The lines a trace of `mode` (python, cprofile, torch, perf) starts with, each ending in a line
/// break: the header, its mode and its clock.
inline std::string trace_opening_lines(std::string_view mode) {
  std::string out;
  out.append(kTraceHeader).append("\nmode\t").append(mode).append("\nclock\t").append(kTraceClock).append("\n");
  return out;
}

}  // namespace joulebench

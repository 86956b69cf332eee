// PythonTraceWriter: the external Python sampler's samples, gathered sweep by sweep (each distinct
// stack kept once) and written as a python-mode trace (profile.hpp, trace_format.hpp) once the
// child has exited, with comments on how the sampling went. Internal to the profile part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "joulebench/profile.hpp"

namespace joulebench::detail {

class PythonTraceWriter {
 public:
  /// A thread's stack at `time_ns`: its functions root first, as ids into the names write() gets.
  void add(std::int64_t time_ns, std::uint64_t thread, const std::vector<std::uint32_t>& functions);

  /// What the trace's comments say of the sampling.
  struct Notes {
    std::string sampler;         ///< "external", or "external, CPython 3.11 (FILE)"
    std::size_t sweeps = 0;      ///< reads of every thread's stack
    double cpu_s = 0;            ///< the sampler's own CPU time
    std::size_t unreadable = 0;  ///< samples dropped as torn
    std::string stopped;         ///< why the sampling stopped early; empty when it did not
  };

  /// Writes the trace to `out`, through `out`.partial renamed when complete, so that a reader
  /// never sees half a trace. Says so on standard error when it cannot.
  void write(const std::filesystem::path& out, const std::vector<std::string>& names, const Notes& notes) const;

 private:
  std::vector<TraceSample> samples_;
  std::unordered_map<std::string, std::uint32_t> stack_index_;  ///< the functions' ids as bytes
  std::vector<std::vector<std::uint32_t>> stacks_;
};

}  // namespace joulebench::detail

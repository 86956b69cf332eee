// Writing the external Python sampler's trace (python_trace_writer.hpp).
#include "profile/python_trace_writer.hpp"

#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "joulebench/trace_format.hpp"

namespace joulebench::detail {

namespace fs = std::filesystem;

void PythonTraceWriter::add(std::int64_t time_ns, std::uint64_t thread, const std::vector<std::uint32_t>& functions) {
  const std::string key(reinterpret_cast<const char*>(functions.data()), functions.size() * sizeof(std::uint32_t));
  auto [at, added] = stack_index_.emplace(key, static_cast<std::uint32_t>(stacks_.size()));
  if (added) stacks_.push_back(functions);
  samples_.push_back(TraceSample{time_ns, thread, at->second});
}

void PythonTraceWriter::write(const fs::path& out_path, const std::vector<std::string>& names,
                              const Notes& notes) const {
  const fs::path partial = fs::path(out_path.string() + ".partial");
  bool written = false;
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << trace_opening_lines("python");
    out << "# sampler: " << notes.sampler << '\n';
    out << fmt::format("# sampler cost: {} sweeps, {:.1f} ms CPU ({:.1f} us per sweep)\n", notes.sweeps,
                       notes.cpu_s * 1e3, notes.sweeps ? notes.cpu_s * 1e6 / static_cast<double>(notes.sweeps) : 0.0);
    out << fmt::format("# unreadable samples: {}\n", notes.unreadable);
    if (!notes.stopped.empty()) out << "# stopped: " << notes.stopped << '\n';
    std::vector<std::string> folded;
    folded.reserve(stacks_.size());
    for (const auto& stack : stacks_) {
      std::string line;
      for (const std::uint32_t function : stack) {
        if (!line.empty()) line += ';';
        line += names[function];
      }
      folded.push_back(std::move(line));
    }
    for (const TraceSample& s : samples_) out << fmt::format("s\t{}\t{}\t{}\n", s.time_ns, s.thread, folded[s.stack]);
    out.close();
    written = static_cast<bool>(out);
  }
  std::error_code ec;
  if (written) fs::rename(partial, out_path, ec);
  if (!written || ec) {
    std::fprintf(stderr, "joulebench: cannot write the trace %s%s\n", out_path.c_str(),
                 ec ? (": " + ec.message()).c_str() : "");
    fs::remove(partial, ec);
  }
}

}  // namespace joulebench::detail

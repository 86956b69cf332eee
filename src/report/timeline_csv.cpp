#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "joulebench/process.hpp"
#include "joulebench/report.hpp"

namespace joulebench {

CsvTimelineWriter::CsvTimelineWriter(const std::filesystem::path& path) : path_(path) {
  // Close-on-exec: the measured command must not inherit it.
  const int fd = create_file_for_invoking_user(path);
  file_ = ::fdopen(fd, "w");
  if (file_ == nullptr) {
    ::close(fd);
    throw std::runtime_error(fmt::format("cannot write the timeline to {}: {}", path.string(), std::strerror(errno)));
  }
  // Large buffer: the sampling thread then makes a write syscall only every few hundred samples.
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
}

CsvTimelineWriter::~CsvTimelineWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void CsvTimelineWriter::begin(std::span<const Channel> channels) {
  fmt::print(file_, "time_s,interval_s");
  for (const auto& c : channels) fmt::print(file_, ",{}_w", c.id);
  fmt::print(file_, "\n");
}

void CsvTimelineWriter::add(const TimelineSample& sample) {
  fmt::print(file_, "{:.6f},{:.6f}", sample.time.count(), sample.interval.count());
  for (const auto& c : sample.channels) {
    if (c.counted) fmt::print(file_, ",{:.4f}", c.power.value);
    else std::fputs(",", file_);
  }
  std::fputc('\n', file_);
}

void CsvTimelineWriter::close() {
  if (file_ == nullptr) return;
  const bool failed = std::ferror(file_) != 0;
  const bool close_failed = std::fclose(file_) != 0;
  file_ = nullptr;
  if (failed || close_failed)
    throw std::runtime_error(fmt::format("writing the timeline to {} failed", path_.string()));
}

}  // namespace joulebench

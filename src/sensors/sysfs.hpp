// Small helpers for the text files of sysfs and procfs that the sources read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace joulebench::detail {

/// The whole of a small text file with trailing whitespace removed; nothing if it cannot be read
/// (then `*error` holds errno when given).
std::optional<std::string> read_text(const std::filesystem::path& path, int* error = nullptr);

/// A decimal unsigned integer, surrounding whitespace allowed; nothing if malformed.
std::optional<std::uint64_t> parse_u64(std::string_view text);

/// strerror for an errno value, without the thread-safety trap of strerror().
std::string errno_text(int error);

/// A file holding one decimal counter, kept open: each read is a single pread at offset 0, which
/// sysfs and procfs answer with a fresh value.
class CounterFile {
 public:
  CounterFile() = default;
  ~CounterFile();
  CounterFile(CounterFile&& other) noexcept;
  CounterFile& operator=(CounterFile&& other) noexcept;
  CounterFile(const CounterFile&) = delete;
  CounterFile& operator=(const CounterFile&) = delete;

  /// 0 on success, else errno.
  int open(const std::filesystem::path& path);
  bool is_open() const { return fd_ >= 0; }
  std::optional<std::uint64_t> read() const;

 private:
  int fd_ = -1;
};

}  // namespace joulebench::detail

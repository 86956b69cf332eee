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

/// Owns a file descriptor: closed when the owner goes, whatever path it takes.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& other) noexcept;
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// A file holding one decimal counter, kept open: each read is a single pread at offset 0, which
/// sysfs and procfs answer with a fresh value.
class CounterFile {
 public:
  /// 0 on success, else errno.
  int open(const std::filesystem::path& path);
  std::optional<std::uint64_t> read() const;

 private:
  FileDescriptor fd_;
};

}  // namespace joulebench::detail

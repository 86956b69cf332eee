// Collects what a running workload writes: its standard output and error into bounded log files
// (scanned line by line for metrics), and its events descriptor (regions, metrics, metadata). One
// thread polls all three pipes, so a workload printing gigabytes costs disk, never memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "joulebench/event_parser.hpp"
#include "joulebench/store.hpp"
#include "joulebench/units.hpp"

namespace joulebench::detail {

/// How long output may keep arriving after the command exited (a leftover holding the pipes).
inline constexpr Seconds kOutputGrace{0.5};

/// A log file that keeps the first `head` bytes and the last `tail` bytes of a stream.
class BoundedLog {
 public:
  BoundedLog(const std::filesystem::path& path, std::size_t head, std::size_t tail);
  ~BoundedLog();
  BoundedLog(const BoundedLog&) = delete;
  BoundedLog& operator=(const BoundedLog&) = delete;

  void write(const char* data, std::size_t size);
  /// Appends the kept tail (after a marker saying how much was dropped) and closes the file.
  void finish();
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t dropped() const { return dropped_; }

 private:
  std::FILE* file_ = nullptr;
  std::size_t head_;
  std::size_t tail_;
  std::uint64_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
  std::vector<char> ring_;  ///< the last `tail` bytes past the head, circular
  std::size_t ring_start_ = 0;
  bool finished_ = false;
};

/// A pipe whose write end goes to the child.
struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  Pipe();  ///< throws std::runtime_error
  ~Pipe();
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_write();
  void close_read();
};

/// Polls the pipes until every writer has closed them (or `stop` is raised) and hands out lines.
class OutputCollector {
 public:
  using EventHandler = std::function<void(WorkloadEvent)>;

  /// Any descriptor may be -1 (not watched); a log must be given for a watched output. `scanner`
  /// may be null (no metrics from output).
  OutputCollector(int stdout_fd, int stderr_fd, int events_fd, BoundedLog* stdout_log, BoundedLog* stderr_log,
                  OutputScanner* scanner, EventHandler on_event);
  ~OutputCollector();
  OutputCollector(const OutputCollector&) = delete;
  OutputCollector& operator=(const OutputCollector&) = delete;

  /// Waits for the pipes to close, giving up `grace` after being asked (the command has exited,
  /// but a leftover process may hold the pipes open).
  void finish(Seconds grace);
  std::size_t malformed_events() const { return malformed_; }

 private:
  void loop();
  void deliver_lines(std::string& pending, const char* data, std::size_t size, bool events);

  int fds_[3];
  BoundedLog* logs_[2];
  OutputScanner* scanner_;
  EventHandler on_event_;
  std::atomic<bool> stop_{false};
  std::atomic<int> open_{0};  ///< streams not yet at their end
  std::size_t malformed_ = 0;
  std::string pending_stdout_;
  std::string pending_events_;
  std::thread thread_;
};

}  // namespace joulebench::detail

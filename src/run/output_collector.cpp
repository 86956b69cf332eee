#include "output_collector.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "joulebench/process.hpp"

namespace joulebench::detail {

namespace {

/// Lines longer than this are not scanned for metrics (they still reach the log).
constexpr std::size_t kLongestScannedLine = 1 << 16;

}  // namespace

BoundedLog::BoundedLog(const std::filesystem::path& path, std::size_t head, std::size_t tail)
    : head_(head), tail_(tail) {
  // Logs belong to the user who asked for the campaign, as the store does (sudo: process.hpp).
  create_folders(path.parent_path());
  const int fd = create_file_for_invoking_user(path);
  file_ = ::fdopen(fd, "w");
  if (file_ == nullptr) {
    ::close(fd);
    throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  }
}

BoundedLog::~BoundedLog() { finish(); }

void BoundedLog::write(const char* data, std::size_t size) {
  bytes_ += size;
  const std::uint64_t written_before = bytes_ - size;
  if (written_before < head_) {
    const std::size_t into_head = std::min<std::size_t>(size, head_ - written_before);
    std::fwrite(data, 1, into_head, file_);
    data += into_head;
    size -= into_head;
  }
  if (tail_ == 0) {
    dropped_ += size;
    return;
  }
  // Past the head: keep the newest `tail_` bytes in a ring; what falls out of it is dropped.
  while (size > 0) {
    std::size_t n = 0;
    if (ring_.size() < tail_) {
      n = std::min(size, tail_ - ring_.size());
      ring_.insert(ring_.end(), data, data + n);
    } else {
      n = std::min(size, tail_ - ring_start_);
      std::memcpy(ring_.data() + ring_start_, data, n);
      ring_start_ = (ring_start_ + n) % tail_;
      dropped_ += n;
    }
    data += n;
    size -= n;
  }
}

void BoundedLog::finish() {
  if (finished_ || file_ == nullptr) return;
  finished_ = true;
  if (dropped_ > 0) {
    fmt::print(file_, "\n[joulebench: {} bytes dropped here; the log keeps the first {} and the last {} bytes]\n",
               dropped_, head_, tail_);
  }
  std::fwrite(ring_.data() + ring_start_, 1, ring_.size() - ring_start_, file_);
  std::fwrite(ring_.data(), 1, ring_start_, file_);
  std::fclose(file_);
  file_ = nullptr;
  ring_ = {};
}

Pipe::Pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
  read_fd = fds[0];
  write_fd = fds[1];
}

Pipe::~Pipe() {
  close_write();
  close_read();
}

void Pipe::close_write() {
  if (write_fd >= 0) ::close(write_fd);
  write_fd = -1;
}

void Pipe::close_read() {
  if (read_fd >= 0) ::close(read_fd);
  read_fd = -1;
}

OutputCollector::OutputCollector(int stdout_fd, int stderr_fd, int events_fd, BoundedLog* stdout_log,
                                 BoundedLog* stderr_log, OutputScanner* scanner, EventHandler on_event)
    : fds_{stdout_fd, stderr_fd, events_fd},
      logs_{stdout_log, stderr_log},
      scanner_(scanner),
      on_event_(std::move(on_event)) {
  for (const int fd : fds_) open_ += fd >= 0 ? 1 : 0;
  thread_ = std::thread([this] { loop(); });
}

OutputCollector::~OutputCollector() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void OutputCollector::finish(Seconds grace) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(grace);
  while (Clock::now() < deadline && open_ > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop_ = true;
  thread_.join();
}

void OutputCollector::deliver_lines(std::string& pending, const char* data, std::size_t size, bool events) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] != '\n') continue;
    if (pending.size() < kLongestScannedLine) pending.append(data + start, std::min(i - start, kLongestScannedLine));
    if (events) {
      if (auto event = parse_event_line(pending)) on_event_(std::move(*event));
      else if (pending.find_first_not_of(" \t\r") != std::string::npos) ++malformed_;
    } else if (scanner_ != nullptr) {
      for (auto& event : scanner_->scan(pending)) on_event_(std::move(event));
    }
    pending.clear();
    start = i + 1;
  }
  if (start < size && pending.size() < kLongestScannedLine) {
    pending.append(data + start, std::min(size - start, kLongestScannedLine - pending.size()));
  }
}

void OutputCollector::loop() {
  std::array<char, 1 << 16> buffer{};
  while (!stop_ && (fds_[0] >= 0 || fds_[1] >= 0 || fds_[2] >= 0)) {
    std::array<pollfd, 3> polled{};
    for (int i = 0; i < 3; ++i) polled[i] = {fds_[i], POLLIN, 0};
    const int ready = ::poll(polled.data(), polled.size(), 50);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 3; ++i) {
      if (fds_[i] < 0 || (polled[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::read(fds_[i], buffer.data(), buffer.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        // End of stream: a last line without a newline still counts.
        if (i == 0 && !pending_stdout_.empty()) deliver_lines(pending_stdout_, "\n", 1, false);
        if (i == 2 && !pending_events_.empty()) deliver_lines(pending_events_, "\n", 1, true);
        fds_[i] = -1;
        --open_;
        continue;
      }
      const auto size = static_cast<std::size_t>(n);
      if (i < 2 && logs_[i] != nullptr) logs_[i]->write(buffer.data(), size);
      if (i == 0) deliver_lines(pending_stdout_, buffer.data(), size, false);
      if (i == 2) deliver_lines(pending_events_, buffer.data(), size, true);
    }
  }
}

}  // namespace joulebench::detail

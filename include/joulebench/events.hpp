// joulebench/events.hpp: tell joulebench where a workload's phases begin and end, and what it
// achieved. Header-only, C++17, the standard library and POSIX only: a LibTorch, dlib or any other
// C++ workload copies or includes this one file and links nothing.
//
//   #include <joulebench/events.hpp>
//   namespace jb = joulebench::events;
//
//   int main() {
//     jb::meta("framework", "libtorch " TORCH_VERSION);
//     jb::meta("threads", torch::get_num_threads());   // integers and doubles are written as text
//     {
//       jb::Region load("load");                        // begin now, end at the closing brace
//       load_data();
//     }
//     jb::begin("train");
//     train();
//     jb::end("train");
//     jb::metric("accuracy", 91.2, "%");
//     jb::metric("throughput", 1234.5, "samples/s");
//   }
//
// joulebench starts a measured workload with the environment variable JOULEBENCH_EVENTS_FD naming
// a file descriptor (a pipe) it reads; it timestamps every line on receipt and computes energy and
// time per region from its meter. Where the workload cannot inherit descriptors (in a container),
// joulebench sets JOULEBENCH_EVENTS_PATH instead, naming a FIFO it reads (/run/joulebench/events):
// when JOULEBENCH_EVENTS_FD is absent or names no open descriptor, the path is opened for writing
// (O_NONBLOCK, so a FIFO nobody reads is refused at once instead of waiting for a reader; then
// blocking writes as on the pipe). Only a FIFO or a character device is written to: a path to
// anything else, or that does not exist, is ignored (nothing is ever created). The variables are
// read once, at the first call. When neither gives a descriptor, every call is a no-op costing one
// atomic load: the same binary runs standalone. If joulebench stops reading (the pipe breaks),
// events are switched off quietly: a workload is never killed (SIGPIPE is held back) and never sees
// an exception or a changed errno from here.
//
// Each call writes exactly one JSON line with a single write(2) (continued after a partial write or
// EINTR), under a mutex, so calls from several threads never interleave. Lines up to PIPE_BUF
// (4096) bytes are also atomic with respect to other processes sharing the descriptor (forked
// data-loader workers, for instance).
//
//   {"event":"begin","region":"train"}
//   {"event":"end","region":"train"}
//   {"event":"metric","name":"accuracy","value":0.91,"unit":"%"}
//   {"event":"meta","key":"framework","value":"libtorch 1.13.1"}
//
// Strings are JSON-escaped (quotes, backslashes, control characters as \u00XX); bytes that are not
// valid UTF-8 become U+FFFD. A metric value that is NaN or infinite is written as null (joulebench
// counts such a line as malformed and keeps no value). Metric numbers are written so they read back
// exactly, whatever the C locale.
//
// Tests (and programs that change the environment on purpose) may call
// joulebench::events::detail::reset_for_tests(): the next call reads the variables again (a FIFO
// opened from the path is closed).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#if __has_include(<charconv>)
#include <charconv>
#endif

namespace joulebench {
namespace events {

namespace detail {

inline constexpr const char* kVariable = "JOULEBENCH_EVENTS_FD";
inline constexpr const char* kPathVariable = "JOULEBENCH_EVENTS_PATH";
inline constexpr int kUnread = -2;  // the variables have not been read yet
inline constexpr int kOff = -1;     // events go nowhere

struct State {
  std::atomic<int> fd{kUnread};
  std::atomic<bool> owned{false};  // fd was opened here, from the path: closed when events stop
  std::mutex mutex;                // one line at a time
};
inline State g_state;

/// The descriptor named by the FD variable, or kOff: decimal digits only, naming an open descriptor.
inline int descriptor_from_variable() noexcept {
  const char* text = std::getenv(kVariable);
  if (text == nullptr || *text == '\0') return kOff;
  long long value = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return kOff;
    value = value * 10 + (*p - '0');
    if (value > INT_MAX) return kOff;
  }
  const int fd = static_cast<int>(value);
  if (::fcntl(fd, F_GETFD) == -1) return kOff;
  return fd;
}

/// Whether a channel may be opened at what `info` describes: a FIFO (what joulebench makes) or a
/// character device (/dev/null, a terminal). Never a regular file: writing would overwrite it.
inline bool channel_kind(const struct stat& info) noexcept { return S_ISFIFO(info.st_mode) || S_ISCHR(info.st_mode); }

/// Opens a channel named by path, without waiting: the events FIFO for writing (`for_writing`: a
/// FIFO nobody reads gives ENXIO at once), the replies FIFO for reading. O_CLOEXEC, never O_CREAT.
/// A descriptor opened for writing is made blocking again; one for reading stays non-blocking.
/// -1 if the path is null or empty, cannot be opened, or is neither a FIFO nor a character device.
/// errno is left as it was.
inline int open_channel_path(const char* path, bool for_writing) noexcept {
  if (path == nullptr || *path == '\0') return -1;
  const int saved_errno = errno;
  int fd = -1;
  struct stat info {};
  if (::stat(path, &info) == 0 && channel_kind(info)) {
    const int flags = (for_writing ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    do {
      fd = ::open(path, flags);
    } while (fd == -1 && errno == EINTR);
    // The path may have been replaced between stat and open: check what was opened.
    if (fd >= 0 && (::fstat(fd, &info) != 0 || !channel_kind(info))) {
      ::close(fd);
      fd = -1;
    }
    if (fd >= 0 && for_writing) {
      const int status = ::fcntl(fd, F_GETFL);
      if (status != -1) (void)::fcntl(fd, F_SETFL, status & ~O_NONBLOCK);
    }
  }
  errno = saved_errno;
  return fd;
}

/// The events descriptor the environment gives, or kOff: the FD variable's, else one opened from
/// the path variable (`owned`). errno is left as it was.
inline int descriptor_from_environment(bool& owned) noexcept {
  const int saved_errno = errno;
  owned = false;
  int fd = descriptor_from_variable();
  if (fd == kOff) {
    fd = open_channel_path(std::getenv(kPathVariable), true);
    if (fd >= 0) owned = true;
    else fd = kOff;
  }
  errno = saved_errno;
  return fd;
}

/// The events descriptor, or kOff. Reads the environment at the first call only.
inline int descriptor() noexcept {
  int fd = g_state.fd.load(std::memory_order_acquire);
  if (fd != kUnread) return fd;
  bool owned = false;
  const int found = descriptor_from_environment(owned);
  // A concurrent first call reads the same variables (so finds the same ownership); whichever
  // stores first wins, and a loser closes what it opened.
  g_state.owned.store(owned, std::memory_order_release);
  if (g_state.fd.compare_exchange_strong(fd, found, std::memory_order_acq_rel)) return found;
  if (owned) ::close(found);
  return fd;
}

/// Switches events off; closes the descriptor if it was opened here. Called with the mutex held.
inline void stop_locked(int next) noexcept {
  const int fd = g_state.fd.exchange(next, std::memory_order_acq_rel);
  if (fd >= 0 && g_state.owned.exchange(false, std::memory_order_acq_rel)) ::close(fd);
}

/// Forget what the variables said: the next call reads them again. For tests.
inline void reset_for_tests() noexcept {
  const int saved_errno = errno;
  try {
    std::lock_guard<std::mutex> lock(g_state.mutex);
    stop_locked(kUnread);
  } catch (...) {
    g_state.fd.store(kUnread, std::memory_order_release);
  }
  errno = saved_errno;
}

/// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 if it is not one.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  const auto continuation = [](unsigned b) { return b >= 0x80 && b <= 0xBF; };
  const unsigned lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(byte(1)) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned b1 = byte(1);
    const bool ok1 = lead == 0xE0   ? (b1 >= 0xA0 && b1 <= 0xBF)
                     : lead == 0xED ? (b1 >= 0x80 && b1 <= 0x9F)  // no UTF-16 surrogates
                                    : continuation(b1);
    return ok1 && continuation(byte(2)) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned b1 = byte(1);
    const bool ok1 = lead == 0xF0   ? (b1 >= 0x90 && b1 <= 0xBF)
                     : lead == 0xF4 ? (b1 >= 0x80 && b1 <= 0x8F)  // nothing above U+10FFFF
                                    : continuation(b1);
    return ok1 && continuation(byte(2)) && continuation(byte(3)) ? 4 : 0;
  }
  return 0;
}

/// Appends `s` as a JSON string.
inline void append_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    } else if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.data() + i, n);
        i += n;
        continue;
      }
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

/// Appends a finite double so that it reads back exactly, with '.' whatever the locale.
inline void append_finite(std::string& out, double value) {
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
#else
  char buffer[64];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;  // both use the same locale
  }
  for (char* p = buffer; *p != '\0'; ++p) {
    const bool keep = (*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == 'e' || *p == 'E';
    if (!keep) *p = '.';  // the locale's decimal separator
  }
  out += buffer;
#endif
}

/// Appends a JSON number, or null for NaN and infinities.
inline void append_number(std::string& out, double value) {
  if (std::isfinite(value)) {
    append_finite(out, value);
  } else {
    out += "null";
  }
}

/// Writes the whole line (one write(2) unless interrupted or partial). Switches events off when
/// the descriptor fails: joulebench is gone or stopped reading.
inline void write_line(const std::string& line) noexcept {
  const int saved_errno = errno;
  try {
    std::lock_guard<std::mutex> lock(g_state.mutex);
    const int fd = descriptor();
    if (fd < 0) return;

    // A broken pipe must not kill the workload: hold SIGPIPE back in this thread while writing,
    // and take back the one this write raised (SIGPIPE from write(2) goes to the writing thread).
    sigset_t pipe_only;
    sigset_t previous;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    const bool masked = pthread_sigmask(SIG_BLOCK, &pipe_only, &previous) == 0;
    bool was_pending = false;
    if (masked) {
      sigset_t pending;
      sigemptyset(&pending);
      was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    }

    bool broken_pipe = false;
    bool failed = false;
    const char* data = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, data, left);
      if (n > 0) {
        data += n;
        left -= static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd waiter{fd, POLLOUT, 0};  // a non-blocking descriptor that is full: wait for room
        (void)::poll(&waiter, 1, -1);
      } else {
        broken_pipe = n < 0 && errno == EPIPE;
        failed = true;
        break;
      }
    }

    if (masked) {
      if (broken_pipe && !was_pending) {
        const timespec no_wait{0, 0};
        while (sigtimedwait(&pipe_only, nullptr, &no_wait) == -1 && errno == EINTR) {}
      }
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
    if (failed) stop_locked(kOff);
  } catch (...) {
    // Events never break a workload.
  }
  errno = saved_errno;
}

/// Builds and writes {"event":EVENT,FIELD1:VALUE1...}: the fields are appended by `fill`.
template <class Fill>
inline void emit(const char* event, Fill&& fill) noexcept {
  if (descriptor() < 0) return;
  try {
    std::string line;
    line.reserve(96);
    line += "{\"event\":\"";
    line += event;
    line += '"';
    fill(line);
    line += "}\n";
    write_line(line);
  } catch (...) {
    // Out of memory while building a line: drop it.
  }
}

inline std::string double_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string text;
  append_finite(text, value);
  return text;
}

}  // namespace detail

/// Whether events go anywhere (JOULEBENCH_EVENTS_FD names an open descriptor, or
/// JOULEBENCH_EVENTS_PATH a FIFO joulebench reads).
inline bool enabled() noexcept { return detail::descriptor() >= 0; }

/// A phase of the workload begins: {"event":"begin","region":REGION}.
inline void begin(std::string_view region) noexcept {
  detail::emit("begin", [&](std::string& line) {
    line += ",\"region\":";
    detail::append_string(line, region);
  });
}

/// The phase ends: {"event":"end","region":REGION}.
inline void end(std::string_view region) noexcept {
  detail::emit("end", [&](std::string& line) {
    line += ",\"region\":";
    detail::append_string(line, region);
  });
}

/// A result: {"event":"metric","name":NAME,"value":VALUE,"unit":UNIT}. NaN and infinities are
/// written as null. The last value of a name is the one joulebench keeps.
inline void metric(std::string_view name, double value, std::string_view unit = "") noexcept {
  detail::emit("metric", [&](std::string& line) {
    line += ",\"name\":";
    detail::append_string(line, name);
    line += ",\"value\":";
    detail::append_number(line, value);
    line += ",\"unit\":";
    detail::append_string(line, unit);
  });
}

/// A description of the run: {"event":"meta","key":KEY,"value":"TEXT"}.
inline void meta(std::string_view key, std::string_view value) noexcept {
  detail::emit("meta", [&](std::string& line) {
    line += ",\"key\":";
    detail::append_string(line, key);
    line += ",\"value\":";
    detail::append_string(line, value);
  });
}
/// (A string literal would otherwise choose the bool overload.)
inline void meta(std::string_view key, const char* value) noexcept {
  meta(key, value == nullptr ? std::string_view() : std::string_view(value));
}
inline void meta(std::string_view key, const std::string& value) noexcept { meta(key, std::string_view(value)); }
/// true / false.
inline void meta(std::string_view key, bool value) noexcept {
  meta(key, value ? std::string_view("true") : std::string_view("false"));
}
/// An integer as decimal text: meta("threads", 8) writes "8".
template <class Integer, std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
inline void meta(std::string_view key, Integer value) noexcept {
  if (!enabled()) return;
  try {
    meta(key, std::string_view(std::to_string(value)));
  } catch (...) {}
}
/// A floating-point number as the shortest text that reads back exactly ("nan", "inf", "-inf").
inline void meta(std::string_view key, double value) noexcept {
  if (!enabled()) return;
  try {
    meta(key, std::string_view(detail::double_text(value)));
  } catch (...) {}
}
inline void meta(std::string_view key, float value) noexcept { meta(key, static_cast<double>(value)); }

/// A region for the lifetime of the object: begin(name) now, end(name) when it goes.
class Region {
 public:
  explicit Region(std::string_view name) noexcept {
    if (!enabled()) return;
    try {
      name_.assign(name.data(), name.size());
      active_ = true;
    } catch (...) {
      return;
    }
    events::begin(name_);  // qualified: std::begin would be found by ADL
  }
  ~Region() {
    if (active_) events::end(name_);
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  Region(Region&&) = delete;
  Region& operator=(Region&&) = delete;

 private:
  std::string name_;
  bool active_ = false;
};

}  // namespace events
}  // namespace joulebench

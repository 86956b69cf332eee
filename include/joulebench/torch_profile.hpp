// joulebench/torch_profile.hpp: operator profiles of a LibTorch program for `joulebench profile
// --mode torch`. Header-only; needs LibTorch (ATen/record_function.h) and joulebench/
// trace_format.hpp beside it (header-only too), nothing else.
//
//   #include <joulebench/torch_profile.hpp>
//
//   int main() {
//     joulebench::torch_profile::Session profile;   // first thing in main
//     ...                                           // the program, unchanged
//   }                                               // the trace file is written here
//
// When JOULEBENCH_PROFILE_MODE is `torch` and JOULEBENCH_PROFILE_OUT names a file, the session
// registers global RecordFunction callbacks (scopes FUNCTION, BACKWARD_FUNCTION and USER_SCOPE:
// every ATen operator, every autograd node on whichever thread autograd runs it, and ranges a
// program marks with RECORD_USER_SCOPE). They record each operator's enter and exit times on
// steady_clock (CLOCK_MONOTONIC, the meter's clock) and the chain of operators enclosing it on its
// thread, into memory of that thread: no I/O, no lock contention, no string copy after an
// operator's first call. The file is written when the session ends, by flush(), or at exit()
// (whichever comes first; once), in joulebench's trace format:
//
//   # joulebench-profile 1
//   mode<TAB>torch
//   clock<TAB>monotonic_ns
//   i<TAB>START_NS<TAB>END_NS<TAB>TID<TAB>ROOT;...;PARENT;NAME
//
// one `i` line per completed operator interval, TID the kernel's thread id. In names, TAB and line
// breaks become spaces and ';' a comma. Operators still running when the file is written are left
// out. Without the two variables a session does nothing: two getenv calls, no callback, no cost
// per operator.
//
// Cost while profiling: LibTorch 1.13 runs every operator through its slower RecordFunction path
// once any callback is registered (about 1 us an operator on the 2-core development VM); the
// recording here adds less than that measured noise. Memory: 24 bytes an operator until the file
// is written (a million operators, 24 MB).
#pragma once

#include <unistd.h>

#include <ATen/record_function.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trace_format.hpp"  // beside this file, wherever the two are copied

namespace joulebench::torch_profile {

namespace detail {

inline constexpr const char* kModeVariable = "JOULEBENCH_PROFILE_MODE";
inline constexpr const char* kOutVariable = "JOULEBENCH_PROFILE_OUT";

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A completed operator: its times and its chain (an index into ThreadLog::chains).
struct Interval {
  std::int64_t start_ns;
  std::int64_t end_ns;
  std::uint32_t chain;
};

/// An operator that has begun and not ended. `call` identifies its RecordFunction (alive until
/// the end callback), so an end that does not match the top of the stack is still paired right.
struct Open {
  const at::RecordFunction* call;
  std::uint32_t chain;
  std::int64_t start_ns;
};

/// A chain of operator names, root first, stored as a tree: its parent chain and its last name.
struct Chain {
  std::uint32_t parent;  // 0: the chain is one name long
  std::uint32_t name;
};

/// One thread's records. Only its own thread touches it while profiling; the mutex, uncontended
/// then, is there for the final write, which may run while other threads still call operators.
struct ThreadLog {
  std::mutex mutex;
  bool closed = false;
  pid_t tid = ::gettid();
  std::deque<std::string> name_storage;  // a deque never moves its strings: the map's keys stay valid
  std::unordered_map<std::string_view, std::uint32_t> name_ids;
  std::unordered_map<std::uint64_t, std::uint32_t> chain_ids;  // (parent << 32 | name) -> chain
  std::vector<Chain> chains{Chain{0, 0}};                      // chain 0: the empty chain
  std::vector<Open> stack;
  std::vector<Interval> intervals;

  /// The chains last found for (parent chain, name pointer): most operators' names are their
  /// schema's, at a fixed address, so most calls find their chain here without hashing the name.
  /// A name's text is compared too, since a name built for one call may reuse another's address.
  struct CachedChain {
    std::uint32_t parent = 0;
    std::uint32_t chain = 0;  // 0: empty
    const char* name = nullptr;
  };
  static constexpr int kCacheBits = 12;
  std::vector<CachedChain> cache = std::vector<CachedChain>(std::size_t{1} << kCacheBits);

  std::uint32_t chain_of(std::uint32_t parent, const char* name) {
    if (name == nullptr) name = "";
    const auto key = reinterpret_cast<std::uintptr_t>(name) ^ (std::uintptr_t{parent} << 40);
    CachedChain& entry = cache[(std::uint64_t{key} * 0x9E3779B97F4A7C15u) >> (64 - kCacheBits)];
    if (entry.chain != 0 && entry.parent == parent && entry.name == name &&
        std::strcmp(name_storage[chains[entry.chain].name].c_str(), name) == 0) {
      return entry.chain;
    }
    entry = CachedChain{parent, chain_id(parent, name_id(name)), name};
    return entry.chain;
  }

  std::uint32_t name_id(std::string_view key) {
    if (const auto found = name_ids.find(key); found != name_ids.end()) return found->second;
    const std::string_view stored = name_storage.emplace_back(key);
    const auto id = static_cast<std::uint32_t>(name_storage.size() - 1);
    name_ids.emplace(stored, id);
    return id;
  }

  std::uint32_t chain_id(std::uint32_t parent, std::uint32_t name) {
    const std::uint64_t key = (static_cast<std::uint64_t>(parent) << 32) | name;
    if (const auto found = chain_ids.find(key); found != chain_ids.end()) return found->second;
    const auto id = static_cast<std::uint32_t>(chains.size());
    chains.push_back(Chain{parent, name});
    chain_ids.emplace(key, id);
    return id;
  }

  /// A name as the trace holds it: TAB and line breaks become spaces and ';' (the separator of
  /// a chain) a comma, as the other trace writers do; an empty name becomes "?".
  static std::string clean_name(std::string_view name) {
    std::string text(name.empty() ? std::string_view("?") : name);
    for (char& c : text) {
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
      if (c == ';') c = ',';
    }
    return text;
  }

  /// "root;...;name" for every chain, indexed by chain.
  std::vector<std::string> chain_texts() const {
    std::vector<std::string> names;
    names.reserve(name_storage.size());
    for (const std::string& name : name_storage) names.push_back(clean_name(name));
    std::vector<std::string> texts(chains.size());
    // A chain's parent was created before it, so it has a smaller index and is already done.
    for (std::size_t c = 1; c < chains.size(); ++c) {
      const Chain& chain = chains[c];
      texts[c] = chain.parent == 0 ? names[chain.name] : texts[chain.parent] + ';' + names[chain.name];
    }
    return texts;
  }
};

/// The process's profile. Allocated once and never freed: threads and exit handlers may still
/// reach it while static objects are destroyed.
struct Profile {
  std::mutex mutex;
  bool started = false;
  bool finished = false;
  std::string path;
  at::CallbackHandle callback = at::INVALID_CALLBACK_HANDLE;
  std::vector<std::unique_ptr<ThreadLog>> logs;
};

inline Profile& profile() {
  static Profile* const instance = new Profile;
  return *instance;
}

/// This thread's log, registered with the profile at the thread's first operator.
inline ThreadLog& this_thread_log() {
  thread_local ThreadLog* log = nullptr;
  if (log == nullptr) {
    auto created = std::make_unique<ThreadLog>();
    log = created.get();
    Profile& p = profile();
    const std::lock_guard<std::mutex> lock(p.mutex);
    if (p.finished) created->closed = true;
    p.logs.push_back(std::move(created));
  }
  return *log;
}

inline std::unique_ptr<at::ObserverContext> on_begin(const at::RecordFunction& call) {
  ThreadLog& log = this_thread_log();
  const std::lock_guard<std::mutex> lock(log.mutex);
  if (log.closed) return nullptr;
  const std::uint32_t parent = log.stack.empty() ? 0 : log.stack.back().chain;
  const std::uint32_t chain = log.chain_of(parent, call.name());
  // Timed last, so the bookkeeping above is not inside the operator's interval.
  log.stack.push_back(Open{&call, chain, now_ns()});
  return nullptr;
}

inline void on_end(const at::RecordFunction& call, at::ObserverContext*) {
  const std::int64_t end_ns = now_ns();  // timed first, for the same reason
  ThreadLog& log = this_thread_log();
  const std::lock_guard<std::mutex> lock(log.mutex);
  if (log.closed) return;
  // Normally the top of the stack. An operator that ended on another thread (an asynchronous
  // one) leaves an entry here that is dropped when an operator below it ends.
  for (auto open = log.stack.rbegin(); open != log.stack.rend(); ++open) {
    if (open->call != &call) continue;
    log.intervals.push_back(Interval{open->start_ns, end_ns, open->chain});
    log.stack.erase(std::next(open).base(), log.stack.end());
    return;
  }
}

inline void append_number(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

/// Writes the trace to `path` (through a temporary file beside it, renamed when complete, so a
/// reader never sees half a file). Returns an error message, empty on success.
inline std::string write_trace(const std::string& path, const std::vector<std::unique_ptr<ThreadLog>>& logs) {
  const std::string partial = path + ".partial";
  std::FILE* file = std::fopen(partial.c_str(), "w");
  if (file == nullptr) return std::strerror(errno);
  std::string text = trace_opening_lines("torch");
  int error_number = 0;
  const auto write_out = [&] {
    if (error_number == 0 && std::fwrite(text.data(), 1, text.size(), file) != text.size()) error_number = errno;
    text.clear();
  };
  for (const auto& log : logs) {
    const std::vector<std::string> chains = log->chain_texts();
    for (const Interval& interval : log->intervals) {
      text += "i\t";
      append_number(text, interval.start_ns);
      text += '\t';
      append_number(text, interval.end_ns);
      text += '\t';
      append_number(text, log->tid);
      text += '\t';
      text += chains[interval.chain];
      text += '\n';
      if (text.size() > (1u << 20)) write_out();
    }
  }
  write_out();
  if (std::fclose(file) != 0 && error_number == 0) error_number = errno;
  if (error_number != 0) {
    std::remove(partial.c_str());
    return std::strerror(error_number);
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(partial.c_str());
    return reason;
  }
  return {};
}

}  // namespace detail

/// Stops profiling and writes the trace file; later calls do nothing. Returns false (with a
/// message on standard error) if the file could not be written.
inline bool flush() {
  detail::Profile& p = detail::profile();
  std::vector<std::unique_ptr<detail::ThreadLog>> logs;
  {
    const std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.started || p.finished || p.callback == at::INVALID_CALLBACK_HANDLE) {
      p.finished = true;
      return true;
    }
    p.finished = true;
    // Closed first, so a callback still running on another thread records nothing more.
    for (const auto& log : p.logs) {
      const std::lock_guard<std::mutex> log_lock(log->mutex);
      log->closed = true;
    }
    at::removeCallback(p.callback);
    p.callback = at::INVALID_CALLBACK_HANDLE;
    logs = std::move(p.logs);
  }
  const std::string error = detail::write_trace(p.path, logs);
  // The logs stay allocated: a thread's thread_local pointer may still point at its own.
  for (auto& log : logs) log.release();
  if (!error.empty()) {
    std::fprintf(stderr, "joulebench torch profile: cannot write %s: %s\n", p.path.c_str(), error.c_str());
    return false;
  }
  return true;
}

/// Starts profiling if JOULEBENCH_PROFILE_MODE=torch and JOULEBENCH_PROFILE_OUT is set; returns
/// whether the process is being profiled. Calling it again does nothing more.
inline bool start() {
  detail::Profile& p = detail::profile();
  const std::lock_guard<std::mutex> lock(p.mutex);
  if (p.started) return !p.finished;
  p.started = true;
  const char* mode = std::getenv(detail::kModeVariable);
  if (mode == nullptr || std::string_view(mode) != "torch") return false;
  const char* out = std::getenv(detail::kOutVariable);
  if (out == nullptr || *out == '\0') {
    std::fprintf(stderr, "joulebench torch profile: %s=torch but %s is not set: not profiling\n", detail::kModeVariable,
                 detail::kOutVariable);
    return false;
  }
  p.path = out;
  // Every call: no sampling (probability 1), no inputs or outputs copied.
  p.callback = at::addGlobalCallback(
      at::RecordFunctionCallback(&detail::on_begin, &detail::on_end)
          .needsInputs(false)
          .needsOutputs(false)
          .samplingProb(1.0)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION, at::RecordScope::USER_SCOPE}));
  std::atexit([] { flush(); });
  return true;
}

/// Profiles from construction to destruction; create it first thing in main.
class Session {
 public:
  Session() { start(); }
  ~Session() { flush(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) = delete;
  Session& operator=(Session&&) = delete;
};

}  // namespace joulebench::torch_profile

// The python mode's sampler outside the program (python_sampler.hpp): the choice between it and the
// in-process one, and `joulebench python-sampler` itself: the Python command started as a child
// within this command (process.hpp), its stacks read at every interval until it exits, then the
// trace written. The pieces: ELF files (elf_image.hpp), CPython's structure layouts
// (cpython_layout.hpp), the reads of the child's memory (remote_memory.hpp), its stacks
// (cpython_stacks.hpp) and the trace (python_trace_writer.hpp).
#include "joulebench/python_sampler.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <set>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "joulebench/profile.hpp"
#include "profile/cpython_layout.hpp"
#include "profile/cpython_stacks.hpp"
#include "profile/elf_image.hpp"
#include "profile/python_trace_writer.hpp"
#include "profile/remote_memory.hpp"

namespace joulebench {

namespace fs = std::filesystem;

namespace {

using detail::CPythonLayout;
using detail::ElfImage;
using detail::StackReader;

std::int64_t monotonic_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

timespec to_timespec(std::int64_t ns) {
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

volatile sig_atomic_t g_child = 0;

/// SIGTERM or SIGHUP sent to the sampler alone (`kill PID`) is passed on to the child. One sent
/// to the whole process group (by joulebench, or a terminal's hang-up) reached the child already.
void forward_to_child(int signal, siginfo_t* info, void*) {
  const int saved = errno;
  if (g_child > 0 && info->si_code == SI_USER && info->si_pid != ::getppid())
    ::kill(static_cast<pid_t>(g_child), signal);
  errno = saved;
}

/// Whether the child has exited, without reaping it: for kernels without pidfd (before 5.3).
bool has_exited(pid_t child) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno != EINTR;
  return info.si_pid == child;
}

/// Clears g_child when the child is gone (reaped, or killed as its ChildProcess ends).
struct ForgetChild {
  ForgetChild() = default;
  ForgetChild(const ForgetChild&) = delete;
  ForgetChild& operator=(const ForgetChild&) = delete;
  ~ForgetChild() { g_child = 0; }
};

}  // namespace

std::optional<std::uint64_t> elf_symbol_value(const fs::path& file, const std::string& name) {
  const auto image = ElfImage::open(file);
  return image ? image->symbol(name) : std::nullopt;
}

std::optional<PythonVersion> python_executable_version(const fs::path& executable) {
  const auto image = ElfImage::open(executable);
  if (!image) return std::nullopt;
  if (const auto at = image->symbol("Py_Version")) {
    if (const auto hex = image->u64_at(*at)) return detail::decode_py_version(*hex);
    return std::nullopt;
  }
  // A shared build: the interpreter lives in libpythonX.Y, named by its soname.
  static const std::regex libpython(R"(libpython(\d+)\.(\d+)\.so.*)");
  for (const std::string& library : image->needed()) {
    std::smatch m;
    if (std::regex_match(library, m, libpython)) return PythonVersion{std::stoi(m[1]), std::stoi(m[2])};
  }
  return std::nullopt;
}

PythonSamplerChoice choose_python_sampler(const std::string& interpreter) {
  const char* forced = std::getenv("JOULEBENCH_PYTHON_SAMPLER");
  const std::string_view force = forced ? forced : "";
  if (force == "in-process") return {PythonSamplerKind::in_process, "JOULEBENCH_PYTHON_SAMPLER=in-process"};
  if (force == "external") return {PythonSamplerKind::external, "JOULEBENCH_PYTHON_SAMPLER=external"};
  if (!force.empty()) {
    throw std::runtime_error(
        fmt::format("JOULEBENCH_PYTHON_SAMPLER is '{}': it must be external or in-process", force));
  }
  fs::path path;
  try {
    path = find_executable(interpreter);
  } catch (const LaunchError& e) {
    return {PythonSamplerKind::in_process, e.what()};
  }
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  const auto version = python_executable_version(ec ? path : real);
  if (!version)
    return {PythonSamplerKind::in_process,
            fmt::format("{} is not a CPython executable joulebench can read", path.string())};
  if (!detail::layout_for(*version)) {
    return {PythonSamplerKind::in_process, fmt::format("CPython {}.{}: the external sampler reads CPython {} only",
                                                       version->major, version->minor, detail::known_versions())};
  }
  std::string why;
  if (!detail::can_read_child_memory(why)) return {PythonSamplerKind::in_process, why};
  return {PythonSamplerKind::external, fmt::format("CPython {}.{}", version->major, version->minor)};
}

ExitStatus run_python_sampler(const PythonSamplerOptions& options) {
  if (options.argv.empty()) throw LaunchError(127, "no command to sample");
  if (options.interval_ns <= 0) throw std::invalid_argument("the sampling interval must be positive");

  // Chosen here, where the command runs: its PATH, its working directory, its environment.
  const PythonSamplerChoice choice = choose_python_sampler(options.argv.front());
  const bool sampling = choice.kind == PythonSamplerKind::external;
  std::fprintf(stderr, "joulebench: python sampler: %s (%s)\n", sampling ? "external" : "in-process",
               choice.reason.c_str());
  SpawnOptions spawn;
  spawn.argv = sampling ? options.argv : in_process_python_command(options.argv, options.out, options.interval_ns);
  // joulebench runs the sampler as the command it measures: the Python command is part of it, in
  // this process group (the terminal's signals, and joulebench's to the group, reach it directly),
  // in this cgroup, as this user.
  spawn.within_caller = true;

  // The sampler waits for the child to end and writes the trace. Only SIGTERM and SIGHUP sent to
  // the sampler alone are passed on (ForwardSignals passes every signal on to a child's own
  // process group: this child shares the sampler's, and would get the group's signals twice).
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  struct sigaction forward {};
  forward.sa_sigaction = forward_to_child;
  forward.sa_flags = SA_SIGINFO;
  sigemptyset(&forward.sa_mask);
  ::sigaction(SIGTERM, &forward, nullptr);
  ::sigaction(SIGHUP, &forward, nullptr);
  sigset_t forwarded;
  sigset_t unblocked;
  sigemptyset(&forwarded);
  sigaddset(&forwarded, SIGTERM);
  sigaddset(&forwarded, SIGHUP);
  // Held back until the child's pid is known, so that none is lost; the child starts without.
  ::sigprocmask(SIG_BLOCK, &forwarded, &unblocked);
  spawn.signal_mask = unblocked;
  std::optional<ChildProcess> child;
  try {
    child.emplace(ChildProcess::start(spawn));
  } catch (...) {
    ::sigprocmask(SIG_SETMASK, &unblocked, nullptr);
    throw;
  }
  const ForgetChild forget;
  g_child = child->pid();
  ::sigprocmask(SIG_SETMASK, &unblocked, nullptr);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child->pid(), 0));

  std::set<std::string> seen;
  std::optional<StackReader> reader;
  std::string problem;  // set once the child cannot be read: sampling stops, the child runs on
  detail::PythonTraceWriter trace;
  std::vector<StackReader::ThreadStack> now;
  std::size_t unreadable = 0;
  std::size_t sweeps = 0;  // reads of every thread's stack
  ExitStatus status;
  bool reaped = false;
  std::int64_t next = monotonic_ns();
  while (!reaped) {
    const std::int64_t t = monotonic_ns();
    if (sampling && problem.empty()) {
      try {
        if (!reader) {
          if (auto runtime = detail::locate_runtime(child->pid(), seen)) {
            const CPythonLayout* layout = detail::layout_for(runtime->version);
            if (!layout) {
              throw std::runtime_error(fmt::format("{} is CPython {}.{}: joulebench reads only CPython {} from outside",
                                                   runtime->file.string(), runtime->version.major,
                                                   runtime->version.minor, detail::known_versions()));
            }
            reader.emplace(child->pid(), std::move(*runtime), *layout);
          }
        }
        if (reader) {
          reader->read(now, unreadable);
          ++sweeps;
          for (const auto& stack : now) trace.add(t, stack.thread, stack.functions);
        }
      } catch (const std::runtime_error& e) {
        problem = e.what();
        std::fprintf(stderr, "joulebench: the Python sampler stops: %s\n", problem.c_str());
      }
    }
    const bool waiting_only = !sampling || !problem.empty();
    next += options.interval_ns;
    const std::int64_t after = monotonic_ns();
    if (next < after) next = after + options.interval_ns;  // a slow read: no burst of catch-up samples
    bool ended = false;
    if (pidfd >= 0) {
      pollfd fd{pidfd, POLLIN, 0};
      const timespec timeout = to_timespec(next - after);
      ended = ::ppoll(&fd, 1, waiting_only ? nullptr : &timeout, nullptr) > 0;
    } else {  // a kernel without pidfd (before Linux 5.3): a look at every interval
      const timespec until = to_timespec(next);
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr);
      ended = has_exited(child->pid());
    }
    if (ended) {
      // No forwarding while the child is reaped: its pid could be reused at once.
      ::sigprocmask(SIG_BLOCK, &forwarded, nullptr);
      status = child->wait().status;
      reaped = true;
      g_child = 0;
      ::sigprocmask(SIG_SETMASK, &unblocked, nullptr);
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  if (!sampling) return status;  // the launcher wrote the trace

  detail::PythonTraceWriter::Notes notes;
  if (reader) {
    const PythonVersion v = reader->runtime().version;
    notes.sampler = fmt::format("external, CPython {}.{} ({})", v.major, v.minor, reader->runtime().file.string());
  } else {
    notes.sampler = "external";
  }
  // The sampler's own cost, on its own CPU: this process does nothing else.
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  notes.cpu_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) * 1e-6;
  notes.sweeps = sweeps;
  notes.unreadable = unreadable;
  notes.stopped = problem;
  static const std::vector<std::string> no_names;
  trace.write(options.out, reader ? reader->names() : no_names, notes);
  return status;
}

}  // namespace joulebench

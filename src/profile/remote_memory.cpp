// Reading another process's memory with process_vm_readv (remote_memory.hpp).
#include "profile/remote_memory.hpp"

#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <fmt/format.h>

namespace joulebench::detail {

bool RemoteMemory::read(std::uint64_t address, void* out, std::size_t size) const {
  iovec local{out, size};
  iovec remote{reinterpret_cast<void*>(address), size};
  const ssize_t got = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
  if (got == static_cast<ssize_t>(size)) return true;
  if (got >= 0) errno = EFAULT;  // cut short at a page that cannot be read: errno is not set
  return false;
}

bool cannot_read(int error) { return error != EFAULT && error != ESRCH; }

std::string read_problem(int error) {
  if (error == EPERM) {
    return "the kernel does not let joulebench read the child's memory (process_vm_readv: EPERM). Allow it with 'sudo "
           "sysctl kernel.yama.ptrace_scope=1' (a parent may read its children), run joulebench as root, or set "
           "JOULEBENCH_PYTHON_SAMPLER=in-process";
  }
  return fmt::format("cannot read the child's memory: {}", std::strerror(error));
}

bool can_read_child_memory(std::string& why) {
  static const std::string problem = [] {
    static const std::uint64_t probe = 0x6a6f756c6562656eULL;
    // A bare fork, not a command (process.hpp): the probe runs no program, only waits to be read.
    const pid_t child = ::fork();
    if (child < 0) return fmt::format("cannot start a child to try reading its memory: {}", std::strerror(errno));
    if (child == 0) {
      for (;;) ::pause();
    }
    std::uint64_t copy = 0;
    iovec local{&copy, sizeof copy};
    iovec remote{const_cast<std::uint64_t*>(&probe), sizeof probe};
    const bool ok = ::process_vm_readv(child, &local, 1, &remote, 1, 0) == sizeof copy && copy == probe;
    const int error = errno;
    ::kill(child, SIGKILL);
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {}
    return ok ? std::string() : read_problem(error);
  }();
  why = problem;
  return problem.empty();
}

}  // namespace joulebench::detail

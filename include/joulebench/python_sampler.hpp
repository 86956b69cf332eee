// The python mode's sampler: `joulebench python-sampler` runs a Python command and writes its
// python-mode trace (profile.hpp). Where it can, it samples from outside the program: it starts the
// script as its child and reads the interpreter's stacks from the child's memory
// (process_vm_readv) at a fixed interval, without stopping it, so the program runs as it would
// unprofiled: no thread of its own, no GIL taken, no switch interval changed. The trace is written
// when the child has exited, even when a signal killed it.
//
// That needs a CPython whose structure layout joulebench knows (3.11, 3.12) and a kernel that lets
// a parent read its child's memory (Yama's ptrace_scope 0 or 1, no seccomp filter against it).
// Elsewhere it runs the command under the sampler thread inside the program
// (python/joulebench_profile.py), which costs the program more at start-up (docs/profiles.md).
// The choice is made where the command runs (its PATH, working directory and environment) and said
// on standard error.
//
// The reads are not atomic: a stack that changes while it is read may come out torn. A stack that
// fails the checks (a code object that is not one, a frame chain that goes round, a name with a
// NUL) is read again at once; if that fails too, the sample is dropped and counted ("# unreadable
// samples" in the trace).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "joulebench/process.hpp"

namespace joulebench {

/// Where the python mode's sampler runs.
enum class PythonSamplerKind : std::uint8_t {
  external,    ///< joulebench python-sampler, reading the child's memory
  in_process,  ///< the launcher's sampler thread (python/joulebench_profile.py)
};

struct PythonSamplerChoice {
  PythonSamplerKind kind = PythonSamplerKind::in_process;
  std::string reason;  ///< why: the interpreter's version, or what keeps the external sampler out
};

/// Which sampler the python mode uses for `interpreter` (a name looked up in PATH, or a path):
/// external for an ELF CPython whose layout is known, when this kernel lets a parent read its
/// child's memory; in-process otherwise. JOULEBENCH_PYTHON_SAMPLER=external|in-process forces one.
PythonSamplerChoice choose_python_sampler(const std::string& interpreter);

/// A CPython version (3.11: {3, 11}) from its executable: Py_Version read from the ELF file (the
/// executable's or, for a shared build, libpythonX.Y's through the file name), nullopt when it is
/// not an ELF CPython.
struct PythonVersion {
  int major = 0;
  int minor = 0;
};
std::optional<PythonVersion> python_executable_version(const std::filesystem::path& executable);

/// The address of a symbol in an ELF file as the file states it (st_value), from .symtab or
/// .dynsym; nullopt when the file is not ELF or lacks it.
std::optional<std::uint64_t> elf_symbol_value(const std::filesystem::path& file, const std::string& name);

struct PythonSamplerOptions {
  std::vector<std::string> argv;  ///< the Python command: interpreter, its options, script, arguments
  std::filesystem::path out;      ///< the trace to write
  std::int64_t interval_ns = 5'000'000;
};

/// Runs the command as a child within this command (SpawnOptions::within_caller: in this process
/// group, cgroup and user) under the sampler choose_python_sampler() picks (external: sampled from
/// here until it exits, then the trace written; in-process: under joulebench_profile.py, which
/// writes the trace), and returns how the child ended. Signals from
/// the terminal reach the child directly; SIGTERM and SIGHUP sent to this process alone are passed
/// on. Throws LaunchError when the command cannot be started, std::runtime_error when it cannot be
/// profiled (JOULEBENCH_PYTHON_SAMPLER set wrong, no script, the launcher missing). Reading
/// problems are reported on standard error; the child's run is never cut short for them.
ExitStatus run_python_sampler(const PythonSamplerOptions& options);

}  // namespace joulebench

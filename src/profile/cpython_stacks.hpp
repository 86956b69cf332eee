// Reading a running CPython's thread stacks from outside it: where its runtime lies in the
// child's mappings (locate_runtime), and StackReader, which copies every thread's frames and names
// their functions at each sweep. The external Python sampler (python_sampler.cpp) calls them at
// its interval; ELF files, structure layouts and memory reads come from elf_image.hpp,
// cpython_layout.hpp and remote_memory.hpp. Internal to the profile part.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "joulebench/python_sampler.hpp"
#include "profile/cpython_layout.hpp"

namespace joulebench::detail {

/// The addresses of the runtime's globals in the child.
struct RuntimeAddresses {
  std::uint64_t runtime = 0;  ///< _PyRuntime
  std::uint64_t code_type = 0;
  std::uint64_t unicode_type = 0;
  PythonVersion version;
  std::filesystem::path file;  ///< the executable or libpython that holds them
};

/// Looks for the CPython runtime in the child's mappings: a file named like python whose symbols
/// hold _PyRuntime. Files already looked at are skipped. Throws std::runtime_error when the child
/// is a CPython joulebench cannot read.
std::optional<RuntimeAddresses> locate_runtime(pid_t pid, std::set<std::string>& seen);

/// Reads the stacks of a CPython of a known layout.
class StackReader {
 public:
  StackReader(pid_t pid, RuntimeAddresses runtime, const CPythonLayout& layout);
  StackReader(StackReader&&) noexcept;
  StackReader& operator=(StackReader&&) noexcept;
  ~StackReader();

  struct ThreadStack {
    std::uint64_t thread = 0;
    std::vector<std::uint32_t> functions;  ///< root first, into names()
  };

  /// Every thread's stack now (threads without a Python frame are left out). A thread whose stack
  /// cannot be read consistently, twice in a row, is counted in `unreadable`. Throws
  /// std::runtime_error when the child's memory cannot be read at all.
  void read(std::vector<ThreadStack>& out, std::size_t& unreadable);

  /// The functions' names, by id: `qualified.name (file:first line)`, as the in-process sampler
  /// names them.
  const std::vector<std::string>& names() const;
  const RuntimeAddresses& runtime() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace joulebench::detail

// RemoteMemory: copies of another process's memory (process_vm_readv, which neither stops nor
// traces it), what a failed read means, and whether this kernel allows such reads at all. The
// external Python sampler reads its child's stacks this way. Internal to the profile part.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace joulebench::detail {

/// The memory of a process, read at an address.
class RemoteMemory {
 public:
  explicit RemoteMemory(pid_t pid) : pid_(pid) {}
  pid_t pid() const { return pid_; }
  /// Copies `size` bytes at `address` in the child; false (errno set) when they cannot be read.
  bool read(std::uint64_t address, void* out, std::size_t size) const;
  template <typename T>
  std::optional<T> value(std::uint64_t address) const {
    T out{};
    if (!read(address, &out, sizeof out)) return std::nullopt;
    return out;
  }

 private:
  pid_t pid_;
};

/// A field of a structure copied from the child, `offset` bytes into the copy.
template <typename T>
T field(const unsigned char* block, std::uint64_t offset) {
  T out{};
  std::memcpy(&out, block + offset, sizeof out);
  return out;
}

/// Whether a failed read means the child cannot be read at all (not a torn stack: EFAULT, nor a
/// child that has just ended: ESRCH).
bool cannot_read(int error);

/// Why the child cannot be read, for a message.
std::string read_problem(int error);

/// Whether this kernel lets a parent read its child's memory: tried once on a child that only
/// waits. `why` is set to the reason when it does not (empty when it does).
bool can_read_child_memory(std::string& why);

}  // namespace joulebench::detail

// ElfImage: the few things the external Python sampler needs from an ELF file (a symbol's value,
// the DT_NEEDED libraries, 8 bytes of initialised data, the load address), read from the file
// mapped read-only. glibc's <elf.h> gives the structures; a full ELF library is not needed for one
// symbol table. Internal to the profile part (python_sampler.cpp, cpython_stacks.cpp).
#pragma once

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace joulebench::detail {

/// A 64-bit little-endian ELF file, mapped read-only: its symbols, its DT_NEEDED libraries and
/// its bytes at an address.
class ElfImage {
 public:
  /// The file mapped, or nullopt when it cannot be read or is not a 64-bit little-endian ELF file.
  static std::optional<ElfImage> open(const std::filesystem::path& file);

  ElfImage(ElfImage&& other) noexcept;
  ElfImage& operator=(ElfImage&&) = delete;
  ElfImage(const ElfImage&) = delete;
  ~ElfImage();

  std::uint16_t type() const { return header().e_type; }

  /// A defined symbol's value (its link-time address).
  std::optional<std::uint64_t> symbol(std::string_view name) const;
  /// The libraries the dynamic loader loads first (DT_NEEDED).
  std::vector<std::string> needed() const;
  /// The 8 bytes the file holds for a link-time address (initialised data), if it holds them.
  std::optional<std::uint64_t> u64_at(std::uint64_t address) const;
  /// The link-time address the file's start is loaded at: the first PT_LOAD's, page-aligned.
  std::uint64_t first_load_address() const;

 private:
  ElfImage(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}

  template <typename T>
  const T* at(std::uint64_t offset) const {
    return reinterpret_cast<const T*>(data_ + offset);
  }
  bool within(std::uint64_t offset, std::uint64_t size) const { return offset <= size_ && size <= size_ - offset; }
  const Elf64_Ehdr& header() const { return *at<Elf64_Ehdr>(0); }
  std::span<const Elf64_Shdr> sections() const;
  const Elf64_Shdr* section_at(std::uint32_t index) const;
  std::string_view string_at(const Elf64_Shdr& strings, std::uint64_t offset) const;

  const unsigned char* data_;
  std::size_t size_;
};

}  // namespace joulebench::detail

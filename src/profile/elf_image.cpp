// Reading an ELF file mapped read-only: symbols, DT_NEEDED, initialised data (elf_image.hpp).
#include "profile/elf_image.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace joulebench::detail {

namespace fs = std::filesystem;

std::optional<ElfImage> ElfImage::open(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    ::close(fd);
    return std::nullopt;
  }
  void* data = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (data == MAP_FAILED) return std::nullopt;
  ElfImage image(static_cast<const unsigned char*>(data), static_cast<std::size_t>(st.st_size));
  const auto* header = image.at<Elf64_Ehdr>(0);
  if (std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64 ||
      header->e_ident[EI_DATA] != ELFDATA2LSB || header->e_shentsize != sizeof(Elf64_Shdr) ||
      header->e_phentsize != sizeof(Elf64_Phdr)) {
    return std::nullopt;
  }
  return image;
}

ElfImage::ElfImage(ElfImage&& other) noexcept : data_(std::exchange(other.data_, nullptr)), size_(other.size_) {}

ElfImage::~ElfImage() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}

std::optional<std::uint64_t> ElfImage::symbol(std::string_view name) const {
  for (const Elf64_Shdr& section : sections()) {
    if (section.sh_type != SHT_SYMTAB && section.sh_type != SHT_DYNSYM) continue;
    const Elf64_Shdr* strings = section_at(section.sh_link);
    if (!strings || !within(section.sh_offset, section.sh_size)) continue;
    const std::size_t count = section.sh_size / sizeof(Elf64_Sym);
    for (std::size_t i = 0; i < count; ++i) {
      const auto* sym = at<Elf64_Sym>(section.sh_offset + i * sizeof(Elf64_Sym));
      if (sym->st_shndx == SHN_UNDEF || string_at(*strings, sym->st_name) != name) continue;
      return sym->st_value;
    }
  }
  return std::nullopt;
}

std::vector<std::string> ElfImage::needed() const {
  std::vector<std::string> out;
  for (const Elf64_Shdr& section : sections()) {
    if (section.sh_type != SHT_DYNAMIC || !within(section.sh_offset, section.sh_size)) continue;
    const Elf64_Shdr* strings = section_at(section.sh_link);
    if (!strings) continue;
    for (std::size_t i = 0; i < section.sh_size / sizeof(Elf64_Dyn); ++i) {
      const auto* entry = at<Elf64_Dyn>(section.sh_offset + i * sizeof(Elf64_Dyn));
      if (entry->d_tag == DT_NULL) break;
      if (entry->d_tag == DT_NEEDED) out.emplace_back(string_at(*strings, entry->d_un.d_val));
    }
  }
  return out;
}

std::optional<std::uint64_t> ElfImage::u64_at(std::uint64_t address) const {
  for (const Elf64_Shdr& section : sections()) {
    if (section.sh_type == SHT_NOBITS || !(section.sh_flags & SHF_ALLOC) || address < section.sh_addr ||
        address + 8 > section.sh_addr + section.sh_size) {
      continue;
    }
    const std::uint64_t offset = section.sh_offset + (address - section.sh_addr);
    if (!within(offset, 8)) return std::nullopt;
    std::uint64_t value = 0;
    std::memcpy(&value, data_ + offset, sizeof value);
    return value;
  }
  return std::nullopt;
}

std::uint64_t ElfImage::first_load_address() const {
  const Elf64_Ehdr& h = header();
  for (std::size_t i = 0; i < h.e_phnum; ++i) {
    if (!within(h.e_phoff + i * sizeof(Elf64_Phdr), sizeof(Elf64_Phdr))) break;
    const auto* segment = at<Elf64_Phdr>(h.e_phoff + i * sizeof(Elf64_Phdr));
    if (segment->p_type == PT_LOAD) return segment->p_vaddr - segment->p_offset;
  }
  return 0;
}

std::span<const Elf64_Shdr> ElfImage::sections() const {
  const Elf64_Ehdr& h = header();
  if (!within(h.e_shoff, std::uint64_t{h.e_shnum} * sizeof(Elf64_Shdr))) return {};
  return {at<Elf64_Shdr>(h.e_shoff), h.e_shnum};
}

const Elf64_Shdr* ElfImage::section_at(std::uint32_t index) const {
  const auto all = sections();
  return index < all.size() ? &all[index] : nullptr;
}

std::string_view ElfImage::string_at(const Elf64_Shdr& strings, std::uint64_t offset) const {
  if (offset >= strings.sh_size || !within(strings.sh_offset, strings.sh_size)) return {};
  const char* start = reinterpret_cast<const char*>(data_ + strings.sh_offset + offset);
  return {start, ::strnlen(start, strings.sh_size - offset)};
}

}  // namespace joulebench::detail

// The Python sampler outside the program: ELF symbols, CPython's structure layout, the read of
// every thread's stack from the child's memory, and the loop around the child.
#include "joulebench/python_sampler.hpp"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <regex>
#include <set>
#include <span>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "joulebench/profile.hpp"

namespace joulebench {

namespace fs = std::filesystem;

namespace {

// --- ELF files ------------------------------------------------------------------------------

/// A 64-bit little-endian ELF file, mapped read-only: its symbols, its DT_NEEDED libraries and
/// its bytes at an address. glibc's <elf.h> gives the structures; a full ELF library is not
/// needed for one symbol table.
class ElfImage {
 public:
  static std::optional<ElfImage> open(const fs::path& file) {
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

  ElfImage(ElfImage&& other) noexcept : data_(std::exchange(other.data_, nullptr)), size_(other.size_) {}
  ElfImage& operator=(ElfImage&&) = delete;
  ElfImage(const ElfImage&) = delete;
  ~ElfImage() {
    if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  }

  std::uint16_t type() const { return header().e_type; }

  /// A defined symbol's value (its link-time address).
  std::optional<std::uint64_t> symbol(std::string_view name) const {
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

  /// The libraries the dynamic loader loads first (DT_NEEDED).
  std::vector<std::string> needed() const {
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

  /// The 8 bytes the file holds for a link-time address (initialised data), if it holds them.
  std::optional<std::uint64_t> u64_at(std::uint64_t address) const {
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

  /// The link-time address the file's start is loaded at: the first PT_LOAD's, page-aligned.
  std::uint64_t first_load_address() const {
    const Elf64_Ehdr& h = header();
    for (std::size_t i = 0; i < h.e_phnum; ++i) {
      if (!within(h.e_phoff + i * sizeof(Elf64_Phdr), sizeof(Elf64_Phdr))) break;
      const auto* segment = at<Elf64_Phdr>(h.e_phoff + i * sizeof(Elf64_Phdr));
      if (segment->p_type == PT_LOAD) return segment->p_vaddr - segment->p_offset;
    }
    return 0;
  }

 private:
  ElfImage(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}

  template <typename T>
  const T* at(std::uint64_t offset) const {
    return reinterpret_cast<const T*>(data_ + offset);
  }
  bool within(std::uint64_t offset, std::uint64_t size) const { return offset <= size_ && size <= size_ - offset; }
  const Elf64_Ehdr& header() const { return *at<Elf64_Ehdr>(0); }

  std::span<const Elf64_Shdr> sections() const {
    const Elf64_Ehdr& h = header();
    if (!within(h.e_shoff, std::uint64_t{h.e_shnum} * sizeof(Elf64_Shdr))) return {};
    return {at<Elf64_Shdr>(h.e_shoff), h.e_shnum};
  }
  const Elf64_Shdr* section_at(std::uint32_t index) const {
    const auto all = sections();
    return index < all.size() ? &all[index] : nullptr;
  }
  std::string_view string_at(const Elf64_Shdr& strings, std::uint64_t offset) const {
    if (offset >= strings.sh_size || !within(strings.sh_offset, strings.sh_size)) return {};
    const char* start = reinterpret_cast<const char*>(data_ + strings.sh_offset + offset);
    return {start, ::strnlen(start, strings.sh_size - offset)};
  }

  const unsigned char* data_;
  std::size_t size_;
};

PythonVersion decode_py_version(std::uint64_t hex) {
  return {static_cast<int>((hex >> 24) & 0xff), static_cast<int>((hex >> 16) & 0xff)};
}

// --- CPython's structures -------------------------------------------------------------------

/// Where the fields the sampler reads are, in bytes from the start of their structure: offsetof()
/// in the CPython version's headers (Include/internal), for 64-bit Linux.
struct CPythonLayout {
  PythonVersion version;
  std::uint64_t runtime_interpreters_main;  ///< _PyRuntimeState.interpreters.main (not .head: the newest)
  std::uint64_t interpreter_threads_head;   ///< PyInterpreterState.threads.head
  std::uint64_t thread_next;                ///< PyThreadState.next
  std::uint64_t thread_cframe;              ///< PyThreadState.cframe
  std::uint64_t thread_id;                  ///< PyThreadState.thread_id (threading.get_ident())
  std::uint64_t thread_datastack_chunk;     ///< PyThreadState.datastack_chunk: where frames are pushed
  std::uint64_t thread_datastack_top;       ///< PyThreadState.datastack_top: the end of the used part
  std::uint64_t thread_read;                ///< bytes of PyThreadState read: past the last field used
  std::uint64_t cframe_current_frame;       ///< _PyCFrame.current_frame
  std::uint64_t frame_code;                 ///< _PyInterpreterFrame.f_code
  std::uint64_t frame_previous;             ///< _PyInterpreterFrame.previous
  std::uint64_t frame_prev_instr;           ///< _PyInterpreterFrame.prev_instr
  std::uint64_t frame_owner;                ///< _PyInterpreterFrame.owner (char)
  std::uint64_t frame_read;
  std::uint8_t frame_owned_by_generator;    ///< FRAME_OWNED_BY_GENERATOR
  std::uint8_t frame_owned_by_cstack;       ///< FRAME_OWNED_BY_CSTACK: an entry shim, not a call (3.12)
  std::uint64_t object_type;                ///< PyObject.ob_type
  std::uint64_t code_firstlineno;           ///< PyCodeObject.co_firstlineno (int)
  std::uint64_t code_filename;              ///< PyCodeObject.co_filename
  std::uint64_t code_qualname;              ///< PyCodeObject.co_qualname
  std::uint64_t code_firsttraceable;        ///< PyCodeObject._co_firsttraceable (int)
  std::uint64_t code_adaptive;              ///< PyCodeObject.co_code_adaptive: the first instruction
  std::uint64_t unicode_length;             ///< PyASCIIObject.length
  std::uint64_t unicode_state;              ///< PyASCIIObject.state (bit fields)
  std::uint64_t unicode_ascii_data;         ///< sizeof(PyASCIIObject): where compact ASCII text starts
  std::uint64_t unicode_compact_data;       ///< sizeof(PyCompactUnicodeObject): other compact text
};

constexpr CPythonLayout kCPython311{
    .version = {3, 11},
    .runtime_interpreters_main = 48,
    .interpreter_threads_head = 16,
    .thread_next = 8,
    .thread_cframe = 56,
    .thread_id = 152,
    .thread_datastack_chunk = 296,
    .thread_datastack_top = 304,
    .thread_read = 312,
    .cframe_current_frame = 8,
    .frame_code = 32,
    .frame_previous = 48,
    .frame_prev_instr = 56,
    .frame_owner = 69,
    .frame_read = 70,
    .frame_owned_by_generator = 1,
    .frame_owned_by_cstack = 0xff,  // none in 3.11
    .object_type = 8,
    .code_firstlineno = 72,
    .code_filename = 112,
    .code_qualname = 128,
    .code_firsttraceable = 168,
    .code_adaptive = 184,
    .unicode_length = 16,
    .unicode_state = 32,
    .unicode_ascii_data = 48,
    .unicode_compact_data = 72,
};

constexpr CPythonLayout kCPython312{
    .version = {3, 12},
    .runtime_interpreters_main = 48,
    .interpreter_threads_head = 72,
    .thread_next = 8,
    .thread_cframe = 56,
    .thread_id = 136,
    .thread_datastack_chunk = 232,
    .thread_datastack_top = 240,
    .thread_read = 248,
    .cframe_current_frame = 0,
    .frame_code = 0,
    .frame_previous = 8,
    .frame_prev_instr = 56,
    .frame_owner = 70,
    .frame_read = 71,
    .frame_owned_by_generator = 1,
    .frame_owned_by_cstack = 3,
    .object_type = 8,
    .code_firstlineno = 68,
    .code_filename = 112,
    .code_qualname = 128,
    .code_firsttraceable = 176,
    .code_adaptive = 192,
    .unicode_length = 16,
    .unicode_state = 32,
    .unicode_ascii_data = 40,
    .unicode_compact_data = 56,
};

constexpr std::array kLayouts{&kCPython311, &kCPython312};

const CPythonLayout* layout_for(PythonVersion version) {
  for (const CPythonLayout* layout : kLayouts) {
    if (version.major == layout->version.major && version.minor == layout->version.minor) return layout;
  }
  return nullptr;
}

std::string known_versions() {
  std::string out;
  for (const CPythonLayout* layout : kLayouts) {
    out += fmt::format("{}{}.{}", out.empty() ? "" : ", ", layout->version.major, layout->version.minor);
  }
  return out;
}

// --- Reading the child ----------------------------------------------------------------------

class RemoteMemory {
 public:
  explicit RemoteMemory(pid_t pid) : pid_(pid) {}
  pid_t pid() const { return pid_; }
  /// Copies `size` bytes at `address` in the child; false (errno set) when they cannot be read.
  bool read(std::uint64_t address, void* out, std::size_t size) const {
    iovec local{out, size};
    iovec remote{reinterpret_cast<void*>(address), size};
    const ssize_t got = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (got == static_cast<ssize_t>(size)) return true;
    if (got >= 0) errno = EFAULT;  // cut short at a page that cannot be read: errno is not set
    return false;
  }
  template <typename T>
  std::optional<T> value(std::uint64_t address) const {
    T out{};
    if (!read(address, &out, sizeof out)) return std::nullopt;
    return out;
  }

 private:
  pid_t pid_;
};

template <typename T>
T field(const unsigned char* block, std::uint64_t offset) {
  T out{};
  std::memcpy(&out, block + offset, sizeof out);
  return out;
}

/// The addresses of the runtime's globals in the child.
struct RuntimeAddresses {
  std::uint64_t runtime = 0;  ///< _PyRuntime
  std::uint64_t code_type = 0;
  std::uint64_t unicode_type = 0;
  PythonVersion version;
  fs::path file;  ///< the executable or libpython that holds them
};

/// Whether a failed read means the child cannot be read at all (not a torn stack: EFAULT, nor a
/// child that has just ended: ESRCH).
bool cannot_read(int error) { return error != EFAULT && error != ESRCH; }

/// Why the child cannot be read, for a message.
std::string read_problem(int error) {
  if (error == EPERM) {
    return "the kernel does not let joulebench read the child's memory (process_vm_readv: EPERM). Allow it with 'sudo "
           "sysctl kernel.yama.ptrace_scope=1' (a parent may read its children), run joulebench as root, or set "
           "JOULEBENCH_PYTHON_SAMPLER=in-process";
  }
  return fmt::format("cannot read the child's memory: {}", std::strerror(error));
}

/// Looks for the CPython runtime in the child's mappings: a file named like python whose symbols
/// hold _PyRuntime. Files already looked at are skipped. Throws std::runtime_error when the child
/// is a CPython joulebench cannot read.
std::optional<RuntimeAddresses> locate_runtime(pid_t pid, std::set<std::string>& seen) {
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  for (std::string line; std::getline(maps, line);) {
    // start-end perms offset dev inode path
    const std::size_t path_at = line.find('/');
    if (path_at == std::string::npos) continue;
    const std::string path = line.substr(path_at);
    const std::size_t slash = path.rfind('/');
    if (path.find("python", slash) == std::string::npos || path.ends_with(" (deleted)")) continue;
    unsigned long long start = 0;
    unsigned long long end = 0;
    unsigned long long offset = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%llx-%llx %4s %llx", &start, &end, perms, &offset) != 4 || offset != 0) continue;
    if (!seen.insert(path).second) continue;
    const auto image = ElfImage::open(path);
    if (!image) continue;
    const auto runtime = image->symbol("_PyRuntime");
    if (!runtime) continue;
    const std::uint64_t bias = image->type() == ET_DYN ? start - image->first_load_address() : 0;
    const auto version_at = image->symbol("Py_Version");
    const auto code_type = image->symbol("PyCode_Type");
    const auto unicode_type = image->symbol("PyUnicode_Type");
    if (!version_at || !code_type || !unicode_type) {
      throw std::runtime_error(fmt::format("{} is a CPython older than 3.11 (no Py_Version): joulebench reads only "
                                           "CPython {} from outside",
                                           path, known_versions()));
    }
    // Py_Version is constant data: the file holds it, so the loader need not have mapped it yet.
    const auto hex = image->u64_at(*version_at);
    if (!hex) throw std::runtime_error(fmt::format("{}: cannot read Py_Version", path));
    return RuntimeAddresses{bias + *runtime, bias + *code_type, bias + *unicode_type, decode_py_version(*hex), path};
  }
  return std::nullopt;
}

void append_utf8(std::string& out, std::uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

/// A file name as the in-process launcher shows it: relative to site-packages or dist-packages for
/// libraries, to the standard library for its modules, the base name otherwise.
std::string short_file(std::string_view file, PythonVersion version) {
  for (const std::string_view marker : {"/site-packages/", "/dist-packages/"}) {
    if (const std::size_t at = file.rfind(marker); at != std::string_view::npos) return std::string(file.substr(at + marker.size()));
  }
  for (const std::string_view lib : {"/lib/", "/lib64/"}) {  // lib64: Fedora's and RHEL's standard library
    const std::string stdlib = fmt::format("{}python{}.{}/", lib, version.major, version.minor);
    if (const std::size_t at = file.find(stdlib); at != std::string_view::npos) return std::string(file.substr(at + stdlib.size()));
  }
  const std::size_t slash = file.rfind('/');
  return std::string(slash == std::string_view::npos ? file : file.substr(slash + 1));
}

/// Reads the stacks of a CPython of a known layout.
class StackReader {
 public:
  StackReader(pid_t pid, RuntimeAddresses runtime, const CPythonLayout& layout)
      : memory_(pid), runtime_(std::move(runtime)), layout_(layout) {}

  struct ThreadStack {
    std::uint64_t thread = 0;
    std::vector<std::uint32_t> functions;  ///< root first, into names()
  };

  /// Every thread's stack now (threads without a Python frame are left out). A thread whose stack
  /// cannot be read consistently, twice in a row, is counted in `unreadable`. Throws
  /// std::runtime_error when the child's memory cannot be read at all.
  void read(std::vector<ThreadStack>& out, std::size_t& unreadable) {
    out.clear();
    const auto interpreter = pointer(runtime_.runtime + layout_.runtime_interpreters_main);
    if (!interpreter || *interpreter == 0) return;  // not started yet, or finalised
    auto thread = pointer(*interpreter + layout_.interpreter_threads_head);
    unsigned char state[512];
    threads_seen_.clear();
    for (int count = 0; thread && *thread != 0 && count < kMaxThreads; ++count) {
      if (!threads_seen_.insert(*thread).second) {
        ++unreadable;  // a thread state freed and reused during the sweep: the list went round
        return;
      }
      if (!memory_.read(*thread, state, layout_.thread_read)) {
        ++unreadable;  // the thread ended as it was read: the rest of the list is out of reach
        return;
      }
      ThreadStack stack;
      stack.thread = field<std::uint64_t>(state, layout_.thread_id);
      // The program runs on while its stack is read: a stack that changed under the read is
      // read again at once, which nearly always succeeds.
      bool read = read_stack(state, stack.functions);
      for (int again = 0; again < kRereads && !read && memory_.read(*thread, state, layout_.thread_read); ++again) {
        stack.functions.clear();
        read = read_stack(state, stack.functions);
      }
      if (!read) {
        ++unreadable;
      } else if (!stack.functions.empty()) {
        std::reverse(stack.functions.begin(), stack.functions.end());
        out.push_back(std::move(stack));
      }
      thread = field<std::uint64_t>(state, layout_.thread_next);
    }
  }

  const std::vector<std::string>& names() const { return names_; }
  const RuntimeAddresses& runtime() const { return runtime_; }

 private:
  static constexpr int kMaxThreads = 4096;
  static constexpr std::size_t kMaxDepth = 4096;
  static constexpr std::uint64_t kMaxDataStack = 4 << 20;
  static constexpr std::size_t kMaxChunks = 64;
  static constexpr int kRereads = 3;  ///< a torn stack is read again at once, up to this many times
  // _PyStackChunk (3.11, 3.12): previous, size, top, then the frames.
  static constexpr std::uint64_t kChunkPrevious = 0;
  static constexpr std::uint64_t kChunkHeader = 24;

  std::optional<std::uint64_t> pointer(std::uint64_t address) {
    auto value = memory_.value<std::uint64_t>(address);
    if (!value && cannot_read(errno)) throw std::runtime_error(read_problem(errno));
    return value;
  }

  struct FrameRead {
    std::uint64_t code = 0;
    std::uint64_t prev_instr = 0;
    bool owned_by_generator = false;
  };

  /// One thread's functions, leaf first, from a copy of its PyThreadState. A system call costs
  /// about 3 us on a VM, so the reads are few whatever the depth: the frames of plain calls lie in
  /// the thread's data stack and come in one read; the code objects of all frames in another.
  bool read_stack(const unsigned char* state, std::vector<std::uint32_t>& functions) {
    const auto cframe = field<std::uint64_t>(state, layout_.thread_cframe);
    if (cframe == 0) return true;
    const auto leaf = pointer(cframe + layout_.cframe_current_frame);
    if (!leaf) return false;
    // The data stack is a list of chunks: the newest (up to datastack_top) holds the leaf's end of
    // the stack, older ones the root's end. Each is copied in one read when first needed.
    chunks_.clear();
    std::uint64_t older = 0;  // the next older chunk not yet copied
    const auto chunk = field<std::uint64_t>(state, layout_.thread_datastack_chunk);
    const auto top = field<std::uint64_t>(state, layout_.thread_datastack_top);
    if (chunk != 0 && top > chunk + kChunkHeader && top - chunk <= kMaxDataStack) {
      chunks_.push_back(copy_chunk(chunk, top - chunk));
      if (chunks_.back().bytes.empty()) chunks_.pop_back();
      else older = field<std::uint64_t>(chunks_.back().bytes.data(), kChunkPrevious);
    }
    frames_.clear();
    bool truncated = false;
    unsigned char block[128];
    std::size_t steps = 0;  // frames walked, shims included
    frames_seen_.clear();
    for (std::uint64_t frame = *leaf; frame != 0; ++steps) {
      if (!frames_seen_.insert(frame).second) return false;  // a torn chain that goes round
      if (steps == kMaxDepth) {
        truncated = true;
        break;
      }
      const unsigned char* bytes = in_copies(frame);
      while (!bytes && older != 0 && chunks_.size() < kMaxChunks) {
        const auto header = memory_.value<std::array<std::uint64_t, 2>>(older);  // previous, size
        if (!header || (*header)[1] <= kChunkHeader || (*header)[1] > kMaxDataStack) break;
        chunks_.push_back(copy_chunk(older, (*header)[1]));
        if (chunks_.back().bytes.empty()) break;
        older = (*header)[0];
        bytes = in_copies(frame);
      }
      if (!bytes) {
        if (!memory_.read(frame, block, layout_.frame_read)) return false;
        bytes = block;  // a generator's frame, or a 3.12 entry shim on the C stack: read alone
      }
      const std::uint8_t owner = bytes[layout_.frame_owner];
      // An entry shim (3.12) marks where C called into the interpreter: no function of the program.
      if (owner != layout_.frame_owned_by_cstack) {
        frames_.push_back(FrameRead{field<std::uint64_t>(bytes, layout_.frame_code),
                                    field<std::uint64_t>(bytes, layout_.frame_prev_instr), owner == layout_.frame_owned_by_generator});
      }
      frame = field<std::uint64_t>(bytes, layout_.frame_previous);
    }
    if (!read_codes()) return false;
    for (const FrameRead& f : frames_) {
      const unsigned char* code = codes_.at(f.code).data();
      if (field<std::uint64_t>(code, layout_.object_type) != runtime_.code_type) return false;
      // A frame just pushed, before its first instruction, is not part of the stack yet
      // (CPython's _PyFrame_IsIncomplete; sys._current_frames() skips it too).
      const auto first_traceable = static_cast<std::uint64_t>(std::max(0, field<std::int32_t>(code, layout_.code_firsttraceable)));
      if (!f.owned_by_generator && f.prev_instr < f.code + layout_.code_adaptive + 2 * first_traceable) continue;
      const auto function = function_of(f.code, code);
      if (!function) return false;
      functions.push_back(*function);
    }
    if (truncated) {
      // The root's end of a deeper stack is left out, and said so: its leaf is what counts.
      if (!truncated_) {
        truncated_ = static_cast<std::uint32_t>(names_.size());
        names_.push_back(fmt::format("[frames beyond {} left out]", kMaxDepth));
      }
      functions.push_back(*truncated_);
    }
    return true;
  }

  struct ChunkCopy {
    std::uint64_t start = 0;
    std::vector<unsigned char> bytes;  ///< empty when it could not be read
  };

  ChunkCopy copy_chunk(std::uint64_t start, std::uint64_t size) {
    ChunkCopy copy{start, std::vector<unsigned char>(size)};
    if (!memory_.read(start, copy.bytes.data(), size)) copy.bytes.clear();
    return copy;
  }

  /// A frame's bytes in the copied chunks, or null.
  const unsigned char* in_copies(std::uint64_t frame) const {
    for (const ChunkCopy& c : chunks_) {
      // (Written so that a torn pointer near 2^64 cannot wrap around into the copy.)
      if (frame >= c.start && c.bytes.size() >= layout_.frame_read && frame - c.start <= c.bytes.size() - layout_.frame_read) {
        return c.bytes.data() + (frame - c.start);
      }
    }
    return nullptr;
  }

  /// Reads the code objects of frames_ into codes_, each once, in as few system calls as iovecs allow.
  bool read_codes() {
    codes_.clear();
    for (const FrameRead& f : frames_) {
      if (f.code == 0) return false;
      codes_.emplace(f.code, CodeBytes{});
    }
    std::vector<iovec> local;
    std::vector<iovec> remote;
    const std::size_t size = layout_.code_firsttraceable + sizeof(std::int32_t);
    for (auto& [address, bytes] : codes_) {
      local.push_back(iovec{bytes.data(), size});
      remote.push_back(iovec{reinterpret_cast<void*>(address), size});
    }
    for (std::size_t from = 0; from < local.size(); from += IOV_MAX) {
      const std::size_t count = std::min<std::size_t>(IOV_MAX, local.size() - from);
      const ssize_t got = ::process_vm_readv(memory_.pid(), &local[from], count, &remote[from], count, 0);
      if (got != static_cast<ssize_t>(count * size)) return false;
    }
    return true;
  }

  /// What identifies a code object for naming: its address alone could be reused by another code
  /// object after the first is freed, so its name fields go with it.
  struct CodeKey {
    std::uint64_t code, filename, qualname;
    std::int32_t first_line;
    bool operator==(const CodeKey&) const = default;
  };
  struct CodeKeyHash {
    std::size_t operator()(const CodeKey& k) const {
      return std::hash<std::uint64_t>{}(k.code * 31 + k.filename * 17 + k.qualname * 7 + static_cast<std::uint64_t>(k.first_line));
    }
  };

  /// The function id of a code object (its bytes as read), named on first sight.
  std::optional<std::uint32_t> function_of(std::uint64_t code, const unsigned char* block) {
    const CodeKey key{code, field<std::uint64_t>(block, layout_.code_filename), field<std::uint64_t>(block, layout_.code_qualname),
                      field<std::int32_t>(block, layout_.code_firstlineno)};
    if (const auto found = functions_.find(key); found != functions_.end()) return found->second;
    const auto qualname = text(key.qualname);
    const auto filename = text(key.filename);
    if (!qualname || !filename) return std::nullopt;
    std::string name = fmt::format("{} ({}:{})", *qualname, short_file(*filename, runtime_.version), key.first_line);
    for (char& c : name) {
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
      if (c == ';') c = ',';
    }
    const auto id = static_cast<std::uint32_t>(names_.size());
    names_.push_back(std::move(name));
    functions_.emplace(key, id);
    return id;
  }

  /// A str object's text, as UTF-8 (compact strings: every name and file name in a code object),
  /// cut at kMaxText characters.
  std::optional<std::string> text(std::uint64_t object) {
    // Only PyASCIIObject's own bytes: a short string can end where readable memory ends.
    unsigned char header[64];
    if (object == 0 || !memory_.read(object, header, layout_.unicode_ascii_data)) return std::nullopt;
    if (field<std::uint64_t>(header, layout_.object_type) != runtime_.unicode_type) return std::nullopt;
    const auto length = std::min(field<std::int64_t>(header, layout_.unicode_length), kMaxText);
    const auto state = field<std::uint32_t>(header, layout_.unicode_state);
    const unsigned kind = (state >> 2) & 7;
    const bool compact = (state >> 5) & 1;
    const bool ascii = (state >> 6) & 1;
    if (!compact || length < 0 || (kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1)) return std::nullopt;
    std::vector<unsigned char> data(static_cast<std::size_t>(length) * kind);
    const std::uint64_t start = object + (ascii ? layout_.unicode_ascii_data : layout_.unicode_compact_data);
    if (!data.empty() && !memory_.read(start, data.data(), data.size())) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < static_cast<std::size_t>(length); ++i) {
      std::uint32_t c = 0;
      if (kind == 1) c = data[i];
      else if (kind == 2) c = field<std::uint16_t>(data.data(), i * 2);
      else c = field<std::uint32_t>(data.data(), i * 4);
      // No name nor file name holds a NUL, nor an ASCII string a byte above 127: the string was
      // freed or was being written while it was read. The sample is read again rather than a
      // garbled name kept.
      if (c == 0 || c > 0x10FFFF || (ascii && c > 0x7F)) return std::nullopt;
      if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;  // a lone surrogate (surrogateescape file names)
      append_utf8(out, c);
    }
    return out;
  }

  static constexpr std::int64_t kMaxText = 4096;

  RemoteMemory memory_;
  RuntimeAddresses runtime_;
  const CPythonLayout& layout_;
  using CodeBytes = std::array<unsigned char, 192>;
  std::unordered_map<std::uint64_t, CodeBytes> codes_;  ///< this stack's code objects, by address
  std::vector<FrameRead> frames_;                       ///< this stack's frames, leaf first
  std::vector<ChunkCopy> chunks_;                       ///< copies of this stack's data-stack chunks
  std::unordered_set<std::uint64_t> threads_seen_;      ///< this sweep's thread states
  std::unordered_set<std::uint64_t> frames_seen_;       ///< this stack's frames
  std::vector<std::string> names_;
  std::optional<std::uint32_t> truncated_;  ///< the name standing for frames beyond kMaxDepth
  std::unordered_map<CodeKey, std::uint32_t, CodeKeyHash> functions_;
};

/// Whether this kernel lets a parent read its child's memory: tried once on a child that only waits.
bool can_read_child_memory(std::string& why) {
  static const std::string problem = [] {
    static const std::uint64_t probe = 0x6a6f756c6562656eULL;
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
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return ok ? std::string() : read_problem(error);
  }();
  why = problem;
  return problem.empty();
}

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
  if (g_child > 0 && info->si_code == SI_USER && info->si_pid != ::getppid()) ::kill(static_cast<pid_t>(g_child), signal);
  errno = saved;
}

/// Starts the command in this process group, with `mask` as its signal mask. Throws LaunchError
/// when it cannot be executed.
pid_t start_child(const std::vector<std::string>& argv, const sigset_t& mask) {
  const fs::path program = find_executable(argv.front());
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw LaunchError(126, fmt::format("cannot start {}: {}", argv.front(), std::strerror(errno)));
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(report[0]);
    ::close(report[1]);
    throw LaunchError(126, fmt::format("cannot start {}: {}", argv.front(), std::strerror(error)));
  }
  if (pid == 0) {
    // Ignored signals stay ignored across exec, and handlers are reset: the child gets the defaults.
    for (const int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP}) ::signal(s, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &mask, nullptr);
    ::execv(program.c_str(), args.data());
    const int error = errno;
    (void)!::write(report[1], &error, sizeof error);
    ::_exit(127);
  }
  ::close(report[1]);
  int error = 0;
  ssize_t got = 0;
  while ((got = ::read(report[0], &error, sizeof error)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (got == sizeof error) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw LaunchError(error == ENOENT ? 127 : 126, fmt::format("cannot run {}: {}", program.string(), std::strerror(error)));
  }
  return pid;
}

}  // namespace

std::optional<std::uint64_t> elf_symbol_value(const fs::path& file, const std::string& name) {
  const auto image = ElfImage::open(file);
  return image ? image->symbol(name) : std::nullopt;
}

std::optional<PythonVersion> python_executable_version(const fs::path& executable) {
  const auto image = ElfImage::open(executable);
  if (!image) return std::nullopt;
  if (const auto at = image->symbol("Py_Version")) {
    if (const auto hex = image->u64_at(*at)) return decode_py_version(*hex);
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
    throw std::runtime_error(fmt::format("JOULEBENCH_PYTHON_SAMPLER is '{}': it must be external or in-process", force));
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
  if (!version) return {PythonSamplerKind::in_process, fmt::format("{} is not a CPython executable joulebench can read", path.string())};
  if (!layout_for(*version)) {
    return {PythonSamplerKind::in_process,
            fmt::format("CPython {}.{}: the external sampler reads CPython {} only", version->major, version->minor, known_versions())};
  }
  std::string why;
  if (!can_read_child_memory(why)) return {PythonSamplerKind::in_process, why};
  return {PythonSamplerKind::external, fmt::format("CPython {}.{}", version->major, version->minor)};
}

ExitStatus run_python_sampler(const PythonSamplerOptions& options) {
  if (options.argv.empty()) throw LaunchError(127, "no command to sample");
  if (options.interval_ns <= 0) throw std::invalid_argument("the sampling interval must be positive");

  // Chosen here, where the command runs: its PATH, its working directory, its environment.
  const PythonSamplerChoice choice = choose_python_sampler(options.argv.front());
  const bool sampling = choice.kind == PythonSamplerKind::external;
  std::fprintf(stderr, "joulebench: python sampler: %s (%s)\n", sampling ? "external" : "in-process", choice.reason.c_str());
  const std::vector<std::string> argv =
      sampling ? options.argv : in_process_python_command(options.argv, options.out, options.interval_ns);

  // The terminal's signals reach the child directly (same process group); the sampler waits for
  // it to end and writes the trace. Its exit status must not be reaped by anyone else.
  ::signal(SIGCHLD, SIG_DFL);
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
  // Held back until the child's pid is known, so that none is lost.
  ::sigprocmask(SIG_BLOCK, &forwarded, &unblocked);
  pid_t child = -1;
  try {
    child = start_child(argv, unblocked);
  } catch (...) {
    ::sigprocmask(SIG_SETMASK, &unblocked, nullptr);
    throw;
  }
  g_child = child;
  ::sigprocmask(SIG_SETMASK, &unblocked, nullptr);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));

  std::set<std::string> seen;
  std::optional<StackReader> reader;
  std::string problem;  // set once the child cannot be read: sampling stops, the child runs on
  std::vector<TraceSample> samples;
  std::unordered_map<std::string, std::uint32_t> stack_index;  // the functions' ids as bytes
  std::vector<std::vector<std::uint32_t>> stacks;
  std::vector<StackReader::ThreadStack> now;
  std::size_t unreadable = 0;
  std::size_t sweeps = 0;  // reads of every thread's stack
  int wait_status = 0;
  bool reaped = false;
  std::int64_t next = monotonic_ns();
  while (!reaped) {
    const std::int64_t t = monotonic_ns();
    if (sampling && problem.empty()) {
      try {
        if (!reader) {
          if (auto runtime = locate_runtime(child, seen)) {
            const CPythonLayout* layout = layout_for(runtime->version);
            if (!layout) {
              throw std::runtime_error(fmt::format("{} is CPython {}.{}: joulebench reads only CPython {} from outside",
                                                   runtime->file.string(), runtime->version.major, runtime->version.minor,
                                                   known_versions()));
            }
            reader.emplace(child, std::move(*runtime), *layout);
          }
        }
        if (reader) {
          reader->read(now, unreadable);
          ++sweeps;
          for (const auto& stack : now) {
            const std::string key(reinterpret_cast<const char*>(stack.functions.data()), stack.functions.size() * sizeof(std::uint32_t));
            auto [at, added] = stack_index.emplace(key, static_cast<std::uint32_t>(stacks.size()));
            if (added) stacks.push_back(stack.functions);
            samples.push_back(TraceSample{t, stack.thread, at->second});
          }
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
    }
    if (ended || pidfd < 0) {
      // No forwarding while the child is reaped: its pid could be reused at once.
      ::sigprocmask(SIG_BLOCK, &forwarded, nullptr);
      const pid_t done = ::waitpid(child, &wait_status, ended ? 0 : WNOHANG);
      const int error = errno;
      if (done == child) {
        reaped = true;
        g_child = 0;
      }
      ::sigprocmask(SIG_SETMASK, &unblocked, nullptr);
      if (done < 0 && error != EINTR) {
        if (pidfd >= 0) ::close(pidfd);
        g_child = 0;
        throw std::runtime_error(fmt::format("the Python command's exit status is lost: {}", std::strerror(error)));
      }
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  if (!sampling) return ExitStatus::from_wait_status(wait_status);  // the launcher wrote the trace

  const fs::path partial = fs::path(options.out.string() + ".partial");
  bool written = false;
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << "# joulebench-profile 1\nmode\tpython\nclock\tmonotonic_ns\n";
    if (reader) {
      const PythonVersion v = reader->runtime().version;
      out << fmt::format("# sampler: external, CPython {}.{} ({})\n", v.major, v.minor, reader->runtime().file.string());
    } else {
      out << "# sampler: external\n";
    }
    // The sampler's own cost, on its own CPU: this process does nothing else.
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    const double cpu_s = static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                         static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) * 1e-6;
    out << fmt::format("# sampler cost: {} sweeps, {:.1f} ms CPU ({:.1f} us per sweep)\n", sweeps, cpu_s * 1e3,
                       sweeps ? cpu_s * 1e6 / static_cast<double>(sweeps) : 0.0);
    out << fmt::format("# unreadable samples: {}\n", unreadable);
    if (!problem.empty()) out << "# stopped: " << problem << '\n';
    std::vector<std::string> folded;
    folded.reserve(stacks.size());
    for (const auto& stack : stacks) {
      std::string line;
      for (const std::uint32_t function : stack) {
        if (!line.empty()) line += ';';
        line += reader->names()[function];
      }
      folded.push_back(std::move(line));
    }
    for (const TraceSample& s : samples) out << fmt::format("s\t{}\t{}\t{}\n", s.time_ns, s.thread, folded[s.stack]);
    out.close();
    written = static_cast<bool>(out);
  }
  std::error_code ec;
  if (written) fs::rename(partial, options.out, ec);
  if (!written || ec) {
    std::fprintf(stderr, "joulebench: cannot write the trace %s%s\n", options.out.c_str(), ec ? (": " + ec.message()).c_str() : "");
    fs::remove(partial, ec);
  }
  return ExitStatus::from_wait_status(wait_status);
}

}  // namespace joulebench

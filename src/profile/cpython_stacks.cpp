// Reading a running CPython's stacks from outside (cpython_stacks.hpp).
#include "profile/cpython_stacks.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "profile/elf_image.hpp"
#include "profile/remote_memory.hpp"

namespace joulebench::detail {

namespace {

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
    if (const std::size_t at = file.rfind(marker); at != std::string_view::npos)
      return std::string(file.substr(at + marker.size()));
  }
  for (const std::string_view lib : {"/lib/", "/lib64/"}) {  // lib64: Fedora's and RHEL's standard library
    const std::string stdlib = fmt::format("{}python{}.{}/", lib, version.major, version.minor);
    if (const std::size_t at = file.find(stdlib); at != std::string_view::npos)
      return std::string(file.substr(at + stdlib.size()));
  }
  const std::size_t slash = file.rfind('/');
  return std::string(slash == std::string_view::npos ? file : file.substr(slash + 1));
}

}  // namespace

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
      throw std::runtime_error(
          fmt::format("{} is a CPython older than 3.11 (no Py_Version): joulebench reads only "
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

/// The reader itself: the state it keeps from one sweep to the next.
class StackReader::Impl {
 public:
  Impl(pid_t pid, RuntimeAddresses runtime, const CPythonLayout& layout)
      : memory_(pid), runtime_(std::move(runtime)), layout_(layout) {}

  using ThreadStack = StackReader::ThreadStack;

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
                                    field<std::uint64_t>(bytes, layout_.frame_prev_instr),
                                    owner == layout_.frame_owned_by_generator});
      }
      frame = field<std::uint64_t>(bytes, layout_.frame_previous);
    }
    if (!read_codes()) return false;
    for (const FrameRead& f : frames_) {
      const unsigned char* code = codes_.at(f.code).data();
      if (field<std::uint64_t>(code, layout_.object_type) != runtime_.code_type) return false;
      // A frame just pushed, before its first instruction, is not part of the stack yet
      // (CPython's _PyFrame_IsIncomplete; sys._current_frames() skips it too).
      const auto first_traceable =
          static_cast<std::uint64_t>(std::max(0, field<std::int32_t>(code, layout_.code_firsttraceable)));
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
      if (frame >= c.start && c.bytes.size() >= layout_.frame_read &&
          frame - c.start <= c.bytes.size() - layout_.frame_read) {
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
      return std::hash<std::uint64_t>{}(k.code * 31 + k.filename * 17 + k.qualname * 7 +
                                        static_cast<std::uint64_t>(k.first_line));
    }
  };

  /// The function id of a code object (its bytes as read), named on first sight.
  std::optional<std::uint32_t> function_of(std::uint64_t code, const unsigned char* block) {
    const CodeKey key{code, field<std::uint64_t>(block, layout_.code_filename),
                      field<std::uint64_t>(block, layout_.code_qualname),
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

StackReader::StackReader(pid_t pid, RuntimeAddresses runtime, const CPythonLayout& layout)
    : impl_(std::make_unique<Impl>(pid, std::move(runtime), layout)) {}
StackReader::StackReader(StackReader&&) noexcept = default;
StackReader& StackReader::operator=(StackReader&&) noexcept = default;
StackReader::~StackReader() = default;

void StackReader::read(std::vector<ThreadStack>& out, std::size_t& unreadable) { impl_->read(out, unreadable); }
const std::vector<std::string>& StackReader::names() const { return impl_->names(); }
const RuntimeAddresses& StackReader::runtime() const { return impl_->runtime(); }

}  // namespace joulebench::detail

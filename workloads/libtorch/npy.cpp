#include "npy.hpp"

#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace joulebench::npy {

// The data is copied as is; a big-endian host would need byte swapping.
static_assert(std::endian::native == std::endian::little, "the .npy reader assumes a little-endian host");

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kPreludeV1 = 10;  // magic, 2 version bytes, 2-byte header length
constexpr std::size_t kPreludeV2 = 12;  // ... 4-byte header length

/// The header's Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class DictParser {
 public:
  DictParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  Header parse() {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<std::int64_t>> shape;
    expect('{');
    while (!accept('}')) {
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        descr = quoted();
      } else if (key == "fortran_order") {
        fortran_order = boolean();
      } else if (key == "shape") {
        shape = tuple();
      } else {
        fail(fmt::format("unexpected key '{}'", key));
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    if (!descr || !fortran_order || !shape) fail("the header lacks 'descr', 'fortran_order' or 'shape'");
    if (*fortran_order) fail("the array is in Fortran order; the contract requires C order");

    Header header;
    if (*descr == "<i8") {
      header.dtype = Dtype::int64;
    } else if (*descr == "<f4") {
      header.dtype = Dtype::float32;
    } else if (*descr == "|u1" || *descr == "<u1") {
      header.dtype = Dtype::uint8;
    } else {
      fail(fmt::format("unsupported dtype '{}' (expected '<i8', '<f4' or '|u1')", *descr));
    }
    header.shape = std::move(*shape);
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: malformed .npy header: {}", path_, what));
  }

  void skip_space() {
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_]))) ++position_;
  }

  bool accept(char c) {
    skip_space();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!accept(c)) fail(fmt::format("expected '{}' at offset {}", c, position_));
  }

  std::string quoted() {
    skip_space();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"')) {
      fail(fmt::format("expected a quoted string at offset {}", position_));
    }
    const char quote = text_[position_++];
    const std::size_t close = text_.find(quote, position_);
    if (close == std::string_view::npos) fail("unterminated string");
    std::string value(text_.substr(position_, close - position_));
    position_ = close + 1;
    return value;
  }

  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true}, {std::string_view("False"), false}}) {
      if (text_.substr(position_, word.size()) == word) {
        position_ += word.size();
        return value;
      }
    }
    fail(fmt::format("expected True or False at offset {}", position_));
  }

  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> values;
    expect('(');
    while (!accept(')')) {
      skip_space();
      std::int64_t value = 0;
      std::size_t digits = 0;
      while (position_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[position_]))) {
        const int digit = text_[position_++] - '0';
        if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) fail("a dimension is too large");
        value = value * 10 + digit;
        ++digits;
      }
      if (digits == 0) fail(fmt::format("expected a dimension at offset {}", position_));
      accept('L');  // Python 2 long literals
      values.push_back(value);
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return values;
  }

  std::string_view text_;
  const std::string& path_;
  std::size_t position_ = 0;
};

std::size_t little_endian(std::span<const std::byte> bytes) {
  std::size_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) value = (value << 8) | std::to_integer<std::size_t>(bytes[i]);
  return value;
}

/// The size of the prelude and header that the file's first bytes announce, or 0 when they are not
/// an .npy prelude (parse_header then says what is wrong).
std::size_t announced_header_size(std::span<const std::byte> start) {
  if (start.size() < kPreludeV1 || std::memcmp(start.data(), kMagic.data(), kMagic.size()) != 0) return 0;
  const std::size_t prelude = std::to_integer<int>(start[6]) == 1 ? kPreludeV1 : kPreludeV2;
  if (start.size() < prelude) return 0;
  return prelude + little_endian(start.subspan(8, prelude - 8));
}

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

const char* descriptor(Dtype dtype) {
  switch (dtype) {
    case Dtype::int64:
      return "<i8";
    case Dtype::float32:
      return "<f4";
    case Dtype::uint8:
      return "|u1";
  }
  return "?";
}

std::size_t item_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::int64:
      return 8;
    case Dtype::float32:
      return 4;
    case Dtype::uint8:
      return 1;
  }
  return 0;
}

std::int64_t Header::elements() const {
  std::int64_t count = 1;
  for (const std::int64_t dimension : shape) count *= dimension;
  return count;
}

std::size_t Header::data_bytes() const { return static_cast<std::size_t>(elements()) * item_size(dtype); }

Header parse_header(std::span<const std::byte> file_start, const std::string& path) {
  if (file_start.size() < kPreludeV1 || std::memcmp(file_start.data(), kMagic.data(), kMagic.size()) != 0) {
    throw Error(fmt::format("{}: not a NumPy .npy file (bad magic)", path));
  }
  const auto major = std::to_integer<int>(file_start[6]);
  const auto minor = std::to_integer<int>(file_start[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw Error(fmt::format("{}: unsupported .npy format version {}.{}", path, major, minor));
  }
  const std::size_t prelude = major == 1 ? kPreludeV1 : kPreludeV2;
  if (file_start.size() < prelude) throw Error(fmt::format("{}: truncated .npy header", path));
  const std::size_t header_length = little_endian(file_start.subspan(8, prelude - 8));
  if (file_start.size() < prelude + header_length) throw Error(fmt::format("{}: truncated .npy header", path));

  const std::string_view text(reinterpret_cast<const char*>(file_start.data() + prelude), header_length);
  Header header = DictParser(text, path).parse();
  header.data_offset = prelude + header_length;

  // The byte count must fit, and torch sizes are int64.
  std::size_t elements = 1;
  for (const std::int64_t dimension : header.shape) {
    const auto size = static_cast<std::size_t>(dimension);
    if (size != 0 && elements > std::numeric_limits<std::size_t>::max() / 16 / size) {
      throw Error(fmt::format("{}: shape {} is too large", path, shape_text(header.shape)));
    }
    elements *= size;
  }
  return header;
}

void read(const std::filesystem::path& path, Dtype expected, std::size_t rank, const Allocate& allocate) {
  const std::string name = path.string();
  std::error_code error;
  const auto file_size = std::filesystem::file_size(path, error);
  if (error) throw Error(fmt::format("{}: cannot read: {}", name, error.message()));
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(fmt::format("{}: cannot open", name));

  std::vector<std::byte> start(std::min<std::uintmax_t>(file_size, kPreludeV2));
  file.read(reinterpret_cast<char*>(start.data()), static_cast<std::streamsize>(start.size()));
  if (!file) throw Error(fmt::format("{}: cannot read the .npy header", name));
  const std::size_t whole = std::min<std::uintmax_t>(file_size, announced_header_size(start));
  if (whole > start.size()) {
    const std::size_t had = start.size();
    start.resize(whole);
    file.read(reinterpret_cast<char*>(start.data() + had), static_cast<std::streamsize>(whole - had));
    if (!file) throw Error(fmt::format("{}: cannot read the .npy header", name));
  }

  const Header header = parse_header(start, name);
  if (header.dtype != expected) {
    throw Error(fmt::format("{}: dtype '{}', expected '{}'", name, descriptor(header.dtype), descriptor(expected)));
  }
  if (header.shape.size() != rank) {
    throw Error(fmt::format("{}: shape {} has {} dimension(s), expected {}", name, shape_text(header.shape),
                            header.shape.size(), rank));
  }
  if (file_size != header.data_offset + header.data_bytes()) {
    throw Error(fmt::format("{}: {} bytes, but a header announcing shape {} of '{}' needs {}", name, file_size,
                            shape_text(header.shape), descriptor(header.dtype),
                            header.data_offset + header.data_bytes()));
  }

  const std::span<std::byte> destination = allocate(header);
  if (destination.size() != header.data_bytes()) {
    throw Error(
        fmt::format("{}: destination of {} bytes for {} bytes of data", name, destination.size(), header.data_bytes()));
  }
  file.seekg(static_cast<std::streamoff>(header.data_offset));
  file.read(reinterpret_cast<char*>(destination.data()), static_cast<std::streamsize>(destination.size()));
  if (!file) throw Error(fmt::format("{}: cannot read the data", name));
}

}  // namespace joulebench::npy

// npy.cpp: the .npy reader of npy.hpp: the header's Python dict literal parsed by hand, the data
// read once, straight into the caller's buffer.
#include "npy.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

// The data is copied as is; a big-endian host would need byte swapping.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader assumes a little-endian host"
#endif

namespace joulebench::npy {

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
        fail("unexpected key '" + key + "'");
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    if (!descr || !fortran_order || !shape) fail("the header lacks 'descr', 'fortran_order' or 'shape'");

    Header header;
    header.descr = std::move(*descr);
    header.fortran_order = *fortran_order;
    header.shape = std::move(*shape);
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(path_ + ": malformed .npy header: " + what); }
  std::string at_offset() const { return " at offset " + std::to_string(position_); }

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
    if (!accept(c)) fail(std::string("expected '") + c + "'" + at_offset());
  }

  std::string quoted() {
    skip_space();
    if (position_ >= text_.size() || (text_[position_] != '\'' && text_[position_] != '"')) {
      fail("expected a quoted string" + at_offset());
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
    fail("expected True or False" + at_offset());
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
      if (digits == 0) fail("expected a dimension" + at_offset());
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

std::size_t little_endian(std::string_view bytes) {
  std::size_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

/// The size of the prelude and header that the file's first bytes announce, or 0 when they are not
/// an .npy prelude (parse_header then says what is wrong).
std::size_t announced_header_size(std::string_view start) {
  if (start.size() < kPreludeV1 || start.substr(0, kMagic.size()) != kMagic) return 0;
  const std::size_t prelude = static_cast<unsigned char>(start[6]) == 1 ? kPreludeV1 : kPreludeV2;
  if (start.size() < prelude) return 0;
  return prelude + little_endian(start.substr(8, prelude - 8));
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

bool matches(const std::string& descr, Dtype dtype) {
  // NumPy writes '|u1' (byte order irrelevant); '<u1' means the same.
  return descr == descriptor(dtype) || (dtype == Dtype::uint8 && descr == "<u1");
}

template <class T>
struct DtypeOf;
template <>
struct DtypeOf<std::int64_t> {
  static constexpr Dtype value = Dtype::int64;
};
template <>
struct DtypeOf<float> {
  static constexpr Dtype value = Dtype::float32;
};
template <>
struct DtypeOf<std::uint8_t> {
  static constexpr Dtype value = Dtype::uint8;
};

}  // namespace

const char* descriptor(Dtype dtype) {
  switch (dtype) {
    case Dtype::int64: return "<i8";
    case Dtype::float32: return "<f4";
    case Dtype::uint8: return "|u1";
  }
  return "?";
}

std::size_t item_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::int64: return 8;
    case Dtype::float32: return 4;
    case Dtype::uint8: return 1;
  }
  return 0;
}

std::int64_t Header::elements() const {
  std::int64_t count = 1;
  for (const std::int64_t dimension : shape) count *= dimension;
  return count;
}

Header parse_header(std::string_view file_start, const std::string& path) {
  if (file_start.size() < kMagic.size() || file_start.substr(0, kMagic.size()) != kMagic) {
    throw Error(path + ": not a NumPy .npy file (bad magic)");
  }
  if (file_start.size() < kPreludeV1) throw Error(path + ": truncated .npy header");
  const int major = static_cast<unsigned char>(file_start[6]);
  const int minor = static_cast<unsigned char>(file_start[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw Error(path + ": unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  }
  const std::size_t prelude = major == 1 ? kPreludeV1 : kPreludeV2;
  if (file_start.size() < prelude) throw Error(path + ": truncated .npy header");
  const std::size_t header_length = little_endian(file_start.substr(8, prelude - 8));
  if (file_start.size() - prelude < header_length) throw Error(path + ": truncated .npy header");

  Header header = DictParser(file_start.substr(prelude, header_length), path).parse();
  header.data_offset = prelude + header_length;

  // The byte count must fit whatever the dtype, and sizes (torch's among them) are int64.
  std::size_t elements = 1;
  for (const std::int64_t dimension : header.shape) {
    const auto size = static_cast<std::size_t>(dimension);
    if (size != 0 && elements > std::numeric_limits<std::size_t>::max() / 16 / size) {
      throw Error(path + ": shape " + shape_text(header.shape) + " is too large");
    }
    elements *= size;
  }
  return header;
}

void read(const std::filesystem::path& path, Dtype expected, std::size_t rank, const Allocate& allocate) {
  const std::string name = path.string();
  std::error_code error;
  const std::uintmax_t file_size = std::filesystem::file_size(path, error);
  if (error) throw Error(name + ": cannot open: " + error.message());
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(name + ": cannot open: " + std::strerror(errno));

  // The prelude says how long the whole header is; then the rest of the header is read.
  std::string start(static_cast<std::size_t>(std::min<std::uintmax_t>(file_size, kPreludeV2)), '\0');
  file.read(start.data(), static_cast<std::streamsize>(start.size()));
  if (!file) throw Error(name + ": cannot read the .npy header");
  const auto whole = static_cast<std::size_t>(std::min<std::uintmax_t>(file_size, announced_header_size(start)));
  if (whole > start.size()) {
    const std::size_t had = start.size();
    start.resize(whole);
    file.read(start.data() + had, static_cast<std::streamsize>(whole - had));
    if (!file) throw Error(name + ": cannot read the .npy header");
  }

  const Header header = parse_header(start, name);
  if (!matches(header.descr, expected)) {
    throw Error(name + ": dtype '" + header.descr + "', expected '" + descriptor(expected) + "'");
  }
  if (header.fortran_order) throw Error(name + ": Fortran order, expected C order");
  if (rank != kAnyRank && header.shape.size() != rank) {
    throw Error(name + ": shape " + shape_text(header.shape) + " has " + std::to_string(header.shape.size()) +
                " dimension(s), expected " + std::to_string(rank));
  }
  const std::size_t data_bytes = static_cast<std::size_t>(header.elements()) * item_size(expected);
  if (file_size != header.data_offset + data_bytes) {
    throw Error(name + ": " + std::to_string(file_size) + " bytes, but a header announcing shape " +
                shape_text(header.shape) + " of '" + header.descr + "' needs " +
                std::to_string(header.data_offset + data_bytes));
  }

  const Destination destination = allocate(header);
  if (destination.size != data_bytes) {
    throw Error(name + ": destination of " + std::to_string(destination.size) + " bytes for " +
                std::to_string(data_bytes) + " bytes of data");
  }
  file.seekg(static_cast<std::streamoff>(header.data_offset));
  file.read(static_cast<char*>(destination.data), static_cast<std::streamsize>(destination.size));
  if (!file) throw Error(name + ": cannot read the data");
}

template <class T>
Array<T> load(const std::filesystem::path& path) {
  Array<T> array;
  read(path, DtypeOf<T>::value, kAnyRank, [&array](const Header& header) {
    for (const std::int64_t dimension : header.shape) array.shape.push_back(static_cast<std::size_t>(dimension));
    array.values.resize(static_cast<std::size_t>(header.elements()));
    return Destination{array.values.data(), array.values.size() * sizeof(T)};
  });
  return array;
}

template Array<std::int64_t> load<std::int64_t>(const std::filesystem::path&);
template Array<float> load<float>(const std::filesystem::path&);
template Array<std::uint8_t> load<std::uint8_t>(const std::filesystem::path&);

}  // namespace joulebench::npy

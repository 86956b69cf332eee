#include "npy.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

static_assert(std::endian::native == std::endian::little,
              "the .npy files are little-endian and are read without byte swapping");

namespace npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

template <class T>
struct Dtype;
template <>
struct Dtype<std::int64_t> {
  static constexpr const char* descr = "<i8";
};
template <>
struct Dtype<float> {
  static constexpr const char* descr = "<f4";
};
template <>
struct Dtype<std::uint8_t> {
  static constexpr const char* descr = "|u1";
};

/// Reads the header's Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& name) : text_(text), name_(name) {}

  Header parse() {
    Header header;
    bool has_descr = false;
    bool has_order = false;
    bool has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        header.descr = string_literal();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape") {
        header.shape = tuple();
        has_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    if (!has_descr || !has_order || !has_shape) fail("'descr', 'fortran_order' and 'shape' are required");
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": malformed .npy header at character " + std::to_string(pos_) + ": " + what);
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])) != 0) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string value = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    skip_space();
    if (text_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (text_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<std::size_t> tuple() {
    std::vector<std::size_t> values;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        return values;
      }
      if (std::isdigit(static_cast<unsigned char>(peek())) == 0) fail("expected a dimension");
      std::size_t value = 0;
      while (std::isdigit(static_cast<unsigned char>(peek())) != 0) {
        const auto digit = static_cast<std::size_t>(peek() - '0');
        if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10) fail("dimension too large");
        value = value * 10 + digit;
        ++pos_;
      }
      values.push_back(value);
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        fail("expected ',' or ')'");
      }
    }
  }

  const std::string& text_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

}  // namespace

std::size_t header_size(const std::string& bytes, const std::string& name) {
  if (bytes.size() < kMagicSize + 2 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
    throw Error(name + ": not a .npy file (no \\x93NUMPY magic)");
  const auto major = static_cast<unsigned char>(bytes[kMagicSize]);
  if (major < 1 || major > 3) throw Error(name + ": unsupported .npy format version " + std::to_string(major));
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicSize + 2 + length_bytes;
  if (bytes.size() < prefix) throw Error(name + ": truncated .npy header");
  std::size_t dict_length = 0;
  for (std::size_t i = 0; i < length_bytes; ++i)
    dict_length |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[kMagicSize + 2 + i])) << (8 * i);
  return prefix + dict_length;
}

Header parse_header(const std::string& bytes, const std::string& name) {
  const std::size_t size = header_size(bytes, name);
  if (bytes.size() < size) throw Error(name + ": truncated .npy header");
  const std::size_t prefix = static_cast<unsigned char>(bytes[kMagicSize]) == 1 ? kMagicSize + 4 : kMagicSize + 6;
  Header header = DictParser(bytes.substr(prefix, size - prefix), name).parse();
  header.data_offset = size;
  return header;
}

template <class T>
Array<T> load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (!in || end < 0) throw Error(path + ": cannot read (not a regular file?)");
  const auto file_size = static_cast<std::size_t>(end);
  in.seekg(0);

  // The fixed prefix says how long the whole header is; then the header is read in one go.
  std::string start(std::min<std::size_t>(file_size, kMagicSize + 2 + 4), '\0');
  in.read(start.data(), static_cast<std::streamsize>(start.size()));
  if (!in) throw Error(path + ": read failed");
  start.resize(std::min(file_size, header_size(start, path)));
  in.seekg(0);
  in.read(start.data(), static_cast<std::streamsize>(start.size()));
  if (!in) throw Error(path + ": read failed");
  const Header header = parse_header(start, path);

  if (header.descr != Dtype<T>::descr)
    throw Error(path + ": dtype '" + header.descr + "', expected '" + Dtype<T>::descr + "'");
  if (header.fortran_order) throw Error(path + ": Fortran order, expected C order");

  std::size_t count = 1;
  for (const std::size_t d : header.shape) {
    if (d != 0 && count > std::numeric_limits<std::size_t>::max() / sizeof(T) / d)
      throw Error(path + ": shape too large");
    count *= d;
  }
  const std::size_t expected = header.data_offset + count * sizeof(T);
  if (file_size != expected)
    throw Error(path + ": " + std::to_string(file_size) + " bytes, the header implies " + std::to_string(expected));

  Array<T> array;
  array.shape = header.shape;
  array.values.resize(count);
  in.clear();
  in.seekg(static_cast<std::streamoff>(header.data_offset));
  in.read(reinterpret_cast<char*>(array.values.data()), static_cast<std::streamsize>(count * sizeof(T)));
  if (!in) throw Error(path + ": read failed");
  return array;
}

template Array<std::int64_t> load<std::int64_t>(const std::string&);
template Array<float> load<float>(const std::string&);
template Array<std::uint8_t> load<std::uint8_t>(const std::string&);

}  // namespace npy

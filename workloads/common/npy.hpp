// npy.hpp: the one reader of the NumPy .npy files that joulebench-data writes (workloads/README.md),
// shared by the C++ workloads of every framework: format version 1.0 (2.0 and 3.0 are read too:
// they differ only in the header's length field), C order, dtypes '<i8', '<f4' and '|u1' ('<u1'
// is read as '|u1'). Every failure throws npy::Error naming the file and what is wrong. C++17 and
// the standard library only: `read` puts the data wherever the caller allocates it (a tensor's
// storage, say) once the header is known; `load` reads into a std::vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace joulebench::npy {

/// A file that is missing, unreadable, not an .npy file, or not what the caller expects.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Dtype { int64, float32, uint8 };

/// The descriptor NumPy writes for `dtype` ("<i8", "<f4", "|u1").
const char* descriptor(Dtype dtype);
std::size_t item_size(Dtype dtype);

/// The header as the file states it.
struct Header {
  std::string descr;  // as written, e.g. "<f4"
  bool fortran_order = false;
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::size_t data_offset = 0;      // bytes from the start of the file to the first element

  std::int64_t elements() const;
};

/// Parses the prelude and header at the start of a file (`file_start`: at least the whole header)
/// called `path` in messages. Checks the magic, the version (1.0, 2.0, 3.0), the dict's syntax and
/// keys, and that the element count fits; the caller checks the dtype, order and size.
Header parse_header(std::string_view file_start, const std::string& path);

/// Where the data goes: `size` bytes at `data`.
struct Destination {
  void* data = nullptr;
  std::size_t size = 0;
};

/// Given the checked header, returns where to put its data: exactly elements() x item size bytes.
using Allocate = std::function<Destination(const Header&)>;

/// `rank` for an array of any number of dimensions.
inline constexpr std::size_t kAnyRank = static_cast<std::size_t>(-1);

/// Reads `path`: checks that its dtype is `expected`, that it is in C order, that it has `rank`
/// dimensions (unless kAnyRank) and that the file holds exactly the data the header announces,
/// then reads the data into allocate(header).
void read(const std::filesystem::path& path, Dtype expected, std::size_t rank, const Allocate& allocate);

/// An n-dimensional array in C order.
template <class T>
struct Array {
  std::vector<std::size_t> shape;
  std::vector<T> values;

  std::size_t dim(std::size_t axis) const { return shape.at(axis); }
  /// Elements per entry of the first axis (1 for a 1-d array).
  std::size_t row_size() const {
    std::size_t n = 1;
    for (std::size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
  }
};

/// Reads `path` (any rank) into an Array; the dtype must be T's: std::int64_t '<i8', float
/// '<f4', std::uint8_t '|u1'.
template <class T>
Array<T> load(const std::filesystem::path& path);

extern template Array<std::int64_t> load<std::int64_t>(const std::filesystem::path&);
extern template Array<float> load<float>(const std::filesystem::path&);
extern template Array<std::uint8_t> load<std::uint8_t>(const std::filesystem::path&);

}  // namespace joulebench::npy

// npy.hpp: reads the NumPy .npy files of joulebench-data (workloads/README.md): format version 1.0
// (2.0 and 3.0 are read too: they differ only in the header's length field), C order, one of the
// dtypes '<i8', '<f4', '|u1'. Every failure throws npy::Error naming the file and what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace npy {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

/// The parsed header: what the file says it holds.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::size_t data_offset = 0;  // bytes before the first element
};

/// Bytes from the start of the file to the first element, given at least the header's first 12 bytes.
std::size_t header_size(const std::string& bytes, const std::string& name);

/// Parses the header of `bytes` (the start of a file called `name`, for messages).
Header parse_header(const std::string& bytes, const std::string& name);

/// Reads `path`; throws Error unless it is a C-order array of exactly the dtype of T.
template <class T>
Array<T> load(const std::string& path);

extern template Array<std::int64_t> load<std::int64_t>(const std::string&);
extern template Array<float> load<float>(const std::string&);
extern template Array<std::uint8_t> load<std::uint8_t>(const std::string&);

}  // namespace npy

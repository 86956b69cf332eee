// npy.hpp: reads the NumPy .npy arrays of the workload contract (workloads/README.md): format
// version 1.0 (2.0 and 3.0 are accepted too), C order, dtypes '<i8', '<f4' and '|u1'. Independent
// of Torch: the caller allocates the destination once the header has been read, so the data goes
// straight from the file into its final buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace joulebench::npy {

enum class Dtype { int64, float32, uint8 };

/// The descriptor NumPy writes for `dtype` ("<i8", "<f4", "|u1").
const char* descriptor(Dtype dtype);
std::size_t item_size(Dtype dtype);

/// A file that is missing, unreadable, not an .npy file, or not what the caller expects.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Header {
  Dtype dtype = Dtype::uint8;
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::size_t data_offset = 0;      // bytes from the start of the file to the first element

  std::int64_t elements() const;
  std::size_t data_bytes() const;
};

/// Parses the header of an .npy file. Throws Error naming `path`.
Header parse_header(std::span<const std::byte> file_start, const std::string& path);

/// Given the validated header, returns where to put the data (exactly header.data_bytes() bytes).
using Allocate = std::function<std::span<std::byte>(const Header&)>;

/// Reads `path`, checking that its dtype is `expected` and that it has `rank` dimensions, and
/// that the file holds exactly the data the header announces. Throws Error with a message that
/// names the file and what is wrong.
void read(const std::filesystem::path& path, Dtype expected, std::size_t rank, const Allocate& allocate);

}  // namespace joulebench::npy

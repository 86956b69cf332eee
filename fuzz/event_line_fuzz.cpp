// libFuzzer harness: one line a workload writes on the events descriptor.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "joulebench/event_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)joulebench::parse_event_line(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

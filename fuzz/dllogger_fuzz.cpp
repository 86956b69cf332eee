// libFuzzer harness: NVIDIA DLLogger lines ("DLLL {...}") in a workload's output.
#include "output_scanner_fuzz.inc"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return scan_lines(joulebench::OutputParser::Kind::dllogger, data, size);
}

// libFuzzer harness: `joulebench import` of a CSV into a store. A bad file must give an
// ImportError listing its problems and import nothing; a good one, runs that read back.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "joulebench/store.hpp"

namespace {

const std::filesystem::path& work_folder() {
  static const std::filesystem::path folder = [] {
    std::string pattern = "/tmp/joulebench-csv-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) __builtin_trap();
    return std::filesystem::path(pattern);
  }();
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path csv = work_folder() / "runs.csv";
  std::FILE* f = std::fopen(csv.c_str(), "wb");
  if (f == nullptr) __builtin_trap();
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  // A fresh store each time, in memory: the same file twice is refused by design.
  joulebench::Store store(":memory:");
  try {
    const auto result = joulebench::import_csv(store, csv);
    if (store.runs(result.campaign).size() != result.runs) __builtin_trap();
  } catch (const joulebench::ImportError& e) {
    if (e.problems().empty() || !store.campaigns().empty()) __builtin_trap();
  } catch (const joulebench::StoreError&) {
    // The store refused a row (a constraint): reported, and still nothing half-imported.
    if (!store.campaigns().empty()) __builtin_trap();
  }
  return 0;
}

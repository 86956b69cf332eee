// Store's private state, shared by the files of src/store.
#pragma once

#include <string>
#include <string_view>

#include "joulebench/store.hpp"
#include "store/sqlite_db.hpp"

namespace joulebench {

struct Store::Impl {
  explicit Impl(const std::filesystem::path& file);

  store_detail::Db db;
  int version = 0;
};

namespace store_detail {

/// Rethrows the exception in flight as a StoreError "FILE: context: reason" (the reason without
/// the file name when it already starts with it).
[[noreturn]] void rethrow_with_context(const std::filesystem::path& file, std::string_view context);

/// The current time as ISO 8601 UTC: 2024-05-01T12:34:56Z.
std::string now_iso8601();

}  // namespace store_detail
}  // namespace joulebench

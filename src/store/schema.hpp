// The store's schema: an ordered list of migrations, each taking the schema from version N-1 to
// N (version 1 creates everything from an empty file). `PRAGMA user_version` holds the version a
// file is at; `PRAGMA application_id` marks the file as a joulebench store.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "store/sqlite_db.hpp"

namespace joulebench::store_detail {

/// "JBST" in ASCII: written to every store, so another program's SQLite file is never mistaken
/// for (and migrated into) a store.
inline constexpr std::int32_t kApplicationId = 0x4A425354;

struct Migration {
  int version;  ///< the version the file is at after this step
  std::string_view description;
  std::string_view sql;
};

/// Every migration, in order; the last one's version is the current schema version.
std::span<const Migration> migrations();

/// Brings the file to the last version of `steps` (each step in its own IMMEDIATE transaction,
/// with the new user_version). Refuses, with a StoreError naming the file and both versions, a
/// file whose version is newer than the last step, and a file that is some other program's
/// database. Returns the version the file is at.
int migrate(Db& db, std::span<const Migration> steps);

}  // namespace joulebench::store_detail

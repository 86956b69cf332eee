// A thin layer over the SQLite3 C API for the store: a connection that names its file in every
// error, cached prepared statements with typed binding, and an IMMEDIATE transaction that rolls
// back unless committed. Internal to src/store (and its tests).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "joulebench/store.hpp"

namespace joulebench::store_detail {

class Db;

/// A prepared statement borrowed from the connection's cache. Binding indices are 1-based, as in
/// SQLite. The statement is reset (and its bindings cleared) when this object goes.
class Statement {
 public:
  Statement(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
  /// NaN becomes NULL (SQLite's own rule); read back with `real_or_nan`.
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, std::optional<std::int64_t> v);
  Statement& bind(int i, std::optional<int> v);
  Statement& bind(int i, std::optional<double> v);
  Statement& bind(int i, std::optional<std::string_view> v);
  Statement& bind_null(int i);
  /// The bytes must stay alive until the statement has been stepped.
  Statement& bind_blob(int i, const void* data, std::size_t size);

  /// true: a row is available; false: done. Throws StoreError on any other result.
  bool step();
  /// Steps a statement that returns no rows, then resets it (bindings cleared) for the next row.
  void run();
  /// The largest parameter number in the statement.
  int parameter_count() const { return sqlite3_bind_parameter_count(stmt_); }
  /// Ready to run again, bindings cleared.
  void reset();

  bool is_null(int col) const;
  std::int64_t integer(int col) const;
  double real_or_nan(int col) const;
  std::optional<double> optional_real(int col) const;
  std::optional<std::int64_t> optional_integer(int col) const;
  std::string text(int col) const;
  /// Pointer and size of a blob column, valid until the next step or reset.
  std::pair<const unsigned char*, std::size_t> blob(int col) const;

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

/// One connection to a store file. Opened without SQLite's per-call locking (SQLITE_OPEN_NOMUTEX):
/// like a Store, a connection is used by one thread at a time.
class Db {
 public:
  /// Opens (creating if needed) the file. Throws StoreError naming the file.
  explicit Db(std::filesystem::path file);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& file() const { return file_; }

  /// A cached prepared statement for `sql` (a constant or a text built only from constants).
  Statement prepare(const std::string& sql);
  /// Runs SQL text with no parameters (schema, pragmas).
  void exec(const std::string& sql);
  /// The first column of the first row of a parameterless query, as an integer.
  std::int64_t query_integer(const std::string& sql);
  std::string query_text(const std::string& sql);

  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

  /// Throws StoreError: "FILE: what: sqlite's message" ("FILE: sqlite's message" if `what` is empty).
  [[noreturn]] void fail(std::string_view what) const;
  /// Throws StoreError: "FILE: what".
  [[noreturn]] void fail_plain(std::string_view what) const;

  /// Finalises every cached statement (needed before DETACH of a database they touched).
  void clear_cache();

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

/// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace joulebench::store_detail

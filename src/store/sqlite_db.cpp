#include "store/sqlite_db.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace joulebench::store_detail {

namespace {

constexpr int kBusyTimeoutMs = 10000;

}  // namespace

// --- Statement -------------------------------------------------------------------------------

Statement::~Statement() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Statement& Statement::bind(int i, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) db_->fail("cannot bind a value");
  return *this;
}

Statement& Statement::bind(int i, double v) {
  const int rc = std::isnan(v) ? sqlite3_bind_null(stmt_, i) : sqlite3_bind_double(stmt_, i, v);
  if (rc != SQLITE_OK) db_->fail("cannot bind a value");
  return *this;
}

Statement& Statement::bind(int i, std::string_view v) {
  // SQLITE_TRANSIENT: SQLite copies the text, so temporaries are safe.
  if (sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8) != SQLITE_OK) {
    db_->fail("cannot bind a text");
  }
  return *this;
}

Statement& Statement::bind(int i, std::optional<std::int64_t> v) { return v ? bind(i, *v) : bind_null(i); }
Statement& Statement::bind(int i, std::optional<int> v) { return v ? bind(i, *v) : bind_null(i); }
Statement& Statement::bind(int i, std::optional<double> v) { return v ? bind(i, *v) : bind_null(i); }
Statement& Statement::bind(int i, std::optional<std::string_view> v) { return v ? bind(i, *v) : bind_null(i); }

Statement& Statement::bind_null(int i) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) db_->fail("cannot bind a value");
  return *this;
}

Statement& Statement::bind_blob(int i, const void* data, std::size_t size) {
  // A zero-length blob must still be a blob, not NULL: SQLite wants a non-null pointer for that.
  static const unsigned char kEmpty = 0;
  if (sqlite3_bind_blob64(stmt_, i, size == 0 ? &kEmpty : data, size, SQLITE_STATIC) != SQLITE_OK) {
    db_->fail("cannot bind a blob");
  }
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail("");
}

void Statement::run() {
  while (step()) {}
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::int64_t Statement::integer(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::real_or_nan(int col) const {
  if (is_null(col)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, col);
}

std::optional<double> Statement::optional_real(int col) const {
  if (is_null(col)) return std::nullopt;
  return sqlite3_column_double(stmt_, col);
}

std::optional<std::int64_t> Statement::optional_integer(int col) const {
  if (is_null(col)) return std::nullopt;
  return sqlite3_column_int64(stmt_, col);
}

std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::pair<const unsigned char*, std::size_t> Statement::blob(int col) const {
  const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, col));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
  return {p, n};
}

// --- Db --------------------------------------------------------------------------------------

Db::Db(std::filesystem::path file) : file_(std::move(file)) {
  const int rc =
      sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(fmt::format("{}: cannot open the store: {}", file_.string(), message));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

Db::~Db() {
  clear_cache();
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void Db::clear_cache() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  cache_.clear();
}

Statement Db::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1), SQLITE_PREPARE_PERSISTENT, &stmt,
                           nullptr) != SQLITE_OK) {
      fail("cannot prepare a statement");
    }
    it = cache_.emplace(sql, stmt).first;
  }
  return Statement(*this, it->second);
}

void Db::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    fail_plain(text);
  }
}

std::int64_t Db::query_integer(const std::string& sql) {
  auto st = prepare(sql);
  if (!st.step()) fail_plain(fmt::format("no result from: {}", sql));
  return st.integer(0);
}

std::string Db::query_text(const std::string& sql) {
  auto st = prepare(sql);
  if (!st.step()) fail_plain(fmt::format("no result from: {}", sql));
  return st.text(0);
}

void Db::fail(std::string_view what) const {
  if (what.empty()) throw StoreError(fmt::format("{}: {}", file_.string(), sqlite3_errmsg(db_)));
  throw StoreError(fmt::format("{}: {}: {}", file_.string(), what, sqlite3_errmsg(db_)));
}

void Db::fail_plain(std::string_view what) const { throw StoreError(fmt::format("{}: {}", file_.string(), what)); }

// --- Transaction -----------------------------------------------------------------------------

Transaction::Transaction(Db& db) : db_(db) {
  if (sqlite3_exec(db_.handle(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    db_.fail("cannot begin a transaction");
  }
}

Transaction::~Transaction() {
  if (done_) return;
  // SQLite may already have rolled back by itself (a full disk, an I/O error).
  if (db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  if (sqlite3_exec(db_.handle(), "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    db_.fail("cannot commit");
  }
  done_ = true;
}

}  // namespace joulebench::store_detail

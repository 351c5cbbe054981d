#include "serve/sqlite_db.h"

#include <sqlite3.h>

#include <cstring>

#include "core/error.h"

namespace toonreid {

SqliteDb::SqliteDb(const std::filesystem::path& file) : file_(file) {
  const int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(file.string() + ": cannot open the database: " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  // WAL: readers are never blocked by a writer; FULL sync: a commit survives a crash.
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
}

SqliteDb::~SqliteDb() {
  if (db_) sqlite3_close_v2(db_);
}

void SqliteDb::exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    const std::string text = message ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw Error(file_.string() + ": " + text + " (in: " + sql.substr(0, 80) + ")");
  }
}

void SqliteDb::check(int rc, const std::string& what) const {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  throw Error(file_.string() + ": " + what + ": " + sqlite3_errmsg(db_));
}

SqliteStatement::SqliteStatement(SqliteDb& db, const std::string& sql) : db_(db) {
  db.check(sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt_, nullptr), "preparing " + sql.substr(0, 60));
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement& SqliteStatement::bind(int index, int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), "binding");
  return *this;
}

SqliteStatement& SqliteStatement::bind_double(int index, double value) {
  db_.check(sqlite3_bind_double(stmt_, index, value), "binding");
  return *this;
}

SqliteStatement& SqliteStatement::bind(int index, const std::string& value) {
  db_.check(sqlite3_bind_text(stmt_, index, value.c_str(), static_cast<int>(value.size()), SQLITE_TRANSIENT), "binding");
  return *this;
}

SqliteStatement& SqliteStatement::bind_blob(int index, const void* data, std::size_t bytes) {
  db_.check(sqlite3_bind_blob64(stmt_, index, data, bytes, SQLITE_TRANSIENT), "binding");
  return *this;
}

bool SqliteStatement::step() {
  const int rc = sqlite3_step(stmt_);
  db_.check(rc, "executing " + std::string(sqlite3_sql(stmt_)).substr(0, 60));
  return rc == SQLITE_ROW;
}

void SqliteStatement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStatement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
double SqliteStatement::column_double(int index) const { return sqlite3_column_double(stmt_, index); }

std::string SqliteStatement::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
              : std::string();
}

std::vector<float> SqliteStatement::column_floats(int index) const {
  const int bytes = sqlite3_column_bytes(stmt_, index);
  std::vector<float> out(static_cast<std::size_t>(bytes) / sizeof(float));
  if (bytes > 0) std::memcpy(out.data(), sqlite3_column_blob(stmt_, index), out.size() * sizeof(float));
  return out;
}

SqliteTransaction::SqliteTransaction(SqliteDb& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

SqliteTransaction::~SqliteTransaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {  // nothing more to do in a destructor
    }
  }
}

void SqliteTransaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace toonreid

// A small RAII wrapper around an SQLite connection and its prepared statements: every
// failure throws Error naming the database file and SQLite's message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace toonreid {

class SqliteDb;

class SqliteStatement {
 public:
  SqliteStatement(SqliteDb& db, const std::string& sql);
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& bind(int index, int64_t value);
  SqliteStatement& bind_double(int index, double value);
  SqliteStatement& bind(int index, const std::string& value);
  SqliteStatement& bind_blob(int index, const void* data, std::size_t bytes);
  // Advances to the next row; false when done. Statements without rows: call once.
  bool step();
  void reset();
  int64_t column_int(int index) const;
  double column_double(int index) const;
  std::string column_text(int index) const;
  std::vector<float> column_floats(int index) const;  // a blob of float32

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDb {
 public:
  explicit SqliteDb(const std::filesystem::path& file);  // opens or creates; WAL, full sync
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql);
  // Throws Error with SQLite's message for code `rc` (when not OK / ROW / DONE).
  void check(int rc, const std::string& what) const;
  sqlite3* handle() { return db_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() was called.
class SqliteTransaction {
 public:
  explicit SqliteTransaction(SqliteDb& db);
  ~SqliteTransaction();
  void commit();

 private:
  SqliteDb& db_;
  bool done_ = false;
};

}  // namespace toonreid

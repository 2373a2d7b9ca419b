#pragma once
// SqliteConnection: one sqlite3 handle in WAL mode with foreign keys on, a busy timeout,
// and a cache of prepared statements. See sql_connection.h for the contract.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/string_map.h"
#include "store/sql_connection.h"

struct sqlite3;
struct sqlite3_stmt;

namespace airlock::store {

class SqliteConnection final : public SqlConnection {
 public:
  // Opens (creating it 0600 if missing) the database file at `path`, or a private
  // in-memory database for ":memory:". Unavailable when the file cannot be opened.
  // synchronous=NORMAL: in WAL mode a crash of the process loses nothing committed; a
  // power loss may lose the last transactions but never corrupts the file.
  // `auto_checkpoint` false: commits never checkpoint the WAL (PRAGMA
  // wal_autocheckpoint=0); the owner must (SqlStore::StartCheckpoints).
  static Result<std::unique_ptr<SqliteConnection>> Open(const std::string& path,
                                                        std::chrono::milliseconds busy_timeout,
                                                        bool auto_checkpoint = true);
  ~SqliteConnection() override;

  Result<SqlResult> Execute(std::string_view sql, std::span<const SqlParam> params) override;
  Result<std::vector<int64_t>> ExecuteEach(std::string_view sql, size_t width,
                                           std::span<const SqlParam> params) override;
  Result<void> ExecuteScript(const std::string& sql) override;
  bool Healthy() const override { return db_ != nullptr && !broken_; }

 private:
  struct Statement {
    sqlite3_stmt* stmt = nullptr;
    // For each SQLite parameter index i (from 1), the 0-based position in `params` of
    // "$n", i.e. n - 1.
    std::vector<int> param_positions;
  };
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  Result<Statement*> Prepare(std::string_view sql);
  Error LastError(std::string_view what) const;

  sqlite3* db_;
  bool broken_ = false;              // a transaction of ExecuteEach's own could not be rolled back
  StringMap<Statement> statements_;  // SQL text → prepared statement
  // The entry of statements_ used last: a batch runs one statement many times, and
  // comparing its text is cheaper than hashing it. Null until the first statement.
  StringMap<Statement>::value_type* last_ = nullptr;
};

}  // namespace airlock::store

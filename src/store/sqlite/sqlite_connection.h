#pragma once
// SqliteConnection: one sqlite3 handle in WAL mode with foreign keys on, a busy timeout,
// and a cache of prepared statements. See sql_connection.h for the contract.

#include <chrono>
#include <functional>
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
  Result<void> AppendRows(std::string_view table, std::span<const std::string_view> columns,
                          std::span<const SqlParam> values) override;
  Result<void> ExecuteScript(const std::string& sql) override;
  bool Healthy() const override { return db_ != nullptr && !broken_; }
  // How many statement texts this connection has prepared and keeps.
  size_t PreparedStatements() const { return statements_.size(); }

 private:
  struct Statement {
    sqlite3_stmt* stmt = nullptr;
    // For each SQLite parameter index i (from 1), the 0-based position in `params` of
    // "$n", i.e. n - 1.
    std::vector<int> param_positions;
  };
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  Result<Statement*> Prepare(std::string_view sql);
  // The INSERT of `rows` rows into `table`, built the first time it is asked for.
  const std::string& InsertText(std::string_view table, std::span<const std::string_view> columns,
                                size_t rows);
  // Runs `body` in the open transaction, or in one of its own (BEGIN IMMEDIATE) that it
  // commits, or rolls back when `body` fails.
  Result<void> InTransaction(const std::function<Result<void>()>& body);
  Error LastError(std::string_view what) const;

  sqlite3* db_;
  struct InsertTextEntry {
    std::string table;
    std::vector<std::string> columns;
    size_t rows;
    std::string sql;
  };
  std::vector<InsertTextEntry> insert_texts_;  // few: a power of two of rows per table
  bool broken_ = false;  // a transaction of InTransaction's own could not be rolled back
  StringMap<Statement> statements_;  // SQL text → prepared statement
  // The entry of statements_ used last: a batch runs one statement many times, and
  // comparing its text is cheaper than hashing it. Null until the first statement.
  StringMap<Statement>::value_type* last_ = nullptr;
};

}  // namespace airlock::store

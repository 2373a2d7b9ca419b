#pragma once
// SqlConnection is the seam between SqlStore (the store's logic, written once) and a
// database driver (sqlite/, postgres/). A driver runs one statement at a time with bound
// parameters and hands back rows as text; it knows nothing about airlock's tables.
// Statements use PostgreSQL's "$1 … $n" placeholders on both backends (SQLite reads them
// as named parameters "$1", "$2", …). Each statement is prepared once per connection and
// cached by its text, so the set of distinct texts must stay small: values are always
// parameters, never part of the text.
// Not thread-safe: one thread at a time uses a connection (SqlStore's pool hands it out).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace airlock::store {

// A bound value: SQL NULL, an integer, or text (which must outlive the call).
using SqlParam = std::variant<std::nullptr_t, int64_t, std::string_view>;

struct SqlResult {
  // Each column as text (integers in decimal); nullopt for SQL NULL.
  std::vector<std::vector<std::optional<std::string>>> rows;
  int64_t affected_rows = 0;  // for INSERT, UPDATE and DELETE
};

enum class SqlDialect { kSqlite, kPostgres };

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;

  // Runs one statement. Errors, mapped the same way by every driver: AlreadyExists for a
  // unique or primary-key violation, FailedPrecondition for a foreign-key violation,
  // InvalidArgument for text the database refuses, Unavailable when the database is busy
  // or unreachable, Internal otherwise. Messages are the driver's primary message, which
  // names constraints but never the values.
  virtual Result<SqlResult> Execute(std::string_view sql, std::span<const SqlParam> params) = 0;

  // Runs `sql` once for each `width` consecutive values of `params`, in order, and returns
  // the rows each run changed. The runs are one transaction: the connection's open one if
  // it has one, else one of their own, committed when the last run is done. After an error
  // (the first run's that failed is returned) none of them has taken effect; an open
  // transaction is then left for its owner to roll back. PostgreSQL is sent every run
  // before it is asked for an answer (libpq's pipeline mode): one round trip for all.
  virtual Result<std::vector<int64_t>> ExecuteEach(std::string_view sql, size_t width,
                                                   std::span<const SqlParam> params) = 0;

  // Appends rows to `table`: `values` holds one value for each of `columns`, row after
  // row. Table and column names are written in the code, never taken from input. All or
  // none, inside the connection's open transaction if it has one. PostgreSQL is sent the
  // rows as one COPY … FROM STDIN, which costs its server less than INSERT statements of
  // the same rows (docs/PERFORMANCE.md, stop 18); SQLite inserts them with INSERT
  // statements of up to 64 rows, in a power of two of rows each, so that a connection
  // prepares at most seven texts per table.
  virtual Result<void> AppendRows(std::string_view table, std::span<const std::string_view> columns,
                                  std::span<const SqlParam> values) = 0;

  // Runs statements that take no parameters (DDL, BEGIN, COMMIT), several separated by ';'.
  virtual Result<void> ExecuteScript(const std::string& sql) = 0;

  // False once the connection is broken and must not go back into a pool.
  virtual bool Healthy() const = 0;
};

// How many runs of `width` values ExecuteEach() makes of `params`; InvalidArgument when
// they do not divide evenly.
inline Result<size_t> RunsOf(size_t width, size_t params) {
  if (width == 0 || params % width != 0) {
    return InvalidArgument(std::to_string(params) + " values do not make runs of " +
                           std::to_string(width));
  }
  return params / width;
}

// "table (column, column, …)", as INSERT and COPY name the columns they fill.
inline std::string TableAndColumns(std::string_view table,
                                   std::span<const std::string_view> columns) {
  std::string text(table);
  text += " (";
  for (size_t c = 0; c < columns.size(); ++c) {
    if (c > 0) text += ", ";
    text += columns[c];
  }
  text += ')';
  return text;
}

}  // namespace airlock::store

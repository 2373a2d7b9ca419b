#include "store/sqlite/sqlite_connection.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

namespace airlock::store {
namespace {

// Settings for the whole process, made before its first connection. SQLite refuses them
// (SQLITE_MISUSE) once it is in use, and then nothing changes.
void ConfigureSqliteOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Memory statistics would take one process-wide mutex around every allocation SQLite
    // makes, shared by the heartbeat and audit writers; airlock reads none of them.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  });
}

constexpr mode_t kDatabaseFileMode = 0600;

ErrorCode CodeFor(int extended_code) {
  switch (extended_code) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return ErrorCode::kAlreadyExists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return ErrorCode::kFailedPrecondition;
    default:
      break;
  }
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

}  // namespace

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(
    const std::string& path, std::chrono::milliseconds busy_timeout, bool auto_checkpoint) {
  if (path != ":memory:") {
    // Create a missing file with its final mode before SQLite does (SQLite would use 0644
    // less the umask); its -wal and -shm files copy the database file's mode. O_EXCL: an
    // existing file (or a symlink to one) is left as it is, and no symlink is followed to
    // create a file elsewhere.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kDatabaseFileMode);
    if (fd >= 0) {
      ::close(fd);
    } else if (errno != EEXIST) {
      return Unavailable("cannot open SQLite database " + path + ": " + std::strerror(errno));
    }
  }
  ConfigureSqliteOnce();
  sqlite3* db = nullptr;
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Unavailable("cannot open SQLite database " + path + ": " + message);
  }
  std::unique_ptr<SqliteConnection> connection(new SqliteConnection(db));
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  // WAL lets readers run while one writer writes; foreign keys are off by default in
  // SQLite and enforce the cascades the schema declares.
  auto setup = connection->ExecuteScript(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  if (!setup) return std::unexpected(setup.error().WithContext("SQLite database " + path));
  if (!auto_checkpoint) {
    if (auto off = connection->ExecuteScript("PRAGMA wal_autocheckpoint=0"); !off) {
      return std::unexpected(off.error().WithContext("SQLite database " + path));
    }
  }
  return connection;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement.stmt);
  sqlite3_close_v2(db_);
}

Error SqliteConnection::LastError(std::string_view what) const {
  std::string message = "sqlite: ";
  message += what;
  message += ": ";
  message += sqlite3_errmsg(db_);
  return Error(CodeFor(sqlite3_extended_errcode(db_)), std::move(message));
}

Result<SqliteConnection::Statement*> SqliteConnection::Prepare(std::string_view sql) {
  if (last_ != nullptr && last_->first == sql) return &last_->second;
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    last_ = &*it;
    return &it->second;
  }
  Statement statement;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &statement.stmt, nullptr) != SQLITE_OK) {
    return std::unexpected(LastError("prepare"));
  }
  const int count = sqlite3_bind_parameter_count(statement.stmt);
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(statement.stmt, i);
    int n = 0;
    if (name == nullptr || name[0] != '$' ||
        std::from_chars(name + 1, name + std::strlen(name), n).ec != std::errc() || n < 1) {
      sqlite3_finalize(statement.stmt);
      return Internal("sqlite: statement parameters must be written $1 … $n");
    }
    statement.param_positions.push_back(n - 1);
  }
  last_ = &*statements_.emplace(std::string(sql), std::move(statement)).first;
  return &last_->second;
}

Result<SqlResult> SqliteConnection::Execute(std::string_view sql,
                                            std::span<const SqlParam> params) {
  auto statement = Prepare(sql);
  if (!statement) return std::unexpected(statement.error());
  sqlite3_stmt* stmt = (*statement)->stmt;
  // Leave the statement reset and unbound whatever happens, so that it holds no lock and
  // no pointer into the caller's parameters.
  struct ResetGuard {
    sqlite3_stmt* stmt;
    ~ResetGuard() {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  } guard{stmt};

  const auto& positions = (*statement)->param_positions;
  for (size_t i = 0; i < positions.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    if (positions[i] >= static_cast<int>(params.size())) {
      return Internal("sqlite: statement uses more parameters than were given");
    }
    const SqlParam& param = params[static_cast<size_t>(positions[i])];
    int rc;
    if (const auto* n = std::get_if<int64_t>(&param)) {
      rc = sqlite3_bind_int64(stmt, index, *n);
    } else if (const auto* s = std::get_if<std::string_view>(&param)) {
      // SQLITE_STATIC: the caller's text outlives the statement's use of it (the guard
      // clears the bindings before Execute returns).
      rc = sqlite3_bind_text64(stmt, index, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
    } else {
      rc = sqlite3_bind_null(stmt, index);
    }
    if (rc != SQLITE_OK) return std::unexpected(LastError("bind"));
  }

  SqlResult result;
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return std::unexpected(LastError("step"));
    const int columns = sqlite3_column_count(stmt);
    auto& row = result.rows.emplace_back();
    row.reserve(static_cast<size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
        row.emplace_back(std::nullopt);
        continue;
      }
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
      const int bytes = sqlite3_column_bytes(stmt, c);
      row.emplace_back(std::string(text != nullptr ? text : "", static_cast<size_t>(bytes)));
    }
  }
  result.affected_rows = sqlite3_changes64(db_);
  return result;
}

Result<void> SqliteConnection::InTransaction(const std::function<Result<void>()>& body) {
  const bool own = sqlite3_get_autocommit(db_) != 0;
  if (own) {
    if (auto begun = ExecuteScript("BEGIN IMMEDIATE"); !begun) return begun;
  }
  auto done = body();
  if (own && done) done = ExecuteScript("COMMIT");
  // A failed COMMIT may have ended the transaction already. If one is still open and
  // cannot be rolled back, the connection must not serve anyone else.
  if (own && !done && sqlite3_get_autocommit(db_) == 0 && !ExecuteScript("ROLLBACK")) {
    broken_ = true;
  }
  return done;
}

Result<std::vector<int64_t>> SqliteConnection::ExecuteEach(std::string_view sql, size_t width,
                                                           std::span<const SqlParam> params) {
  auto runs = RunsOf(width, params.size());
  if (!runs) return std::unexpected(runs.error());
  std::vector<int64_t> changed;
  changed.reserve(*runs);
  // SQLite runs in this process: running the prepared statement once per run costs
  // nothing a round trip would save; one transaction shares the commit.
  auto done = InTransaction([&]() -> Result<void> {
    for (size_t run = 0; run < *runs; ++run) {
      auto result = Execute(sql, params.subspan(run * width, width));
      if (!result) return std::unexpected(result.error());
      changed.push_back(result->affected_rows);
    }
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return changed;
}

const std::string& SqliteConnection::InsertText(std::string_view table,
                                                std::span<const std::string_view> columns,
                                                size_t rows) {
  for (const InsertTextEntry& entry : insert_texts_) {
    if (entry.rows == rows && entry.table == table && std::ranges::equal(entry.columns, columns)) {
      return entry.sql;
    }
  }
  std::string sql = "INSERT INTO " + TableAndColumns(table, columns) + " VALUES ";
  for (size_t row = 0; row < rows; ++row) {
    sql += row == 0 ? "(" : ", (";
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c > 0) sql += ", ";
      sql += "$" + std::to_string(row * columns.size() + c + 1);
    }
    sql += ")";
  }
  return insert_texts_
      .emplace_back(std::string(table), std::vector<std::string>(columns.begin(), columns.end()),
                    rows, std::move(sql))
      .sql;
}

Result<void> SqliteConnection::AppendRows(std::string_view table,
                                          std::span<const std::string_view> columns,
                                          std::span<const SqlParam> values) {
  constexpr size_t kMaxRowsPerInsert = 64;
  auto rows = RunsOf(columns.size(), values.size());
  if (!rows) return std::unexpected(rows.error());
  return InTransaction([&]() -> Result<void> {
    for (size_t start = 0; start < *rows;) {
      const size_t chunk = std::bit_floor(std::min(*rows - start, kMaxRowsPerInsert));
      auto inserted = Execute(InsertText(table, columns, chunk),
                              values.subspan(start * columns.size(), chunk * columns.size()));
      if (!inserted) return std::unexpected(inserted.error());
      start += chunk;
    }
    return {};
  });
}

Result<void> SqliteConnection::ExecuteScript(const std::string& sql) {
  // A single statement (BEGIN, COMMIT, ROLLBACK: one per transaction) is prepared once and
  // kept, as Execute() keeps its statements; sqlite3_exec would parse it every time.
  if (sql.find(';') == std::string::npos) {
    auto done = Execute(sql, {});
    if (!done) return std::unexpected(done.error());
    return {};
  }
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return std::unexpected(LastError("exec"));
  }
  return {};
}

}  // namespace airlock::store

#include "store/postgres/postgres_connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "store/text_escape.h"

namespace airlock::store {
namespace {

struct ResultFree {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultFree>;

// libpq's connection messages span lines ("…failed: Connection refused\n\tIs the server
// running…"); make them one line for logs and the CLI.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

ErrorCode CodeFor(std::string_view sqlstate) {
  if (sqlstate == "23505") return ErrorCode::kAlreadyExists;       // unique_violation
  if (sqlstate == "23503") return ErrorCode::kFailedPrecondition;  // foreign_key_violation
  // character_not_in_repertoire, untranslatable_character.
  if (sqlstate == "22021" || sqlstate == "22P05") {
    return ErrorCode::kInvalidArgument;
  }
  // connection_exception, serialization_failure, deadlock_detected, lock_not_available,
  // admin shutdown and the like: worth retrying later.
  if (sqlstate.starts_with("08") || sqlstate == "40001" || sqlstate == "40P01" ||
      sqlstate == "55P03" || sqlstate.starts_with("57P")) {
    return ErrorCode::kUnavailable;
  }
  return ErrorCode::kInternal;
}

// The error of a failed command. The primary message names constraints, never values
// (those are in the DETAIL field, which is left out on purpose).
Error ResultError(PGconn* conn, const PGresult* result, std::string_view what) {
  const char* sqlstate = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = "postgresql: ";
  message += what;
  message += ": ";
  if (primary != nullptr) {
    message += primary;
  } else {
    const std::string text = OneLine(PQerrorMessage(conn));
    message += text.empty() ? "unknown error" : text;
  }
  ErrorCode code = sqlstate != nullptr ? CodeFor(sqlstate) : ErrorCode::kUnavailable;
  if (PQstatus(conn) != CONNECTION_OK) code = ErrorCode::kUnavailable;
  return Error(code, std::move(message));
}

void IgnoreNotice(void*, const char*) {}

// Parameters as libpq takes them: text for every one (NUL-terminated, so each is copied),
// a null pointer for SQL NULL.
struct TextValues {
  explicit TextValues(std::span<const SqlParam> params) : pointers(params.size(), nullptr) {
    storage.reserve(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        pointers[i] = storage.emplace_back(std::to_string(*n)).c_str();
      } else if (const auto* s = std::get_if<std::string_view>(&params[i])) {
        pointers[i] = storage.emplace_back(*s).c_str();
      }
    }
  }
  std::vector<std::string> storage;
  std::vector<const char*> pointers;
};

// The rows an INSERT, UPDATE or DELETE changed; 0 for other commands.
int64_t AffectedRows(PGresult* result) {
  int64_t rows = 0;
  const char* text = PQcmdTuples(result);
  if (text != nullptr) std::from_chars(text, text + std::strlen(text), rows);
  return rows;
}

}  // namespace

Result<std::unique_ptr<PostgresConnection>> PostgresConnection::Connect(const std::string& uri) {
  // Defaults first: with expand_dbname, what the URI sets overrides them.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "airlock", uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Unavailable("postgresql: out of memory");
  std::unique_ptr<PostgresConnection> connection(new PostgresConnection(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return Unavailable("postgresql: cannot connect: " + OneLine(PQerrorMessage(conn)));
  }
  // CREATE TABLE IF NOT EXISTS and friends send NOTICEs, which libpq prints to stderr.
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  if (PQsetClientEncoding(conn, "UTF8") != 0) {
    return Unavailable("postgresql: the server does not accept client_encoding UTF8");
  }
  return connection;
}

PostgresConnection::~PostgresConnection() { PQfinish(conn_); }

bool PostgresConnection::Healthy() const { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }

Result<const std::string*> PostgresConnection::Prepared(std::string_view sql, size_t params) {
  auto it = statement_names_.find(sql);
  if (it == statement_names_.end()) {
    std::string name = "airlock_" + std::to_string(statement_names_.size());
    const std::string text(sql);
    ResultPtr prepared(
        PQprepare(conn_, name.c_str(), text.c_str(), static_cast<int>(params), nullptr));
    if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      return std::unexpected(ResultError(conn_, prepared.get(), "prepare"));
    }
    it = statement_names_.emplace(text, std::move(name)).first;
  }
  return &it->second;
}

Result<SqlResult> PostgresConnection::Execute(std::string_view sql,
                                              std::span<const SqlParam> params) {
  auto name = Prepared(sql, params.size());
  if (!name) return std::unexpected(name.error());
  const TextValues values(params);
  ResultPtr result(PQexecPrepared(conn_, (*name)->c_str(), static_cast<int>(params.size()),
                                  values.pointers.data(), nullptr, nullptr, /*resultFormat=*/0));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(ResultError(conn_, result.get(), "execute"));
  }
  SqlResult out;
  const int rows = PQntuples(result.get());
  const int columns = PQnfields(result.get());
  out.rows.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    auto& row = out.rows.emplace_back();
    row.reserve(static_cast<size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(result.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                     static_cast<size_t>(PQgetlength(result.get(), r, c))));
      }
    }
  }
  out.affected_rows = AffectedRows(result.get());
  return out;
}

Result<std::vector<int64_t>> PostgresConnection::ExecuteEach(std::string_view sql, size_t width,
                                                             std::span<const SqlParam> params) {
  auto runs = RunsOf(width, params.size());
  if (!runs) return std::unexpected(runs.error());
  if (*runs == 0) return std::vector<int64_t>{};
  auto name = Prepared(sql, width);
  if (!name) return std::unexpected(name.error());
  const TextValues values(params);

  // Every run is sent, then one Sync: the server runs them as one implicit transaction
  // (or inside the open one), skips the rest after an error, and answers each in order.
  // While libpq waits to send it reads what the server has answered meanwhile, so a long
  // pipeline cannot block both sides.
  if (PQenterPipelineMode(conn_) != 1) {
    return std::unexpected(ResultError(conn_, nullptr, "enter pipeline mode"));
  }
  for (size_t run = 0; run < *runs; ++run) {
    if (PQsendQueryPrepared(conn_, (*name)->c_str(), static_cast<int>(width),
                            values.pointers.data() + run * width, nullptr, nullptr,
                            /*resultFormat=*/0) != 1) {
      broken_ = true;  // some runs are queued and others not: drop the connection
      return std::unexpected(ResultError(conn_, nullptr, "send"));
    }
  }
  if (PQpipelineSync(conn_) != 1) {
    broken_ = true;
    return std::unexpected(ResultError(conn_, nullptr, "send"));
  }

  std::vector<int64_t> changed(*runs, 0);
  std::optional<Error> failed;
  for (size_t run = 0; run < *runs; ++run) {
    ResultPtr result(PQgetResult(conn_));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      changed[run] = AffectedRows(result.get());
    } else if (status != PGRES_PIPELINE_ABORTED && !failed) {
      failed = ResultError(conn_, result.get(), "execute");
    }
    if (!result || ResultPtr(PQgetResult(conn_)) != nullptr) {
      broken_ = true;  // not one result then the end of it, as each run gives
      return std::unexpected(
          failed.value_or(Error(ErrorCode::kInternal, "postgresql: a pipeline ended early")));
    }
  }
  ResultPtr sync(PQgetResult(conn_));
  if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC ||
      PQexitPipelineMode(conn_) != 1) {
    broken_ = true;
    return std::unexpected(failed.value_or(ResultError(conn_, sync.get(), "sync")));
  }
  if (failed) return std::unexpected(*failed);
  return changed;
}

Result<void> PostgresConnection::AppendRows(std::string_view table,
                                            std::span<const std::string_view> columns,
                                            std::span<const SqlParam> values) {
  auto rows = RunsOf(columns.size(), values.size());
  if (!rows) return std::unexpected(rows.error());
  if (*rows == 0) return {};
  const std::string copy = "COPY " + TableAndColumns(table, columns) + " FROM STDIN";
  // COPY's text format: a tab between values, a newline after each row, \N for NULL,
  // and a backslash escape for the backslash and the characters that delimit.
  static constexpr EscapeTable kCopyEscapes = MakeEscapeTable("\\\t\n\r", "\\tnr");
  std::string data;
  size_t size = 0;  // each value unescaped, and its delimiter
  for (const SqlParam& value : values) {
    const auto* text = std::get_if<std::string_view>(&value);
    size += text != nullptr ? text->size() + 1 : 21;  // "-9223372036854775808" is 20
  }
  data.reserve(size);
  for (size_t i = 0; i < values.size(); ++i) {
    if (const auto* n = std::get_if<int64_t>(&values[i])) {
      AppendDecimal(data, *n);
    } else if (const auto* text = std::get_if<std::string_view>(&values[i])) {
      AppendEscaped(data, *text, kCopyEscapes);
    } else {
      data += "\\N";
    }
    data += (i + 1) % columns.size() == 0 ? '\n' : '\t';
  }

  ResultPtr started(PQexec(conn_, copy.c_str()));
  if (!started || PQresultStatus(started.get()) != PGRES_COPY_IN) {
    return std::unexpected(ResultError(conn_, started.get(), "copy"));
  }
  constexpr size_t kChunk = size_t{1} << 20;  // PQputCopyData takes an int length
  bool sent = true;
  for (size_t at = 0; sent && at < data.size(); at += kChunk) {
    const size_t n = std::min(kChunk, data.size() - at);
    sent = PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) == 1;
  }
  sent = sent && PQputCopyEnd(conn_, nullptr) == 1;
  ResultPtr result(PQgetResult(conn_));
  while (ResultPtr(PQgetResult(conn_)) != nullptr) {
  }
  if (!sent) broken_ = true;
  if (!sent || !result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return std::unexpected(ResultError(conn_, result.get(), "copy"));
  }
  return {};
}

Result<void> PostgresConnection::ExecuteScript(const std::string& sql) {
  ResultPtr result(PQexec(conn_, sql.c_str()));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return std::unexpected(ResultError(conn_, result.get(), "exec"));
  }
  return {};
}

}  // namespace airlock::store

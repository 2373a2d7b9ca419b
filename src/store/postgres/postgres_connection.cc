#include "store/postgres/postgres_connection.h"

#include <libpq-fe.h>

#include <charconv>
#include <cstring>
#include <vector>

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

bool PostgresConnection::Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

Result<SqlResult> PostgresConnection::Execute(std::string_view sql,
                                              std::span<const SqlParam> params) {
  auto it = statement_names_.find(sql);
  if (it == statement_names_.end()) {
    std::string name = "airlock_" + std::to_string(statement_names_.size());
    const std::string text(sql);
    ResultPtr prepared(
        PQprepare(conn_, name.c_str(), text.c_str(), static_cast<int>(params.size()), nullptr));
    if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      return std::unexpected(ResultError(conn_, prepared.get(), "prepare"));
    }
    it = statement_names_.emplace(text, std::move(name)).first;
  }

  // Text format for every parameter: libpq wants NUL-terminated values, so each is copied.
  std::vector<std::string> storage;
  storage.reserve(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    if (const auto* n = std::get_if<int64_t>(&params[i])) {
      values[i] = storage.emplace_back(std::to_string(*n)).c_str();
    } else if (const auto* s = std::get_if<std::string_view>(&params[i])) {
      values[i] = storage.emplace_back(*s).c_str();
    }
  }
  ResultPtr result(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(params.size()),
                                  values.data(), nullptr, nullptr, /*resultFormat=*/0));
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
  const char* affected = PQcmdTuples(result.get());
  if (affected != nullptr) {
    std::from_chars(affected, affected + std::strlen(affected), out.affected_rows);
  }
  return out;
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

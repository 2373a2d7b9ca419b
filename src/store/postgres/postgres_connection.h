#pragma once
// PostgresConnection: one libpq connection with a cache of server-side prepared
// statements (PQprepare once, PQexecPrepared after), ExecuteEach() in libpq's pipeline
// mode and AppendRows() as COPY. See sql_connection.h for the contract.

#include <memory>
#include <string>

#include "common/string_map.h"
#include "store/sql_connection.h"

struct pg_conn;

namespace airlock::store {

class PostgresConnection final : public SqlConnection {
 public:
  // Connects to a libpq connection URI ("postgresql://…"), with client_encoding UTF8 and a
  // 10 s connect timeout unless the URI sets one. Unavailable, with libpq's reason (which
  // never contains the password), when the server cannot be reached or refuses us.
  static Result<std::unique_ptr<PostgresConnection>> Connect(const std::string& uri);
  ~PostgresConnection() override;

  Result<SqlResult> Execute(std::string_view sql, std::span<const SqlParam> params) override;
  Result<std::vector<int64_t>> ExecuteEach(std::string_view sql, size_t width,
                                           std::span<const SqlParam> params) override;
  Result<void> AppendRows(std::string_view table, std::span<const std::string_view> columns,
                          std::span<const SqlParam> values) override;
  Result<void> ExecuteScript(const std::string& sql) override;
  bool Healthy() const override;

 private:
  explicit PostgresConnection(pg_conn* conn) : conn_(conn) {}
  // The name `sql` is prepared under on this connection, preparing it the first time.
  Result<const std::string*> Prepared(std::string_view sql, size_t params);

  pg_conn* conn_;
  bool broken_ = false;  // a pipeline ended out of step: what the server holds is unknown
  StringMap<std::string> statement_names_;  // SQL text → name
};

}  // namespace airlock::store

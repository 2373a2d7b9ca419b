#include "store/store.h"

#include <array>
#include <filesystem>
#include <system_error>
#include <utility>

#include "store/checks.h"
#include "store/column_cipher.h"
#include "store/memory_store.h"
#include "store/postgres/postgres_connection.h"
#include "store/sql_store.h"
#include "store/sqlite/sqlite_connection.h"

namespace airlock::store {

std::vector<Result<HeartbeatRefusal>> Store::Heartbeats(
    std::span<const HeartbeatRequest> requests) {
  std::vector<Result<HeartbeatRefusal>> results;
  results.reserve(requests.size());
  for (const HeartbeatRequest& r : requests) {
    results.push_back(Heartbeat(r.id, r.hostname, r.pid, r.now));
  }
  return results;
}
namespace {

constexpr std::array<std::pair<TaskState, std::string_view>, 10> kTaskStateNames = {{
    {TaskState::kScheduled, "scheduled"},
    {TaskState::kQueued, "queued"},
    {TaskState::kRunning, "running"},
    {TaskState::kSuccess, "success"},
    {TaskState::kFailed, "failed"},
    {TaskState::kUpForRetry, "up_for_retry"},
    {TaskState::kUpstreamFailed, "upstream_failed"},
    {TaskState::kSkipped, "skipped"},
    {TaskState::kDeferred, "deferred"},
    {TaskState::kRemoved, "removed"},
}};

constexpr std::array<std::pair<DagRunState, std::string_view>, 4> kDagRunStateNames = {{
    {DagRunState::kQueued, "queued"},
    {DagRunState::kRunning, "running"},
    {DagRunState::kSuccess, "success"},
    {DagRunState::kFailed, "failed"},
}};

// The part of a URL after "scheme://", up to the first '/', '?' or '#'.
std::pair<size_t, size_t> AuthorityRange(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {std::string_view::npos, 0};
  const size_t start = scheme_end + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == std::string_view::npos) end = url.size();
  return {start, end};
}

Result<std::unique_ptr<Store>> OpenSqlite(std::string_view path, const StoreOptions& options,
                                          ColumnCipher cipher) {
  if (path != ":memory:" && !path.starts_with("/")) {
    return InvalidArgument(
        "[database] sql_alchemy_conn: a SQLite URL must name an absolute path, as in "
        "sqlite:///home/me/airlock/airlock.db");
  }
  const std::string file(path);
  const auto busy_timeout = options.busy_timeout;
  const bool background_checkpoints =
      file != ":memory:" && options.checkpoint_interval > std::chrono::milliseconds(0);
  auto connect = [file, busy_timeout,
                  background_checkpoints]() -> Result<std::unique_ptr<SqlConnection>> {
    auto connection = SqliteConnection::Open(file, busy_timeout, !background_checkpoints);
    if (!connection) return std::unexpected(connection.error());
    return std::unique_ptr<SqlConnection>(std::move(*connection));
  };
  // Each connection to ":memory:" would be a database of its own: keep to one, with the
  // audit log in it.
  const int max_connections = file == ":memory:" ? 1 : options.max_connections;
  SqlStore::Connector audit_connect;
  if (file != ":memory:") {
    // Its one writer is the store's own: SQLite's automatic checkpoints, run by that writer
    // after a commit, find no other writer in the way and keep the file's WAL short.
    audit_connect = [audit_file = file + std::string(kAuditFileSuffix),
                     busy_timeout]() -> Result<std::unique_ptr<SqlConnection>> {
      auto connection = SqliteConnection::Open(audit_file, busy_timeout, true);
      if (!connection) return std::unexpected(connection.error());
      return std::unique_ptr<SqlConnection>(std::move(*connection));
    };
  }
  auto store = SqlStore::Open(SqlDialect::kSqlite, std::move(connect), std::move(cipher),
                              max_connections, std::move(audit_connect));
  if (!store) return std::unexpected(store.error());
  if (background_checkpoints) (*store)->StartCheckpoints(options.checkpoint_interval);
  return std::unique_ptr<Store>(std::move(*store));
}

Result<std::unique_ptr<Store>> OpenPostgres(std::string uri, const StoreOptions& options,
                                            ColumnCipher cipher) {
  auto connect = [uri]() -> Result<std::unique_ptr<SqlConnection>> {
    auto connection = PostgresConnection::Connect(uri);
    if (!connection) return std::unexpected(connection.error());
    return std::unique_ptr<SqlConnection>(std::move(*connection));
  };
  auto store = SqlStore::Open(SqlDialect::kPostgres, std::move(connect), std::move(cipher),
                              options.max_connections);
  if (!store) {
    return std::unexpected(store.error().WithContext(RedactDatabaseUrl(uri)));
  }
  return std::unique_ptr<Store>(std::move(*store));
}

}  // namespace

std::string_view TaskStateName(TaskState state) {
  for (const auto& [s, name] : kTaskStateNames) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<TaskState> ParseTaskState(std::string_view name) {
  for (const auto& [s, n] : kTaskStateNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool IsTerminal(TaskState state) {
  switch (state) {
    case TaskState::kSuccess:
    case TaskState::kFailed:
    case TaskState::kUpstreamFailed:
    case TaskState::kSkipped:
    case TaskState::kRemoved:
      return true;
    default:
      return false;
  }
}

std::string_view DagRunStateName(DagRunState state) {
  for (const auto& [s, name] : kDagRunStateNames) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<DagRunState> ParseDagRunState(std::string_view name) {
  for (const auto& [s, n] : kDagRunStateNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

std::string RedactDatabaseUrl(std::string_view url) {
  const auto [start, end] = AuthorityRange(url);
  if (start == std::string_view::npos) return std::string(url);
  const size_t at = url.rfind('@', end);
  if (at == std::string_view::npos || at < start) return std::string(url);
  const size_t colon = url.find(':', start);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  std::string out(url.substr(0, colon + 1));
  out += "***";
  out += url.substr(at);
  return out;
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOptions& options) {
  auto cipher = ColumnCipher::Create(options.fernet_key);
  if (!cipher) return std::unexpected(cipher.error());
  const std::string_view u(url);
  if (u == "memory://") return std::make_unique<MemoryStore>(std::move(*cipher));
  if (u.starts_with("sqlite://")) {
    std::string_view path = u.substr(std::string_view("sqlite://").size());
    // SQLAlchemy writes an absolute path with four slashes ("sqlite:////abs/path"), as
    // Airflow's default "sqlite:///{AIRFLOW_HOME}/airflow.db" expands to; take both.
    if (path.starts_with("//")) path.remove_prefix(1);
    if (path.starts_with("/:memory:")) path.remove_prefix(1);
    if (path.find_first_of("?#") != std::string_view::npos) {
      return InvalidArgument(
          "[database] sql_alchemy_conn: SQLite URLs take no parameters in airlock");
    }
    std::error_code missing;  // set when the path cannot be checked: OpenSqlite then says why
    if (!options.create_if_missing && path != ":memory:" &&
        !std::filesystem::exists(std::filesystem::path(path), missing) && !missing) {
      return FailedPrecondition("no SQLite database at " + std::string(path) +
                                ": `airlock db migrate` creates it");
    }
    return OpenSqlite(path, options, std::move(*cipher));
  }
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (u.starts_with(scheme)) {
      return OpenPostgres("postgresql://" + url.substr(scheme.size()), options, std::move(*cipher));
    }
  }
  if (u.starts_with("postgresql+")) {
    // SQLAlchemy's "postgresql+psycopg2://…": the driver name means nothing to libpq.
    const size_t scheme_end = u.find("://");
    if (scheme_end != std::string_view::npos) {
      return OpenPostgres("postgresql" + url.substr(scheme_end), options, std::move(*cipher));
    }
  }
  return InvalidArgument("[database] sql_alchemy_conn: unsupported database URL " +
                         RedactDatabaseUrl(u) +
                         " (expected sqlite:///path, postgresql://… or memory://)");
}

Result<void> RequireCurrentSchema(Store& store) {
  auto version = store.SchemaVersion();
  if (!version) return std::unexpected(version.error());
  if (*version == kSchemaVersion) return {};
  if (*version > kSchemaVersion) return NewerSchemaError(*version);
  return FailedPrecondition("the database's schema is at version " + std::to_string(*version) +
                            " and this airlock needs version " + std::to_string(kSchemaVersion) +
                            ": run `airlock db migrate`");
}

}  // namespace airlock::store

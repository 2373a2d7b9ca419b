#include "store/sql_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

#include "common/clock.h"
#include "common/thread_name.h"
#include "store/checks.h"
#include "store/text_escape.h"

namespace airlock::store {
namespace {

// Migrations, oldest first: migration i (from 0) takes the schema to version i + 1.
// Written in the SQL that SQLite and PostgreSQL share; "%IDENTITY%" is the one thing they
// spell differently. Never edit a migration that has shipped: add one.
// No timestamps with time zones and no booleans: integers read back the same on both.
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE dag (
  dag_id TEXT PRIMARY KEY,
  bundle_name TEXT NOT NULL,
  relative_fileloc TEXT NOT NULL,
  is_paused INTEGER NOT NULL,
  serialized_json TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE dag_run (
  dag_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  state TEXT NOT NULL,
  logical_date BIGINT NOT NULL,
  conf_json TEXT NOT NULL,
  start_date BIGINT,
  end_date BIGINT,
  PRIMARY KEY (dag_id, run_id)
);
CREATE TABLE task_instance (
  id TEXT PRIMARY KEY,
  dag_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  try_number INTEGER NOT NULL,
  map_index INTEGER NOT NULL,
  state TEXT NOT NULL,
  hostname TEXT NOT NULL,
  pid INTEGER NOT NULL,
  queued_at BIGINT,
  start_date BIGINT,
  end_date BIGINT,
  last_heartbeat_at BIGINT,
  UNIQUE (dag_id, run_id, task_id, map_index),
  FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
CREATE INDEX task_instance_state ON task_instance (state);
CREATE TABLE variable (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  description TEXT NOT NULL
);
CREATE TABLE connection (
  conn_id TEXT PRIMARY KEY,
  conn_type TEXT NOT NULL,
  host TEXT NOT NULL,
  schema TEXT NOT NULL,
  login TEXT NOT NULL,
  password TEXT NOT NULL,
  port INTEGER NOT NULL,
  extra TEXT NOT NULL
);
CREATE TABLE xcom (
  dag_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  map_index INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (dag_id, run_id, task_id, map_index, key),
  FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
CREATE TABLE revoked_token (
  jti TEXT PRIMARY KEY,
  exp BIGINT NOT NULL
);
CREATE INDEX revoked_token_exp ON revoked_token (exp);
CREATE TABLE audit_log (
  id %IDENTITY%,
  time BIGINT NOT NULL,
  component TEXT NOT NULL,
  jti TEXT NOT NULL,
  sub TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL
);
CREATE TABLE "user" (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql",
    R"sql(
CREATE TABLE import_error (
  id %IDENTITY%,
  bundle_name TEXT NOT NULL,
  filename TEXT NOT NULL,
  stack_trace TEXT NOT NULL,
  timestamp BIGINT NOT NULL,
  UNIQUE (bundle_name, filename)
);
)sql",
    R"sql(
ALTER TABLE task_instance ADD COLUMN trigger_event TEXT;
CREATE TABLE task_trigger (
  id %IDENTITY%,
  ti_id TEXT NOT NULL UNIQUE REFERENCES task_instance (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  args_json TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  timeout_at BIGINT,
  triggerer_id TEXT NOT NULL,
  lease_expires_at BIGINT
);
)sql",
    // Version 4 moves the audit log of a SQLite file database to a file of its own
    // (SqlStore::MoveAuditRowsToAuditFile). No statement: nothing changes elsewhere.
    "",
    // Version 5: a password change refuses the tokens issued before it (User). A user
    // refuses the tokens issued before its creation, to an earlier user of its name.
    R"sql(
ALTER TABLE "user" ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0;
UPDATE "user" SET tokens_valid_after = created_at;
)sql",
    // Version 6: failed logins, counted in the database that every api-server shares.
    R"sql(
CREATE TABLE login_failure (
  name TEXT PRIMARY KEY,
  window_start BIGINT NOT NULL,
  failures INTEGER NOT NULL
);
)sql",
};
constexpr int kAuditFileMigration = 4;
static_assert(std::size(kMigrations) == kSchemaVersion,
              "kSchemaVersion in store.h must equal the number of migrations");

// The audit file of a SQLite file database (SqlStore::Open) has a schema of its own,
// versioned by SQLite's user_version; this is version 1.
constexpr int kAuditFileVersion = 1;
constexpr std::string_view kAuditFileSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY,
  time BIGINT NOT NULL,
  component TEXT NOT NULL,
  jti TEXT NOT NULL,
  sub TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL
);
PRAGMA user_version = 1;
)sql";

// Any constant will do, as long as nothing else in the database uses it.
constexpr int64_t kMigrationLockKey = 0x6169726c6f636b;  // "airlock"
// PostgreSQL: held (transaction-level) while StartDagRun or QueueTaskInstances counts and
// changes rows, so that the schedulers sharing the database take turns (store.h:
// "Concurrency contract"). Another constant nothing else uses.
constexpr int64_t kSchedulerLockKey = 0x6169726c6f636b01;

std::string MigrationSql(size_t index, SqlDialect dialect) {
  std::string sql(kMigrations[index]);
  const std::string_view identity = dialect == SqlDialect::kSqlite
                                        ? "INTEGER PRIMARY KEY"
                                        : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
  for (size_t pos; (pos = sql.find("%IDENTITY%")) != std::string::npos;) {
    sql.replace(pos, std::string_view("%IDENTITY%").size(), identity);
  }
  return sql;
}

// Column readers. Columns are NOT NULL unless read with OptInt; a value that does not
// parse reads as 0 (the schema only ever stores integers there).
using Row = std::vector<std::optional<std::string>>;

int64_t Int(const std::optional<std::string>& column) {
  int64_t n = 0;
  if (column) std::from_chars(column->data(), column->data() + column->size(), n);
  return n;
}

std::optional<int64_t> OptInt(const std::optional<std::string>& column) {
  if (!column) return std::nullopt;
  return Int(column);
}

std::string Str(const std::optional<std::string>& column) { return column.value_or(""); }

SqlParam OptParam(const std::optional<int64_t>& value) {
  if (value) return *value;
  return nullptr;
}

// "$first, $first+1, …" for `count` parameters.
std::string Placeholders(int first, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += ", ";
    out += "$" + std::to_string(first + static_cast<int>(i));
  }
  return out;
}

constexpr std::string_view kDagColumns =
    "dag_id, bundle_name, relative_fileloc, is_paused, serialized_json, updated_at";

Dag ReadDag(const Row& row) {
  return Dag{
      .dag_id = Str(row[0]),
      .bundle_name = Str(row[1]),
      .relative_fileloc = Str(row[2]),
      .is_paused = Int(row[3]) != 0,
      .serialized_json = Str(row[4]),
      .updated_at = Int(row[5]),
  };
}

constexpr std::string_view kDagRunColumns =
    "dag_id, run_id, state, logical_date, conf_json, start_date, end_date";

Result<DagRun> ReadDagRun(const Row& row) {
  auto state = ParseDagRunState(Str(row[2]));
  if (!state) return Internal("dag_run row with an unknown state");
  return DagRun{
      .dag_id = Str(row[0]),
      .run_id = Str(row[1]),
      .state = *state,
      .logical_date = Int(row[3]),
      .conf_json = Str(row[4]),
      .start_date = OptInt(row[5]),
      .end_date = OptInt(row[6]),
  };
}

constexpr std::string_view kTaskInstanceColumns =
    "id, dag_id, run_id, task_id, try_number, map_index, state, hostname, pid, queued_at, "
    "start_date, end_date, last_heartbeat_at, trigger_event";

Result<TaskInstance> ReadTaskInstance(const Row& row) {
  auto state = ParseTaskState(Str(row[6]));
  if (!state) return Internal("task_instance row with an unknown state");
  return TaskInstance{
      .id = Str(row[0]),
      .dag_id = Str(row[1]),
      .run_id = Str(row[2]),
      .task_id = Str(row[3]),
      .try_number = static_cast<int>(Int(row[4])),
      .map_index = static_cast<int>(Int(row[5])),
      .state = *state,
      .hostname = Str(row[7]),
      .pid = static_cast<int>(Int(row[8])),
      .queued_at = OptInt(row[9]),
      .start_date = OptInt(row[10]),
      .end_date = OptInt(row[11]),
      .last_heartbeat_at = OptInt(row[12]),
      .trigger_event_json = Str(row[13]),
  };
}

constexpr std::string_view kTriggerColumns =
    "id, ti_id, kind, args_json, created_at, timeout_at, triggerer_id, lease_expires_at";

Trigger ReadTrigger(const Row& row) {
  return Trigger{
      .id = Int(row[0]),
      .ti_id = Str(row[1]),
      .kind = Str(row[2]),
      .args_json = Str(row[3]),
      .created_at = Int(row[4]),
      .timeout_at = OptInt(row[5]),
      .triggerer_id = Str(row[6]),
      .lease_expires_at = OptInt(row[7]),
  };
}

std::vector<Trigger> ReadTriggers(const SqlResult& result) {
  std::vector<Trigger> triggers;
  for (const Row& row : result.rows) triggers.push_back(ReadTrigger(row));
  std::sort(triggers.begin(), triggers.end(),
            [](const Trigger& a, const Trigger& b) { return a.id < b.id; });
  return triggers;
}

// The one row a RETURNING statement gave, as a task instance.
Result<TaskInstance> ReturnedTaskInstance(const SqlResult& result) {
  if (result.rows.size() != 1) return Internal("conditional update returned no row");
  return ReadTaskInstance(result.rows[0]);
}

std::string StateList(const std::vector<TaskState>& states) {
  std::string out;
  for (TaskState state : states) {
    if (!out.empty()) out += ", ";
    out += TaskStateName(state);
  }
  return out;
}

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string ConnectionAad(std::string_view conn_id, std::string_view column) {
  return "connection/" + std::string(conn_id) + "/" + std::string(column);
}

// Inside a transaction whose conditional update on task instance `id` changed nothing:
// NotFound, or FailedPrecondition naming its state and the one required. Reads on the
// transaction's own connection (the pool may have no other to lend).
std::unexpected<Error> LostRaceInTransaction(SqlConnection& connection, std::string_view id,
                                             std::string_view required) {
  const SqlParam params[] = {id};
  auto current = connection.Execute("SELECT state FROM task_instance WHERE id = $1", params);
  if (!current) return std::unexpected(current.error());
  if (current->rows.empty()) return NotFound("task instance " + Quoted(id) + " does not exist");
  return FailedPrecondition("task instance " + std::string(id) + " is " + Str(current->rows[0][0]) +
                            ", not " + std::string(required));
}

}  // namespace

// --- The pool -------------------------------------------------------------------------

Result<std::unique_ptr<SqlStore>> SqlStore::Open(SqlDialect dialect, Connector connect,
                                                 ColumnCipher cipher, int max_connections,
                                                 Connector audit_connect) {
  auto first = connect();
  if (!first) return std::unexpected(first.error());
  std::unique_ptr<SqlStore> store(
      new SqlStore(dialect, std::move(connect), std::move(cipher), max_connections));
  store->pool_.Adopt(std::move(*first));
  if (audit_connect) {
    // Two connections: the audit writer's, and one for the listings the REST API reads.
    store->audit_pool_ = std::make_unique<Pool>(std::move(audit_connect), 2);
    if (auto ready = store->PrepareAuditFile(); !ready) return std::unexpected(ready.error());
  }
  return store;
}

void SqlStore::StartCheckpoints(std::chrono::milliseconds interval) {
  checkpointer_ = std::jthread([this, interval](std::stop_token stop) {
    NameThisThread("wal-checkpoint");
    while (SleepUnlessStopped(stop, interval)) Checkpoint();
  });
}

void SqlStore::Checkpoint() {
  // The WAL starts again from its beginning only when a writer finds every frame copied
  // back. A passive checkpoint waits for no one, so under a steady stream of commits new
  // frames arrive while it copies, and the file would grow without end. So once the WAL
  // holds kRestartFrames, a second pass runs with this process's writers held back: it has
  // only the frames of one interval left to copy, and the next commit restarts the WAL.
  constexpr int64_t kRestartFrames = 1000;
  constexpr std::string_view kPassive = "PRAGMA wal_checkpoint(PASSIVE)";
  int64_t frames = 0;
  {
    auto lease = Acquire();
    if (!lease) return;
    auto passive = Run(**lease, kPassive, {});
    if (!passive || passive->rows.empty() || passive->rows[0].size() < 3) return;
    frames = Int(passive->rows[0][1]);
  }  // the connection goes back first: the write lock is never awaited holding one
  if (frames < kRestartFrames) return;
  auto write = WriteLock(true);
  if (auto lease = Acquire(); lease) (void)Run(**lease, kPassive, {});
}

SqlStore::Lease::~Lease() {
  if (connection_) pool_->Release(std::move(connection_), poisoned_);
}

std::unique_lock<std::mutex> SqlStore::WriteLock(bool is_write) {
  if (dialect_ != SqlDialect::kSqlite || !is_write) return {};
  return std::unique_lock(sqlite_write_mu_);
}

std::unique_lock<std::mutex> SqlStore::AuditWriteLock() {
  if (!HasAuditFile()) return WriteLock(true);
  return std::unique_lock(audit_write_mu_);
}

void SqlStore::Pool::Adopt(std::unique_ptr<SqlConnection> connection) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(connection));
  ++open_;
}

Result<SqlStore::Lease> SqlStore::Pool::Acquire() {
  std::unique_lock lock(mu_);
  released_.wait(lock, [&] { return !idle_.empty() || open_ < max_; });
  if (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(connection));
  }
  ++open_;
  lock.unlock();
  auto connection = connect_();
  if (!connection) {
    lock.lock();
    --open_;
    released_.notify_one();
    return std::unexpected(connection.error());
  }
  return Lease(this, std::move(*connection));
}

void SqlStore::Pool::Release(std::unique_ptr<SqlConnection> connection, bool poisoned) {
  std::unique_ptr<SqlConnection> dropped;
  {
    std::lock_guard lock(mu_);
    if (poisoned || !connection->Healthy()) {
      dropped = std::move(connection);  // closed outside the lock
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  released_.notify_one();
}

Result<SqlResult> SqlStore::Run(SqlConnection& connection, std::string_view sql,
                                std::span<const SqlParam> params) {
  for (const SqlParam& param : params) {
    if (const auto* s = std::get_if<std::string_view>(&param)) {
      if (auto ok = CheckText("a text value", *s); !ok) {
        // Every text stored passed this check, so a lookup by one that fails it matches no
        // row: a SELECT finds nothing and a DELETE removes nothing, as on the memory store
        // (a 404, not a 400, for a key no request could have stored).
        if (sql.starts_with("SELECT ") || sql.starts_with("DELETE ")) return SqlResult{};
        return std::unexpected(ok.error());
      }
    }
  }
  return connection.Execute(sql, params);
}

Result<SqlResult> SqlStore::Run(std::string_view sql, std::initializer_list<SqlParam> params) {
  return Run(sql, std::span<const SqlParam>(params.begin(), params.size()));
}

Result<SqlResult> SqlStore::Run(std::string_view sql, std::span<const SqlParam> params) {
  auto write = WriteLock(!sql.starts_with("SELECT"));
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  return Run(**lease, sql, params);
}

Result<void> SqlStore::InTransaction(Lease& lease, const std::function<Result<void>()>& body) {
  auto begun = lease->ExecuteScript(dialect_ == SqlDialect::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!begun) return begun;
  auto done = body();
  if (done) done = lease->ExecuteScript("COMMIT");
  if (!done) {
    // A failed COMMIT has already ended the transaction on both databases; a ROLLBACK then
    // fails harmlessly. If it fails otherwise, the connection's state is unknown.
    if (!lease->ExecuteScript("ROLLBACK")) lease.Poison();
  }
  return done;
}

// --- Schema ---------------------------------------------------------------------------

Result<int> SqlStore::SchemaVersionOn(SqlConnection& connection) {
  const std::string_view exists =
      dialect_ == SqlDialect::kSqlite
          ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
          : "SELECT count(*) FROM pg_catalog.pg_tables "
            "WHERE schemaname = current_schema() AND tablename = 'schema_version'";
  auto found = Run(connection, exists, {});
  if (!found) return std::unexpected(found.error());
  if (found->rows.empty() || Int(found->rows[0][0]) == 0) return 0;
  auto version = Run(connection, "SELECT COALESCE(MAX(version), 0) FROM schema_version", {});
  if (!version) return std::unexpected(version.error());
  return static_cast<int>(Int(version->rows.at(0).at(0)));
}

Result<int> SqlStore::SchemaVersion() {
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  return SchemaVersionOn(**lease);
}

Result<int> SqlStore::Migrate() { return MigrateTo(kSchemaVersion); }

Result<int> SqlStore::MigrateTo(int target) {
  if (target < 1 || target > kSchemaVersion) {
    return InvalidArgument("no schema version " + std::to_string(target) + " (1 to " +
                           std::to_string(kSchemaVersion) + ")");
  }
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  SqlConnection& db = **lease;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto migrated = InTransaction(*lease, [&]() -> Result<void> {
    if (dialect_ == SqlDialect::kPostgres) {
      // Two servers started with --migrate at once: the second waits here, then finds
      // nothing left to do. (SQLite's BEGIN IMMEDIATE already serializes writers.)
      auto locked = Run(db, "SELECT pg_advisory_xact_lock($1)", {kMigrationLockKey});
      if (!locked) return std::unexpected(locked.error());
    }
    auto created = db.ExecuteScript(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    if (!created) return created;
    auto current = SchemaVersionOn(db);
    if (!current) return std::unexpected(current.error());
    if (*current > kSchemaVersion) return NewerSchemaError(*current);
    for (int version = *current + 1; version <= target; ++version) {
      const std::string sql = MigrationSql(static_cast<size_t>(version - 1), dialect_);
      auto applied = sql.empty() ? Result<void>{} : db.ExecuteScript(sql);
      if (applied && version == kAuditFileMigration && HasAuditFile()) {
        applied = MoveAuditRowsToAuditFile(db);
      }
      if (!applied) {
        return std::unexpected(
            applied.error().WithContext("migration to version " + std::to_string(version)));
      }
      auto recorded = Run(db, "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                          {int64_t{version}, now});
      if (!recorded) return std::unexpected(recorded.error());
    }
    return {};
  });
  if (!migrated) return std::unexpected(migrated.error());
  return SchemaVersionOn(db);
}

Result<void> SqlStore::PrepareAuditFile() {
  auto write = AuditWriteLock();
  auto lease = AcquireAudit();
  if (!lease) return std::unexpected(lease.error());
  auto version = Run(**lease, "PRAGMA user_version", {});
  if (!version) return std::unexpected(version.error());
  const int64_t found = version->rows.empty() ? 0 : Int(version->rows[0][0]);
  if (found > kAuditFileVersion) {
    return FailedPrecondition("the audit log file's schema is at version " + std::to_string(found) +
                              ", newer than this airlock binary knows (version " +
                              std::to_string(kAuditFileVersion) +
                              "): upgrade airlock before using this database");
  }
  if (found == kAuditFileVersion) return {};
  return InTransaction(*lease,
                       [&] { return (*lease)->ExecuteScript(std::string(kAuditFileSchema)); });
}

Result<void> SqlStore::MoveAuditRowsToAuditFile(SqlConnection& main) {
  constexpr int64_t kRowsPerCopy = 1000;
  auto write = AuditWriteLock();
  auto audit = AcquireAudit();
  if (!audit) return std::unexpected(audit.error());
  for (int64_t after = 0;;) {
    auto rows = Run(main,
                    "SELECT id, time, component, jti, sub, method, path, status FROM audit_log "
                    "WHERE id > $1 ORDER BY id LIMIT $2",
                    {after, kRowsPerCopy});
    if (!rows) return std::unexpected(rows.error());
    if (rows->rows.empty()) break;
    auto copied = InTransaction(*audit, [&]() -> Result<void> {
      for (const Row& row : rows->rows) {
        auto inserted = Run(**audit,
                            "INSERT OR IGNORE INTO audit_log (id, time, component, jti, sub, "
                            "method, path, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                            {Int(row[0]), Int(row[1]), Str(row[2]), Str(row[3]), Str(row[4]),
                             Str(row[5]), Str(row[6]), Int(row[7])});
        if (!inserted) return std::unexpected(inserted.error());
      }
      return {};
    });
    if (!copied) return std::unexpected(copied.error().WithContext("the audit log file"));
    after = Int(rows->rows.back()[0]);
  }
  return main.ExecuteScript("DROP TABLE audit_log");
}

// --- Dags -----------------------------------------------------------------------------

Result<void> SqlStore::SetDag(const Dag& dag) {
  auto done =
      Run("INSERT INTO dag (dag_id, bundle_name, relative_fileloc, is_paused, serialized_json, "
          "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dag_id) DO UPDATE SET "
          "bundle_name = excluded.bundle_name, relative_fileloc = excluded.relative_fileloc, "
          "is_paused = excluded.is_paused, serialized_json = excluded.serialized_json, "
          "updated_at = excluded.updated_at",
          {dag.dag_id, dag.bundle_name, dag.relative_fileloc, int64_t{dag.is_paused ? 1 : 0},
           dag.serialized_json, dag.updated_at});
  if (!done) return std::unexpected(done.error());
  return {};
}

Result<Dag> SqlStore::GetDag(std::string_view dag_id) {
  static const std::string sql =
      "SELECT " + std::string(kDagColumns) + " FROM dag WHERE dag_id = $1";
  auto result = Run(sql, {dag_id});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return NotFound("dag " + Quoted(dag_id) + " does not exist");
  return ReadDag(result->rows[0]);
}

Result<std::vector<Dag>> SqlStore::ListDags() {
  static const std::string sql = "SELECT " + std::string(kDagColumns) + " FROM dag";
  auto result = Run(sql, {});
  if (!result) return std::unexpected(result.error());
  std::vector<Dag> dags;
  for (const Row& row : result->rows) dags.push_back(ReadDag(row));
  // Sorted here rather than by ORDER BY, whose order depends on PostgreSQL's collation.
  std::sort(dags.begin(), dags.end(),
            [](const Dag& a, const Dag& b) { return a.dag_id < b.dag_id; });
  return dags;
}

Result<void> SqlStore::DeleteDag(std::string_view dag_id) {
  auto result = Run("DELETE FROM dag WHERE dag_id = $1", {dag_id});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) return NotFound("dag " + Quoted(dag_id) + " does not exist");
  return {};
}

// --- Dag runs -------------------------------------------------------------------------

Result<void> SqlStore::CreateDagRun(const DagRun& run) {
  auto result =
      Run("INSERT INTO dag_run (dag_id, run_id, state, logical_date, conf_json, start_date, "
          "end_date) VALUES ($1, $2, $3, $4, $5, $6, $7)",
          {run.dag_id, run.run_id, DagRunStateName(run.state), run.logical_date, run.conf_json,
           OptParam(run.start_date), OptParam(run.end_date)});
  if (!result) {
    if (result.error().code() == ErrorCode::kAlreadyExists) {
      return AlreadyExists("dag run " + Quoted(run.dag_id) + "/" + Quoted(run.run_id) +
                           " already exists");
    }
    return std::unexpected(result.error());
  }
  return {};
}

Result<DagRun> SqlStore::GetDagRun(std::string_view dag_id, std::string_view run_id) {
  static const std::string sql =
      "SELECT " + std::string(kDagRunColumns) + " FROM dag_run WHERE dag_id = $1 AND run_id = $2";
  auto result = Run(sql, {dag_id, run_id});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) {
    return NotFound("dag run " + Quoted(dag_id) + "/" + Quoted(run_id) + " does not exist");
  }
  return ReadDagRun(result->rows[0]);
}

Result<std::vector<DagRun>> SqlStore::ListDagRuns(std::string_view dag_id) {
  static const std::string sql =
      "SELECT " + std::string(kDagRunColumns) + " FROM dag_run WHERE dag_id = $1";
  auto result = Run(sql, {dag_id});
  if (!result) return std::unexpected(result.error());
  std::vector<DagRun> runs;
  for (const Row& row : result->rows) {
    auto run = ReadDagRun(row);
    if (!run) return std::unexpected(run.error());
    runs.push_back(std::move(*run));
  }
  std::sort(runs.begin(), runs.end(),
            [](const DagRun& a, const DagRun& b) { return a.run_id < b.run_id; });
  return runs;
}

Result<std::vector<DagRun>> SqlStore::ListDagRunsInStates(const std::vector<DagRunState>& states) {
  if (states.empty()) return std::vector<DagRun>{};
  std::string sql = "SELECT " + std::string(kDagRunColumns) + " FROM dag_run WHERE state IN (" +
                    Placeholders(1, states.size()) + ")";
  std::vector<SqlParam> params;
  for (DagRunState state : states) params.push_back(DagRunStateName(state));
  auto result = Run(sql, params);
  if (!result) return std::unexpected(result.error());
  std::vector<DagRun> runs;
  for (const Row& row : result->rows) {
    auto run = ReadDagRun(row);
    if (!run) return std::unexpected(run.error());
    runs.push_back(std::move(*run));
  }
  std::sort(runs.begin(), runs.end(), [](const DagRun& a, const DagRun& b) {
    return std::tie(a.dag_id, a.run_id) < std::tie(b.dag_id, b.run_id);
  });
  return runs;
}

Result<DagRun> SqlStore::TransitionDagRun(std::string_view dag_id, std::string_view run_id,
                                          const std::vector<DagRunState>& from, DagRunState to,
                                          int64_t now) {
  if (from.empty()) return InvalidArgument("TransitionDagRun needs at least one 'from' state");
  // $1 dag_id, $2 run_id, $3 the new state, $4 now (when a date is set), then `from`.
  std::string sql = "UPDATE dag_run SET state = $3";
  std::vector<SqlParam> params = {dag_id, run_id, DagRunStateName(to)};
  if (to == DagRunState::kRunning) {
    sql += ", start_date = $4";
    params.push_back(now);
  } else if (to == DagRunState::kSuccess || to == DagRunState::kFailed) {
    sql += ", end_date = $4";
    params.push_back(now);
  }
  sql += " WHERE dag_id = $1 AND run_id = $2 AND state IN (" +
         Placeholders(static_cast<int>(params.size()) + 1, from.size()) + ") RETURNING " +
         std::string(kDagRunColumns);
  for (DagRunState state : from) params.push_back(DagRunStateName(state));
  auto result = Run(sql, params);
  if (!result) return std::unexpected(result.error());
  if (result->rows.size() == 1) return ReadDagRun(result->rows[0]);
  auto current = GetDagRun(dag_id, run_id);
  if (!current) return std::unexpected(current.error());
  std::string required;
  for (DagRunState state : from) {
    if (!required.empty()) required += ", ";
    required += DagRunStateName(state);
  }
  return FailedPrecondition("dag run " + Quoted(dag_id) + "/" + Quoted(run_id) + " is " +
                            std::string(DagRunStateName(current->state)) + ", not " + required);
}

Result<void> SqlStore::LockSchedulerLimits(SqlConnection& connection) const {
  if (dialect_ != SqlDialect::kPostgres) return {};  // BEGIN IMMEDIATE already serialises
  auto locked = Run(connection, "SELECT pg_advisory_xact_lock($1)", {kSchedulerLockKey});
  if (!locked) return std::unexpected(locked.error());
  return {};
}

Result<DagRun> SqlStore::StartDagRun(std::string_view dag_id, std::string_view run_id,
                                     int max_active_runs, int64_t now) {
  static const std::string start =
      "UPDATE dag_run SET state = 'running', start_date = $3 WHERE dag_id = $1 AND run_id = $2 "
      "AND state = 'queued' AND (SELECT count(*) FROM dag_run WHERE dag_id = $1 AND state = "
      "'running') < $4 RETURNING " +
      std::string(kDagRunColumns);
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  DagRun started;
  auto done = InTransaction(*lease, [&]() -> Result<void> {
    if (auto locked = LockSchedulerLimits(**lease); !locked) return locked;
    auto result = Run(**lease, start, {dag_id, run_id, now, int64_t{max_active_runs}});
    if (!result) return std::unexpected(result.error());
    if (result->rows.size() == 1) {
      auto run = ReadDagRun(result->rows[0]);
      if (!run) return std::unexpected(run.error());
      started = std::move(*run);
      return {};
    }
    // Nothing changed: say why, from what this transaction sees.
    auto current = Run(**lease, "SELECT state FROM dag_run WHERE dag_id = $1 AND run_id = $2",
                       {dag_id, run_id});
    if (!current) return std::unexpected(current.error());
    if (current->rows.empty()) {
      return NotFound("dag run " + Quoted(dag_id) + "/" + Quoted(run_id) + " does not exist");
    }
    if (Str(current->rows[0][0]) != "queued") {
      return FailedPrecondition("dag run " + Quoted(dag_id) + "/" + Quoted(run_id) + " is " +
                                Str(current->rows[0][0]) + ", not queued");
    }
    auto running = Run(
        **lease, "SELECT count(*) FROM dag_run WHERE dag_id = $1 AND state = 'running'", {dag_id});
    if (!running) return std::unexpected(running.error());
    return TooManyRunning(dag_id, running->rows.empty() ? 0 : Int(running->rows[0][0]));
  });
  if (!done) return std::unexpected(done.error());
  return started;
}

Result<void> SqlStore::DeleteDagRun(std::string_view dag_id, std::string_view run_id) {
  auto result = Run("DELETE FROM dag_run WHERE dag_id = $1 AND run_id = $2", {dag_id, run_id});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) {
    return NotFound("dag run " + Quoted(dag_id) + "/" + Quoted(run_id) + " does not exist");
  }
  return {};
}

// --- Task instances -------------------------------------------------------------------

Result<void> SqlStore::CreateTaskInstances(const std::vector<TaskInstance>& tis) {
  for (const TaskInstance& ti : tis) {
    if (!IsCanonicalUuid(ti.id)) {
      return InvalidArgument("task instance id " + Quoted(ti.id) +
                             " is not a canonical lowercase UUID");
    }
  }
  if (tis.empty()) return {};
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  return InTransaction(*lease, [&]() -> Result<void> {
    for (const TaskInstance& ti : tis) {
      auto inserted = Run(
          **lease,
          "INSERT INTO task_instance (id, dag_id, run_id, task_id, try_number, map_index, state, "
          "hostname, pid, queued_at, start_date, end_date, last_heartbeat_at) VALUES ($1, $2, "
          "$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
          {ti.id, ti.dag_id, ti.run_id, ti.task_id, int64_t{ti.try_number}, int64_t{ti.map_index},
           TaskStateName(ti.state), ti.hostname, int64_t{ti.pid}, OptParam(ti.queued_at),
           OptParam(ti.start_date), OptParam(ti.end_date), OptParam(ti.last_heartbeat_at)});
      if (inserted) continue;
      switch (inserted.error().code()) {
        case ErrorCode::kAlreadyExists:
          return AlreadyExists("task instance " + ti.id + " or (" + Quoted(ti.dag_id) + ", " +
                               Quoted(ti.run_id) + ", " + Quoted(ti.task_id) + ", " +
                               std::to_string(ti.map_index) + ") already exists");
        case ErrorCode::kFailedPrecondition:
          return FailedPrecondition("dag run " + Quoted(ti.dag_id) + "/" + Quoted(ti.run_id) +
                                    " does not exist");
        default:
          return std::unexpected(inserted.error());
      }
    }
    return {};
  });
}

Result<TaskInstance> SqlStore::GetTaskInstance(std::string_view id) {
  static const std::string sql =
      "SELECT " + std::string(kTaskInstanceColumns) + " FROM task_instance WHERE id = $1";
  auto result = Run(sql, {id});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return NotFound("task instance " + Quoted(id) + " does not exist");
  return ReadTaskInstance(result->rows[0]);
}

Result<std::vector<TaskInstance>> SqlStore::ListTaskInstances(std::string_view dag_id,
                                                              std::string_view run_id) {
  static const std::string sql = "SELECT " + std::string(kTaskInstanceColumns) +
                                 " FROM task_instance WHERE dag_id = $1 AND run_id = $2";
  auto result = Run(sql, {dag_id, run_id});
  if (!result) return std::unexpected(result.error());
  std::vector<TaskInstance> tis;
  for (const Row& row : result->rows) {
    auto ti = ReadTaskInstance(row);
    if (!ti) return std::unexpected(ti.error());
    tis.push_back(std::move(*ti));
  }
  std::sort(tis.begin(), tis.end(), [](const TaskInstance& a, const TaskInstance& b) {
    return std::tie(a.task_id, a.map_index) < std::tie(b.task_id, b.map_index);
  });
  return tis;
}

std::unexpected<Error> SqlStore::LostTaskInstanceRace(std::string_view id,
                                                      std::string_view required) {
  auto current = GetTaskInstance(id);
  if (!current) return std::unexpected(current.error());
  return FailedPrecondition("task instance " + std::string(id) + " is " +
                            std::string(TaskStateName(current->state)) + ", not " +
                            std::string(required));
}

Result<TaskInstance> SqlStore::StartTaskInstance(std::string_view id, std::string_view hostname,
                                                 int pid, int64_t start_date) {
  static const std::string sql =
      "UPDATE task_instance SET state = 'running', hostname = $2, pid = $3, start_date = $4, "
      "last_heartbeat_at = $4 WHERE id = $1 AND state = 'queued' RETURNING " +
      std::string(kTaskInstanceColumns);
  auto result = Run(sql, {id, hostname, int64_t{pid}, start_date});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return LostTaskInstanceRace(id, "queued");
  return ReturnedTaskInstance(*result);
}

namespace {

// On PostgreSQL a transaction that records heartbeats, and nothing else, commits without
// waiting for its WAL to reach the disk: this CTE, which a heartbeat statement joins, turns
// synchronous_commit off for its transaction alone. A crash of the database server may
// then lose the last moments of heartbeats (up to three wal_writer_delay, 600 ms by
// default); that only makes last_heartbeat_at that much older, and the worker's next
// heartbeat writes it again. It cannot lose a heartbeat and keep a later change: the
// commit of any other transaction flushes the WAL up to its own record. A batch's row
// locks are then held for the statement alone, not also for a disk write.
#define AIRLOCK_ASYNC_COMMIT_CTE \
  "WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "

// A heartbeat is recorded when its task instance is running with the hostname and pid it
// reports; parameters id, hostname, pid, now. SQLite has no commit of that kind (its
// synchronous=NORMAL loses nothing committed when the process crashes).
constexpr std::string_view kHeartbeatSql =
    "UPDATE task_instance SET last_heartbeat_at = $4 "
    "WHERE id = $1 AND state = 'running' AND hostname = $2 AND pid = $3";
constexpr std::string_view kHeartbeatAsyncCommitSql = AIRLOCK_ASYNC_COMMIT_CTE
    "UPDATE task_instance SET last_heartbeat_at = $4 FROM async_commit "
    "WHERE id = $1 AND state = 'running' AND hostname = $2 AND pid = $3";

}  // namespace

std::string_view SqlStore::HeartbeatSql() const {
  return dialect_ == SqlDialect::kPostgres ? kHeartbeatAsyncCommitSql : kHeartbeatSql;
}

Result<HeartbeatRefusal> SqlStore::HeartbeatOn(SqlConnection& connection,
                                               const HeartbeatRequest& r) const {
  auto result = Run(connection, HeartbeatSql(), {r.id, r.hostname, int64_t{r.pid}, r.now});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 1) return HeartbeatRefusal::kNone;
  return HeartbeatRefusalOf(connection, r.id);
}

// Why a heartbeat for `id` matched no running row with its hostname and pid.
Result<HeartbeatRefusal> SqlStore::HeartbeatRefusalOf(SqlConnection& connection,
                                                      std::string_view id) {
  auto current = Run(connection, "SELECT state FROM task_instance WHERE id = $1", {id});
  if (!current) return std::unexpected(current.error());
  if (current->rows.empty()) return NotFound("task instance " + Quoted(id) + " does not exist");
  return Str(current->rows[0][0]) == TaskStateName(TaskState::kRunning)
             ? HeartbeatRefusal::kRunningElsewhere
             : HeartbeatRefusal::kNotRunning;
}

Result<HeartbeatRefusal> SqlStore::Heartbeat(std::string_view id, std::string_view hostname,
                                             int pid, int64_t now) {
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  return HeartbeatOn(**lease, {.id = id, .hostname = hostname, .pid = pid, .now = now});
}

namespace {

// Appends `text` to a PostgreSQL array literal as one quoted element.
void AppendArrayElement(std::string& array, std::string_view text) {
  static constexpr EscapeTable kArrayElementEscapes = MakeEscapeTable("\"\\", "\"\\");
  array += array.size() == 1 ? "\"" : ",\"";
  AppendEscaped(array, text, kArrayElementEscapes);
  array += '"';
}

// The heartbeats of a batch as one statement on PostgreSQL: $1..$4 are arrays of ids,
// hostnames, pids and times. The LATERAL subquery locks each request's row (if it is
// running with that hostname and pid) one row at a time, in the ids' byte order (COLLATE
// "C", the order Heartbeats sorts its fallback in), so concurrent batches queue instead
// of deadlocking; it cannot be merged into the join (it locks rows), so each request
// costs one primary-key lookup whatever the table's size. The UPDATE then reaches each
// locked row by its ctid. RETURNING gives the position of each request it recorded.
// One case records nothing although the request is recordable: a row that another
// transaction changed after this statement's snapshot was taken is locked in its new
// version, which the snapshot cannot see, so the UPDATE does not find it. The caller
// sends such requests again (Heartbeats). It commits asynchronously, as kHeartbeatSql does.
constexpr std::string_view kHeartbeatBatchSql = AIRLOCK_ASYNC_COMMIT_CTE
    "UPDATE task_instance SET last_heartbeat_at = l.at "
    "FROM async_commit, (SELECT v.n, v.at, x.row FROM ("
    "SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS BIGINT[]), "
    "CAST($4 AS BIGINT[])) WITH ORDINALITY AS u (id, hostname, pid, at, n) "
    "ORDER BY u.id COLLATE \"C\") AS v "
    "CROSS JOIN LATERAL (SELECT t.ctid AS row FROM task_instance AS t WHERE t.id = v.id "
    "AND t.state = 'running' AND t.hostname = v.hostname AND t.pid = v.pid "
    "FOR NO KEY UPDATE) AS x) AS l "
    "WHERE task_instance.ctid = l.row RETURNING l.n";
#undef AIRLOCK_ASYNC_COMMIT_CTE

}  // namespace

Result<std::vector<bool>> SqlStore::RecordHeartbeatsAtOnce(
    SqlConnection& connection, std::span<const HeartbeatRequest> requests,
    std::span<const size_t> batch) {
  std::string ids = "{", hostnames = "{", pids = "{", ats = "{";
  for (size_t i : batch) {
    const HeartbeatRequest& r = requests[i];
    AppendArrayElement(ids, r.id);
    AppendArrayElement(hostnames, r.hostname);
    if (pids.size() > 1) pids += ',';
    AppendDecimal(pids, r.pid);
    if (ats.size() > 1) ats += ',';
    AppendDecimal(ats, r.now);
  }
  for (std::string* array : {&ids, &hostnames, &pids, &ats}) *array += '}';
  auto updated = Run(connection, kHeartbeatBatchSql, {ids, hostnames, pids, ats});
  if (!updated) return std::unexpected(updated.error());
  std::vector<bool> recorded(batch.size(), false);
  for (const auto& row : updated->rows) {
    const int64_t n = Int(row[0]);  // WITH ORDINALITY counts from 1
    if (n >= 1 && static_cast<size_t>(n) <= batch.size())
      recorded[static_cast<size_t>(n - 1)] = true;
  }
  return recorded;
}

std::vector<Result<HeartbeatRefusal>> SqlStore::Heartbeats(
    std::span<const HeartbeatRequest> requests) {
  std::vector<Result<HeartbeatRefusal>> results(requests.size(), HeartbeatRefusal::kNone);
  // Requests with text the database cannot hold are answered alone, so that one bad
  // request cannot fail the others' transaction.
  std::vector<size_t> batch;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (auto ok = CheckTexts({requests[i].id, requests[i].hostname}); !ok) {
      results[i] = std::unexpected(ok.error());
    } else {
      batch.push_back(i);
    }
  }
  if (batch.empty()) return results;

  // In id order: concurrent batches (of the api-servers on one PostgreSQL) share rows,
  // and each takes its row locks in this order, so one waits for another instead of both
  // waiting in a cycle (which PostgreSQL breaks only after deadlock_timeout, failing a
  // batch). Requests for one instance follow each other, the latest last, so that the
  // last one written is the latest.
  std::ranges::stable_sort(batch, {}, [&](size_t i) {
    const HeartbeatRequest& r = requests[i];
    return std::tuple(r.id, r.hostname, r.pid, r.now);
  });
  auto fail_all = [&](const Error& error) {
    for (size_t i : batch) results[i] = std::unexpected(error);
    return results;
  };
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return fail_all(lease.error());
  // PostgreSQL aborts a transaction that locks several rows to break a deadlock with one
  // that locks several task instances in another order (a cascading delete of a run, say),
  // or when a lock wait outlasts a lock_timeout. Neither says anything about the
  // heartbeats. Sent again as they were, the same rows could meet the same transaction in
  // the same cycle; so they are written one at a time, each in a transaction of its own,
  // which holds one row lock and waits for nothing else while it does, and so cannot
  // deadlock.
  auto aborted_by_a_lock_wait = [&](const Error& error) {
    return dialect_ == SqlDialect::kPostgres && error.code() == ErrorCode::kUnavailable &&
           (**lease).Healthy();
  };
  auto write_one_at_a_time = [&](std::span<const size_t> which) {
    for (size_t i : which) results[i] = HeartbeatOn(**lease, requests[i]);
    return results;
  };

  // What is left to write: on SQLite every request; on PostgreSQL those its one
  // statement did not record: refused ones and rows another transaction changed
  // meanwhile. Requests for one instance, host and pid (a run in `batch`, in time order)
  // go into the statement as one, with the latest time: in one transaction each would
  // find the row as the first did, so each is answered as that one is, and the row ends
  // with the latest time, as if they had been written one after the other.
  std::vector<size_t> left;
  if (dialect_ == SqlDialect::kPostgres) {
    std::vector<size_t> group_ends;  // one past the last position in `batch` of each run
    std::vector<size_t> sent;        // the last (latest) request of each run
    for (size_t n = 0; n < batch.size(); ++n) {
      const HeartbeatRequest& r = requests[batch[n]];
      const HeartbeatRequest* next = n + 1 < batch.size() ? &requests[batch[n + 1]] : nullptr;
      if (next == nullptr || next->id != r.id || next->hostname != r.hostname ||
          next->pid != r.pid) {
        group_ends.push_back(n + 1);
        sent.push_back(batch[n]);
      }
    }
    auto recorded = RecordHeartbeatsAtOnce(**lease, requests, sent);
    if (!recorded && aborted_by_a_lock_wait(recorded.error())) return write_one_at_a_time(batch);
    if (!recorded) return fail_all(recorded.error());
    for (size_t k = 0, n = 0; k < group_ends.size(); ++k) {
      for (; n < group_ends[k]; ++n) {
        if (!(*recorded)[k]) left.push_back(batch[n]);
      }
    }
  } else {
    left = std::move(batch);
  }

  // One transaction of the single-row UPDATE per request left (on PostgreSQL one round
  // trip: sql_connection.h), in id order as well.
  if (!left.empty()) {
    std::vector<SqlParam> params;
    params.reserve(left.size() * 4);
    for (size_t i : left) {
      const HeartbeatRequest& r = requests[i];
      params.insert(params.end(), {r.id, r.hostname, int64_t{r.pid}, r.now});
    }
    auto changed = (**lease).ExecuteEach(HeartbeatSql(), 4, params);
    if (!changed && aborted_by_a_lock_wait(changed.error())) return write_one_at_a_time(left);
    if (!changed) {
      for (size_t i : left) results[i] = std::unexpected(changed.error());
    } else {
      for (size_t n = 0; n < left.size(); ++n) {
        if ((*changed)[n] != 1)
          results[left[n]] = HeartbeatRefusalOf(**lease, requests[left[n]].id);
      }
    }
  }
  return results;
}

Result<TaskInstance> SqlStore::FinishTaskInstance(std::string_view id, TaskState state,
                                                  int64_t end_date) {
  if (!IsTerminal(state) && state != TaskState::kUpForRetry && state != TaskState::kDeferred) {
    return InvalidArgument("a running task instance cannot finish as " +
                           std::string(TaskStateName(state)));
  }
  static const std::string with_end_date =
      "UPDATE task_instance SET state = $2, end_date = $3 WHERE id = $1 AND state = 'running' "
      "RETURNING " +
      std::string(kTaskInstanceColumns);
  static const std::string deferred =
      "UPDATE task_instance SET state = $2 WHERE id = $1 AND state = 'running' RETURNING " +
      std::string(kTaskInstanceColumns);
  auto result = state == TaskState::kDeferred
                    ? Run(deferred, {id, TaskStateName(state)})
                    : Run(with_end_date, {id, TaskStateName(state), end_date});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return LostTaskInstanceRace(id, "running");
  return ReturnedTaskInstance(*result);
}

Result<TaskInstance> SqlStore::TransitionTaskInstance(std::string_view id,
                                                      const std::vector<TaskState>& from,
                                                      TaskState to, int64_t now) {
  if (from.empty()) {
    return InvalidArgument("TransitionTaskInstance needs at least one 'from' state");
  }
  if (to == TaskState::kRunning) {
    return InvalidArgument("a task instance enters running only through StartTaskInstance");
  }
  // $1 id, $2 the new state, $3 now (when a date is set), then `from`.
  std::string sql = "UPDATE task_instance SET state = $2";
  std::vector<SqlParam> params = {id, TaskStateName(to)};
  if (to == TaskState::kQueued) {
    sql += ", queued_at = $3";
    params.push_back(now);
  } else if (IsTerminal(to) || to == TaskState::kUpForRetry) {
    sql += ", end_date = $3";
    params.push_back(now);
  }
  sql += " WHERE id = $1 AND state IN (" +
         Placeholders(static_cast<int>(params.size()) + 1, from.size()) + ") RETURNING " +
         std::string(kTaskInstanceColumns);
  for (TaskState state : from) params.push_back(TaskStateName(state));
  auto result = Run(sql, params);
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return LostTaskInstanceRace(id, StateList(from));
  return ReturnedTaskInstance(*result);
}

Result<std::vector<TaskInstance>> SqlStore::QueueTaskInstances(std::span<const std::string> ids,
                                                               int parallelism, int64_t now) {
  if (parallelism < 0) return NegativeParallelism(parallelism);
  std::vector<TaskInstance> queued;
  if (ids.empty() || parallelism == 0) return queued;
  // One candidate at a time, in the caller's order, until the room is used up. On
  // PostgreSQL a row another transaction holds (an api-server changing that task instance)
  // is skipped rather than waited for; it stays scheduled for a later pass.
  static const std::string queue_sqlite =
      "UPDATE task_instance SET state = 'queued', queued_at = $2 WHERE id = $1 AND state = "
      "'scheduled' RETURNING " +
      std::string(kTaskInstanceColumns);
  static const std::string queue_postgres =
      "UPDATE task_instance SET state = 'queued', queued_at = $2 WHERE id = (SELECT id FROM "
      "task_instance WHERE id = $1 AND state = 'scheduled' FOR UPDATE SKIP LOCKED) AND state = "
      "'scheduled' RETURNING " +
      std::string(kTaskInstanceColumns);
  const std::string& queue = dialect_ == SqlDialect::kPostgres ? queue_postgres : queue_sqlite;
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  auto done = InTransaction(*lease, [&]() -> Result<void> {
    queued.clear();
    if (auto locked = LockSchedulerLimits(**lease); !locked) return locked;
    auto in_flight =
        Run(**lease, "SELECT count(*) FROM task_instance WHERE state IN ('queued', 'running')", {});
    if (!in_flight) return std::unexpected(in_flight.error());
    int64_t room = parallelism - (in_flight->rows.empty() ? 0 : Int(in_flight->rows[0][0]));
    for (const std::string& id : ids) {
      if (room <= 0) break;
      if (!IsStorableText(id)) continue;  // no stored task instance has it
      auto result = Run(**lease, queue, {id, now});
      if (!result) return std::unexpected(result.error());
      if (result->rows.empty()) continue;  // not scheduled (any more), or gone
      auto ti = ReturnedTaskInstance(*result);
      if (!ti) return std::unexpected(ti.error());
      queued.push_back(std::move(*ti));
      --room;
    }
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return queued;
}

Result<TaskInstance> SqlStore::RetryTaskInstance(std::string_view id, std::string_view next_id) {
  if (auto ok = CheckTexts({id, next_id}); !ok) return std::unexpected(ok.error());
  static const std::string sql =
      "UPDATE task_instance SET id = $2, state = 'scheduled', try_number = try_number + 1, "
      "hostname = '', pid = 0, queued_at = NULL, start_date = NULL, end_date = NULL, "
      "last_heartbeat_at = NULL, trigger_event = NULL WHERE id = $1 AND state = 'up_for_retry' "
      "RETURNING " +
      std::string(kTaskInstanceColumns);
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  TaskInstance next;
  auto done = InTransaction(*lease, [&]() -> Result<void> {
    // A trigger row would keep the old id, and its foreign key refuse the rename; all of
    // this is rolled back unless the task instance was up_for_retry.
    auto cleared = Run(**lease, "DELETE FROM task_trigger WHERE ti_id = $1", {id});
    if (!cleared) return std::unexpected(cleared.error());
    auto result = Run(**lease, sql, {id, next_id});
    if (!result) return std::unexpected(result.error());
    if (result->rows.empty()) return LostRaceInTransaction(**lease, id, "up_for_retry");
    auto returned = ReturnedTaskInstance(*result);
    if (!returned) return std::unexpected(returned.error());
    next = std::move(*returned);
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return next;
}

// --- Deferral -------------------------------------------------------------------------

Result<Trigger> SqlStore::DeferTaskInstance(std::string_view id, const Trigger& trigger) {
  if (auto ok = CheckTexts({id, trigger.kind, trigger.args_json}); !ok) {
    return std::unexpected(ok.error());
  }
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  Trigger stored;
  auto done = InTransaction(*lease, [&]() -> Result<void> {
    auto deferred = Run(**lease,
                        "UPDATE task_instance SET state = 'deferred', trigger_event = NULL "
                        "WHERE id = $1 AND state = 'running'",
                        {id});
    if (!deferred) return std::unexpected(deferred.error());
    if (deferred->affected_rows != 1) return LostRaceInTransaction(**lease, id, "running");
    auto cleared = Run(**lease, "DELETE FROM task_trigger WHERE ti_id = $1", {id});
    if (!cleared) return std::unexpected(cleared.error());
    static const std::string insert =
        "INSERT INTO task_trigger (ti_id, kind, args_json, created_at, timeout_at, "
        "triggerer_id, lease_expires_at) VALUES ($1, $2, $3, $4, $5, '', NULL) RETURNING " +
        std::string(kTriggerColumns);
    auto inserted = Run(
        **lease, insert,
        {id, trigger.kind, trigger.args_json, trigger.created_at, OptParam(trigger.timeout_at)});
    if (!inserted) return std::unexpected(inserted.error());
    if (inserted->rows.size() != 1) return Internal("INSERT … RETURNING gave no row");
    stored = ReadTrigger(inserted->rows[0]);
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return stored;
}

Result<Trigger> SqlStore::GetTrigger(int64_t trigger_id) {
  static const std::string sql =
      "SELECT " + std::string(kTriggerColumns) + " FROM task_trigger WHERE id = $1";
  auto result = Run(sql, {trigger_id});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return NotFound(TriggerName(trigger_id) + " does not exist");
  return ReadTrigger(result->rows[0]);
}

Result<std::vector<Trigger>> SqlStore::ListTriggers() {
  static const std::string sql =
      "SELECT " + std::string(kTriggerColumns) + " FROM task_trigger ORDER BY id";
  auto result = Run(sql, {});
  if (!result) return std::unexpected(result.error());
  return ReadTriggers(*result);
}

Result<std::vector<Trigger>> SqlStore::ListTimedOutTriggers(int64_t now) {
  static const std::string sql = "SELECT " + std::string(kTriggerColumns) +
                                 " FROM task_trigger WHERE timeout_at IS NOT NULL AND "
                                 "timeout_at <= $1 ORDER BY id";
  auto result = Run(sql, {now});
  if (!result) return std::unexpected(result.error());
  return ReadTriggers(*result);
}

Result<std::vector<Trigger>> SqlStore::ClaimTriggers(std::string_view triggerer_id, int capacity,
                                                     int64_t lease_expires_at, int64_t now) {
  if (auto ok = CheckTriggererId(triggerer_id); !ok) return std::unexpected(ok.error());
  if (capacity <= 0) return std::vector<Trigger>{};
  // One statement picks and leases them. PostgreSQL: the candidates are locked as they
  // are picked, and those another claimer holds are skipped (FOR UPDATE SKIP LOCKED), so
  // concurrent claimers each get the next unclaimed triggers instead of waiting for, and
  // then losing, the same ones. SQLite runs one writer at a time.
  static const std::string claim_sqlite =
      "UPDATE task_trigger SET triggerer_id = $3, lease_expires_at = $4 WHERE id IN (SELECT id "
      "FROM task_trigger WHERE triggerer_id = '' OR lease_expires_at < $1 ORDER BY id LIMIT $2) "
      "RETURNING " +
      std::string(kTriggerColumns);
  static const std::string claim_postgres =
      "WITH picked AS MATERIALIZED (SELECT id FROM task_trigger WHERE triggerer_id = '' OR "
      "lease_expires_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) UPDATE task_trigger "
      "SET triggerer_id = $3, lease_expires_at = $4 WHERE id IN (SELECT id FROM picked) AND "
      "(triggerer_id = '' OR lease_expires_at < $1) RETURNING " +
      std::string(kTriggerColumns);
  auto result = Run(dialect_ == SqlDialect::kPostgres ? claim_postgres : claim_sqlite,
                    {now, int64_t{capacity}, triggerer_id, lease_expires_at});
  if (!result) return std::unexpected(result.error());
  return ReadTriggers(*result);
}

Result<std::vector<Trigger>> SqlStore::RenewTriggerLeases(std::string_view triggerer_id,
                                                          std::span<const int64_t> trigger_ids,
                                                          int64_t lease_expires_at) {
  if (auto ok = CheckTriggererId(triggerer_id); !ok) return std::unexpected(ok.error());
  std::vector<Trigger> renewed;
  // In chunks, to stay far below both databases' limits on bound parameters.
  constexpr size_t kChunk = 500;
  for (size_t first = 0; first < trigger_ids.size(); first += kChunk) {
    auto chunk = trigger_ids.subspan(first, std::min(kChunk, trigger_ids.size() - first));
    std::vector<SqlParam> params = {triggerer_id, lease_expires_at};
    for (int64_t id : chunk) params.push_back(id);
    auto result =
        Run("UPDATE task_trigger SET lease_expires_at = $2 WHERE triggerer_id = $1 "
            "AND id IN (" +
                Placeholders(3, chunk.size()) + ") RETURNING " + std::string(kTriggerColumns),
            params);
    if (!result) return std::unexpected(result.error());
    for (Trigger& t : ReadTriggers(*result)) renewed.push_back(std::move(t));
  }
  std::sort(renewed.begin(), renewed.end(),
            [](const Trigger& a, const Trigger& b) { return a.id < b.id; });
  return renewed;
}

Result<TaskInstance> SqlStore::EndDeferral(int64_t trigger_id, std::string_view update_sql,
                                           std::span<const SqlParam> extra_params) {
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  TaskInstance written;
  auto done = InTransaction(*lease, [&]() -> Result<void> {
    auto trigger = Run(**lease, "SELECT ti_id FROM task_trigger WHERE id = $1", {trigger_id});
    if (!trigger) return std::unexpected(trigger.error());
    if (trigger->rows.empty()) return NotFound(TriggerName(trigger_id) + " does not exist");
    const std::string ti_id = Str(trigger->rows[0][0]);
    std::vector<SqlParam> params = {ti_id};
    params.insert(params.end(), extra_params.begin(), extra_params.end());
    auto updated = Run(**lease, update_sql, params);
    if (!updated) return std::unexpected(updated.error());
    if (updated->rows.empty()) return LostRaceInTransaction(**lease, ti_id, "deferred");
    auto ti = ReturnedTaskInstance(*updated);
    if (!ti) return std::unexpected(ti.error());
    written = std::move(*ti);
    auto deleted = Run(**lease, "DELETE FROM task_trigger WHERE id = $1", {trigger_id});
    if (!deleted) return std::unexpected(deleted.error());
    return {};
  });
  if (!done) return std::unexpected(done.error());
  return written;
}

Result<TaskInstance> SqlStore::FireTrigger(int64_t trigger_id, std::string_view payload_json) {
  if (auto ok = CheckText("a trigger event", payload_json); !ok) return std::unexpected(ok.error());
  static const std::string sql =
      "UPDATE task_instance SET state = 'scheduled', trigger_event = $2, hostname = '', pid = 0, "
      "queued_at = NULL, start_date = NULL, end_date = NULL, last_heartbeat_at = NULL "
      "WHERE id = $1 AND state = 'deferred' RETURNING " +
      std::string(kTaskInstanceColumns);
  const SqlParam extra[] = {payload_json};
  return EndDeferral(trigger_id, sql, extra);
}

Result<TaskInstance> SqlStore::FailTrigger(int64_t trigger_id, int64_t now) {
  static const std::string sql =
      "UPDATE task_instance SET state = 'failed', end_date = $2 "
      "WHERE id = $1 AND state = 'deferred' RETURNING " +
      std::string(kTaskInstanceColumns);
  const SqlParam extra[] = {now};
  return EndDeferral(trigger_id, sql, extra);
}

// --- Variables ------------------------------------------------------------------------

Result<Variable> SqlStore::GetVariable(std::string_view key) {
  auto result = Run("SELECT key, value, description FROM variable WHERE key = $1", {key});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return NotFound("variable " + Quoted(key) + " does not exist");
  const Row& row = result->rows[0];
  return Variable{.key = Str(row[0]), .value = Str(row[1]), .description = Str(row[2])};
}

Result<std::vector<Variable>> SqlStore::ListVariables() {
  auto result = Run("SELECT key, value, description FROM variable", {});
  if (!result) return std::unexpected(result.error());
  std::vector<Variable> variables;
  for (const Row& row : result->rows) {
    variables.push_back({.key = Str(row[0]), .value = Str(row[1]), .description = Str(row[2])});
  }
  // Sorted here rather than by ORDER BY, whose order depends on PostgreSQL's collation.
  std::sort(variables.begin(), variables.end(),
            [](const Variable& a, const Variable& b) { return a.key < b.key; });
  return variables;
}

Result<void> SqlStore::SetVariable(const Variable& variable) {
  auto result =
      Run("INSERT INTO variable (key, value, description) VALUES ($1, $2, $3) ON CONFLICT (key) DO "
          "UPDATE SET value = excluded.value, description = excluded.description",
          {variable.key, variable.value, variable.description});
  if (!result) return std::unexpected(result.error());
  return {};
}

Result<void> SqlStore::DeleteVariable(std::string_view key) {
  auto result = Run("DELETE FROM variable WHERE key = $1", {key});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) return NotFound("variable " + Quoted(key) + " does not exist");
  return {};
}

// --- Connections ----------------------------------------------------------------------

Result<Connection> SqlStore::GetConnection(std::string_view conn_id) {
  auto result =
      Run("SELECT conn_id, conn_type, host, schema, login, password, port, extra FROM connection "
          "WHERE conn_id = $1",
          {conn_id});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) {
    return NotFound("connection " + Quoted(conn_id) + " does not exist");
  }
  const Row& row = result->rows[0];
  const std::string what = "of connection " + Quoted(conn_id);
  auto password =
      cipher_.Decrypt(Str(row[5]), ConnectionAad(conn_id, "password"), "password " + what);
  if (!password) return std::unexpected(password.error());
  auto extra = cipher_.Decrypt(Str(row[7]), ConnectionAad(conn_id, "extra"), "extra " + what);
  if (!extra) return std::unexpected(extra.error());
  return Connection{
      .conn_id = Str(row[0]),
      .conn_type = Str(row[1]),
      .host = Str(row[2]),
      .schema = Str(row[3]),
      .login = Str(row[4]),
      .password = std::move(*password),
      .port = static_cast<int>(Int(row[6])),
      .extra = std::move(*extra),
  };
}

// One query for the ids, then GetConnection for each: connections are few, and this keeps
// the decryption (and its error wording) in one place.
Result<std::vector<Connection>> SqlStore::ListConnections() {
  auto result = Run("SELECT conn_id FROM connection", {});
  if (!result) return std::unexpected(result.error());
  std::vector<std::string> ids;
  for (const Row& row : result->rows) ids.push_back(Str(row[0]));
  std::sort(ids.begin(), ids.end());
  std::vector<Connection> connections;
  for (const std::string& conn_id : ids) {
    auto c = GetConnection(conn_id);
    if (!c && c.error().code() == ErrorCode::kNotFound) continue;  // deleted meanwhile
    if (!c) return std::unexpected(c.error());
    connections.push_back(std::move(*c));
  }
  return connections;
}

Result<void> SqlStore::SetConnection(const Connection& c) {
  // Check before encrypting: the ciphertext is ASCII whatever the plaintext was.
  if (auto ok = CheckTexts({c.password, c.extra}); !ok) return ok;
  const std::string what = "of connection " + Quoted(c.conn_id);
  auto password =
      cipher_.Encrypt(c.password, ConnectionAad(c.conn_id, "password"), "password " + what);
  if (!password) return std::unexpected(password.error());
  auto extra = cipher_.Encrypt(c.extra, ConnectionAad(c.conn_id, "extra"), "extra " + what);
  if (!extra) return std::unexpected(extra.error());
  auto result =
      Run("INSERT INTO connection (conn_id, conn_type, host, schema, login, password, port, extra) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (conn_id) DO UPDATE SET "
          "conn_type = excluded.conn_type, host = excluded.host, schema = excluded.schema, "
          "login = excluded.login, password = excluded.password, port = excluded.port, "
          "extra = excluded.extra",
          {c.conn_id, c.conn_type, c.host, c.schema, c.login, *password, int64_t{c.port}, *extra});
  if (!result) return std::unexpected(result.error());
  return {};
}

Result<void> SqlStore::DeleteConnection(std::string_view conn_id) {
  auto result = Run("DELETE FROM connection WHERE conn_id = $1", {conn_id});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) {
    return NotFound("connection " + Quoted(conn_id) + " does not exist");
  }
  return {};
}

// --- XComs ----------------------------------------------------------------------------

namespace {
std::string XComName(const XComKey& k) {
  return "xcom " + Quoted(k.key) + " of " + Quoted(k.dag_id) + "/" + Quoted(k.run_id) + "/" +
         Quoted(k.task_id) + "[" + std::to_string(k.map_index) + "]";
}
}  // namespace

Result<std::string> SqlStore::GetXCom(const XComKey& k) {
  auto result =
      Run("SELECT value FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND "
          "map_index = $4 AND key = $5",
          {k.dag_id, k.run_id, k.task_id, int64_t{k.map_index}, k.key});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return NotFound(XComName(k) + " does not exist");
  return Str(result->rows[0][0]);
}

Result<void> SqlStore::SetXCom(const XComKey& k, std::string_view value_json) {
  auto result =
      Run("INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value) VALUES ($1, $2, $3, "
          "$4, $5, $6) ON CONFLICT (dag_id, run_id, task_id, map_index, key) DO UPDATE SET "
          "value = excluded.value",
          {k.dag_id, k.run_id, k.task_id, int64_t{k.map_index}, k.key, value_json});
  if (!result) {
    if (result.error().code() == ErrorCode::kFailedPrecondition) {
      return FailedPrecondition("dag run " + Quoted(k.dag_id) + "/" + Quoted(k.run_id) +
                                " does not exist");
    }
    return std::unexpected(result.error());
  }
  return {};
}

Result<void> SqlStore::DeleteXCom(const XComKey& k) {
  auto result =
      Run("DELETE FROM xcom WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4 "
          "AND key = $5",
          {k.dag_id, k.run_id, k.task_id, int64_t{k.map_index}, k.key});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) return NotFound(XComName(k) + " does not exist");
  return {};
}

// --- Revoked tokens -------------------------------------------------------------------

Result<void> SqlStore::RevokeToken(std::string_view jti, int64_t exp) {
  auto result =
      Run("INSERT INTO revoked_token (jti, exp) VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE SET "
          "exp = CASE WHEN excluded.exp > revoked_token.exp THEN excluded.exp "
          "ELSE revoked_token.exp END",
          {jti, exp});
  if (!result) return std::unexpected(result.error());
  return {};
}

Result<bool> SqlStore::IsTokenRevoked(std::string_view jti) {
  auto result = Run("SELECT 1 FROM revoked_token WHERE jti = $1", {jti});
  if (!result) return std::unexpected(result.error());
  return !result->rows.empty();
}

Result<int> SqlStore::PurgeRevokedTokens(int64_t now) {
  auto result = Run("DELETE FROM revoked_token WHERE exp < $1", {now});
  if (!result) return std::unexpected(result.error());
  return static_cast<int>(result->affected_rows);
}

// --- Failed logins --------------------------------------------------------------------

Result<void> SqlStore::RecordLoginFailures(std::span<const std::string> names, int64_t now,
                                           int64_t window_seconds) {
  for (const std::string& name : names) {
    if (auto ok = CheckTexts({name}); !ok) return ok;
  }
  // One statement per name: the row is created, counted or restarted atomically, whichever
  // api-server counts at the same moment. (SET sees the row as it was.)
  static constexpr std::string_view kCount =
      "INSERT INTO login_failure (name, window_start, failures) VALUES ($1, $2, 1) "
      "ON CONFLICT (name) DO UPDATE SET "
      "failures = CASE WHEN login_failure.window_start <= $3 THEN 1 "
      "ELSE login_failure.failures + 1 END, "
      "window_start = CASE WHEN login_failure.window_start <= $3 THEN excluded.window_start "
      "ELSE login_failure.window_start END";
  for (const std::string& name : names) {
    auto result = Run(kCount, {name, now, now - window_seconds});
    if (!result) return std::unexpected(result.error());
  }
  return {};
}

Result<std::vector<LoginFailureWindow>> SqlStore::LoginFailureWindows(
    std::span<const std::string> names, int64_t now, int64_t window_seconds) {
  std::vector<LoginFailureWindow> windows;
  if (names.empty()) return windows;
  std::vector<SqlParam> params{now - window_seconds};
  for (const std::string& name : names) {
    if (!IsStorableText(name)) continue;  // never stored
    params.emplace_back(name);
  }
  if (params.size() == 1) return windows;
  auto result =
      Run("SELECT name, window_start, failures FROM login_failure WHERE "
          "window_start > $1 AND name IN (" +
              Placeholders(2, params.size() - 1) + ")",
          params);
  if (!result) return std::unexpected(result.error());
  for (const Row& row : result->rows) {
    windows.push_back({.name = Str(row[0]),
                       .window_start = Int(row[1]),
                       .failures = static_cast<int>(Int(row[2]))});
  }
  return windows;
}

Result<void> SqlStore::ClearLoginFailures(std::string_view name) {
  if (!IsStorableText(name)) return {};  // never stored
  auto result = Run("DELETE FROM login_failure WHERE name = $1", {name});
  if (!result) return std::unexpected(result.error());
  return {};
}

Result<int> SqlStore::PurgeLoginFailures(int64_t cutoff) {
  auto result = Run("DELETE FROM login_failure WHERE window_start <= $1", {cutoff});
  if (!result) return std::unexpected(result.error());
  return static_cast<int>(result->affected_rows);
}

// --- Audit log ------------------------------------------------------------------------

namespace {

constexpr std::string_view kAuditColumns[] = {"time",   "component", "jti",   "sub",
                                              "method", "path",      "status"};

}  // namespace

Result<void> SqlStore::AppendAudit(std::span<const AuditEntry> entries) {
  if (entries.empty()) return {};
  std::vector<SqlParam> values;
  values.reserve(entries.size() * std::size(kAuditColumns));
  for (const AuditEntry& e : entries) {
    if (auto ok = CheckTexts({e.component, e.jti, e.sub, e.method, e.path}); !ok) return ok;
    values.insert(values.end(),
                  {e.time, e.component, e.jti, e.sub, e.method, e.path, int64_t{e.status}});
  }
  auto write = AuditWriteLock();
  auto lease = AcquireAudit();
  if (!lease) return std::unexpected(lease.error());
  // One COPY on PostgreSQL, INSERTs of up to 64 rows on SQLite (sql_connection.h).
  return (**lease).AppendRows("audit_log", kAuditColumns, values);
}

Result<std::vector<AuditEntry>> SqlStore::ListAudit(int limit, int offset) {
  if (limit < 0 || offset < 0) return InvalidArgument("limit and offset must not be negative");
  auto lease = AcquireAudit();
  if (!lease) return std::unexpected(lease.error());
  auto result = Run(**lease,
                    "SELECT time, component, jti, sub, method, path, status FROM audit_log "
                    "ORDER BY id DESC LIMIT $1 OFFSET $2",
                    {int64_t{limit}, int64_t{offset}});
  if (!result) return std::unexpected(result.error());
  std::vector<AuditEntry> entries;
  for (const Row& row : result->rows) {
    entries.push_back(AuditEntry{
        .time = Int(row[0]),
        .component = Str(row[1]),
        .jti = Str(row[2]),
        .sub = Str(row[3]),
        .method = Str(row[4]),
        .path = Str(row[5]),
        .status = static_cast<int>(Int(row[6])),
    });
  }
  return entries;
}

Result<void> SqlStore::ReplaceImportErrors(std::string_view bundle_name,
                                           const std::vector<ImportError>& errors, int64_t now) {
  if (auto ok = CheckImportErrors(bundle_name, errors); !ok) return ok;
  auto write = WriteLock(true);
  auto lease = Acquire();
  if (!lease) return std::unexpected(lease.error());
  return InTransaction(*lease, [&]() -> Result<void> {
    auto existing =
        Run(**lease, "SELECT filename, stack_trace FROM import_error WHERE bundle_name = $1",
            {bundle_name});
    if (!existing) return std::unexpected(existing.error());
    std::map<std::string, std::string> stored;
    for (const Row& row : existing->rows) stored[Str(row[0])] = Str(row[1]);
    std::set<std::string_view> listed;
    for (const ImportError& e : errors) {
      listed.insert(e.filename);
      auto it = stored.find(e.filename);
      Result<SqlResult> written;
      if (it == stored.end()) {
        written = Run(**lease,
                      "INSERT INTO import_error (bundle_name, filename, stack_trace, timestamp) "
                      "VALUES ($1, $2, $3, $4)",
                      {bundle_name, e.filename, e.stack_trace, now});
      } else if (it->second != e.stack_trace) {
        written = Run(**lease,
                      "UPDATE import_error SET stack_trace = $3, timestamp = $4 "
                      "WHERE bundle_name = $1 AND filename = $2",
                      {bundle_name, e.filename, e.stack_trace, now});
      }
      if (!written) return std::unexpected(written.error());
    }
    for (const auto& [filename, stack_trace] : stored) {
      if (listed.count(filename)) continue;
      auto deleted =
          Run(**lease, "DELETE FROM import_error WHERE bundle_name = $1 AND filename = $2",
              {bundle_name, filename});
      if (!deleted) return std::unexpected(deleted.error());
    }
    return {};
  });
}

Result<std::vector<ImportError>> SqlStore::ListImportErrors() {
  auto result = Run(
      "SELECT id, bundle_name, filename, stack_trace, timestamp FROM import_error ORDER BY id", {});
  if (!result) return std::unexpected(result.error());
  std::vector<ImportError> errors;
  for (const Row& row : result->rows) {
    errors.push_back(ImportError{.id = Int(row[0]),
                                 .bundle_name = Str(row[1]),
                                 .filename = Str(row[2]),
                                 .stack_trace = Str(row[3]),
                                 .timestamp = Int(row[4])});
  }
  return errors;
}

Result<int64_t> SqlStore::CountAudit() {
  auto lease = AcquireAudit();
  if (!lease) return std::unexpected(lease.error());
  auto result = Run(**lease, "SELECT COUNT(*) FROM audit_log", {});
  if (!result) return std::unexpected(result.error());
  return Int(result->rows.at(0)[0]);
}

// --- Users ----------------------------------------------------------------------------

namespace {
constexpr std::string_view kUserColumns =
    "username, password_hash, role, created_at, tokens_valid_after";

User ReadUser(const Row& row) {
  return User{.username = Str(row[0]),
              .password_hash = Str(row[1]),
              .role = Str(row[2]),
              .created_at = Int(row[3]),
              .tokens_valid_after = Int(row[4])};
}
}  // namespace

Result<void> SqlStore::CreateUser(const User& user) {
  auto result =
      Run(R"(INSERT INTO "user" (username, password_hash, role, created_at, tokens_valid_after) )"
          R"(VALUES ($1, $2, $3, $4, $4))",
          {user.username, user.password_hash, user.role, user.created_at});
  if (!result) {
    if (result.error().code() == ErrorCode::kAlreadyExists) {
      return AlreadyExists("user " + Quoted(user.username) + " already exists");
    }
    return std::unexpected(result.error());
  }
  return {};
}

Result<User> SqlStore::GetUser(std::string_view username) {
  static const std::string sql =
      "SELECT " + std::string(kUserColumns) + R"( FROM "user" WHERE username = $1)";
  auto result = Run(sql, {username});
  if (!result) return std::unexpected(result.error());
  if (result->rows.empty()) return NotFound("user " + Quoted(username) + " does not exist");
  return ReadUser(result->rows[0]);
}

Result<std::vector<User>> SqlStore::ListUsers() {
  static const std::string sql = "SELECT " + std::string(kUserColumns) + R"( FROM "user")";
  auto result = Run(sql, {});
  if (!result) return std::unexpected(result.error());
  std::vector<User> users;
  for (const Row& row : result->rows) users.push_back(ReadUser(row));
  std::sort(users.begin(), users.end(),
            [](const User& a, const User& b) { return a.username < b.username; });
  return users;
}

Result<void> SqlStore::SetUserPassword(std::string_view username, std::string_view password_hash,
                                       int64_t now) {
  auto result = Run(R"(UPDATE "user" SET password_hash = $2, tokens_valid_after = $3 )"
                    R"(WHERE username = $1)",
                    {username, password_hash, now});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) return NotFound("user " + Quoted(username) + " does not exist");
  return {};
}

Result<void> SqlStore::DeleteUser(std::string_view username) {
  auto result = Run(R"(DELETE FROM "user" WHERE username = $1)", {username});
  if (!result) return std::unexpected(result.error());
  if (result->affected_rows == 0) return NotFound("user " + Quoted(username) + " does not exist");
  return {};
}

}  // namespace airlock::store

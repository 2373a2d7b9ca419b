#pragma once
// SqlStore implements Store once for every SQL database: the schema and its migrations,
// each conditional update and how a lost race is reported, connection encryption, and a
// pool of SqlConnections. The drivers (sqlite/, postgres/) only run statements.
// Thread-safe: each call borrows a connection from the pool for its duration.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/column_cipher.h"
#include "store/sql_connection.h"
#include "store/store.h"

namespace airlock::store {

class SqlStore final : public Store {
 public:
  using Connector = std::function<Result<std::unique_ptr<SqlConnection>>()>;

  // Opens one connection at once, so that an unreachable database fails here; opens more
  // as concurrent calls need them, up to `max_connections`.
  // `audit_connect` (SQLite file databases): the audit log has a database file of its
  // own, whose connections this opens. Its writes are most of what a busy api-server
  // writes, so in a file of their own they neither wait for nor hold up the writers of
  // the task tables, and their checkpoints sync only that file. The file is made ready
  // here (its schema is its own: kAuditFileSchema in the .cc).
  static Result<std::unique_ptr<SqlStore>> Open(SqlDialect dialect, Connector connect,
                                                ColumnCipher cipher, int max_connections,
                                                Connector audit_connect = {});

  // SQLite: starts the thread that checkpoints the WAL every `interval` (PASSIVE: it waits
  // for no reader or writer), for connections opened without automatic checkpoints. It
  // stops when the store is destroyed; closing the last connection checkpoints the rest.
  void StartCheckpoints(std::chrono::milliseconds interval);

  Result<int> Migrate() override;
  // Migrates to `version` (at most kSchemaVersion) and no further; Migrate() is
  // MigrateTo(kSchemaVersion). For tests of a migration on the schema it starts from.
  Result<int> MigrateTo(int version);
  Result<int> SchemaVersion() override;

  Result<void> SetDag(const Dag& dag) override;
  Result<Dag> GetDag(std::string_view dag_id) override;
  Result<std::vector<Dag>> ListDags() override;
  Result<void> DeleteDag(std::string_view dag_id) override;

  Result<void> CreateDagRun(const DagRun& run) override;
  Result<DagRun> GetDagRun(std::string_view dag_id, std::string_view run_id) override;
  Result<std::vector<DagRun>> ListDagRuns(std::string_view dag_id) override;
  Result<std::vector<DagRun>> ListDagRunsInStates(const std::vector<DagRunState>& states) override;
  Result<DagRun> TransitionDagRun(std::string_view dag_id, std::string_view run_id,
                                  const std::vector<DagRunState>& from, DagRunState to,
                                  int64_t now) override;
  Result<DagRun> StartDagRun(std::string_view dag_id, std::string_view run_id, int max_active_runs,
                             int64_t now) override;
  Result<void> DeleteDagRun(std::string_view dag_id, std::string_view run_id) override;

  Result<void> CreateTaskInstances(const std::vector<TaskInstance>& tis) override;
  Result<TaskInstance> GetTaskInstance(std::string_view id) override;
  Result<std::vector<TaskInstance>> ListTaskInstances(std::string_view dag_id,
                                                      std::string_view run_id) override;
  Result<TaskInstance> StartTaskInstance(std::string_view id, std::string_view hostname, int pid,
                                         int64_t start_date) override;
  std::vector<Result<HeartbeatRefusal>> Heartbeats(
      std::span<const HeartbeatRequest> requests) override;
  Result<HeartbeatRefusal> Heartbeat(std::string_view id, std::string_view hostname, int pid,
                                     int64_t now) override;
  Result<TaskInstance> FinishTaskInstance(std::string_view id, TaskState state,
                                          int64_t end_date) override;
  using Store::TransitionTaskInstance;
  Result<TaskInstance> TransitionTaskInstance(std::string_view id,
                                              const std::vector<TaskState>& from, TaskState to,
                                              int64_t now) override;
  Result<std::vector<TaskInstance>> QueueTaskInstances(std::span<const std::string> ids,
                                                       int parallelism, int64_t now) override;
  Result<TaskInstance> RetryTaskInstance(std::string_view id, std::string_view next_id) override;

  Result<Trigger> DeferTaskInstance(std::string_view id, const Trigger& trigger) override;
  Result<Trigger> GetTrigger(int64_t trigger_id) override;
  Result<std::vector<Trigger>> ListTriggers() override;
  Result<std::vector<Trigger>> ListTimedOutTriggers(int64_t now) override;
  Result<std::vector<Trigger>> ClaimTriggers(std::string_view triggerer_id, int capacity,
                                             int64_t lease_expires_at, int64_t now) override;
  Result<std::vector<Trigger>> RenewTriggerLeases(std::string_view triggerer_id,
                                                  std::span<const int64_t> trigger_ids,
                                                  int64_t lease_expires_at) override;
  Result<TaskInstance> FireTrigger(int64_t trigger_id, std::string_view payload_json) override;
  Result<TaskInstance> FailTrigger(int64_t trigger_id, int64_t now) override;

  Result<Variable> GetVariable(std::string_view key) override;
  Result<void> SetVariable(const Variable& variable) override;
  Result<void> DeleteVariable(std::string_view key) override;
  Result<std::vector<Variable>> ListVariables() override;

  Result<Connection> GetConnection(std::string_view conn_id) override;
  Result<void> SetConnection(const Connection& connection) override;
  Result<void> DeleteConnection(std::string_view conn_id) override;
  Result<std::vector<Connection>> ListConnections() override;

  Result<std::string> GetXCom(const XComKey& key) override;
  Result<void> SetXCom(const XComKey& key, std::string_view value_json) override;
  Result<void> DeleteXCom(const XComKey& key) override;

  Result<void> RevokeToken(std::string_view jti, int64_t exp) override;
  Result<bool> IsTokenRevoked(std::string_view jti) override;
  Result<int> PurgeRevokedTokens(int64_t now) override;
  Result<void> RecordLoginFailures(std::span<const std::string> names, int64_t now,
                                   int64_t window_seconds) override;
  Result<std::vector<LoginFailureWindow>> LoginFailureWindows(std::span<const std::string> names,
                                                              int64_t now,
                                                              int64_t window_seconds) override;
  Result<void> ClearLoginFailures(std::string_view name) override;
  Result<int> PurgeLoginFailures(int64_t cutoff) override;

  Result<void> AppendAudit(std::span<const AuditEntry> entries) override;
  Result<std::vector<AuditEntry>> ListAudit(int limit, int offset) override;
  Result<int64_t> CountAudit() override;
  Result<void> ReplaceImportErrors(std::string_view bundle_name,
                                   const std::vector<ImportError>& errors, int64_t now) override;
  Result<std::vector<ImportError>> ListImportErrors() override;

  Result<void> CreateUser(const User& user) override;
  Result<User> GetUser(std::string_view username) override;
  Result<std::vector<User>> ListUsers() override;
  Result<void> SetUserPassword(std::string_view username, std::string_view password_hash,
                               int64_t now) override;
  Result<void> DeleteUser(std::string_view username) override;

 private:
  class Pool;

  // A connection borrowed from a pool; going out of scope gives it back (or drops it if
  // it broke, or if Poison() was called because its state is unknown).
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<SqlConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    SqlConnection& operator*() const { return *connection_; }
    SqlConnection* operator->() const { return connection_.get(); }
    void Poison() { poisoned_ = true; }

   private:
    Pool* pool_;
    std::unique_ptr<SqlConnection> connection_;
    bool poisoned_ = false;
  };

  // The connections to one database: opened as calls need them, up to `max`, and kept.
  class Pool {
   public:
    Pool(Connector connect, int max) : connect_(std::move(connect)), max_(std::max(1, max)) {}
    // Waits while `max` connections are lent out.
    Result<Lease> Acquire();
    void Release(std::unique_ptr<SqlConnection> connection, bool poisoned);
    // A connection opened by the caller (to find an unreachable database early).
    void Adopt(std::unique_ptr<SqlConnection> connection);
    int max() const { return max_; }

   private:
    const Connector connect_;
    const int max_;
    std::mutex mu_;
    std::condition_variable released_;
    std::vector<std::unique_ptr<SqlConnection>> idle_;  // Guarded by mu_.
    int open_ = 0;  // connections idle or lent out. Guarded by mu_.
  };

  SqlStore(SqlDialect dialect, Connector connect, ColumnCipher cipher, int max_connections)
      : dialect_(dialect), cipher_(std::move(cipher)), pool_(std::move(connect), max_connections) {}

  // SQLite allows one writer at a time, and a writer that finds the lock taken sleeps in
  // its busy handler (1, 2, 5, 10 … ms), which turns contention into long tail latency.
  // So writes of this process queue on a mutex instead, and SQLite's lock is only ever
  // contended by other processes. Taken before Acquire(), never after, so that a thread
  // holding a connection never waits for it. Empty (unlocked) for reads and PostgreSQL.
  std::unique_lock<std::mutex> WriteLock(bool is_write);
  Result<Lease> Acquire() { return pool_.Acquire(); }
  // The audit log's database: its own file's pool, or the main one. Writes to its own
  // file queue on audit_write_mu_ (as WriteLock), never on the task tables' writers.
  bool HasAuditFile() const { return audit_pool_ != nullptr; }
  Result<Lease> AcquireAudit() { return HasAuditFile() ? audit_pool_->Acquire() : Acquire(); }
  std::unique_lock<std::mutex> AuditWriteLock();
  // Creates the audit file's table, or refuses a file whose schema is newer.
  Result<void> PrepareAuditFile();
  // Migration 4 on a SQLite database with an audit file: the rows an earlier airlock wrote
  // to the main file's audit_log move to the audit file, and that table goes. Runs in the
  // migration's transaction on `main`; the rows keep their ids, so a move interrupted
  // after the audit file committed is simply done again.
  Result<void> MoveAuditRowsToAuditFile(SqlConnection& main);

  // Checks the text parameters (store.h: "Text"), then runs the statement.
  static Result<SqlResult> Run(SqlConnection& connection, std::string_view sql,
                               std::span<const SqlParam> params);
  static Result<SqlResult> Run(SqlConnection& connection, std::string_view sql,
                               std::initializer_list<SqlParam> params) {
    return Run(connection, sql, std::span<const SqlParam>(params.begin(), params.size()));
  }
  // The same on a connection of its own.
  Result<SqlResult> Run(std::string_view sql, std::initializer_list<SqlParam> params);
  Result<SqlResult> Run(std::string_view sql, std::span<const SqlParam> params);

  // Runs `body` between BEGIN (IMMEDIATE on SQLite, so that writers queue on the busy
  // timeout instead of failing on upgrade) and COMMIT; rolls back if it fails.
  Result<void> InTransaction(Lease& lease, const std::function<Result<void>()>& body);

  Result<int> SchemaVersionOn(SqlConnection& connection);
  // Inside a transaction on `connection`: waits until no other StartDagRun or
  // QueueTaskInstances on the database is between its count and its commit (PostgreSQL: a
  // transaction-level advisory lock; SQLite's BEGIN IMMEDIATE has done it already).
  Result<void> LockSchedulerLimits(SqlConnection& connection) const;
  // One round of the checkpointer (StartCheckpoints). A busy or failed checkpoint is tried
  // again at the next round; a database that cannot be written fails the writers
  // themselves, who report it.
  void Checkpoint();
  // One heartbeat on `connection`, answered as Heartbeat() answers it.
  Result<HeartbeatRefusal> HeartbeatOn(SqlConnection& connection,
                                       const HeartbeatRequest& request) const;
  // The single-row heartbeat UPDATE of this dialect (sql_store.cc: kHeartbeatSql); on
  // PostgreSQL its transaction commits asynchronously.
  std::string_view HeartbeatSql() const;
  static Result<HeartbeatRefusal> HeartbeatRefusalOf(SqlConnection& connection,
                                                     std::string_view id);
  // PostgreSQL: records the heartbeats of `batch` (indexes into `requests`, in id order)
  // with one statement; for each, whether it was recorded. One that was not may still be
  // recordable (sql_store.cc: kHeartbeatBatchSql).
  static Result<std::vector<bool>> RecordHeartbeatsAtOnce(
      SqlConnection& connection, std::span<const HeartbeatRequest> requests,
      std::span<const size_t> batch);
  // After a conditional update changed nothing: NotFound, or FailedPrecondition naming the
  // state the task instance is in and the ones that were required.
  std::unexpected<Error> LostTaskInstanceRace(std::string_view id, std::string_view required);
  // FireTrigger and FailTrigger: in one transaction, runs `update_sql` ($1 = the trigger's
  // task instance id, then `extra_params`; it must RETURN the task instance columns and
  // match only a deferred row) and deletes the trigger.
  Result<TaskInstance> EndDeferral(int64_t trigger_id, std::string_view update_sql,
                                   std::span<const SqlParam> extra_params);

  const SqlDialect dialect_;
  const ColumnCipher cipher_;

  std::mutex sqlite_write_mu_;
  Pool pool_;
  std::mutex audit_write_mu_;
  std::unique_ptr<Pool> audit_pool_;  // set only with an audit file (Open)

  std::jthread checkpointer_;  // last: stopped and joined before the pool goes
};

}  // namespace airlock::store

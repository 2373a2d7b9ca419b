#pragma once
// MemoryStore: the in-memory fake ("memory://") that tests and the contract suite use. It
// keeps the same contract as the SQL stores, errors included (the contract suite checks
// that), but nothing outlives the object. One mutex guards everything, so every method is
// atomic and thread-safe. Connection passwords go through the same ColumnCipher as in the
// SQL stores, so a missing fernet_key fails the same way.

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "store/column_cipher.h"
#include "store/store.h"

namespace airlock::store {

// Not final: tests derive stores from it that fail on purpose (a method that throws).
class MemoryStore : public Store {
 public:
  explicit MemoryStore(ColumnCipher cipher) : cipher_(std::move(cipher)) {}

  // For tests of the newer-database refusal: pretends the schema is at `version`.
  void SetSchemaVersionForTest(int version);

  Result<int> Migrate() override;
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
  using RunKey = std::pair<std::string, std::string>;  // (dag_id, run_id)
  using XComTuple = std::tuple<std::string, std::string, std::string, int, std::string>;

  // Both need mu_ held.
  std::unexpected<Error> LostRace(const TaskInstance& ti, std::string_view required) const;
  TaskInstance* FindTaskInstance(std::string_view id);
  // The deferred task instance of a trigger, for FireTrigger and FailTrigger.
  Result<TaskInstance*> DeferredTaskOf(int64_t trigger_id);

  const ColumnCipher cipher_;
  std::mutex mu_;
  int schema_version_ = 0;                                      // Guarded by mu_.
  std::map<std::string, Dag, std::less<>> dags_;                // Guarded by mu_.
  std::map<RunKey, DagRun> runs_;                               // Guarded by mu_.
  std::map<std::string, TaskInstance, std::less<>> tis_;        // Guarded by mu_.
  std::map<std::string, Variable, std::less<>> variables_;      // Guarded by mu_.
  std::map<std::string, Connection, std::less<>> connections_;  // Guarded by mu_; encrypted.
  std::map<XComTuple, std::string> xcoms_;                      // Guarded by mu_.
  std::map<std::string, int64_t, std::less<>> revoked_;         // Guarded by mu_.
  std::map<std::string, LoginFailureWindow, std::less<>> login_failures_;  // Guarded by mu_.
  std::vector<AuditEntry> audit_;                   // Guarded by mu_; oldest first.
  std::map<std::string, User, std::less<>> users_;  // Guarded by mu_.
  std::vector<ImportError> import_errors_;          // Guarded by mu_; by id.
  int64_t next_import_error_id_ = 1;                // Guarded by mu_.
  std::map<int64_t, Trigger> triggers_;             // Guarded by mu_.
  int64_t next_trigger_id_ = 1;                     // Guarded by mu_.
};

}  // namespace airlock::store

#pragma once
// Store is the metadata database as the control plane sees it: Dags, Dag runs, task
// instances, variables, connections, XComs, revoked tokens, the audit log and users.
// Implementations: SQLite (WAL; the embedded default), PostgreSQL (libpq), and an
// in-memory fake for tests ("memory://"); one contract suite (store_contract_test.cc)
// runs against all three, so they behave the same down to the error codes.
// It is not an ORM and not a query language: each method is one use the control plane has.
//
// Concurrency contract: every state change is one conditional update (UPDATE ... WHERE
// state IN (...)), so two writers — two threads, two api-servers, or two schedulers on one
// PostgreSQL — never both win. The winner gets the row as it wrote it; every loser gets
// FailedPrecondition, whose message names the state it found. NotFound means there is no
// such row at all.
// Limits that span rows ([core] parallelism, a Dag's max_active_runs) are checked and
// applied in one transaction that is serialised with every other such check on the
// database (StartDagRun, QueueTaskInstances): PostgreSQL takes a transaction-level
// advisory lock, SQLite's BEGIN IMMEDIATE admits one writer at a time, the memory fake
// holds its mutex. So several schedulers together never exceed a limit.
// Thread-safety: every method may be called from any number of threads at once (the SQL
// stores keep a small pool of connections; see StoreOptions::max_connections).
// Security defaults: values only ever reach the database as bound parameters; connection
// passwords and extras are encrypted at rest with AES-256-GCM under a key derived from
// StoreOptions::fernet_key (storing a non-empty one without a key is refused); error
// messages never contain a password, a stored value or the database password.
// Text: every string is UTF-8 without NUL bytes (PostgreSQL cannot store others); writes
// of anything else fail with InvalidArgument on every backend.
// Only components that hold database credentials (api-server, scheduler) ever link this;
// workers, the dag-processor and the triggerer reach it through the api-server.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::store {

// The newest schema version this binary knows (the number of its migrations).
inline constexpr int kSchemaVersion = 6;

// Airflow's task-instance states (the subset airlock uses).
enum class TaskState {
  kScheduled,
  kQueued,
  kRunning,
  kSuccess,
  kFailed,
  kUpForRetry,
  kUpstreamFailed,
  kSkipped,
  kDeferred,
  kRemoved,
};
std::string_view TaskStateName(TaskState state);  // "scheduled", "up_for_retry", ...
std::optional<TaskState> ParseTaskState(std::string_view name);
// success, failed, upstream_failed, skipped, removed.
bool IsTerminal(TaskState state);

enum class DagRunState { kQueued, kRunning, kSuccess, kFailed };
std::string_view DagRunStateName(DagRunState state);  // "queued", "running", ...
std::optional<DagRunState> ParseDagRunState(std::string_view name);

// Times are Unix seconds unless a comment says otherwise.

struct Dag {
  std::string dag_id;
  std::string bundle_name;
  std::string relative_fileloc;  // the Dag file, relative to its bundle's root
  bool is_paused = false;
  std::string serialized_json = "{}";  // the Dag as the dag-processor submitted it
  int64_t updated_at = 0;
};

struct DagRun {
  std::string dag_id;
  std::string run_id;
  DagRunState state = DagRunState::kQueued;
  int64_t logical_date = 0;
  std::string conf_json = "{}";
  std::optional<int64_t> start_date;  // set on entering running
  std::optional<int64_t> end_date;    // set on entering success or failed
};

struct TaskInstance {
  std::string id;  // UUID, canonical lowercase 8-4-4-4-12 form
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  int try_number = 1;
  int map_index = -1;
  TaskState state = TaskState::kScheduled;
  std::string hostname;
  int pid = 0;
  std::optional<int64_t> queued_at;
  std::optional<int64_t> start_date;
  std::optional<int64_t> end_date;
  std::optional<int64_t> last_heartbeat_at;
  // The payload of the trigger event that resumed this try (a JSON object's text), or ""
  // when it was not resumed by a trigger. Set by FireTrigger; cleared on defer and retry.
  std::string trigger_event_json;
};

// What a deferred task instance waits on (Airflow's Trigger): one per deferred task
// instance, deleted when it fires, fails or times out. A triggerer works on it while it
// holds the lease (triggerer_id, until lease_expires_at); an expired lease is up for grabs.
struct Trigger {
  int64_t id = 0;  // assigned by the store
  std::string ti_id;
  std::string kind;       // triggers/trigger_kinds.h
  std::string args_json;  // normalized arguments
  int64_t created_at = 0;
  std::optional<int64_t> timeout_at;  // the task fails if nothing fired by then
  std::string triggerer_id;           // "" while no triggerer holds it
  std::optional<int64_t> lease_expires_at;
};

struct Variable {
  std::string key;
  std::string value;
  std::string description;
};

struct Connection {
  std::string conn_id;
  std::string conn_type;
  std::string host;
  std::string schema;
  std::string login;
  std::string password;  // encrypted at rest; returned decrypted
  int port = 0;
  std::string extra;  // JSON text; encrypted at rest as in Airflow (it often holds tokens)
};

struct XComKey {
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  int map_index = -1;
  std::string key;
};

// A window of failed logins for one name ("user:<name>", "address:<ip>"): the failures
// counted since it started.
struct LoginFailureWindow {
  std::string name;
  int64_t window_start = 0;  // Unix seconds
  int failures = 0;
};

struct AuditEntry {
  int64_t time = 0;  // Unix microseconds
  std::string component;
  std::string jti;
  std::string sub;
  std::string method;
  std::string path;
  int status = 0;
};

// A Dag file that did not load, as the dag-processor last reported it (Airflow's
// ParseImportError): one per (bundle, file).
struct ImportError {
  int64_t id = 0;  // assigned by the store; stable while the file keeps failing
  std::string bundle_name;
  std::string filename;     // relative to the bundle's root
  std::string stack_trace;  // what went wrong: the parser's message, or the file's stderr
  int64_t timestamp = 0;    // when this stack_trace was first reported
};

struct User {
  std::string username;
  std::string password_hash;  // argon2id, encoded; the store never sees a plain password
  std::string role;           // VIEWER, USER, OP or ADMIN (checked by the auth manager)
  int64_t created_at = 0;
  // Tokens issued (iat) before this second are not this user's: it is set to created_at
  // when the user is created (a token of an earlier user of the same name is refused) and
  // to the time of each password change (tokens issued before it are refused). Set by
  // the store; CreateUser ignores the value given.
  int64_t tokens_valid_after = 0;
};

// Why a heartbeat was refused (SPEC §4: 409 {"detail":{"reason":…}}).
enum class HeartbeatRefusal { kNone, kRunningElsewhere, kNotRunning };

class Store {
 public:
  virtual ~Store() = default;

  // Schema. Migrate() applies the pending migrations in one transaction (all or none) and
  // returns the version it leaves the database at; concurrent callers (two api-servers
  // started with --migrate) are serialized. FailedPrecondition, naming both versions, if
  // the database was written by a newer airlock; nothing is changed then. Until a database
  // is migrated the SQL stores' other methods fail (Internal); the memory fake does not
  // check.
  virtual Result<int> Migrate() = 0;
  // The database's schema version: 0 for an empty database.
  virtual Result<int> SchemaVersion() = 0;

  // Dags: SetDag inserts or replaces the whole row. Deleting a Dag leaves its runs alone.
  virtual Result<void> SetDag(const Dag& dag) = 0;
  virtual Result<Dag> GetDag(std::string_view dag_id) = 0;      // NotFound
  virtual Result<std::vector<Dag>> ListDags() = 0;              // by dag_id
  virtual Result<void> DeleteDag(std::string_view dag_id) = 0;  // NotFound

  // Dag runs.
  virtual Result<void> CreateDagRun(const DagRun& run) = 0;  // AlreadyExists on duplicate
  virtual Result<DagRun> GetDagRun(std::string_view dag_id, std::string_view run_id) = 0;
  virtual Result<std::vector<DagRun>> ListDagRuns(std::string_view dag_id) = 0;  // by run_id
  // The runs in any of `states`, across all Dags, by (dag_id, run_id): what the scheduler
  // works on. A plain read: several schedulers may see the same runs, and the conditional
  // transitions decide which of them acts.
  virtual Result<std::vector<DagRun>> ListDagRunsInStates(
      const std::vector<DagRunState>& states) = 0;
  // A run in one of `from` → `to` (entering running sets start_date = now, entering
  // success or failed sets end_date = now). The row after the update; FailedPrecondition
  // if it was in another state, NotFound if there is no such run.
  virtual Result<DagRun> TransitionDagRun(std::string_view dag_id, std::string_view run_id,
                                          const std::vector<DagRunState>& from, DagRunState to,
                                          int64_t now) = 0;
  // queued → running (start_date = now) while fewer than `max_active_runs` runs of its
  // Dag are running, counted and changed in one transaction serialised with every other
  // StartDagRun and QueueTaskInstances on the database (see "Concurrency contract"): two
  // schedulers starting runs of one Dag at once never together exceed the limit. The row
  // after the update; ResourceExhausted (nothing changed) when the Dag already has
  // `max_active_runs` running; FailedPrecondition if the run is not queued; NotFound.
  virtual Result<DagRun> StartDagRun(std::string_view dag_id, std::string_view run_id,
                                     int max_active_runs, int64_t now) = 0;
  // Deletes the run with its task instances and XComs. NotFound.
  virtual Result<void> DeleteDagRun(std::string_view dag_id, std::string_view run_id) = 0;

  // Task instances. Creates them all in one transaction, or none: InvalidArgument for an
  // id that is not a canonical UUID, FailedPrecondition if their Dag run does not exist,
  // AlreadyExists for a duplicate id or (dag_id, run_id, task_id, map_index).
  virtual Result<void> CreateTaskInstances(const std::vector<TaskInstance>& tis) = 0;
  Result<void> CreateTaskInstance(const TaskInstance& ti) { return CreateTaskInstances({ti}); }
  virtual Result<TaskInstance> GetTaskInstance(std::string_view id) = 0;  // NotFound
  // The run's task instances, by (task_id, map_index).
  virtual Result<std::vector<TaskInstance>> ListTaskInstances(std::string_view dag_id,
                                                              std::string_view run_id) = 0;

  // Conditional transitions: each is one atomic compare-and-set and returns the row as
  // written. FailedPrecondition (the message names the current state) when the row is not
  // in the required state — another writer won; NotFound when there is no such row.
  //
  // queued → running, recording hostname, pid, start_date and last_heartbeat_at =
  // start_date.
  virtual Result<TaskInstance> StartTaskInstance(std::string_view id, std::string_view hostname,
                                                 int pid, int64_t start_date) = 0;
  // running on (hostname, pid) → last_heartbeat_at = now. kNone when recorded;
  // kNotRunning when the instance is in any other state; kRunningElsewhere when it runs
  // under another hostname or pid (nothing is written then). NotFound.
  virtual Result<HeartbeatRefusal> Heartbeat(std::string_view id, std::string_view hostname,
                                             int pid, int64_t now) = 0;
  // Many heartbeats at once, each answered as Heartbeat() would answer it alone (a group
  // commit: the SQL stores record them all with one statement). The results are in the
  // order of `requests`. The default runs Heartbeat() for each.
  struct HeartbeatRequest {
    std::string_view id;
    std::string_view hostname;
    int pid = 0;
    int64_t now = 0;
  };
  virtual std::vector<Result<HeartbeatRefusal>> Heartbeats(
      std::span<const HeartbeatRequest> requests);
  // running → `state`, which must be terminal, up_for_retry or deferred (else
  // InvalidArgument); end_date = end_date unless deferred.
  virtual Result<TaskInstance> FinishTaskInstance(std::string_view id, TaskState state,
                                                  int64_t end_date) = 0;
  // One of `from` → `to`, for the scheduler: entering queued sets queued_at = now,
  // entering a terminal state or up_for_retry sets end_date = now. `to` may not be
  // running (use StartTaskInstance): InvalidArgument.
  virtual Result<TaskInstance> TransitionTaskInstance(std::string_view id,
                                                      const std::vector<TaskState>& from,
                                                      TaskState to, int64_t now) = 0;
  Result<TaskInstance> TransitionTaskInstance(std::string_view id, TaskState from, TaskState to,
                                              int64_t now) {
    return TransitionTaskInstance(id, std::vector<TaskState>{from}, to, now);
  }
  // The scheduler's queueing step ([core] parallelism): moves those of `ids` that are
  // scheduled to queued (queued_at = now), in the order given, while fewer than
  // `parallelism` task instances — of any Dag run — are queued or running, counting the
  // ones it queues. The count and the updates are one transaction, serialised with every
  // other QueueTaskInstances and StartDagRun on the database (see "Concurrency
  // contract"), so schedulers queueing at once never together exceed `parallelism`. On
  // PostgreSQL a candidate whose row another transaction holds locked is skipped (FOR
  // UPDATE SKIP LOCKED), not waited for. Returns the task instances it queued, in the
  // order of `ids`, as written; an id that is not scheduled (another scheduler queued it,
  // or it is gone) is skipped, not an error. InvalidArgument for parallelism < 0.
  virtual Result<std::vector<TaskInstance>> QueueTaskInstances(std::span<const std::string> ids,
                                                               int parallelism, int64_t now) = 0;
  // up_for_retry → scheduled, for the next try: try_number + 1; hostname "" and pid 0;
  // queued_at, start_date, end_date and last_heartbeat_at cleared; its trigger, if any,
  // deleted. The next try is a task instance of its own, named `next_id` from then on (as
  // in Airflow 3): what names the failed try, such as its tokens' `sub`, never names the
  // next one. The row as written; FailedPrecondition if it is not up_for_retry; NotFound
  // if no task instance has `id`, which is what a scheduler that lost the race to retry
  // it sees (the winner renamed it); AlreadyExists if `next_id` is taken.
  virtual Result<TaskInstance> RetryTaskInstance(std::string_view id, std::string_view next_id) = 0;

  // Deferral. DeferTaskInstance moves a running task instance to deferred and stores its
  // trigger (`trigger.ti_id` = id; id, triggerer_id and lease ignored), clearing any
  // earlier trigger_event_json, in one transaction. The trigger as stored;
  // FailedPrecondition if the task instance was not running, NotFound if it is gone.
  virtual Result<Trigger> DeferTaskInstance(std::string_view id, const Trigger& trigger) = 0;
  virtual Result<Trigger> GetTrigger(int64_t trigger_id) = 0;  // NotFound
  virtual Result<std::vector<Trigger>> ListTriggers() = 0;     // by id
  // The triggers whose timeout_at is at or before `now`, by id: what the scheduler fails
  // each pass, without reading every trigger's arguments.
  virtual Result<std::vector<Trigger>> ListTimedOutTriggers(int64_t now) = 0;
  // Leases at most `capacity` triggers that no triggerer holds, or whose lease ended
  // before `now`, to `triggerer_id` until `lease_expires_at`, oldest first, with one
  // statement: two triggerers claiming at once never both get a trigger, and neither comes
  // back empty-handed while unclaimed triggers remain — on PostgreSQL each skips the rows
  // the other is claiming (FOR UPDATE SKIP LOCKED) and takes the next ones; SQLite runs
  // the claims one after the other.
  virtual Result<std::vector<Trigger>> ClaimTriggers(std::string_view triggerer_id, int capacity,
                                                     int64_t lease_expires_at, int64_t now) = 0;
  // Extends the lease of those of `trigger_ids` that `triggerer_id` still holds; returns
  // them (by id). The others were fired, failed or taken over: their triggerer stops them.
  virtual Result<std::vector<Trigger>> RenewTriggerLeases(std::string_view triggerer_id,
                                                          std::span<const int64_t> trigger_ids,
                                                          int64_t lease_expires_at) = 0;
  // The trigger fired: its task instance goes deferred → scheduled (hostname, pid and
  // dates cleared, try_number kept) with trigger_event_json = payload, and the trigger is
  // deleted, in one transaction. The task instance as written; NotFound when the trigger
  // is gone; FailedPrecondition when its task instance is no longer deferred.
  virtual Result<TaskInstance> FireTrigger(int64_t trigger_id, std::string_view payload_json) = 0;
  // The trigger failed (crashed, or timed out): deferred → failed with end_date = now,
  // and the trigger is deleted. Errors as FireTrigger.
  virtual Result<TaskInstance> FailTrigger(int64_t trigger_id, int64_t now) = 0;

  // Variables: SetVariable inserts or replaces.
  virtual Result<Variable> GetVariable(std::string_view key) = 0;  // NotFound
  virtual Result<void> SetVariable(const Variable& variable) = 0;
  virtual Result<void> DeleteVariable(std::string_view key) = 0;  // NotFound
  virtual Result<std::vector<Variable>> ListVariables() = 0;      // by key

  // Connections: SetConnection inserts or replaces. FailedPrecondition when storing a
  // non-empty password or extra without a fernet_key, and when reading one that was
  // encrypted under a key this store was not given (or that was tampered with).
  virtual Result<Connection> GetConnection(std::string_view conn_id) = 0;  // NotFound
  virtual Result<void> SetConnection(const Connection& connection) = 0;
  virtual Result<void> DeleteConnection(std::string_view conn_id) = 0;  // NotFound
  // Every connection, by conn_id, decrypted as GetConnection returns it (same errors).
  virtual Result<std::vector<Connection>> ListConnections() = 0;

  // XComs: the value is JSON text, stored as given. SetXCom inserts or replaces.
  virtual Result<std::string> GetXCom(const XComKey& key) = 0;  // NotFound
  virtual Result<void> SetXCom(const XComKey& key, std::string_view value_json) = 0;
  virtual Result<void> DeleteXCom(const XComKey& key) = 0;  // NotFound

  // Revoked tokens: a jti stays revoked until PurgeRevokedTokens is given a cutoff past
  // its exp (api::RevokedTokenPurger keeps it while a validator could still accept the
  // token). Revoking a jti twice keeps the later exp.
  virtual Result<void> RevokeToken(std::string_view jti, int64_t exp) = 0;
  virtual Result<bool> IsTokenRevoked(std::string_view jti) = 0;
  // Removes the rows whose exp < cutoff; returns how many.
  virtual Result<int> PurgeRevokedTokens(int64_t cutoff) = 0;

  // Failed logins, counted in the database so that every api-server sharing it applies
  // the same limits (SPEC §9: nothing in a request depends on the api-server it lands on).
  // Each of `names` gets one more failure in its window, or a new window of one failure
  // starting at `now` when it has none or its window started `window_seconds` or more ago.
  // Each name's count is one atomic statement: concurrent failures are all counted.
  virtual Result<void> RecordLoginFailures(std::span<const std::string> names, int64_t now,
                                           int64_t window_seconds) = 0;
  // The windows of `names` that started less than `window_seconds` before `now`.
  virtual Result<std::vector<LoginFailureWindow>> LoginFailureWindows(
      std::span<const std::string> names, int64_t now, int64_t window_seconds) = 0;
  // Forgets the window of `name` (a successful login clears its user's count).
  virtual Result<void> ClearLoginFailures(std::string_view name) = 0;
  // Removes the windows that started at or before `cutoff`; returns how many.
  virtual Result<int> PurgeLoginFailures(int64_t cutoff) = 0;

  // Audit log: appends entries in one transaction (callers batch them; see AuditWriter).
  virtual Result<void> AppendAudit(std::span<const AuditEntry> entries) = 0;
  // Newest first (in append order, not by `time`): skips `offset`, returns at most `limit`.
  virtual Result<std::vector<AuditEntry>> ListAudit(int limit, int offset) = 0;
  // How many entries the audit log holds (the total of a paginated listing).
  virtual Result<int64_t> CountAudit() = 0;

  // Import errors. ReplaceImportErrors makes `errors` (each with `bundle_name`'s files; id
  // and timestamp ignored) the bundle's whole set, in one transaction: a file already listed
  // with the same stack_trace keeps its row untouched; one whose stack_trace changed keeps
  // its id and gets the new text and `now`; a new file gets a new id and `now`; the bundle's
  // other files lose theirs. InvalidArgument for a file listed twice or an entry of another
  // bundle.
  virtual Result<void> ReplaceImportErrors(std::string_view bundle_name,
                                           const std::vector<ImportError>& errors, int64_t now) = 0;
  virtual Result<std::vector<ImportError>> ListImportErrors() = 0;  // by id

  // Users (the simple auth manager).
  virtual Result<void> CreateUser(const User& user) = 0;        // AlreadyExists
  virtual Result<User> GetUser(std::string_view username) = 0;  // NotFound
  virtual Result<std::vector<User>> ListUsers() = 0;            // by username
  // Also sets tokens_valid_after to `now`. NotFound.
  virtual Result<void> SetUserPassword(std::string_view username, std::string_view password_hash,
                                       int64_t now) = 0;
  virtual Result<void> DeleteUser(std::string_view username) = 0;  // NotFound
};

struct StoreOptions {
  // [core] fernet_key: one secret, or several separated by commas for rotation (the first
  // encrypts, all decrypt). Each must be at least 32 characters; an Airflow Fernet key
  // (44 characters of base64) works as it is. Empty: connections cannot hold passwords.
  std::string fernet_key;
  // SQLite: how long a writer waits for another one before failing with Unavailable.
  std::chrono::milliseconds busy_timeout{5000};
  // SQL stores: at most this many database connections, opened as needed.
  int max_connections = 8;
  // SQLite file databases: a thread of the store checkpoints the WAL this often, and
  // commits never do. Otherwise the commit that grows the WAL past 1000 pages copies them
  // into the database and syncs it before it returns, with every other writer of the
  // process waiting behind it (under the heartbeat benchmark that made the p99). 0: SQLite's
  // automatic checkpoints.
  std::chrono::milliseconds checkpoint_interval{200};
  // SQLite file databases: create the file if it is missing. False: a missing file is
  // FailedPrecondition, and nothing is created (for commands that only use a database
  // `airlock db migrate` made).
  bool create_if_missing = true;
};

// A SQLite file database keeps its audit log in a file of its own beside it: the path
// with this appended (airlock.db-audit, with its own -wal and -shm). Copy both together.
inline constexpr std::string_view kAuditFileSuffix = "-audit";

// Opens the store that `[database] sql_alchemy_conn` names, without touching its schema
// (see Migrate and RequireCurrentSchema):
//   "sqlite:///absolute/path" (SQLAlchemy's "sqlite:////absolute/path" too), and its
//   audit file (kAuditFileSuffix, created and made ready here), or
//   "sqlite:///:memory:" (one private database, for tests); the file is created 0600;
//   "postgresql://user[:password]@host[:port]/db[?param=value…]" ("postgres://" and
//   "postgresql+psycopg2://" too), handed to libpq as a connection URI;
//   "memory://", a fresh in-memory fake.
// InvalidArgument for other forms, Unavailable when the database cannot be reached,
// FailedPrecondition for a missing SQLite file that may not be created
// (StoreOptions::create_if_missing). The message never contains the password.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOptions& options = {});

// OK when the database is at kSchemaVersion; otherwise FailedPrecondition naming both
// versions and what to do (run `airlock db migrate`, or upgrade airlock). Servers call
// this at start when they do not migrate.
Result<void> RequireCurrentSchema(Store& store);

// `url` with its password replaced by "***", for messages and logs.
std::string RedactDatabaseUrl(std::string_view url);

}  // namespace airlock::store

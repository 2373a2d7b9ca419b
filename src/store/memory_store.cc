#include "store/memory_store.h"

#include <algorithm>

#include "store/checks.h"

namespace airlock::store {
namespace {

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string RunName(std::string_view dag_id, std::string_view run_id) {
  return "dag run " + Quoted(dag_id) + "/" + Quoted(run_id);
}

std::string XComName(const XComKey& k) {
  return "xcom " + Quoted(k.key) + " of " + Quoted(k.dag_id) + "/" + Quoted(k.run_id) + "/" +
         Quoted(k.task_id) + "[" + std::to_string(k.map_index) + "]";
}

std::string ConnectionAad(std::string_view conn_id, std::string_view column) {
  return "connection/" + std::string(conn_id) + "/" + std::string(column);
}

template <typename State>
bool Contains(const std::vector<State>& states, State state) {
  return std::find(states.begin(), states.end(), state) != states.end();
}

}  // namespace

void MemoryStore::SetSchemaVersionForTest(int version) {
  std::lock_guard lock(mu_);
  schema_version_ = version;
}

Result<int> MemoryStore::Migrate() {
  std::lock_guard lock(mu_);
  if (schema_version_ > kSchemaVersion) return NewerSchemaError(schema_version_);
  schema_version_ = kSchemaVersion;
  return schema_version_;
}

Result<int> MemoryStore::SchemaVersion() {
  std::lock_guard lock(mu_);
  return schema_version_;
}

// --- Dags -----------------------------------------------------------------------------

Result<void> MemoryStore::SetDag(const Dag& dag) {
  if (auto ok =
          CheckTexts({dag.dag_id, dag.bundle_name, dag.relative_fileloc, dag.serialized_json});
      !ok) {
    return ok;
  }
  std::lock_guard lock(mu_);
  dags_[dag.dag_id] = dag;
  return {};
}

Result<Dag> MemoryStore::GetDag(std::string_view dag_id) {
  std::lock_guard lock(mu_);
  auto it = dags_.find(dag_id);
  if (it == dags_.end()) return NotFound("dag " + Quoted(dag_id) + " does not exist");
  return it->second;
}

Result<std::vector<Dag>> MemoryStore::ListDags() {
  std::lock_guard lock(mu_);
  std::vector<Dag> dags;
  for (const auto& [id, dag] : dags_) dags.push_back(dag);
  return dags;
}

Result<void> MemoryStore::DeleteDag(std::string_view dag_id) {
  std::lock_guard lock(mu_);
  auto it = dags_.find(dag_id);
  if (it == dags_.end()) return NotFound("dag " + Quoted(dag_id) + " does not exist");
  dags_.erase(it);
  return {};
}

// --- Dag runs -------------------------------------------------------------------------

Result<void> MemoryStore::CreateDagRun(const DagRun& run) {
  if (auto ok = CheckTexts({run.dag_id, run.run_id, run.conf_json}); !ok) return ok;
  std::lock_guard lock(mu_);
  if (!runs_.emplace(RunKey{run.dag_id, run.run_id}, run).second) {
    return AlreadyExists(RunName(run.dag_id, run.run_id) + " already exists");
  }
  return {};
}

Result<DagRun> MemoryStore::GetDagRun(std::string_view dag_id, std::string_view run_id) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(RunKey{dag_id, run_id});
  if (it == runs_.end()) return NotFound(RunName(dag_id, run_id) + " does not exist");
  return it->second;
}

Result<std::vector<DagRun>> MemoryStore::ListDagRuns(std::string_view dag_id) {
  std::lock_guard lock(mu_);
  std::vector<DagRun> runs;
  for (const auto& [key, run] : runs_) {
    if (key.first == dag_id) runs.push_back(run);
  }
  return runs;  // the map orders by (dag_id, run_id)
}

Result<std::vector<DagRun>> MemoryStore::ListDagRunsInStates(
    const std::vector<DagRunState>& states) {
  std::lock_guard lock(mu_);
  std::vector<DagRun> runs;
  for (const auto& [key, run] : runs_) {
    if (Contains(states, run.state)) runs.push_back(run);
  }
  return runs;  // the map orders by (dag_id, run_id)
}

Result<DagRun> MemoryStore::TransitionDagRun(std::string_view dag_id, std::string_view run_id,
                                             const std::vector<DagRunState>& from, DagRunState to,
                                             int64_t now) {
  if (from.empty()) return InvalidArgument("TransitionDagRun needs at least one 'from' state");
  std::lock_guard lock(mu_);
  auto it = runs_.find(RunKey{dag_id, run_id});
  if (it == runs_.end()) return NotFound(RunName(dag_id, run_id) + " does not exist");
  DagRun& run = it->second;
  if (!Contains(from, run.state)) {
    std::string required;
    for (DagRunState state : from) {
      if (!required.empty()) required += ", ";
      required += DagRunStateName(state);
    }
    return FailedPrecondition(RunName(dag_id, run_id) + " is " +
                              std::string(DagRunStateName(run.state)) + ", not " + required);
  }
  run.state = to;
  if (to == DagRunState::kRunning) run.start_date = now;
  if (to == DagRunState::kSuccess || to == DagRunState::kFailed) run.end_date = now;
  return run;
}

Result<DagRun> MemoryStore::StartDagRun(std::string_view dag_id, std::string_view run_id,
                                        int max_active_runs, int64_t now) {
  std::lock_guard lock(mu_);
  auto it = runs_.find(RunKey{dag_id, run_id});
  if (it == runs_.end()) return NotFound(RunName(dag_id, run_id) + " does not exist");
  DagRun& run = it->second;
  if (run.state != DagRunState::kQueued) {
    return FailedPrecondition(RunName(dag_id, run_id) + " is " +
                              std::string(DagRunStateName(run.state)) + ", not queued");
  }
  int running = 0;
  for (const auto& [key, other] : runs_) {
    if (key.first == dag_id && other.state == DagRunState::kRunning) ++running;
  }
  if (running >= max_active_runs) return TooManyRunning(dag_id, running);
  run.state = DagRunState::kRunning;
  run.start_date = now;
  return run;
}

Result<void> MemoryStore::DeleteDagRun(std::string_view dag_id, std::string_view run_id) {
  std::lock_guard lock(mu_);
  if (runs_.erase(RunKey{dag_id, run_id}) == 0) {
    return NotFound(RunName(dag_id, run_id) + " does not exist");
  }
  std::erase_if(triggers_, [&](const auto& entry) {
    auto ti = tis_.find(entry.second.ti_id);
    return ti != tis_.end() && ti->second.dag_id == dag_id && ti->second.run_id == run_id;
  });
  std::erase_if(tis_, [&](const auto& entry) {
    return entry.second.dag_id == dag_id && entry.second.run_id == run_id;
  });
  std::erase_if(xcoms_, [&](const auto& entry) {
    return std::get<0>(entry.first) == dag_id && std::get<1>(entry.first) == run_id;
  });
  return {};
}

// --- Task instances -------------------------------------------------------------------

Result<void> MemoryStore::CreateTaskInstances(const std::vector<TaskInstance>& tis) {
  for (const TaskInstance& ti : tis) {
    if (!IsCanonicalUuid(ti.id)) {
      return InvalidArgument("task instance id " + Quoted(ti.id) +
                             " is not a canonical lowercase UUID");
    }
    if (auto ok = CheckTexts({ti.dag_id, ti.run_id, ti.task_id, ti.hostname}); !ok) return ok;
  }
  std::lock_guard lock(mu_);
  // Check everything first: all or nothing, as in one SQL transaction.
  std::map<std::string, bool, std::less<>> new_ids;
  std::map<std::tuple<std::string, std::string, std::string, int>, bool> new_keys;
  for (const TaskInstance& ti : tis) {
    if (!runs_.contains(RunKey{ti.dag_id, ti.run_id})) {
      return FailedPrecondition(RunName(ti.dag_id, ti.run_id) + " does not exist");
    }
    bool duplicate =
        tis_.contains(ti.id) || !new_ids.emplace(ti.id, true).second ||
        !new_keys.emplace(std::tuple(ti.dag_id, ti.run_id, ti.task_id, ti.map_index), true).second;
    for (const auto& [id, existing] : tis_) {
      if (duplicate) break;
      duplicate = existing.dag_id == ti.dag_id && existing.run_id == ti.run_id &&
                  existing.task_id == ti.task_id && existing.map_index == ti.map_index;
    }
    if (duplicate) {
      return AlreadyExists("task instance " + ti.id + " or (" + Quoted(ti.dag_id) + ", " +
                           Quoted(ti.run_id) + ", " + Quoted(ti.task_id) + ", " +
                           std::to_string(ti.map_index) + ") already exists");
    }
  }
  for (const TaskInstance& ti : tis) tis_.emplace(ti.id, ti);
  return {};
}

TaskInstance* MemoryStore::FindTaskInstance(std::string_view id) {
  auto it = tis_.find(id);
  return it == tis_.end() ? nullptr : &it->second;
}

std::unexpected<Error> MemoryStore::LostRace(const TaskInstance& ti,
                                             std::string_view required) const {
  return FailedPrecondition("task instance " + ti.id + " is " +
                            std::string(TaskStateName(ti.state)) + ", not " +
                            std::string(required));
}

Result<TaskInstance> MemoryStore::GetTaskInstance(std::string_view id) {
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  return *ti;
}

Result<std::vector<TaskInstance>> MemoryStore::ListTaskInstances(std::string_view dag_id,
                                                                 std::string_view run_id) {
  std::lock_guard lock(mu_);
  std::vector<TaskInstance> tis;
  for (const auto& [id, ti] : tis_) {
    if (ti.dag_id == dag_id && ti.run_id == run_id) tis.push_back(ti);
  }
  std::sort(tis.begin(), tis.end(), [](const TaskInstance& a, const TaskInstance& b) {
    return std::tie(a.task_id, a.map_index) < std::tie(b.task_id, b.map_index);
  });
  return tis;
}

Result<TaskInstance> MemoryStore::StartTaskInstance(std::string_view id, std::string_view hostname,
                                                    int pid, int64_t start_date) {
  if (auto ok = CheckTexts({id, hostname}); !ok) return std::unexpected(ok.error());
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  if (ti->state != TaskState::kQueued) return LostRace(*ti, "queued");
  ti->state = TaskState::kRunning;
  ti->hostname = hostname;
  ti->pid = pid;
  ti->start_date = start_date;
  ti->last_heartbeat_at = start_date;
  return *ti;
}

Result<HeartbeatRefusal> MemoryStore::Heartbeat(std::string_view id, std::string_view hostname,
                                                int pid, int64_t now) {
  // As the SQL stores do: a value no database could hold is refused, not compared.
  if (auto ok = CheckTexts({id, hostname}); !ok) return std::unexpected(ok.error());
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  if (ti->state != TaskState::kRunning) return HeartbeatRefusal::kNotRunning;
  if (ti->hostname != hostname || ti->pid != pid) return HeartbeatRefusal::kRunningElsewhere;
  ti->last_heartbeat_at = now;
  return HeartbeatRefusal::kNone;
}

Result<TaskInstance> MemoryStore::FinishTaskInstance(std::string_view id, TaskState state,
                                                     int64_t end_date) {
  if (!IsTerminal(state) && state != TaskState::kUpForRetry && state != TaskState::kDeferred) {
    return InvalidArgument("a running task instance cannot finish as " +
                           std::string(TaskStateName(state)));
  }
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  if (ti->state != TaskState::kRunning) return LostRace(*ti, "running");
  ti->state = state;
  if (state != TaskState::kDeferred) ti->end_date = end_date;
  return *ti;
}

Result<TaskInstance> MemoryStore::TransitionTaskInstance(std::string_view id,
                                                         const std::vector<TaskState>& from,
                                                         TaskState to, int64_t now) {
  if (from.empty()) {
    return InvalidArgument("TransitionTaskInstance needs at least one 'from' state");
  }
  if (to == TaskState::kRunning) {
    return InvalidArgument("a task instance enters running only through StartTaskInstance");
  }
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  if (!Contains(from, ti->state)) {
    std::string required;
    for (TaskState state : from) {
      if (!required.empty()) required += ", ";
      required += TaskStateName(state);
    }
    return LostRace(*ti, required);
  }
  ti->state = to;
  if (to == TaskState::kQueued) ti->queued_at = now;
  if (IsTerminal(to) || to == TaskState::kUpForRetry) ti->end_date = now;
  return *ti;
}

Result<std::vector<TaskInstance>> MemoryStore::QueueTaskInstances(std::span<const std::string> ids,
                                                                  int parallelism, int64_t now) {
  if (parallelism < 0) return NegativeParallelism(parallelism);
  std::lock_guard lock(mu_);
  int in_flight = 0;
  for (const auto& [id, ti] : tis_) {
    if (ti.state == TaskState::kQueued || ti.state == TaskState::kRunning) ++in_flight;
  }
  std::vector<TaskInstance> queued;
  for (const std::string& id : ids) {
    if (in_flight >= parallelism) break;
    TaskInstance* ti = FindTaskInstance(id);
    if (ti == nullptr || ti->state != TaskState::kScheduled) continue;
    ti->state = TaskState::kQueued;
    ti->queued_at = now;
    queued.push_back(*ti);
    ++in_flight;
  }
  return queued;
}

Result<TaskInstance> MemoryStore::RetryTaskInstance(std::string_view id, std::string_view next_id) {
  if (auto ok = CheckTexts({id, next_id}); !ok) return std::unexpected(ok.error());
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  if (ti->state != TaskState::kUpForRetry) return LostRace(*ti, "up_for_retry");
  if (next_id != id && tis_.contains(next_id)) {
    return AlreadyExists("task instance " + Quoted(next_id) + " already exists");
  }
  std::erase_if(triggers_, [&](const auto& entry) { return entry.second.ti_id == id; });
  auto node = tis_.extract(tis_.find(id));
  node.key() = std::string(next_id);
  ti = &node.mapped();
  ti->id = std::string(next_id);
  ti->state = TaskState::kScheduled;
  ti->try_number += 1;
  ti->hostname.clear();
  ti->pid = 0;
  ti->queued_at.reset();
  ti->start_date.reset();
  ti->end_date.reset();
  ti->last_heartbeat_at.reset();
  ti->trigger_event_json.clear();
  TaskInstance next = *ti;
  tis_.insert(std::move(node));
  return next;
}

// --- Deferral -------------------------------------------------------------------------

Result<Trigger> MemoryStore::DeferTaskInstance(std::string_view id, const Trigger& trigger) {
  if (auto ok = CheckTexts({id, trigger.kind, trigger.args_json}); !ok) {
    return std::unexpected(ok.error());
  }
  std::lock_guard lock(mu_);
  TaskInstance* ti = FindTaskInstance(id);
  if (ti == nullptr) return NotFound("task instance " + Quoted(id) + " does not exist");
  if (ti->state != TaskState::kRunning) return LostRace(*ti, "running");
  ti->state = TaskState::kDeferred;
  ti->trigger_event_json.clear();
  std::erase_if(triggers_, [&](const auto& entry) { return entry.second.ti_id == id; });
  Trigger stored = trigger;
  stored.id = next_trigger_id_++;
  stored.ti_id = id;
  stored.triggerer_id.clear();
  stored.lease_expires_at.reset();
  triggers_[stored.id] = stored;
  return stored;
}

Result<Trigger> MemoryStore::GetTrigger(int64_t trigger_id) {
  std::lock_guard lock(mu_);
  auto it = triggers_.find(trigger_id);
  if (it == triggers_.end()) return NotFound(TriggerName(trigger_id) + " does not exist");
  return it->second;
}

Result<std::vector<Trigger>> MemoryStore::ListTriggers() {
  std::lock_guard lock(mu_);
  std::vector<Trigger> triggers;
  for (const auto& [id, trigger] : triggers_) triggers.push_back(trigger);
  return triggers;
}

Result<std::vector<Trigger>> MemoryStore::ListTimedOutTriggers(int64_t now) {
  std::lock_guard lock(mu_);
  std::vector<Trigger> triggers;
  for (const auto& [id, trigger] : triggers_) {
    if (trigger.timeout_at && *trigger.timeout_at <= now) triggers.push_back(trigger);
  }
  return triggers;
}

Result<std::vector<Trigger>> MemoryStore::ClaimTriggers(std::string_view triggerer_id, int capacity,
                                                        int64_t lease_expires_at, int64_t now) {
  if (auto ok = CheckTriggererId(triggerer_id); !ok) return std::unexpected(ok.error());
  std::lock_guard lock(mu_);
  std::vector<Trigger> claimed;
  for (auto& [id, trigger] : triggers_) {
    if (static_cast<int>(claimed.size()) >= capacity) break;
    if (!trigger.triggerer_id.empty() && trigger.lease_expires_at.value_or(0) >= now) continue;
    trigger.triggerer_id = triggerer_id;
    trigger.lease_expires_at = lease_expires_at;
    claimed.push_back(trigger);
  }
  return claimed;
}

Result<std::vector<Trigger>> MemoryStore::RenewTriggerLeases(std::string_view triggerer_id,
                                                             std::span<const int64_t> trigger_ids,
                                                             int64_t lease_expires_at) {
  if (auto ok = CheckTriggererId(triggerer_id); !ok) return std::unexpected(ok.error());
  std::lock_guard lock(mu_);
  std::vector<Trigger> renewed;
  for (auto& [id, trigger] : triggers_) {
    if (trigger.triggerer_id != triggerer_id ||
        std::find(trigger_ids.begin(), trigger_ids.end(), id) == trigger_ids.end()) {
      continue;
    }
    trigger.lease_expires_at = lease_expires_at;
    renewed.push_back(trigger);
  }
  return renewed;
}

Result<TaskInstance*> MemoryStore::DeferredTaskOf(int64_t trigger_id) {
  auto it = triggers_.find(trigger_id);
  if (it == triggers_.end()) return NotFound(TriggerName(trigger_id) + " does not exist");
  TaskInstance* ti = FindTaskInstance(it->second.ti_id);
  if (ti == nullptr) return NotFound(TriggerName(trigger_id) + " does not exist");
  if (ti->state != TaskState::kDeferred) return LostRace(*ti, "deferred");
  return ti;
}

Result<TaskInstance> MemoryStore::FireTrigger(int64_t trigger_id, std::string_view payload_json) {
  if (auto ok = CheckText("a trigger event", payload_json); !ok) return std::unexpected(ok.error());
  std::lock_guard lock(mu_);
  auto ti = DeferredTaskOf(trigger_id);
  if (!ti) return std::unexpected(ti.error());
  TaskInstance& t = **ti;
  t.state = TaskState::kScheduled;
  t.trigger_event_json = payload_json;
  t.hostname.clear();
  t.pid = 0;
  t.queued_at.reset();
  t.start_date.reset();
  t.end_date.reset();
  t.last_heartbeat_at.reset();
  triggers_.erase(trigger_id);
  return t;
}

Result<TaskInstance> MemoryStore::FailTrigger(int64_t trigger_id, int64_t now) {
  std::lock_guard lock(mu_);
  auto ti = DeferredTaskOf(trigger_id);
  if (!ti) return std::unexpected(ti.error());
  (*ti)->state = TaskState::kFailed;
  (*ti)->end_date = now;
  triggers_.erase(trigger_id);
  return **ti;
}

// --- Variables ------------------------------------------------------------------------

Result<Variable> MemoryStore::GetVariable(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = variables_.find(key);
  if (it == variables_.end()) return NotFound("variable " + Quoted(key) + " does not exist");
  return it->second;
}

Result<std::vector<Variable>> MemoryStore::ListVariables() {
  std::lock_guard lock(mu_);
  std::vector<Variable> variables;
  for (const auto& [key, variable] : variables_) variables.push_back(variable);
  return variables;
}

Result<void> MemoryStore::SetVariable(const Variable& variable) {
  if (auto ok = CheckTexts({variable.key, variable.value, variable.description}); !ok) return ok;
  std::lock_guard lock(mu_);
  variables_[variable.key] = variable;
  return {};
}

Result<void> MemoryStore::DeleteVariable(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = variables_.find(key);
  if (it == variables_.end()) return NotFound("variable " + Quoted(key) + " does not exist");
  variables_.erase(it);
  return {};
}

// --- Connections ----------------------------------------------------------------------

Result<Connection> MemoryStore::GetConnection(std::string_view conn_id) {
  Connection c;
  {
    std::lock_guard lock(mu_);
    auto it = connections_.find(conn_id);
    if (it == connections_.end()) {
      return NotFound("connection " + Quoted(conn_id) + " does not exist");
    }
    c = it->second;
  }
  const std::string what = "of connection " + Quoted(conn_id);
  auto password =
      cipher_.Decrypt(c.password, ConnectionAad(conn_id, "password"), "password " + what);
  if (!password) return std::unexpected(password.error());
  auto extra = cipher_.Decrypt(c.extra, ConnectionAad(conn_id, "extra"), "extra " + what);
  if (!extra) return std::unexpected(extra.error());
  c.password = std::move(*password);
  c.extra = std::move(*extra);
  return c;
}

Result<std::vector<Connection>> MemoryStore::ListConnections() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [conn_id, c] : connections_) ids.push_back(conn_id);
  }
  std::vector<Connection> connections;
  for (const std::string& conn_id : ids) {
    auto c = GetConnection(conn_id);
    if (!c && c.error().code() == ErrorCode::kNotFound) continue;  // deleted meanwhile
    if (!c) return std::unexpected(c.error());
    connections.push_back(std::move(*c));
  }
  return connections;
}

Result<void> MemoryStore::SetConnection(const Connection& connection) {
  const Connection& c = connection;
  if (auto ok =
          CheckTexts({c.conn_id, c.conn_type, c.host, c.schema, c.login, c.password, c.extra});
      !ok) {
    return ok;
  }
  const std::string what = "of connection " + Quoted(c.conn_id);
  Connection stored = c;
  auto password =
      cipher_.Encrypt(c.password, ConnectionAad(c.conn_id, "password"), "password " + what);
  if (!password) return std::unexpected(password.error());
  auto extra = cipher_.Encrypt(c.extra, ConnectionAad(c.conn_id, "extra"), "extra " + what);
  if (!extra) return std::unexpected(extra.error());
  stored.password = std::move(*password);
  stored.extra = std::move(*extra);
  std::lock_guard lock(mu_);
  connections_[c.conn_id] = std::move(stored);
  return {};
}

Result<void> MemoryStore::DeleteConnection(std::string_view conn_id) {
  std::lock_guard lock(mu_);
  auto it = connections_.find(conn_id);
  if (it == connections_.end()) {
    return NotFound("connection " + Quoted(conn_id) + " does not exist");
  }
  connections_.erase(it);
  return {};
}

// --- XComs ----------------------------------------------------------------------------

Result<std::string> MemoryStore::GetXCom(const XComKey& k) {
  std::lock_guard lock(mu_);
  auto it = xcoms_.find(XComTuple(k.dag_id, k.run_id, k.task_id, k.map_index, k.key));
  if (it == xcoms_.end()) return NotFound(XComName(k) + " does not exist");
  return it->second;
}

Result<void> MemoryStore::SetXCom(const XComKey& k, std::string_view value_json) {
  if (auto ok = CheckTexts({k.dag_id, k.run_id, k.task_id, k.key, value_json}); !ok) return ok;
  std::lock_guard lock(mu_);
  if (!runs_.contains(RunKey{k.dag_id, k.run_id})) {
    return FailedPrecondition(RunName(k.dag_id, k.run_id) + " does not exist");
  }
  xcoms_[XComTuple(k.dag_id, k.run_id, k.task_id, k.map_index, k.key)] = value_json;
  return {};
}

Result<void> MemoryStore::DeleteXCom(const XComKey& k) {
  std::lock_guard lock(mu_);
  if (xcoms_.erase(XComTuple(k.dag_id, k.run_id, k.task_id, k.map_index, k.key)) == 0) {
    return NotFound(XComName(k) + " does not exist");
  }
  return {};
}

// --- Revoked tokens -------------------------------------------------------------------

Result<void> MemoryStore::RevokeToken(std::string_view jti, int64_t exp) {
  if (auto ok = CheckTexts({jti}); !ok) return ok;
  std::lock_guard lock(mu_);
  auto [it, inserted] = revoked_.emplace(std::string(jti), exp);
  if (!inserted) it->second = std::max(it->second, exp);
  return {};
}

Result<bool> MemoryStore::IsTokenRevoked(std::string_view jti) {
  std::lock_guard lock(mu_);
  return revoked_.contains(jti);
}

Result<int> MemoryStore::PurgeRevokedTokens(int64_t now) {
  std::lock_guard lock(mu_);
  return static_cast<int>(
      std::erase_if(revoked_, [&](const auto& entry) { return entry.second < now; }));
}

// --- Failed logins --------------------------------------------------------------------

Result<void> MemoryStore::RecordLoginFailures(std::span<const std::string> names, int64_t now,
                                              int64_t window_seconds) {
  for (const std::string& name : names) {
    if (auto ok = CheckTexts({name}); !ok) return ok;
  }
  std::lock_guard lock(mu_);
  for (const std::string& name : names) {
    auto [it, inserted] = login_failures_.try_emplace(name, LoginFailureWindow{.name = name});
    LoginFailureWindow& w = it->second;
    if (inserted || w.window_start <= now - window_seconds) {
      w.window_start = now;
      w.failures = 1;
    } else {
      ++w.failures;
    }
  }
  return {};
}

Result<std::vector<LoginFailureWindow>> MemoryStore::LoginFailureWindows(
    std::span<const std::string> names, int64_t now, int64_t window_seconds) {
  std::lock_guard lock(mu_);
  std::vector<LoginFailureWindow> windows;
  for (const std::string& name : names) {
    auto it = login_failures_.find(name);
    if (it != login_failures_.end() && it->second.window_start > now - window_seconds) {
      windows.push_back(it->second);
    }
  }
  return windows;
}

Result<void> MemoryStore::ClearLoginFailures(std::string_view name) {
  std::lock_guard lock(mu_);
  if (auto it = login_failures_.find(name); it != login_failures_.end()) login_failures_.erase(it);
  return {};
}

Result<int> MemoryStore::PurgeLoginFailures(int64_t cutoff) {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::erase_if(
      login_failures_, [&](const auto& entry) { return entry.second.window_start <= cutoff; }));
}

// --- Audit log ------------------------------------------------------------------------

Result<void> MemoryStore::AppendAudit(std::span<const AuditEntry> entries) {
  for (const AuditEntry& e : entries) {
    if (auto ok = CheckTexts({e.component, e.jti, e.sub, e.method, e.path}); !ok) return ok;
  }
  std::lock_guard lock(mu_);
  audit_.insert(audit_.end(), entries.begin(), entries.end());
  return {};
}

Result<std::vector<AuditEntry>> MemoryStore::ListAudit(int limit, int offset) {
  if (limit < 0 || offset < 0) return InvalidArgument("limit and offset must not be negative");
  std::lock_guard lock(mu_);
  std::vector<AuditEntry> entries;
  for (auto it = audit_.rbegin() + std::min<ptrdiff_t>(offset, std::ssize(audit_));
       it != audit_.rend() && std::ssize(entries) < limit; ++it) {
    entries.push_back(*it);
  }
  return entries;
}

Result<void> MemoryStore::ReplaceImportErrors(std::string_view bundle_name,
                                              const std::vector<ImportError>& errors, int64_t now) {
  if (auto ok = CheckImportErrors(bundle_name, errors); !ok) return ok;
  std::lock_guard lock(mu_);
  std::vector<ImportError> kept;
  for (const ImportError& row : import_errors_) {
    if (row.bundle_name != bundle_name) {
      kept.push_back(row);
      continue;
    }
    auto it = std::find_if(errors.begin(), errors.end(),
                           [&](const ImportError& e) { return e.filename == row.filename; });
    if (it == errors.end()) continue;
    ImportError updated = row;
    if (updated.stack_trace != it->stack_trace) {
      updated.stack_trace = it->stack_trace;
      updated.timestamp = now;
    }
    kept.push_back(std::move(updated));
  }
  for (const ImportError& e : errors) {
    if (std::any_of(kept.begin(), kept.end(), [&](const ImportError& row) {
          return row.bundle_name == bundle_name && row.filename == e.filename;
        })) {
      continue;
    }
    kept.push_back(ImportError{.id = next_import_error_id_++,
                               .bundle_name = std::string(bundle_name),
                               .filename = e.filename,
                               .stack_trace = e.stack_trace,
                               .timestamp = now});
  }
  import_errors_ = std::move(kept);
  return {};
}

Result<std::vector<ImportError>> MemoryStore::ListImportErrors() {
  std::lock_guard lock(mu_);
  return import_errors_;
}

Result<int64_t> MemoryStore::CountAudit() {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(audit_.size());
}

// --- Users ----------------------------------------------------------------------------

Result<void> MemoryStore::CreateUser(const User& user) {
  if (auto ok = CheckTexts({user.username, user.password_hash, user.role}); !ok) return ok;
  std::lock_guard lock(mu_);
  User stored = user;
  stored.tokens_valid_after = user.created_at;
  if (!users_.emplace(user.username, std::move(stored)).second) {
    return AlreadyExists("user " + Quoted(user.username) + " already exists");
  }
  return {};
}

Result<User> MemoryStore::GetUser(std::string_view username) {
  std::lock_guard lock(mu_);
  auto it = users_.find(username);
  if (it == users_.end()) return NotFound("user " + Quoted(username) + " does not exist");
  return it->second;
}

Result<std::vector<User>> MemoryStore::ListUsers() {
  std::lock_guard lock(mu_);
  std::vector<User> users;
  for (const auto& [name, user] : users_) users.push_back(user);
  return users;
}

Result<void> MemoryStore::SetUserPassword(std::string_view username, std::string_view password_hash,
                                          int64_t now) {
  if (auto ok = CheckTexts({password_hash}); !ok) return ok;
  std::lock_guard lock(mu_);
  auto it = users_.find(username);
  if (it == users_.end()) return NotFound("user " + Quoted(username) + " does not exist");
  it->second.password_hash = password_hash;
  it->second.tokens_valid_after = now;
  return {};
}

Result<void> MemoryStore::DeleteUser(std::string_view username) {
  std::lock_guard lock(mu_);
  auto it = users_.find(username);
  if (it == users_.end()) return NotFound("user " + Quoted(username) + " does not exist");
  users_.erase(it);
  return {};
}

}  // namespace airlock::store

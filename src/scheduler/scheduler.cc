#include "scheduler/scheduler.h"

#include <boost/json.hpp>
#include <map>

#include "common/log.h"
#include "common/random.h"
#include "common/time_format.h"
#include "dags/dag.h"

namespace airlock::scheduler {

namespace json = boost::json;
using store::DagRunState;
using store::TaskInstance;
using store::TaskState;

namespace {

// Airflow's run-id form of a time: "2026-11-23T10:00:00+00:00".
std::string IsoTime(int64_t unix_seconds) {
  std::string s = FormatUtcSeconds(unix_seconds);
  return s.substr(0, s.size() - 1) + "+00:00";
}

std::string RunName(const store::DagRun& run) { return run.dag_id + "/" + run.run_id; }

bool IsFailure(TaskState state) {
  return state == TaskState::kFailed || state == TaskState::kUpstreamFailed;
}

}  // namespace

// A running Dag run with what its pass needs.
struct Scheduler::RunContext {
  store::DagRun run;
  store::Dag dag;
  dags::DagSpec spec;
  std::vector<TaskInstance> tis;
};

Scheduler::Scheduler(store::Store& store, const jwt::TokenSigner& signer, Executor& executor,
                     const Clock& clock, SchedulerOptions options)
    : store_(store),
      signer_(signer),
      executor_(executor),
      clock_(clock),
      options_(std::move(options)) {}

std::string Scheduler::LogPath(const TaskInstance& ti) {
  std::string path = "dag_id=" + ti.dag_id + "/run_id=" + ti.run_id + "/task_id=" + ti.task_id;
  if (ti.map_index >= 0) path += "/map_index=" + std::to_string(ti.map_index);
  return path + "/attempt=" + std::to_string(ti.try_number) + ".log";
}

std::string Scheduler::WorkloadJson(const TaskInstance& ti, const store::Dag& dag,
                                    const std::string& bundle_version, const std::string& token) {
  return json::serialize(json::object{
      {"type", "ExecuteTask"},
      {"token", token},
      {"ti", json::object{{"id", ti.id},
                          {"dag_id", ti.dag_id},
                          {"task_id", ti.task_id},
                          {"run_id", ti.run_id},
                          {"try_number", ti.try_number},
                          {"map_index", ti.map_index}}},
      {"dag_rel_path", dag.relative_fileloc},
      {"bundle_info",
       json::object{{"name", dag.bundle_name},
                    {"version",
                     bundle_version.empty() ? json::value(nullptr) : json::value(bundle_version)}}},
      {"log_path", LogPath(ti)},
  });
}

Result<PassStats> Scheduler::RunOnce() {
  PassStats stats;
  CreateScheduledRuns(stats);
  FailTimedOutTriggers(stats);

  auto runs = store_.ListDagRunsInStates({DagRunState::kQueued, DagRunState::kRunning});
  if (!runs) return std::unexpected(runs.error());
  const int64_t now = clock_.NowSeconds();

  std::map<std::string, int> running_per_dag;
  for (const store::DagRun& run : *runs) {
    if (run.state == DagRunState::kRunning) ++running_per_dag[run.dag_id];
  }

  // Queued runs start while their Dag is under max_active_runs.
  std::vector<RunContext> active;
  for (const store::DagRun& run : *runs) {
    auto dag = store_.GetDag(run.dag_id);
    if (!dag) {
      if (dag.error().code() == ErrorCode::kNotFound) {
        // The Dag is gone: nothing can run. Fail the run rather than keep it forever.
        auto failed = store_.TransitionDagRun(run.dag_id, run.run_id,
                                              {DagRunState::kQueued, DagRunState::kRunning},
                                              DagRunState::kFailed, now);
        if (failed) ++stats.runs_finished;
        stats.errors.push_back("dag run " + RunName(run) + ": its Dag no longer exists");
      } else {
        stats.errors.push_back("dag run " + RunName(run) + ": " + dag.error().message());
      }
      continue;
    }
    auto spec = dags::ParseSerializedDag(dag->serialized_json);
    if (!spec) {
      stats.errors.push_back("dag " + run.dag_id +
                             ": stored Dag is invalid: " + spec.error().message());
      continue;
    }
    RunContext context{.run = run, .dag = std::move(*dag), .spec = std::move(*spec)};
    if (run.state == DagRunState::kQueued) {
      if (context.dag.is_paused) continue;
      // The count read above only saves a needless call; the store checks the limit again
      // atomically, with whatever other schedulers started meanwhile.
      if (running_per_dag[run.dag_id] >= context.spec.max_active_runs) continue;
      auto started = store_.StartDagRun(run.dag_id, run.run_id, context.spec.max_active_runs, now);
      if (!started) {
        if (started.error().code() == ErrorCode::kFailedPrecondition) {
          ++stats.races_lost;
        } else if (started.error().code() == ErrorCode::kResourceExhausted) {
          running_per_dag[run.dag_id] = context.spec.max_active_runs;  // full after all
        } else {
          stats.errors.push_back("dag run " + RunName(run) + ": " + started.error().message());
        }
        continue;
      }
      ++running_per_dag[run.dag_id];
      ++stats.runs_started;
      context.run = std::move(*started);
    }
    auto tis = store_.ListTaskInstances(run.dag_id, run.run_id);
    if (!tis) {
      stats.errors.push_back("dag run " + RunName(run) + ": " + tis.error().message());
      continue;
    }
    context.tis = std::move(*tis);
    active.push_back(std::move(context));
  }

  std::vector<Ready> ready;
  for (RunContext& context : active) ProcessRun(context, ready, stats);
  QueueReady(ready, stats);
  return stats;
}

// A deferred task whose trigger did not fire within its timeout fails (and is retried if
// it has tries left), as in Airflow. The triggerer learns of it when it renews the lease.
void Scheduler::FailTimedOutTriggers(PassStats& stats) {
  const int64_t now = clock_.NowSeconds();
  auto triggers = store_.ListTimedOutTriggers(now);
  if (!triggers) {
    stats.errors.push_back("listing timed-out triggers: " + triggers.error().message());
    return;
  }
  for (const store::Trigger& trigger : *triggers) {
    auto failed = store_.FailTrigger(trigger.id, now);
    if (failed) {
      ++stats.tis_timed_out;
      LogWarning("task instance " + trigger.ti_id + " failed: its " + trigger.kind +
                 " trigger did not fire before its timeout");
    } else if (failed.error().code() == ErrorCode::kFailedPrecondition ||
               failed.error().code() == ErrorCode::kNotFound) {
      ++stats.races_lost;  // it fired, or another scheduler failed it, just now
    } else {
      stats.errors.push_back("trigger " + std::to_string(trigger.id) + ": " +
                             failed.error().message());
    }
  }
}

void Scheduler::CreateScheduledRuns(PassStats& stats) {
  auto all = store_.ListDags();
  if (!all) {
    stats.errors.push_back("listing Dags: " + all.error().message());
    return;
  }
  const int64_t now = clock_.NowSeconds();
  for (const store::Dag& dag : *all) {
    if (dag.is_paused) continue;
    auto spec = dags::ParseSerializedDag(dag.serialized_json);
    if (!spec) continue;  // reported when one of its runs is processed
    std::string run_id;
    int64_t logical_date = now;
    switch (spec->schedule.kind) {
      case dags::Schedule::Kind::kNone:
        continue;
      case dags::Schedule::Kind::kOnce:
        run_id = "scheduled__once";
        break;
      case dags::Schedule::Kind::kInterval:
        logical_date = now - now % spec->schedule.interval_seconds;
        run_id = "scheduled__" + IsoTime(logical_date);
        break;
    }
    auto existing = store_.GetDagRun(dag.dag_id, run_id);
    if (existing) continue;
    if (existing.error().code() != ErrorCode::kNotFound) {
      stats.errors.push_back("dag " + dag.dag_id + ": " + existing.error().message());
      continue;
    }
    auto created = store_.CreateDagRun({.dag_id = dag.dag_id,
                                        .run_id = run_id,
                                        .state = DagRunState::kQueued,
                                        .logical_date = logical_date});
    if (created) {
      ++stats.runs_created;
    } else if (created.error().code() == ErrorCode::kAlreadyExists) {
      ++stats.races_lost;
    } else {
      stats.errors.push_back("dag " + dag.dag_id + ": " + created.error().message());
    }
  }
}

void Scheduler::ProcessRun(RunContext& context, std::vector<Ready>& ready_tis, PassStats& stats) {
  const store::DagRun& run = context.run;
  const dags::DagSpec& spec = context.spec;
  auto error = [&](const std::string& what, const Error& e) {
    stats.errors.push_back("dag run " + RunName(run) + ": " + what + ": " + e.message());
  };

  // Task instances for the tasks that have none yet (a new run, or a task added to the Dag).
  std::map<std::string, TaskInstance> by_task;
  for (TaskInstance& ti : context.tis) {
    if (ti.map_index == -1) by_task[ti.task_id] = std::move(ti);
  }
  std::vector<TaskInstance> missing;
  for (const dags::TaskSpec& task : spec.tasks) {
    if (by_task.count(task.task_id)) continue;
    auto id = Uuid4();
    if (!id) return error("task instance id", id.error());
    missing.push_back(TaskInstance{.id = *id,
                                   .dag_id = run.dag_id,
                                   .run_id = run.run_id,
                                   .task_id = task.task_id,
                                   .state = TaskState::kScheduled});
  }
  if (!missing.empty()) {
    auto created = store_.CreateTaskInstances(missing);
    if (created) {
      stats.tis_created += static_cast<int>(missing.size());
    } else if (created.error().code() == ErrorCode::kAlreadyExists) {
      ++stats.races_lost;  // another scheduler created them: read theirs
    } else {
      return error("creating task instances", created.error());
    }
    auto tis = store_.ListTaskInstances(run.dag_id, run.run_id);
    if (!tis) return error("listing task instances", tis.error());
    by_task.clear();
    for (TaskInstance& ti : *tis) {
      if (ti.map_index == -1) by_task[ti.task_id] = std::move(ti);
    }
  }

  const int64_t now = clock_.NowSeconds();
  // Applies one conditional transition to `ti`, keeping the local copy in step.
  auto transition = [&](TaskInstance& ti, std::vector<TaskState> from, TaskState to) {
    auto moved = store_.TransitionTaskInstance(ti.id, from, to, now);
    if (moved) {
      ti = std::move(*moved);
      return true;
    }
    if (moved.error().code() == ErrorCode::kFailedPrecondition) {
      ++stats.races_lost;
      if (auto current = store_.GetTaskInstance(ti.id)) ti = std::move(*current);
    } else {
      error("task " + ti.task_id, moved.error());
    }
    return false;
  };

  for (const dags::TaskSpec* task : dags::TopologicalOrder(spec)) {
    auto it = by_task.find(task->task_id);
    if (it == by_task.end()) continue;
    TaskInstance& ti = it->second;
    const bool tries_left = ti.try_number <= task->retries;
    const TaskState after_failure = tries_left ? TaskState::kUpForRetry : TaskState::kFailed;

    if (ti.state == TaskState::kFailed && tries_left) {
      transition(ti, {TaskState::kFailed}, TaskState::kUpForRetry);
    } else if (ti.state == TaskState::kQueued && ti.queued_at &&
               now - *ti.queued_at > options_.task_queued_timeout_seconds) {
      if (transition(ti, {TaskState::kQueued}, after_failure)) ++stats.tis_timed_out;
    } else if (ti.state == TaskState::kRunning && ti.last_heartbeat_at &&
               now - *ti.last_heartbeat_at > options_.heartbeat_timeout_seconds) {
      if (transition(ti, {TaskState::kRunning}, after_failure)) ++stats.tis_timed_out;
    }

    if (ti.state == TaskState::kUpForRetry &&
        now >= ti.end_date.value_or(0) + task->retry_delay_seconds) {
      // The next try gets an id of its own: the failed try's tokens name the old one.
      auto next_id = Uuid4();
      auto retried = next_id ? store_.RetryTaskInstance(ti.id, *next_id)
                             : Result<TaskInstance>(std::unexpected(next_id.error()));
      if (retried) {
        ti = std::move(*retried);
        ++stats.tis_retried;
      } else if (retried.error().code() == ErrorCode::kFailedPrecondition) {
        ++stats.races_lost;
        if (auto current = store_.GetTaskInstance(ti.id)) ti = std::move(*current);
      } else if (retried.error().code() == ErrorCode::kNotFound) {
        ++stats.races_lost;  // another scheduler started the next try, under a new id
        continue;
      } else {
        error("task " + ti.task_id, retried.error());
      }
    }

    if (ti.state != TaskState::kScheduled) continue;
    // Trigger rules over the upstream task instances' states (already updated this pass:
    // the order is topological, so upstream_failed propagates down in one pass).
    bool all_success = true, all_done = true, any_failed = false, any_skipped = false;
    for (const std::string& up : task->upstream) {
      auto up_it = by_task.find(up);
      if (up_it == by_task.end()) {
        all_success = all_done = false;
        continue;
      }
      TaskState s = up_it->second.state;
      all_success &= s == TaskState::kSuccess;
      all_done &= store::IsTerminal(s);
      any_failed |= IsFailure(s);
      any_skipped |= s == TaskState::kSkipped;
    }
    bool ready = false;
    if (task->trigger_rule == dags::TriggerRule::kAllDone) {
      ready = all_done;
    } else if (any_failed) {
      if (transition(ti, {TaskState::kScheduled}, TaskState::kUpstreamFailed)) {
        ++stats.tis_skipped_or_upstream_failed;
      }
    } else if (any_skipped) {
      if (transition(ti, {TaskState::kScheduled}, TaskState::kSkipped)) {
        ++stats.tis_skipped_or_upstream_failed;
      }
    } else {
      ready = all_success;
    }
    if (ready && !context.dag.is_paused) {
      ready_tis.push_back(
          Ready{.ti = ti, .dag = &context.dag, .bundle_version = spec.bundle_version});
    }
  }

  // The run ends when every task has a terminal task instance.
  bool all_terminal = by_task.size() >= spec.tasks.size();
  bool failed = false;
  for (const dags::TaskSpec& task : spec.tasks) {
    auto it = by_task.find(task.task_id);
    if (it == by_task.end() || !store::IsTerminal(it->second.state)) {
      all_terminal = false;
      break;
    }
    failed |= IsFailure(it->second.state);
  }
  if (!all_terminal) return;
  auto finished =
      store_.TransitionDagRun(run.dag_id, run.run_id, {DagRunState::kRunning},
                              failed ? DagRunState::kFailed : DagRunState::kSuccess, now);
  if (finished) {
    ++stats.runs_finished;
  } else if (finished.error().code() == ErrorCode::kFailedPrecondition) {
    ++stats.races_lost;
  } else {
    error("finishing", finished.error());
  }
}

// Parallelism counts every queued or running task instance, whoever queued it: the store
// counts and queues in one step that excludes every other scheduler's, so together they
// never queue past it (store.h: QueueTaskInstances).
void Scheduler::QueueReady(const std::vector<Ready>& ready, PassStats& stats) {
  if (ready.empty()) return;
  const int64_t now = clock_.NowSeconds();
  std::vector<std::string> ids;
  ids.reserve(ready.size());
  for (const Ready& r : ready) ids.push_back(r.ti.id);
  auto queued = store_.QueueTaskInstances(ids, std::max(0, options_.parallelism), now);
  if (!queued) {
    stats.errors.push_back("queueing task instances: " + queued.error().message());
    return;
  }
  std::map<std::string, const Ready*> by_id;
  for (const Ready& r : ready) by_id[r.ti.id] = &r;
  // Back to scheduled when the workload was not handed over, so a later pass retries.
  auto put_back = [&](const TaskInstance& ti) {
    (void)store_.TransitionTaskInstance(ti.id, TaskState::kQueued, TaskState::kScheduled, now);
  };
  bool executor_full = false;
  for (const TaskInstance& ti : *queued) {
    if (executor_full) {
      put_back(ti);
      continue;
    }
    const Ready& r = *by_id.at(ti.id);
    auto refused = [&](const std::string& why) {
      stats.errors.push_back("task instance " + ti.id + " (" + ti.dag_id + "/" + ti.run_id + "/" +
                             ti.task_id + "): " + why);
      put_back(ti);
    };
    auto token = signer_.Mint(jwt::MintRequest{
        .sub = ti.id,
        .aud = {options_.audience},
        .iss = options_.issuer,
        .ttl_seconds = std::max<int64_t>(1, options_.task_queued_timeout_seconds),
        .scope = "workload",
    });
    if (!token) {
      refused("minting its workload token: " + token.error().message());
      continue;
    }
    auto submitted = executor_.Submit(WorkloadJson(ti, *r.dag, r.bundle_version, *token));
    if (!submitted) {
      // A full executor takes nothing more this pass: the rest go back as well.
      executor_full = submitted.error().code() == ErrorCode::kResourceExhausted;
      refused("executor refused it: " + submitted.error().message());
      continue;
    }
    ++stats.tis_queued;
  }
}

}  // namespace airlock::scheduler

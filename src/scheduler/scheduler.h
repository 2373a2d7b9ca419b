#pragma once
// Scheduler: turns Dags and Dag runs into task instances and hands them to an executor.
// One RunOnce() is one pass of the scheduling loop:
//   1. Dag runs for schedules: "@once" → run "scheduled__once"; "every N" → one run per
//      interval, run_id "scheduled__<logical date>" with the logical date aligned to the
//      interval (no catch-up: only the latest interval). Paused Dags get none.
//      Queued runs (from schedules or from POST /api/v2/dags/{dag_id}/dagRuns) start
//      running while the Dag has fewer than max_active_runs running.
//   2. For each running run: create the missing task instances (state scheduled); then,
//      in topological order, apply the trigger rules — all_success: every upstream
//      succeeded → ready; one failed or upstream_failed → upstream_failed; one skipped →
//      skipped. all_done: every upstream terminal → ready. A task instance that ended
//      failed with tries left (try_number ≤ retries) goes to up_for_retry (the scheduler
//      owns the retry decision, whatever the supervisor reported); up_for_retry goes back
//      to scheduled with try_number + 1 once retry_delay has passed; queued longer than
//      task_queued_timeout, or running without a heartbeat for heartbeat_timeout ("a
//      zombie") → up_for_retry or failed. A run whose task instances are all terminal
//      becomes failed if one failed or is upstream_failed, else success.
//   3. Ready task instances of every run, in run and then topological order, up to
//      `parallelism` queued + running in total (of all runs, whoever queued them):
//      scheduled → queued, then a workload token is minted (scope "workload", sub = the
//      task instance id, valid for task_queued_timeout) and the workload JSON of SPEC §5
//      is handed to the executor. If the executor refuses it the task instance goes back
//      to scheduled (and if it is full, so do the rest queued in this pass).
// Several schedulers may run against one database: every change is one of the store's
// conditional transitions, so for each step exactly one scheduler wins and the others
// skip (FailedPrecondition / AlreadyExists are expected, not errors). The limits —
// parallelism and each Dag's max_active_runs — are counted and applied by the store in
// one step that excludes the other schedulers' (Store::QueueTaskInstances,
// Store::StartDagRun), so together they never exceed them. Killing a scheduler
// loses nothing: all state is in the store, and the next pass (of any scheduler) picks
// up where it stopped — a task instance queued but never handed over is failed or retried
// by task_queued_timeout.
// Not thread-safe: one thread calls RunOnce. It never logs a token or a workload.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "jwt/signer.h"
#include "scheduler/executor.h"
#include "store/store.h"

namespace airlock::scheduler {

struct SchedulerOptions {
  // [execution_api] jwt_audience and [api_auth] jwt_issuer, written into workload tokens.
  std::string audience = "urn:airflow.apache.org:task";
  std::optional<std::string> issuer;
  // [scheduler] task_queued_timeout: how long a task instance may stay queued; also the
  // lifetime of its workload token.
  int64_t task_queued_timeout_seconds = 600;
  // [scheduler] task_instance_heartbeat_timeout: a running task instance whose last
  // heartbeat is older than this is a zombie.
  int64_t heartbeat_timeout_seconds = 300;
  // [core] parallelism: at most this many task instances queued or running at once.
  int parallelism = 32;
};

// What one pass did, for logs and tests.
struct PassStats {
  int runs_created = 0;
  int runs_started = 0;
  int runs_finished = 0;
  int tis_created = 0;
  int tis_queued = 0;     // handed to the executor
  int tis_retried = 0;    // up_for_retry → scheduled
  int tis_timed_out = 0;  // queued too long, zombies, or deferred past their trigger's timeout
  int tis_skipped_or_upstream_failed = 0;
  int races_lost = 0;               // another scheduler got there first
  std::vector<std::string> errors;  // one line each; the pass went on
};

class Scheduler {
 public:
  // Everything must outlive the Scheduler.
  Scheduler(store::Store& store, const jwt::TokenSigner& signer, Executor& executor,
            const Clock& clock, SchedulerOptions options);

  // One pass. Store errors on one run do not stop the others (they are in PassStats);
  // fails only when the list of runs itself cannot be read.
  Result<PassStats> RunOnce();

  // The task log's path, relative to [logging] base_log_folder, as Airflow names it:
  // "dag_id=<d>/run_id=<r>/task_id=<t>/attempt=<n>.log" (map_index=<i>/ before the attempt
  // for mapped tasks).
  static std::string LogPath(const store::TaskInstance& ti);

  // The workload JSON of SPEC §5.
  static std::string WorkloadJson(const store::TaskInstance& ti, const store::Dag& dag,
                                  const std::string& bundle_version, const std::string& token);

 private:
  struct RunContext;
  // A task instance ready to queue, with what its workload names.
  struct Ready {
    store::TaskInstance ti;
    const store::Dag* dag;  // in the pass's RunContexts
    std::string bundle_version;
  };
  void CreateScheduledRuns(PassStats& stats);
  void FailTimedOutTriggers(PassStats& stats);
  // Applies the trigger rules, retries and timeouts of one run; appends its ready task
  // instances to `ready`, in topological order.
  void ProcessRun(RunContext& context, std::vector<Ready>& ready, PassStats& stats);
  // Queues `ready` in order while there is room under parallelism, and hands each one
  // queued to the executor (or puts it back to scheduled).
  void QueueReady(const std::vector<Ready>& ready, PassStats& stats);

  store::Store& store_;
  const jwt::TokenSigner& signer_;
  Executor& executor_;
  const Clock& clock_;
  const SchedulerOptions options_;
};

}  // namespace airlock::scheduler

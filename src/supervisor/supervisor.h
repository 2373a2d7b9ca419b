#pragma once
// The supervisor: what `airlock supervise` runs for one task instance (SPEC §5). It holds
// the task's token and nothing else secret, starts the task process without it, answers
// the task's requests over a socket, heartbeats, enforces execution_timeout, captures the
// task's output into the task log through the secrets masker, and reports the final state.
//
// Supervise() is a checklist of named steps, each failing with an Error that names the
// step (and, for system calls, "syscall(args): errno text"):
//   MakeNonDumpable        prctl(PR_SET_DUMPABLE, 0) — before the token is read from
//                          stdin: the flag does not protect memory copied before it is set
//   ExchangeWorkloadToken  PATCH /task-instances/{id}/run: the workload token buys the
//                          execution token (Refreshed-API-Token) and the run context
//   OpenTaskLog            the task log file, its folders created 0750, the file 0640
//   ResolveTaskUser        run_as_user / [core] default_impersonation / allow_root_tasks
//   StartTask              spawn.h: scrubbed environment (environment.h), fds 0-2 and the
//                          channel only, own session, PR_SET_PDEATHSIG, no_new_privs, user
//   Superviseloop          output → masker → log; task requests → Execution API;
//                          heartbeats; execution_timeout; signals
//   ReportFinalState       PATCH /task-instances/{id}/state
//
// What it is not: a sandbox. The task runs with its user's rights (use run_as_user for
// tasks that must not share a user). What the supervisor guarantees is that the task
// cannot take the token, the database URL or the signing keys from it: it has none of the
// last two, and is non-dumpable, so a task of the same user can neither read its memory,
// environ or maps, nor ptrace it.
//
// Single-threaded: one supervisor process per task instance.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/secrets_masker.h"
#include "http/client.h"
#include "supervisor/environment.h"
#include "supervisor/spawn.h"

namespace airlock::supervisor {

struct TaskInstanceRef {
  std::string id;
  std::string dag_id;
  std::string task_id;
  std::string run_id;
  int try_number = 1;
  int map_index = -1;
};

// The workload JSON of SPEC §5.
struct Workload {
  std::string token;  // the workload token; never logged
  TaskInstanceRef ti;
  std::string dag_rel_path;
  std::string bundle_name;
  std::string bundle_version;
  std::string log_path;  // absolute, relative to the base log folder, or empty
};

// InvalidArgument naming the missing or mistyped field (never a value) unless the text is
// a workload of type "ExecuteTask" with a token and a complete "ti".
Result<Workload> ParseWorkload(std::string_view json_text);

// What the task runs, from the "task" entry of the run context (its serialized Dag).
struct TaskSpec {
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<double> execution_timeout_seconds;
  std::optional<std::string> run_as_user;
  // The payload of the trigger event that resumed this try (JSON text); empty when the try
  // was not resumed by a trigger. `airlock task trigger-event` prints it.
  std::string trigger_event_json;
};

// InvalidArgument naming the field when "task" is missing (null: the Dag or the task is
// gone), "command" is not a non-empty array of strings, "env" is not an object of strings
// with valid names, or execution_timeout / run_as_user are mistyped.
Result<TaskSpec> ParseTaskSpec(std::string_view run_context_json);

// The task log's path: an absolute log_path as is; a relative one under base_log_folder;
// none: base_log_folder/dag_id=<d>/run_id=<r>/task_id=<t>/[map_index=<m>/]attempt=<n>.log.
// InvalidArgument for a ".." segment or an id with a '/'.
Result<std::string> TaskLogPath(const Workload& workload, std::string_view base_log_folder);

struct TaskUserPolicy {
  std::optional<std::string> run_as_user;  // the task's
  std::string default_impersonation;       // [core] default_impersonation; empty = unset
  bool allow_root_tasks = false;           // [core] allow_root_tasks
  uid_t supervisor_euid = 0;
};

// Who the task runs as: run_as_user, else default_impersonation, else "nobody" for a root
// supervisor and the supervisor's own user for any other. PermissionDenied if a task
// would run as root (by a root supervisor, or through sudo) and allow_root_tasks is
// false. NotFound for an unknown user. A supervisor that is not root starts a task of
// another user through sudo (launch.h); only a root supervisor looks up the user's
// supplementary groups.
Result<UnixUser> ResolveTaskUser(const TaskUserPolicy& policy);

struct SupervisorOptions {
  std::string execution_api_url;  // [core] execution_api_server_url
  std::string base_log_folder;    // [logging] base_log_folder
  std::string default_impersonation;
  bool allow_root_tasks = false;
  // Masks the task log; connection passwords and sensitive variables the task reads are
  // added to it. Required.
  std::shared_ptr<SecretsMasker> masker;
  // Where the allow-listed variables (PATH, LANG, LC_ALL, TZ) are taken from.
  EnvironmentMap parent_environment;
  // Put first on the task's PATH, so that the task finds this `airlock`.
  std::string airlock_directory;
  std::chrono::milliseconds heartbeat_interval{5000};  // SPEC §5: at most every 5 s
  std::chrono::milliseconds kill_grace{5000};          // SIGTERM → SIGKILL
  int max_failed_heartbeats = 3;
  http::ClientOptions http{.timeout = std::chrono::milliseconds(10000)};
};

struct SupervisionOutcome {
  // The state reported: "success" or "failed", or "deferred" when the task deferred itself
  // (`airlock task defer`); empty when none was reported because the server no longer ran
  // the task instance (404/409) or the report failed.
  std::string reported_state;
  // How the task ended, for people: "exited with code 0", "killed by SIGTERM", ….
  std::string task_result;
  // Why the supervisor ended the task, if it did.
  std::string termination_reason;
};

// prctl(PR_SET_DUMPABLE, 0). Internal, worded "prctl(PR_SET_DUMPABLE, 0): <errno>".
Result<void> MakeNonDumpable();

// Runs the workload to the end. Errors are the steps before the task started that could
// not be completed (the token exchange above all); once the task instance is running on
// the server, a failure of a later step is reported as the "failed" state and returned.
Result<SupervisionOutcome> Supervise(const Workload& workload, const SupervisorOptions& options);

}  // namespace airlock::supervisor

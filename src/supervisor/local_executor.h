#pragma once
// LocalExecutor runs workloads on this machine: each Submit() hands the workload JSON
// (SPEC §5) to one airlock-supervisor child process on its stdin. It is what the scheduler
// talks to; it is not the supervisor (that is the child) and it never reads the workload
// beyond what it needs to pass it on.
//
// Standby: up to `standby` more supervisors wait, already started (`airlock-supervisor
// --standby`: configuration loaded, user lookup warmed), never more than could still be
// given a task (parallelism minus the busy ones). Submit() hands the workload to the oldest
// and the executor starts replacements as slots free up; a queued task then does not wait
// for a process to exec and start. A standby holds nothing secret until it has the
// workload. When none is ready (or one died), Submit() starts a supervisor afresh.
//
// Threading: Submit() and running() are safe from any number of threads. A background
// thread reaps finished children (through pidfds: it never waits for children it did not
// start). The destructor sends SIGTERM to the supervisors still running — each then stops
// its task (SIGTERM, SIGKILL 5 s later) and reports it failed, so the scheduler retries it
// — waits up to 15 s for them, then SIGKILLs what is left.
//
// Security defaults, each deliberate: the child gets a scrubbed environment built from an
// allow-list (PATH, LANG, TZ, HOME of the target user and
// AIRLOCK__CORE__EXECUTION_API_SERVER_URL) — never the parent's database URL or keys —
// no inherited fds besides stdin (the workload pipe), stdout and stderr, and its own
// process group. The workload (which holds a token) travels on a pipe, never in argv or
// the environment.

#include <cstddef>
#include <memory>
#include <string>

#include "common/error.h"

namespace airlock::supervisor {

// The supervisor's own executable: small, linked without the store, the JWT keys or the
// REST API, so that each task instance's supervisor maps and starts little (SPEC §10).
inline constexpr char kSupervisorExecutable[] = "airlock-supervisor";
// Its build with TLS, which kSupervisorExecutable execs for an https Execution API.
inline constexpr char kSupervisorTlsExecutable[] = "airlock-supervisor-tls";

// kSupervisorExecutable in the running executable's directory (they are installed together).
std::string SupervisorExecutableBesideSelf();

struct LocalExecutorOptions {
  std::string supervisor_binary;  // normally SupervisorExecutableBesideSelf()
  std::string execution_api_url;
  std::string log_folder;
  int parallelism = 32;  // supervisors running tasks at once (a standby not counted)
  int standby = 4;       // supervisors kept started ahead ([core] standby_supervisors)
};

class LocalExecutor {
 public:
  // Fails with InvalidArgument when supervisor_binary is not an executable file,
  // execution_api_url is empty, parallelism < 1 or standby < 0; Internal when the reaper thread
  // cannot start.
  static Result<std::unique_ptr<LocalExecutor>> Create(LocalExecutorOptions);

  // Starts one supervisor for workload_json. ResourceExhausted when `parallelism`
  // supervisors are already running (the scheduler keeps the task queued and retries);
  // InvalidArgument when workload_json is not a JSON object; Internal, with the failing
  // syscall and errno, when the child cannot be started.
  Result<void> Submit(const std::string& workload_json);

  // Supervisors given a workload and not yet reaped (the standby not counted).
  size_t running() const;

  // Standby supervisors waiting for a workload (for tests).
  size_t standbys() const;

  /* reaps children in a background thread */
  ~LocalExecutor();

 private:
  class Impl;
  explicit LocalExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::supervisor

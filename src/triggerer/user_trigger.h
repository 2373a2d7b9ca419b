#pragma once
// User triggers (kind "exec"): a Dag author's executable that the triggerer runs once, in a
// child process, and that exits 0 when its condition holds. Dag authors' code, so it runs
// the way the dag-processor runs executable Dag files and the supervisor runs tasks — the
// supervisor's launcher (supervisor::Spawn) with this checklist:
//   - own session, so its own process group: the triggerer kills the whole group;
//   - environment from the allow-list only (supervisor::ScrubbedEnvironment: PATH, LANG,
//     LC_ALL, TZ, HOME of the target user): no token, no configuration, nothing of the
//     triggerer's environment besides those;
//   - fds 0 (/dev/null), 1 and 2 (pipes to the triggerer) and no other;
//   - PR_SET_PDEATHSIG(SIGKILL): it dies with the triggerer's event-loop thread;
//   - PR_SET_NO_NEW_PRIVS: no setuid or file-capability gain;
//   - RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE as configured, RLIMIT_CORE 0;
//   - optionally another Unix user ([triggerer] run_as_user, [core] default_impersonation);
//   - working directory "/".
// The triggerer is non-dumpable (main.cc and `airlock triggerer`), so the child cannot read
// its memory, environ or tokens even as the same Unix user.
// Pure functions of their inputs, for the tests; the runtime (triggerer.cc) owns the
// process.

#include <sys/resource.h>

#include <optional>
#include <string>
#include <string_view>

#include "supervisor/environment.h"
#include "supervisor/spawn.h"
#include "triggers/trigger_kinds.h"

namespace airlock::triggerer {

struct UserTriggerLimits {
  // Bytes a user trigger may print on stdout (its event payload); one that prints more is
  // killed and its task failed.
  size_t max_stdout_bytes = 64 << 10;
  // Bytes of a user trigger's stderr written to the triggerer's log (masked, line by line,
  // each line cut at kMaxStderrLineChars); the rest is dropped with one note.
  size_t max_stderr_log_bytes = 16 << 10;
  // [triggerer] memory_limit, cpu_limit, file_size_limit; 0 = not limited.
  rlim_t address_space_bytes = rlim_t{1} << 30;
  rlim_t cpu_seconds = 600;
  rlim_t file_size_bytes = 16 << 20;
};

// Longest stderr line logged as one line.
inline constexpr size_t kMaxStderrLineChars = 1000;

struct UserTriggerRunOptions {
  UserTriggerLimits limits;
  // Run as this user (needs root unless it is the current one); nullopt: as this process.
  std::optional<supervisor::UnixUser> user;
  // Where PATH, LANG, LC_ALL and TZ are taken from; nothing else of it is passed.
  supervisor::EnvironmentMap parent_environment;
};

// The launcher's options for `args`, with stdout and stderr going to the given fds.
supervisor::SpawnOptions UserTriggerSpawnOptions(const triggers::ExecArgs& args,
                                                 const UserTriggerRunOptions& options,
                                                 int stdout_fd, int stderr_fd);

// The event payload of a user trigger that exited 0: its stdout when that is one JSON
// object (surrounding whitespace allowed; strict: no duplicate names, bounded depth), else
// {"returncode":0}.
std::string UserTriggerPayload(std::string_view stdout_text);

}  // namespace airlock::triggerer

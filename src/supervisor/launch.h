#pragma once
// Starting a task as another Unix user through sudo, for a supervisor that is not root
// (SPEC §5: "setgid/setuid when root, else sudo").
//
// sudo closes every fd above 2 and resets the environment, so neither the channel nor
// the scrubbed environment could reach the task directly. Instead the supervisor runs
//   sudo -n -u USER -- <airlock directory>/airlock-supervisor --launch
// with the channel (a SOCK_SEQPACKET socket) as that program's stdin, after sending on it
// a sealed memory file holding the LaunchRequest (the task's argv, its whole environment,
// its working directory). The launcher, running as USER, reads the request, sets
// no_new_privs and starts the task with the channel on kTaskChannelFd and /dev/null on
// stdin, then stays as its parent: it passes on the signals sudo relays, kills the task's
// group when the supervisor's end of the channel closes (the supervisor died; the kernel
// clears the parent-death signal across sudo, a setuid program), and exits as the task
// did, which sudo reports. stdout and stderr are the supervisor's log pipes, which sudo
// passes on as they are. The task stays in sudo's process group (sudo
// without a terminal and without I/O logging runs its command there), and signals reach
// that group with `sudo -n -u USER -- /usr/bin/kill`, since the supervisor's own user may
// not signal USER's processes.
//
// The sudoers rule this needs, for a supervisor running as `airlock` and tasks as
// `etl` (docs/security/deployment-hardening.md):
//   airlock ALL=(etl) NOPASSWD: /usr/local/bin/airlock-supervisor --launch, /usr/bin/kill

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::supervisor {

struct LaunchRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value" entries: the task's whole environment
  std::string cwd;

  bool operator==(const LaunchRequest&) const = default;
};

// The message's JSON: {"argv":[…],"env":[…],"cwd":"…"}.
std::string EncodeLaunchRequest(const LaunchRequest& request);
// InvalidArgument naming the field that is missing or mistyped, an empty argv, an env
// entry without '=' or a relative cwd.
Result<LaunchRequest> ParseLaunchRequest(std::string_view json_text);

// Sends the request on the supervisor's end of the channel, in a sealed memory file.
// InvalidArgument over 4 MiB; Internal or Unavailable when a system call fails.
Result<void> SendLaunchRequest(int channel_fd, const LaunchRequest& request);

// The sudo command that starts `launcher` (airlock-supervisor's path) as `user`.
std::vector<std::string> SudoLaunchCommand(const std::string& sudo, const std::string& user,
                                           const std::string& launcher);
// The sudo command that runs `kill` (its path) as `user` to send `signal_name` ("TERM",
// "KILL") to the process group `group`.
std::vector<std::string> SudoKillCommand(const std::string& sudo, const std::string& user,
                                         const std::string& kill, std::string_view signal_name,
                                         int group);

// `airlock-supervisor --launch`: the launcher's whole work, reading the request from
// stdin. Does not return once the task has started (the process exits as the task did);
// otherwise the error, which the caller prints (to stderr: the task log). FailedPrecondition when
// it is not where sudo would have started it for a supervisor (in its parent's process group, the
// channel on stdin).
Result<void> RunLauncher();

}  // namespace airlock::supervisor

#pragma once
// Spawn starts a child process as a checklist of named steps, in the manner of nsjail:
// new session (so its own process group), the fds it is given and no other, optional
// user switch (setgroups, setgid, setuid — in that order, each checked), resource limits,
// parent-death signal, no_new_privs, working directory, execve. A step that fails in the child
// writes its number and errno to a close-on-exec pipe and the child exits; Spawn turns that into an
// Error worded "syscall(args): errno text", e.g.
//   "setuid(65534): Operation not permitted".
// Between fork and execve the child calls only async-signal-safe functions: every string
// it needs (argv, envp, the step names) is built before fork, so Spawn is safe to call
// from a multi-threaded process.

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace airlock::supervisor {

// A resolved Unix user to run as.
struct UnixUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, as getgrouplist gives them
  std::string home;
};

// The user of that name: NotFound when there is none; Internal for a lookup failure.
// Without `with_groups` its supplementary groups are not looked up (getgrouplist asks
// every NSS source): for a user this process will not switch to itself.
Result<UnixUser> LookUpUser(const std::string& name, bool with_groups = true);
// The user this process runs as (effective uid), without its supplementary groups (empty:
// they only matter when switching to another user).
Result<UnixUser> CurrentUser();

struct SpawnOptions {
  // argv[0] is the program: a path, or a name searched in the PATH of `env`.
  std::vector<std::string> argv;
  // "NAME=value" entries: the child's whole environment.
  std::vector<std::string> env;
  // The child's fds 0, 1, 2: each an fd of this process, or -1 for /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Further fds to pass: (fd in this process, number in the child). Every other fd is
  // closed at execve (close_range with CLOSE_RANGE_CLOEXEC).
  std::vector<std::pair<int, int>> extra_fds;
  // Switch to this user before execve (needs root, or it is the current user).
  std::optional<UnixUser> user;
  // Deliver SIGKILL to the child when the thread that spawned it ends.
  bool die_with_parent = false;
  // PR_SET_NO_NEW_PRIVS: execve can never grant more privileges (setuid binaries, file
  // capabilities) than the child starts with.
  bool no_new_privs = false;
  // Working directory; empty = unchanged.
  std::string cwd;
  // setrlimit(resource, {limit, limit}) for each, after the user switch: soft and hard
  // limit alike, so the child cannot raise them again (e.g. {RLIMIT_AS, 1 << 30}).
  std::vector<std::pair<int, rlim_t>> rlimits;
};

// The child's pid. InvalidArgument for an empty argv or a bad fd number; NotFound when the
// program is not found on the PATH; Internal, worded as above, when a step fails.
Result<pid_t> Spawn(const SpawnOptions& options);

// How a child of Spawn ended, for messages: "exited with code 3", "was killed by SIGKILL",
// "was killed by SIGXCPU (CPU time limit)", "… SIGXFSZ (file size limit)".
std::string DescribeChildExit(int wait_status);

// pidfd_open(2): an fd that becomes readable when the process ends (-1 and errno on
// failure). glibc 2.36's <sys/pidfd.h> declares it without C linkage, hence this wrapper.
int PidfdOpen(pid_t pid);

// Resolves a program name as execvp would against `path` (a PATH value): a name with a
// '/' is returned as is; otherwise the first executable regular file. NotFound otherwise.
Result<std::string> ResolveProgram(const std::string& name, std::string_view path);

}  // namespace airlock::supervisor

#include "triggerer/user_trigger.h"

#include <signal.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstring>

#include "json/strict_json.h"

namespace airlock::triggerer {

namespace {

// Nesting allowed in a payload: the task reads it back as its trigger event.
constexpr int kMaxPayloadDepth = 32;

}  // namespace

supervisor::SpawnOptions UserTriggerSpawnOptions(const triggers::ExecArgs& args,
                                                 const UserTriggerRunOptions& options,
                                                 int stdout_fd, int stderr_fd) {
  const UserTriggerLimits& limits = options.limits;
  supervisor::SpawnOptions spawn{
      .argv = args.argv,
      .env = supervisor::ScrubbedEnvironment(options.parent_environment,
                                             options.user ? options.user->home : "", {}),
      .stdin_fd = -1,
      .stdout_fd = stdout_fd,
      .stderr_fd = stderr_fd,
      .user = options.user,
      .die_with_parent = true,
      .no_new_privs = true,
      .cwd = "/",
  };
  if (limits.address_space_bytes) spawn.rlimits.push_back({RLIMIT_AS, limits.address_space_bytes});
  if (limits.cpu_seconds) spawn.rlimits.push_back({RLIMIT_CPU, limits.cpu_seconds});
  if (limits.file_size_bytes) spawn.rlimits.push_back({RLIMIT_FSIZE, limits.file_size_bytes});
  // A core dump is a file the limits above do not bound in time; nobody needs one here.
  spawn.rlimits.push_back({RLIMIT_CORE, 0});
  return spawn;
}

std::string UserTriggerPayload(std::string_view stdout_text) {
  auto parsed = ParseStrictJsonObject(stdout_text, kMaxPayloadDepth);
  if (parsed) return boost::json::serialize(*parsed);
  return R"({"returncode":0})";
}

}  // namespace airlock::triggerer

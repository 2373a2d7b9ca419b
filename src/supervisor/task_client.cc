#include "supervisor/task_client.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace airlock::supervisor {

namespace {

// A supervisor answers after one Execution API call; this is far beyond that.
constexpr int kReplyTimeoutSeconds = 120;

constexpr char kNotUnderSupervisor[] =
    "not running under an airlock supervisor (AIRLOCK_SUPERVISOR_FD is not set): `airlock "
    "task` works only inside a task process started by `airlock supervise`";

}  // namespace

Result<TaskClient> TaskClient::FromEnvironment() {
  const char* value = std::getenv(kSupervisorFdVariable);
  if (value == nullptr || *value == '\0') return FailedPrecondition(kNotUnderSupervisor);
  int fd = -1;
  std::string_view text(value);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
  if (ec != std::errc() || end != text.data() + text.size() || fd < 0) {
    return FailedPrecondition(std::string(kSupervisorFdVariable) + " is not an fd number");
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return FailedPrecondition(std::string(kSupervisorFdVariable) + "=" + std::string(text) +
                              " is not an open socket: the supervisor's channel was not "
                              "inherited (a process between the task and this command closed it)");
  }
  return TaskClient(fd);
}

Result<std::string> TaskClient::Call(const TaskRequest& request) const {
  auto payload = EncodeTaskRequest(request);
  if (!payload) return std::unexpected(payload.error());
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return Internal(std::string("socketpair(AF_UNIX, SOCK_STREAM): ") + std::strerror(errno));
  }
  auto sent = SendFd(channel_fd_, pair[1]);
  close(pair[1]);
  if (!sent) {
    close(pair[0]);
    return std::unexpected(sent.error());
  }
  timeval timeout{.tv_sec = kReplyTimeoutSeconds, .tv_usec = 0};
  setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  auto written = WriteFrame(pair[0], *payload);
  Result<std::string> reply =
      written ? ReadFrame(pair[0]) : Result<std::string>(std::unexpected(written.error()));
  close(pair[0]);
  if (!reply) return std::unexpected(reply.error());
  return ParseTaskReply(*reply);
}

}  // namespace airlock::supervisor

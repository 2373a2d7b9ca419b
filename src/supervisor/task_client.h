#pragma once
// TaskClient: what `airlock task …` uses inside a task process to reach its supervisor
// (protocol.h). It holds no token and never talks to the api-server: the only thing it
// knows is the channel fd named by AIRLOCK_SUPERVISOR_FD.

#include <string>

#include "common/error.h"
#include "supervisor/protocol.h"

namespace airlock::supervisor {

class TaskClient {
 public:
  // The channel named by AIRLOCK_SUPERVISOR_FD. FailedPrecondition, saying the command
  // must run inside a task started by `airlock supervise`, when the variable is unset, not
  // a number, or does not name an open socket.
  static Result<TaskClient> FromEnvironment();
  explicit TaskClient(int channel_fd) : channel_fd_(channel_fd) {}

  // One request on a private connection; the reply's result as JSON text, or the error
  // the supervisor answered with. Unavailable when the supervisor is gone.
  Result<std::string> Call(const TaskRequest& request) const;

 private:
  int channel_fd_;
};

}  // namespace airlock::supervisor

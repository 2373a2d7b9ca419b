#pragma once
// Executor is the seam between the scheduler and whatever runs task instances: the
// scheduler hands it one workload JSON (SPEC §5) per queued task instance and learns the
// outcome only through the store (the supervisor reports it to the api-server).
// Implementations: LocalExecutorAdapter (a supervisor child process per task, see
// src/supervisor/local_executor.h) and a fake in the scheduler's tests.

#include <string>

#include "common/error.h"

namespace airlock::scheduler {

class Executor {
 public:
  virtual ~Executor() = default;
  // Hands over one workload; the workload holds a token, so implementations never log it.
  // ResourceExhausted when the executor is full: the scheduler puts the task instance back
  // to scheduled and tries again on a later pass. Any error means the workload was not
  // taken.
  virtual Result<void> Submit(const std::string& workload_json) = 0;
};

}  // namespace airlock::scheduler

#pragma once
// Queued task instances made the way the scheduler makes them, for `bench task-fixture` and
// `bench supervisor`: a Dag whose serialized form holds one task, a running Dag run, `count`
// queued task instances of that task (map indexes 0..count-1 when count > 1) and, for each,
// the workload JSON of SPEC §5 with a freshly minted workload token.

#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"
#include "store/store.h"

namespace airlock::cli {

struct FixtureTask {
  std::string ti_id;
  std::string dag_id;
  std::string run_id;
  std::string task_id;
  std::string workload_json;  // holds a token: never print or log it
};

// InvalidArgument when task_json is not an object with a string task_id; store and key
// errors as they come.
Result<std::vector<FixtureTask>> CreateQueuedTasks(const config::Config& config,
                                                   store::Store& store,
                                                   const std::string& task_json, int count,
                                                   int try_number, const std::string& log_path);

}  // namespace airlock::cli

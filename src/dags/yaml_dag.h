#pragma once
// YAML Dag files: the declarative Dags that the dag-processor reads from a bundle folder.
//
//   dag_id: example_xcom            # required; [A-Za-z0-9_.-]{1,250}
//   description: Passes data along  # optional
//   schedule: every 5m              # none (default) | manual | "@once" | every <N><s|m|h|d>
//   max_active_runs: 1              # optional, default 16
//   tasks:
//     - task_id: extract
//       command: [sh, -c, "airlock task xcom push rows 42"]   # argv list, required
//       upstream: []                # task ids
//       retries: 2                  # default 0
//       retry_delay: 30s            # seconds or 30s/5m/1h/1d; default 300
//       execution_timeout: 10m      # default none
//       env: {REGION: eu}           # non-secret values only
//       run_as_user: etl            # optional
//       trigger_rule: all_success   # or all_done
//
// Errors name the file, the line (1-based) and the problem, one sentence:
// "dags/etl.yaml:12: task 'load': upstream 'x' is not a task of this Dag". Unknown keys,
// duplicate keys, several documents, and non-scalar values where a scalar belongs are
// refused: a typo must not silently become a default. A file is at most kMaxYamlBytes and
// yaml-cpp bounds nesting depth, so one hostile file costs little and affects no other Dag.
// Pure functions: safe from any thread; exceptions thrown by yaml-cpp are caught here.

#include <string_view>

#include "common/error.h"
#include "dags/dag.h"

namespace airlock::dags {

inline constexpr size_t kMaxYamlBytes = 1 << 20;

// Parses and validates one YAML Dag file's text. `file_name` is used only in messages.
// Sets nothing about the bundle: the caller fills fileloc, bundle_name and bundle_version.
// InvalidArgument on any problem.
Result<DagSpec> ParseYamlDag(std::string_view text, std::string_view file_name);

}  // namespace airlock::dags

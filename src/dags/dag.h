#pragma once
// A Dag as airlock schedules it: the declarative form that a YAML Dag file describes
// (yaml_dag.h), that the dag-processor submits to the api-server, and that the store keeps
// as Dag::serialized_json. This module owns the one serialized format:
//   {"dag_id","description","schedule","max_active_runs","fileloc",
//    "bundle":{"name","version"},
//    "tasks":[{"task_id","command":[argv…],"upstream":[…],"retries","retry_delay",
//              "execution_timeout":seconds|null,"env":{…},"run_as_user":string|null,
//              "trigger_rule":"all_success"|"all_done"}]}
// "schedule" is null (manual runs only), "@once", or "every <N><s|m|h|d>".
// The Execution API answers PATCH /run with one entry of "tasks": that is what a
// supervisor runs.
//
// ValidateDag is the one set of rules, applied to YAML files by the dag-processor and again
// by the api-server to what it is sent (a processor is not trusted to have checked):
// ids are 1–250 characters of [A-Za-z0-9_.-] (they appear in URLs and file paths), task ids
// are unique, every upstream names a task of the Dag, the graph has no cycle, commands are
// non-empty, env names are [A-Za-z_][A-Za-z0-9_]* and never look like secrets (a Dag file is
// not a place for them: use a connection or a variable).
// Pure functions, no state: safe from any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::dags {

enum class TriggerRule {
  kAllSuccess,  // every upstream succeeded (else: upstream_failed, or skipped if one skipped)
  kAllDone,     // every upstream is in a terminal state, whichever
};
std::string_view TriggerRuleName(TriggerRule rule);  // "all_success", "all_done"
std::optional<TriggerRule> ParseTriggerRule(std::string_view name);

struct Schedule {
  enum class Kind { kNone, kOnce, kInterval };
  Kind kind = Kind::kNone;
  int64_t interval_seconds = 0;  // kInterval only; > 0
};
// nullopt for "none"/"manual"/"" (kNone is represented by JSON null), "@once", "every 5m".
std::optional<std::string> ScheduleText(const Schedule& schedule);
// "none", "manual", "@once", "every <N><s|m|h|d>" (N > 0; "every 90s", "every 1h").
// InvalidArgument naming the accepted forms.
Result<Schedule> ParseSchedule(std::string_view text);

// "30", "30s", "5m", "2h", "1d" → seconds (≥ 0). InvalidArgument otherwise.
Result<int64_t> ParseDuration(std::string_view text);

struct TaskSpec {
  std::string task_id;
  std::vector<std::string> command;  // argv; command[0] is looked up on the task's PATH
  std::vector<std::string> upstream;
  int retries = 0;
  int64_t retry_delay_seconds = 300;  // Airflow's default
  std::optional<int64_t> execution_timeout_seconds;
  std::map<std::string, std::string> env;
  std::optional<std::string> run_as_user;
  TriggerRule trigger_rule = TriggerRule::kAllSuccess;
};

struct DagSpec {
  std::string dag_id;
  std::string description;
  Schedule schedule;
  int max_active_runs = 16;  // Airflow's default
  std::string fileloc;       // the Dag file, relative to its bundle's root
  std::string bundle_name;
  std::string bundle_version;  // empty for a local folder (no versions)
  std::vector<TaskSpec> tasks;

  const TaskSpec* FindTask(std::string_view task_id) const;
};

// Limits that keep one hostile file from costing the control plane more than a file's worth.
inline constexpr size_t kMaxIdLength = 250;
inline constexpr size_t kMaxTasks = 1000;
inline constexpr size_t kMaxCommandArgs = 256;
inline constexpr int kMaxRetries = 100;

// True for 1–250 characters of [A-Za-z0-9_.-] (Airflow's KEY_REGEX, without the dots-only
// names "." and ".." that would escape a log folder).
bool IsValidId(std::string_view id);

// One sentence naming the first problem found (InvalidArgument), e.g.
// "task 'b': upstream 'x' is not a task of this Dag" or "tasks form a cycle: a <- b <- a".
// When `task_index` is given it is set to the index in dag.tasks of the task the problem
// is in, or to dag.tasks.size() for a problem of the Dag itself (YAML errors use it to
// name the line).
Result<void> ValidateDag(const DagSpec& dag, size_t* task_index = nullptr);

// The serialized form above (deterministic: keys in a fixed order, env sorted).
std::string SerializeDag(const DagSpec& dag);
// Parses and validates a serialized Dag. InvalidArgument naming the field.
Result<DagSpec> ParseSerializedDag(std::string_view json);

// The tasks in an order where each comes after its upstream tasks (ValidateDag passed).
std::vector<const TaskSpec*> TopologicalOrder(const DagSpec& dag);

}  // namespace airlock::dags

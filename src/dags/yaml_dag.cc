#include "dags/yaml_dag.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <limits>
#include <set>

namespace airlock::dags {

namespace {

// A failure while reading: the 1-based line and the problem.
struct YamlProblem {
  int line = 0;
  std::string message;
};

int LineOf(const YAML::Node& node) { return node.Mark().is_null() ? 0 : node.Mark().line + 1; }

// Reads one YAML node shape at a time; the first problem wins.
class Reader {
 public:
  std::optional<YamlProblem> problem;

  void Fail(const YAML::Node& node, std::string message) {
    if (!problem) problem = YamlProblem{LineOf(node), std::move(message)};
  }

  // The mapping's entries, refusing duplicate and unknown keys.
  std::vector<std::pair<std::string, YAML::Node>> Mapping(const YAML::Node& node,
                                                          std::string_view what,
                                                          const std::set<std::string>& allowed) {
    std::vector<std::pair<std::string, YAML::Node>> entries;
    if (!node.IsMap()) {
      Fail(node, std::string(what) + " must be a mapping");
      return entries;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        Fail(entry.first, std::string(what) + ": keys must be plain names");
        return {};
      }
      std::string key = entry.first.Scalar();
      if (!seen.insert(key).second) {
        Fail(entry.first, std::string(what) + ": key '" + key + "' appears twice");
        return {};
      }
      if (!allowed.empty() && !allowed.count(key)) {
        std::string known;
        for (const std::string& k : allowed) known += (known.empty() ? "" : ", ") + k;
        Fail(entry.first, std::string(what) + ": unknown key '" + key.substr(0, 80) +
                              "' (known: " + known + ")");
        return {};
      }
      entries.emplace_back(std::move(key), entry.second);
    }
    return entries;
  }

  std::string Scalar(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      Fail(node, std::string(what) + " must be a single value");
      return {};
    }
    return node.Scalar();
  }

  std::vector<std::string> Strings(const YAML::Node& node, std::string_view what) {
    std::vector<std::string> out;
    if (node.IsNull()) return out;
    if (!node.IsSequence()) {
      Fail(node, std::string(what) + " must be a list");
      return out;
    }
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        Fail(item, std::string(what) + " must be a list of strings");
        return {};
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  int64_t Integer(const YAML::Node& node, std::string_view what, int64_t min, int64_t max) {
    std::string text = Scalar(node, what);
    if (problem) return 0;
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n < min ||
        n > max) {
      Fail(node, std::string(what) + " must be an integer from " + std::to_string(min) + " to " +
                     std::to_string(max));
      return 0;
    }
    return n;
  }

  int64_t Duration(const YAML::Node& node, std::string_view what) {
    std::string text = Scalar(node, what);
    if (problem) return 0;
    auto seconds = ParseDuration(text);
    if (!seconds) {
      Fail(node, std::string(what) + ": " + seconds.error().message());
      return 0;
    }
    return *seconds;
  }
};

const std::set<std::string> kDagKeys = {"dag_id", "description", "schedule", "max_active_runs",
                                        "tasks"};
const std::set<std::string> kTaskKeys = {"task_id", "command",     "upstream",
                                         "retries", "retry_delay", "execution_timeout",
                                         "env",     "run_as_user", "trigger_rule"};

// Reads the Dag; `task_lines` gets each task's line for ValidateDag's problems.
DagSpec ReadDag(Reader& r, const YAML::Node& root, std::vector<int>& task_lines) {
  DagSpec dag;
  bool has_dag_id = false, has_tasks = false;
  for (const auto& [key, value] : r.Mapping(root, "the Dag", kDagKeys)) {
    if (r.problem) break;
    if (key == "dag_id") {
      dag.dag_id = r.Scalar(value, "dag_id");
      has_dag_id = true;
    } else if (key == "description") {
      if (!value.IsNull()) dag.description = r.Scalar(value, "description");
    } else if (key == "schedule") {
      if (value.IsNull()) continue;
      auto schedule = ParseSchedule(r.Scalar(value, "schedule"));
      if (r.problem) break;
      if (!schedule) {
        r.Fail(value, schedule.error().message());
      } else {
        dag.schedule = *schedule;
      }
    } else if (key == "max_active_runs") {
      dag.max_active_runs = static_cast<int>(r.Integer(value, "max_active_runs", 1, 1000));
    } else if (key == "tasks") {
      has_tasks = true;
      if (!value.IsSequence()) {
        r.Fail(value, "tasks must be a list of tasks");
        break;
      }
      if (value.size() > kMaxTasks) {
        r.Fail(value, "a Dag may have at most " + std::to_string(kMaxTasks) + " tasks");
        break;
      }
      for (const auto& item : value) {
        if (r.problem) break;
        TaskSpec task;
        task_lines.push_back(LineOf(item));
        bool has_task_id = false, has_command = false;
        auto entries = r.Mapping(item, "a task", kTaskKeys);
        // The task id first, so that the other messages can name the task.
        for (const auto& [k, v] : entries) {
          if (k == "task_id") {
            task.task_id = r.Scalar(v, "task_id");
            has_task_id = true;
          }
        }
        const std::string where =
            has_task_id ? "task '" + task.task_id.substr(0, 80) + "': " : "a task: ";
        for (const auto& [k, v] : entries) {
          if (r.problem) break;
          if (k == "command") {
            has_command = true;
            if (v.IsScalar()) {
              r.Fail(v, where + "command must be a list (argv), not a string: no shell parses it");
            } else {
              task.command = r.Strings(v, where + "command");
            }
          } else if (k == "upstream") {
            task.upstream = r.Strings(v, where + "upstream");
          } else if (k == "retries") {
            task.retries = static_cast<int>(r.Integer(v, where + "retries", 0, kMaxRetries));
          } else if (k == "retry_delay") {
            task.retry_delay_seconds = r.Duration(v, where + "retry_delay");
          } else if (k == "execution_timeout") {
            if (!v.IsNull())
              task.execution_timeout_seconds = r.Duration(v, where + "execution_timeout");
          } else if (k == "env") {
            if (v.IsNull()) continue;
            for (const auto& [name, val] : r.Mapping(v, where + "env", {})) {
              if (r.problem) break;
              task.env[name] = r.Scalar(val, where + "env '" + name.substr(0, 80) + "'");
            }
          } else if (k == "run_as_user") {
            if (!v.IsNull()) task.run_as_user = r.Scalar(v, where + "run_as_user");
          } else if (k == "trigger_rule") {
            std::string rule = r.Scalar(v, where + "trigger_rule");
            auto parsed = ParseTriggerRule(rule);
            if (!r.problem && !parsed) {
              r.Fail(v, where + "trigger_rule must be all_success or all_done");
            }
            task.trigger_rule = parsed.value_or(TriggerRule::kAllSuccess);
          }
        }
        if (!r.problem && !has_task_id) r.Fail(item, "a task has no task_id");
        if (!r.problem && !has_command) r.Fail(item, where + "command is required");
        dag.tasks.push_back(std::move(task));
      }
    }
  }
  if (!r.problem && !has_dag_id) r.Fail(root, "dag_id is required");
  if (!r.problem && !has_tasks) r.Fail(root, "tasks is required");
  return dag;
}

}  // namespace

Result<DagSpec> ParseYamlDag(std::string_view text, std::string_view file_name) {
  const std::string file(file_name);
  auto fail = [&](int line, std::string_view message) {
    return InvalidArgument(file + (line > 0 ? ":" + std::to_string(line) : "") + ": " +
                           std::string(message));
  };
  if (text.size() > kMaxYamlBytes) {
    return fail(0, "file is larger than " + std::to_string(kMaxYamlBytes) + " bytes");
  }
  if (text.find('\0') != std::string_view::npos) return fail(0, "file contains a NUL byte");
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    // e.msg is yaml-cpp's description without the position, which we add ourselves.
    return fail(e.mark.is_null() ? 0 : e.mark.line + 1, "not valid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return fail(0, std::string("not valid YAML: ") + e.what());
  }
  if (documents.empty()) return fail(0, "file is empty");
  if (documents.size() > 1)
    return fail(LineOf(documents[1]), "one Dag per file: found several YAML documents");
  Reader reader;
  std::vector<int> task_lines;
  DagSpec dag;
  try {
    dag = ReadDag(reader, documents[0], task_lines);
  } catch (const YAML::Exception& e) {
    return fail(e.mark.is_null() ? 0 : e.mark.line + 1, e.msg);
  }
  if (reader.problem) return fail(reader.problem->line, reader.problem->message);
  size_t index = 0;
  if (auto valid = ValidateDag(dag, &index); !valid) {
    int line = index < task_lines.size() ? task_lines[index] : LineOf(documents[0]);
    return fail(line, valid.error().message());
  }
  return dag;
}

}  // namespace airlock::dags

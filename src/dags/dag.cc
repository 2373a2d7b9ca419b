#include "dags/dag.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <functional>
#include <set>

#include "json/strict_json.h"

namespace airlock::dags {

namespace json = boost::json;

namespace {

// How deep a serialized Dag may nest: Boost.JSON's default, the limit before the parse was
// strict (the form itself needs four levels).
constexpr int kMaxSerializedDagDepth = 32;

std::string Quoted(std::string_view s) { return "'" + std::string(s.substr(0, 80)) + "'"; }

// SPEC §8's sensitive words: an env name that contains one is refused (a Dag file is not a
// secret store, and its serialized form is readable by every viewer of the Dag).
constexpr std::string_view kSensitiveWords[] = {
    "access_token", "api_key",  "apikey",      "authorization", "passphrase",
    "passwd",       "password", "private_key", "secret",        "token"};

bool IsEnvName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool LooksSensitive(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::any_of(std::begin(kSensitiveWords), std::end(kSensitiveWords),
                     [&](std::string_view word) { return lower.find(word) != std::string::npos; });
}

// POSIX portable user names, as useradd accepts them.
bool IsUserName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  if (!(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace

std::string_view TriggerRuleName(TriggerRule rule) {
  return rule == TriggerRule::kAllDone ? "all_done" : "all_success";
}

std::optional<TriggerRule> ParseTriggerRule(std::string_view name) {
  if (name == "all_success") return TriggerRule::kAllSuccess;
  if (name == "all_done") return TriggerRule::kAllDone;
  return std::nullopt;
}

Result<int64_t> ParseDuration(std::string_view text) {
  const std::string kForms = " (seconds, or a number followed by s, m, h or d: \"90s\", \"5m\")";
  std::string_view digits = text;
  int64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's':
        unit = 1;
        digits.remove_suffix(1);
        break;
      case 'm':
        unit = 60;
        digits.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        digits.remove_suffix(1);
        break;
      case 'd':
        unit = 86400;
        digits.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n < 0) {
    return InvalidArgument("not a duration: " + Quoted(text) + kForms);
  }
  // Ten years is far beyond any sensible delay or timeout, and keeps arithmetic in range.
  constexpr int64_t kMaxSeconds = int64_t{10} * 366 * 86400;
  if (n > kMaxSeconds / unit) return InvalidArgument("duration " + Quoted(text) + " is too long");
  return n * unit;
}

std::optional<std::string> ScheduleText(const Schedule& schedule) {
  switch (schedule.kind) {
    case Schedule::Kind::kNone:
      return std::nullopt;
    case Schedule::Kind::kOnce:
      return "@once";
    case Schedule::Kind::kInterval:
      break;
  }
  const int64_t s = schedule.interval_seconds;
  if (s % 86400 == 0) return "every " + std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return "every " + std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return "every " + std::to_string(s / 60) + "m";
  return "every " + std::to_string(s) + "s";
}

Result<Schedule> ParseSchedule(std::string_view text) {
  if (text.empty() || text == "none" || text == "manual") return Schedule{};
  if (text == "@once") return Schedule{.kind = Schedule::Kind::kOnce};
  if (text.starts_with("every ")) {
    auto seconds = ParseDuration(text.substr(6));
    if (seconds && *seconds > 0) {
      return Schedule{.kind = Schedule::Kind::kInterval, .interval_seconds = *seconds};
    }
  }
  return InvalidArgument("schedule " + Quoted(text) +
                         " is not one of: none, manual, @once, \"every <N><s|m|h|d>\"");
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

const TaskSpec* DagSpec::FindTask(std::string_view task_id) const {
  for (const TaskSpec& task : tasks) {
    if (task.task_id == task_id) return &task;
  }
  return nullptr;
}

Result<void> ValidateDag(const DagSpec& dag, size_t* task_index) {
  size_t ignored = 0;
  size_t& index = task_index != nullptr ? *task_index : ignored;
  index = dag.tasks.size();
  if (!IsValidId(dag.dag_id)) {
    return InvalidArgument("dag_id " + Quoted(dag.dag_id) +
                           " must be 1-250 characters of letters, digits, '_', '.' and '-'");
  }
  if (HasNul(dag.description) || HasNul(dag.fileloc) || HasNul(dag.bundle_name) ||
      HasNul(dag.bundle_version)) {
    return InvalidArgument("text fields may not contain NUL characters");
  }
  if (dag.max_active_runs < 1) return InvalidArgument("max_active_runs must be at least 1");
  if (dag.schedule.kind == Schedule::Kind::kInterval && dag.schedule.interval_seconds <= 0) {
    return InvalidArgument("schedule interval must be positive");
  }
  if (dag.tasks.empty()) return InvalidArgument("a Dag needs at least one task");
  if (dag.tasks.size() > kMaxTasks) {
    return InvalidArgument("a Dag may have at most " + std::to_string(kMaxTasks) + " tasks");
  }
  std::set<std::string_view> ids;
  for (const TaskSpec& task : dag.tasks) {
    index = static_cast<size_t>(&task - dag.tasks.data());
    if (!IsValidId(task.task_id)) {
      return InvalidArgument("task_id " + Quoted(task.task_id) +
                             " must be 1-250 characters of letters, digits, '_', '.' and '-'");
    }
    if (!ids.insert(task.task_id).second) {
      return InvalidArgument("task_id " + Quoted(task.task_id) + " is used twice");
    }
  }
  for (const TaskSpec& task : dag.tasks) {
    index = static_cast<size_t>(&task - dag.tasks.data());
    const std::string where = "task " + Quoted(task.task_id) + ": ";
    if (task.command.empty() || task.command[0].empty()) {
      return InvalidArgument(where + "command must be a non-empty list of strings");
    }
    if (task.command.size() > kMaxCommandArgs) {
      return InvalidArgument(where + "command has more than " + std::to_string(kMaxCommandArgs) +
                             " arguments");
    }
    for (const std::string& arg : task.command) {
      if (HasNul(arg)) return InvalidArgument(where + "command arguments may not contain NUL");
    }
    std::set<std::string_view> seen;
    for (const std::string& up : task.upstream) {
      if (up == task.task_id) return InvalidArgument(where + "a task cannot be its own upstream");
      if (ids.count(up) == 0) {
        return InvalidArgument(where + "upstream " + Quoted(up) + " is not a task of this Dag");
      }
      if (!seen.insert(up).second) {
        return InvalidArgument(where + "upstream " + Quoted(up) + " is listed twice");
      }
    }
    if (task.retries < 0 || task.retries > kMaxRetries) {
      return InvalidArgument(where + "retries must be between 0 and " +
                             std::to_string(kMaxRetries));
    }
    if (task.retry_delay_seconds < 0) return InvalidArgument(where + "retry_delay is negative");
    if (task.execution_timeout_seconds && *task.execution_timeout_seconds <= 0) {
      return InvalidArgument(where + "execution_timeout must be positive");
    }
    for (const auto& [name, value] : task.env) {
      if (!IsEnvName(name)) {
        return InvalidArgument(where + "env name " + Quoted(name) +
                               " must match [A-Za-z_][A-Za-z0-9_]*");
      }
      if (LooksSensitive(name)) {
        return InvalidArgument(where + "env " + Quoted(name) +
                               " looks like a secret: Dag files are readable by every viewer; "
                               "use a connection or a variable");
      }
      if (HasNul(value)) return InvalidArgument(where + "env values may not contain NUL");
    }
    if (task.run_as_user && !IsUserName(*task.run_as_user)) {
      return InvalidArgument(where + "run_as_user " + Quoted(*task.run_as_user) +
                             " is not a valid user name");
    }
  }
  // Cycle detection: depth-first search with colours; the cycle is named in the message.
  std::map<std::string_view, const TaskSpec*> by_id;
  for (const TaskSpec& task : dag.tasks) by_id[task.task_id] = &task;
  enum Colour { kWhite, kGrey, kBlack };
  std::map<std::string_view, Colour> colour;
  std::vector<std::string_view> path;
  std::optional<std::string> cycle;
  // Iterative, so that a hostile 1000-task chain cannot exhaust the stack.
  for (const TaskSpec& root : dag.tasks) {
    index = static_cast<size_t>(&root - dag.tasks.data());
    if (colour[root.task_id] != kWhite) continue;
    std::vector<std::pair<const TaskSpec*, size_t>> stack{{&root, 0}};
    colour[root.task_id] = kGrey;
    path.push_back(root.task_id);
    while (!stack.empty() && !cycle) {
      auto& [task, next] = stack.back();
      if (next == task->upstream.size()) {
        colour[task->task_id] = kBlack;
        path.pop_back();
        stack.pop_back();
        continue;
      }
      std::string_view up = task->upstream[next++];
      if (colour[up] == kGrey) {
        auto start = std::find(path.begin(), path.end(), up);
        std::string text;
        for (auto it = start; it != path.end(); ++it) text += std::string(*it) + " <- ";
        cycle = text + std::string(up);
      } else if (colour[up] == kWhite) {
        colour[up] = kGrey;
        path.push_back(up);
        stack.emplace_back(by_id[up], 0);
      }
    }
    if (cycle) return InvalidArgument("tasks form a cycle: " + *cycle);
  }
  index = dag.tasks.size();
  return {};
}

std::vector<const TaskSpec*> TopologicalOrder(const DagSpec& dag) {
  std::vector<const TaskSpec*> order;
  std::set<std::string_view> placed;
  while (order.size() < dag.tasks.size()) {
    size_t before = order.size();
    for (const TaskSpec& task : dag.tasks) {
      if (placed.count(task.task_id)) continue;
      if (std::all_of(task.upstream.begin(), task.upstream.end(),
                      [&](const std::string& up) { return placed.count(up) > 0; })) {
        order.push_back(&task);
        placed.insert(task.task_id);
      }
    }
    if (order.size() == before) break;  // a cycle: ValidateDag refuses these
  }
  return order;
}

std::string SerializeDag(const DagSpec& dag) {
  json::array tasks;
  for (const TaskSpec& task : dag.tasks) {
    json::array command(task.command.begin(), task.command.end());
    json::array upstream(task.upstream.begin(), task.upstream.end());
    json::object env;
    for (const auto& [name, value] : task.env) env[name] = value;
    json::object t;
    t["task_id"] = task.task_id;
    t["command"] = std::move(command);
    t["upstream"] = std::move(upstream);
    t["retries"] = task.retries;
    t["retry_delay"] = task.retry_delay_seconds;
    t["execution_timeout"] = task.execution_timeout_seconds
                                 ? json::value(*task.execution_timeout_seconds)
                                 : json::value(nullptr);
    t["env"] = std::move(env);
    t["run_as_user"] = task.run_as_user ? json::value(*task.run_as_user) : json::value(nullptr);
    t["trigger_rule"] = TriggerRuleName(task.trigger_rule);
    tasks.push_back(std::move(t));
  }
  json::object out;
  out["dag_id"] = dag.dag_id;
  out["description"] = dag.description;
  auto schedule = ScheduleText(dag.schedule);
  out["schedule"] = schedule ? json::value(*schedule) : json::value(nullptr);
  out["max_active_runs"] = dag.max_active_runs;
  out["fileloc"] = dag.fileloc;
  out["bundle"] = json::object{{"name", dag.bundle_name}, {"version", dag.bundle_version}};
  out["tasks"] = std::move(tasks);
  return json::serialize(out);
}

namespace {

// Readers for ParseSerializedDag: each names the field it failed on.
struct JsonReader {
  std::string where;
  std::optional<Error> error;

  void Fail(const std::string& field, std::string_view problem) {
    if (!error)
      error = Error(ErrorCode::kInvalidArgument, where + field + " " + std::string(problem));
  }
  std::string String(const json::object& o, std::string_view field, bool required = true) {
    const json::value* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) {
      if (required) Fail(std::string(field), "is required");
      return {};
    }
    if (!v->is_string()) {
      Fail(std::string(field), "must be a string");
      return {};
    }
    return std::string(v->as_string());
  }
  std::optional<std::string> OptString(const json::object& o, std::string_view field) {
    const json::value* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return String(o, field);
  }
  std::optional<int64_t> OptInt(const json::object& o, std::string_view field) {
    const json::value* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT32_MAX) * 1000) {
      return static_cast<int64_t>(v->as_uint64());
    }
    Fail(std::string(field), "must be an integer");
    return std::nullopt;
  }
  std::vector<std::string> Strings(const json::object& o, std::string_view field) {
    std::vector<std::string> out;
    const json::value* v = o.if_contains(field);
    if (v == nullptr || v->is_null()) return out;
    if (!v->is_array()) {
      Fail(std::string(field), "must be a list of strings");
      return out;
    }
    for (const json::value& item : v->as_array()) {
      if (!item.is_string()) {
        Fail(std::string(field), "must be a list of strings");
        return {};
      }
      out.emplace_back(item.as_string());
    }
    return out;
  }
};

}  // namespace

Result<DagSpec> ParseSerializedDag(std::string_view text) {
  auto value = ParseNamedJsonObject(text, "serialized Dag", kMaxSerializedDagDepth);
  if (!value) return std::unexpected(value.error());
  const json::object& o = *value;
  JsonReader r;
  DagSpec dag;
  dag.dag_id = r.String(o, "dag_id");
  dag.description = r.String(o, "description", false);
  if (auto schedule = r.OptString(o, "schedule")) {
    auto parsed = ParseSchedule(*schedule);
    if (!parsed) return std::unexpected(parsed.error());
    dag.schedule = *parsed;
  }
  if (auto n = r.OptInt(o, "max_active_runs")) {
    if (*n < 1 || *n > INT32_MAX) r.Fail("max_active_runs", "must be at least 1");
    dag.max_active_runs = static_cast<int>(std::clamp<int64_t>(*n, 1, INT32_MAX));
  }
  dag.fileloc = r.String(o, "fileloc", false);
  if (const json::value* bundle = o.if_contains("bundle"); bundle && !bundle->is_null()) {
    if (!bundle->is_object()) {
      r.Fail("bundle", "must be an object");
    } else {
      dag.bundle_name = r.String(bundle->as_object(), "name", false);
      dag.bundle_version = r.String(bundle->as_object(), "version", false);
    }
  }
  const json::value* tasks = o.if_contains("tasks");
  if (tasks == nullptr || !tasks->is_array()) return InvalidArgument("tasks must be a list");
  if (tasks->as_array().size() > kMaxTasks) {
    return InvalidArgument("a Dag may have at most " + std::to_string(kMaxTasks) + " tasks");
  }
  for (const json::value& item : tasks->as_array()) {
    if (!item.is_object()) return InvalidArgument("each task must be an object");
    const json::object& t = item.as_object();
    TaskSpec task;
    task.task_id = r.String(t, "task_id");
    r.where = "task " + Quoted(task.task_id) + ": ";
    task.command = r.Strings(t, "command");
    task.upstream = r.Strings(t, "upstream");
    if (auto n = r.OptInt(t, "retries")) {
      task.retries = static_cast<int>(std::clamp<int64_t>(*n, -1, kMaxRetries + 1));
    }
    if (auto n = r.OptInt(t, "retry_delay")) task.retry_delay_seconds = *n;
    task.execution_timeout_seconds = r.OptInt(t, "execution_timeout");
    if (const json::value* env = t.if_contains("env"); env && !env->is_null()) {
      if (!env->is_object()) {
        r.Fail("env", "must be an object of strings");
      } else {
        for (const auto& entry : env->as_object()) {
          if (!entry.value().is_string()) {
            r.Fail("env", "must be an object of strings");
            break;
          }
          task.env[std::string(entry.key())] = std::string(entry.value().as_string());
        }
      }
    }
    task.run_as_user = r.OptString(t, "run_as_user");
    if (auto rule = r.OptString(t, "trigger_rule")) {
      auto parsed = ParseTriggerRule(*rule);
      if (!parsed) r.Fail("trigger_rule", "must be all_success or all_done");
      task.trigger_rule = parsed.value_or(TriggerRule::kAllSuccess);
    }
    r.where.clear();
    if (r.error) return std::unexpected(*r.error);
    dag.tasks.push_back(std::move(task));
  }
  if (r.error) return std::unexpected(*r.error);
  if (auto valid = ValidateDag(dag); !valid) return std::unexpected(valid.error());
  return dag;
}

}  // namespace airlock::dags

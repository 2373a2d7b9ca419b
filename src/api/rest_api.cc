#include "api/rest_api.h"

#include <boost/json.hpp>
#include <charconv>
#include <fstream>
#include <sstream>

#include "api/form.h"
#include "common/time_format.h"
#include "http/json_checks.h"

namespace airlock::api {

namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

struct Ctx {
  store::Store& store;
  const Clock& clock;
  const RestApiOptions& options;
  const Principal& principal;
};

}  // namespace

struct RestApi::Route {
  RouteInfo info;
  std::function<Response(const Ctx&, const Request&, const PathParams&)> handler;
};

namespace {

constexpr std::string_view kPrefix = "/api/v2";

json::value TimeOrNull(const std::optional<int64_t>& t) {
  return t ? json::value(FormatUtcSeconds(*t)) : json::value(nullptr);
}

json::value StringOrNull(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

Response JsonResponse(int status, const json::value& value) {
  return Response::Json(status, json::serialize(value));
}

Response StoreError(const Error& error) {
  // Store messages never hold a secret (store.h); they name the object.
  return Response::Detail(HttpStatus(error.code()), error.message());
}

Response Unprocessable(std::string_view message) { return Response::Detail(422, message); }

std::string Backticked(std::string_view s) { return "`" + std::string(s) + "`"; }

Response DagNotFound(std::string_view dag_id) {
  return Response::Detail(404, "The Dag with ID: " + Backticked(dag_id) + " was not found");
}

Response RunNotFound(std::string_view dag_id, std::string_view run_id) {
  return Response::Detail(404, "The DagRun with dag_id: " + Backticked(dag_id) +
                                   " and run_id: " + Backticked(run_id) + " was not found");
}

// The request body as a JSON object ({} for an empty body), or a 422.
std::expected<json::object, Response> BodyObject(const Request& request) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  auto value = http::ParseRequestJson(request.body, "Request body");
  if (!value) return std::unexpected(Unprocessable(value.error()));
  if (!value->is_object()) {
    return std::unexpected(Unprocessable("Request body must be a JSON object"));
  }
  return std::move(value->as_object());
}

// An optional string field: nullopt when absent or null; 422 when of another type.
std::expected<std::optional<std::string>, Response> OptionalString(const json::object& body,
                                                                   std::string_view name) {
  const json::value* v = body.if_contains(name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    return std::unexpected(Unprocessable("Field '" + std::string(name) + "' must be a string"));
  }
  return std::string(v->as_string());
}

std::expected<std::string, Response> RequiredString(const json::object& body,
                                                    std::string_view name) {
  auto value = OptionalString(body, name);
  if (!value) return std::unexpected(value.error());
  if (!*value || (*value)->empty()) {
    return std::unexpected(
        Unprocessable("Field '" + std::string(name) + "' is required and must be a string"));
  }
  return **value;
}

struct Page {
  int limit = kDefaultPageLimit;
  int offset = 0;
};

std::expected<Page, Response> ParsePage(const Request& request) {
  Page page;
  auto fields = ParseForm(request.query);
  if (!fields) return std::unexpected(Unprocessable("Malformed query string"));
  for (auto [name, field] : {std::pair{"limit", &page.limit}, std::pair{"offset", &page.offset}}) {
    auto value = FormValue(*fields, name);
    if (!value) continue;
    int v = 0;
    auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
    if (ec != std::errc() || end != value->data() + value->size() || v < 0) {
      return std::unexpected(
          Unprocessable("Query parameter '" + std::string(name) + "' must be an integer >= 0"));
    }
    *field = v;
  }
  page.limit = std::min(page.limit, kMaxPageLimit);
  return page;
}

// The page of `items` as {"<name>": [...], "total_entries": n}.
template <typename T, typename F>
Response PageOf(const std::vector<T>& items, const Page& page, std::string_view name, F to_json) {
  json::array out;
  for (size_t i = static_cast<size_t>(page.offset);
       i < items.size() && out.size() < static_cast<size_t>(page.limit); ++i) {
    out.push_back(to_json(items[i]));
  }
  return JsonResponse(200, json::object{{name, std::move(out)},
                                        {"total_entries", static_cast<int64_t>(items.size())}});
}

// --- Dags -------------------------------------------------------------------------------

json::object DagJson(const store::Dag& dag) {
  json::object out{
      {"dag_id", dag.dag_id},
      {"dag_display_name", dag.dag_id},
      {"is_paused", dag.is_paused},
      {"bundle_name", StringOrNull(dag.bundle_name)},
      {"relative_fileloc", StringOrNull(dag.relative_fileloc)},
      {"fileloc", StringOrNull(dag.relative_fileloc)},
      {"last_parsed_time",
       dag.updated_at ? json::value(FormatUtcSeconds(dag.updated_at)) : nullptr},
      {"description", nullptr},
      {"tags", json::array{}},
  };
  boost::system::error_code ec;
  json::value serialized = json::parse(dag.serialized_json, ec);
  if (!ec && serialized.is_object()) {
    if (const json::value* d = serialized.as_object().if_contains("description");
        d && d->is_string()) {
      out["description"] = *d;
    }
    if (const json::value* tags = serialized.as_object().if_contains("tags");
        tags && tags->is_array()) {
      json::array names;
      for (const json::value& tag : tags->as_array()) {
        if (tag.is_string()) names.push_back(json::object{{"name", tag}});
      }
      out["tags"] = std::move(names);
    }
  }
  return out;
}

Response ListDags(const Ctx& ctx, const Request& request, const PathParams&) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  auto dags = ctx.store.ListDags();
  if (!dags) return StoreError(dags.error());
  return PageOf(*dags, *page, "dags", DagJson);
}

Response GetDag(const Ctx& ctx, const Request&, const PathParams& params) {
  auto dag = ctx.store.GetDag(params.Get("dag_id"));
  if (!dag && dag.error().code() == ErrorCode::kNotFound) return DagNotFound(params.Get("dag_id"));
  if (!dag) return StoreError(dag.error());
  return JsonResponse(200, DagJson(*dag));
}

// Body {"is_paused": bool}. The Dag row is rewritten whole; a concurrent re-parse by the
// dag-processor may win, and then the pause is applied to its version on the next PATCH.
Response PatchDag(const Ctx& ctx, const Request& request, const PathParams& params) {
  auto body = BodyObject(request);
  if (!body) return body.error();
  const json::value* paused = body->if_contains("is_paused");
  if (paused == nullptr || !paused->is_bool()) {
    return Unprocessable("Field 'is_paused' is required and must be a boolean");
  }
  auto dag = ctx.store.GetDag(params.Get("dag_id"));
  if (!dag && dag.error().code() == ErrorCode::kNotFound) return DagNotFound(params.Get("dag_id"));
  if (!dag) return StoreError(dag.error());
  dag->is_paused = paused->as_bool();
  if (auto set = ctx.store.SetDag(*dag); !set) return StoreError(set.error());
  return JsonResponse(200, DagJson(*dag));
}

// --- Dag runs ---------------------------------------------------------------------------

std::string_view RunType(std::string_view run_id) {
  for (std::string_view type : {"scheduled", "backfill", "asset_triggered", "manual"}) {
    if (run_id.starts_with(type) && run_id.substr(type.size()).starts_with("__")) return type;
  }
  return "manual";
}

json::object DagRunJson(const store::DagRun& run) {
  boost::system::error_code ec;
  json::value conf = json::parse(run.conf_json, ec);
  if (ec) conf = json::object{};
  return json::object{
      {"dag_run_id", run.run_id},
      {"dag_id", run.dag_id},
      {"logical_date", FormatUtcSeconds(run.logical_date)},
      {"run_after", FormatUtcSeconds(run.logical_date)},
      {"start_date", TimeOrNull(run.start_date)},
      {"end_date", TimeOrNull(run.end_date)},
      {"state", store::DagRunStateName(run.state)},
      {"run_type", RunType(run.run_id)},
      {"conf", std::move(conf)},
  };
}

Response ListDagRuns(const Ctx& ctx, const Request& request, const PathParams& params) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  std::string_view dag_id = params.Get("dag_id");
  if (auto dag = ctx.store.GetDag(dag_id); !dag) {
    if (dag.error().code() == ErrorCode::kNotFound) return DagNotFound(dag_id);
    return StoreError(dag.error());
  }
  auto runs = ctx.store.ListDagRuns(dag_id);
  if (!runs) return StoreError(runs.error());
  return PageOf(*runs, *page, "dag_runs", DagRunJson);
}

Response GetDagRun(const Ctx& ctx, const Request&, const PathParams& params) {
  auto run = ctx.store.GetDagRun(params.Get("dag_id"), params.Get("dag_run_id"));
  if (!run && run.error().code() == ErrorCode::kNotFound) {
    return RunNotFound(params.Get("dag_id"), params.Get("dag_run_id"));
  }
  if (!run) return StoreError(run.error());
  return JsonResponse(200, DagRunJson(*run));
}

// Body {} or {"conf": {...}}, optionally "dag_run_id". Creates the run in state queued;
// the scheduler creates its task instances.
Response TriggerDagRun(const Ctx& ctx, const Request& request, const PathParams& params) {
  auto body = BodyObject(request);
  if (!body) return body.error();
  std::string_view dag_id = params.Get("dag_id");
  json::object conf;
  if (const json::value* c = body->if_contains("conf"); c != nullptr && !c->is_null()) {
    if (!c->is_object()) return Unprocessable("Field 'conf' must be a JSON object");
    conf = c->as_object();
  }
  auto run_id = OptionalString(*body, "dag_run_id");
  if (!run_id) return run_id.error();
  if (auto dag = ctx.store.GetDag(dag_id); !dag) {
    if (dag.error().code() == ErrorCode::kNotFound) return DagNotFound(dag_id);
    return StoreError(dag.error());
  }
  const int64_t now_micros = ctx.clock.NowMicros();
  store::DagRun run{
      .dag_id = std::string(dag_id),
      .run_id = run_id->value_or("manual__" + FormatUtcMicros(now_micros)),
      .state = store::DagRunState::kQueued,
      .logical_date = now_micros / 1000000,
      .conf_json = json::serialize(conf),
  };
  if (run.run_id.empty()) return Unprocessable("Field 'dag_run_id' must not be empty");
  if (auto created = ctx.store.CreateDagRun(run); !created) {
    if (created.error().code() == ErrorCode::kAlreadyExists) {
      return Response::Detail(409, "DagRun with dag_id: " + Backticked(dag_id) + " and run_id: " +
                                       Backticked(run.run_id) + " already exists");
    }
    return StoreError(created.error());
  }
  return JsonResponse(200, DagRunJson(run));
}

// --- Task instances and their logs ---------------------------------------------------------

json::object TaskInstanceJson(const store::TaskInstance& ti) {
  return json::object{
      {"id", ti.id},
      {"task_id", ti.task_id},
      {"dag_id", ti.dag_id},
      {"dag_run_id", ti.run_id},
      {"map_index", ti.map_index},
      {"try_number", ti.try_number},
      {"state", store::TaskStateName(ti.state)},
      {"start_date", TimeOrNull(ti.start_date)},
      {"end_date", TimeOrNull(ti.end_date)},
      {"queued_when", TimeOrNull(ti.queued_at)},
      {"hostname", StringOrNull(ti.hostname)},
      {"pid", ti.pid == 0 ? json::value(nullptr) : json::value(ti.pid)},
  };
}

Response ListTaskInstances(const Ctx& ctx, const Request& request, const PathParams& params) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  std::string_view dag_id = params.Get("dag_id"), run_id = params.Get("dag_run_id");
  if (auto run = ctx.store.GetDagRun(dag_id, run_id); !run) {
    if (run.error().code() == ErrorCode::kNotFound) return RunNotFound(dag_id, run_id);
    return StoreError(run.error());
  }
  auto tis = ctx.store.ListTaskInstances(dag_id, run_id);
  if (!tis) return StoreError(tis.error());
  return PageOf(*tis, *page, "task_instances", TaskInstanceJson);
}

// The run's task instance `task_id` (map_index -1, or the first mapped one).
Response GetTaskInstance(const Ctx& ctx, const Request&, const PathParams& params) {
  std::string_view dag_id = params.Get("dag_id"), run_id = params.Get("dag_run_id");
  auto tis = ctx.store.ListTaskInstances(dag_id, run_id);
  if (!tis) return StoreError(tis.error());
  for (const store::TaskInstance& ti : *tis) {
    if (ti.task_id == params.Get("task_id")) return JsonResponse(200, TaskInstanceJson(ti));
  }
  return Response::Detail(404, "TaskInstance not found");
}

// `s` with every byte that is not part of a well-formed UTF-8 sequence replaced by '?'.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 2 && c < 0xc2) ok = false;  // overlong
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

// A path component that cannot climb out of its folder.
bool SafeComponent(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

// {"content": [...], "continuation_token": null}: each line a JSON object (the
// supervisor's structured lines as they are, other lines as {"event": line}); or the text
// itself for Accept: text/plain. Lines pass the masker.
Response GetTaskLog(const Ctx& ctx, const Request& request, const PathParams& params) {
  std::string_view dag_id = params.Get("dag_id"), run_id = params.Get("dag_run_id"),
                   task_id = params.Get("task_id"), try_text = params.Get("try_number");
  int try_number = 0;
  auto [end, ec] = std::from_chars(try_text.data(), try_text.data() + try_text.size(), try_number);
  if (ec != std::errc() || end != try_text.data() + try_text.size() || try_number < 1) {
    return Unprocessable("try_number must be a positive integer");
  }
  auto tis = ctx.store.ListTaskInstances(dag_id, run_id);
  if (!tis) return StoreError(tis.error());
  auto ti = std::find_if(tis->begin(), tis->end(),
                         [&](const store::TaskInstance& t) { return t.task_id == task_id; });
  if (ti == tis->end()) return Response::Detail(404, "TaskInstance not found");
  if (!SafeComponent(dag_id) || !SafeComponent(run_id) || !SafeComponent(task_id) ||
      ctx.options.base_log_folder.empty()) {
    return Response::Detail(404, "Log not found");
  }
  const std::string path = ctx.options.base_log_folder + "/dag_id=" + std::string(dag_id) +
                           "/run_id=" + std::string(run_id) + "/task_id=" + std::string(task_id) +
                           "/attempt=" + std::to_string(try_number) + ".log";
  std::ifstream file(path, std::ios::binary);
  if (!file) return Response::Detail(404, "Log not found");
  file.seekg(0, std::ios::end);
  const std::streamoff size = file.tellg();
  const std::streamoff start =
      size > static_cast<std::streamoff>(kMaxLogBytes) ? size - kMaxLogBytes : 0;
  file.seekg(start);
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (start > 0) {
    size_t newline = text.find('\n');
    text = newline == std::string::npos ? std::string() : text.substr(newline + 1);
  }
  if (ctx.options.masker) text = ctx.options.masker->Mask(text);
  if (request.Header("Accept").find("text/plain") != std::string_view::npos) {
    Response response;
    response.status = 200;
    response.SetHeader("Content-Type", "text/plain; charset=utf-8");
    response.body = std::move(text);
    return response;
  }
  json::array content;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    boost::system::error_code jec;
    json::value parsed = json::parse(line, jec);
    if (!jec && parsed.is_object()) {
      content.push_back(std::move(parsed));
    } else {
      // serialize() would pass bytes that are not UTF-8 on into the JSON: replace them.
      content.push_back(json::object{{"event", ValidUtf8(line)}});
    }
  }
  return JsonResponse(
      200, json::object{{"content", std::move(content)}, {"continuation_token", nullptr}});
}

// --- Variables --------------------------------------------------------------------------

json::object VariableJson(const store::Variable& v) {
  return json::object{
      {"key", v.key},
      {"value", SecretsMasker::IsSensitiveKey(v.key) ? json::value("***") : json::value(v.value)},
      {"description", StringOrNull(v.description)},
      {"is_encrypted", false},
  };
}

Response ListVariables(const Ctx& ctx, const Request& request, const PathParams&) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  auto variables = ctx.store.ListVariables();
  if (!variables) return StoreError(variables.error());
  return PageOf(*variables, *page, "variables", VariableJson);
}

Response VariableNotFound(std::string_view key) {
  return Response::Detail(404, "The Variable with key: " + Backticked(key) + " was not found");
}

Response GetVariable(const Ctx& ctx, const Request&, const PathParams& params) {
  auto v = ctx.store.GetVariable(params.Get("variable_key"));
  if (!v && v.error().code() == ErrorCode::kNotFound) {
    return VariableNotFound(params.Get("variable_key"));
  }
  if (!v) return StoreError(v.error());
  return JsonResponse(200, VariableJson(*v));
}

Response PostVariable(const Ctx& ctx, const Request& request, const PathParams&) {
  auto body = BodyObject(request);
  if (!body) return body.error();
  auto key = RequiredString(*body, "key");
  if (!key) return key.error();
  const json::value* value = body->if_contains("value");
  if (value == nullptr || !value->is_string()) {
    return Unprocessable("Field 'value' is required and must be a string");
  }
  auto description = OptionalString(*body, "description");
  if (!description) return description.error();
  if (auto existing = ctx.store.GetVariable(*key); existing) {
    return Response::Detail(409, "The Variable with key: " + Backticked(*key) + " already exists");
  }
  store::Variable v{.key = *key,
                    .value = std::string(value->as_string()),
                    .description = description->value_or("")};
  if (auto set = ctx.store.SetVariable(v); !set) return StoreError(set.error());
  return JsonResponse(201, VariableJson(v));
}

Response PatchVariable(const Ctx& ctx, const Request& request, const PathParams& params) {
  auto body = BodyObject(request);
  if (!body) return body.error();
  std::string_view key = params.Get("variable_key");
  auto body_key = OptionalString(*body, "key");
  if (!body_key) return body_key.error();
  if (*body_key && **body_key != key) {
    return Response::Detail(400, "Invalid body, key from request body doesn't match uri parameter");
  }
  auto v = ctx.store.GetVariable(key);
  if (!v && v.error().code() == ErrorCode::kNotFound) return VariableNotFound(key);
  if (!v) return StoreError(v.error());
  if (const json::value* value = body->if_contains("value"); value != nullptr) {
    if (!value->is_string()) return Unprocessable("Field 'value' must be a string");
    v->value = std::string(value->as_string());
  }
  if (body->contains("description")) {
    auto description = OptionalString(*body, "description");
    if (!description) return description.error();
    v->description = description->value_or("");
  }
  if (auto set = ctx.store.SetVariable(*v); !set) return StoreError(set.error());
  return JsonResponse(200, VariableJson(*v));
}

Response DeleteVariable(const Ctx& ctx, const Request&, const PathParams& params) {
  auto deleted = ctx.store.DeleteVariable(params.Get("variable_key"));
  if (!deleted && deleted.error().code() == ErrorCode::kNotFound) {
    return VariableNotFound(params.Get("variable_key"));
  }
  if (!deleted) return StoreError(deleted.error());
  return Response::NoContent();
}

// --- Connections ------------------------------------------------------------------------

// Password fields as answered: never the password itself.
constexpr std::string_view kMasked = "***";

// The extra with the values of sensitive keys replaced (recursively); text that is not a
// JSON object under the rules extra is written with (ApplyConnectionFields) is answered
// "***" whole, since it cannot be inspected.
json::value MaskedExtra(const std::string& extra) {
  if (extra.empty()) return nullptr;
  auto value = http::ParseRequestJson(extra, "extra");
  if (!value || !value->is_object()) return json::value(kMasked);
  json::value& parsed = *value;
  std::function<void(json::value&)> mask = [&](json::value& v) {
    if (v.is_object()) {
      for (auto& [k, child] : v.as_object()) {
        if (SecretsMasker::IsSensitiveKey(k)) {
          child = kMasked;
        } else {
          mask(child);
        }
      }
    } else if (v.is_array()) {
      for (json::value& child : v.as_array()) mask(child);
    }
  };
  mask(parsed);
  return json::value(json::serialize(parsed));
}

json::object ConnectionJson(const store::Connection& c) {
  return json::object{
      {"connection_id", c.conn_id},
      {"conn_type", c.conn_type},
      {"description", nullptr},
      {"host", StringOrNull(c.host)},
      {"login", StringOrNull(c.login)},
      {"schema", StringOrNull(c.schema)},
      {"port", c.port == 0 ? json::value(nullptr) : json::value(c.port)},
      {"password", c.password.empty() ? json::value(nullptr) : json::value(kMasked)},
      {"extra", MaskedExtra(c.extra)},
  };
}

Response ConnectionNotFound(std::string_view id) {
  return Response::Detail(
      404, "The Connection with connection_id: " + Backticked(id) + " was not found");
}

// Applies the fields present in `body` to `c`. A password of "***" (what GET answers) or an
// absent one keeps the stored password: passwords are write-only.
std::optional<Response> ApplyConnectionFields(const json::object& body, store::Connection& c) {
  for (auto [name, field] : {std::pair{"conn_type", &c.conn_type}, std::pair{"host", &c.host},
                             std::pair{"login", &c.login}, std::pair{"schema", &c.schema},
                             std::pair{"extra", &c.extra}}) {
    if (!body.contains(name)) continue;
    auto value = OptionalString(body, name);
    if (!value) return value.error();
    *field = value->value_or("");
  }
  if (body.contains("password")) {
    auto password = OptionalString(body, "password");
    if (!password) return password.error();
    if (!*password || **password != kMasked) c.password = password->value_or("");
  }
  if (const json::value* port = body.if_contains("port"); port != nullptr) {
    if (port->is_null()) {
      c.port = 0;
    } else if (port->is_int64() && port->as_int64() >= 0 && port->as_int64() <= 65535) {
      c.port = static_cast<int>(port->as_int64());
    } else {
      return Unprocessable("Field 'port' must be an integer from 0 to 65535");
    }
  }
  // Only an extra the request sends: one stored before its rules were strict must not stop a
  // change of another field (a password rotation, say).
  if (body.contains("extra") && !c.extra.empty()) {
    auto parsed = http::ParseRequestJson(c.extra, "Field 'extra'");
    if (!parsed) return Unprocessable(parsed.error());
    if (!parsed->is_object()) return Unprocessable("Field 'extra' must be a JSON object");
  }
  return std::nullopt;
}

Response ListConnections(const Ctx& ctx, const Request& request, const PathParams&) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  auto connections = ctx.store.ListConnections();
  if (!connections) return StoreError(connections.error());
  return PageOf(*connections, *page, "connections", ConnectionJson);
}

Response GetConnection(const Ctx& ctx, const Request&, const PathParams& params) {
  auto c = ctx.store.GetConnection(params.Get("connection_id"));
  if (!c && c.error().code() == ErrorCode::kNotFound) {
    return ConnectionNotFound(params.Get("connection_id"));
  }
  if (!c) return StoreError(c.error());
  return JsonResponse(200, ConnectionJson(*c));
}

Response PostConnection(const Ctx& ctx, const Request& request, const PathParams&) {
  auto body = BodyObject(request);
  if (!body) return body.error();
  auto id = RequiredString(*body, "connection_id");
  if (!id) return id.error();
  auto type = RequiredString(*body, "conn_type");
  if (!type) return type.error();
  store::Connection c{.conn_id = *id};
  if (auto bad = ApplyConnectionFields(*body, c)) return *bad;
  if (auto existing = ctx.store.GetConnection(*id); existing) {
    return Response::Detail(
        409, "The Connection with connection_id: " + Backticked(*id) + " already exists");
  }
  if (auto set = ctx.store.SetConnection(c); !set) return StoreError(set.error());
  return JsonResponse(201, ConnectionJson(c));
}

Response PatchConnection(const Ctx& ctx, const Request& request, const PathParams& params) {
  auto body = BodyObject(request);
  if (!body) return body.error();
  std::string_view id = params.Get("connection_id");
  auto body_id = OptionalString(*body, "connection_id");
  if (!body_id) return body_id.error();
  if (*body_id && **body_id != id) {
    return Response::Detail(400, "The connection_id in the request body does not match the URL");
  }
  auto c = ctx.store.GetConnection(id);
  if (!c && c.error().code() == ErrorCode::kNotFound) return ConnectionNotFound(id);
  if (!c) return StoreError(c.error());
  if (auto bad = ApplyConnectionFields(*body, *c)) return *bad;
  if (auto set = ctx.store.SetConnection(*c); !set) return StoreError(set.error());
  return JsonResponse(200, ConnectionJson(*c));
}

Response DeleteConnection(const Ctx& ctx, const Request&, const PathParams& params) {
  auto deleted = ctx.store.DeleteConnection(params.Get("connection_id"));
  if (!deleted && deleted.error().code() == ErrorCode::kNotFound) {
    return ConnectionNotFound(params.Get("connection_id"));
  }
  if (!deleted) return StoreError(deleted.error());
  return Response::NoContent();
}

// --- Audit log and users ------------------------------------------------------------------

Response ListAuditLog(const Ctx& ctx, const Request& request, const PathParams&) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  auto entries = ctx.store.ListAudit(page->limit, page->offset);
  if (!entries) return StoreError(entries.error());
  auto total = ctx.store.CountAudit();
  if (!total) return StoreError(total.error());
  json::array out;
  for (const store::AuditEntry& e : *entries) {
    out.push_back(json::object{
        {"time", FormatUtcMicros(e.time)},
        {"component", e.component},
        {"jti", StringOrNull(e.jti)},
        {"sub", StringOrNull(e.sub)},
        {"method", e.method},
        {"path", e.path},
        {"status", e.status},
    });
  }
  return JsonResponse(200, json::object{{"audit_log", std::move(out)}, {"total_entries", *total}});
}

Response ListUsers(const Ctx& ctx, const Request& request, const PathParams&) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  auto users = ctx.store.ListUsers();
  if (!users) return StoreError(users.error());
  return PageOf(*users, *page, "users", [](const store::User& u) {
    // Never the password hash.
    return json::object{
        {"username", u.username}, {"role", u.role}, {"created_at", FormatUtcSeconds(u.created_at)}};
  });
}

// --- Import errors ------------------------------------------------------------------------

json::object ImportErrorJson(const store::ImportError& e) {
  return json::object{{"import_error_id", e.id},
                      {"timestamp", FormatUtcSeconds(e.timestamp)},
                      {"filename", e.filename},
                      {"bundle_name", e.bundle_name},
                      {"stack_trace", e.stack_trace}};
}

Response ListImportErrors(const Ctx& ctx, const Request& request, const PathParams&) {
  auto page = ParsePage(request);
  if (!page) return page.error();
  auto errors = ctx.store.ListImportErrors();
  if (!errors) return StoreError(errors.error());
  return PageOf(*errors, *page, "import_errors", ImportErrorJson);
}

Response GetImportError(const Ctx& ctx, const Request&, const PathParams& params) {
  const std::string_view text = params.Get("import_error_id");
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Unprocessable("Path parameter 'import_error_id' must be an integer");
  }
  auto errors = ctx.store.ListImportErrors();
  if (!errors) return StoreError(errors.error());
  for (const store::ImportError& e : *errors) {
    if (e.id == id) return JsonResponse(200, ImportErrorJson(e));
  }
  return Response::Detail(
      404, "The ImportError with import_error_id: " + Backticked(text) + " was not found");
}

const std::vector<RestApi::Route>& Table() {
  static const std::vector<RestApi::Route> table = [] {
    std::vector<RestApi::Route> t;
    auto add = [&](std::string method, std::string path, Role role, auto handler) {
      t.push_back(
          {.info = {.method = std::move(method), .path = std::string(kPrefix) + path, .role = role},
           .handler = handler});
    };
    add("GET", "/dags", Role::kViewer, ListDags);
    add("GET", "/dags/{dag_id}", Role::kViewer, GetDag);
    add("PATCH", "/dags/{dag_id}", Role::kUser, PatchDag);
    add("GET", "/dags/{dag_id}/dagRuns", Role::kViewer, ListDagRuns);
    add("POST", "/dags/{dag_id}/dagRuns", Role::kUser, TriggerDagRun);
    add("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}", Role::kViewer, GetDagRun);
    add("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", Role::kViewer,
        ListTaskInstances);
    add("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}", Role::kViewer,
        GetTaskInstance);
    add("GET", "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{try_number}",
        Role::kViewer, GetTaskLog);
    add("GET", "/variables", Role::kOp, ListVariables);
    add("POST", "/variables", Role::kOp, PostVariable);
    add("GET", "/variables/{variable_key}", Role::kOp, GetVariable);
    add("PATCH", "/variables/{variable_key}", Role::kOp, PatchVariable);
    add("DELETE", "/variables/{variable_key}", Role::kOp, DeleteVariable);
    add("GET", "/connections", Role::kOp, ListConnections);
    add("POST", "/connections", Role::kOp, PostConnection);
    add("GET", "/connections/{connection_id}", Role::kOp, GetConnection);
    add("PATCH", "/connections/{connection_id}", Role::kOp, PatchConnection);
    add("DELETE", "/connections/{connection_id}", Role::kOp, DeleteConnection);
    add("GET", "/importErrors", Role::kViewer, ListImportErrors);
    add("GET", "/importErrors/{import_error_id}", Role::kViewer, GetImportError);
    add("GET", "/auditLog", Role::kAdmin, ListAuditLog);
    add("GET", "/users", Role::kAdmin, ListUsers);
    return t;
  }();
  return table;
}

}  // namespace

RestApi::RestApi(store::Store& store, const SimpleAuthManager& auth, const Clock& clock,
                 RestApiOptions options)
    : store_(store), auth_(auth), clock_(clock), options_(std::move(options)) {}

Response RestApi::Guarded(const Route& route, const Request& request,
                          const PathParams& params) const {
  auto principal = auth_.Authorize(request, *route.info.role);
  if (!principal) {
    Response refused = std::move(principal.error());
    auth_.Audit(request, nullptr, refused.status);
    return refused;
  }
  Response response = route.handler(Ctx{store_, clock_, options_, *principal}, request, params);
  auth_.MaybeRefreshCookie(*principal, request, &response);
  auth_.Audit(request, &*principal, response.status);
  return response;
}

void RestApi::AddRoutes(http::Router& router) const {
  for (const Route& route : Table()) {
    router.Add(route.info.method, route.info.path,
               [this, &route](const Request& request, const PathParams& params) {
                 return Guarded(route, request, params);
               });
  }
  router.Add("GET", std::string(kPrefix) + "/openapi.json", [](const Request&, const PathParams&) {
    return Response::Json(200, std::string(OpenApiDocument()));
  });
}

std::vector<RouteInfo> RestApi::Routes() {
  std::vector<RouteInfo> routes;
  for (const Route& route : Table()) routes.push_back(route.info);
  routes.push_back({.method = "GET", .path = std::string(kPrefix) + "/openapi.json"});
  for (std::string path : {"/auth/token", "/auth/token/cli", "/auth/login", "/auth/logout"}) {
    routes.push_back({.method = "POST", .path = path});
  }
  routes.push_back({.method = "GET", .path = "/auth/logout"});
  return routes;
}

}  // namespace airlock::api

#include "execution_api/execution_api.h"

#include <boost/json.hpp>
#include <charconv>

#include "common/time_format.h"
#include "execution_api/auth.h"
#include "execution_api/dag_routes.h"
#include "execution_api/responses.h"
#include "execution_api/trigger_routes.h"
#include "http/json_checks.h"
#include "store/checks.h"

namespace airlock::execution_api {

namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;
using store::TaskInstance;
using store::TaskState;

// How an asynchronous route's handler answers: it owns what Finish() needs (the caller,
// which it lends to the handler meanwhile, and the server's Respond) until it is called.
// The route keeps the Route and the server keeps the Request until then. It is the size
// of a pointer, so that a callback holding it (the heartbeat's, queued in the group
// commit) fits in std::move_only_function's inline space: one allocation per call.
class ExecutionApi::Answer {
 public:
  Answer(const ExecutionApi& api, const Route& route, const Request& request, Caller caller,
         http::Respond respond)
      : call_(std::make_unique<Call>(api, route, request, std::move(caller), std::move(respond))) {}
  const Caller& caller() const { return call_->caller; }
  // Answers the call with `response`, the reissued token and the audit entry added. Once.
  void operator()(Response response);

 private:
  struct Call {
    const ExecutionApi& api;
    const Route& route;
    const Request& request;
    Caller caller;
    http::Respond respond;
  };
  std::unique_ptr<Call> call_;
};

// What a route does once its caller is authenticated and its token is alive.
struct ExecutionApi::Route {
  RoutePolicy policy;
  // How the "token only while the task is queued or running" rule is enforced:
  // kLookup reads the caller's task instance first; kByHandler means the handler's own
  // conditional update on the caller's task instance enforces it (the ti_self routes),
  // which saves a query on the hot heartbeat path; kNotRevoked is for tokens not tied to a
  // task instance (dag_processor): honoured until they expire unless their jti is revoked.
  enum class Liveness { kLookup, kByHandler, kNotRevoked } liveness = Liveness::kLookup;
  // A success moves the caller's task instance out of queued and running (PATCH …/state),
  // which ends its token: that answer carries no renewed one.
  bool success_ends_task = false;
  // One of the two is set: a handler that answers at once, or one that answers through its
  // Answer, possibly later and from another thread (the Caller it is given is valid until
  // it calls its Answer).
  std::function<Response(const ExecutionApi&, const Caller&, const Request&, const PathParams&)>
      handler;
  std::function<void(const ExecutionApi&, const Caller&, const Request&, const PathParams&, Answer)>
      async_handler;

  // Whether `response`, this route's answer to a caller whose token was alive when the
  // call began, shows it alive still (and so renewable). Where the handler enforces
  // liveness, only a success shows that it found the task instance (or trigger) alive:
  // 404 and 409 mean gone or no longer running, and a request refused before the handler
  // reached the row (422, 5xx) shows nothing. A success that ends the task does not.
  bool AliveAfter(const Response& response) const {
    const bool success = response.status >= 200 && response.status < 300;
    if (success && success_ends_task) return false;
    return liveness != Liveness::kByHandler || success;
  }
};

void ExecutionApi::Answer::operator()(Response response) {
  const std::unique_ptr<Call> call = std::move(call_);
  const bool alive = call->route.AliveAfter(response);
  call->api.Finish(&call->caller, alive, call->request, std::move(response),
                   std::move(call->respond));
}

namespace {

json::value TimeOrNull(const std::optional<int64_t>& t) {
  return t ? json::value(FormatUtcSeconds(*t)) : json::value(nullptr);
}

// An RFC 3339 date-time string, or a JSON number of Unix seconds.
std::optional<int64_t> ParseTime(const json::value& value) {
  if (value.is_int64()) return value.as_int64();
  if (value.is_uint64() && value.as_uint64() <= INT64_MAX) {
    return static_cast<int64_t>(value.as_uint64());
  }
  if (!value.is_string()) return std::nullopt;
  return ParseRfc3339(value.as_string());
}

Response TaskInstanceNotFound() { return NotFoundResponse("Task instance"); }

std::expected<int, Response> RequiredPid(const json::object& body) {
  auto it = body.find("pid");
  if (it != body.end() && it->value().is_int64()) {
    int64_t pid = it->value().as_int64();
    if (pid > 0 && pid <= INT32_MAX) return static_cast<int>(pid);
  }
  return std::unexpected(Unprocessable("Field 'pid' must be a positive integer"));
}

json::object TaskInstanceJson(const TaskInstance& ti) {
  return json::object{
      {"id", ti.id},
      {"dag_id", ti.dag_id},
      {"run_id", ti.run_id},
      {"task_id", ti.task_id},
      {"try_number", ti.try_number},
      {"map_index", ti.map_index},
      {"state", store::TaskStateName(ti.state)},
      {"hostname", ti.hostname},
      {"pid", ti.pid},
      {"start_date", TimeOrNull(ti.start_date)},
  };
}

// The map_index query parameter of XCom routes; -1 (unmapped) when absent.
std::optional<int> MapIndex(const Request& request) {
  std::string_view query = request.query;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.starts_with("map_index=")) {
      std::string_view digits = pair.substr(10);
      int v = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc() || end != digits.data() + digits.size() || v < -1) return std::nullopt;
      return v;
    }
  }
  return -1;
}

// Which connection fields a task sees: all of them, the password included — the task is
// the one that uses it. The supervisor registers the password with its masker.
json::object ConnectionJson(const store::Connection& c) {
  return json::object{
      {"conn_id", c.conn_id},
      {"conn_type", c.conn_type},
      {"host", c.host.empty() ? json::value(nullptr) : json::value(c.host)},
      {"schema", c.schema.empty() ? json::value(nullptr) : json::value(c.schema)},
      {"login", c.login.empty() ? json::value(nullptr) : json::value(c.login)},
      {"password", c.password.empty() ? json::value(nullptr) : json::value(c.password)},
      {"port", c.port == 0 ? json::value(nullptr) : json::value(c.port)},
      {"extra", c.extra.empty() ? json::value(nullptr) : json::value(c.extra)},
  };
}

}  // namespace

ExecutionApi::ExecutionApi(store::Store& store, const jwt::Validator& validator,
                           const jwt::TokenSigner& signer, const Clock& clock, AuditWriter* audit,
                           ExecutionApiOptions options)
    : store_(store),
      validator_(validator),
      signer_(signer),
      clock_(clock),
      audit_(audit),
      options_(std::move(options)),
      heartbeats_(std::make_unique<HeartbeatBatcher>(store)) {}

void ExecutionApi::Guarded(const Route& route, const Request& request, const PathParams& params,
                           http::Respond respond) const {
  auto caller = Authenticate(request, validator_, route.policy, params.Get("id"));
  if (!caller) {
    // A valid token refused for its scope, type or subject is audited with its jti (and
    // never renewed).
    Refusal& refusal = caller.error();
    std::optional<Caller> refused;
    if (refusal.claims) refused = Caller{std::move(refusal.claims)};
    return Finish(refused ? &*refused : nullptr, false, request, std::move(refusal.response),
                  std::move(respond));
  }
  if (route.liveness == Route::Liveness::kNotRevoked) {
    const std::string_view jti = caller->claims->jti ? *caller->claims->jti : std::string_view();
    // A jti the store cannot hold (a NUL in it) could never be revoked, so the store need
    // not be asked. airlock mints UUIDs.
    if (!store::IsStorableText(jti)) {
      return Finish(&*caller, false, request,
                    Response::Detail(403, "Invalid auth token: token cannot be revoked"),
                    std::move(respond));
    }
    auto revoked = store_.IsTokenRevoked(jti);
    if (!revoked) {
      return Finish(&*caller, false, request, StoreFailure(revoked.error()), std::move(respond));
    }
    if (*revoked || jti.empty()) {
      return Finish(&*caller, false, request,
                    Response::Detail(403, "Invalid auth token: token has been revoked"),
                    std::move(respond));
    }
  } else if (route.liveness == Route::Liveness::kLookup) {
    auto ti = store_.GetTaskInstance(caller->claims->sub.value_or(""));
    if (!ti && ti.error().code() != ErrorCode::kNotFound) {
      return Finish(&*caller, false, request, StoreFailure(ti.error()), std::move(respond));
    }
    if (!ti || (ti->state != TaskState::kQueued && ti->state != TaskState::kRunning)) {
      return Finish(
          &*caller, false, request,
          Response::Detail(403, "Invalid auth token: task instance is not queued or running"),
          std::move(respond));
    }
  }
  // A handler that throws is answered 500 by the HTTP layer (which logs it); the call is
  // audited here first, as every call is. The claims are held for that: an asynchronous
  // handler's answer, which owns the caller, is gone once the handler has thrown.
  auto audit_throw = [this, &request](const Caller& thrower) {
    Audit(&thrower, request.method, request.path, 500);
  };
  if (route.async_handler) {
    const Caller for_audit = *caller;
    Answer answer(*this, route, request, std::move(*caller), std::move(respond));
    const Caller& lent = answer.caller();
    try {
      return route.async_handler(*this, lent, request, params, std::move(answer));
    } catch (...) {
      audit_throw(for_audit);
      throw;
    }
  }
  Response response = [&] {
    try {
      return route.handler(*this, *caller, request, params);
    } catch (...) {
      audit_throw(*caller);
      throw;
    }
  }();
  const bool alive = route.AliveAfter(response);
  Finish(&*caller, alive, request, std::move(response), std::move(respond));
}

void ExecutionApi::Finish(const Caller* caller, bool alive, const Request& request,
                          Response response, http::Respond respond) const {
  if (caller != nullptr && alive &&
      ShouldReissue(*caller, clock_.NowSeconds(), options_.token_validity_seconds)) {
    auto fresh = signer_.Reissue(*caller->claims, options_.token_validity_seconds);
    if (fresh) response.SetHeader("Refreshed-API-Token", *fresh);
  }
  Audit(caller, request.method, request.path, response.status);
  respond(std::move(response));
}

void ExecutionApi::Audit(const Caller* caller, std::string_view method, std::string_view path,
                         int status) const {
  if (audit_ == nullptr) return;
  const jwt::Claims* claims = caller != nullptr ? caller->claims.get() : nullptr;
  audit_->Append({
      .time = clock_.NowMicros(),
      .component = options_.component,
      .jti = claims != nullptr && claims->jti ? std::string_view(*claims->jti) : "",
      .sub = claims != nullptr && claims->sub ? std::string_view(*claims->sub) : "",
      .method = method,
      .path = path,
      .status = status,
  });
}

std::optional<Caller> ExecutionApi::ValidCallerOf(const Request& request) const {
  auto token = BearerToken(request);
  if (!token) return std::nullopt;
  auto claims = validator_.ValidateShared(*token);
  if (!claims) return std::nullopt;
  return Caller{std::move(*claims)};
}

void ExecutionApi::AuditRefused(const Request& request, int status, std::string_view prefix) const {
  // A target that did not parse has no path; its raw path part still says where it went.
  std::string_view path = request.path;
  if (path.empty()) path = std::string_view(request.target).substr(0, request.target.find('?'));
  const bool under_prefix =
      path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
  if (request.method.empty() || !under_prefix) return;
  const std::optional<Caller> caller = ValidCallerOf(request);
  Audit(caller ? &*caller : nullptr, request.method, path, status);
}

namespace {

// What the supervisor runs: the task's entry of its Dag's serialized form (the "tasks"
// array that the dag-processor submitted), or null when the Dag or the task is gone.
json::value TaskSpec(store::Store& store, const TaskInstance& ti) {
  auto dag = store.GetDag(ti.dag_id);
  if (!dag) return nullptr;
  boost::system::error_code ec;
  json::value serialized = json::parse(dag->serialized_json, ec);
  if (ec || !serialized.is_object()) return nullptr;
  const json::value* tasks = serialized.as_object().if_contains("tasks");
  if (tasks == nullptr || !tasks->is_array()) return nullptr;
  for (const json::value& task : tasks->as_array()) {
    const json::value* task_id =
        task.is_object() ? task.as_object().if_contains("task_id") : nullptr;
    if (task_id != nullptr && task_id->is_string() && task_id->as_string() == ti.task_id) {
      return task;
    }
  }
  return nullptr;
}

// The payload of the trigger event that resumed this try, or null.
json::value TriggerEventJson(const TaskInstance& ti) {
  if (ti.trigger_event_json.empty()) return nullptr;
  boost::system::error_code ec;
  json::value event = json::parse(ti.trigger_event_json, ec);
  return ec ? json::value(nullptr) : event;
}

// PATCH /task-instances/{id}/run: queued → running. A workload token is exchanged here
// for an execution token (in Refreshed-API-Token); an execution token keeps working.
Response RunTaskInstance(store::Store& store, const jwt::TokenSigner& signer,
                         const ExecutionApiOptions& options, const Clock& clock,
                         const Caller& caller, const Request& request, std::string_view id) {
  auto body = ParseObject(request);
  if (!body) return std::move(body.error());
  auto hostname = RequiredString(*body, "hostname");
  if (!hostname) return std::move(hostname.error());
  auto pid = RequiredPid(*body);
  if (!pid) return std::move(pid.error());
  int64_t start_date = clock.NowSeconds();
  if (auto it = body->find("start_date"); it != body->end()) {
    auto parsed = ParseTime(it->value());
    if (!parsed) return Unprocessable("Field 'start_date' must be an RFC 3339 date-time");
    start_date = *parsed;
  }

  auto ti = store.StartTaskInstance(id, *hostname, *pid, start_date);
  if (!ti) {
    if (ti.error().code() == ErrorCode::kNotFound) return TaskInstanceNotFound();
    if (ti.error().code() != ErrorCode::kFailedPrecondition) return StoreFailure(ti.error());
    auto current = store.GetTaskInstance(id);
    if (!current) return TaskInstanceNotFound();
    return ReasonResponse(409, "invalid_state",
                          "Task instance is not in a state in which it can start", current->state);
  }
  auto run = store.GetDagRun(ti->dag_id, ti->run_id);
  if (!run) return StoreFailure(run.error());
  boost::system::error_code ec;
  json::value conf = json::parse(run->conf_json, ec);
  if (ec) conf = json::object();
  json::object context{
      {"dag_run",
       json::object{
           {"dag_id", run->dag_id},
           {"run_id", run->run_id},
           {"logical_date", FormatUtcSeconds(run->logical_date)},
           {"state", store::DagRunStateName(run->state)},
           {"conf", std::move(conf)},
       }},
      {"task_instance", TaskInstanceJson(*ti)},
      {"task", TaskSpec(store, *ti)},
      {"trigger_event", TriggerEventJson(*ti)},
  };
  Response response = JsonResponse(200, context);
  if (caller.type == TokenType::kWorkload) {
    auto token = signer.Mint(jwt::MintRequest{
        .sub = std::string(id),
        .aud = {options.audience},
        .iss = caller.claims->iss,
        .ttl_seconds = options.token_validity_seconds,
        .scope = "execution",
    });
    if (!token) return StoreFailure(token.error());
    response.SetHeader("Refreshed-API-Token", *token);
  }
  return response;
}

// PATCH /task-instances/{id}/state: running → a terminal state, up_for_retry or deferred.
Response UpdateState(store::Store& store, const Clock& clock, const Request& request,
                     std::string_view id) {
  auto body = ParseObject(request);
  if (!body) return std::move(body.error());
  auto state_name = RequiredString(*body, "state");
  if (!state_name) return std::move(state_name.error());
  auto state = store::ParseTaskState(*state_name);
  if (!state || !(store::IsTerminal(*state) || *state == TaskState::kUpForRetry ||
                  *state == TaskState::kDeferred)) {
    return Unprocessable(
        "Field 'state' must be one of success, failed, skipped, upstream_failed, removed, "
        "up_for_retry, deferred");
  }
  if (*state == TaskState::kDeferred) return DeferTaskInstance(store, clock, *body, id);
  int64_t end_date = clock.NowSeconds();
  if (auto it = body->find("end_date"); it != body->end()) {
    auto parsed = ParseTime(it->value());
    if (!parsed) return Unprocessable("Field 'end_date' must be an RFC 3339 date-time");
    end_date = *parsed;
  }
  auto ti = store.FinishTaskInstance(id, *state, end_date);
  if (ti) return Response::NoContent();
  if (ti.error().code() == ErrorCode::kNotFound) return TaskInstanceNotFound();
  if (ti.error().code() != ErrorCode::kFailedPrecondition) return StoreFailure(ti.error());
  auto current = store.GetTaskInstance(id);
  if (!current) return TaskInstanceNotFound();
  return ReasonResponse(409, "invalid_state", "Task instance is not running", current->state);
}

// The answer to one heartbeat.
Response HeartbeatResponse(const Result<store::HeartbeatRefusal>& refusal) {
  if (!refusal) {
    if (refusal.error().code() == ErrorCode::kNotFound) return TaskInstanceNotFound();
    return StoreFailure(refusal.error());
  }
  switch (*refusal) {
    case store::HeartbeatRefusal::kNone:
      return Response::NoContent();
    case store::HeartbeatRefusal::kRunningElsewhere:
      return ReasonResponse(409, "running_elsewhere");
    case store::HeartbeatRefusal::kNotRunning:
      break;
  }
  return ReasonResponse(409, "not_running");
}

// PUT /task-instances/{id}/heartbeat: queued into the group commit, answered once written.
// `id` is a view into the request's path, valid until `answer` is called.
template <class Answer>
void Heartbeat(HeartbeatBatcher& heartbeats, const Clock& clock, const Request& request,
               std::string_view id, Answer answer) {
  // A heartbeat's body is small: the parser's scratch space and the document fit this
  // buffer (for a hostname of a few dozen characters), so it needs no allocation; a larger
  // body spills to the heap.
  unsigned char buffer[512];
  boost::json::monotonic_resource memory(buffer, sizeof buffer);
  auto body = ParseObject(request, &memory);
  if (!body) return answer(std::move(body.error()));
  auto hostname = RequiredString(*body, "hostname");
  if (!hostname) return answer(std::move(hostname.error()));
  auto pid = RequiredPid(*body);
  if (!pid) return answer(std::move(pid.error()));
  heartbeats.Submit(
      id, *hostname, *pid, clock.NowSeconds(),
      [answer = std::move(answer)](Result<store::HeartbeatRefusal> refusal) mutable {
        answer(HeartbeatResponse(refusal));
      },
      http::ThisThreadsEventLoop());
}

// The caller's own task instance (already known to be alive), for XCom scoping.
std::expected<TaskInstance, Response> CallerTask(store::Store& store, const Caller& caller) {
  auto ti = store.GetTaskInstance(caller.claims->sub.value_or(""));
  if (!ti) {
    return std::unexpected(
        Response::Detail(403, "Invalid auth token: task instance is not queued or running"));
  }
  return std::move(*ti);
}

enum class XComAccess { kRead, kWrite, kDelete };

// The XCom key a request names, once its caller may access it: a task reads any XCom of
// its own Dag run, and writes or deletes only its own (same task and map index).
std::expected<store::XComKey, Response> AuthorizedXComKey(store::Store& store, const Caller& caller,
                                                          const Request& request,
                                                          const PathParams& params,
                                                          XComAccess access) {
  auto map_index = MapIndex(request);
  if (!map_index)
    return std::unexpected(Unprocessable("Query 'map_index' must be an integer ≥ -1"));
  store::XComKey key{.dag_id = std::string(params.Get("dag_id")),
                     .run_id = std::string(params.Get("run_id")),
                     .task_id = std::string(params.Get("task_id")),
                     .map_index = *map_index,
                     .key = std::string(params.Get("key"))};
  auto ti = CallerTask(store, caller);
  if (!ti) return std::unexpected(std::move(ti.error()));
  const bool same_run = ti->dag_id == key.dag_id && ti->run_id == key.run_id;
  const bool own_task = same_run && ti->task_id == key.task_id && ti->map_index == key.map_index;
  switch (access) {
    case XComAccess::kRead:
      if (same_run) return key;
      return std::unexpected(
          Response::Detail(403, "Task instances may only read XComs of their own Dag run"));
    case XComAccess::kWrite:
      if (own_task) return key;
      return std::unexpected(
          Response::Detail(403, "Task instances may only write their own XComs"));
    case XComAccess::kDelete:
      break;
  }
  if (own_task) return key;
  return std::unexpected(Response::Detail(403, "Task instances may only delete their own XComs"));
}

}  // namespace

void ExecutionApi::AddRoutes(http::Router& router, std::string_view prefix) const {
  const std::string p(prefix);
  // A call under the prefix that no route takes (404, 405) is audited too, with the
  // caller's token when it validates; the token is never renewed there.
  router.OnMiss(p, [this](const Request& request, Response response, http::Respond respond) {
    const std::optional<Caller> caller = ValidCallerOf(request);
    Finish(caller ? &*caller : nullptr, false, request, std::move(response), std::move(respond));
  });
  router.Add(
      "GET", p + "/health",
      [](const Request&, const PathParams&) {
        return Response::Json(200, R"({"status":"healthy"})");
      },
      http::Blocks::kNo);

  // Only an asynchronous route whose liveness its handler enforces (the heartbeat) reaches
  // no database before handing its work on; every other route may block.
  auto add = [&](std::string method, std::string pattern, Route route) {
    const http::Blocks blocks = route.async_handler && route.liveness == Route::Liveness::kByHandler
                                    ? http::Blocks::kNo
                                    : http::Blocks::kMay;
    router.AddAsync(
        std::move(method), p + pattern,
        [this, route = std::move(route)](const Request& request, const PathParams& params,
                                         http::Respond respond) {
          Guarded(route, request, params, std::move(respond));
        },
        blocks);
  };
  using Liveness = Route::Liveness;

  add("PATCH", "/task-instances/{id}/run",
      Route{.policy = {.allowed_types = {TokenType::kWorkload, TokenType::kExecution},
                       .ti_self = true},
            .liveness = Liveness::kByHandler,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
              return RunTaskInstance(api.store_, api.signer_, api.options_, api.clock_, caller,
                                     request, params.Get("id"));
            }});
  add("PATCH", "/task-instances/{id}/state",
      Route{.policy = {.ti_self = true},
            .liveness = Liveness::kByHandler,
            .success_ends_task = true,
            .handler = [](const ExecutionApi& api, const Caller&, const Request& request,
                          const PathParams& params) {
              return UpdateState(api.store_, api.clock_, request, params.Get("id"));
            }});
  add("PUT", "/task-instances/{id}/heartbeat",
      Route{.policy = {.ti_self = true},
            .liveness = Liveness::kByHandler,
            .async_handler = [](const ExecutionApi& api, const Caller&, const Request& request,
                                const PathParams& params, Answer answer) {
              Heartbeat(*api.heartbeats_, api.clock_, request, params.Get("id"), std::move(answer));
            }});

  add("GET", "/connections/{conn_id}",
      Route{.handler = [](const ExecutionApi& api, const Caller&, const Request&,
                          const PathParams& params) {
        auto conn = api.store_.GetConnection(params.Get("conn_id"));
        if (!conn) {
          if (conn.error().code() == ErrorCode::kNotFound) {
            return NotFoundResponse("Connection '" + std::string(params.Get("conn_id")) + "'");
          }
          return StoreFailure(conn.error());
        }
        return JsonResponse(200, ConnectionJson(*conn));
      }});

  add("GET", "/variables/{key}",
      Route{.handler = [](const ExecutionApi& api, const Caller&, const Request&,
                          const PathParams& params) {
        auto variable = api.store_.GetVariable(params.Get("key"));
        if (!variable) {
          if (variable.error().code() == ErrorCode::kNotFound) {
            return NotFoundResponse("Variable '" + std::string(params.Get("key")) + "'");
          }
          return StoreFailure(variable.error());
        }
        return JsonResponse(200, json::object{{"key", variable->key}, {"value", variable->value}});
      }});
  add("PUT", "/variables/{key}",
      Route{.handler = [](const ExecutionApi& api, const Caller&, const Request& request,
                          const PathParams& params) {
        auto body = ParseObject(request);
        if (!body) return std::move(body.error());
        auto value = RequiredString(*body, "value");
        if (!value) return std::move(value.error());
        std::string description;
        if (auto it = body->find("description"); it != body->end()) {
          if (it->value().is_string()) {
            description = it->value().as_string();
          } else if (!it->value().is_null()) {
            return Unprocessable("Field 'description' must be a string");
          }
        }
        auto set = api.store_.SetVariable(store::Variable{
            .key = std::string(params.Get("key")), .value = *value, .description = description});
        if (!set) {
          if (set.error().code() == ErrorCode::kInvalidArgument) {
            return Unprocessable(set.error().message());
          }
          return StoreFailure(set.error());
        }
        return Response::Json(201, R"({"message":"Variable successfully set"})");
      }});
  add("DELETE", "/variables/{key}",
      Route{.handler = [](const ExecutionApi& api, const Caller&, const Request&,
                          const PathParams& params) {
        auto deleted = api.store_.DeleteVariable(params.Get("key"));
        if (!deleted) {
          if (deleted.error().code() == ErrorCode::kNotFound) {
            return NotFoundResponse("Variable '" + std::string(params.Get("key")) + "'");
          }
          return StoreFailure(deleted.error());
        }
        return Response::NoContent();
      }});

  // The dag-processor's routes (dag_routes.h).
  const RoutePolicy processor_policy{.allowed_types = {TokenType::kDagProcessor}};
  add("PUT", "/dags/{dag_id}",
      Route{.policy = processor_policy,
            .liveness = Liveness::kNotRevoked,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
              return PutDag(api.store_, api.clock_, caller, request, params.Get("dag_id"));
            }});
  add("DELETE", "/dags/{dag_id}",
      Route{.policy = processor_policy,
            .liveness = Liveness::kNotRevoked,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request&,
                          const PathParams& params) {
              return DeleteDag(api.store_, caller, params.Get("dag_id"));
            }});
  add("GET", "/dags",
      Route{.policy = processor_policy,
            .liveness = Liveness::kNotRevoked,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request&,
                          const PathParams&) { return ListBundleDags(api.store_, caller); }});
  add("PUT", "/import-errors",
      Route{.policy = processor_policy,
            .liveness = Liveness::kNotRevoked,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams&) {
              return PutImportErrors(api.store_, api.clock_, caller, request);
            }});

  // The triggerer's routes (trigger_routes.h).
  const RoutePolicy triggerer_policy{.allowed_types = {TokenType::kTriggerer}};
  add("POST", "/triggers/claim",
      Route{.policy = triggerer_policy,
            .liveness = Liveness::kNotRevoked,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams&) {
              return ClaimTriggers(api.store_, api.signer_, api.options_, api.clock_, caller,
                                   request);
            }});
  add("POST", "/triggers/renew",
      Route{.policy = triggerer_policy,
            .liveness = Liveness::kNotRevoked,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams&) {
              return RenewTriggers(api.store_, api.signer_, api.options_, api.clock_, caller,
                                   request);
            }});
  // A trigger's token is alive while its trigger is: the handlers look it up.
  const RoutePolicy trigger_policy{.allowed_types = {TokenType::kTrigger}};
  add("POST", "/triggers/{trigger_id}/event",
      Route{.policy = trigger_policy,
            .liveness = Liveness::kByHandler,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
              return TriggerEvent(api.store_, caller, request, params.Get("trigger_id"));
            }});
  add("POST", "/triggers/{trigger_id}/failure",
      Route{.policy = trigger_policy,
            .liveness = Liveness::kByHandler,
            .handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
              return TriggerFailure(api.store_, api.clock_, caller, request,
                                    params.Get("trigger_id"));
            }});

  // XComs: a task reads any XCom of its own Dag run and writes only its own.
  constexpr std::string_view kPattern = "/xcoms/{dag_id}/{run_id}/{task_id}/{key}";
  add("GET", std::string(kPattern),
      Route{.handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
        auto key = AuthorizedXComKey(api.store_, caller, request, params, XComAccess::kRead);
        if (!key) return std::move(key.error());
        auto value = api.store_.GetXCom(*key);
        if (!value) {
          if (value.error().code() == ErrorCode::kNotFound) {
            return NotFoundResponse("XCom '" + key->key + "'");
          }
          return StoreFailure(value.error());
        }
        boost::system::error_code ec;
        json::value parsed = json::parse(*value, ec);
        if (ec) return StoreFailure(Error(ErrorCode::kInternal, "stored XCom is not JSON"));
        return JsonResponse(200, json::object{{"key", key->key}, {"value", std::move(parsed)}});
      }});
  add("POST", std::string(kPattern),
      Route{.handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
        auto key = AuthorizedXComKey(api.store_, caller, request, params, XComAccess::kWrite);
        if (!key) return std::move(key.error());
        // The body is the value: any JSON document.
        auto value = http::ParseRequestJson(request.body, "Request body");
        if (!value) return Unprocessable(value.error());
        auto set = api.store_.SetXCom(*key, json::serialize(*value));
        if (!set) {
          if (set.error().code() == ErrorCode::kInvalidArgument) {
            return Unprocessable(set.error().message());
          }
          return StoreFailure(set.error());
        }
        return Response::Json(201, R"({"message":"XCom successfully set"})");
      }});
  add("DELETE", std::string(kPattern),
      Route{.handler = [](const ExecutionApi& api, const Caller& caller, const Request& request,
                          const PathParams& params) {
        auto key = AuthorizedXComKey(api.store_, caller, request, params, XComAccess::kDelete);
        if (!key) return std::move(key.error());
        auto deleted = api.store_.DeleteXCom(*key);
        if (!deleted) {
          if (deleted.error().code() == ErrorCode::kNotFound) {
            return NotFoundResponse("XCom '" + key->key + "'");
          }
          return StoreFailure(deleted.error());
        }
        return Response::NoContent();
      }});
}

}  // namespace airlock::execution_api

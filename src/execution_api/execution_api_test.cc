#include "execution_api/execution_api.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>
#include <stdexcept>

#include "execution_api/auth.h"
#include "execution_api/trigger_routes.h"
#include "http/client.h"
#include "http/server.h"
#include "jwt/base64url.h"
#include "store/column_cipher.h"
#include "store/memory_store.h"
#include "testing/request_mutator.h"
#include "testing/temp_dir.h"

namespace airlock::execution_api {
namespace {

namespace json = boost::json;
using store::TaskState;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kAudience[] = "urn:airflow.apache.org:task";
constexpr char kRunning[] = "0b9f4b6e-1f4c-4d7a-9c1e-000000000001";
constexpr char kQueued[] = "0b9f4b6e-1f4c-4d7a-9c1e-000000000002";
constexpr char kFinished[] = "0b9f4b6e-1f4c-4d7a-9c1e-000000000003";
constexpr char kOtherRunning[] = "0b9f4b6e-1f4c-4d7a-9c1e-000000000004";
constexpr char kOtherRunTask[] = "0b9f4b6e-1f4c-4d7a-9c1e-000000000005";
constexpr char kMissing[] = "0b9f4b6e-1f4c-4d7a-9c1e-0000000000ff";
constexpr char kFernetKey[] = "test-fernet-key-of-at-least-32-characters";

// One Dag run "run1" with a running, a queued, a finished and a second running task, and
// a second run with one running task; an Execution API over the in-memory store, served
// on a loopback port: every Call is a real HTTP request.
class ExecutionApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = OpenFixtureStore();
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    store_ = std::move(*opened);
    ASSERT_TRUE(store_->Migrate().has_value());
    for (std::string run_id : {"run1", "run2"}) {
      ASSERT_TRUE(store_
                      ->CreateDagRun({.dag_id = "etl",
                                      .run_id = run_id,
                                      .state = store::DagRunState::kRunning,
                                      .logical_date = kNow - 3600,
                                      .conf_json = R"({"x":1})"})
                      .has_value());
    }
    ASSERT_TRUE(store_
                    ->SetDag({.dag_id = "etl", .serialized_json = R"json({"dag_id":"etl","tasks":[
                                  {"task_id":"transform","command":["python3","-c","print(1)"],
                                   "env":{"A":"b"}}]})json"})
                    .has_value());
    AddTask(kRunning, "run1", "extract", TaskState::kRunning);
    AddTask(kQueued, "run1", "transform", TaskState::kQueued);
    AddTask(kFinished, "run1", "load", TaskState::kSuccess);
    AddTask(kOtherRunning, "run1", "report", TaskState::kRunning);
    AddTask(kOtherRunTask, "run2", "extract", TaskState::kRunning);

    key_ = *jwt::Key::Generate(jwt::KeyType::kEd25519);
    keys_ = std::make_shared<jwt::StaticKeySource>(
        *jwt::KeySet::Create({{.key = key_, .state = jwt::KeyState::kActive}}));
    validator_ = *jwt::Validator::Create(keys_, {.audiences = {kAudience}}, clock_);
    signer_ = std::make_unique<jwt::TokenSigner>(keys_, clock_);
    audit_ = std::make_unique<AuditWriter>(*store_, AuditWriter::Options{});
    api_ = std::make_unique<ExecutionApi>(*store_, *validator_, *signer_, clock_, audit_.get(),
                                          ExecutionApiOptions{});
    api_->AddRoutes(router_, "/execution");
    server_ = Serve(router_);
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // The store the fixture runs on; a subclass may choose a database file in temp_.
  virtual std::string StoreUrl() { return "memory://"; }
  // Or a store of its own.
  virtual Result<std::unique_ptr<store::Store>> OpenFixtureStore() {
    return store::OpenStore(StoreUrl(), {.fernet_key = kFernetKey});
  }

  // The body of the hostile-request tests (below), whichever store they run on.
  void MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing();

  // A server on a free loopback port that hands each request to `router`, as the
  // api-server does: the tests speak HTTP to it.
  static std::unique_ptr<http::Server> Serve(const http::Router& router) {
    auto server = http::Server::Start({.threads = 2},
                                      [&router](const http::Request& r, http::Respond respond) {
                                        router.Dispatch(r, std::move(respond));
                                      });
    EXPECT_TRUE(server.has_value()) << server.error().ToString();
    return server ? std::move(*server) : nullptr;
  }

  // Sends `request` (its method, target or else path, headers and body) to `server` (the
  // fixture's unless given) over a new connection; the answer as the client read it.
  http::Response Send(const http::Request& request, const http::Server* server = nullptr) {
    if (server == nullptr) server = server_.get();
    const std::string& target = request.target.empty() ? request.path : request.target;
    auto answer = http::Send({.method = request.method,
                              .url = "http://127.0.0.1:" + std::to_string(server->port()) + target,
                              .headers = request.headers,
                              .body = request.body});
    EXPECT_TRUE(answer.has_value())
        << request.method << " " << target << ": " << answer.error().ToString();
    if (!answer) return http::Response{.status = 0};
    return http::Response{
        .status = answer->status, .headers = answer->headers, .body = std::move(answer->body)};
  }

  void AddTask(const std::string& id, const std::string& run_id, const std::string& task_id,
               TaskState state) {
    store::TaskInstance ti{.id = id, .dag_id = "etl", .run_id = run_id, .task_id = task_id};
    ASSERT_TRUE(store_->CreateTaskInstance(ti).has_value());
    if (state == TaskState::kScheduled) return;
    ASSERT_TRUE(store_->TransitionTaskInstance(id, TaskState::kScheduled, TaskState::kQueued, kNow)
                    .has_value());
    if (state == TaskState::kQueued) return;
    ASSERT_TRUE(store_->StartTaskInstance(id, "worker-1", 100, kNow).has_value());
    if (state == TaskState::kRunning) return;
    ASSERT_TRUE(store_->FinishTaskInstance(id, state, kNow).has_value());
  }

  std::string Token(const std::string& sub, std::optional<std::string> scope = "execution",
                    int64_t ttl = 600, std::vector<std::string> aud = {kAudience}) {
    auto token = signer_->Mint(
        {.sub = sub, .aud = std::move(aud), .ttl_seconds = ttl, .scope = std::move(scope)});
    EXPECT_TRUE(token.has_value());
    return token.value_or("");
  }

  // `target` is sent as written: percent-encode what a URL may not hold.
  http::Response Call(std::string method, std::string target, const std::string& token,
                      std::string body = "") {
    http::Request request{.method = std::move(method), .target = std::move(target)};
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    request.body = std::move(body);
    return Send(request);
  }

  // Every audit entry, newest first, once all that was appended is written.
  std::vector<store::AuditEntry> Audited() {
    EXPECT_TRUE(audit_->Flush().has_value());
    auto entries = store_->ListAudit(1000, 0);
    EXPECT_TRUE(entries.has_value()) << entries.error().ToString();
    return entries.value_or(std::vector<store::AuditEntry>{});
  }

  static std::string HeartbeatPath(const std::string& id) {
    return "/execution/task-instances/" + id + "/heartbeat";
  }
  static std::string Detail(const http::Response& r) {
    auto v = json::parse(r.body);
    return json::serialize(v.as_object().at("detail"));
  }

  test::TempDir temp_{"airlock-execution-api"};  // first: outlives the store
  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  jwt::KeyPtr key_;
  std::shared_ptr<jwt::StaticKeySource> keys_;
  std::unique_ptr<jwt::Validator> validator_;
  std::unique_ptr<jwt::TokenSigner> signer_;
  std::unique_ptr<AuditWriter> audit_;
  std::unique_ptr<ExecutionApi> api_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;  // serves router_
};

constexpr char kHeartbeatBody[] = R"({"hostname":"worker-1","pid":100})";

TEST_F(ExecutionApiTest, HealthNeedsNoToken) {
  auto r = Call("GET", "/execution/health", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"healthy"})");
}

// Only the heartbeat (and health) never wait for the database before handing their work
// on; every other route may, and runs on the router's blocking runner (the api-server's
// BlockingPool), never on an I/O thread.
TEST_F(ExecutionApiTest, OnlyTheHeartbeatAndHealthRunOnTheCallersThread) {
  http::Router router;
  api_->AddRoutes(router, "/execution");
  int blocking_runs = 0;
  router.RunBlockingOn([&](std::move_only_function<void()> work) {
    ++blocking_runs;
    work();
  });
  auto call = [&](std::string method, std::string path, const std::string& token,
                  std::string body) {
    http::Request request{
        .method = std::move(method), .path = std::move(path), .body = std::move(body)};
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    return router.Route(request).status;
  };
  const std::string token = Token(kRunning);
  EXPECT_EQ(call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody), 204);
  EXPECT_EQ(call("GET", "/execution/health", "", ""), 200);
  EXPECT_EQ(blocking_runs, 0);
  EXPECT_EQ(call("PUT", "/execution/variables/v", token, R"({"value":"1"})"), 201);
  EXPECT_EQ(call("GET", "/execution/variables/v", token, ""), 200);
  EXPECT_EQ(call("GET", "/execution/variables/v", "", ""), 401);  // refused there too
  EXPECT_EQ(blocking_runs, 3);
}

TEST_F(ExecutionApiTest, MissingOrNonBearerAuthorizationIs401) {
  auto expect_401 = [&](const http::Request& request) {
    auto r = Send(request);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body, R"({"detail":"Missing auth token"})");
  };
  http::Request request{.method = "PUT", .path = HeartbeatPath(kRunning), .body = kHeartbeatBody};
  expect_401(request);
  for (std::string header : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc",
                             "bearer" /* no space, no token */}) {
    request.headers = {{"Authorization", header}};
    expect_401(request);
  }
  // The scheme is case-insensitive (RFC 7235): "bearer <valid token>" is accepted.
  request.headers = {{"Authorization", "bearer " + Token(kRunning)}};
  EXPECT_EQ(Send(request).status, 204);
}

TEST_F(ExecutionApiTest, TokenThatFailsValidationIs403WithReason) {
  auto other_key = *jwt::Key::Generate(jwt::KeyType::kEd25519);
  auto other_keys = std::make_shared<jwt::StaticKeySource>(
      *jwt::KeySet::Create({{.key = other_key, .state = jwt::KeyState::kActive}}));
  jwt::TokenSigner other_signer(other_keys, clock_);
  auto foreign = *other_signer.Mint({.sub = kRunning, .aud = {kAudience}, .scope = "execution"});
  auto r = Call("PUT", HeartbeatPath(kRunning), foreign, kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(Detail(r).starts_with(R"("Invalid auth token: )")) << r.body;

  auto wrong_audience = Token(kRunning, "execution", 600, {"urn:airlock:rest"});
  r = Call("PUT", HeartbeatPath(kRunning), wrong_audience, kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(Detail(r).starts_with(R"("Invalid auth token: )")) << r.body;

  r = Call("PUT", HeartbeatPath(kRunning), "not.a.token", kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(Detail(r).starts_with(R"("Invalid auth token: )")) << r.body;
}

TEST_F(ExecutionApiTest, ExpiryHonoursLeeway) {
  std::string token = Token(kRunning, "execution", 600);
  // As in PyJWT, a token is expired once now ≥ exp + leeway (default 10 s).
  clock_.Set(kNow + 600 + 9);
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody).status, 204);
  clock_.Set(kNow + 600 + 10);
  auto r = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("expired"), std::string::npos) << r.body;
}

TEST_F(ExecutionApiTest, WorkloadTokenOnlyOnRunRoute) {
  std::string workload = Token(kRunning, "workload");
  const std::string expected =
      R"({"detail":"Token type 'workload' not allowed for this endpoint. Allowed types: execution"})";
  auto r = Call("PUT", HeartbeatPath(kRunning), workload, kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, expected);
  r = Call("PATCH", std::string("/execution/task-instances/") + kRunning + "/state", workload,
           R"({"state":"success"})");
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(Call("GET", "/execution/variables/x", workload).body, expected);
  EXPECT_EQ(Call("GET", "/execution/connections/db", workload).body, expected);
  EXPECT_EQ(Call("GET", "/execution/xcoms/etl/run1/extract/k", workload).body, expected);
  // Nothing changed.
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kRunning);
}

TEST_F(ExecutionApiTest, UnknownScopeIs403) {
  auto r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning, "admin"), kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"Invalid token scope: admin"})");
}

TEST_F(ExecutionApiTest, TokenWithoutScopeCountsAsExecution) {
  auto r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning, std::nullopt), kHeartbeatBody);
  EXPECT_EQ(r.status, 204);
}

TEST_F(ExecutionApiTest, TiSelfRefusesAnotherTasksToken) {
  const std::string expected = R"({"detail":"Token subject does not match task instance ID"})";
  auto r = Call("PUT", HeartbeatPath(kRunning), Token(kOtherRunning), kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, expected);
  r = Call("PATCH", std::string("/execution/task-instances/") + kRunning + "/state",
           Token(kOtherRunning), R"({"state":"failed"})");
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kRunning);
}

TEST_F(ExecutionApiTest, HeartbeatRecordsAndRefuses) {
  clock_.Set(kNow + 5);
  auto r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning), kHeartbeatBody);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow + 5);

  // SPEC §4 gives the 409 bodies exactly.
  r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning), R"({"hostname":"worker-2","pid":100})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, R"({"detail":{"reason":"running_elsewhere"}})");
  r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning), R"({"hostname":"worker-1","pid":7})");
  EXPECT_EQ(r.body, R"({"detail":{"reason":"running_elsewhere"}})");
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow + 5);

  r = Call("PUT", HeartbeatPath(kQueued), Token(kQueued), kHeartbeatBody);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, R"({"detail":{"reason":"not_running"}})");

  r = Call("PUT", HeartbeatPath(kMissing), Token(kMissing), kHeartbeatBody);
  EXPECT_EQ(r.status, 404);
}

// The heartbeat parses its body into a small buffer on the stack; a body larger than that
// (a long hostname, fields it ignores) takes memory from the heap instead, and is read the
// same way.
TEST_F(ExecutionApiTest, AHeartbeatBodyLargerThanItsBufferIsReadTheSameWay) {
  clock_.Set(kNow + 5);
  const std::string ignored(4000, 'x');
  auto r = Call(
      "PUT", HeartbeatPath(kRunning), Token(kRunning),
      R"({"extra":[")" + ignored + R"(",")" + ignored + R"("],"hostname":"worker-1","pid":100})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow + 5);
  r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning),
           R"({"hostname":")" + std::string(600, 'h') + R"(","pid":100})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body).at("detail").at("reason"), "running_elsewhere");
}

TEST_F(ExecutionApiTest, MalformedBodiesAre422AndChangeNothing) {
  for (std::string body :
       {"", "{", "[]", R"({"hostname":"worker-1"})", R"({"hostname":1,"pid":100})",
        R"({"hostname":"w","pid":-1})", R"({"hostname":"w","pid":"100"})",
        R"({"hostname":"w","pid":1e99})", R"({"hostname":"a\u0000b","pid":100})"}) {
    auto r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning), body);
    EXPECT_EQ(r.status, 422) << body;
    // What the store cannot hold is the request's fault, not an internal error.
    EXPECT_EQ(r.body.find("Internal error"), std::string::npos) << r.body;
  }
  // The same with the run route: a hostname the store cannot hold.
  EXPECT_EQ(Call("PATCH", std::string("/execution/task-instances/") + kQueued + "/run",
                 Token(kQueued), R"({"hostname":"a\u0000b","pid":1})")
                .status,
            422);
  EXPECT_EQ(store_->GetTaskInstance(kQueued)->state, TaskState::kQueued);
  auto state_path = std::string("/execution/task-instances/") + kRunning + "/state";
  for (std::string body : {R"({"state":"running"})", R"({"state":"bogus"})", R"({"state":1})",
                           R"({"state":"success","end_date":"yesterday"})", "null"}) {
    EXPECT_EQ(Call("PATCH", state_path, Token(kRunning), body).status, 422) << body;
  }
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kRunning);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow);
}

// Two readers of a body with a name twice could disagree on what it says (Boost.JSON keeps
// one, Python's json the last): such a body is refused whole, whichever route takes it.
TEST_F(ExecutionApiTest, ABodyNamingAMemberTwiceIs422AndChangesNothing) {
  constexpr char kRefusal[] = R"({"detail":"Request body has a duplicate member name"})";
  clock_.Set(kNow + 5);
  auto r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning),
                R"({"hostname":"worker-1","pid":100,"pid":100})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, kRefusal);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow);

  r = Call("PATCH", std::string("/execution/task-instances/") + kRunning + "/state",
           Token(kRunning), R"({"state":"success","state":"failed"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, kRefusal);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kRunning);

  // An XCom's value is any JSON document: a duplicate anywhere in it is refused.
  r = Call("POST", "/execution/xcoms/etl/run1/extract/rows", Token(kRunning),
           R"({"rows":[{"id":1},{"id":2,"id":3}]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, kRefusal);
  EXPECT_EQ(Call("GET", "/execution/xcoms/etl/run1/extract/rows", Token(kRunning)).status, 404);
}

TEST_F(ExecutionApiTest, RunExchangesWorkloadTokenForExecutionToken) {
  auto path = std::string("/execution/task-instances/") + kQueued + "/run";
  clock_.Set(kNow + 30);
  auto r =
      Call("PATCH", path, Token(kQueued, "workload", 3600),
           R"({"hostname":"worker-9","pid":4242,"start_date":"2027-01-15T09:00:10.123456+01:00"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto context = json::parse(r.body);
  EXPECT_EQ(context.at("dag_run").at("run_id"), "run1");
  EXPECT_EQ(context.at("dag_run").at("conf").at("x"), 1);
  EXPECT_EQ(context.at("task_instance").at("task_id"), "transform");
  EXPECT_EQ(context.at("task_instance").at("hostname"), "worker-9");
  EXPECT_EQ(context.at("task_instance").at("start_date"), "2027-01-15T08:00:10Z");
  // The task's entry of its serialized Dag: what the supervisor runs.
  EXPECT_EQ(context.at("task").at("command").as_array().size(), 3u);
  EXPECT_EQ(context.at("task").at("env").at("A"), "b");

  auto ti = store_->GetTaskInstance(kQueued);
  EXPECT_EQ(ti->state, TaskState::kRunning);
  EXPECT_EQ(ti->pid, 4242);
  EXPECT_EQ(ti->start_date, kNow + 10);  // 2027-01-15T08:00:10Z

  std::string exchanged(r.Header("Refreshed-API-Token"));
  ASSERT_FALSE(exchanged.empty());
  auto claims = validator_->Validate(exchanged);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->scope, "execution");
  EXPECT_EQ(claims->sub, kQueued);
  EXPECT_EQ(claims->exp, kNow + 30 + 600);
  // The exchanged token works where the workload token does not.
  EXPECT_EQ(Call("PUT", HeartbeatPath(kQueued), exchanged, R"({"hostname":"worker-9","pid":4242})")
                .status,
            204);

  // A second start is refused and names the state it found.
  r = Call("PATCH", path, Token(kQueued, "workload", 3600), R"({"hostname":"w","pid":1})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body).at("detail").at("reason"), "invalid_state");
  EXPECT_EQ(json::parse(r.body).at("detail").at("previous_state"), "running");
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
}

TEST_F(ExecutionApiTest, RunWithExecutionTokenGetsNoExchange) {
  auto path = std::string("/execution/task-instances/") + kQueued + "/run";
  auto r = Call("PATCH", path, Token(kQueued), R"({"hostname":"w","pid":1})");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
}

TEST_F(ExecutionApiTest, StateOfMissingTaskIs404) {
  auto path = std::string("/execution/task-instances/") + kMissing + "/state";
  auto r = Call("PATCH", path, Token(kMissing), R"({"state":"success"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
}

TEST_F(ExecutionApiTest, RunOfMissingTaskIs404) {
  auto path = std::string("/execution/task-instances/") + kMissing + "/run";
  auto r = Call("PATCH", path, Token(kMissing, "workload"), R"({"hostname":"w","pid":1})");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
}

TEST_F(ExecutionApiTest, ReissueBoundaryAtDefaultValidity) {
  // validity 600 s → threshold max(int(0.2 × 600), 30) = 120 s.
  std::string token = Token(kRunning, "execution", 600);
  clock_.Set(kNow + 600 - 121);
  auto r = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());

  clock_.Set(kNow + 600 - 120);
  r = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  EXPECT_EQ(r.status, 204);
  std::string fresh(r.Header("Refreshed-API-Token"));
  ASSERT_FALSE(fresh.empty());
  auto old_claims = validator_->Validate(token);
  auto new_claims = validator_->Validate(fresh);
  ASSERT_TRUE(old_claims.has_value() && new_claims.has_value());
  EXPECT_EQ(new_claims->sub, old_claims->sub);
  EXPECT_EQ(new_claims->scope, old_claims->scope);
  EXPECT_EQ(new_claims->aud, old_claims->aud);
  EXPECT_NE(new_claims->jti, old_claims->jti);
  EXPECT_EQ(new_claims->iat, kNow + 480);
  EXPECT_EQ(new_claims->exp, kNow + 480 + 600);
}

TEST_F(ExecutionApiTest, ReissueThresholdHasA30SecondFloor) {
  ExecutionApi short_api(*store_, *validator_, *signer_, clock_, nullptr,
                         {.token_validity_seconds = 100});
  http::Router router;
  short_api.AddRoutes(router, "/execution");
  auto server = Serve(router);
  ASSERT_NE(server, nullptr);
  auto call = [&](const std::string& token) {
    http::Request request{.method = "PUT", .path = HeartbeatPath(kRunning), .body = kHeartbeatBody};
    request.headers = {{"Authorization", "Bearer " + token}};
    return Send(request, server.get());
  };
  std::string token = Token(kRunning, "execution", 100);
  clock_.Set(kNow + 100 - 31);  // 0.2 × 100 = 20 < 30, so the threshold is 30
  EXPECT_TRUE(call(token).Header("Refreshed-API-Token").empty());
  clock_.Set(kNow + 100 - 30);
  EXPECT_FALSE(call(token).Header("Refreshed-API-Token").empty());
}

TEST_F(ExecutionApiTest, WorkloadTokensAreNeverReissued) {
  jwt::Claims claims;
  claims.exp = kNow + 1;
  Caller caller{.claims = std::make_shared<const jwt::Claims>(claims),
                .type = TokenType::kWorkload};
  EXPECT_FALSE(ShouldReissue(caller, kNow, 600));
  caller.type = TokenType::kExecution;
  EXPECT_TRUE(ShouldReissue(caller, kNow, 600));
}

// The answer that ends the task (its state leaves running) renews nothing: the token it
// would carry would be dead at once.
TEST_F(ExecutionApiTest, TheAnswerThatEndsTheTaskCarriesNoRenewedToken) {
  std::string token = Token(kRunning, "execution", 600);
  clock_.Set(kNow + 590);  // inside the reissue threshold
  // A call that keeps the task running is renewed: the token is due.
  auto r = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  ASSERT_EQ(r.status, 204);
  EXPECT_FALSE(r.Header("Refreshed-API-Token").empty());
  r = Call("PATCH", std::string("/execution/task-instances/") + kRunning + "/state", token,
           R"({"state":"success"})");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
}

TEST_F(ExecutionApiTest, TokenOfFinishedTaskIsDeadOnEveryRoute) {
  ASSERT_TRUE(store_->SetVariable({.key = "v", .value = "1"}).has_value());
  std::string token = Token(kRunning, "execution", 600);
  EXPECT_EQ(Call("GET", "/execution/variables/v", token).status, 200);

  auto state_path = std::string("/execution/task-instances/") + kRunning + "/state";
  EXPECT_EQ(Call("PATCH", state_path, token, R"({"state":"success"})").status, 204);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kSuccess);

  const std::string dead =
      R"({"detail":"Invalid auth token: task instance is not queued or running"})";
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/execution/variables/v"},
           {"PUT", "/execution/variables/v"},
           {"DELETE", "/execution/variables/v"},
           {"GET", "/execution/connections/db"},
           {"GET", "/execution/xcoms/etl/run1/extract/k"},
           {"POST", "/execution/xcoms/etl/run1/extract/k"}}) {
    auto r = Call(method, path, token, R"({"value":"2"})");
    EXPECT_EQ(r.status, 403) << method << " " << path;
    EXPECT_EQ(r.body, dead) << method << " " << path;
  }
  EXPECT_EQ(store_->GetVariable("v")->value, "1");

  // On its own routes the task learns that it no longer runs; no token is renewed.
  clock_.Set(kNow + 590);
  auto r = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body).at("detail").at("reason"), "not_running");
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
  r = Call("PATCH", state_path, token, R"({"state":"failed"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kSuccess);
  // A body refused before the handler reaches the task instance renews nothing either:
  // only an answer that found the task alive does.
  for (auto [method, path, body] : std::vector<std::array<std::string, 3>>{
           {"PUT", HeartbeatPath(kRunning), "{}"},
           {"PATCH", state_path, R"({"state":"bogus"})"},
           {"PATCH", std::string("/execution/task-instances/") + kRunning + "/run", "[]"}}) {
    r = Call(method, path, token, body);
    EXPECT_EQ(r.status, 422) << method << " " << path;
    EXPECT_TRUE(r.Header("Refreshed-API-Token").empty()) << method << " " << path;
  }

  // The token of a task that never existed is dead too.
  EXPECT_EQ(Call("GET", "/execution/variables/v", Token(kMissing)).body, dead);
}

// A retried task's next try is a task instance of its own id, so the tokens of the try
// that failed stay dead while the next one is queued or running.
TEST_F(ExecutionApiTest, TokensOfAFailedTryStayDeadForTheNextTry) {
  const std::string next_try = "0b9f4b6e-1f4c-4d7a-9c1e-000000000006";
  const std::string token = Token(kRunning);
  const std::string workload = Token(kRunning, "workload", 3600);
  ASSERT_TRUE(store_->SetVariable({.key = "v", .value = "1"}).has_value());
  auto r = Call("PATCH", std::string("/execution/task-instances/") + kRunning + "/state", token,
                R"({"state":"up_for_retry"})");
  ASSERT_EQ(r.status, 204) << r.body;
  ASSERT_TRUE(store_->RetryTaskInstance(kRunning, next_try).has_value());
  ASSERT_TRUE(
      store_->TransitionTaskInstance(next_try, TaskState::kScheduled, TaskState::kQueued, kNow)
          .has_value());

  EXPECT_EQ(Call("GET", "/execution/variables/v", token).body,
            R"({"detail":"Invalid auth token: task instance is not queued or running"})");
  const std::string start = R"({"hostname":"worker-2","pid":7})";
  EXPECT_EQ(
      Call("PATCH", std::string("/execution/task-instances/") + kRunning + "/run", workload, start)
          .status,
      404);
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody).status, 404);
  // On the next try's routes they are another task instance's tokens.
  r = Call("PATCH", "/execution/task-instances/" + next_try + "/run", workload, start);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"Token subject does not match task instance ID"})");
  EXPECT_EQ(store_->GetTaskInstance(next_try)->state, TaskState::kQueued);
  // The next try's own workload token starts it.
  r = Call("PATCH", "/execution/task-instances/" + next_try + "/run",
           Token(next_try, "workload", 3600), start);
  EXPECT_EQ(r.status, 200) << r.body;
}

// A revoked signing key is one taken out of the key set (a retired key still validates,
// SPEC §2): its tokens are refused from then on, on the next request.
TEST_F(ExecutionApiTest, RevokedSigningKeyKillsItsTokens) {
  std::string token = Token(kRunning);
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody).status, 204);
  auto next = *jwt::Key::Generate(jwt::KeyType::kEd25519);
  keys_->Replace(*jwt::KeySet::Create({{.key = next, .state = jwt::KeyState::kActive}}));
  auto r = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(Detail(r).starts_with(R"("Invalid auth token: )"));
}

TEST_F(ExecutionApiTest, StateUpdateFinishesARunningTask) {
  auto path = std::string("/execution/task-instances/") + kRunning + "/state";
  clock_.Set(kNow + 42);
  auto r = Call("PATCH", path, Token(kRunning), R"({"state":"failed"})");
  EXPECT_EQ(r.status, 204);
  auto ti = store_->GetTaskInstance(kRunning);
  EXPECT_EQ(ti->state, TaskState::kFailed);
  EXPECT_EQ(ti->end_date, kNow + 42);

  r = Call("PATCH", std::string("/execution/task-instances/") + kQueued + "/state", Token(kQueued),
           R"({"state":"success"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body).at("detail").at("previous_state"), "queued");
}

TEST_F(ExecutionApiTest, Variables) {
  std::string token = Token(kRunning);
  auto r = Call("GET", "/execution/variables/missing", token);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body).at("detail").at("reason"), "not_found");

  r = Call("PUT", "/execution/variables/greeting", token, R"({"value":"hello \u00e9"})");
  EXPECT_EQ(r.status, 201);
  r = Call("GET", "/execution/variables/greeting", token);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"key":"greeting","value":"hello \u00e9"})"));

  EXPECT_EQ(Call("PUT", "/execution/variables/greeting", token, R"({"value":1})").status, 422);
  EXPECT_EQ(Call("PUT", "/execution/variables/greeting", token, "not json").status, 422);
  EXPECT_EQ(store_->GetVariable("greeting")->value, "hello \xc3\xa9");

  EXPECT_EQ(Call("DELETE", "/execution/variables/greeting", token).status, 204);
  EXPECT_EQ(Call("DELETE", "/execution/variables/greeting", token).status, 404);
}

TEST_F(ExecutionApiTest, Connections) {
  ASSERT_TRUE(store_
                  ->SetConnection({.conn_id = "db",
                                   .conn_type = "postgres",
                                   .host = "db.internal",
                                   .login = "etl",
                                   .password = "s3cret",
                                   .port = 5432})
                  .has_value());
  auto r = Call("GET", "/execution/connections/db", Token(kRunning));
  ASSERT_EQ(r.status, 200);
  auto c = json::parse(r.body);
  EXPECT_EQ(c.at("conn_type"), "postgres");
  EXPECT_EQ(c.at("host"), "db.internal");
  EXPECT_EQ(c.at("password"), "s3cret");
  EXPECT_EQ(c.at("port"), 5432);
  EXPECT_TRUE(c.at("schema").is_null());
  EXPECT_EQ(Call("GET", "/execution/connections/nope", Token(kRunning)).status, 404);
}

TEST_F(ExecutionApiTest, XComsAreScopedToTheRunAndTheWritingTask) {
  std::string mine = Token(kRunning);  // etl/run1/extract
  auto r = Call("POST", "/execution/xcoms/etl/run1/extract/rows", mine, R"({"n":[1,2,3]})");
  EXPECT_EQ(r.status, 201);
  // Another task of the same run reads it.
  r = Call("GET", "/execution/xcoms/etl/run1/extract/rows", Token(kOtherRunning));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"key":"rows","value":{"n":[1,2,3]}})"));
  // Writing or deleting another task's XCom is refused.
  r = Call("POST", "/execution/xcoms/etl/run1/extract/rows", Token(kOtherRunning), "1");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Call("DELETE", "/execution/xcoms/etl/run1/extract/rows", Token(kOtherRunning)).status,
            403);
  // A task of another run cannot read it.
  EXPECT_EQ(Call("GET", "/execution/xcoms/etl/run1/extract/rows", Token(kOtherRunTask)).status,
            403);
  // A mapped index that is not the writer's own is refused; a bad one is 422.
  EXPECT_EQ(Call("POST", "/execution/xcoms/etl/run1/extract/rows?map_index=3", mine, "1").status,
            403);
  EXPECT_EQ(Call("GET", "/execution/xcoms/etl/run1/extract/rows?map_index=x", mine).status, 422);
  EXPECT_EQ(Call("POST", "/execution/xcoms/etl/run1/extract/rows", mine, "{bad").status, 422);
  EXPECT_EQ(store_->GetXCom({"etl", "run1", "extract", -1, "rows"}).value(), R"({"n":[1,2,3]})");

  EXPECT_EQ(Call("DELETE", "/execution/xcoms/etl/run1/extract/rows", mine).status, 204);
  EXPECT_EQ(Call("GET", "/execution/xcoms/etl/run1/extract/rows", mine).status, 404);
}

TEST_F(ExecutionApiTest, EveryCallIsAuditedWithTheTokensJti) {
  std::string token = Token(kRunning);
  auto jti = validator_->Validate(token)->jti.value();
  Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  Call("GET", "/execution/variables/none", token);
  Call("PUT", HeartbeatPath(kRunning), "", kHeartbeatBody);
  const std::vector<store::AuditEntry> entries = Audited();
  ASSERT_EQ(entries.size(), 3u);
  // Newest first.
  EXPECT_EQ(entries[0].status, 401);
  EXPECT_EQ(entries[0].jti, "");
  EXPECT_EQ(entries[1].jti, jti);
  EXPECT_EQ(entries[1].method, "GET");
  EXPECT_EQ(entries[1].path, "/execution/variables/none");
  EXPECT_EQ(entries[1].status, 404);
  EXPECT_EQ(entries[2].sub, kRunning);
  EXPECT_EQ(entries[2].status, 204);
  EXPECT_EQ(entries[2].component, "api-server");
  EXPECT_EQ(entries[2].time, kNow * 1000000);
}

// A store whose variable lookup throws, as a bug or an exhausted allocator might make it.
class ThrowingVariableStore final : public store::MemoryStore {
 public:
  using MemoryStore::MemoryStore;
  Result<store::Variable> GetVariable(std::string_view) override {
    throw std::runtime_error("the store threw");
  }
};

class ThrowingHandlerTest : public ExecutionApiTest {
 protected:
  Result<std::unique_ptr<store::Store>> OpenFixtureStore() override {
    auto cipher = store::ColumnCipher::Create(kFernetKey);
    if (!cipher) return std::unexpected(cipher.error());
    return std::make_unique<ThrowingVariableStore>(std::move(*cipher));
  }
};

// The HTTP layer answers a handler that throws with a 500; the call is still audited with
// its token's jti, as every call is (SPEC §4).
TEST_F(ThrowingHandlerTest, AHandlerThatThrowsIsAnswered500AndAudited) {
  const std::string token = Token(kRunning);
  auto r = Call("GET", "/execution/variables/some_key", token);
  EXPECT_EQ(r.status, 500);
  const std::vector<store::AuditEntry> entries = Audited();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, "/execution/variables/some_key");
  EXPECT_EQ(entries[0].status, 500);
  EXPECT_EQ(entries[0].jti, validator_->Validate(token)->jti.value());
  EXPECT_EQ(entries[0].sub, kRunning);
}

// A correctly signed token refused for its subject, its type or its scope is audited with
// its jti and subject: those refusals are a task acting outside its own rights.
TEST_F(ExecutionApiTest, ValidTokensRefusedByPolicyAreAuditedWithTheirJti) {
  const std::string other = Token(kQueued);
  const std::string workload = Token(kRunning, "workload");
  const std::string unknown_scope = Token(kRunning, "admin");
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), other, kHeartbeatBody).status, 403);
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), workload, kHeartbeatBody).status, 403);
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), unknown_scope, kHeartbeatBody).status, 403);
  const std::vector<store::AuditEntry> entries = Audited();
  ASSERT_EQ(entries.size(), 3u);
  // Newest first.
  const std::string tokens[] = {unknown_scope, workload, other};
  const std::string subjects[] = {kRunning, kRunning, kQueued};
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].status, 403);
    EXPECT_EQ(entries[i].jti, validator_->Validate(tokens[i])->jti.value()) << i;
    EXPECT_EQ(entries[i].sub, subjects[i]) << i;
  }
}

// What the HTTP server answers itself (413, 501, 400, … before any route) is audited
// when the request was under the Execution API's prefix, with the token's jti when the
// token validates.
TEST_F(ExecutionApiTest, AnswersTheServerGaveBeforeRoutingAreAuditedUnderThePrefix) {
  const std::string token = Token(kRunning);
  auto head = [](std::string method, std::string target, std::string path,
                 const std::string& bearer) {
    http::Request request{.method = std::move(method), .target = std::move(target)};
    request.path = std::move(path);
    if (!bearer.empty()) request.headers.emplace_back("Authorization", "Bearer " + bearer);
    return request;
  };
  api_->AuditRefused(head("PUT", HeartbeatPath(kRunning), HeartbeatPath(kRunning), token), 413,
                     "/execution");
  api_->AuditRefused(head("GET", "/execution/%zz?x=1", "", ""), 400, "/execution");
  // Not Execution API calls: elsewhere, a path that only starts with the prefix's
  // letters, and a request whose header was never read whole.
  api_->AuditRefused(head("PUT", "/api/v2/dags", "/api/v2/dags", token), 413, "/execution");
  api_->AuditRefused(head("GET", "/executions", "/executions", token), 501, "/execution");
  api_->AuditRefused(head("", "", "", ""), 431, "/execution");
  const std::vector<store::AuditEntry> entries = Audited();
  ASSERT_EQ(entries.size(), 2u);
  // Newest first.
  EXPECT_EQ(entries[0].status, 400);
  EXPECT_EQ(entries[0].path, "/execution/%zz");
  EXPECT_EQ(entries[0].jti, "");
  EXPECT_EQ(entries[1].status, 413);
  EXPECT_EQ(entries[1].method, "PUT");
  EXPECT_EQ(entries[1].path, HeartbeatPath(kRunning));
  EXPECT_EQ(entries[1].jti, validator_->Validate(token)->jti.value());
  EXPECT_EQ(entries[1].sub, kRunning);
}

// A call under /execution that no route takes is audited too, with the token's jti when
// the token validates, and no token is renewed there.
TEST_F(ExecutionApiTest, CallsNoRouteTakesAreAuditedToo) {
  std::string token = Token(kRunning, "execution", 600);
  auto jti = validator_->Validate(token)->jti.value();
  clock_.Set(kNow + 590);  // inside the reissue threshold
  auto r = Call("GET", "/execution/admin/keys", token);
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
  r = Call("DELETE", HeartbeatPath(kRunning), token);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "PUT");
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());
  EXPECT_EQ(Call("GET", "/execution/admin/keys", "not.a.token").status, 404);
  EXPECT_EQ(Call("GET", "/nothing-under-execution", token).status, 404);  // not audited
  const std::vector<store::AuditEntry> entries = Audited();
  ASSERT_EQ(entries.size(), 3u);
  // Newest first.
  EXPECT_EQ(entries[0].jti, "");
  EXPECT_EQ(entries[0].status, 404);
  EXPECT_EQ(entries[1].jti, jti);
  EXPECT_EQ(entries[1].sub, kRunning);
  EXPECT_EQ(entries[1].method, "DELETE");
  EXPECT_EQ(entries[1].status, 405);
  EXPECT_EQ(entries[2].jti, jti);
  EXPECT_EQ(entries[2].path, "/execution/admin/keys");
  EXPECT_EQ(entries[2].status, 404);
}

// A path is percent-decoded, so an unauthenticated caller can put any byte in it. Such
// a call is audited with U+FFFD for what the store refuses, and the calls after it are
// audited too: before, its batch failed at every retry and no entry was written again.
TEST_F(ExecutionApiTest, AHostilePathIsAuditedAndHoldsBackNoLaterEntry) {
  std::string token = Token(kRunning);
  // The server decodes the path to "/execution/variables/\xff\0x".
  EXPECT_EQ(Call("GET", "/execution/variables/%ff%00x", "").status, 401);
  EXPECT_EQ(Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody).status, 204);
  const std::vector<store::AuditEntry> entries = Audited();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].path, "/execution/variables/\uFFFD\uFFFDx");
  EXPECT_EQ(entries[1].status, 401);
  EXPECT_EQ(entries[0].status, 204);
}

TEST_F(ExecutionApiTest, ServedOverHttp) {
  auto server = http::Server::Start({.threads = 2, .max_body_bytes = 4096},
                                    [this](const http::Request& r, http::Respond respond) {
                                      router_.Dispatch(r, std::move(respond));
                                    });
  ASSERT_TRUE(server.has_value());
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto send = [&](std::string body) {
    return http::Send({.method = "PUT",
                       .url = base + HeartbeatPath(kRunning),
                       .headers = {{"Authorization", "Bearer " + Token(kRunning)},
                                   {"Content-Type", "application/json"}},
                       .body = std::move(body)});
  };
  clock_.Set(kNow + 7);
  auto ok = send(kHeartbeatBody);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 204);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow + 7);

  clock_.Set(kNow + 8);
  auto malformed = send(R"({"hostname":)");
  ASSERT_TRUE(malformed.has_value());
  EXPECT_EQ(malformed->status, 422);
  auto oversize =
      send(R"({"hostname":"worker-1","pid":100,"pad":")" + std::string(8192, 'a') + "\"}");
  ASSERT_TRUE(oversize.has_value());
  EXPECT_EQ(oversize->status, 413);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow + 7);
  (*server)->Shutdown();
}

// Boost.JSON reads 1e309 as an infinity and would write it back as `Infinity`, which is
// not JSON: stored, such a value would answer 500 on every later read.
TEST_F(ExecutionApiTest, ANumberTooLargeForADoubleIsRefusedAndNothingIsStored) {
  const std::string expected =
      R"json({"detail":"Request body holds a number out of range (beyond ±1.8e308)"})json";
  const std::string xcom = "/execution/xcoms/etl/run1/extract/big";
  auto r = Call("POST", xcom, Token(kRunning), R"({"rows":[1,-1e309]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(Call("GET", xcom, Token(kRunning)).status, 404);
  // An object body, whichever route it is for, is checked as it is parsed.
  r = Call("PUT", HeartbeatPath(kRunning), Token(kRunning),
           R"({"hostname":"worker-1","pid":100,"extra":{"n":1e400}})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->last_heartbeat_at, kNow);
  // The largest double is a number like any other.
  EXPECT_EQ(Call("POST", xcom, Token(kRunning), "1.7976931348623157e308").status, 201);
  EXPECT_EQ(Call("GET", xcom, Token(kRunning)).status, 200);
}

// A message that quotes a request's path carries U+FFFD for its bytes that are not UTF-8,
// so that the answer is still JSON.
TEST_F(ExecutionApiTest, AnswersQuotingBytesThatAreNotUtf8AreStillJson) {
  for (const char* target : {"/execution/variables/a%FFb", "/execution/connections/a%C0%AFb",
                             "/execution/xcoms/etl/run1/extract/a%ED%A0%80b"}) {
    auto r = Call("GET", target, Token(kRunning));
    EXPECT_EQ(r.status, 404) << target;
    boost::system::error_code ec;
    json::value body = json::parse(r.body, ec);
    ASSERT_FALSE(ec) << target << ": " << r.body;
    const std::string message(body.at("detail").at("message").as_string());
    EXPECT_NE(message.find("a\xEF\xBF\xBD"), std::string::npos) << message;
  }
}

// What the Execution API's requests can change, as text: compared before and after a
// refused request.
std::string StoreState(store::Store& store) {
  std::string out;
  for (const char* run_id : {"run1", "run2"}) {
    const auto tis = store.ListTaskInstances("etl", run_id).value();
    for (const store::TaskInstance& ti : tis) {
      out += ti.id + " " + std::string(store::TaskStateName(ti.state)) + " " + ti.hostname + " " +
             std::to_string(ti.pid) + " " + std::to_string(ti.try_number) + " " +
             std::to_string(ti.start_date.value_or(-1)) + " " +
             std::to_string(ti.end_date.value_or(-1)) + " " +
             std::to_string(ti.last_heartbeat_at.value_or(-1)) + "\n";
    }
  }
  const auto variables = store.ListVariables().value();
  for (const store::Variable& v : variables) {
    out += "variable " + v.key + "=" + v.value + " (" + v.description + ")\n";
  }
  const auto connections = store.ListConnections().value();
  for (const store::Connection& c : connections) {
    out += "connection " + c.conn_id + " " + c.host + "\n";
  }
  for (const char* task_id : {"extract", "report"}) {
    auto xcom = store.GetXCom(
        {.dag_id = "etl", .run_id = "run1", .task_id = task_id, .map_index = -1, .key = "k"});
    out += std::string("xcom ") + task_id + "=" + xcom.value_or("(none)") + "\n";
  }
  const auto dags = store.ListDags().value();
  for (const store::Dag& d : dags) {
    out += "dag " + d.dag_id + " " + d.bundle_name + " " + d.serialized_json + "\n";
  }
  const auto triggers = store.ListTriggers().value();
  for (const store::Trigger& t : triggers) {
    out += "trigger " + std::to_string(t.id) + " " + t.ti_id + " " + t.args_json + " " +
           t.triggerer_id + " " + std::to_string(t.lease_expires_at.value_or(-1)) + "\n";
  }
  const auto errors = store.ListImportErrors().value();
  for (const store::ImportError& e : errors) {
    out += "import error " + e.bundle_name + " " + e.filename + " " + e.stack_trace + "\n";
  }
  return out;
}

// A deterministic stream of hostile variations of valid requests, on every route of the
// Execution API with a token it takes: each is answered 2xx or 4xx with a {"detail": …}
// body, never 5xx or a dropped connection, and each that is refused leaves the store as it
// was.
void ExecutionApiTest::MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing() {
  ASSERT_TRUE(store_->SetVariable({.key = "v", .value = "1", .description = "d"}).has_value());
  ASSERT_TRUE(
      store_->SetConnection({.conn_id = "c", .conn_type = "http", .host = "h"}).has_value());
  ASSERT_TRUE(store_
                  ->SetXCom({.dag_id = "etl",
                             .run_id = "run1",
                             .task_id = "extract",
                             .map_index = -1,
                             .key = "k"},
                            "1")
                  .has_value());
  // kOtherRunTask waits on a trigger, for the triggerer's routes.
  ASSERT_EQ(Call("PATCH", "/execution/task-instances/" + std::string(kOtherRunTask) + "/state",
                 Token(kOtherRunTask),
                 R"({"state":"deferred","trigger":{"kind":"datetime",)"
                 R"("args":{"delay_seconds":60}},"trigger_timeout":600})")
                .status,
            204);
  const std::string trigger_id = std::to_string(store_->ListTriggers().value().at(0).id);
  auto mint = [&](const std::string& sub, const std::string& scope,
                  std::vector<std::pair<std::string, std::string>> extra) {
    return signer_
        ->Mint({.sub = sub,
                .aud = {kAudience},
                .ttl_seconds = 600,
                .scope = scope,
                .extra_claims = std::move(extra)})
        .value();
  };
  const std::string processor = mint("dag-processor", "dag_processor", {{"bundles", R"(["b"])"}});
  const std::string triggerer = Token("triggerer", "triggerer");
  const std::string trigger = mint(kOtherRunTask, "trigger", {{"trigger_id", trigger_id}});

  struct Base {
    std::string method, target, body, token;
  };
  const std::string ti = "/execution/task-instances/";
  const std::string xcom = "/execution/xcoms/etl/run1/extract/k";
  const std::string triggers = "/execution/triggers/";
  const std::vector<Base> bases = {
      {"PUT", HeartbeatPath(kRunning), kHeartbeatBody, Token(kRunning)},
      {"PATCH", ti + kQueued + "/run",
       R"({"hostname":"w","pid":7,"start_date":"2027-01-15T08:00:00Z"})", Token(kQueued)},
      {"PATCH", ti + kOtherRunning + "/state",
       R"({"state":"failed","end_date":"2027-01-15T08:00:00Z"})", Token(kOtherRunning)},
      {"PATCH", ti + kRunning + "/state",
       R"({"state":"deferred","trigger":{"kind":"datetime","args":{"delay_seconds":5}},)"
       R"("trigger_timeout":60})",
       Token(kRunning)},
      {"PUT", "/execution/variables/v", R"({"value":"2","description":"e"})", Token(kRunning)},
      {"GET", "/execution/variables/v", "", Token(kRunning)},
      {"DELETE", "/execution/variables/v", "", Token(kRunning)},
      {"GET", "/execution/connections/c", "", Token(kRunning)},
      {"POST", xcom + "?map_index=-1", R"({"rows":[1,2.5,"x",null,{"a":true}]})", Token(kRunning)},
      {"GET", xcom, "", Token(kRunning)},
      {"DELETE", xcom, "", Token(kRunning)},
      {"PUT", "/execution/dags/d",
       R"({"dag_id":"d","fileloc":"d.yaml","bundle":{"name":"b","version":""},)"
       R"("tasks":[{"task_id":"a","command":["true"],"upstream":[]}]})",
       processor},
      {"GET", "/execution/dags", "", processor},
      {"DELETE", "/execution/dags/d", "", processor},
      {"PUT", "/execution/import-errors",
       R"({"bundle":"b","import_errors":[{"filename":"x.yaml","stack_trace":"boom"}]})", processor},
      {"POST", triggers + "claim", R"({"triggerer_id":"t1","capacity":10,"lease_seconds":30})",
       triggerer},
      {"POST", triggers + "renew",
       R"({"triggerer_id":"t1","trigger_ids":[)" + trigger_id + R"(],"lease_seconds":30})",
       triggerer},
      {"POST", triggers + trigger_id + "/event", R"({"payload":{"moment":"now","n":[1,2]}})",
       trigger},
      {"POST", triggers + trigger_id + "/failure", R"({"error":"it broke"})", trigger},
  };
  // The task instances the path segments may name, besides what the mutator picks.
  const std::vector<std::string> task_segments = {kMissing, kOtherRunning, kFinished};
  test::RequestMutator mutator(1);

  int refused = 0, accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string what;
    Base r = mutator.Next(bases, what);
    if (mutator.Below(8) == 0 && r.target.starts_with(ti)) {  // another task's id
      const std::string& id = mutator.Pick(task_segments);
      r.target.replace(ti.size(), r.target.find_first_of("/?", ti.size()) - ti.size(), id);
      what += " id " + id;
    }
    const std::string before = StoreState(*store_);
    const http::Response answer = Call(r.method, r.target, r.token, r.body);
    ASSERT_TRUE(test::AnsweredCleanly(answer.status, answer.body)) << what;
    if (answer.status < 400) {
      ++accepted;
    } else {
      ++refused;
      EXPECT_EQ(StoreState(*store_), before) << what << " → " << answer.status;
    }
  }
  // Both kinds were exercised.
  EXPECT_GT(refused, 100);
  EXPECT_GT(accepted, 20);
}

TEST_F(ExecutionApiTest, MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing) {
  MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing();
}

// The same on a SQLite file: the SQL stores check what they are given on their own.
class ExecutionApiOnSqliteTest : public ExecutionApiTest {
 protected:
  std::string StoreUrl() override { return "sqlite:///" + temp_.path() + "/airlock.db"; }
};

TEST_F(ExecutionApiOnSqliteTest, MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing) {
  MutatedRequestsAreAnsweredAndRefusedOnesChangeNothing();
}

// --- The dag-processor's routes -----------------------------------------------------------

class DagProcessorRoutesTest : public ExecutionApiTest {
 protected:
  std::string ProcessorToken(const std::string& bundles_json = R"(["team-a"])",
                             std::string scope = "dag_processor") {
    auto token = signer_->Mint({.sub = "dag-processor",
                                .aud = {kAudience},
                                .ttl_seconds = 3600,
                                .scope = std::move(scope),
                                .extra_claims = {{"bundles", bundles_json}}});
    EXPECT_TRUE(token.has_value());
    return token.value_or("");
  }
  static std::string DagJson(const std::string& dag_id, const std::string& bundle,
                             const std::string& upstream = "[]") {
    return R"({"dag_id":")" + dag_id + R"(","fileloc":"x.yaml","bundle":{"name":")" + bundle +
           R"(","version":""},"tasks":[{"task_id":"a","command":["true"],"upstream":)" + upstream +
           "}]}";
  }
};

TEST_F(DagProcessorRoutesTest, StoresADagOfACoveredBundleInCanonicalForm) {
  auto r = Call("PUT", "/execution/dags/sales", ProcessorToken(), DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 201) << r.body;
  auto dag = store_->GetDag("sales");
  ASSERT_TRUE(dag.has_value());
  EXPECT_EQ(dag->bundle_name, "team-a");
  EXPECT_EQ(dag->relative_fileloc, "x.yaml");
  EXPECT_NE(dag->serialized_json.find(R"("trigger_rule":"all_success")"), std::string::npos);
  EXPECT_TRUE(r.Header("Refreshed-API-Token").empty());

  // Resubmission keeps is_paused.
  store::Dag paused = *dag;
  paused.is_paused = true;
  ASSERT_TRUE(store_->SetDag(paused).has_value());
  r = Call("PUT", "/execution/dags/sales", ProcessorToken(), DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(store_->GetDag("sales")->is_paused);

  r = Call("GET", "/execution/dags", ProcessorToken());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"dags":[{"dag_id":"sales","bundle":"team-a","fileloc":"x.yaml"}]})");
  r = Call("DELETE", "/execution/dags/sales", ProcessorToken());
  EXPECT_EQ(r.status, 204);
  EXPECT_FALSE(store_->GetDag("sales").has_value());
}

TEST_F(DagProcessorRoutesTest, RefusesBundlesTheTokenDoesNotCover) {
  auto r = Call("PUT", "/execution/dags/sales", ProcessorToken(), DagJson("sales", "team-b"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"Token does not cover this Dag's bundle"})");
  r = Call("PUT", "/execution/dags/sales", ProcessorToken("[]"), DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 403);
  r = Call("PUT", "/execution/dags/sales", ProcessorToken(R"("team-a")"),
           DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 403) << "a bundles claim that is not a list covers nothing";
  EXPECT_FALSE(store_->GetDag("sales").has_value());
}

TEST_F(DagProcessorRoutesTest, NeverTakesOverOrDeletesAnotherBundlesDag) {
  // "etl" was stored without a bundle name by the fixture: it belongs to another bundle.
  auto r = Call("PUT", "/execution/dags/etl", ProcessorToken(), DagJson("etl", "team-a"));
  EXPECT_EQ(r.status, 409);
  r = Call("DELETE", "/execution/dags/etl", ProcessorToken());
  EXPECT_EQ(r.status, 403);
  EXPECT_TRUE(store_->GetDag("etl").has_value());
  r = Call("GET", "/execution/dags", ProcessorToken());
  EXPECT_EQ(r.body, R"({"dags":[]})");
}

TEST_F(DagProcessorRoutesTest, ImportErrorsReplaceTheCoveredBundlesSet) {
  auto r =
      Call("PUT", "/execution/import-errors", ProcessorToken(),
           R"({"bundle":"team-a","import_errors":[{"filename":"x.py","stack_trace":"boom"}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  auto stored = store_->ListImportErrors();
  ASSERT_TRUE(stored.has_value());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].bundle_name, "team-a");
  EXPECT_EQ((*stored)[0].filename, "x.py");
  EXPECT_EQ((*stored)[0].stack_trace, "boom");
  EXPECT_EQ((*stored)[0].timestamp, kNow);

  r = Call("PUT", "/execution/import-errors", ProcessorToken(),
           R"({"bundle":"team-b","import_errors":[]})");
  EXPECT_EQ(r.status, 403);
  for (const char* bad :
       {"not json", R"({"bundle":"team-a"})", R"({"bundle":"team-a","import_errors":[{}]})",
        R"({"bundle":"team-a","import_errors":[{"filename":"a","stack_trace":"x"},)"
        R"({"filename":"a","stack_trace":"y"}]})"}) {
    r = Call("PUT", "/execution/import-errors", ProcessorToken(), bad);
    EXPECT_EQ(r.status, 422) << bad;
  }
  r = Call("PUT", "/execution/import-errors", ProcessorToken(),
           R"({"bundle":"team-a","import_errors":[]})");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(store_->ListImportErrors()->empty());
}

TEST_F(DagProcessorRoutesTest, ValidatesTheDagAgain) {
  auto r = Call("PUT", "/execution/dags/sales", ProcessorToken(),
                DagJson("sales", "team-a", R"(["a"])"));
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("its own upstream"), std::string::npos) << r.body;
  r = Call("PUT", "/execution/dags/other", ProcessorToken(), DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 422);
  r = Call("PUT", "/execution/dags/sales", ProcessorToken(), "not json");
  EXPECT_EQ(r.status, 422);
  EXPECT_FALSE(store_->GetDag("sales").has_value());
}

TEST_F(DagProcessorRoutesTest, OnlyDagProcessorTokensAndOnlyHere) {
  // A task's execution token cannot submit Dags...
  auto r = Call("PUT", "/execution/dags/sales", Token(kRunning), DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(
      r.body,
      R"({"detail":"Token type 'execution' not allowed for this endpoint. Allowed types: dag_processor"})");
  // ...and a processor token is not an execution token anywhere else.
  r = Call("GET", "/execution/variables/x", ProcessorToken());
  EXPECT_EQ(r.status, 403);
  r = Call("PUT", HeartbeatPath(kRunning), ProcessorToken(), kHeartbeatBody);
  EXPECT_EQ(r.status, 403);
}

TEST_F(DagProcessorRoutesTest, RevokedProcessorTokenIsRefused) {
  std::string token = ProcessorToken();
  auto claims = validator_->Validate(token);
  ASSERT_TRUE(claims.has_value());
  ASSERT_TRUE(store_->RevokeToken(*claims->jti, claims->exp).has_value());
  auto r = Call("PUT", "/execution/dags/sales", token, DagJson("sales", "team-a"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"Invalid auth token: token has been revoked"})");
}

// A correctly signed processor token whose jti the store could not hold could never be
// revoked, so it is refused outright.
TEST_F(DagProcessorRoutesTest, AProcessorTokenWhoseJtiCannotBeRevokedIsRefused) {
  const std::string token = ProcessorToken();
  json::object payload = json::parse(jwt::DecodeUnverified(token).value().payload).as_object();
  auto resigned = [&](const std::string& jti) {
    payload["jti"] = jti;
    std::string out =
        token.substr(0, token.find('.')) + "." + jwt::Base64UrlEncode(json::serialize(payload));
    return out + "." + jwt::Base64UrlEncode(key_->Sign(out).value());
  };
  // Signed again with an ordinary jti it is accepted: the signing is right.
  EXPECT_EQ(Call("GET", "/execution/dags", resigned("another-jti")).status, 200);
  // "a\u0000b" in the payload: valid JSON, so only this rule can refuse it.
  auto r = Call("GET", "/execution/dags", resigned(std::string("a\0b", 3)));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"Invalid auth token: token cannot be revoked"})");
}

// --- Deferral and the triggerer's routes (trigger_routes.h) ----------------------------

class TriggerRoutesTest : public ExecutionApiTest {
 protected:
  // Defers kRunning (or `id`) on a datetime trigger; returns the trigger's id.
  int64_t Defer(const std::string& id = kRunning,
                std::string trigger = R"({"kind":"datetime","args":{"delay_seconds":60}})") {
    auto r = Call("PATCH", "/execution/task-instances/" + id + "/state", Token(id),
                  R"({"state":"deferred","trigger":)" + trigger + R"(,"trigger_timeout":600})");
    EXPECT_EQ(r.status, 204) << r.body;
    auto triggers = store_->ListTriggers();
    EXPECT_TRUE(triggers.has_value());
    for (const store::Trigger& t : *triggers) {
      if (t.ti_id == id) return t.id;
    }
    ADD_FAILURE() << "no trigger stored for " << id;
    return 0;
  }

  json::object Claim(int capacity = 10, const std::string& triggerer = "triggerer-1") {
    auto r = Call("POST", "/execution/triggers/claim", Token("triggerer", "triggerer"),
                  R"({"triggerer_id":")" + triggerer + R"(","capacity":)" +
                      std::to_string(capacity) + R"(,"lease_seconds":30})");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body).as_object() : json::object();
  }

  // A correctly signed trigger token for any (sub, trigger_id), as a hostile triggerer
  // might hold one.
  std::string TriggerToken(const std::string& sub, int64_t trigger_id,
                           std::string scope = "trigger") {
    auto token = signer_->Mint({.sub = sub,
                                .aud = {kAudience},
                                .ttl_seconds = 600,
                                .scope = std::move(scope),
                                .extra_claims = {{"trigger_id", std::to_string(trigger_id)}}});
    EXPECT_TRUE(token.has_value());
    return token.value_or("");
  }

  http::Response Event(int64_t trigger_id, const std::string& token,
                       std::string body = R"({"payload":{"moment":"now"}})") {
    return Call("POST", "/execution/triggers/" + std::to_string(trigger_id) + "/event", token,
                std::move(body));
  }
};

TEST_F(TriggerRoutesTest, DeferredTaskIsClaimedAndItsTriggerTokenResumesIt) {
  const int64_t id = Defer();
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kDeferred);
  auto stored = store_->GetTrigger(id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->args_json, R"({"moment":"2027-01-15T08:01:00Z"})");  // kNow + 60
  EXPECT_EQ(stored->timeout_at, kNow + 600);

  json::object claimed = Claim();
  const json::array& triggers = claimed.at("triggers").as_array();
  ASSERT_EQ(triggers.size(), 1u);
  const json::object& t = triggers[0].as_object();
  EXPECT_EQ(t.at("id").as_int64(), id);
  EXPECT_EQ(t.at("ti_id").as_string(), kRunning);
  EXPECT_EQ(t.at("kind").as_string(), "datetime");
  EXPECT_EQ(json::serialize(t.at("args")), R"({"moment":"2027-01-15T08:01:00Z"})");
  EXPECT_EQ(t.at("timeout_at").as_string(), "2027-01-15T08:10:00Z");
  // The token handed out is for this trigger only.
  auto claims = validator_->Validate(t.at("token").as_string());
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->scope, "trigger");
  EXPECT_EQ(claims->sub, kRunning);
  EXPECT_EQ(TokenTriggerId(*claims), id);
  // Nothing left to claim, for this triggerer or another.
  EXPECT_TRUE(Claim(10, "triggerer-2").at("triggers").as_array().empty());

  auto fired = Event(id, std::string(t.at("token").as_string()));
  EXPECT_EQ(fired.status, 204) << fired.body;
  auto ti = store_->GetTaskInstance(kRunning);
  EXPECT_EQ(ti->state, TaskState::kScheduled);
  EXPECT_EQ(ti->trigger_event_json, R"({"moment":"now"})");
  // Fired once: the trigger is gone.
  auto again = Event(id, std::string(t.at("token").as_string()));
  EXPECT_EQ(again.status, 404) << again.body;

  // The next try's run context carries the event.
  ASSERT_TRUE(
      store_->TransitionTaskInstance(kRunning, TaskState::kScheduled, TaskState::kQueued, kNow)
          .has_value());
  auto run = Call("PATCH", "/execution/task-instances/" + std::string(kRunning) + "/run",
                  Token(kRunning, "workload"), R"({"hostname":"w2","pid":7})");
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(json::serialize(json::parse(run.body).at("trigger_event")), R"({"moment":"now"})");
}

TEST_F(TriggerRoutesTest, DeferRefusesTriggersThatCannotRunAndChangesNothing) {
  const std::string path = "/execution/task-instances/" + std::string(kRunning) + "/state";
  struct Case {
    std::string body, detail;
  };
  const Case cases[] = {
      {R"({"state":"deferred"})", "needs Field 'trigger'"},
      {R"({"state":"deferred","trigger":{"kind":"cron","args":{}}})",
       "Invalid trigger: unknown trigger kind 'cron'"},
      {R"({"state":"deferred","trigger":{"kind":"file","args":{"path":"rel"}}})",
       "Invalid trigger: file trigger: 'path' must be an absolute path"},
      {R"({"state":"deferred","trigger":{"kind":"datetime","args":{"delay_seconds":1}},)"
       R"("trigger_timeout":0})",
       "Field 'trigger_timeout' must be"},
  };
  for (const Case& c : cases) {
    auto r = Call("PATCH", path, Token(kRunning), c.body);
    EXPECT_EQ(r.status, 422) << c.body;
    EXPECT_NE(r.body.find(c.detail), std::string::npos) << r.body;
  }
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kRunning);
  EXPECT_TRUE(store_->ListTriggers()->empty());
  // Only a running task defers.
  auto queued =
      Call("PATCH", "/execution/task-instances/" + std::string(kQueued) + "/state", Token(kQueued),
           R"({"state":"deferred","trigger":{"kind":"datetime","args":{"delay_seconds":1}}})");
  EXPECT_EQ(queued.status, 409) << queued.body;
}

// Each token below is correctly signed and otherwise valid; only the rule named fails it.
TEST_F(TriggerRoutesTest, ATriggerTokenCannotActOnAnotherTriggerOrTask) {
  const int64_t mine = Defer(kRunning);
  const int64_t theirs = Defer(kOtherRunning);
  const std::string token = TriggerToken(kRunning, mine);

  // Another trigger's event or failure: refused, and that task stays deferred.
  auto other_event = Event(theirs, token);
  EXPECT_EQ(other_event.status, 403);
  EXPECT_EQ(other_event.body, R"({"detail":"Token does not belong to this trigger"})");
  auto other_failure = Call("POST", "/execution/triggers/" + std::to_string(theirs) + "/failure",
                            token, R"({"error":"x"})");
  EXPECT_EQ(other_failure.status, 403);
  // The right trigger id with another task instance as subject.
  EXPECT_EQ(Event(theirs, TriggerToken(kRunning, theirs)).status, 403);
  EXPECT_EQ(store_->GetTaskInstance(kOtherRunning)->state, TaskState::kDeferred);

  // Task-instance routes, variables, and the triggerer's own routes: wrong token type.
  auto heartbeat = Call("PUT", HeartbeatPath(kRunning), token, kHeartbeatBody);
  EXPECT_EQ(heartbeat.status, 403);
  EXPECT_NE(heartbeat.body.find("Token type 'trigger' not allowed"), std::string::npos);
  EXPECT_EQ(Call("GET", "/execution/variables/x", token).status, 403);
  EXPECT_EQ(Call("POST", "/execution/triggers/claim", token,
                 R"({"triggerer_id":"t","capacity":10,"lease_seconds":30})")
                .status,
            403);
  // An execution token of the right task with a trigger_id claim is still not a trigger
  // token, and the triggerer's own token cannot fire anything.
  EXPECT_EQ(Event(mine, TriggerToken(kRunning, mine, "execution")).status, 403);
  auto by_triggerer = Event(mine, Token("triggerer", "triggerer"));
  EXPECT_EQ(by_triggerer.status, 403);
  EXPECT_NE(by_triggerer.body.find("Token type 'triggerer' not allowed"), std::string::npos);
  EXPECT_EQ(store_->GetTaskInstance(kRunning)->state, TaskState::kDeferred);

  // Its own trigger: accepted.
  EXPECT_EQ(Event(mine, token).status, 204);
}

TEST_F(TriggerRoutesTest, FailureFailsTheTaskAndLateReportsAreRefused) {
  const int64_t id = Defer();
  const std::string token = TriggerToken(kRunning, id);
  auto failed = Call("POST", "/execution/triggers/" + std::to_string(id) + "/failure", token,
                     R"({"error":"user trigger exited with status 3"})");
  EXPECT_EQ(failed.status, 204) << failed.body;
  auto ti = store_->GetTaskInstance(kRunning);
  EXPECT_EQ(ti->state, TaskState::kFailed);
  EXPECT_EQ(ti->end_date, kNow);
  EXPECT_EQ(Event(id, token).status, 404);

  // The task moved on while its trigger was out (marked skipped by someone): 409.
  const int64_t other = Defer(kOtherRunning);
  ASSERT_TRUE(
      store_->TransitionTaskInstance(kOtherRunning, TaskState::kDeferred, TaskState::kSkipped, kNow)
          .has_value());
  auto late = Event(other, TriggerToken(kOtherRunning, other));
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(Detail(late), R"({"reason":"invalid_state","message":"Task instance is not deferred",)"
                          R"("previous_state":"skipped"})");
  // Bodies that are not what the route takes.
  const int64_t third = Defer(kOtherRunTask);
  const std::string third_token = TriggerToken(kOtherRunTask, third);
  EXPECT_EQ(Event(third, third_token, R"({"payload":[1]})").status, 422);
  EXPECT_EQ(Event(third, third_token,
                  R"({"payload":{"x":")" + std::string(kMaxTriggerEventBytes, 'a') + R"("}})")
                .status,
            422);
  EXPECT_EQ(store_->GetTaskInstance(kOtherRunTask)->state, TaskState::kDeferred);
}

TEST_F(TriggerRoutesTest, RenewKeepsHeldLeasesAndReportsLostOnes) {
  const int64_t a = Defer(kRunning);
  const int64_t b = Defer(kOtherRunning);
  ASSERT_EQ(Claim(10, "t1").at("triggers").as_array().size(), 2u);
  // b fires (on its own token); a is still held.
  ASSERT_EQ(Event(b, TriggerToken(kOtherRunning, b)).status, 204);
  auto r = Call("POST", "/execution/triggers/renew", Token("triggerer", "triggerer"),
                R"({"triggerer_id":"t1","trigger_ids":[)" + std::to_string(a) + "," +
                    std::to_string(b) + R"(,999],"lease_seconds":30})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object body = json::parse(r.body).as_object();
  ASSERT_EQ(body.at("renewed").as_array().size(), 1u);
  const json::object& renewed = body.at("renewed").as_array()[0].as_object();
  EXPECT_EQ(renewed.at("id").as_int64(), a);
  auto claims = validator_->Validate(renewed.at("token").as_string());
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(TokenTriggerId(*claims), a);
  EXPECT_EQ(json::serialize(body.at("lost")), "[" + std::to_string(b) + ",999]");
  // Another triggerer renews nothing of t1's.
  auto other = Call(
      "POST", "/execution/triggers/renew", Token("triggerer", "triggerer"),
      R"({"triggerer_id":"t2","trigger_ids":[)" + std::to_string(a) + R"(],"lease_seconds":30})");
  EXPECT_EQ(json::serialize(json::parse(other.body).at("renewed")), "[]");

  for (std::string bad : {R"({"triggerer_id":"","capacity":1,"lease_seconds":30})",
                          R"({"triggerer_id":"t","capacity":-1,"lease_seconds":30})",
                          R"({"triggerer_id":"t","capacity":1,"lease_seconds":1})",
                          R"({"triggerer_id":"t","capacity":10001,"lease_seconds":30})"}) {
    EXPECT_EQ(
        Call("POST", "/execution/triggers/claim", Token("triggerer", "triggerer"), bad).status, 422)
        << bad;
  }
}

}  // namespace
}  // namespace airlock::execution_api

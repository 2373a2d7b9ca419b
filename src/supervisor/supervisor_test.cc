#include "supervisor/supervisor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "http/server.h"
#include "testing/temp_dir.h"

namespace airlock::supervisor {
namespace {

namespace json = boost::json;

constexpr char kWorkloadToken[] = "workload-token-value-never-logged";
constexpr char kExecutionToken[] = "execution-token-value";

Workload TestWorkload() {
  return Workload{.token = kWorkloadToken,
                  .ti = {.id = "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11",
                         .dag_id = "d",
                         .task_id = "t",
                         .run_id = "manual__1",
                         .try_number = 2}};
}

TEST(ParseWorkloadTest, ReadsTheWorkloadOfSpecSection5) {
  auto workload = ParseWorkload(R"({"type":"ExecuteTask","token":"tok",
      "ti":{"id":"i","dag_id":"d","task_id":"t","run_id":"r","try_number":3,"map_index":-1},
      "dag_rel_path":"d.yaml","bundle_info":{"name":"dags-folder","version":null},
      "log_path":"x/attempt=3.log"})");
  ASSERT_TRUE(workload) << workload.error().message();
  EXPECT_EQ(workload->token, "tok");
  EXPECT_EQ(workload->ti.id, "i");
  EXPECT_EQ(workload->ti.run_id, "r");
  EXPECT_EQ(workload->ti.try_number, 3);
  EXPECT_EQ(workload->bundle_name, "dags-folder");
  EXPECT_EQ(workload->log_path, "x/attempt=3.log");
}

TEST(ParseWorkloadTest, ErrorsNameTheFieldNeverTheToken) {
  for (std::string_view text : {
           R"({"type":"ExecuteTask","token":"secret-token-xyz"})",
           R"({"type":"Other","token":"secret-token-xyz","ti":{}})",
           R"({"type":"ExecuteTask","token":"secret-token-xyz","ti":{"id":"i","dag_id":"d"}})",
           R"({"type":"ExecuteTask","ti":{"id":"i","dag_id":"d","task_id":"t","run_id":"r"}})",
           R"({"type":"ExecuteTask","token":"secret-token-xyz","ti":{"id":"i","dag_id":"d",
               "task_id":"t","run_id":"r","try_number":"1"}})",
           "secret-token-xyz",
       }) {
    auto workload = ParseWorkload(text);
    ASSERT_FALSE(workload) << text;
    EXPECT_EQ(workload.error().message().find("secret-token-xyz"), std::string::npos);
  }
}

TEST(ParseTaskSpecTest, ReadsTheTaskEntry) {
  auto spec = ParseTaskSpec(R"({"task":{"task_id":"t","command":["echo","hi"],
      "env":{"A":"1"},"execution_timeout":1.5,"run_as_user":"alice","retries":2}})");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->command, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_EQ(spec->env, (std::vector<std::pair<std::string, std::string>>{{"A", "1"}}));
  EXPECT_EQ(spec->execution_timeout_seconds, 1.5);
  EXPECT_EQ(spec->run_as_user, "alice");
  spec = ParseTaskSpec(R"({"task":{"command":["true"],"execution_timeout":null}})");
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->execution_timeout_seconds);
  EXPECT_FALSE(spec->run_as_user);
}

TEST(ParseTaskSpecTest, RefusesMalformedTasks) {
  for (std::string_view text : {
           R"({"task":null})",
           R"({"task":{"command":[]}})",
           R"({"task":{"command":"echo hi"}})",
           R"({"task":{"command":["echo",1]}})",
           R"({"task":{"command":["true"],"env":{"A=B":"1"}}})",
           R"({"task":{"command":["true"],"env":{"A":1}}})",
           R"({"task":{"command":["true"],"execution_timeout":0}})",
           R"({"task":{"command":["true"],"run_as_user":""}})",
       }) {
    EXPECT_FALSE(ParseTaskSpec(text)) << text;
  }
}

TEST(TaskLogPathTest, FollowsTheAirflowLayout) {
  Workload workload = TestWorkload();
  EXPECT_EQ(*TaskLogPath(workload, "/logs"),
            "/logs/dag_id=d/run_id=manual__1/task_id=t/attempt=2.log");
  workload.ti.map_index = 4;
  EXPECT_EQ(*TaskLogPath(workload, "/logs"),
            "/logs/dag_id=d/run_id=manual__1/task_id=t/map_index=4/attempt=2.log");
  workload.log_path = "rel/a.log";
  EXPECT_EQ(*TaskLogPath(workload, "/logs"), "/logs/rel/a.log");
  workload.log_path = "/abs/a.log";
  EXPECT_EQ(*TaskLogPath(workload, "/logs"), "/abs/a.log");
  workload.log_path = "../../etc/passwd";
  EXPECT_FALSE(TaskLogPath(workload, "/logs"));
  workload.log_path = "";
  workload.ti.run_id = "a/../../b";
  EXPECT_FALSE(TaskLogPath(workload, "/logs"));
}

// SPEC §5's numbers are the defaults: heartbeats at most every 5 s, SIGKILL 5 s after
// SIGTERM, killed after 3 failed heartbeats in a row. airlock-supervisor keeps them.
TEST(SupervisorOptionsTest, DefaultsAreThoseOfSpecSection5) {
  const SupervisorOptions defaults;
  EXPECT_EQ(defaults.heartbeat_interval, std::chrono::seconds(5));
  EXPECT_EQ(defaults.kill_grace, std::chrono::seconds(5));
  EXPECT_EQ(defaults.max_failed_heartbeats, 3);
}

TEST(ResolveTaskUserTest, RootSupervisorRunsTasksAsNobodyByDefault) {
  auto user = ResolveTaskUser({.supervisor_euid = 0});
  ASSERT_TRUE(user) << user.error().message();
  EXPECT_EQ(user->name, "nobody");
}

TEST(ResolveTaskUserTest, RootTasksNeedAllowRootTasks) {
  auto user = ResolveTaskUser({.run_as_user = "root", .supervisor_euid = 0});
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(user.error().message().find("allow_root_tasks"), std::string::npos);
  user = ResolveTaskUser({.default_impersonation = "root", .supervisor_euid = 0});
  ASSERT_FALSE(user);
  user = ResolveTaskUser({.run_as_user = "root", .allow_root_tasks = true, .supervisor_euid = 0});
  ASSERT_TRUE(user);
  EXPECT_EQ(user->uid, 0u);
}

TEST(ResolveTaskUserTest, UnprivilegedSupervisorRunsOtherUsersTasksThroughSudo) {
  // Another user is resolved (StartTask then goes through sudo), with the root rule kept.
  auto user = ResolveTaskUser({.run_as_user = "daemon", .supervisor_euid = 1000});
  ASSERT_TRUE(user) << user.error().message();
  EXPECT_EQ(user->name, "daemon");
  user = ResolveTaskUser({.default_impersonation = "daemon", .supervisor_euid = 1000});
  ASSERT_TRUE(user) << user.error().message();
  EXPECT_EQ(user->name, "daemon");
  user = ResolveTaskUser({.run_as_user = "root", .supervisor_euid = 1000});
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code(), ErrorCode::kPermissionDenied);
  user =
      ResolveTaskUser({.run_as_user = "root", .allow_root_tasks = true, .supervisor_euid = 1000});
  ASSERT_TRUE(user);
  EXPECT_EQ(user->uid, 0u);
  EXPECT_FALSE(ResolveTaskUser({.run_as_user = "no-such-user-airlock", .supervisor_euid = 1000}));
  EXPECT_FALSE(ResolveTaskUser({.run_as_user = "no-such-user-airlock", .supervisor_euid = 0}));
}

TEST(ResolveTaskUserTest, UnprivilegedSupervisorRunsTasksAsItselfByDefault) {
  auto current = CurrentUser();
  ASSERT_TRUE(current);
  auto user = ResolveTaskUser({.supervisor_euid = 1000});
  ASSERT_TRUE(user) << user.error().message();
  EXPECT_EQ(user->uid, current->uid);
}

// An Execution API double: the routes the supervisor calls, with scripted answers.
class FakeExecutionApi {
 public:
  explicit FakeExecutionApi(std::string task_json) : task_json_(std::move(task_json)) {
    auto server =
        http::Server::Start({.threads = 2}, [this](const http::Request& r) { return Handle(r); });
    EXPECT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/execution/";
  }

  int run_status = 200;
  int heartbeat_status = 204;
  // Answers to the first heartbeats, in order; heartbeat_status answers the rest.
  std::vector<int> first_heartbeat_statuses;
  std::string trigger_event_json = "null";  // the run context's "trigger_event"

  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::string> reported_states() {
    std::lock_guard lock(mu_);
    return states_;
  }
  std::vector<std::string> state_bodies() {
    std::lock_guard lock(mu_);
    return state_bodies_;
  }
  bool saw_workload_token_after_exchange() {
    std::lock_guard lock(mu_);
    return workload_token_reused_;
  }
  // How many heartbeats the supervisor sent.
  size_t heartbeats() {
    std::lock_guard lock(mu_);
    return heartbeats_;
  }

 private:
  http::Response Handle(const http::Request& request) {
    std::lock_guard lock(mu_);
    calls_.push_back(request.method + " " + request.path);
    const std::string auth(request.Header("Authorization"));
    const std::string prefix = "/execution/task-instances/" + TestWorkload().ti.id;
    if (request.method == "PATCH" && request.path == prefix + "/run") {
      if (run_status != 200) return http::Response::Json(run_status, R"({"detail":"nope"})");
      http::Response response =
          http::Response::Json(200, R"({"dag_run":{},"task_instance":{},"task":)" + task_json_ +
                                        R"(,"trigger_event":)" + trigger_event_json + "}");
      response.SetHeader("Refreshed-API-Token", kExecutionToken);
      return response;
    }
    if (auth != std::string("Bearer ") + kExecutionToken) workload_token_reused_ = true;
    if (request.method == "PUT" && request.path == prefix + "/heartbeat") {
      const int status = heartbeats_ < first_heartbeat_statuses.size()
                             ? first_heartbeat_statuses[heartbeats_]
                             : heartbeat_status;
      ++heartbeats_;
      return status == 204 ? http::Response::NoContent()
                           : http::Response::Json(status, R"({"detail":{"reason":"not_running"}})");
    }
    if (request.method == "PATCH" && request.path == prefix + "/state") {
      json::value body = json::parse(request.body);
      states_.emplace_back(body.as_object().at("state").as_string());
      state_bodies_.push_back(request.body);
      return http::Response::NoContent();
    }
    return http::Response::Detail(404, "Not Found");
  }

  const std::string task_json_;
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<std::string> calls_;         // Guarded by mu_.
  std::vector<std::string> states_;        // Guarded by mu_.
  std::vector<std::string> state_bodies_;  // Guarded by mu_.
  bool workload_token_reused_ = false;
  size_t heartbeats_ = 0;  // Guarded by mu_.
};

class SuperviseTest : public ::testing::Test {
 protected:
  SupervisorOptions Options(const FakeExecutionApi& api) {
    return SupervisorOptions{.execution_api_url = api.url(),
                             .base_log_folder = logs_,
                             .masker = masker_,
                             .parent_environment = {{"PATH", "/usr/bin:/bin"}},
                             .heartbeat_interval = std::chrono::milliseconds(100),
                             .kill_grace = std::chrono::milliseconds(500)};
  }

  // With `airlock` (the one just built) on the task's PATH, for `airlock task …`.
  SupervisorOptions WithAirlock(const FakeExecutionApi& api) {
    SupervisorOptions options = Options(api);
    options.airlock_directory = AIRLOCK_BINARY_DIR "/src/bin";
    return options;
  }

  std::string TaskLog() {
    std::ifstream in(*TaskLogPath(TestWorkload(), logs_));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  test::TempDir temp_{"airlock-supervisor-test"};
  const std::string logs_ = temp_.path();
  std::shared_ptr<SecretsMasker> masker_ = std::make_shared<SecretsMasker>();
};

TEST_F(SuperviseTest, SuccessIsReportedWithTheExecutionTokenAndOutputIsMasked) {
  masker_->AddSecret("hunter2-password");
  FakeExecutionApi api(
      R"({"task_id":"t","command":["sh","-c","echo hello; echo pw hunter2-password; echo err >&2; sleep 0.3; printf partial"],
          "env":{"GREETING":"hi"}})");
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->reported_state, "success");
  EXPECT_EQ(outcome->task_result, "exited with code 0");
  EXPECT_EQ(api.reported_states(), std::vector<std::string>{"success"});
  EXPECT_FALSE(api.saw_workload_token_after_exchange());
  const std::string log = TaskLog();
  EXPECT_NE(log.find("hello\n"), std::string::npos) << log;
  EXPECT_NE(log.find("pw ***\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err\n"), std::string::npos) << log;
  EXPECT_NE(log.find("partial\n"), std::string::npos) << log;
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
  EXPECT_EQ(log.find(kWorkloadToken), std::string::npos) << log;
  // It heartbeated while the task slept.
  EXPECT_GT(api.heartbeats(), 0u);
}

TEST_F(SuperviseTest, NonZeroExitIsFailed) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sh","-c","exit 3"]})");
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->reported_state, "failed");
  EXPECT_EQ(outcome->task_result, "exited with code 3");
}

TEST_F(SuperviseTest, ExecutionTimeoutTerminatesTheTask) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sleep","60"],"execution_timeout":0.3})");
  const auto start = std::chrono::steady_clock::now();
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(outcome->reported_state, "failed");
  EXPECT_EQ(outcome->task_result, "killed by SIGTERM");
  EXPECT_NE(outcome->termination_reason.find("execution_timeout"), std::string::npos);
  EXPECT_NE(TaskLog().find("execution_timeout of 0.3 s exceeded"), std::string::npos);
}

TEST_F(SuperviseTest, ATaskThatIgnoresSigtermIsKilled) {
  FakeExecutionApi api(
      R"({"task_id":"t","command":["sh","-c","trap '' TERM; echo ready; while :; do sleep 0.1; done"],
          "execution_timeout":0.3})");
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->reported_state, "failed");
  EXPECT_EQ(outcome->task_result, "killed by SIGKILL");
}

TEST_F(SuperviseTest, ConflictOnHeartbeatTerminatesWithoutReporting) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sleep","60"]})");
  api.heartbeat_status = 409;
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->reported_state, "");
  EXPECT_EQ(outcome->task_result, "killed by SIGTERM");
  EXPECT_NE(outcome->termination_reason.find("not_running"), std::string::npos);
  EXPECT_TRUE(api.reported_states().empty());
}

// SPEC §5: "on 404/409 from the server terminates the task" — 404: the task instance is gone.
TEST_F(SuperviseTest, NotFoundOnHeartbeatTerminatesWithoutReporting) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sleep","60"]})");
  api.heartbeat_status = 404;
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->reported_state, "");
  EXPECT_EQ(outcome->task_result, "killed by SIGTERM");
  EXPECT_NE(outcome->termination_reason.find("no longer runs this task instance"),
            std::string::npos)
      << outcome->termination_reason;
  EXPECT_TRUE(api.reported_states().empty());
  // The first answer ended it: no second heartbeat, no retry.
  EXPECT_EQ(api.heartbeats(), 1u);
}

// "3 failed heartbeats in a row": a heartbeat that succeeds in between starts the count again.
TEST_F(SuperviseTest, ASuccessfulHeartbeatResetsTheFailureCount) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sleep","60"]})");
  api.first_heartbeat_statuses = {503, 503, 204, 503, 503};
  api.heartbeat_status = 503;
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->termination_reason, "3 heartbeats failed in a row");
  EXPECT_EQ(outcome->reported_state, "failed");
  // Without the reset the fourth heartbeat (the third failure) would have ended it.
  EXPECT_EQ(api.heartbeats(), 6u);
  const std::string log = TaskLog();
  EXPECT_NE(log.find("heartbeat failed (2 in a row)"), std::string::npos) << log;
  EXPECT_NE(log.find("heartbeat failed (3 in a row)"), std::string::npos) << log;
}

TEST_F(SuperviseTest, ThreeFailedHeartbeatsKillTheTask) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sleep","60"]})");
  api.heartbeat_status = 503;
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->termination_reason, "3 heartbeats failed in a row");
  EXPECT_EQ(outcome->reported_state, "failed");
  EXPECT_EQ(api.heartbeats(), 3u);
}

TEST_F(SuperviseTest, RefusedTokenExchangeRunsNothing) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sh","-c","touch /tmp/should-not-run"]})");
  api.run_status = 409;
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(outcome.error().message().find(kWorkloadToken), std::string::npos);
  EXPECT_EQ(api.calls().size(), 1u);
}

TEST_F(SuperviseTest, AMissingCommandFailsTheTask) {
  FakeExecutionApi api(R"({"task_id":"t","command":["no-such-command-airlock"]})");
  auto outcome = Supervise(TestWorkload(), Options(api));
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->reported_state, "failed");
  EXPECT_NE(TaskLog().find("command not found on PATH: no-such-command-airlock"),
            std::string::npos);
}

// `airlock task defer` inside the task: the supervisor defers the task instance on the
// server, ends the task process (whatever it does next), stops heartbeating and reports
// no final state.
TEST_F(SuperviseTest, DeferEndsTheTaskAndReportsOnlyTheDeferral) {
  FakeExecutionApi api(R"({"task_id":"t","command":["sh","-c",
      "airlock task defer --trigger file --args '{\"path\":\"/tmp/ready\"}' --timeout 60; echo after; sleep 30"]})");
  SupervisorOptions options = WithAirlock(api);
  const auto start = std::chrono::steady_clock::now();
  auto outcome = Supervise(TestWorkload(), options);
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(outcome->reported_state, "deferred");
  EXPECT_EQ(api.reported_states(), std::vector<std::string>{"deferred"});
  json::value body = json::parse(api.state_bodies().at(0));
  EXPECT_EQ(json::serialize(body.at("trigger")), R"({"kind":"file","args":{"path":"/tmp/ready"}})");
  EXPECT_EQ(body.at("trigger_timeout").as_int64(), 60);
  EXPECT_NE(TaskLog().find("deferred on a file trigger"), std::string::npos) << TaskLog();
}

TEST_F(SuperviseTest, AResumedTaskReadsItsTriggerEvent) {
  FakeExecutionApi api(
      R"({"task_id":"t","command":["sh","-c","airlock task trigger-event && echo got-it"]})");
  api.trigger_event_json = R"({"path":"/tmp/ready"})";
  SupervisorOptions options = WithAirlock(api);
  auto outcome = Supervise(TestWorkload(), options);
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome->reported_state, "success");
  EXPECT_NE(TaskLog().find("{\"path\":\"/tmp/ready\"}\ngot-it\n"), std::string::npos) << TaskLog();

  // A try not resumed by a trigger has no event: the command fails, and so does the task.
  FakeExecutionApi fresh(R"({"task_id":"t","command":["airlock","task","trigger-event"]})");
  auto failed = Supervise(TestWorkload(), WithAirlock(fresh));
  ASSERT_TRUE(failed) << failed.error().message();
  EXPECT_EQ(failed->reported_state, "failed");
  EXPECT_NE(TaskLog().find("not resumed by a trigger"), std::string::npos) << TaskLog();
}

}  // namespace
}  // namespace airlock::supervisor

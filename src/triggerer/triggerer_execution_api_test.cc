// The triggerer over HTTP (MakeHttpTriggerApi) against the real Execution API on an
// in-memory store, as the dag-processor's test does it: the test links airlock_execution_api
// to stand the API up; the triggerer library itself links no store. The requests go through
// the router in process (the transport), with real tokens: the triggerer's own (scope
// triggerer) and the per-trigger ones the API mints.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "execution_api/execution_api.h"
#include "http/router.h"
#include "jwt/key.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "jwt/validator.h"
#include "store/store.h"
#include "supervisor/environment.h"
#include "triggerer/trigger_api.h"
#include "triggerer/triggerer.h"

namespace airlock::triggerer {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::milliseconds;
using store::TaskState;

constexpr char kAudience[] = "urn:airflow.apache.org:task";
constexpr char kUrl[] = "http://api.invalid/execution/";
constexpr char kTi[] = "0b9f4b6e-1f4c-4d7a-9c1e-0000000000a1";

template <typename Predicate>
bool WaitFor(Predicate predicate, milliseconds timeout = milliseconds(20000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class TriggererExecutionApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() /
              ("airlock-triggerer-api-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(folder_);
    fs::create_directories(folder_);
    auto opened = store::OpenStore("memory://");
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    store_ = std::move(*opened);
    ASSERT_TRUE(store_->Migrate().has_value());
    const int64_t now = clock_.NowSeconds();
    ASSERT_TRUE(store_
                    ->CreateDagRun({.dag_id = "etl",
                                    .run_id = "run1",
                                    .state = store::DagRunState::kRunning,
                                    .logical_date = now})
                    .has_value());
    ASSERT_TRUE(
        store_
            ->CreateTaskInstance({.id = kTi, .dag_id = "etl", .run_id = "run1", .task_id = "wait"})
            .has_value());
    ASSERT_TRUE(store_->TransitionTaskInstance(kTi, TaskState::kScheduled, TaskState::kQueued, now)
                    .has_value());
    ASSERT_TRUE(store_->StartTaskInstance(kTi, "worker-1", 100, now).has_value());

    auto key = *jwt::Key::Generate(jwt::KeyType::kEd25519);
    keys_ = std::make_shared<jwt::StaticKeySource>(
        *jwt::KeySet::Create({{.key = key, .state = jwt::KeyState::kActive}}));
    validator_ = *jwt::Validator::Create(keys_, {.audiences = {kAudience}}, clock_);
    signer_ = std::make_unique<jwt::TokenSigner>(keys_, clock_);
    api_ = std::make_unique<execution_api::ExecutionApi>(
        *store_, *validator_, *signer_, clock_, nullptr, execution_api::ExecutionApiOptions{});
    api_->AddRoutes(router_, "/execution");

    options_.triggerer_id = "api-test-triggerer";
    options_.poll_interval = milliseconds(20);
    options_.renew_interval = milliseconds(50);
    options_.user_triggers.parent_environment = supervisor::CurrentEnvironment();
  }

  void TearDown() override {
    if (triggerer_) triggerer_->Stop();
    fs::remove_all(folder_);
  }

  std::string Mint(const std::string& sub, const std::string& scope) {
    auto token =
        signer_->Mint({.sub = sub, .aud = {kAudience}, .ttl_seconds = 600, .scope = scope});
    EXPECT_TRUE(token.has_value());
    return token.value_or("");
  }

  http::Response Route(const std::string& method, const std::string& path, const std::string& token,
                       const std::string& body) {
    http::Request request{.method = method, .target = path, .path = path, .body = body};
    request.headers.emplace_back("Authorization", "Bearer " + token);
    return router_.Route(request);
  }

  // The running task defers, as `airlock task defer` makes its supervisor do.
  void Defer(const std::string& kind, const std::string& args) {
    auto r = Route("PATCH", "/execution/task-instances/" + std::string(kTi) + "/state",
                   Mint(kTi, "execution"),
                   R"({"state":"deferred","trigger":{"kind":")" + kind + R"(","args":)" + args +
                       R"(},"trigger_timeout":600})");
    ASSERT_EQ(r.status, 204) << r.body;
    ASSERT_EQ(store_->GetTaskInstance(kTi)->state, TaskState::kDeferred);
  }

  void StartTriggerer() {
    http_api_ = MakeHttpTriggerApi(
        kUrl, Mint("triggerer", "triggerer"),
        [this](const http::ClientRequest& r) -> Result<http::ClientResponse> {
          EXPECT_TRUE(r.url.starts_with(kUrl)) << r.url;
          http::Request request{.method = r.method, .headers = r.headers, .body = r.body};
          request.path = "/execution" + r.url.substr(std::string_view(kUrl).size() - 1);
          request.target = request.path;
          http::Response response = router_.Route(request);
          return http::ClientResponse{
              .status = response.status, .headers = response.headers, .body = response.body};
        });
    auto started = Triggerer::Start(options_, *http_api_);
    ASSERT_TRUE(started.has_value()) << started.error().message();
    triggerer_ = std::move(*started);
  }

  TaskState State() { return store_->GetTaskInstance(kTi)->state; }

  fs::path folder_;
  const Clock& clock_ = SystemClock::Instance();
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<jwt::StaticKeySource> keys_;
  std::unique_ptr<jwt::Validator> validator_;
  std::unique_ptr<jwt::TokenSigner> signer_;
  std::unique_ptr<execution_api::ExecutionApi> api_;
  http::Router router_;
  TriggererOptions options_;
  std::unique_ptr<TriggerApi> http_api_;
  std::unique_ptr<Triggerer> triggerer_;
};

TEST_F(TriggererExecutionApiTest, AFiredTriggerSchedulesItsTaskWithThePayload) {
  const std::string flag = (folder_ / "ready").string();
  Defer("file", R"({"path":)" + json::serialize(json::string(flag)) + R"(,"poll_interval":0.02})");
  StartTriggerer();
  ASSERT_TRUE(WaitFor([&] { return triggerer_->stats().held == 1; }));
  EXPECT_EQ(State(), TaskState::kDeferred);
  std::ofstream(flag) << "x";
  ASSERT_TRUE(WaitFor([&] { return State() == TaskState::kScheduled; }));
  EXPECT_EQ(store_->GetTaskInstance(kTi)->trigger_event_json,
            R"({"path":)" + json::serialize(json::string(flag)) + "}");
  EXPECT_TRUE(store_->ListTriggers()->empty());
  EXPECT_TRUE(WaitFor([&] { return triggerer_->stats().fired == 1; }));
}

TEST_F(TriggererExecutionApiTest, AUserTriggerThatExitsNonZeroFailsItsTask) {
  Defer("exec", R"({"argv":["/bin/sh","-c","exit 3"]})");
  StartTriggerer();
  ASSERT_TRUE(WaitFor([&] { return State() == TaskState::kFailed; }));
  EXPECT_TRUE(store_->ListTriggers()->empty());
  EXPECT_TRUE(WaitFor([&] { return triggerer_->stats().failed == 1; }));
}

TEST_F(TriggererExecutionApiTest, ATriggerTheSchedulerTimedOutIsStoppedOnTheTriggerer) {
  const std::string pid_file = (folder_ / "pid").string();
  Defer("exec", R"({"argv":["/bin/sh","-c","echo $$ > )" + pid_file + R"(; exec sleep 600"]})");
  StartTriggerer();
  pid_t pid = 0;
  ASSERT_TRUE(WaitFor([&] {
    std::ifstream in(pid_file);
    return static_cast<bool>(in >> pid) && pid > 0;
  }));
  // What the scheduler does when timeout_at has passed: the task fails, the trigger goes.
  auto triggers = store_->ListTriggers();
  ASSERT_EQ(triggers->size(), 1u);
  ASSERT_TRUE(store_->FailTrigger((*triggers)[0].id, clock_.NowSeconds()).has_value());
  // The next renewal calls it lost: its process is killed and reaped, nothing is reported.
  ASSERT_TRUE(WaitFor([&] { return triggerer_->stats().lost == 1; }));
  EXPECT_TRUE(WaitFor([&] { return kill(pid, 0) != 0 && errno == ESRCH; }));
  // Counted out just after waitpid reaped it, on the loop thread.
  EXPECT_TRUE(WaitFor([&] { return triggerer_->stats().children == 0; }));
  EXPECT_EQ(triggerer_->stats().failed, 0);
  EXPECT_EQ(State(), TaskState::kFailed);
}

}  // namespace
}  // namespace airlock::triggerer

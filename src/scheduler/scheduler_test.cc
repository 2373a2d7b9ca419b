#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "dags/dag.h"
#include "execution_api/execution_api.h"
#include "http/router.h"
#include "jwt/validator.h"

namespace airlock::scheduler {
namespace {

namespace json = boost::json;
using store::DagRunState;
using store::TaskState;

constexpr int64_t kNow = 1'800'000'000;
constexpr char kAudience[] = "urn:airflow.apache.org:task";

// Records workloads; Submit can be made to refuse.
class FakeExecutor final : public Executor {
 public:
  Result<void> Submit(const std::string& workload_json) override {
    std::lock_guard lock(mu_);
    if (refuse_) return std::unexpected(Error(ErrorCode::kResourceExhausted, "full"));
    pending_.push_back(workload_json);
    ++submitted_;
    return {};
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(pending_, {});
  }
  // Hands back workloads taken to look at them.
  void Put(const std::vector<std::string>& workloads) {
    std::lock_guard lock(mu_);
    pending_.insert(pending_.end(), workloads.begin(), workloads.end());
  }
  void set_refuse(bool refuse) { refuse_ = refuse; }
  int submitted() const { return submitted_; }

 private:
  std::mutex mu_;
  std::vector<std::string> pending_;
  bool refuse_ = false;
  int submitted_ = 0;
};

// What a simulated task does: its final state, and optionally calls it makes with its
// execution token before it ends.
struct Behaviour {
  std::string state = "success";
  std::function<void(const std::string& token, const json::object& ti)> body;
  bool never_ends = false;  // starts (PATCH /run) and then goes silent: a zombie
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*store::OpenStore("memory://"));
    ASSERT_TRUE(store_->Migrate().has_value());
    auto key = *jwt::Key::Generate(jwt::KeyType::kEd25519);
    keys_ = std::make_shared<jwt::StaticKeySource>(
        *jwt::KeySet::Create({{.key = key, .state = jwt::KeyState::kActive}}));
    validator_ = *jwt::Validator::Create(keys_, {.audiences = {kAudience}}, clock_);
    signer_ = std::make_unique<jwt::TokenSigner>(keys_, clock_);
    api_ = std::make_unique<execution_api::ExecutionApi>(
        *store_, *validator_, *signer_, clock_, nullptr, execution_api::ExecutionApiOptions{});
    api_->AddRoutes(router_, "/execution");
  }

  std::unique_ptr<Scheduler> MakeScheduler(SchedulerOptions options = {}) {
    return std::make_unique<Scheduler>(*store_, *signer_, executor_, clock_, options);
  }

  void AddDag(dags::DagSpec dag, bool paused = false) {
    dag.bundle_name = "dags-folder";
    dag.fileloc = dag.dag_id + ".yaml";
    ASSERT_TRUE(dags::ValidateDag(dag).has_value());
    ASSERT_TRUE(store_
                    ->SetDag({.dag_id = dag.dag_id,
                              .bundle_name = dag.bundle_name,
                              .relative_fileloc = dag.fileloc,
                              .is_paused = paused,
                              .serialized_json = dags::SerializeDag(dag),
                              .updated_at = kNow})
                    .has_value());
  }

  void Trigger(const std::string& dag_id, const std::string& run_id = "manual__1") {
    ASSERT_TRUE(store_->CreateDagRun({.dag_id = dag_id, .run_id = run_id, .logical_date = kNow})
                    .has_value());
  }

  PassStats Pass(Scheduler& scheduler) {
    auto stats = scheduler.RunOnce();
    EXPECT_TRUE(stats.has_value());
    if (!stats) return {};
    for (const std::string& e : stats->errors) ADD_FAILURE() << "scheduler error: " << e;
    return *stats;
  }

  http::Response Call(std::string method, std::string path, const std::string& token,
                      std::string body = "") {
    http::Request request;
    request.method = std::move(method);
    request.target = path;
    request.path = path;
    request.headers.emplace_back("Authorization", "Bearer " + token);
    request.body = std::move(body);
    return router_.Route(request);
  }

  // Runs every workload handed over so far through the Execution API, as a supervisor
  // would; returns the task ids it ran.
  std::vector<std::string> RunWorkloads(std::map<std::string, Behaviour> behaviours = {}) {
    std::vector<std::string> ran;
    for (const std::string& text : executor_.Take()) {
      json::object workload = json::parse(text).as_object();
      const json::object& ti = workload.at("ti").as_object();
      const std::string id(ti.at("id").as_string());
      const std::string task_id(ti.at("task_id").as_string());
      ran.push_back(task_id);
      auto run = Call("PATCH", "/execution/task-instances/" + id + "/run",
                      std::string(workload.at("token").as_string()),
                      R"({"hostname":"test-host","pid":4242})");
      EXPECT_EQ(run.status, 200) << run.body;
      std::string token(run.Header("Refreshed-API-Token"));
      EXPECT_FALSE(token.empty());
      Behaviour behaviour = behaviours.count(task_id) ? behaviours[task_id] : Behaviour{};
      if (behaviour.body) behaviour.body(token, ti);
      if (behaviour.never_ends) continue;
      auto state = Call("PATCH", "/execution/task-instances/" + id + "/state", token,
                        R"({"state":")" + behaviour.state + "\"}");
      EXPECT_EQ(state.status, 204) << state.body;
    }
    return ran;
  }

  // What `airlock task defer --trigger file …` makes a supervisor do: defer the task
  // instance (with `more` fields in the body), and then report nothing more.
  Behaviour DeferOnFile(std::string more) {
    return Behaviour{.body =
                         [this, more](const std::string& token, const json::object& ti) {
                           auto r = Call("PATCH",
                                         "/execution/task-instances/" +
                                             std::string(ti.at("id").as_string()) + "/state",
                                         token,
                                         R"({"state":"deferred","trigger":{"kind":"file",)"
                                         R"("args":{"path":"/tmp/x"}})" +
                                             more + "}");
                           EXPECT_EQ(r.status, 204) << r.body;
                         },
                     .never_ends = true};
  }

  TaskState StateOf(const std::string& dag_id, const std::string& run_id,
                    const std::string& task_id) {
    auto tis = store_->ListTaskInstances(dag_id, run_id);
    for (const auto& ti : tis.value()) {
      if (ti.task_id == task_id) return ti.state;
    }
    ADD_FAILURE() << "no task instance " << task_id;
    return TaskState::kRemoved;
  }
  DagRunState RunState(const std::string& dag_id, const std::string& run_id = "manual__1") {
    return store_->GetDagRun(dag_id, run_id)->state;
  }

  static dags::TaskSpec Task(std::string id, std::vector<std::string> upstream = {}) {
    return dags::TaskSpec{
        .task_id = std::move(id), .command = {"true"}, .upstream = std::move(upstream)};
  }
  static dags::DagSpec Dag(std::string id, std::vector<dags::TaskSpec> tasks) {
    return dags::DagSpec{.dag_id = std::move(id), .tasks = std::move(tasks)};
  }

  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<jwt::StaticKeySource> keys_;
  std::unique_ptr<jwt::Validator> validator_;
  std::unique_ptr<jwt::TokenSigner> signer_;
  std::unique_ptr<execution_api::ExecutionApi> api_;
  http::Router router_;
  FakeExecutor executor_;
};

TEST_F(SchedulerTest, TriggeredRunGoesToSuccessPassingAnXCom) {
  AddDag(Dag("etl", {Task("extract"), Task("load", {"extract"})}));
  Trigger("etl");
  auto scheduler = MakeScheduler();

  PassStats stats = Pass(*scheduler);
  EXPECT_EQ(stats.runs_started, 1);
  EXPECT_EQ(stats.tis_created, 2);
  EXPECT_EQ(stats.tis_queued, 1);
  EXPECT_EQ(RunState("etl"), DagRunState::kRunning);
  EXPECT_EQ(StateOf("etl", "manual__1", "extract"), TaskState::kQueued);
  EXPECT_EQ(StateOf("etl", "manual__1", "load"), TaskState::kScheduled);

  auto push = [&](const std::string& token, const json::object&) {
    auto r = Call("POST", "/execution/xcoms/etl/manual__1/extract/rows", token, "42");
    EXPECT_EQ(r.status, 201) << r.body;
  };
  EXPECT_EQ(RunWorkloads({{"extract", {.body = push}}}), std::vector<std::string>{"extract"});
  EXPECT_EQ(Pass(*scheduler).tis_queued, 1);

  std::string pulled;
  auto pull = [&](const std::string& token, const json::object&) {
    auto r = Call("GET", "/execution/xcoms/etl/manual__1/extract/rows", token);
    pulled = r.body;
  };
  EXPECT_EQ(RunWorkloads({{"load", {.body = pull}}}), std::vector<std::string>{"load"});
  EXPECT_EQ(pulled, R"({"key":"rows","value":42})");
  EXPECT_EQ(Pass(*scheduler).runs_finished, 1);
  EXPECT_EQ(RunState("etl"), DagRunState::kSuccess);
  EXPECT_EQ(Pass(*scheduler).tis_queued, 0);
}

TEST_F(SchedulerTest, WorkloadIsSpecShapedWithAWorkloadTokenForThatTaskInstance) {
  AddDag(Dag("etl", {Task("extract")}));
  Trigger("etl");
  Pass(*MakeScheduler({.task_queued_timeout_seconds = 120}));
  auto workloads = executor_.Take();
  ASSERT_EQ(workloads.size(), 1u);
  json::object w = json::parse(workloads[0]).as_object();
  EXPECT_EQ(w.at("type"), "ExecuteTask");
  const json::object& ti = w.at("ti").as_object();
  auto stored = store_->ListTaskInstances("etl", "manual__1")->at(0);
  EXPECT_EQ(ti.at("id"), stored.id.c_str());
  EXPECT_EQ(ti.at("dag_id"), "etl");
  EXPECT_EQ(ti.at("task_id"), "extract");
  EXPECT_EQ(ti.at("run_id"), "manual__1");
  EXPECT_EQ(ti.at("try_number"), 1);
  EXPECT_EQ(ti.at("map_index"), -1);
  EXPECT_EQ(w.at("dag_rel_path"), "etl.yaml");
  EXPECT_EQ(w.at("bundle_info").as_object().at("name"), "dags-folder");
  EXPECT_EQ(w.at("log_path"), "dag_id=etl/run_id=manual__1/task_id=extract/attempt=1.log");
  auto claims = validator_->Validate(std::string(w.at("token").as_string()));
  ASSERT_TRUE(claims.has_value()) << claims.error().message;
  EXPECT_EQ(claims->scope, "workload");
  EXPECT_EQ(claims->sub, stored.id);
  EXPECT_EQ(claims->aud, std::vector<std::string>{kAudience});
  EXPECT_EQ(claims->exp, kNow + 120);
}

TEST_F(SchedulerTest, FailingFirstTryIsRetriedAfterRetryDelayWithTheNextTryNumber) {
  dags::TaskSpec flaky = Task("flaky");
  flaky.retries = 1;
  flaky.retry_delay_seconds = 30;
  AddDag(Dag("d", {flaky}));
  Trigger("d");
  auto scheduler = MakeScheduler();
  Pass(*scheduler);
  RunWorkloads({{"flaky", {.state = "failed"}}});  // the supervisor reports failed
  Pass(*scheduler);
  EXPECT_EQ(StateOf("d", "manual__1", "flaky"), TaskState::kUpForRetry);
  const std::string first_try_id = store_->ListTaskInstances("d", "manual__1").value().at(0).id;
  clock_.Advance(10);
  EXPECT_EQ(Pass(*scheduler).tis_queued, 0);
  clock_.Advance(25);
  PassStats stats = Pass(*scheduler);
  EXPECT_EQ(stats.tis_retried, 1);
  EXPECT_EQ(stats.tis_queued, 1);
  auto workloads = executor_.Take();
  ASSERT_EQ(workloads.size(), 1u);
  json::object w = json::parse(workloads[0]).as_object();
  EXPECT_EQ(w.at("ti").as_object().at("try_number"), 2);
  // The second try is a task instance of its own: the first try's tokens name another.
  EXPECT_NE(w.at("ti").as_object().at("id").as_string(), first_try_id);
  EXPECT_EQ(w.at("log_path"), "dag_id=d/run_id=manual__1/task_id=flaky/attempt=2.log");
  // Hand it back and run it: the second try succeeds.
  ASSERT_TRUE(executor_.Submit(workloads[0]).has_value());
  RunWorkloads();
  Pass(*scheduler);
  EXPECT_EQ(RunState("d"), DagRunState::kSuccess);

  // Out of tries: failed stays failed.
  Trigger("d", "manual__2");
  Pass(*scheduler);
  RunWorkloads({{"flaky", {.state = "failed"}}});
  Pass(*scheduler);  // up_for_retry
  clock_.Advance(31);
  Pass(*scheduler);  // try 2 queued
  EXPECT_EQ(RunWorkloads({{"flaky", {.state = "failed"}}}), std::vector<std::string>{"flaky"});
  Pass(*scheduler);
  EXPECT_EQ(StateOf("d", "manual__2", "flaky"), TaskState::kFailed);
  EXPECT_EQ(RunState("d", "manual__2"), DagRunState::kFailed);
}

TEST_F(SchedulerTest, UpstreamFailedPropagatesAndAllDoneStillRuns) {
  dags::TaskSpec cleanup = Task("cleanup", {"a"});
  cleanup.trigger_rule = dags::TriggerRule::kAllDone;
  AddDag(Dag("d", {Task("a"), Task("b", {"a"}), Task("c", {"b"}), cleanup}));
  Trigger("d");
  auto scheduler = MakeScheduler();
  Pass(*scheduler);
  RunWorkloads({{"a", {.state = "failed"}}});
  PassStats stats = Pass(*scheduler);
  EXPECT_EQ(stats.tis_skipped_or_upstream_failed, 2);
  EXPECT_EQ(StateOf("d", "manual__1", "b"), TaskState::kUpstreamFailed);
  EXPECT_EQ(StateOf("d", "manual__1", "c"), TaskState::kUpstreamFailed);
  EXPECT_EQ(StateOf("d", "manual__1", "cleanup"), TaskState::kQueued);
  EXPECT_EQ(RunWorkloads(), std::vector<std::string>{"cleanup"});
  Pass(*scheduler);
  EXPECT_EQ(RunState("d"), DagRunState::kFailed);
}

TEST_F(SchedulerTest, QueuedTooLongFailsOrRetries) {
  dags::TaskSpec retried = Task("retried");
  retried.retries = 1;
  retried.retry_delay_seconds = 0;
  AddDag(Dag("d", {Task("lost"), retried}));
  Trigger("d");
  auto scheduler = MakeScheduler({.task_queued_timeout_seconds = 60});
  Pass(*scheduler);
  executor_.Take();  // handed over, but no supervisor ever picks them up
  clock_.Advance(61);
  PassStats stats = Pass(*scheduler);
  EXPECT_EQ(stats.tis_timed_out, 2);
  EXPECT_EQ(StateOf("d", "manual__1", "lost"), TaskState::kFailed);
  // retry_delay 0: retried and queued again in the same pass.
  EXPECT_EQ(StateOf("d", "manual__1", "retried"), TaskState::kQueued);
  EXPECT_EQ(RunWorkloads(), std::vector<std::string>{"retried"});
  Pass(*scheduler);
  EXPECT_EQ(RunState("d"), DagRunState::kFailed);
}

TEST_F(SchedulerTest, ZombieWithoutHeartbeatIsFailedAndItsTokenDies) {
  AddDag(Dag("d", {Task("a")}));
  Trigger("d");
  auto scheduler = MakeScheduler({.heartbeat_timeout_seconds = 300});
  Pass(*scheduler);
  std::string token;
  std::string id;
  RunWorkloads({{"a",
                 {.body =
                      [&](const std::string& t, const json::object& ti) {
                        token = t;
                        id = std::string(ti.at("id").as_string());
                      },
                  .never_ends = true}}});
  clock_.Advance(200);
  Pass(*scheduler);
  EXPECT_EQ(StateOf("d", "manual__1", "a"), TaskState::kRunning);
  clock_.Advance(101);
  EXPECT_EQ(Pass(*scheduler).tis_timed_out, 1);
  EXPECT_EQ(StateOf("d", "manual__1", "a"), TaskState::kFailed);
  EXPECT_EQ(RunState("d"), DagRunState::kFailed);
  // The supervisor's next heartbeat learns it and stops the task.
  auto beat = Call("PUT", "/execution/task-instances/" + id + "/heartbeat", token,
                   R"({"hostname":"test-host","pid":4242})");
  EXPECT_EQ(beat.status, 409);
}

TEST_F(SchedulerTest, DeferredTaskIsQueuedAgainWhenItsTriggerFiresInTheSameTry) {
  AddDag(Dag("d", {Task("wait"), Task("after", {"wait"})}));
  Trigger("d");
  auto scheduler = MakeScheduler();
  Pass(*scheduler);
  RunWorkloads({{"wait", DeferOnFile("")}});
  EXPECT_EQ(StateOf("d", "manual__1", "wait"), TaskState::kDeferred);
  // Deferred is not done: the run stays running, nothing downstream starts, nothing is
  // queued again and no zombie check applies, however long it waits.
  clock_.Advance(3600);
  PassStats idle = Pass(*scheduler);
  EXPECT_EQ(idle.tis_queued, 0);
  EXPECT_EQ(idle.tis_timed_out, 0);
  EXPECT_EQ(RunState("d"), DagRunState::kRunning);
  EXPECT_EQ(StateOf("d", "manual__1", "after"), TaskState::kScheduled);

  // The trigger fires (as the triggerer reports it): the task runs again, same try.
  auto triggers = store_->ListTriggers();
  ASSERT_TRUE(triggers.has_value());
  ASSERT_EQ(triggers->size(), 1u);
  ASSERT_TRUE(store_->FireTrigger((*triggers)[0].id, R"({"path":"/tmp/x"})").has_value());
  EXPECT_EQ(Pass(*scheduler).tis_queued, 1);
  auto workloads = executor_.Take();
  ASSERT_EQ(workloads.size(), 1u);
  json::object ti = json::parse(workloads[0]).as_object().at("ti").as_object();
  EXPECT_EQ(ti.at("task_id").as_string(), "wait");
  EXPECT_EQ(ti.at("try_number").as_int64(), 1);
  executor_.Put(workloads);
  EXPECT_EQ(RunWorkloads(), std::vector<std::string>{"wait"});
  Pass(*scheduler);
  EXPECT_EQ(RunWorkloads(), std::vector<std::string>{"after"});
  Pass(*scheduler);
  EXPECT_EQ(RunState("d"), DagRunState::kSuccess);
}

TEST_F(SchedulerTest, DeferredTaskFailsWhenItsTriggerTimesOut) {
  dags::TaskSpec wait = Task("wait");
  AddDag(Dag("d", {wait}));
  Trigger("d");
  auto scheduler = MakeScheduler();
  Pass(*scheduler);
  RunWorkloads({{"wait", DeferOnFile(R"(,"trigger_timeout":60)")}});
  clock_.Advance(59);
  EXPECT_EQ(Pass(*scheduler).tis_timed_out, 0);
  EXPECT_EQ(StateOf("d", "manual__1", "wait"), TaskState::kDeferred);
  clock_.Advance(1);
  EXPECT_EQ(Pass(*scheduler).tis_timed_out, 1);
  EXPECT_EQ(StateOf("d", "manual__1", "wait"), TaskState::kFailed);
  EXPECT_TRUE(store_->ListTriggers()->empty());
  Pass(*scheduler);
  EXPECT_EQ(RunState("d"), DagRunState::kFailed);
}

TEST_F(SchedulerTest, ParallelismBoundsQueuedAndRunning) {
  AddDag(Dag("d", {Task("a"), Task("b"), Task("c"), Task("d"), Task("e")}));
  Trigger("d");
  auto scheduler = MakeScheduler({.parallelism = 2});
  EXPECT_EQ(Pass(*scheduler).tis_queued, 2);
  EXPECT_EQ(Pass(*scheduler).tis_queued, 0);
  EXPECT_EQ(RunWorkloads().size(), 2u);
  EXPECT_EQ(Pass(*scheduler).tis_queued, 2);
  RunWorkloads();
  EXPECT_EQ(Pass(*scheduler).tis_queued, 1);
  RunWorkloads();
  Pass(*scheduler);
  EXPECT_EQ(RunState("d"), DagRunState::kSuccess);
}

TEST_F(SchedulerTest, RefusedWorkloadGoesBackToScheduledAndIsRetried) {
  AddDag(Dag("d", {Task("a")}));
  Trigger("d");
  auto scheduler = MakeScheduler();
  executor_.set_refuse(true);
  auto stats = scheduler->RunOnce();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->tis_queued, 0);
  EXPECT_EQ(stats->errors.size(), 1u);
  EXPECT_EQ(StateOf("d", "manual__1", "a"), TaskState::kScheduled);
  executor_.set_refuse(false);
  EXPECT_EQ(Pass(*scheduler).tis_queued, 1);
}

TEST_F(SchedulerTest, FullExecutorSendsThePassesOtherQueuedTaskInstancesBackToo) {
  AddDag(Dag("d", {Task("a"), Task("b"), Task("c")}));
  Trigger("d");
  auto scheduler = MakeScheduler();
  executor_.set_refuse(true);
  auto stats = scheduler->RunOnce();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->tis_queued, 0);
  EXPECT_EQ(stats->errors.size(), 1u);  // asked once: the others are not offered
  for (const char* task : {"a", "b", "c"}) {
    EXPECT_EQ(StateOf("d", "manual__1", task), TaskState::kScheduled) << task;
  }
  executor_.set_refuse(false);
  EXPECT_EQ(Pass(*scheduler).tis_queued, 3);
}

TEST_F(SchedulerTest, MaxActiveRunsHoldsQueuedRuns) {
  dags::DagSpec dag = Dag("d", {Task("a")});
  dag.max_active_runs = 1;
  AddDag(dag);
  Trigger("d", "r1");
  Trigger("d", "r2");
  auto scheduler = MakeScheduler();
  EXPECT_EQ(Pass(*scheduler).runs_started, 1);
  EXPECT_EQ(RunState("d", "r2"), DagRunState::kQueued);
  RunWorkloads();
  Pass(*scheduler);  // r1 finishes
  EXPECT_EQ(RunState("d", "r1"), DagRunState::kSuccess);
  EXPECT_EQ(Pass(*scheduler).runs_started, 1);
  EXPECT_EQ(RunState("d", "r2"), DagRunState::kRunning);
}

TEST_F(SchedulerTest, SchedulesCreateOneRunPerIntervalAndOnceOnlyOnce) {
  dags::DagSpec every = Dag("every", {Task("a")});
  every.schedule = {.kind = dags::Schedule::Kind::kInterval, .interval_seconds = 300};
  dags::DagSpec once = Dag("once", {Task("a")});
  once.schedule = {.kind = dags::Schedule::Kind::kOnce};
  dags::DagSpec paused = Dag("paused", {Task("a")});
  paused.schedule = {.kind = dags::Schedule::Kind::kOnce};
  AddDag(every);
  AddDag(once);
  AddDag(paused, /*paused=*/true);
  AddDag(Dag("manual", {Task("a")}));
  auto scheduler = MakeScheduler();
  EXPECT_EQ(Pass(*scheduler).runs_created, 2);
  EXPECT_EQ(Pass(*scheduler).runs_created, 0);
  clock_.Advance(300);
  EXPECT_EQ(Pass(*scheduler).runs_created, 1);
  EXPECT_EQ(store_->ListDagRuns("every")->size(), 2u);
  EXPECT_EQ(store_->ListDagRuns("once")->size(), 1u);
  EXPECT_EQ(store_->ListDagRuns("once")->at(0).run_id, "scheduled__once");
  EXPECT_TRUE(store_->ListDagRuns("paused")->empty());
  EXPECT_TRUE(store_->ListDagRuns("manual")->empty());
  const int64_t aligned = (kNow + 300) - (kNow + 300) % 300;
  EXPECT_EQ(store_->ListDagRuns("every")->back().logical_date, aligned);
}

TEST_F(SchedulerTest, RestartedSchedulerLosesNoTaskInstance) {
  AddDag(Dag("d", {Task("a"), Task("b", {"a"}), Task("c", {"b"})}));
  Trigger("d");
  auto first = MakeScheduler();
  Pass(*first);
  RunWorkloads();
  Pass(*first);    // b queued and handed over...
  first.reset();   // ...and the scheduler dies
  RunWorkloads();  // b's supervisor still reports
  auto second = MakeScheduler();
  Pass(*second);
  RunWorkloads();
  Pass(*second);
  EXPECT_EQ(RunState("d"), DagRunState::kSuccess);
  EXPECT_EQ(executor_.submitted(), 3);
  auto tis = store_->ListTaskInstances("d", "manual__1");
  for (const auto& ti : tis.value()) {
    EXPECT_EQ(ti.state, TaskState::kSuccess);
    EXPECT_EQ(ti.try_number, 1);
  }
}

TEST_F(SchedulerTest, TwoSchedulersOnOneStoreHandEachTaskInstanceOverOnce) {
  std::vector<dags::TaskSpec> tasks;
  for (int i = 0; i < 20; ++i) {
    tasks.push_back(Task("t" + std::to_string(i),
                         i >= 10 ? std::vector<std::string>{"t" + std::to_string(i - 10)}
                                 : std::vector<std::string>{}));
  }
  AddDag(Dag("d", tasks));
  for (int r = 0; r < 5; ++r) Trigger("d", "run" + std::to_string(r));
  auto a = MakeScheduler();
  auto b = MakeScheduler();
  std::map<std::string, int> handed_over;  // ti id + try → count
  for (int round = 0; round < 10; ++round) {
    std::thread ta([&] { ASSERT_TRUE(a->RunOnce().has_value()); });
    std::thread tb([&] { ASSERT_TRUE(b->RunOnce().has_value()); });
    ta.join();
    tb.join();
    auto workloads = executor_.Take();
    for (const std::string& w : workloads) {
      json::value parsed = json::parse(w);
      const json::object& ti = parsed.as_object().at("ti").as_object();
      ++handed_over[std::string(ti.at("id").as_string()) + "#" +
                    std::to_string(ti.at("try_number").as_int64())];
      ASSERT_TRUE(executor_.Submit(w).has_value());
    }
    RunWorkloads();
  }
  for (int r = 0; r < 5; ++r)
    EXPECT_EQ(RunState("d", "run" + std::to_string(r)), DagRunState::kSuccess);
  EXPECT_EQ(handed_over.size(), 100u);
  for (const auto& [key, count] : handed_over) EXPECT_EQ(count, 1) << key;
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(store_->ListTaskInstances("d", "run" + std::to_string(r))->size(), 20u);
  }
}

// Runs `before_first` (once) when the first workload is handed over, then passes every
// workload on to `next`: a second scheduler's whole pass, placed in the middle of this
// one's.
class InterruptingExecutor final : public Executor {
 public:
  InterruptingExecutor(Executor& next, std::function<void()> before_first)
      : next_(next), before_first_(std::move(before_first)) {}
  Result<void> Submit(const std::string& workload_json) override {
    if (auto hook = std::exchange(before_first_, nullptr)) hook();
    return next_.Submit(workload_json);
  }

 private:
  Executor& next_;
  std::function<void()> before_first_;
};

TEST_F(SchedulerTest, TwoSchedulersOnOneStoreTogetherKeepToParallelism) {
  std::vector<dags::TaskSpec> tasks;
  for (int i = 0; i < 8; ++i) tasks.push_back(Task("t" + std::to_string(i)));
  AddDag(Dag("d", tasks));
  Trigger("d");
  auto b = MakeScheduler({.parallelism = 3});
  InterruptingExecutor interrupting(executor_, [&] { Pass(*b); });
  Scheduler a(*store_, *signer_, interrupting, clock_, {.parallelism = 3});
  Pass(a);  // b's pass runs while a hands over its first workload
  int in_flight = 0;
  auto tis = store_->ListTaskInstances("d", "manual__1");
  ASSERT_TRUE(tis.has_value());
  for (const auto& ti : *tis) {
    in_flight += ti.state == TaskState::kQueued || ti.state == TaskState::kRunning;
  }
  EXPECT_EQ(in_flight, 3);
  EXPECT_EQ(executor_.submitted(), 3);
  RunWorkloads();
  Pass(a);
  Pass(*b);
  EXPECT_EQ(executor_.submitted(), 6);
}

TEST_F(SchedulerTest, RunOfADeletedDagFails) {
  AddDag(Dag("d", {Task("a")}));
  Trigger("d");
  ASSERT_TRUE(store_->DeleteDag("d").has_value());
  auto stats = MakeScheduler()->RunOnce();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(RunState("d"), DagRunState::kFailed);
}

}  // namespace
}  // namespace airlock::scheduler

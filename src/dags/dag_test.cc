#include "dags/dag.h"

#include <gtest/gtest.h>

namespace airlock::dags {
namespace {

DagSpec TwoTasks() {
  DagSpec dag;
  dag.dag_id = "d";
  dag.description = "two tasks";
  dag.schedule = {.kind = Schedule::Kind::kInterval, .interval_seconds = 3600};
  dag.max_active_runs = 3;
  dag.fileloc = "d.yaml";
  dag.bundle_name = "dags-folder";
  dag.tasks.push_back({.task_id = "a",
                       .command = {"echo", "a"},
                       .retries = 1,
                       .retry_delay_seconds = 5,
                       .execution_timeout_seconds = 60,
                       .env = {{"X", "1"}}});
  dag.tasks.push_back({.task_id = "b",
                       .command = {"true"},
                       .upstream = {"a"},
                       .run_as_user = "nobody",
                       .trigger_rule = TriggerRule::kAllDone});
  return dag;
}

TEST(DagTest, SerializedFormRoundTrips) {
  DagSpec dag = TwoTasks();
  std::string json = SerializeDag(dag);
  EXPECT_NE(json.find(R"("schedule":"every 1h")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("bundle":{"name":"dags-folder","version":""})"), std::string::npos);
  EXPECT_NE(json.find(R"("execution_timeout":60)"), std::string::npos);
  EXPECT_NE(json.find(R"("run_as_user":null)"), std::string::npos);
  auto parsed = ParseSerializedDag(json);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(SerializeDag(*parsed), json);
  EXPECT_EQ(parsed->tasks[1].trigger_rule, TriggerRule::kAllDone);
  EXPECT_EQ(parsed->tasks[0].env.at("X"), "1");
}

TEST(DagTest, SerializedFormIsValidatedAgain) {
  EXPECT_FALSE(ParseSerializedDag("[]"));
  auto twice = ParseSerializedDag(R"({"dag_id":"d","dag_id":"e","tasks":[]})");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message(), "serialized Dag: JSON has a duplicate member name");
  EXPECT_FALSE(ParseSerializedDag(R"({"dag_id":"d","tasks":[]})"));
  EXPECT_FALSE(ParseSerializedDag(
      R"({"dag_id":"d","tasks":[{"task_id":"a","command":["x"],"upstream":["a"]}]})"));
  EXPECT_FALSE(ParseSerializedDag(R"({"dag_id":"d","tasks":[{"task_id":"a","command":"x"}]})"));
  EXPECT_FALSE(ParseSerializedDag(
      R"({"dag_id":"d","tasks":[{"task_id":"a","command":["x"],"env":{"API_TOKEN":"t"}}]})"));
  EXPECT_FALSE(ParseSerializedDag(
      R"({"dag_id":"d","tasks":[{"task_id":"a","command":["x"],"trigger_rule":"x"}]})"));
  EXPECT_TRUE(ParseSerializedDag(R"({"dag_id":"d","tasks":[{"task_id":"a","command":["x"]}]})"));
}

TEST(DagTest, SchedulesAndDurations) {
  EXPECT_EQ(ParseSchedule("manual")->kind, Schedule::Kind::kNone);
  EXPECT_EQ(ParseSchedule("@once")->kind, Schedule::Kind::kOnce);
  EXPECT_EQ(ParseSchedule("every 90s")->interval_seconds, 90);
  EXPECT_EQ(ParseSchedule("every 2d")->interval_seconds, 172800);
  EXPECT_FALSE(ParseSchedule("every"));
  EXPECT_FALSE(ParseSchedule("every -5m"));
  EXPECT_FALSE(ParseSchedule("*/5 * * * *"));
  EXPECT_EQ(ScheduleText(*ParseSchedule("every 90s")), "every 90s");
  EXPECT_EQ(ScheduleText(*ParseSchedule("every 120s")), "every 2m");
  EXPECT_EQ(*ParseDuration("45"), 45);
  EXPECT_FALSE(ParseDuration("1.5h"));
  EXPECT_FALSE(ParseDuration("s"));
}

TEST(DagTest, RefusesCycleAndNamesIt) {
  DagSpec dag = TwoTasks();
  dag.tasks[0].upstream = {"b"};
  size_t index = 99;
  auto valid = ValidateDag(dag, &index);
  ASSERT_FALSE(valid);
  EXPECT_NE(valid.error().message().find("cycle: a <- b <- a"), std::string::npos)
      << valid.error().message();
  EXPECT_EQ(index, 0u);
}

TEST(DagTest, LongChainIsNotACycleAndDoesNotExhaustTheStack) {
  DagSpec dag;
  dag.dag_id = "chain";
  for (size_t i = 0; i < kMaxTasks; ++i) {
    TaskSpec task{.task_id = "t" + std::to_string(i), .command = {"true"}};
    if (i > 0) task.upstream = {"t" + std::to_string(i - 1)};
    dag.tasks.push_back(task);
  }
  ASSERT_TRUE(ValidateDag(dag));
  auto order = TopologicalOrder(dag);
  ASSERT_EQ(order.size(), kMaxTasks);
  EXPECT_EQ(order.front()->task_id, "t0");
  EXPECT_EQ(order.back()->task_id, "t999");
}

TEST(DagTest, IdsAreSafeInPathsAndUrls) {
  EXPECT_TRUE(IsValidId("extract_v2.daily-run"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(".."));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("a b"));
  EXPECT_FALSE(IsValidId(std::string(251, 'a')));
}

}  // namespace
}  // namespace airlock::dags

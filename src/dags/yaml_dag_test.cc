#include "dags/yaml_dag.h"

#include <gtest/gtest.h>

#include <string>

namespace airlock::dags {
namespace {

constexpr std::string_view kGood = R"(dag_id: etl
description: Extract, transform, load
schedule: every 5m
max_active_runs: 2
tasks:
  - task_id: extract
    command: [sh, -c, "echo hi"]
    retries: 2
    retry_delay: 30s
    execution_timeout: 10m
    env: {REGION: eu}
  - task_id: load
    command: ["true"]
    upstream: [extract]
    run_as_user: etl
    trigger_rule: all_done
)";

TEST(YamlDagTest, ParsesEveryField) {
  auto dag = ParseYamlDag(kGood, "etl.yaml");
  ASSERT_TRUE(dag) << dag.error().message();
  EXPECT_EQ(dag->dag_id, "etl");
  EXPECT_EQ(dag->description, "Extract, transform, load");
  EXPECT_EQ(dag->schedule.kind, Schedule::Kind::kInterval);
  EXPECT_EQ(dag->schedule.interval_seconds, 300);
  EXPECT_EQ(dag->max_active_runs, 2);
  ASSERT_EQ(dag->tasks.size(), 2u);
  const TaskSpec& extract = dag->tasks[0];
  EXPECT_EQ(extract.command, (std::vector<std::string>{"sh", "-c", "echo hi"}));
  EXPECT_EQ(extract.retries, 2);
  EXPECT_EQ(extract.retry_delay_seconds, 30);
  EXPECT_EQ(extract.execution_timeout_seconds, 600);
  EXPECT_EQ(extract.env.at("REGION"), "eu");
  EXPECT_EQ(extract.trigger_rule, TriggerRule::kAllSuccess);
  const TaskSpec& load = dag->tasks[1];
  EXPECT_EQ(load.upstream, std::vector<std::string>{"extract"});
  EXPECT_EQ(load.run_as_user, "etl");
  EXPECT_EQ(load.trigger_rule, TriggerRule::kAllDone);
  EXPECT_EQ(load.retry_delay_seconds, 300);
  EXPECT_FALSE(load.execution_timeout_seconds);
}

TEST(YamlDagTest, DefaultsForAMinimalDag) {
  auto dag = ParseYamlDag("dag_id: d\ntasks:\n  - task_id: t\n    command: [\"true\"]\n", "d.yaml");
  ASSERT_TRUE(dag) << dag.error().message();
  EXPECT_EQ(dag->schedule.kind, Schedule::Kind::kNone);
  EXPECT_EQ(dag->max_active_runs, 16);
  EXPECT_EQ(dag->tasks[0].retries, 0);
}

struct BadYaml {
  const char* name;
  std::string text;
  std::string expected;  // a substring of the message, which starts with "bad.yaml:<line>:"
};

class YamlDagErrorTest : public testing::TestWithParam<BadYaml> {};

TEST_P(YamlDagErrorTest, NamesFileLineAndProblem) {
  auto dag = ParseYamlDag(GetParam().text, "bad.yaml");
  ASSERT_FALSE(dag);
  EXPECT_EQ(dag.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(dag.error().message().starts_with("bad.yaml")) << dag.error().message();
  EXPECT_NE(dag.error().message().find(GetParam().expected), std::string::npos)
      << dag.error().message();
}

const std::string kTask = "  - task_id: a\n    command: [\"true\"]\n";

INSTANTIATE_TEST_SUITE_P(
    Hostile, YamlDagErrorTest,
    testing::Values(
        BadYaml{"Empty", "", "file is empty"},
        BadYaml{"NotYaml", "dag_id: [unclosed\n", "bad.yaml:"},
        BadYaml{"NotAMapping", "- a\n- b\n", "the Dag must be a mapping"},
        BadYaml{"MissingDagId", "tasks:\n" + kTask, "dag_id is required"},
        BadYaml{"MissingTasks", "dag_id: d\n", "tasks is required"},
        BadYaml{"UnknownKey", "dag_id: d\nshedule: '@once'\ntasks:\n" + kTask,
                "bad.yaml:2: the Dag: unknown key 'shedule'"},
        BadYaml{"DuplicateKey", "dag_id: d\ndag_id: e\ntasks:\n" + kTask,
                "bad.yaml:2: the Dag: key 'dag_id' appears twice"},
        BadYaml{"TwoDocuments", "dag_id: d\ntasks:\n" + kTask + "---\ndag_id: e\n",
                "several YAML documents"},
        BadYaml{"BadDagId", "dag_id: ../etc\ntasks:\n" + kTask, "dag_id '../etc'"},
        BadYaml{"DotDotDagId", "dag_id: ..\ntasks:\n" + kTask, "dag_id '..'"},
        BadYaml{"BadSchedule", "dag_id: d\nschedule: hourly\ntasks:\n" + kTask,
                "bad.yaml:2: schedule 'hourly'"},
        BadYaml{"ZeroInterval", "dag_id: d\nschedule: every 0m\ntasks:\n" + kTask,
                "schedule 'every 0m'"},
        BadYaml{"NegativeMaxActiveRuns", "dag_id: d\nmax_active_runs: -1\ntasks:\n" + kTask,
                "bad.yaml:2: max_active_runs must be an integer"},
        BadYaml{"TasksNotAList", "dag_id: d\ntasks: {a: 1}\n", "tasks must be a list"},
        BadYaml{"NoTasks", "dag_id: d\ntasks: []\n", "at least one task"},
        BadYaml{"TaskWithoutId", "dag_id: d\ntasks:\n  - command: [\"true\"]\n",
                "bad.yaml:3: a task has no task_id"},
        BadYaml{"TaskWithoutCommand", "dag_id: d\ntasks:\n  - task_id: a\n",
                "bad.yaml:3: task 'a': command is required"},
        BadYaml{"CommandAsString", "dag_id: d\ntasks:\n  - task_id: a\n    command: rm -rf /\n",
                "bad.yaml:4: task 'a': command must be a list"},
        BadYaml{"CommandEmpty", "dag_id: d\ntasks:\n  - task_id: a\n    command: []\n",
                "bad.yaml:3: task 'a': command must be a non-empty list"},
        BadYaml{"CommandNested", "dag_id: d\ntasks:\n  - task_id: a\n    command: [[x]]\n",
                "command must be a list of strings"},
        BadYaml{"UnknownTaskKey",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    retires: 3\n",
                "bad.yaml:5: a task: unknown key 'retires'"},
        BadYaml{"RetriesNotNumber",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    retries: many\n",
                "bad.yaml:5: task 'a': retries must be an integer"},
        BadYaml{"RetriesHuge",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    retries: "
                "99999999999999999999\n",
                "retries must be an integer"},
        BadYaml{"BadDuration",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    retry_delay: soon\n",
                "bad.yaml:5: task 'a': retry_delay: not a duration"},
        BadYaml{"HugeDuration",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n"
                "    execution_timeout: 99999999999d\n",
                "too long"},
        BadYaml{"DuplicateTaskId", "dag_id: d\ntasks:\n" + kTask + kTask,
                "bad.yaml:5: task_id 'a' is used twice"},
        BadYaml{"UnknownUpstream",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    upstream: [zz]\n",
                "bad.yaml:3: task 'a': upstream 'zz' is not a task of this Dag"},
        BadYaml{"SelfUpstream",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    upstream: [a]\n",
                "its own upstream"},
        BadYaml{"Cycle",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    upstream: [c]\n"
                "  - task_id: b\n    command: [x]\n    upstream: [a]\n"
                "  - task_id: c\n    command: [x]\n    upstream: [b]\n",
                "tasks form a cycle"},
        BadYaml{"SecretInEnv",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n"
                "    env: {DB_PASSWORD: hunter2}\n",
                "env 'DB_PASSWORD' looks like a secret"},
        BadYaml{"BadEnvName",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    env: {\"A=B\": x}\n",
                "env name 'A=B'"},
        BadYaml{"EnvValueNotScalar",
                "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    env: {A: [1]}\n",
                "bad.yaml:5: task 'a': env 'A' must be a single value"},
        BadYaml{
            "BadUser",
            "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    run_as_user: \"root;id\"\n",
            "run_as_user 'root;id'"},
        BadYaml{
            "BadTriggerRule",
            "dag_id: d\ntasks:\n  - task_id: a\n    command: [x]\n    trigger_rule: one_failed\n",
            "bad.yaml:5: task 'a': trigger_rule must be all_success or all_done"},
        BadYaml{"NulByte", std::string("dag_id: d\0\n", 11), "NUL"},
        BadYaml{"DeepNesting", "dag_id: d\ntasks: " + std::string(5000, '[') + "\n", "bad.yaml"},
        BadYaml{"AliasBomb",
                "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\ndag_id: d\ntasks: [*c, *c]\n",
                "unknown key 'a'"},
        BadYaml{"AliasBombInTasks", "dag_id: d\ntasks: &t\n  - task_id: a\n    command: *t\n",
                "bad.yaml"},
        BadYaml{"TooLarge", "dag_id: d\n#" + std::string(kMaxYamlBytes, 'x') + "\n",
                "larger than"}),
    [](const testing::TestParamInfo<BadYaml>& info) { return info.param.name; });

}  // namespace
}  // namespace airlock::dags

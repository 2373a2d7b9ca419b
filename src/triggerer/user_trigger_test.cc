#include "triggerer/user_trigger.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

namespace airlock::triggerer {
namespace {

TEST(UserTriggerTest, SpawnOptionsAreTheHardeningChecklist) {
  UserTriggerRunOptions options{
      .limits = {.address_space_bytes = 1 << 28, .cpu_seconds = 5, .file_size_bytes = 4096},
      .parent_environment = {{"PATH", "/usr/bin:/bin"},
                             {"LANG", "C.UTF-8"},
                             {"AIRLOCK__TRIGGERER__API_TOKEN", "eyJhbGciOi.x.y"},
                             {"AIRLOCK__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:p@db/x"},
                             {"AWS_SECRET_ACCESS_KEY", "abcdef"}}};
  auto spawn = UserTriggerSpawnOptions({.argv = {"check", "--x"}}, options, 7, 8);
  EXPECT_EQ(spawn.argv, (std::vector<std::string>{"check", "--x"}));
  EXPECT_EQ(spawn.stdin_fd, -1);
  EXPECT_EQ(spawn.stdout_fd, 7);
  EXPECT_EQ(spawn.stderr_fd, 8);
  EXPECT_TRUE(spawn.extra_fds.empty());
  EXPECT_TRUE(spawn.die_with_parent);
  EXPECT_TRUE(spawn.no_new_privs);
  EXPECT_EQ(spawn.cwd, "/");
  EXPECT_EQ(spawn.env, (std::vector<std::string>{"LANG=C.UTF-8", "PATH=/usr/bin:/bin"}));
  auto has = [&](int resource, rlim_t value) {
    return std::find(spawn.rlimits.begin(), spawn.rlimits.end(),
                     std::pair<int, rlim_t>{resource, value}) != spawn.rlimits.end();
  };
  EXPECT_TRUE(has(RLIMIT_AS, 1 << 28));
  EXPECT_TRUE(has(RLIMIT_CPU, 5));
  EXPECT_TRUE(has(RLIMIT_FSIZE, 4096));
  EXPECT_TRUE(has(RLIMIT_CORE, 0));
}

TEST(UserTriggerTest, ZeroLimitsAreNotSet) {
  UserTriggerRunOptions options{
      .limits = {.address_space_bytes = 0, .cpu_seconds = 0, .file_size_bytes = 0}};
  auto spawn = UserTriggerSpawnOptions({.argv = {"true"}}, options, 1, 2);
  ASSERT_EQ(spawn.rlimits.size(), 1u);
  EXPECT_EQ(spawn.rlimits[0].first, RLIMIT_CORE);
}

TEST(UserTriggerTest, DescribesExits) {
  EXPECT_EQ(supervisor::DescribeChildExit(3 << 8), "exited with code 3");
  EXPECT_EQ(supervisor::DescribeChildExit(SIGKILL), "was killed by SIGKILL");
  EXPECT_EQ(supervisor::DescribeChildExit(SIGXCPU), "was killed by SIGXCPU (CPU time limit)");
}

TEST(UserTriggerTest, PayloadIsStdoutWhenItIsOneJsonObject) {
  EXPECT_EQ(UserTriggerPayload("{\"ready\": true, \"rows\": 3}\n"), R"({"ready":true,"rows":3})");
  EXPECT_EQ(UserTriggerPayload(""), R"({"returncode":0})");
  EXPECT_EQ(UserTriggerPayload("done\n"), R"({"returncode":0})");
  EXPECT_EQ(UserTriggerPayload("[1, 2]"), R"({"returncode":0})");
  EXPECT_EQ(UserTriggerPayload(R"({"a": 1, "a": 2})"), R"({"returncode":0})");  // duplicate
  EXPECT_EQ(UserTriggerPayload("{\"a\": 1} trailing"), R"({"returncode":0})");
}

}  // namespace
}  // namespace airlock::triggerer

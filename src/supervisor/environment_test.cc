#include "supervisor/environment.h"

#include <gtest/gtest.h>

namespace airlock::supervisor {
namespace {

// A parent environment as a scheduler might have it: credentials next to harmless values.
EnvironmentMap SchedulerEnvironment() {
  return {
      {"PATH", "/opt/bin:/usr/bin"},
      {"LANG", "C.UTF-8"},
      {"TZ", "UTC"},
      {"HOME", "/root"},
      {"AIRLOCK_HOME", "/srv/airlock"},
      {"AIRLOCK__DATABASE__SQL_ALCHEMY_CONN", "postgresql://airlock:pw@db/airlock"},
      {"AIRLOCK__DATABASE__SQL_ALCHEMY_CONN_CMD", "cat /run/secrets/db"},
      {"AIRLOCK__API_AUTH__JWT_SECRET", "signing-secret-signing-secret"},
      {"AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH", "/srv/airlock/key.pem"},
      {"AIRLOCK__CORE__FERNET_KEY", "fernet"},
      {"AIRLOCK__CORE__PARALLELISM", "8"},
      {"AIRLOCK__LOGGING__LOGGING_LEVEL", "DEBUG"},
      {"AIRLOCK__CORE__ALLOW_ROOT_TASKS", "True"},
      {"AWS_SECRET_ACCESS_KEY", "aws"},
      {"LD_PRELOAD", "/tmp/evil.so"},
      {"SSH_AUTH_SOCK", "/tmp/ssh-agent"},
  };
}

TEST(ScrubbedEnvironmentTest, CopiesOnlyTheAllowList) {
  auto env = ScrubbedEnvironment(SchedulerEnvironment(), "/home/task", {});
  EXPECT_EQ(env, (std::vector<std::string>{"HOME=/home/task", "LANG=C.UTF-8",
                                           "PATH=/opt/bin:/usr/bin", "TZ=UTC"}));
}

TEST(ScrubbedEnvironmentTest, SetValuesWinAndPathHasADefault) {
  auto env = ScrubbedEnvironment({{"HOME", "/root"}}, "",
                                 {{"AIRLOCK_SUPERVISOR_FD", "3"}, {"FOO", "bar"}});
  EXPECT_EQ(env, (std::vector<std::string>{"AIRLOCK_SUPERVISOR_FD=3", "FOO=bar",
                                           "PATH=" + std::string(kDefaultPath)}));
  env = ScrubbedEnvironment({{"PATH", "/a"}}, "/h", {{"PATH", "/b"}, {"HOME", "/x"}});
  EXPECT_EQ(env, (std::vector<std::string>{"HOME=/x", "PATH=/b"}));
}

TEST(SupervisorEnvironmentTest, ForwardsNonSensitiveWorkerOptionsOnly) {
  auto env = SupervisorEnvironment(SchedulerEnvironment(), "/root",
                                   {{"AIRLOCK__CORE__EXECUTION_API_SERVER_URL", "http://h/"}});
  EXPECT_EQ(env, (std::vector<std::string>{
                     "AIRLOCK_HOME=/srv/airlock",
                     "AIRLOCK__CORE__ALLOW_ROOT_TASKS=True",
                     "AIRLOCK__CORE__EXECUTION_API_SERVER_URL=http://h/",
                     "AIRLOCK__LOGGING__LOGGING_LEVEL=DEBUG",
                     "HOME=/root",
                     "LANG=C.UTF-8",
                     "PATH=/opt/bin:/usr/bin",
                     "TZ=UTC",
                 }));
  for (const auto& entry : env) {
    EXPECT_EQ(entry.find("pw"), std::string::npos) << entry;
    EXPECT_EQ(entry.find("secret"), std::string::npos) << entry;
  }
}

TEST(PrependToPathTest, PutsTheDirectoryFirstOnce) {
  EXPECT_EQ(PrependToPath("/opt/airlock/bin", "/usr/bin:/bin"), "/opt/airlock/bin:/usr/bin:/bin");
  EXPECT_EQ(PrependToPath("/opt/airlock/bin", "/opt/airlock/bin:/bin"), "/opt/airlock/bin:/bin");
  EXPECT_EQ(PrependToPath("/d", ""), "/d");
  EXPECT_EQ(PrependToPath("", "/bin"), "/bin");
}

}  // namespace
}  // namespace airlock::supervisor

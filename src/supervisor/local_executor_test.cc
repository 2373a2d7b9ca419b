#include "supervisor/local_executor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "testing/temp_dir.h"

namespace airlock::supervisor {
namespace {

// A stand-in for airlock-supervisor: it records its argv, environment, open fds and stdin;
// released with an empty stdin (a standby not used) it exits 0 at once, as the real one
// does; with a workload it waits for a file to appear (or SIGTERM).
class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = dir_ + "/fake-airlock-supervisor";
    // Each record appears whole (written aside, then renamed): a test that sees the file
    // must not read it half written.
    std::ofstream script(binary_);
    script << "#!/bin/sh\n"
           << "out=" << dir_ << "/run-$$\n"
           << "echo \"$@\" > $out.argv.part && mv $out.argv.part $out.argv\n"
           << "env | sort > $out.env.part && mv $out.env.part $out.env\n"
           << "ls /proc/$$/fd | sort -n | tr '\\n' ' ' > $out.fds.part && mv $out.fds.part "
              "$out.fds\n"
           << "cat > $out.stdin\n"
           << "[ -s $out.stdin ] || { touch $out.released; exit 0; }\n"
           << "while [ ! -e " << dir_ << "/release ]; do sleep 0.05; done\n";
    script.close();
    chmod(binary_.c_str(), 0755);
  }

  // The files `suffix` of every run, by pid.
  std::map<std::string, std::string> ReadAll(const std::string& suffix) {
    std::map<std::string, std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      std::string name = entry.path().filename().string();
      if (!name.starts_with("run-") || !name.ends_with(suffix)) continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      out[name.substr(4, name.size() - 4 - suffix.size())] = text.str();
    }
    return out;
  }

  // The file `suffix` of one run (the first by name), for tests that start one supervisor.
  std::string Read(const std::string& suffix) {
    auto all = ReadAll(suffix);
    return all.empty() ? "" : all.begin()->second;
  }

  bool WaitFor(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  test::TempDir temp_{"airlock-executor-test"};
  const std::string dir_ = temp_.path();
  std::string binary_;
};

TEST_F(LocalExecutorTest, RefusesBadOptions) {
  EXPECT_FALSE(LocalExecutor::Create(
      {.supervisor_binary = dir_ + "/missing", .execution_api_url = "http://x/execution/"}));
  EXPECT_FALSE(LocalExecutor::Create({.supervisor_binary = binary_, .execution_api_url = ""}));
  EXPECT_FALSE(LocalExecutor::Create(
      {.supervisor_binary = binary_, .execution_api_url = "http://x/", .parallelism = 0}));
}

TEST_F(LocalExecutorTest, StartsSupervisorsWithTheWorkloadOnStdinAndAScrubbedEnvironment) {
  setenv("AIRLOCK__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:db-password@h/db", 1);
  setenv("AIRLOCK__API_AUTH__JWT_SECRET", "signing-secret-signing-secret", 1);
  setenv("AIRLOCK__LOGGING__LOGGING_LEVEL", "DEBUG", 1);
  auto executor = LocalExecutor::Create({.supervisor_binary = binary_,
                                         .execution_api_url = "http://127.0.0.1:9/execution/",
                                         .log_folder = dir_ + "/logs",
                                         .parallelism = 1});
  unsetenv("AIRLOCK__DATABASE__SQL_ALCHEMY_CONN");
  unsetenv("AIRLOCK__API_AUTH__JWT_SECRET");
  unsetenv("AIRLOCK__LOGGING__LOGGING_LEVEL");
  ASSERT_TRUE(executor) << executor.error().message();

  auto bad = (*executor)->Submit("not json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);

  const std::string workload = R"({"type":"ExecuteTask","token":"tok"})";
  ASSERT_TRUE((*executor)->Submit(workload));
  EXPECT_EQ((*executor)->running(), 1u);
  auto full = (*executor)->Submit(workload);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), ErrorCode::kResourceExhausted);

  ASSERT_TRUE(WaitFor([&] { return Read(".stdin") == workload; })) << Read(".stdin");
  // Started ahead as the standby; the configuration is in the environment.
  EXPECT_EQ(Read(".argv"), "--standby\n");
  const std::string env = Read(".env");
  EXPECT_NE(env.find("AIRLOCK__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:9/execution/\n"),
            std::string::npos)
      << env;
  EXPECT_NE(env.find("AIRLOCK__LOGGING__BASE_LOG_FOLDER=" + dir_ + "/logs\n"), std::string::npos);
  EXPECT_NE(env.find("AIRLOCK__LOGGING__LOGGING_LEVEL=DEBUG\n"), std::string::npos);
  EXPECT_EQ(env.find("SQL_ALCHEMY_CONN"), std::string::npos) << env;
  EXPECT_EQ(env.find("JWT_SECRET"), std::string::npos) << env;
  EXPECT_EQ(env.find("db-password"), std::string::npos) << env;
  // stdin, stdout, stderr and the shell's own fd for the ls pipe, nothing of this process.
  EXPECT_EQ(Read(".fds").substr(0, 6), "0 1 2 ");

  std::ofstream(dir_ + "/release").close();
  EXPECT_TRUE(WaitFor([&] { return (*executor)->running() == 0; }));
}

TEST_F(LocalExecutorTest, DestructorStopsRunningSupervisors) {
  auto executor = LocalExecutor::Create(
      {.supervisor_binary = binary_, .execution_api_url = "http://127.0.0.1:9/execution/"});
  ASSERT_TRUE(executor);
  ASSERT_TRUE((*executor)->Submit("{}"));
  ASSERT_TRUE(WaitFor([&] { return !Read(".stdin").empty() || Read(".fds").size() > 0; }));
  const auto start = std::chrono::steady_clock::now();
  executor->reset();  // SIGTERM: the fake supervisor (a shell loop) dies of it
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(LocalExecutorTest, HandsTheWorkloadToTheStandbyStartedAheadAndStartsTheNext) {
  auto executor = LocalExecutor::Create({.supervisor_binary = binary_,
                                         .execution_api_url = "http://127.0.0.1:9/execution/",
                                         .parallelism = 2,
                                         .standby = 1});
  ASSERT_TRUE(executor);
  // Before any workload: one supervisor, started with --standby, waiting on stdin.
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".argv").size() == 1; }));
  const std::string standby_pid = ReadAll(".argv").begin()->first;
  EXPECT_EQ(ReadAll(".argv").begin()->second, "--standby\n");
  EXPECT_EQ((*executor)->standbys(), 1u);
  EXPECT_EQ((*executor)->running(), 0u);

  ASSERT_TRUE((*executor)->Submit(R"({"ti":{"id":"a"}})"));
  // That same process got the workload, and the next standby was started.
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".stdin")[standby_pid] == R"({"ti":{"id":"a"}})"; }));
  EXPECT_EQ((*executor)->running(), 1u);
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".argv").size() == 2; }));
  EXPECT_EQ((*executor)->standbys(), 1u);

  // At parallelism, no standby waits: the second workload fills the last slot.
  ASSERT_TRUE((*executor)->Submit(R"({"ti":{"id":"b"}})"));
  EXPECT_EQ((*executor)->running(), 2u);
  EXPECT_EQ((*executor)->standbys(), 0u);
  std::ofstream(dir_ + "/release").close();
  EXPECT_TRUE(WaitFor([&] { return (*executor)->running() == 0; }));
}

TEST_F(LocalExecutorTest, StartsASupervisorAfreshWhenTheStandbyDied) {
  auto executor = LocalExecutor::Create({.supervisor_binary = binary_,
                                         .execution_api_url = "http://127.0.0.1:9/execution/",
                                         .standby = 1});
  ASSERT_TRUE(executor);
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".argv").size() == 1; }));
  const std::string standby_pid = ReadAll(".argv").begin()->first;
  kill(std::stoi(standby_pid), SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return (*executor)->standbys() == 0; }));

  ASSERT_TRUE((*executor)->Submit(R"({"ti":{"id":"a"}})"));
  std::string fresh;
  ASSERT_TRUE(WaitFor([&] {
    for (const auto& [pid, stdin_text] : ReadAll(".stdin")) {
      if (stdin_text == R"({"ti":{"id":"a"}})") fresh = pid;
    }
    return !fresh.empty();
  }));
  EXPECT_NE(fresh, standby_pid);
  EXPECT_EQ(ReadAll(".argv")[fresh], "\n");  // started for this workload, not as a standby
  std::ofstream(dir_ + "/release").close();
}

TEST_F(LocalExecutorTest, WithoutStandbyNothingStartsBeforeAWorkload) {
  auto executor = LocalExecutor::Create({.supervisor_binary = binary_,
                                         .execution_api_url = "http://127.0.0.1:9/execution/",
                                         .standby = 0});
  ASSERT_TRUE(executor);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(ReadAll(".argv").empty());
  EXPECT_EQ((*executor)->standbys(), 0u);
  ASSERT_TRUE((*executor)->Submit("{}"));
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".stdin").size() == 1; }));
  EXPECT_EQ(ReadAll(".argv").begin()->second, "\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ReadAll(".argv").size(), 1u);  // and none after it
  std::ofstream(dir_ + "/release").close();
}

TEST_F(LocalExecutorTest, KeepsAPoolOfStandbysNoLargerThanTheFreeSlots) {
  auto executor = LocalExecutor::Create({.supervisor_binary = binary_,
                                         .execution_api_url = "http://127.0.0.1:9/execution/",
                                         .parallelism = 4,
                                         .standby = 3});
  ASSERT_TRUE(executor);
  EXPECT_EQ((*executor)->standbys(), 3u);
  ASSERT_TRUE((*executor)->Submit("{}"));
  EXPECT_EQ((*executor)->standbys(), 3u);  // topped up: 3 slots are still free
  ASSERT_TRUE((*executor)->Submit("{}"));
  ASSERT_TRUE((*executor)->Submit("{}"));
  // 3 busy, 1 slot free: one standby, and no process was started for the last two.
  EXPECT_EQ((*executor)->running(), 3u);
  EXPECT_EQ((*executor)->standbys(), 1u);
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".argv").size() == 4; }));
  for (const auto& [pid, argv] : ReadAll(".argv")) EXPECT_EQ(argv, "--standby\n") << pid;
  std::ofstream(dir_ + "/release").close();
  // As the three finish, the pool grows back to 3.
  EXPECT_TRUE(WaitFor([&] { return (*executor)->running() == 0 && (*executor)->standbys() == 3; }));
}

TEST_F(LocalExecutorTest, DestructorReleasesTheStandbysWithoutASignal) {
  auto executor = LocalExecutor::Create({.supervisor_binary = binary_,
                                         .execution_api_url = "http://127.0.0.1:9/execution/",
                                         .standby = 2});
  ASSERT_TRUE(executor);
  ASSERT_TRUE(WaitFor([&] { return ReadAll(".argv").size() == 2; }));
  executor->reset();
  // Their stdin closed empty: they exited on their own (a SIGTERM would have killed the
  // shell before it could record that).
  EXPECT_EQ(ReadAll(".released").size(), 2u);
}

TEST_F(LocalExecutorTest, RefusesANegativeStandbyCount) {
  EXPECT_FALSE(LocalExecutor::Create({.supervisor_binary = binary_,
                                      .execution_api_url = "http://127.0.0.1:9/execution/",
                                      .standby = -1}));
}

}  // namespace
}  // namespace airlock::supervisor

#include "supervisor/local_executor.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace airlock::supervisor {
namespace {

// A stand-in for the airlock binary: `<it> supervise` records its argv, environment, open
// fds and stdin, then waits for a file to appear (or SIGTERM).
class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/airlock-executor-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    binary_ = dir_ + "/fake-airlock";
    std::ofstream script(binary_);
    script << "#!/bin/sh\n"
           << "out=" << dir_ << "/run-$$\n"
           << "echo \"$@\" > $out.argv\n"
           << "env | sort > $out.env\n"
           << "ls /proc/$$/fd | sort -n | tr '\\n' ' ' > $out.fds\n"
           << "cat > $out.stdin\n"
           << "while [ ! -e " << dir_ << "/release ]; do sleep 0.05; done\n";
    script.close();
    chmod(binary_.c_str(), 0755);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Read(const std::string& suffix) {
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      if (entry.path().string().ends_with(suffix)) {
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
      }
    }
    return "";
  }

  bool WaitFor(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string dir_;
  std::string binary_;
};

TEST_F(LocalExecutorTest, RefusesBadOptions) {
  EXPECT_FALSE(LocalExecutor::Create(
      {.airlock_binary = dir_ + "/missing", .execution_api_url = "http://x/execution/"}));
  EXPECT_FALSE(LocalExecutor::Create({.airlock_binary = binary_, .execution_api_url = ""}));
  EXPECT_FALSE(LocalExecutor::Create(
      {.airlock_binary = binary_, .execution_api_url = "http://x/", .parallelism = 0}));
}

TEST_F(LocalExecutorTest, StartsSupervisorsWithTheWorkloadOnStdinAndAScrubbedEnvironment) {
  setenv("AIRLOCK__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:db-password@h/db", 1);
  setenv("AIRLOCK__API_AUTH__JWT_SECRET", "signing-secret-signing-secret", 1);
  setenv("AIRLOCK__LOGGING__LOGGING_LEVEL", "DEBUG", 1);
  auto executor = LocalExecutor::Create({.airlock_binary = binary_,
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
  EXPECT_EQ(Read(".argv"), "supervise\n");
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
      {.airlock_binary = binary_, .execution_api_url = "http://127.0.0.1:9/execution/"});
  ASSERT_TRUE(executor);
  ASSERT_TRUE((*executor)->Submit("{}"));
  ASSERT_TRUE(WaitFor([&] { return !Read(".stdin").empty() || Read(".fds").size() > 0; }));
  const auto start = std::chrono::steady_clock::now();
  executor->reset();  // SIGTERM: the fake supervisor (a shell loop) dies of it
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace airlock::supervisor

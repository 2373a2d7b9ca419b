#include "dag_processor/executable_dag.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "supervisor/supervisor.h"

namespace airlock::dag_processor {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class ExecutableDagTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() /
              ("airlock-executable-dag-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(folder_);
    fs::create_directories(folder_);
    fs::permissions(folder_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                 fs::perms::others_read | fs::perms::others_exec);
    options_.parent_environment = supervisor::CurrentEnvironment();
    options_.limits.timeout = milliseconds(5000);
    options_.cwd = folder_.string();
  }
  void TearDown() override { fs::remove_all(folder_); }

  std::string WriteScript(const std::string& name, const std::string& text) {
    const fs::path path = folder_ / name;
    std::ofstream(path) << text;
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    return path.string();
  }

  fs::path folder_;
  ExecutableRunOptions options_;
};

constexpr char kDagJson[] =
    R"({"dag_id": "from_python", "schedule": "every 5m",
        "tasks": [{"task_id": "a", "command": ["true"]},
                  {"task_id": "b", "command": ["echo", "hi"], "upstream": ["a"], "retries": 2}]})";

TEST_F(ExecutableDagTest, APythonFilePrintsItsDagAsJson) {
  auto path =
      WriteScript("dag.py", std::string("#!/usr/bin/python3\nimport json\nprint(json.dumps(") +
                                "json.loads('''" + kDagJson + "''')))\n");
  auto out = RunExecutableDagFile(path, options_);
  ASSERT_TRUE(out.has_value()) << out.error().message();
  auto dags = ParseJsonDags(*out, "dag.py");
  ASSERT_TRUE(dags.has_value()) << dags.error().message();
  ASSERT_EQ(dags->size(), 1u);
  EXPECT_EQ((*dags)[0].dag_id, "from_python");
  ASSERT_EQ((*dags)[0].tasks.size(), 2u);
  EXPECT_EQ((*dags)[0].tasks[1].upstream, std::vector<std::string>{"a"});
  EXPECT_EQ((*dags)[0].tasks[1].retries, 2);
  EXPECT_EQ((*dags)[0].schedule.interval_seconds, 300);
}

TEST_F(ExecutableDagTest, AListOfDagsIsAccepted) {
  auto dags = ParseJsonDags(
      R"([{"dag_id":"x","tasks":[{"task_id":"a","command":["true"]}]},
          {"dag_id":"y","tasks":[{"task_id":"a","command":["true"]}]}])",
      "two.sh");
  ASSERT_TRUE(dags.has_value()) << dags.error().message();
  ASSERT_EQ(dags->size(), 2u);
  EXPECT_EQ((*dags)[1].dag_id, "y");
}

TEST_F(ExecutableDagTest, OutputIsParsedStrictlyWithTheYamlRules) {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (
      const Case& c : std::vector<Case>{
          {"not json at all", "f.sh: the output is not valid JSON"},
          {"", "f.sh: the output is not valid JSON"},
          {R"({"dag_id":"x","dag_id":"y","tasks":[]})", "f.sh: the output is not valid JSON"},
          {"42", "f.sh: the output must be a JSON object"},
          {"[]", "f.sh: the output is an empty list of Dags"},
          {"[1]", "f.sh (Dag 0): a Dag must be a JSON object"},
          {R"({"dag_id":"x","tasks":[{"task_id":"a","command":["true"]}],"owner":"me"})",
           "unknown key 'owner'"},
          {R"({"dag_id":"x","tasks":[{"task_id":"a","command":["true"],"upstream":["a"]}]})",
           "a task cannot be its own upstream"},
          {R"({"dag_id":"x","tasks":[{"task_id":"a","command":["true"],"env":{"API_TOKEN":"s"}}]})",
           "API_TOKEN"},
      }) {
    auto dags = ParseJsonDags(c.text, "f.sh");
    ASSERT_FALSE(dags.has_value()) << c.text;
    EXPECT_NE(dags.error().message().find(c.expected), std::string::npos)
        << c.text << " → " << dags.error().message();
  }
}

TEST_F(ExecutableDagTest, AFileThatHangsIsKilledAtTheTimeout) {
  // It also leaves a child behind, holding stdout open: the whole session is killed.
  auto path = WriteScript("hang.sh", "#!/bin/sh\nsleep 600 &\nexec sleep 600\n");
  options_.limits.timeout = milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto out = RunExecutableDagFile(path, options_);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().message(), "timed out after 300 ms and was killed");
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(ExecutableDagTest, ANonZeroExitIsAnErrorWithItsStderr) {
  auto path = WriteScript("fail.py",
                          "#!/usr/bin/python3\nimport sys\nprint('{}')\n"
                          "raise ValueError('no Dag today')\n");
  auto out = RunExecutableDagFile(path, options_);
  ASSERT_FALSE(out.has_value());
  const std::string message = out.error().message();
  EXPECT_TRUE(message.starts_with("exited with code 1\nTraceback")) << message;
  EXPECT_NE(message.find("ValueError: no Dag today"), std::string::npos) << message;
}

TEST_F(ExecutableDagTest, ACrashIsReportedByItsSignal) {
  auto path = WriteScript("crash.sh", "#!/bin/sh\nkill -SEGV $$\n");
  auto out = RunExecutableDagFile(path, options_);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().message(), "was killed by SIGSEGV");
}

TEST_F(ExecutableDagTest, HugeOutputIsCappedAndKilled) {
  // 100 MB on stdout; the cap is 1 MiB, so at most about that much is ever held.
  auto path = WriteScript("huge.py",
                          "#!/usr/bin/python3\nimport sys\nchunk = 'x' * (1 << 20)\n"
                          "for _ in range(100):\n    sys.stdout.write(chunk)\n");
  options_.limits.max_output_bytes = 1 << 20;
  struct rusage before {};
  getrusage(RUSAGE_SELF, &before);
  auto out = RunExecutableDagFile(path, options_);
  struct rusage after {};
  getrusage(RUSAGE_SELF, &after);
  ASSERT_FALSE(out.has_value());
  EXPECT_TRUE(
      out.error().message().starts_with("printed more than 1048576 bytes on stdout and was killed"))
      << out.error().message();
  // ru_maxrss is in KiB: this process grew by far less than the 100 MB printed.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 16 * 1024);
}

TEST_F(ExecutableDagTest, MemoryLimitStopsAGreedyFile) {
  auto path =
      WriteScript("greedy.py", "#!/usr/bin/python3\nx = bytearray(512 << 20)\nprint('{}')\n");
  options_.limits.address_space_bytes = rlim_t{256} << 20;
  auto out = RunExecutableDagFile(path, options_);
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.error().message().find("MemoryError"), std::string::npos) << out.error().message();
}

TEST_F(ExecutableDagTest, FileSizeLimitApplies) {
  auto path = WriteScript("writer.sh",
                          "#!/bin/sh\nhead -c 2000000 /dev/zero > \"$PWD/big.bin\" || exit 3\n"
                          "echo '{}'\n");
  options_.limits.file_size_bytes = 1 << 20;
  auto out = RunExecutableDagFile(path, options_);
  ASSERT_FALSE(out.has_value());
  EXPECT_LE(fs::file_size(folder_ / "big.bin"), 1u << 20);
}

TEST_F(ExecutableDagTest, TheEnvironmentIsScrubbed) {
  ::setenv("AIRLOCK__DAG_PROCESSOR__API_TOKEN", "secret-token-value", 1);
  auto path = WriteScript("env.sh", "#!/bin/sh\nenv\n");
  options_.parent_environment = supervisor::CurrentEnvironment();
  auto out = RunExecutableDagFile(path, options_);
  ::unsetenv("AIRLOCK__DAG_PROCESSOR__API_TOKEN");
  ASSERT_TRUE(out.has_value()) << out.error().message();
  EXPECT_EQ(out->find("secret-token-value"), std::string::npos) << *out;
  EXPECT_NE(out->find("PATH="), std::string::npos) << *out;
}

TEST_F(ExecutableDagTest, CannotReadTheParentsEnviron) {
  // As the dag-processor does before it runs a file. A root test process runs the file as
  // nobody (root could read any environ); otherwise as itself, where non-dumpable is what
  // makes /proc/<parent>/environ root-owned and unreadable.
  ASSERT_TRUE(supervisor::MakeNonDumpable().has_value());
  if (geteuid() == 0) {
    auto nobody = supervisor::LookUpUser("nobody");
    ASSERT_TRUE(nobody.has_value());
    options_.user = *nobody;
  }
  const std::string parent = std::to_string(getpid());
  auto path = WriteScript("peek.py",
                          "#!/usr/bin/python3\nimport json\ntry:\n    open('/proc/" + parent +
                              "/environ', 'rb').read()\n    result = 'read'\nexcept OSError as e:\n"
                              "    result = type(e).__name__\nprint(json.dumps(result))\n");
  auto out = RunExecutableDagFile(path, options_);
  ASSERT_TRUE(out.has_value()) << out.error().message();
  EXPECT_EQ(*out, "\"PermissionError\"\n");
}

}  // namespace
}  // namespace airlock::dag_processor

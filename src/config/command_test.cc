#include "config/command.h"

#include <gtest/gtest.h>

namespace airlock::config {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> Split(std::string_view line) {
  auto words = SplitCommandLine(line);
  EXPECT_TRUE(words) << line;
  return words.value_or(std::vector<std::string>{});
}

TEST(SplitCommandLineTest, SplitsOnBlanks) {
  EXPECT_EQ(Split("cat  /run/secrets/db\t-n"),
            (std::vector<std::string>{"cat", "/run/secrets/db", "-n"}));
}

TEST(SplitCommandLineTest, QuotesAndEscapes) {
  EXPECT_EQ(
      Split(R"(vault read -field='pass word' "a \"b\" \\ \c" x\ y)"),
      (std::vector<std::string>{"vault", "read", "-field=pass word", R"(a "b" \ \c)", "x y"}));
  EXPECT_EQ(Split("''"), (std::vector<std::string>{""}));
}

TEST(SplitCommandLineTest, ShellOperatorsAreOrdinaryCharacters) {
  EXPECT_EQ(
      Split("echo $HOME | cat ; rm -rf ~ > x"),
      (std::vector<std::string>{"echo", "$HOME", "|", "cat", ";", "rm", "-rf", "~", ">", "x"}));
}

TEST(SplitCommandLineTest, RejectsBrokenLines) {
  EXPECT_FALSE(SplitCommandLine("echo 'open"));
  EXPECT_FALSE(SplitCommandLine("echo \"open"));
  EXPECT_FALSE(SplitCommandLine("echo \\"));
  EXPECT_FALSE(SplitCommandLine("   "));
}

TEST(RunCommandTest, ReturnsStdoutWithOneTrailingNewlineRemoved) {
  auto out = RunCommand({"printf", "s3cret\n\n"});
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, "s3cret\n");
  out = RunCommand({"printf", "no-newline"});
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "no-newline");
}

TEST(RunCommandTest, RunsWithoutAShell) {
  auto out = RunCommand({"echo", "$HOME", "|", "x"});
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "$HOME | x");
}

TEST(RunCommandTest, StdinIsEmpty) {
  auto out = RunCommand({"cat"}, milliseconds(5000));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, "");
}

TEST(RunCommandTest, NonZeroExitIsAnErrorWithoutTheOutput) {
  auto out = RunCommand({"sh", "-c", "echo leaked-secret; exit 3"});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(out.error().message().find("exited with status 3"), std::string::npos);
  EXPECT_EQ(out.error().message().find("leaked-secret"), std::string::npos);
}

TEST(RunCommandTest, DeathBySignalIsAnError) {
  auto out = RunCommand({"sh", "-c", "kill -KILL $$"});
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("signal 9"), std::string::npos);
}

TEST(RunCommandTest, MissingProgramIsNotFound) {
  auto out = RunCommand({"airlock-no-such-program-xyz"});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kNotFound);
  out = RunCommand({"/nonexistent/dir/prog"});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kNotFound);
}

TEST(RunCommandTest, KillsCommandsThatOutliveTheTimeout) {
  auto start = std::chrono::steady_clock::now();
  auto out = RunCommand({"sleep", "30"}, milliseconds(200));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RunCommandTest, TimeoutCoversCommandsThatCloseStdoutAndLinger) {
  auto out = RunCommand({"sh", "-c", "exec >&-; sleep 30"}, milliseconds(200));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kDeadlineExceeded);
}

TEST(RunCommandTest, RefusesHugeOutput) {
  auto out = RunCommand({"head", "-c", "200000", "/dev/zero"});
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace airlock::config

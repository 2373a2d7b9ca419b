#include "supervisor/launch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "supervisor/protocol.h"

namespace airlock::supervisor {
namespace {

TEST(LaunchRequestTest, RoundTripsAnyText) {
  LaunchRequest request{
      .argv = {"/bin/sh", "-c", "echo \"$A\" 'b' \\ \n\t", "caf\xc3\xa9"},
      .env = {"A=1=2", "B=", "PATH=/usr/bin:/bin", "Q=\"quoted\""},
      .cwd = "/home/etl",
  };
  auto parsed = ParseLaunchRequest(EncodeLaunchRequest(request));
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, request);
}

TEST(LaunchRequestTest, RefusesWhatCannotBeStarted) {
  for (const char* text : {
           R"(not json)",
           R"([])",
           R"({"env":[],"cwd":"/"})",
           R"({"argv":"sh","env":[],"cwd":"/"})",
           R"({"argv":[1],"env":[],"cwd":"/"})",
           R"({"argv":[],"env":[],"cwd":"/"})",
           R"({"argv":[""],"env":[],"cwd":"/"})",
           R"({"argv":["sh"],"cwd":"/"})",
           R"({"argv":["sh"],"env":["NOEQUALS"],"cwd":"/"})",
           R"({"argv":["sh"],"env":["=x"],"cwd":"/"})",
           R"({"argv":["sh"],"env":[]})",
           R"({"argv":["sh"],"env":[],"cwd":"relative"})",
           R"({"argv":["sh"],"env":[],"cwd":7})",
       }) {
    auto parsed = ParseLaunchRequest(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << text;
  }
}

// The sudoers rule in launch.h and the deployment guide matches these exact words.
TEST(LaunchRequestTest, SudoCommandsAreExactlyWhatTheSudoersRuleNames) {
  EXPECT_EQ(SudoLaunchCommand("/usr/bin/sudo", "etl", "/opt/airlock/airlock-supervisor"),
            (std::vector<std::string>{"/usr/bin/sudo", "-n", "-u", "etl", "--",
                                      "/opt/airlock/airlock-supervisor", "--launch"}));
  EXPECT_EQ(SudoKillCommand("/usr/bin/sudo", "etl", "KILL", 4242),
            (std::vector<std::string>{"/usr/bin/sudo", "-n", "-u", "etl", "--", "kill", "-s",
                                      "KILL", "--", "-4242"}));
}

// What the launcher does once sudo has started it, without sudo: a child whose stdin is the
// channel, as sudo leaves it.
TEST(LauncherTest, StartsTheTaskWithTheChannelItsEnvironmentAndNoNewPrivileges) {
  int channel[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel), 0);
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const std::string script =
      "echo \"A=$A\"; echo \"HOME=${HOME-unset}\"; pwd; "
      "readlink /proc/self/fd/0; readlink /proc/self/fd/3 | cut -d: -f1; "
      "grep NoNewPrivs /proc/self/status | tr -d '\\t'";
  ASSERT_TRUE(SendLaunchRequest(channel[0], {.argv = {"sh", "-c", script},
                                             .env = {"A=from the request", "PATH=/usr/bin:/bin"},
                                             .cwd = "/tmp"}));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(channel[1], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    (void)RunLauncher();
    _exit(127);
  }
  close(out[1]);
  close(channel[1]);
  std::string output;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) output.append(buf, n);
  close(out[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(output, "A=from the request\nHOME=unset\n/tmp\n/dev/null\nsocket\nNoNewPrivs:1\n");
  close(channel[0]);
}

TEST(LauncherTest, SaysWhatIsWrongWhenStdinIsNoChannel) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, STDIN_FILENO);
    auto launched = RunLauncher();
    const bool explained =
        !launched && launched.error().message().find("through sudo") != std::string::npos;
    _exit(explained ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(LauncherTest, ACommandNotOnThePathIsAnError) {
  int channel[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel), 0);
  ASSERT_TRUE(SendLaunchRequest(
      channel[0], {.argv = {"no-such-command-airlock"}, .env = {"PATH=/nonexistent"}, .cwd = "/"}));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(channel[1], STDIN_FILENO);
    auto launched = RunLauncher();
    _exit(!launched && launched.error().code() == ErrorCode::kNotFound ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(channel[0]);
  close(channel[1]);
}

}  // namespace
}  // namespace airlock::supervisor

#include "supervisor/launch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
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
  EXPECT_EQ(SudoKillCommand("/usr/bin/sudo", "etl", "/usr/bin/kill", "KILL", 4242),
            (std::vector<std::string>{"/usr/bin/sudo", "-n", "-u", "etl", "--", "/usr/bin/kill",
                                      "-s", "KILL", "--", "-4242"}));
}

// Runs `launch` where sudo runs the launcher: in a child of a process-group leader (sudo,
// which Spawn started in a session of its own), with `stdin_fd` as stdin and stdout into
// the returned text. The exit code of `launch`'s process, or 127 if it returned.
struct Launched {
  int exit_code = -1;
  std::string output;
};
Launched RunLikeSudo(int stdin_fd, const std::function<int()>& launch, bool own_group = true) {
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t sudo = fork();
  if (sudo == 0) {
    if (own_group) setpgid(0, 0);
    const pid_t command = fork();
    if (command == 0) {
      if (!own_group) setpgid(0, 0);  // in a group of its own, as sudo's I/O logging puts it
      dup2(stdin_fd, STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      _exit(launch());
    }
    int status = 0;
    waitpid(command, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 126);
  }
  close(out[1]);
  Launched launched;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) launched.output.append(buf, n);
  close(out[0]);
  int status = 0;
  EXPECT_EQ(waitpid(sudo, &status, 0), sudo);
  launched.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return launched;
}

// The launcher's own failures, as exit codes a test can tell apart.
int ExitCodeOf(const Result<void>& launched) {
  if (launched) return 127;  // RunLauncher returned without an error: impossible
  switch (launched.error().code()) {
    case ErrorCode::kFailedPrecondition:
      return 10;
    case ErrorCode::kNotFound:
      return 11;
    case ErrorCode::kInvalidArgument:
      return 12;
    default:
      return 13;
  }
}

struct Channel {
  int fds[2] = {-1, -1};
  Channel() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0); }
  ~Channel() {
    close(fds[0]);
    close(fds[1]);
  }
};

// What the launcher does once sudo has started it, without sudo.
TEST(LauncherTest, StartsTheTaskWithTheChannelItsEnvironmentAndNoNewPrivileges) {
  Channel channel;
  const std::string script =
      "echo \"A=$A\"; echo \"HOME=${HOME-unset}\"; pwd; "
      "readlink /proc/self/fd/0; readlink /proc/self/fd/3 | cut -d: -f1; "
      "grep NoNewPrivs /proc/self/status | tr -d '\\t'; echo \"${#B1} ${#B2} ${#B3}\"";
  // More than a socket message can hold (about 200 KiB): the request travels in a file.
  // (One string may not exceed 128 KiB at execve.)
  const std::string big(100 * 1024, 'b');
  ASSERT_TRUE(SendLaunchRequest(channel.fds[0], {.argv = {"sh", "-c", script},
                                                 .env = {"A=from the request", "PATH=/usr/bin:/bin",
                                                         "B1=" + big, "B2=" + big, "B3=" + big},
                                                 .cwd = "/tmp"}));
  auto launched = RunLikeSudo(channel.fds[1], [] { return ExitCodeOf(RunLauncher()); });
  EXPECT_EQ(launched.exit_code, 0);
  EXPECT_EQ(launched.output,
            "A=from the request\nHOME=unset\n/tmp\n/dev/null\nsocket\n"
            "NoNewPrivs:1\n102400 102400 102400\n");
}

TEST(LauncherTest, SaysWhatIsWrongWhenStdinIsNoChannel) {
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto launched = RunLikeSudo(null_fd, [] {
    auto result = RunLauncher();
    return !result && result.error().code() == ErrorCode::kFailedPrecondition &&
                   result.error().message().find("through sudo") != std::string::npos
               ? 0
               : 1;
  });
  close(null_fd);
  EXPECT_EQ(launched.exit_code, 0);
}

// sudo's I/O logging runs the command in a session of its own, where the supervisor's
// signals would not reach it: the launcher refuses to start the task there.
TEST(LauncherTest, RefusesToStartOutsideItsParentsProcessGroup) {
  Channel channel;
  ASSERT_TRUE(SendLaunchRequest(channel.fds[0],
                                {.argv = {"sh", "-c", "echo started"}, .env = {}, .cwd = "/"}));
  auto launched = RunLikeSudo(
      channel.fds[1],
      [] {
        auto result = RunLauncher();
        return !result && result.error().message().find("log_output") != std::string::npos ? 0 : 1;
      },
      /*own_group=*/false);
  EXPECT_EQ(launched.exit_code, 0);
  EXPECT_EQ(launched.output, "");
}

TEST(LauncherTest, ACommandNotOnThePathIsAnError) {
  Channel channel;
  ASSERT_TRUE(SendLaunchRequest(
      channel.fds[0],
      {.argv = {"no-such-command-airlock"}, .env = {"PATH=/nonexistent"}, .cwd = "/"}));
  auto launched = RunLikeSudo(channel.fds[1], [] { return ExitCodeOf(RunLauncher()); });
  EXPECT_EQ(launched.exit_code, 11);  // NotFound
}

}  // namespace
}  // namespace airlock::supervisor

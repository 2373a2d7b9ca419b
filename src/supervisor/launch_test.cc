#include "supervisor/launch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
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
// a pipe. `peer_fd` (the supervisor's end of the channel) is closed there, as exec closes
// it for the real sudo. The stand-in for sudo runs `then` with the command's pid, waits
// for it and exits as sudo does: with its exit code, or 200 + the signal that killed it.
struct SudoStandIn {
  pid_t pid = -1;
  int out_fd = -1;
};
SudoStandIn StartLikeSudo(
    int stdin_fd, int peer_fd, const std::function<int()>& launch, bool own_group = true,
    const std::function<void(pid_t)>& then = [](pid_t) {}) {
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t sudo = fork();
  if (sudo == 0) {
    if (peer_fd >= 0) close(peer_fd);
    if (own_group) setpgid(0, 0);
    const pid_t command = fork();
    if (command == 0) {
      if (!own_group) setpgid(0, 0);  // in a group of its own, as sudo's I/O logging puts it
      dup2(stdin_fd, STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      close_range(3, ~0U, 0);  // as sudo does
      _exit(launch());
    }
    close(out[1]);
    then(command);
    int status = 0;
    waitpid(command, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status));
  }
  close(out[1]);
  return {sudo, out[0]};
}

struct Launched {
  int exit_code = -1;
  std::string output;
};
Launched WaitForSudo(SudoStandIn sudo) {
  Launched launched;
  char buf[512];
  for (ssize_t n; (n = read(sudo.out_fd, buf, sizeof buf)) > 0;) launched.output.append(buf, n);
  close(sudo.out_fd);
  int status = 0;
  EXPECT_EQ(waitpid(sudo.pid, &status, 0), sudo.pid);
  launched.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return launched;
}

Launched RunLikeSudo(int stdin_fd, const std::function<int()>& launch, bool own_group = true) {
  return WaitForSudo(StartLikeSudo(stdin_fd, -1, launch, own_group));
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
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
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

// sudo reports how its command ended, and its command is the launcher: it ends as the
// task did.
TEST(LauncherTest, EndsAsTheTaskDid) {
  for (const auto& [script, expected] :
       {std::pair<std::string, int>{"exit 7", 7}, {"kill -USR1 $$", 200 + SIGUSR1}}) {
    Channel channel;
    ASSERT_TRUE(SendLaunchRequest(
        channel.fds[0], {.argv = {"sh", "-c", script}, .env = {"PATH=/usr/bin:/bin"}, .cwd = "/"}));
    auto launched = RunLikeSudo(channel.fds[1], [] { return ExitCodeOf(RunLauncher()); });
    EXPECT_EQ(launched.exit_code, expected) << script;
  }
}

// A signal sudo relays to its command (the launcher) goes on to the task.
TEST(LauncherTest, PassesOnWhatSudoRelays) {
  Channel channel;
  ASSERT_TRUE(SendLaunchRequest(
      channel.fds[0],
      {.argv = {"sh", "-c",
                "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done"},
       .env = {"PATH=/usr/bin:/bin"},
       .cwd = "/"}));
  auto launched = WaitForSudo(StartLikeSudo(
      channel.fds[1], channel.fds[0], [] { return ExitCodeOf(RunLauncher()); },
      /*own_group=*/true,
      [](pid_t command) {
        usleep(300 * 1000);
        kill(command, SIGTERM);
      }));
  EXPECT_EQ(launched.exit_code, 3);
  EXPECT_EQ(launched.output, "ready\ngot TERM\n");
}

// Whether `pid` has ended (gone, or a zombie nobody has reaped yet).
bool Ended(pid_t pid) {
  std::string stat;
  const int fd = open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  char buf[512];
  const ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) return true;
  stat.assign(buf, n);
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// What a root supervisor gets from the parent-death signal: when the supervisor dies (its
// end of the channel closes), the task and its group go too. (Here the stand-in for sudo
// goes with them: everything runs as one user. The real sudo is not the task user's to
// signal.)
TEST(LauncherTest, TheTaskDiesWithItsSupervisor) {
  char pid_file[] = "/tmp/airlock-launch-test-XXXXXX";
  const int pid_fd = mkstemp(pid_file);
  ASSERT_GE(pid_fd, 0);
  close(pid_fd);
  Channel channel;
  ASSERT_TRUE(SendLaunchRequest(
      channel.fds[0],
      {.argv = {"sh", "-c", "echo $$ > " + std::string(pid_file) + "; exec sleep 60"},
       .env = {"PATH=/usr/bin:/bin"},
       .cwd = "/"}));
  auto sudo =
      StartLikeSudo(channel.fds[1], channel.fds[0], [] { return ExitCodeOf(RunLauncher()); });
  pid_t task = 0;
  for (int i = 0; i < 200 && task <= 0; ++i) {
    usleep(20 * 1000);
    std::ifstream in(pid_file);
    in >> task;
  }
  unlink(pid_file);
  ASSERT_GT(task, 0);
  EXPECT_FALSE(Ended(task));
  const auto closed = std::chrono::steady_clock::now();
  close(channel.fds[0]);
  channel.fds[0] = -1;
  WaitForSudo(sudo);
  for (int i = 0; i < 500 && !Ended(task); ++i) usleep(10 * 1000);
  EXPECT_TRUE(Ended(task));
  // Killed, not ended on its own (the sleep would take 60 s).
  EXPECT_LT(std::chrono::steady_clock::now() - closed, std::chrono::seconds(20));
}

}  // namespace
}  // namespace airlock::supervisor

#include "supervisor/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace airlock::supervisor {
namespace {

struct Ran {
  int status = -1;
  std::string out;
};

// Spawns `options` with stdout on a pipe and waits for it.
Ran RunCapturing(SpawnOptions options) {
  int out[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  options.stdout_fd = out[1];
  auto pid = Spawn(options);
  close(out[1]);
  EXPECT_TRUE(pid) << pid.error().message();
  Ran ran;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) ran.out.append(buf, n);
  close(out[0]);
  if (pid) waitpid(*pid, &ran.status, 0);
  return ran;
}

TEST(SpawnTest, GivesExactlyTheEnvironmentAndFds) {
  // An fd this process leaks without O_CLOEXEC must not reach the child.
  int leaked = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 0);
  int channel[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
  Ran ran =
      RunCapturing({.argv = {"sh", "-c", "env | sort; ls /proc/self/fd | sort -n | tr '\\n' ' '"},
                    .env = {"PATH=/usr/bin:/bin", "FOO=bar"},
                    .extra_fds = {{channel[1], 3}}});
  EXPECT_EQ(ran.status, 0);
  // ls's own directory fd is the fourth entry; 0-3 are what was passed.
  EXPECT_EQ(ran.out, "FOO=bar\nPATH=/usr/bin:/bin\nPWD=" +
                         std::filesystem::current_path().string() + "\n0 1 2 3 4 ");
  close(leaked);
  close(channel[0]);
  close(channel[1]);
}

TEST(SpawnTest, ChildHasItsOwnSessionAndNoNewPrivs) {
  Ran ran = RunCapturing(
      {.argv = {"sh", "-c", "cut -d' ' -f6 /proc/self/stat; grep NoNewPrivs /proc/self/status"},
       .env = {"PATH=/usr/bin:/bin"},
       .no_new_privs = true});
  ASSERT_EQ(ran.status, 0);
  EXPECT_NE(ran.out.find("NoNewPrivs:\t1"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.substr(0, ran.out.find('\n')), std::to_string(getsid(0)));
}

TEST(SpawnTest, SetsResourceLimitsSoftAndHard) {
  Ran ran = RunCapturing({.argv = {"cat", "/proc/self/limits"},
                          .env = {"PATH=/usr/bin:/bin"},
                          .rlimits = {{RLIMIT_AS, rlim_t{512} << 20}, {RLIMIT_CPU, 7}}});
  ASSERT_EQ(ran.status, 0);
  EXPECT_NE(ran.out.find("Max address space         536870912            536870912"),
            std::string::npos)
      << ran.out;
  EXPECT_NE(ran.out.find("Max cpu time              7                    7"), std::string::npos)
      << ran.out;
  auto pid = Spawn({.argv = {"/bin/true"}, .env = {}, .rlimits = {{999, 1}}});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().message(), "setrlimit(999, 1): Invalid argument");
}

TEST(SpawnTest, ReportsTheFailingStepWithErrno) {
  auto pid = Spawn({.argv = {"/bin/true"}, .env = {}, .cwd = "/nonexistent-airlock-dir"});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().message(), "chdir(/nonexistent-airlock-dir): No such file or directory");
  pid = Spawn({.argv = {"/nonexistent-airlock-binary"}, .env = {}});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().message(),
            "execve(/nonexistent-airlock-binary): No such file or directory");
  pid = Spawn({.argv = {"no-such-command-airlock"}, .env = {"PATH=/usr/bin"}});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().code(), ErrorCode::kNotFound);
}

TEST(SpawnTest, SwitchesUserWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  auto nobody = LookUpUser("nobody");
  ASSERT_TRUE(nobody);
  Ran ran = RunCapturing(
      {.argv = {"sh", "-c", "id -u; id -G"}, .env = {"PATH=/usr/bin:/bin"}, .user = *nobody});
  ASSERT_EQ(ran.status, 0);
  EXPECT_EQ(ran.out.substr(0, ran.out.find('\n')), std::to_string(nobody->uid));
  EXPECT_EQ(ran.out.find(" 0\n"), std::string::npos) << "root's groups were kept: " << ran.out;
}

TEST(SpawnTest, RefusesAUserSwitchWithoutPrivilege) {
  if (geteuid() == 0) GTEST_SKIP() << "root may switch users";
  auto root = LookUpUser("root");
  ASSERT_TRUE(root);
  auto pid = Spawn({.argv = {"/bin/true"}, .env = {}, .user = *root});
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().message(),
            "setgroups(" + std::to_string(root->groups.size()) + "): Operation not permitted");
}

TEST(LookUpUserTest, UnknownUserIsNotFound) {
  auto user = LookUpUser("no-such-user-airlock");
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code(), ErrorCode::kNotFound);
}

// A named user comes with its supplementary groups (needed to switch to it); the current
// user does not (never switched to), which spares a getgrouplist over every NSS source.
TEST(LookUpUserTest, GroupsAreLookedUpForANamedUserOnly) {
  auto current = CurrentUser();
  ASSERT_TRUE(current) << current.error().message();
  EXPECT_EQ(current->uid, geteuid());
  EXPECT_FALSE(current->name.empty());
  EXPECT_TRUE(current->groups.empty());
  auto named = LookUpUser(current->name);
  ASSERT_TRUE(named) << named.error().message();
  EXPECT_EQ(named->uid, current->uid);
  // getgrouplist always includes the primary group.
  ASSERT_FALSE(named->groups.empty());
  EXPECT_NE(std::find(named->groups.begin(), named->groups.end(), named->gid), named->groups.end());
}

}  // namespace
}  // namespace airlock::supervisor

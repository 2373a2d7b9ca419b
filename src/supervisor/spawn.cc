#include "supervisor/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "supervisor/environment.h"

namespace airlock::supervisor {

namespace {

Result<UnixUser> FromPasswd(const passwd& pw, bool with_groups) {
  UnixUser user{.name = pw.pw_name, .uid = pw.pw_uid, .gid = pw.pw_gid, .home = pw.pw_dir};
  if (!with_groups) return user;
  int count = 32;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    if (count > 65536) return Internal("getgrouplist(" + user.name + "): too many groups");
    groups.resize(static_cast<size_t>(count) * 2);
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(count));
  user.groups = std::move(groups);
  return user;
}

template <typename Lookup>
Result<UnixUser> LookUp(const std::string& what, bool with_groups, Lookup lookup) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = lookup(&pw, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1 << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return Internal("getpwnam_r(" + what + "): " + std::strerror(rc));
  if (found == nullptr) return NotFound("no such Unix user: " + what);
  return FromPasswd(pw, with_groups);
}

// What a failing child step sends to its parent.
struct StepFailure {
  int step;
  int err;
};

// Writes the failure and ends the child; async-signal-safe.
[[noreturn]] void FailStep(int report_fd, int step) {
  StepFailure failure{.step = step, .err = errno};
  ssize_t ignored = write(report_fd, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

}  // namespace

Result<UnixUser> LookUpUser(const std::string& name, bool with_groups) {
  return LookUp(name, with_groups, [&](passwd* pw, char* buf, size_t n, passwd** found) {
    return getpwnam_r(name.c_str(), pw, buf, n, found);
  });
}

Result<UnixUser> CurrentUser() {
  const uid_t uid = geteuid();
  // No groups: a process never switches to its own user, so they would go unused, and
  // getgrouplist asks every NSS source (on Debian it loads libnss_systemd, 0.5 MB mapped
  // into every supervisor, and takes milliseconds).
  return LookUp("uid " + std::to_string(uid), /*with_groups=*/false,
                [&](passwd* pw, char* buf, size_t n, passwd** found) {
                  return getpwuid_r(uid, pw, buf, n, found);
                });
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

Result<std::string> ResolveProgram(const std::string& name, std::string_view path) {
  if (name.empty()) return InvalidArgument("empty program name");
  if (name.find('/') != std::string::npos) return name;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
      return candidate;
    }
    start = end + 1;
  }
  return NotFound("command not found on PATH: " + name);
}

Result<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return InvalidArgument("spawn: empty argv");
  std::string path_value(kDefaultPath);
  for (const auto& entry : options.env) {
    if (entry.starts_with("PATH=")) path_value = entry.substr(5);
  }
  auto program = ResolveProgram(options.argv[0], path_value);
  if (!program) return std::unexpected(program.error());

  // Everything the child needs, built before fork.
  std::vector<char*> argv;
  for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : options.env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  std::vector<std::pair<int, int>> fds = {
      {options.stdin_fd, 0}, {options.stdout_fd, 1}, {options.stderr_fd, 2}};
  if (options.extra_fds.size() > 1024) return InvalidArgument("spawn: too many fds");
  for (const auto& extra : options.extra_fds) {
    if (extra.first < 0 || extra.second < 3 || extra.second > 1023) {
      return InvalidArgument("spawn: extra fds must map to numbers 3..1023");
    }
    fds.push_back(extra);
  }
  int highest_target = 2;
  for (const auto& [from, to] : fds) highest_target = std::max(highest_target, to);
  const int scratch_base = highest_target + 1;

  const bool switch_user = options.user && (geteuid() == 0 || options.user->uid != geteuid() ||
                                            options.user->gid != getegid());
  const std::vector<gid_t> groups = options.user ? options.user->groups : std::vector<gid_t>();

  // Step names, indexed by the number the child reports.
  enum Step {
    kSigmask,
    kSetsid,
    kOpenDevNull,
    kDupScratch,
    kDup2,
    kCloseRange,
    kSetgroups,
    kSetgid,
    kSetuid,
    kRegainRoot,
    kPdeathsig,
    kNoNewPrivs,
    kChdir,
    kExecve,
  };
  const uid_t uid = options.user ? options.user->uid : 0;
  const gid_t gid = options.user ? options.user->gid : 0;
  const std::vector<std::string> step_names = {
      "sigprocmask(SIG_SETMASK, {})",
      "setsid()",
      "open(/dev/null, O_RDWR)",
      "fcntl(F_DUPFD_CLOEXEC, " + std::to_string(scratch_base) + ")",
      "dup2(fd, 0.." + std::to_string(highest_target) + ")",
      "close_range(" + std::to_string(scratch_base) + ", ~0U, CLOSE_RANGE_CLOEXEC)",
      "setgroups(" + std::to_string(groups.size()) + ")",
      "setgid(" + std::to_string(gid) + ")",
      "setuid(" + std::to_string(uid) + ")",
      "setuid(0) after dropping root succeeded",
      "prctl(PR_SET_PDEATHSIG, SIGKILL)",
      "prctl(PR_SET_NO_NEW_PRIVS, 1)",
      "chdir(" + options.cwd + ")",
      "execve(" + *program + ")",
  };
  // One step per resource limit, numbered after kExecve.
  std::vector<std::string> limit_names = step_names;
  for (const auto& [resource, limit] : options.rlimits) {
    limit_names.push_back("setrlimit(" + std::to_string(resource) + ", " + std::to_string(limit) +
                          ")");
  }
  std::vector<rlimit> limits;
  for (const auto& [resource, limit] : options.rlimits) limits.push_back({limit, limit});

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return Internal(std::string("pipe2(O_CLOEXEC): ") + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(report[0]);
    close(report[1]);
    return Internal(std::string("fork(): ") + std::strerror(err));
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only from here to execve.
    int report_fd = report[1];
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) FailStep(report_fd, kSigmask);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // KILL/STOP: EINVAL
    if (setsid() < 0) FailStep(report_fd, kSetsid);

    // Move the report pipe and every source fd above the targets, then put them in place.
    int moved = fcntl(report_fd, F_DUPFD_CLOEXEC, scratch_base);
    if (moved < 0) FailStep(report_fd, kDupScratch);
    report_fd = moved;
    int sources[1024 + 3];
    for (size_t i = 0; i < fds.size(); ++i) {
      int from = fds[i].first;
      if (from < 0) {
        from = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (from < 0) FailStep(report_fd, kOpenDevNull);
      }
      sources[i] = fcntl(from, F_DUPFD_CLOEXEC, scratch_base);
      if (sources[i] < 0) FailStep(report_fd, kDupScratch);
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (dup2(sources[i], fds[i].second) < 0) FailStep(report_fd, kDup2);
    }
    // Every fd above the targets (the scratch copies, the report pipe, whatever the parent
    // had open without O_CLOEXEC) is closed by execve.
    if (close_range(static_cast<unsigned>(scratch_base), ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      FailStep(report_fd, kCloseRange);
    }

    if (switch_user) {
      if (setgroups(groups.size(), groups.data()) != 0) FailStep(report_fd, kSetgroups);
      if (setgid(gid) != 0) FailStep(report_fd, kSetgid);
      if (setuid(uid) != 0) FailStep(report_fd, kSetuid);
      if (uid != 0 && setuid(0) == 0) {
        errno = EPERM;
        FailStep(report_fd, kRegainRoot);
      }
    }
    for (size_t i = 0; i < limits.size(); ++i) {
      if (setrlimit(static_cast<__rlimit_resource>(options.rlimits[i].first), &limits[i]) != 0) {
        FailStep(report_fd, kExecve + 1 + static_cast<int>(i));
      }
    }
    // After the user switch: a credential change clears the parent-death signal.
    if (options.die_with_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) FailStep(report_fd, kPdeathsig);
      if (getppid() != parent) _exit(127);  // the parent is already gone
    }
    if (options.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      FailStep(report_fd, kNoNewPrivs);
    }
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) FailStep(report_fd, kChdir);
    execve(program->c_str(), argv.data(), envp.data());
    FailStep(report_fd, kExecve);
  }

  close(report[1]);
  StepFailure failure{};
  ssize_t n;
  do {
    n = read(report[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == 0) return pid;  // execve closed the pipe: the program is running
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof failure) || failure.step < 0 ||
      failure.step >= static_cast<int>(limit_names.size())) {
    return Internal("spawn: the child failed before execve without saying why");
  }
  return Internal(limit_names[static_cast<size_t>(failure.step)] + ": " +
                  std::strerror(failure.err));
}

std::string DescribeChildExit(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const char* abbrev = sigabbrev_np(sig);
    std::string text =
        "was killed by " + (abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig));
    if (sig == SIGXCPU) text += " (CPU time limit)";
    if (sig == SIGXFSZ) text += " (file size limit)";
    return text;
  }
  return "ended with wait status " + std::to_string(wait_status);
}

}  // namespace airlock::supervisor

#include "supervisor/launch.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>

#include "supervisor/environment.h"
#include "supervisor/protocol.h"
#include "supervisor/spawn.h"

namespace airlock::supervisor {

namespace json = boost::json;

namespace {

// A command and environment are a few KiB; execve refuses more than a few MiB anyway.
constexpr size_t kMaxLaunchRequestBytes = 4 << 20;

// The launcher's life after it started the task: passes on what sudo relays, ends the
// task's group if the supervisor goes, and exits as the task did.
[[noreturn]] void WatchTask(pid_t task, pid_t sudo, int signal_fd) {
  while (true) {
    // The supervisor's end of the channel closes when it dies: POLLHUP here.
    pollfd fds[2] = {{.fd = signal_fd, .events = POLLIN, .revents = 0},
                     {.fd = STDIN_FILENO, .events = POLLRDHUP, .revents = 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) _exit(127);
    if ((fds[1].revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0) {
      // The task's whole group, this launcher with it (sudo is not ours to signal).
      kill(-getpgrp(), SIGKILL);
      _exit(127);
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    signalfd_siginfo info{};
    if (read(signal_fd, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig != SIGCHLD) {
      // What sudo relays goes on to the task; a signal sent to the whole group (the
      // supervisor's `sudo kill`) reached the task already.
      if (static_cast<pid_t>(info.ssi_pid) == sudo) kill(task, sig);
      continue;
    }
    int status = 0;
    if (waitpid(task, &status, WNOHANG) != task) continue;
    // sudo reports how its command ended: the task's own ending, passed on.
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    const int death = WTERMSIG(status);
    signal(death, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, death);
    sigprocmask(SIG_UNBLOCK, &only, nullptr);
    raise(death);
    _exit(128 + death);
  }
}

Result<std::vector<std::string>> StringArray(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || !value->is_array()) {
    return InvalidArgument("launch request: '" + std::string(name) + "' must be an array");
  }
  std::vector<std::string> out;
  for (const json::value& element : value->get_array()) {
    if (!element.is_string()) {
      return InvalidArgument("launch request: '" + std::string(name) + "' must hold strings");
    }
    out.emplace_back(element.get_string());
  }
  return out;
}

}  // namespace

std::string EncodeLaunchRequest(const LaunchRequest& request) {
  json::array argv(request.argv.begin(), request.argv.end());
  json::array env(request.env.begin(), request.env.end());
  return json::serialize(
      json::object{{"argv", std::move(argv)}, {"env", std::move(env)}, {"cwd", request.cwd}});
}

Result<LaunchRequest> ParseLaunchRequest(std::string_view json_text) {
  json::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec || !doc.is_object()) return InvalidArgument("launch request: not a JSON object");
  const json::object& object = doc.get_object();
  LaunchRequest request;
  auto argv = StringArray(object, "argv");
  if (!argv) return std::unexpected(argv.error());
  if (argv->empty() || (*argv)[0].empty()) return InvalidArgument("launch request: empty argv");
  auto env = StringArray(object, "env");
  if (!env) return std::unexpected(env.error());
  for (const std::string& entry : *env) {
    if (entry.find('=') == std::string::npos || entry.front() == '=') {
      return InvalidArgument("launch request: an env entry is not NAME=value");
    }
  }
  const json::value* cwd = object.if_contains("cwd");
  if (cwd == nullptr || !cwd->is_string() || !cwd->get_string().starts_with("/")) {
    return InvalidArgument("launch request: 'cwd' must be an absolute path");
  }
  request.argv = std::move(*argv);
  request.env = std::move(*env);
  request.cwd = std::string(cwd->get_string());
  return request;
}

Result<void> SendLaunchRequest(int channel_fd, const LaunchRequest& request) {
  const std::string message = EncodeLaunchRequest(request);
  if (message.size() > kMaxLaunchRequestBytes) {
    return InvalidArgument("the task's command and environment are over 4 MiB");
  }
  // In a sealed memory file passed on the channel: a socket message could hold only what
  // the socket's buffer does (about 200 KiB), and nothing reads it until sudo has started.
  const int fd = memfd_create("airlock-launch-request", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Internal(ErrnoMessage("memfd_create"));
  Result<void> sent = {};
  for (size_t done = 0; done < message.size() && sent;) {
    const ssize_t n = write(fd, message.data() + done, message.size() - done);
    if (n < 0 && errno != EINTR) sent = Internal(ErrnoMessage("write(launch request)"));
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (sent &&
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    sent = Internal(ErrnoMessage("fcntl(F_ADD_SEALS)"));
  }
  if (sent) sent = SendFd(channel_fd, fd);
  close(fd);
  return sent;
}

std::vector<std::string> SudoLaunchCommand(const std::string& sudo, const std::string& user,
                                           const std::string& launcher) {
  // -n: never ask for a password (fail instead); no -E/-H: the launcher sets the task's
  // environment itself.
  return {sudo, "-n", "-u", user, "--", launcher, "--launch"};
}

std::vector<std::string> SudoKillCommand(const std::string& sudo, const std::string& user,
                                         const std::string& kill, std::string_view signal_name,
                                         int group) {
  return {sudo, "-n",
          "-u", user,
          "--", kill,
          "-s", std::string(signal_name),
          "--", "-" + std::to_string(group)};
}

Result<void> RunLauncher() {
  const pid_t parent = getppid();
  // sudo must have run this program in its own process group (the session Spawn made for
  // it), where the supervisor signals the task. sudo's I/O logging (log_input, log_output)
  // runs it in a new session instead, and would also log the task's output unmasked.
  if (getpgrp() != parent) {
    return FailedPrecondition(
        "sudo did not start the launcher in its own process group: sudo's I/O logging "
        "(log_input, log_output) must be off for it (docs/security/deployment-hardening.md)");
  }
  // The request was sent on the channel (stdin) before sudo started, so it is waiting.
  auto request_fd = ReceiveFd(STDIN_FILENO, /*wait=*/true);
  if (!request_fd) {
    return FailedPrecondition(request_fd.error().message() +
                              " (airlock-supervisor --launch is started by a supervisor "
                              "through sudo, with the task's channel on stdin, not by hand)");
  }
  std::string buffer;
  struct stat st;
  if (fstat(*request_fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<size_t>(st.st_size) > kMaxLaunchRequestBytes) {
    close(*request_fd);
    return InvalidArgument("launch request: not a request file of at most 4 MiB");
  }
  buffer.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n =
        pread(*request_fd, buffer.data() + done, buffer.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(*request_fd);
  if (done != buffer.size()) return Internal(ErrnoMessage("read(launch request)"));
  auto request = ParseLaunchRequest(buffer);
  if (!request) return std::unexpected(request.error());

  // No privilege from execve for the task, as Spawn gives a task it starts itself; and
  // gone with sudo, which stays until the task ends.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Internal(ErrnoMessage("prctl(PR_SET_NO_NEW_PRIVS)"));
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
    return Internal(ErrnoMessage("prctl(PR_SET_PDEATHSIG)"));
  }
  // sudo may have ended before the signal was armed; then there is no one to wait for us.
  if (getppid() != parent) return Unavailable("sudo ended before the task started");

  std::string path(kDefaultPath);
  for (const std::string& entry : request->env) {
    if (entry.starts_with("PATH=")) path = entry.substr(5);
  }
  auto program = ResolveProgram(request->argv[0], path);
  if (!program) return std::unexpected(program.error());
  std::vector<char*> argv, envp;
  for (std::string& arg : request->argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  for (std::string& entry : request->env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  // Above the channel's number: sudo closed every fd above 2, so the first free one is
  // kTaskChannelFd itself, which the task's dup2 of the channel would overwrite.
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return Internal(ErrnoMessage("open(/dev/null)"));
  const int high_null_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, kTaskChannelFd + 1);
  close(null_fd);
  if (high_null_fd < 0) return Internal(ErrnoMessage("fcntl(F_DUPFD_CLOEXEC)"));

  // The launcher stays, as the task's parent, for what a root supervisor gets from the
  // kernel: the task dies with its supervisor. sudo is a setuid program, for which the
  // kernel clears the parent-death signal, so the launcher watches the channel instead.
  sigset_t watched, previous;
  sigemptyset(&watched);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&watched, sig);
  if (sigprocmask(SIG_BLOCK, &watched, &previous) != 0)
    return Internal(ErrnoMessage("sigprocmask"));
  const int signal_fd = signalfd(-1, &watched, SFD_CLOEXEC);
  if (signal_fd < 0) return Internal(ErrnoMessage("signalfd"));
  const pid_t launcher = getpid();
  const pid_t task = fork();
  if (task < 0) return Internal(ErrnoMessage("fork"));
  if (task == 0) {
    // The channel moves to where AIRLOCK_SUPERVISOR_FD says; stdin becomes /dev/null.
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (dup2(STDIN_FILENO, kTaskChannelFd) < 0 || dup2(high_null_fd, STDIN_FILENO) < 0 ||
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != launcher) {
      _exit(127);
    }
    if (chdir(request->cwd.c_str()) != 0 && chdir("/") != 0) _exit(127);
    execve(program->c_str(), argv.data(), envp.data());
    const std::string message =
        "airlock-supervisor --launch: " + ErrnoMessage("execve(" + *program + ")") + "\n";
    (void)!write(STDERR_FILENO, message.data(), message.size());
    _exit(127);
  }
  close(high_null_fd);
  WatchTask(task, parent, signal_fd);  // does not return
}

}  // namespace airlock::supervisor

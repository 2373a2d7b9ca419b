#include "supervisor/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>

#include "supervisor/environment.h"
#include "supervisor/protocol.h"
#include "supervisor/spawn.h"

namespace airlock::supervisor {

namespace json = boost::json;

namespace {

// A command and environment are a few KiB; execve refuses more than a few MiB anyway.
constexpr size_t kMaxLaunchRequestBytes = 4 << 20;

std::string SystemError(std::string_view call) {
  return std::string(call) + ": " + std::strerror(errno);
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
  if (fd < 0) return Internal(SystemError("memfd_create"));
  Result<void> sent = {};
  for (size_t done = 0; done < message.size() && sent;) {
    const ssize_t n = write(fd, message.data() + done, message.size() - done);
    if (n < 0 && errno != EINTR) sent = Internal(SystemError("write(launch request)"));
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (sent &&
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    sent = Internal(SystemError("fcntl(F_ADD_SEALS)"));
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
  if (done != buffer.size()) return Internal(SystemError("read(launch request)"));
  auto request = ParseLaunchRequest(buffer);
  if (!request) return std::unexpected(request.error());

  // The channel moves to where AIRLOCK_SUPERVISOR_FD says; stdin becomes /dev/null.
  if (dup2(STDIN_FILENO, kTaskChannelFd) < 0) return Internal(SystemError("dup2(channel)"));
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return Internal(SystemError("open(/dev/null)"));
  if (dup2(null_fd, STDIN_FILENO) < 0) return Internal(SystemError("dup2(/dev/null, 0)"));
  close(null_fd);
  // What Spawn does for a task it starts itself: no privilege from execve, and gone with
  // its parent (sudo, which stays until the task ends).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Internal(SystemError("prctl(PR_SET_NO_NEW_PRIVS)"));
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
    return Internal(SystemError("prctl(PR_SET_PDEATHSIG)"));
  }
  // sudo may have ended before the signal was armed; then there is no one to wait for us.
  if (getppid() != parent) return Unavailable("sudo ended before the task started");
  if (chdir(request->cwd.c_str()) != 0 && chdir("/") != 0) return Internal(SystemError("chdir"));

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
  execve(program->c_str(), argv.data(), envp.data());
  return Internal(SystemError("execve(" + *program + ")"));
}

}  // namespace airlock::supervisor

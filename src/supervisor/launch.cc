#include "supervisor/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

// A command and environment are a few KiB; the socket's buffer bounds the message anyway.
constexpr size_t kMaxLaunchRequestBytes = 1 << 20;

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
    return InvalidArgument("the task's command and environment are over 1 MiB");
  }
  ssize_t sent;
  do {
    sent = send(channel_fd, message.data(), message.size(), MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Internal(SystemError("send(launch request)"));
  return {};
}

std::vector<std::string> SudoLaunchCommand(const std::string& sudo, const std::string& user,
                                           const std::string& launcher) {
  // -n: never ask for a password (fail instead); no -E/-H: the launcher sets the task's
  // environment itself.
  return {sudo, "-n", "-u", user, "--", launcher, "--launch"};
}

std::vector<std::string> SudoKillCommand(const std::string& sudo, const std::string& user,
                                         std::string_view signal_name, int group) {
  return {sudo, "-n",
          "-u", user,
          "--", "kill",
          "-s", std::string(signal_name),
          "--", "-" + std::to_string(group)};
}

Result<void> RunLauncher() {
  // The request is the first message on the channel (stdin); it was sent before sudo
  // started, so it is already waiting.
  std::string buffer(kMaxLaunchRequestBytes, '\0');
  ssize_t n;
  do {
    n = recv(STDIN_FILENO, buffer.data(), buffer.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return FailedPrecondition(SystemError("recv(stdin)") +
                              " (airlock-supervisor --launch is started by a supervisor "
                              "through sudo, not by hand)");
  }
  buffer.resize(static_cast<size_t>(n));
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

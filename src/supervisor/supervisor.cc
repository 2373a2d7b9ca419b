#include "supervisor/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>

#include "common/log.h"
#include "json/strict_json.h"
#include "supervisor/execution_client.h"
#include "supervisor/launch.h"
#include "supervisor/local_executor.h"
#include "supervisor/protocol.h"

namespace airlock::supervisor {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// How long `sudo kill` may take (it asks for no password: -n).
constexpr std::chrono::milliseconds kSudoKillTimeout{5000};
// A task opens one connection per `airlock task` call; more at once than this is a
// runaway loop, not a task that needs them.
constexpr size_t kMaxConnections = 16;
// A line longer than this is written in pieces (a task that prints a megabyte without a
// newline must not make the supervisor hold it all).
constexpr size_t kMaxLineBytes = 64 * 1024;
// How long a reply may wait for a task that does not read it.
constexpr int kReplyTimeoutMs = 5000;
// After the task's main process exits, how long to keep reading what its leftover
// children still print before closing the pipes.
constexpr milliseconds kDrainTime{2000};
// Attempts at reporting the final state (the server may be restarting).
constexpr int kReportAttempts = 3;

std::string NowText() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03ldZ", buf, ts.tv_nsec / 1000000);
  return out;
}

Result<std::string> StringMember(const json::object& object, std::string_view name,
                                 std::string_view where) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || !value->is_string() || value->as_string().empty()) {
    return InvalidArgument(std::string(where) + ": field '" + std::string(name) +
                           "' must be a non-empty string");
  }
  return std::string(value->as_string());
}

std::string OptionalStringMember(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

// The "detail" of an error reply, when it is a plain string.
std::string Detail(std::string_view body) {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return "";
  const json::value* detail = parsed.as_object().if_contains("detail");
  if (detail == nullptr) return "";
  if (detail->is_string()) return std::string(detail->as_string());
  if (detail->is_object()) {
    if (const json::value* reason = detail->as_object().if_contains("reason");
        reason != nullptr && reason->is_string()) {
      return std::string(reason->as_string());
    }
  }
  return "";
}

// An Execution API reply that is not a success, as an Error.
Error ReplyError(const ExecutionReply& reply, std::string_view what) {
  ErrorCode code = ErrorCode::kUnavailable;
  switch (reply.status) {
    case 400:
    case 422:
      code = ErrorCode::kInvalidArgument;
      break;
    case 401:
      code = ErrorCode::kUnauthenticated;
      break;
    case 403:
      code = ErrorCode::kPermissionDenied;
      break;
    case 404:
      code = ErrorCode::kNotFound;
      break;
    case 409:
      code = ErrorCode::kFailedPrecondition;
      break;
  }
  std::string message = std::string(what) + ": HTTP " + std::to_string(reply.status);
  if (std::string detail = Detail(reply.body); !detail.empty()) message += " (" + detail + ")";
  return Error(code, message);
}

bool ValidEnvironmentName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

Result<void> MakeDirectories(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return Unavailable(ErrnoMessage("mkdir(" + prefix + ", 0750)"));
    }
  }
  return {};
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") +
           (name != nullptr ? name : std::to_string(WTERMSIG(status)));
  }
  return "ended with wait status " + std::to_string(status);
}

// Writes all of `data` to a non-blocking socket, waiting at most kReplyTimeoutMs.
bool WriteAllWithTimeout(int fd, std::string_view data) {
  const auto deadline = Clock::now() + milliseconds(kReplyTimeoutMs);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
      poll(&p, 1, static_cast<int>(left));
      continue;
    }
    return false;
  }
  return true;
}

// The task log: every line passes through the masker.
class TaskLog {
 public:
  TaskLog(int fd, std::shared_ptr<SecretsMasker> masker) : fd_(fd), masker_(std::move(masker)) {}
  ~TaskLog() {
    if (fd_ >= 0) close(fd_);
  }
  TaskLog(const TaskLog&) = delete;
  TaskLog& operator=(const TaskLog&) = delete;

  void WriteLine(std::string_view line) {
    std::string masked = masker_->Mask(line);
    masked.push_back('\n');
    size_t done = 0;
    while (done < masked.size()) {
      ssize_t n = write(fd_, masked.data() + done, masked.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk loses log lines, not the task
      done += static_cast<size_t>(n);
    }
  }
  // A line from the supervisor itself.
  void Note(std::string_view message) {
    WriteLine("[" + NowText() + "] supervisor: " + std::string(message));
  }

 private:
  int fd_;
  std::shared_ptr<SecretsMasker> masker_;
};

// One of the task's output pipes, split into lines.
struct OutputStream {
  int fd = -1;
  std::string partial;

  // Reads what is there; returns false at EOF (or error).
  bool Read(TaskLog& log) {
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) {
      Flush(log);
      return false;
    }
    partial.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      log.WriteLine(std::string_view(partial).substr(start, nl - start));
    }
    partial.erase(0, start);
    while (partial.size() >= kMaxLineBytes) {
      log.WriteLine(std::string_view(partial).substr(0, kMaxLineBytes));
      partial.erase(0, kMaxLineBytes);
    }
    return true;
  }
  void Flush(TaskLog& log) {
    if (!partial.empty()) log.WriteLine(partial);
    partial.clear();
  }
};

struct Connection {
  int fd = -1;
  FrameDecoder decoder;
};

// Where the programs that a sudo path runs are looked for.
constexpr std::string_view kSystemPath = "/usr/bin:/bin";

// Whether any process other than its leader is in process group `group` (from /proc: the
// supervisor cannot signal another user's processes to find out). With /proc mounted
// hidepid, another user's processes are invisible and this says no.
bool GroupHasOthers(pid_t group) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return true;  // cannot tell: assume so
  bool found = false;
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == group) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const char* after_comm = std::strrchr(buf, ')');
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (after_comm != nullptr &&
        std::sscanf(after_comm + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == group) {
      found = true;
      break;
    }
  }
  closedir(proc);
  return found;
}

class Supervision {
 public:
  Supervision(const Workload& workload, const SupervisorOptions& options)
      : workload_(workload),
        options_(options),
        client_(options.execution_api_url, workload.token, options.http) {}

  ~Supervision() {
    for (auto& c : connections_) close(c.fd);
    for (int fd : {pidfd_, stdout_.fd, stderr_.fd, channel_fd_, signal_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  Result<SupervisionOutcome> Run();

 private:
  Result<std::string> ExchangeWorkloadToken();
  Result<std::unique_ptr<TaskLog>> OpenTaskLog();
  Result<void> BlockSignals();
  Result<void> StartTask(const TaskSpec& spec, const UnixUser& user);
  // What Spawn needs to start the task through sudo instead of `direct` (its env and cwd
  // are sent on the channel); the caller sets the fds.
  Result<SpawnOptions> SudoSpawn(const TaskSpec& spec, const UnixUser& user, SpawnOptions direct,
                                 int channel_fd);
  // `sig` to the task's process group (through sudo when the task runs under it).
  void SignalTask(int sig);
  // `sudo kill -s <signal_name>` to the task's group, as its user; what went wrong.
  Result<void> RunSudoKill(const std::string& signal_name);
  void SuperviseLoop(const TaskSpec& spec);
  std::string ReportFinalState(std::string_view state);

  void Heartbeat();
  void Terminate(std::string reason);
  Result<std::string> Defer(const TaskRequest& request);
  void AcceptConnections();
  bool ServeConnection(Connection& connection);  // false: close it
  Result<std::string> Answer(const TaskRequest& request);
  std::string TiPath(std::string_view suffix) const {
    return "/task-instances/" + EncodePathSegment(workload_.ti.id) + std::string(suffix);
  }
  std::string XComPath(std::string_view task_id, std::string_view key) const {
    return "/xcoms/" + EncodePathSegment(workload_.ti.dag_id) + "/" +
           EncodePathSegment(workload_.ti.run_id) + "/" + EncodePathSegment(task_id) + "/" +
           EncodePathSegment(key);
  }

  const Workload& workload_;
  const SupervisorOptions& options_;
  ExecutionClient client_;
  std::unique_ptr<TaskLog> log_;
  std::string hostname_;

  pid_t task_pid_ = -1;
  // Set when the task runs through sudo: its processes are then signalled through sudo too.
  struct SudoTarget {
    std::string sudo, kill;  // the programs' paths
    std::string user;
  };
  std::optional<SudoTarget> sudo_;
  int pidfd_ = -1;
  int channel_fd_ = -1;  // the supervisor's end of the channel
  int signal_fd_ = -1;
  OutputStream stdout_, stderr_;
  std::vector<Connection> connections_;

  std::optional<int> wait_status_;
  bool terminating_ = false;
  bool server_gone_ = false;
  bool deferred_ = false;           // the server holds the task deferred: report nothing
  std::string trigger_event_json_;  // what resumed this try, if a trigger did
  std::string termination_reason_;
  int failed_heartbeats_ = 0;
  Clock::time_point next_heartbeat_;
  Clock::time_point kill_deadline_;
};

// The run context (JSON text); the client now holds the execution token.
Result<std::string> Supervision::ExchangeWorkloadToken() {
  json::object body{{"hostname", hostname_}, {"pid", static_cast<int64_t>(getpid())}};
  auto reply = client_.Call("PATCH", TiPath("/run"), json::serialize(body));
  if (!reply) return std::unexpected(reply.error().WithContext("ExchangeWorkloadToken"));
  if (reply->status != 200) {
    return std::unexpected(ReplyError(*reply, "ExchangeWorkloadToken: PATCH /run"));
  }
  if (client_.token_refreshes() == 0) {
    return Internal("ExchangeWorkloadToken: the server sent no execution token");
  }
  return std::move(reply->body);
}

Result<std::unique_ptr<TaskLog>> Supervision::OpenTaskLog() {
  auto path = TaskLogPath(workload_, options_.base_log_folder);
  if (!path) return std::unexpected(path.error().WithContext("OpenTaskLog"));
  const size_t slash = path->rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto made = MakeDirectories(path->substr(0, slash)); !made) {
      return std::unexpected(made.error().WithContext("OpenTaskLog"));
    }
  }
  int fd = open(path->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) return Unavailable("OpenTaskLog: " + ErrnoMessage("open(" + *path + ", O_APPEND)"));
  return std::make_unique<TaskLog>(fd, options_.masker);
}

Result<void> Supervision::BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    return Internal(ErrnoMessage("sigprocmask(SIG_BLOCK, {TERM, INT, HUP})"));
  }
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return Internal(ErrnoMessage("signalfd({TERM, INT, HUP})"));
  signal(SIGPIPE, SIG_IGN);
  return {};
}

Result<void> Supervision::StartTask(const TaskSpec& spec, const UnixUser& user) {
  int out[2], err[2], channel[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Internal(ErrnoMessage("pipe2(stdout)"));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Internal(ErrnoMessage("pipe2(stderr)"));
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return Internal(ErrnoMessage("socketpair(AF_UNIX, SOCK_SEQPACKET)"));
  }

  EnvironmentMap set;
  for (const auto& [name, value] : spec.env) set[name] = value;
  const std::string path = set.contains("PATH") ? set["PATH"]
                           : options_.parent_environment.contains("PATH")
                               ? options_.parent_environment.at("PATH")
                               : std::string(kDefaultPath);
  set["PATH"] = PrependToPath(options_.airlock_directory, path);
  set[kSupervisorFdVariable] = std::to_string(kTaskChannelFd);

  struct stat home_stat;
  const bool home_usable = !user.home.empty() && stat(user.home.c_str(), &home_stat) == 0 &&
                           S_ISDIR(home_stat.st_mode) && home_stat.st_uid == user.uid;
  std::vector<std::string> env = ScrubbedEnvironment(options_.parent_environment, user.home, set);
  std::string cwd = home_usable ? user.home : "/";

  SpawnOptions spawn{
      .argv = spec.command,
      .env = std::move(env),
      .stdin_fd = -1,
      .stdout_fd = out[1],
      .stderr_fd = err[1],
      .extra_fds = {{channel[1], kTaskChannelFd}},
      .user = user,
      .die_with_parent = true,
      .no_new_privs = true,
      .cwd = std::move(cwd),
  };
  // Not root, and the task is someone else's: through sudo and the launcher (launch.h).
  if (geteuid() != 0 && user.uid != geteuid()) {
    auto launch = SudoSpawn(spec, user, std::move(spawn), channel[0]);
    if (!launch) {
      for (int fd : {out[0], out[1], err[0], err[1], channel[0], channel[1]}) close(fd);
      return std::unexpected(launch.error());
    }
    spawn = std::move(*launch);
    spawn.stdin_fd = channel[1];
    spawn.stdout_fd = out[1];
    spawn.stderr_fd = err[1];
  }
  auto pid = Spawn(spawn);
  for (int fd : {out[1], err[1], channel[1]}) close(fd);
  stdout_.fd = out[0];
  stderr_.fd = err[0];
  channel_fd_ = channel[0];
  if (!pid) return std::unexpected(pid.error());
  task_pid_ = *pid;
  for (int fd : {stdout_.fd, stderr_.fd, channel_fd_}) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  pidfd_ = PidfdOpen(task_pid_);
  if (pidfd_ < 0) {
    SignalTask(SIGKILL);
    return Internal(ErrnoMessage("pidfd_open(" + std::to_string(task_pid_) + ")"));
  }
  return {};
}

void Supervision::Terminate(std::string reason) {
  if (terminating_ || wait_status_) return;
  terminating_ = true;
  termination_reason_ = std::move(reason);
  log_->Note("terminating the task: " + termination_reason_);
  LogWarning("task " + workload_.ti.id + ": terminating: " + termination_reason_);
  SignalTask(SIGTERM);
  kill_deadline_ = Clock::now() + options_.kill_grace;
}

Result<SpawnOptions> Supervision::SudoSpawn(const TaskSpec& spec, const UnixUser& user,
                                            SpawnOptions direct, int channel_fd) {
  const auto path = options_.parent_environment.find("PATH");
  auto sudo = ResolveProgram("sudo", path != options_.parent_environment.end()
                                         ? std::string_view(path->second)
                                         : kDefaultPath);
  if (!sudo) {
    return FailedPrecondition("the task runs as '" + user.name +
                              "': switching users needs a root supervisor, or sudo, which is "
                              "not on the supervisor's PATH");
  }
  // The kill the sudoers rule names; looked for where Debian puts it, not on a PATH.
  auto kill_program = ResolveProgram("kill", kSystemPath);
  if (!kill_program) {
    return FailedPrecondition("the task runs as '" + user.name +
                              "' through sudo, which needs kill (Debian's procps) to signal it");
  }
  LaunchRequest request{.argv = spec.command, .env = std::move(direct.env), .cwd = direct.cwd};
  if (auto sent = SendLaunchRequest(channel_fd, request); !sent) {
    return std::unexpected(sent.error());
  }
  sudo_ = SudoTarget{.sudo = *sudo, .kill = *kill_program, .user = user.name};
  // sudo starts in a session of its own like any task; the launcher and the task stay in
  // its process group. No no_new_privs here: sudo needs its setuid bit (the launcher sets
  // the flag for the task).
  return SpawnOptions{
      .argv = SudoLaunchCommand(*sudo, user.name,
                                options_.airlock_directory + "/" + kSupervisorExecutable),
      .env = {"PATH=" + std::string(kSystemPath)},
      .die_with_parent = true,
      .cwd = "/",
  };
}

void Supervision::SignalTask(int sig) {
  if (!sudo_) {
    kill(-task_pid_, sig);
    return;
  }
  // The task's processes are its user's: signalled as that user. sudo, the group's leader,
  // runs with the supervisor's real uid and is signalled directly only to kill it: a
  // SIGTERM to it would reach the task a second time (sudo relays it to its command).
  const std::string name = sig == SIGKILL ? "KILL" : "TERM";
  auto sent = RunSudoKill(name);
  if (!sent) {
    const std::string why =
        "sending SIG" + name + " through sudo failed: " + sent.error().message();
    log_->Note(why);
    LogWarning("task " + workload_.ti.id + ": " + why);
    // What sudo still relays: the signal to its command (not to what that started).
    if (sig != SIGKILL) kill(task_pid_, sig);
  }
  if (sig == SIGKILL) kill(-task_pid_, SIGKILL);
}

Result<void> Supervision::RunSudoKill(const std::string& signal_name) {
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return Internal(ErrnoMessage("pipe2"));
  // Only a PATH: nothing of the supervisor's environment is handed to the task's user.
  auto pid =
      Spawn({.argv = SudoKillCommand(sudo_->sudo, sudo_->user, sudo_->kill, signal_name, task_pid_),
             .env = {"PATH=" + std::string(kSystemPath)},
             .stderr_fd = err[1]});
  close(err[1]);
  if (!pid) {
    close(err[0]);
    return std::unexpected(pid.error());
  }
  // stderr until sudo ends (its end of the pipe closes) or the time is up.
  std::string output;
  const auto deadline = Clock::now() + kSudoKillTimeout;
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{.fd = err[0], .events = POLLIN, .revents = 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) == 0) {
      timed_out = true;
      break;
    }
    char buf[512];
    const ssize_t n = read(err[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < 4096) output.append(buf, static_cast<size_t>(n));
  }
  close(err[0]);
  if (timed_out) kill(*pid, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return std::unexpected(Error(ErrorCode::kDeadlineExceeded, "sudo did not end within 5 s"));
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  // kill exits 1 when the group is already empty: nothing was left to signal.
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
      output.find("No such process") != std::string::npos) {
    return {};
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return FailedPrecondition(DescribeChildExit(status) + (output.empty() ? "" : ": " + output));
  }
  return {};
}

void Supervision::Heartbeat() {
  json::object body{{"hostname", hostname_}, {"pid", static_cast<int64_t>(getpid())}};
  auto reply = client_.Call("PUT", TiPath("/heartbeat"), json::serialize(body));
  if (reply && (reply->status == 204 || reply->status == 200)) {
    failed_heartbeats_ = 0;
    return;
  }
  if (reply && (reply->status == 404 || reply->status == 409)) {
    server_gone_ = true;
    Terminate("the server no longer runs this task instance (" +
              ReplyError(*reply, "heartbeat").message() + ")");
    return;
  }
  ++failed_heartbeats_;
  const std::string why =
      reply ? ReplyError(*reply, "heartbeat").message() : reply.error().message();
  log_->Note("heartbeat failed (" + std::to_string(failed_heartbeats_) + " in a row): " + why);
  LogWarning("task " + workload_.ti.id + ": heartbeat failed: " + why);
  if (failed_heartbeats_ >= options_.max_failed_heartbeats) {
    Terminate(std::to_string(failed_heartbeats_) + " heartbeats failed in a row");
  }
}

void Supervision::AcceptConnections() {
  while (true) {
    auto fd = ReceiveConnection(channel_fd_);
    if (!fd) {
      if (fd.error().code() == ErrorCode::kUnavailable) {
        // Every holder of the task's end is gone: nothing more will arrive.
        close(channel_fd_);
        channel_fd_ = -1;
      }
      return;
    }
    if (connections_.size() >= kMaxConnections) {
      close(*fd);
      continue;
    }
    fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
    connections_.push_back(Connection{.fd = *fd});
  }
}

bool Supervision::ServeConnection(Connection& connection) {
  char buf[65536];
  ssize_t n = recv(connection.fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  if (!connection.decoder.Append(std::string_view(buf, static_cast<size_t>(n)))) return false;
  while (auto payload = connection.decoder.Next()) {
    auto request = ParseTaskRequest(*payload);
    Result<std::string> result =
        request ? Answer(*request) : Result<std::string>(std::unexpected(request.error()));
    if (!WriteAllWithTimeout(connection.fd, EncodeFrame(EncodeTaskReply(result)))) return false;
  }
  return true;
}

// How deep a connection's extra may nest: as deep as the api-server takes it
// (http/json_checks.h).
constexpr int kMaxExtraDepth = 32;

// Registers what a task read that the masker must hide from now on: connection passwords
// and the values in "extra" under sensitive keys.
void RegisterConnectionSecrets(SecretsMasker& masker, const json::object& connection) {
  if (const json::value* password = connection.if_contains("password");
      password != nullptr && password->is_string()) {
    masker.AddSecret(password->as_string());
  }
  const json::value* extra = connection.if_contains("extra");
  if (extra == nullptr || !extra->is_string() || extra->as_string().empty()) return;
  // Every string held by a member whose name is sensitive, at any depth ({"auth":
  // {"token": …}}, {"api_keys": [ … ]}), as the REST API masks them; a name given twice
  // included (an extra stored before the api-server refused that): the task may read
  // either value.
  auto strings = NamedStrings(extra->as_string(), kMaxExtraDepth);
  if (!strings) {
    // Not a JSON object: it cannot be inspected, so all of it is hidden (the REST API
    // answers such an extra "***").
    masker.AddSecret(extra->as_string());
    return;
  }
  for (const NamedString& string : *strings) {
    if (std::ranges::any_of(string.names, &SecretsMasker::IsSensitiveKey)) {
      masker.AddSecret(string.value);
    }
  }
}

Result<std::string> Supervision::Answer(const TaskRequest& request) {
  const TaskInstanceRef& ti = workload_.ti;
  switch (request.op) {
    case TaskOp::kVariableGet: {
      auto reply = client_.Call("GET", "/variables/" + EncodePathSegment(request.key));
      if (!reply) return std::unexpected(reply.error());
      if (reply->status == 404) return NotFound("variable '" + request.key + "' does not exist");
      if (reply->status != 200) return std::unexpected(ReplyError(*reply, "variable get"));
      boost::system::error_code ec;
      json::value parsed = json::parse(reply->body, ec);
      const json::value* value =
          !ec && parsed.is_object() ? parsed.as_object().if_contains("value") : nullptr;
      if (value == nullptr || !value->is_string()) return Internal("variable get: bad reply");
      options_.masker->AddSecretForKey(request.key, value->as_string());
      return json::serialize(*value);
    }
    case TaskOp::kVariableSet: {
      options_.masker->AddSecretForKey(request.key, request.value);
      auto reply = client_.Call("PUT", "/variables/" + EncodePathSegment(request.key),
                                json::serialize(json::object{{"value", request.value}}));
      if (!reply) return std::unexpected(reply.error());
      if (reply->status / 100 != 2) return std::unexpected(ReplyError(*reply, "variable set"));
      return std::string("null");
    }
    case TaskOp::kConnectionGet: {
      auto reply = client_.Call("GET", "/connections/" + EncodePathSegment(request.key));
      if (!reply) return std::unexpected(reply.error());
      if (reply->status == 404) {
        return NotFound("connection '" + request.key + "' does not exist");
      }
      if (reply->status != 200) return std::unexpected(ReplyError(*reply, "connection get"));
      boost::system::error_code ec;
      json::value parsed = json::parse(reply->body, ec);
      if (ec || !parsed.is_object()) return Internal("connection get: bad reply");
      RegisterConnectionSecrets(*options_.masker, parsed.as_object());
      return reply->body;
    }
    case TaskOp::kXComPush: {
      std::string path = XComPath(ti.task_id, request.key);
      if (ti.map_index >= 0) path += "?map_index=" + std::to_string(ti.map_index);
      auto reply = client_.Call("POST", path, request.value);
      if (!reply) return std::unexpected(reply.error());
      if (reply->status / 100 != 2) return std::unexpected(ReplyError(*reply, "xcom push"));
      return std::string("null");
    }
    case TaskOp::kXComPull: {
      const std::string& task_id = request.task_id.empty() ? ti.task_id : request.task_id;
      const int map_index =
          request.map_index ? *request.map_index : (request.task_id.empty() ? ti.map_index : -1);
      std::string path = XComPath(task_id, request.key);
      if (map_index >= 0) path += "?map_index=" + std::to_string(map_index);
      auto reply = client_.Call("GET", path);
      if (!reply) return std::unexpected(reply.error());
      if (reply->status == 404) {
        return NotFound("XCom '" + request.key + "' of task '" + task_id + "' does not exist");
      }
      if (reply->status != 200) return std::unexpected(ReplyError(*reply, "xcom pull"));
      boost::system::error_code ec;
      json::value parsed = json::parse(reply->body, ec);
      const json::value* value =
          !ec && parsed.is_object() ? parsed.as_object().if_contains("value") : nullptr;
      if (value == nullptr) return Internal("xcom pull: bad reply");
      return json::serialize(*value);
    }
    case TaskOp::kDefer:
      return Defer(request);
    case TaskOp::kTriggerEventGet:
      if (trigger_event_json_.empty()) {
        return NotFound("this try of the task was not resumed by a trigger");
      }
      return trigger_event_json_;
  }
  return InvalidArgument("unknown op");
}

// `airlock task defer`: the server moves the task instance to deferred with its trigger;
// then the task has nothing left to do here, so its process group is ended (the task
// resumes in a new try of the same number when the trigger fires).
Result<std::string> Supervision::Defer(const TaskRequest& request) {
  if (deferred_ || terminating_) return FailedPrecondition("the task is already ending");
  json::object body{{"state", "deferred"}};
  boost::system::error_code ec;
  json::value args = json::parse(request.value, ec);
  if (ec) return InvalidArgument("the trigger's arguments are not JSON");
  body["trigger"] = json::object{{"kind", request.key}, {"args", std::move(args)}};
  if (request.timeout_seconds) body["trigger_timeout"] = *request.timeout_seconds;
  auto reply = client_.Call("PATCH", TiPath("/state"), json::serialize(body));
  if (!reply) return std::unexpected(reply.error());
  if (reply->status / 100 != 2) return std::unexpected(ReplyError(*reply, "defer"));
  deferred_ = true;
  log_->Note("the task deferred on a " + request.key + " trigger; ending the task process");
  LogInfo("task " + workload_.ti.id + " deferred on a " + request.key + " trigger");
  SignalTask(SIGTERM);
  terminating_ = true;
  kill_deadline_ = Clock::now() + options_.kill_grace;
  return std::string("null");
}

void Supervision::SuperviseLoop(const TaskSpec& spec) {
  const auto started = Clock::now();
  next_heartbeat_ = started + options_.heartbeat_interval;
  std::optional<Clock::time_point> timeout_at;
  if (spec.execution_timeout_seconds) {
    timeout_at = started + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(*spec.execution_timeout_seconds));
  }
  std::optional<Clock::time_point> drain_until;

  while (stdout_.fd >= 0 || stderr_.fd >= 0 || !wait_status_) {
    const auto now = Clock::now();
    // Timers first.
    if (!wait_status_) {
      if (now >= next_heartbeat_ && !deferred_) {
        Heartbeat();
        next_heartbeat_ = Clock::now() + options_.heartbeat_interval;
      }
      if (timeout_at && now >= *timeout_at && !terminating_) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", *spec.execution_timeout_seconds);
        Terminate(std::string("execution_timeout of ") + seconds + " s exceeded");
      }
      if (terminating_ && now >= kill_deadline_) {
        SignalTask(SIGKILL);
        kill_deadline_ = now + std::chrono::hours(24);
      }
    }
    if (drain_until && now >= *drain_until) break;

    Clock::time_point wake = now + std::chrono::hours(1);
    if (!wait_status_) {
      wake = std::min(wake, next_heartbeat_);
      if (timeout_at && !terminating_) wake = std::min(wake, *timeout_at);
      if (terminating_) wake = std::min(wake, kill_deadline_);
    }
    if (drain_until) wake = std::min(wake, *drain_until);
    const int timeout_ms = static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<milliseconds>(wake - Clock::now()).count() + 1));

    std::vector<pollfd> fds;
    auto watch = [&](int fd) { fds.push_back(pollfd{.fd = fd, .events = POLLIN, .revents = 0}); };
    watch(wait_status_ ? -1 : pidfd_);
    watch(stdout_.fd);
    watch(stderr_.fd);
    watch(channel_fd_);
    watch(signal_fd_);
    for (const auto& c : connections_) watch(c.fd);
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      LogError(ErrnoMessage("poll"));
      break;
    }
    auto ready = [&](size_t i) { return fds[i].fd >= 0 && (fds[i].revents != 0); };

    if (ready(4)) {
      signalfd_siginfo info{};
      while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        const char* name = sigabbrev_np(static_cast<int>(info.ssi_signo));
        Terminate(std::string("the supervisor received SIG") + (name != nullptr ? name : "?"));
      }
    }
    if (ready(0)) {
      siginfo_t exited{};
      if (waitid(P_PID, static_cast<id_t>(task_pid_), &exited, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          exited.si_pid == task_pid_) {
        // Whatever the task left running in its session goes with it, signalled while the
        // ended leader still holds its pid (and so the group's number) unreaped.
        if (!sudo_ || GroupHasOthers(task_pid_)) SignalTask(SIGKILL);
        int status = 0;
        while (waitpid(task_pid_, &status, 0) < 0 && errno == EINTR) {
        }
        wait_status_ = status;
        drain_until = Clock::now() + kDrainTime;
      }
    }
    if (ready(1) && !stdout_.Read(*log_)) {
      close(stdout_.fd);
      stdout_.fd = -1;
    }
    if (ready(2) && !stderr_.Read(*log_)) {
      close(stderr_.fd);
      stderr_.fd = -1;
    }
    if (ready(3)) AcceptConnections();
    // Connections: indices 5.. match connections_ as it was when polled.
    const size_t polled = fds.size() - 5;
    std::vector<int> closed;
    for (size_t i = 0; i < polled; ++i) {
      if (ready(5 + i) && !ServeConnection(connections_[i])) closed.push_back(connections_[i].fd);
    }
    for (int fd : closed) {
      close(fd);
      std::erase_if(connections_, [fd](const Connection& c) { return c.fd == fd; });
    }
  }
  stdout_.Flush(*log_);
  stderr_.Flush(*log_);
}

std::string Supervision::ReportFinalState(std::string_view state) {
  const std::string body = json::serialize(json::object{{"state", state}});
  for (int attempt = 1; attempt <= kReportAttempts; ++attempt) {
    auto reply = client_.Call("PATCH", TiPath("/state"), body);
    if (reply && reply->status / 100 == 2) return std::string(state);
    if (reply && (reply->status == 404 || reply->status == 409)) {
      std::string why = ReplyError(*reply, "ReportFinalState").message();
      log_->Note("the server did not take the final state: " + why);
      LogWarning("task " + workload_.ti.id + ": " + why);
      return "";
    }
    std::string why =
        reply ? ReplyError(*reply, "ReportFinalState").message() : reply.error().message();
    log_->Note("reporting the final state failed (attempt " + std::to_string(attempt) +
               "): " + why);
    LogWarning("task " + workload_.ti.id + ": " + why);
    if (attempt < kReportAttempts) sleep(1);
  }
  return "";
}

Result<SupervisionOutcome> Supervision::Run() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return Internal(ErrnoMessage("gethostname"));
  hostname_ = host;
  if (auto blocked = BlockSignals(); !blocked) return std::unexpected(blocked.error());

  auto context = ExchangeWorkloadToken();
  if (!context) return std::unexpected(context.error());
  auto spec = ParseTaskSpec(*context);
  if (!spec) {
    // The task instance runs on the server, but its Dag gave no usable task: fail it.
    SupervisionOutcome outcome{.termination_reason = spec.error().message()};
    LogError("task " + workload_.ti.id + ": " + spec.error().message());
    auto log = OpenTaskLog();
    if (log) {
      log_ = std::move(*log);
      log_->Note(spec.error().message());
      outcome.reported_state = ReportFinalState("failed");
    }
    return outcome;
  }
  LogInfo("task " + workload_.ti.id + " (" + workload_.ti.dag_id + "." + workload_.ti.task_id +
          ", try " + std::to_string(workload_.ti.try_number) + ") is running");

  auto log = OpenTaskLog();
  if (!log) {
    // Without a log the task's output would be lost: fail it rather than run it blind.
    LogError("task " + workload_.ti.id + ": " + log.error().message());
    log_ = std::make_unique<TaskLog>(-1, options_.masker);
    ReportFinalState("failed");
    return std::unexpected(log.error());
  }
  log_ = std::move(*log);
  trigger_event_json_ = spec->trigger_event_json;
  if (!trigger_event_json_.empty()) log_->Note("resumed by a trigger event");

  SupervisionOutcome outcome;
  auto user = ResolveTaskUser({.run_as_user = spec->run_as_user,
                               .default_impersonation = options_.default_impersonation,
                               .allow_root_tasks = options_.allow_root_tasks,
                               .supervisor_euid = geteuid()});
  Result<void> started =
      user ? StartTask(*spec, *user) : Result<void>(std::unexpected(user.error()));
  if (!started) {
    std::string why = "StartTask: " + started.error().message();
    log_->Note(why);
    LogError("task " + workload_.ti.id + ": " + why);
    outcome.termination_reason = why;
    outcome.reported_state = ReportFinalState("failed");
    return outcome;
  }
  log_->Note("started task process " + std::to_string(task_pid_) + " as user " + user->name +
             " (try " + std::to_string(workload_.ti.try_number) + ")");

  SuperviseLoop(*spec);

  outcome.task_result = wait_status_ ? DescribeWaitStatus(*wait_status_) : "not reaped";
  outcome.termination_reason = termination_reason_;
  log_->Note("task process " + outcome.task_result);
  const bool succeeded =
      !terminating_ && wait_status_ && WIFEXITED(*wait_status_) && WEXITSTATUS(*wait_status_) == 0;
  if (deferred_) {
    outcome.reported_state = "deferred";
  } else if (server_gone_) {
    log_->Note("not reporting a state: the server no longer runs this task instance");
  } else {
    outcome.reported_state = ReportFinalState(succeeded ? "success" : "failed");
    if (!outcome.reported_state.empty()) log_->Note("reported state " + outcome.reported_state);
  }
  LogInfo("task " + workload_.ti.id + ": " + outcome.task_result + "; reported state: " +
          (outcome.reported_state.empty() ? "none" : outcome.reported_state));
  return outcome;
}

}  // namespace

Result<void> MakeNonDumpable() {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return Internal(ErrnoMessage("prctl(PR_SET_DUMPABLE, 0)"));
  return {};
}

Result<Workload> ParseWorkload(std::string_view json_text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(json_text, ec);
  if (ec || !parsed.is_object()) return InvalidArgument("workload: not a JSON object");
  const json::object& object = parsed.as_object();
  auto type = StringMember(object, "type", "workload");
  if (!type) return std::unexpected(type.error());
  if (*type != "ExecuteTask") return InvalidArgument("workload: type must be ExecuteTask");
  Workload workload;
  auto token = StringMember(object, "token", "workload");
  if (!token) return std::unexpected(token.error());
  workload.token = std::move(*token);
  const json::value* ti = object.if_contains("ti");
  if (ti == nullptr || !ti->is_object()) return InvalidArgument("workload: 'ti' must be an object");
  const json::object& t = ti->as_object();
  for (auto [name, field] :
       {std::pair{"id", &workload.ti.id}, std::pair{"dag_id", &workload.ti.dag_id},
        std::pair{"task_id", &workload.ti.task_id}, std::pair{"run_id", &workload.ti.run_id}}) {
    auto value = StringMember(t, name, "workload.ti");
    if (!value) return std::unexpected(value.error());
    *field = std::move(*value);
  }
  for (auto [name, field] : {std::pair{"try_number", &workload.ti.try_number},
                             std::pair{"map_index", &workload.ti.map_index}}) {
    const json::value* value = t.if_contains(name);
    if (value == nullptr) continue;
    if (!value->is_int64() || value->as_int64() < -1 || value->as_int64() > INT32_MAX) {
      return InvalidArgument(std::string("workload.ti: field '") + name + "' must be an integer");
    }
    *field = static_cast<int>(value->as_int64());
  }
  workload.dag_rel_path = OptionalStringMember(object, "dag_rel_path");
  workload.log_path = OptionalStringMember(object, "log_path");
  if (const json::value* bundle = object.if_contains("bundle_info");
      bundle != nullptr && bundle->is_object()) {
    workload.bundle_name = OptionalStringMember(bundle->as_object(), "name");
    workload.bundle_version = OptionalStringMember(bundle->as_object(), "version");
  }
  return workload;
}

Result<TaskSpec> ParseTaskSpec(std::string_view run_context_json) {
  boost::system::error_code ec;
  json::value parsed = json::parse(run_context_json, ec);
  if (ec || !parsed.is_object()) return InvalidArgument("run context: not a JSON object");
  const json::value* task = parsed.as_object().if_contains("task");
  if (task == nullptr || !task->is_object()) {
    return InvalidArgument("run context: the task is not in its Dag's serialized form");
  }
  const json::object& t = task->as_object();
  TaskSpec spec;
  const json::value* command = t.if_contains("command");
  if (command == nullptr || !command->is_array() || command->as_array().empty()) {
    return InvalidArgument("task: 'command' must be a non-empty array of strings");
  }
  for (const json::value& arg : command->as_array()) {
    if (!arg.is_string()) return InvalidArgument("task: 'command' must be an array of strings");
    spec.command.emplace_back(arg.as_string());
  }
  if (spec.command[0].empty())
    return InvalidArgument("task: 'command' starts with an empty string");
  if (const json::value* env = t.if_contains("env"); env != nullptr && !env->is_null()) {
    if (!env->is_object()) return InvalidArgument("task: 'env' must be an object");
    for (const auto& [name, value] : env->as_object()) {
      if (!ValidEnvironmentName(name)) {
        return InvalidArgument("task: 'env' has an invalid variable name '" + std::string(name) +
                               "'");
      }
      if (!value.is_string()) {
        return InvalidArgument("task: 'env' value of '" + std::string(name) + "' must be a string");
      }
      spec.env.emplace_back(std::string(name), std::string(value.as_string()));
    }
  }
  if (const json::value* timeout = t.if_contains("execution_timeout");
      timeout != nullptr && !timeout->is_null()) {
    if (!timeout->is_number()) return InvalidArgument("task: 'execution_timeout' must be a number");
    double seconds = timeout->to_number<double>();
    if (!(seconds > 0)) return InvalidArgument("task: 'execution_timeout' must be positive");
    spec.execution_timeout_seconds = seconds;
  }
  if (const json::value* user = t.if_contains("run_as_user"); user != nullptr && !user->is_null()) {
    if (!user->is_string() || user->as_string().empty()) {
      return InvalidArgument("task: 'run_as_user' must be a non-empty string");
    }
    spec.run_as_user = std::string(user->as_string());
  }
  if (const json::value* event = parsed.as_object().if_contains("trigger_event");
      event != nullptr && event->is_object()) {
    spec.trigger_event_json = json::serialize(*event);
  }
  return spec;
}

Result<std::string> TaskLogPath(const Workload& workload, std::string_view base_log_folder) {
  auto has_dotdot = [](std::string_view path) {
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      if (path.substr(start, end - start) == "..") return true;
      start = end + 1;
    }
    return false;
  };
  if (!workload.log_path.empty()) {
    if (has_dotdot(workload.log_path)) return InvalidArgument("log_path has a '..' segment");
    if (workload.log_path.front() == '/') return workload.log_path;
    return std::string(base_log_folder) + "/" + workload.log_path;
  }
  const TaskInstanceRef& ti = workload.ti;
  for (const std::string* id : {&ti.dag_id, &ti.run_id, &ti.task_id}) {
    if (id->find('/') != std::string::npos || *id == "..") {
      return InvalidArgument("a task log path cannot be built from an id with '/'");
    }
  }
  std::string path = std::string(base_log_folder) + "/dag_id=" + ti.dag_id +
                     "/run_id=" + ti.run_id + "/task_id=" + ti.task_id + "/";
  if (ti.map_index >= 0) path += "map_index=" + std::to_string(ti.map_index) + "/";
  return path + "attempt=" + std::to_string(ti.try_number) + ".log";
}

Result<UnixUser> ResolveTaskUser(const TaskUserPolicy& policy) {
  const bool root = policy.supervisor_euid == 0;
  std::string name = policy.run_as_user ? *policy.run_as_user : policy.default_impersonation;
  std::optional<UnixUser> current;
  if (!root) {
    auto self = CurrentUser();
    if (!self) return std::unexpected(self.error());
    current = std::move(*self);
    // Its own user: as the supervisor runs, with no further look-up.
    if (name.empty() || (name == current->name && current->uid == policy.supervisor_euid)) {
      return *current;
    }
  } else if (name.empty()) {
    name = "nobody";
  }
  // Another user: natively when root (with its groups), else through sudo (StartTask),
  // which sets the groups itself. Either way never root unless allowed.
  auto user = LookUpUser(name, /*with_groups=*/root);
  if (!user) return std::unexpected(user.error());
  if (current && user->uid == policy.supervisor_euid) return *current;
  if (user->uid == 0 && !policy.allow_root_tasks) {
    return PermissionDenied(
        "refusing to run a task as root ('" + name +
        "'): set run_as_user or [core] default_impersonation to an unprivileged user, or "
        "[core] allow_root_tasks = True");
  }
  return user;
}

Result<SupervisionOutcome> Supervise(const Workload& workload, const SupervisorOptions& options) {
  if (!options.masker) return InvalidArgument("Supervise: no secrets masker");
  Supervision supervision(workload, options);
  return supervision.Run();
}

}  // namespace airlock::supervisor

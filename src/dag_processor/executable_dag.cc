#include "dag_processor/executable_dag.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>

#include "dags/yaml_dag.h"
#include "json/strict_json.h"

namespace airlock::dag_processor {

namespace json = boost::json;

namespace {

// Nesting allowed in a Dag's JSON: a Dag list → Dag → tasks → task → env/command.
constexpr int kMaxJsonDepth = 16;

// An fd closed when it goes out of scope.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Reads what is available on `fd` without blocking. Returns false at end of file or on an
// error other than EAGAIN.
bool Drain(int fd, std::string& into, size_t* total) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      if (total) *total += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN;
  }
}

}  // namespace

Result<std::string> RunExecutableDagFile(const std::string& path,
                                         const ExecutableRunOptions& options) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Internal(ErrnoMessage("pipe2(stdout)"));
  OwnedFd out_read(out[0]), out_write(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return Internal(ErrnoMessage("pipe2(stderr)"));
  OwnedFd err_read(err[0]), err_write(err[1]);

  const ExecutableLimits& limits = options.limits;
  supervisor::SpawnOptions spawn{
      .argv = {path},
      .env = supervisor::ScrubbedEnvironment(options.parent_environment,
                                             options.user ? options.user->home : "", {}),
      .stdin_fd = -1,
      .stdout_fd = out_write.get(),
      .stderr_fd = err_write.get(),
      .user = options.user,
      .die_with_parent = true,
      .no_new_privs = true,
      .cwd = options.cwd.empty() ? "/" : options.cwd,
  };
  if (limits.address_space_bytes) spawn.rlimits.push_back({RLIMIT_AS, limits.address_space_bytes});
  if (limits.cpu_seconds) spawn.rlimits.push_back({RLIMIT_CPU, limits.cpu_seconds});
  if (limits.file_size_bytes) spawn.rlimits.push_back({RLIMIT_FSIZE, limits.file_size_bytes});
  // A core dump is a file the limits above do not bound in time; nobody needs one here.
  spawn.rlimits.push_back({RLIMIT_CORE, 0});

  auto pid = supervisor::Spawn(spawn);
  out_write.Reset();
  err_write.Reset();
  if (!pid) return std::unexpected(pid.error());
  // The child leads its own session: -pid reaches it and everything it started.
  const pid_t group = *pid;
  OwnedFd pidfd(supervisor::PidfdOpen(*pid));
  if (pidfd.get() < 0) {
    kill(-group, SIGKILL);
    waitpid(*pid, nullptr, 0);
    return Internal(ErrnoMessage("pidfd_open(" + std::to_string(*pid) + ")"));
  }
  for (int fd : {out_read.get(), err_read.get()}) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  std::string stdout_text, stderr_text;
  size_t stdout_total = 0;
  std::string failure;  // why we killed it, if we did
  bool out_open = true, err_open = true, exited = false;
  while (!exited || out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      const int64_t ms = limits.timeout.count();
      failure = "timed out after " +
                (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") +
                " and was killed";
      break;
    }
    pollfd fds[3] = {{.fd = exited ? -1 : pidfd.get(), .events = POLLIN, .revents = 0},
                     {.fd = out_open ? out_read.get() : -1, .events = POLLIN, .revents = 0},
                     {.fd = err_open ? err_read.get() : -1, .events = POLLIN, .revents = 0}};
    int ready = poll(fds, 3, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) {
      failure = ErrnoMessage("poll");
      break;
    }
    if (fds[1].revents) out_open = Drain(out_read.get(), stdout_text, &stdout_total);
    if (stdout_total > limits.max_output_bytes) {
      failure = "printed more than " + std::to_string(limits.max_output_bytes) +
                " bytes on stdout and was killed";
      stdout_text.clear();
      stdout_text.shrink_to_fit();
      break;
    }
    if (fds[2].revents) {
      err_open = Drain(err_read.get(), stderr_text, nullptr);
      if (stderr_text.size() > 2 * kMaxStderrTail) {
        stderr_text.erase(0, stderr_text.size() - kMaxStderrTail);
      }
    }
    if (fds[0].revents) {
      exited = true;
      // Whatever it left running in its session may hold the pipes open: end it now, so the
      // loop sees end of file instead of waiting for the deadline.
      kill(-group, SIGKILL);
    }
  }
  kill(-group, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stderr_text.size() > kMaxStderrTail) {
    stderr_text.erase(0, stderr_text.size() - kMaxStderrTail);
  }
  if (failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    failure = supervisor::DescribeChildExit(status);
  }
  if (failure.empty()) return stdout_text;
  while (!stderr_text.empty() && (stderr_text.back() == '\n' || stderr_text.back() == '\r')) {
    stderr_text.pop_back();
  }
  return InvalidArgument(failure + (stderr_text.empty() ? "" : "\n" + stderr_text));
}

Result<std::vector<dags::DagSpec>> ParseJsonDags(std::string_view text,
                                                 std::string_view file_name) {
  const std::string file(file_name);
  auto parsed = ParseStrictJson(text, kMaxJsonDepth);
  if (!parsed) {
    return InvalidArgument(file + ": the output is not valid JSON: " + parsed.error().message());
  }
  std::vector<const json::value*> items;
  const bool is_list = parsed->is_array();
  if (parsed->is_object()) {
    items.push_back(&*parsed);
  } else if (is_list) {
    for (const json::value& item : parsed->as_array()) items.push_back(&item);
    if (items.empty()) return InvalidArgument(file + ": the output is an empty list of Dags");
  } else {
    return InvalidArgument(file + ": the output must be a JSON object (one Dag) or a list of Dags");
  }
  std::vector<dags::DagSpec> out;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string where = is_list ? file + " (Dag " + std::to_string(i) + ")" : file;
    if (!items[i]->is_object()) return InvalidArgument(where + ": a Dag must be a JSON object");
    // Compact JSON is YAML: the YAML reader applies the same keys, types and rules.
    auto dag = dags::ParseYamlDag(json::serialize(*items[i]), where);
    if (!dag) return std::unexpected(dag.error());
    out.push_back(std::move(*dag));
  }
  return out;
}

}  // namespace airlock::dag_processor

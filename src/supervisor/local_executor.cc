#include "supervisor/local_executor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/files.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "supervisor/environment.h"
#include "supervisor/spawn.h"

namespace airlock::supervisor {

namespace {

// How long the destructor lets supervisors stop their tasks and report before SIGKILL:
// a supervisor waits 5 s between SIGTERM and SIGKILL, then makes one HTTP call.
constexpr std::chrono::seconds kStopGrace{15};

}  // namespace

class LocalExecutor::Impl {
 public:
  Impl(LocalExecutorOptions options, std::vector<std::string> env, int wake_fd)
      : options_(std::move(options)), env_(std::move(env)), wake_fd_(wake_fd) {}

  ~Impl() {
    stopping_ = true;
    {
      std::lock_guard lock(mu_);
      for (const auto& [pidfd, child] : children_) {
        // A standby holds nothing yet: closing its stdin lets it exit 0.
        if (child.standby) continue;
        kill(child.pid, SIGTERM);
      }
      ReleaseStandbys();
    }
    Wake();
    if (reaper_.joinable()) reaper_.join();
    close(wake_fd_);
  }

  void StartReaper() {
    reaper_ = std::thread([this] {
      NameThisThread("task-reaper");
      Reap();
    });
  }

  void StartStandbys() {
    std::lock_guard lock(mu_);
    TopUpStandbys();
  }

  Result<void> Submit(const std::string& workload_json) {
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(workload_json, ec);
    if (ec || !parsed.is_object()) return InvalidArgument("workload is not a JSON object");
    if (stopping_) return Unavailable("the local executor is stopping");

    std::lock_guard lock(mu_);
    if (Busy() >= static_cast<size_t>(options_.parallelism)) {
      return std::unexpected(Error(ErrorCode::kResourceExhausted,
                                   "local executor: " + std::to_string(options_.parallelism) +
                                       " supervisors are already running"));
    }
    Result<void> handed = Unavailable("no supervisor");
    if (!standbys_.empty()) {
      Standby ready = standbys_.front();  // the oldest: the most likely to be ready
      standbys_.pop_front();
      children_.at(ready.pidfd).standby = false;
      handed = SendWorkload(ready, workload_json);
      // A standby that died (a bad configuration) cannot take it: start one afresh, which
      // reports the same problem with the task's own exit, or runs the task.
      if (!handed) LogWarning("local executor: standby supervisor: " + handed.error().message());
    }
    if (!handed) {
      auto started = StartSupervisor(/*standby=*/false);
      if (!started) return std::unexpected(started.error());
      handed = SendWorkload(*started, workload_json);
      if (!handed) return handed;
    }
    TopUpStandbys();
    return {};
  }

  size_t running() const {
    std::lock_guard lock(mu_);
    return Busy();
  }

  size_t standbys() const {
    std::lock_guard lock(mu_);
    return standbys_.size();
  }

 private:
  struct Child {
    pid_t pid;
    bool standby;  // started with --standby and not yet given a workload
  };
  struct Standby {
    pid_t pid;
    int pidfd;
    int channel;  // our end of its stdin
  };

  // Supervisors that have a workload. Caller holds mu_.
  size_t Busy() const { return children_.size() - standbys_.size(); }

  // Spawns airlock-supervisor (with --standby if `standby`) with the scrubbed environment
  // and a socket as its stdin, and registers it with the reaper. Caller holds mu_.
  Result<Standby> StartSupervisor(bool standby) {
    // The workload (it holds a token) goes on a socket rather than a pipe so that a
    // supervisor that dies early makes send() fail with EPIPE instead of raising SIGPIPE
    // in the scheduler.
    int channel[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0) {
      return Internal(std::string("socketpair(AF_UNIX, SOCK_STREAM): ") + std::strerror(errno));
    }
    std::vector<std::string> argv = {options_.supervisor_binary};
    if (standby) argv.push_back("--standby");
    auto pid = Spawn(SpawnOptions{
        .argv = std::move(argv),
        .env = env_,
        .stdin_fd = channel[1],
        .stdout_fd = STDOUT_FILENO,
        .stderr_fd = STDERR_FILENO,
    });
    close(channel[1]);
    if (!pid) {
      close(channel[0]);
      return std::unexpected(
          pid.error().WithContext(std::string("starting ") + kSupervisorExecutable));
    }
    int pidfd = PidfdOpen(*pid);
    if (pidfd < 0) {
      int err = errno;
      kill(*pid, SIGKILL);
      waitpid(*pid, nullptr, 0);
      close(channel[0]);
      return Internal(std::string("pidfd_open(") + std::to_string(*pid) +
                      "): " + std::strerror(err));
    }
    children_.emplace(pidfd, Child{.pid = *pid, .standby = standby});
    Wake();
    return Standby{.pid = *pid, .pidfd = pidfd, .channel = channel[0]};
  }

  // Writes the whole workload and closes the channel (EOF: the supervisor has all of it).
  // On failure the supervisor is killed (the reaper collects it).
  Result<void> SendWorkload(const Standby& supervisor, const std::string& workload_json) {
    size_t done = 0;
    while (done < workload_json.size()) {
      ssize_t n = send(supervisor.channel, workload_json.data() + done, workload_json.size() - done,
                       MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        close(supervisor.channel);
        kill(supervisor.pid, SIGKILL);
        return Internal("send(workload to supervisor " + std::to_string(supervisor.pid) +
                        "): " + std::strerror(err));
      }
      done += static_cast<size_t>(n);
    }
    close(supervisor.channel);
    return {};
  }

  // Keeps options_.standby supervisors ready, but no more than could still be given a
  // task (parallelism minus the busy ones). Caller holds mu_.
  void TopUpStandbys() {
    if (stopping_ || options_.standby <= 0 || Busy() >= static_cast<size_t>(options_.parallelism)) {
      return;
    }
    const size_t want = std::min(static_cast<size_t>(options_.standby),
                                 static_cast<size_t>(options_.parallelism) - Busy());
    while (standbys_.size() < want) {
      auto started = StartSupervisor(/*standby=*/true);
      if (!started) {
        LogWarning("local executor: no standby supervisor: " + started.error().message());
        return;
      }
      standbys_.push_back(*started);
    }
  }

  // Closes the standbys' stdin: each exits 0 without having held anything. Caller holds mu_.
  void ReleaseStandbys() {
    for (const Standby& s : standbys_) close(s.channel);
    standbys_.clear();
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }

  void Reap() {
    std::optional<std::chrono::steady_clock::time_point> kill_at;
    while (true) {
      std::vector<pollfd> fds{{.fd = wake_fd_, .events = POLLIN, .revents = 0}};
      {
        std::lock_guard lock(mu_);
        if (stopping_ && children_.empty()) return;
        for (const auto& [pidfd, child] : children_) {
          fds.push_back({.fd = pidfd, .events = POLLIN, .revents = 0});
        }
      }
      int timeout_ms = -1;
      if (stopping_) {
        if (!kill_at) kill_at = std::chrono::steady_clock::now() + kStopGrace;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        *kill_at - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) {
          std::lock_guard lock(mu_);
          for (const auto& [pidfd, child] : children_) kill(child.pid, SIGKILL);
          left = 1000;
        }
        timeout_ms = static_cast<int>(left);
      }
      if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        LogError(std::string("local executor: poll: ") + std::strerror(errno));
        return;
      }
      if (fds[0].revents != 0) {
        uint64_t count;
        ssize_t ignored = read(wake_fd_, &count, sizeof count);
        (void)ignored;
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Child child;
        {
          std::lock_guard lock(mu_);
          child = children_.at(fds[i].fd);
        }
        int status = 0;
        if (waitpid(child.pid, &status, WNOHANG) != child.pid) continue;
        {
          std::lock_guard lock(mu_);
          children_.erase(fds[i].fd);
          auto waiting = std::find_if(standbys_.begin(), standbys_.end(),
                                      [&](const Standby& s) { return s.pidfd == fds[i].fd; });
          if (waiting != standbys_.end()) {
            // It ended before it had a workload (a bad configuration, or a signal): it is
            // not replaced here; the next Submit() starts a supervisor afresh (which
            // reports the problem) and then tops the standbys up.
            close(waiting->channel);
            standbys_.erase(waiting);
          } else if (!child.standby) {
            TopUpStandbys();  // a slot is free again
          }
        }
        close(fds[i].fd);
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
          LogWarning("local executor: supervisor " + std::to_string(child.pid) + " ended with " +
                     (WIFEXITED(status) ? "code " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status))));
        }
      }
    }
  }

  const LocalExecutorOptions options_;
  const std::vector<std::string> env_;
  const int wake_fd_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<int, Child> children_;  // pidfd → supervisor. Guarded by mu_.
  std::deque<Standby> standbys_;   // those in children_ waiting for a workload. Guarded by mu_.
  std::thread reaper_;
};

std::string SupervisorExecutableBesideSelf() { return PathBesideSelf(kSupervisorExecutable); }

Result<std::unique_ptr<LocalExecutor>> LocalExecutor::Create(LocalExecutorOptions options) {
  if (options.supervisor_binary.empty() || access(options.supervisor_binary.c_str(), X_OK) != 0) {
    return InvalidArgument("local executor: supervisor binary '" + options.supervisor_binary +
                           "' is not executable");
  }
  if (options.execution_api_url.empty()) {
    return InvalidArgument("local executor: no Execution API URL");
  }
  if (options.parallelism < 1) return InvalidArgument("local executor: parallelism must be ≥ 1");
  if (options.standby < 0) return InvalidArgument("local executor: standby must be ≥ 0");
  auto user = CurrentUser();
  if (!user) return std::unexpected(user.error());
  EnvironmentMap set{{"AIRLOCK__CORE__EXECUTION_API_SERVER_URL", options.execution_api_url}};
  if (!options.log_folder.empty()) set["AIRLOCK__LOGGING__BASE_LOG_FOLDER"] = options.log_folder;
  std::vector<std::string> env = SupervisorEnvironment(CurrentEnvironment(), user->home, set);
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return Internal(std::string("eventfd: ") + std::strerror(errno));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(env), wake_fd);
  impl->StartReaper();
  impl->StartStandbys();
  return std::unique_ptr<LocalExecutor>(new LocalExecutor(std::move(impl)));
}

LocalExecutor::LocalExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalExecutor::~LocalExecutor() = default;

Result<void> LocalExecutor::Submit(const std::string& workload_json) {
  return impl_->Submit(workload_json);
}

size_t LocalExecutor::running() const { return impl_->running(); }

size_t LocalExecutor::standbys() const { return impl_->standbys(); }

}  // namespace airlock::supervisor

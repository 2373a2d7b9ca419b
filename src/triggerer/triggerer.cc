// The triggerer's event loop. Boost.Asio is included here and nowhere else in the module
// (STYLE: heavy templates in few .cc files). Everything below Impl's public entry points
// runs on the loop thread; the pools only call the TriggerApi or http::Send and post the
// result back, capturing ids and copies, never a Trigger, so every Trigger (and the Asio
// objects it owns) is created, touched and destroyed on the loop thread.

#include "triggerer/triggerer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "common/log.h"
#include "common/random.h"
#include "common/thread_name.h"
#include "common/time_format.h"
#include "http/client.h"

namespace airlock::triggerer {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

// Wall-clock waits are cut into pieces of at most this, so that a step of the system clock
// delays a datetime trigger (or a user trigger's timeout) by no more than this.
constexpr auto kMaxWallClockWait = std::chrono::seconds(60);

// Bounds of the Execution API's claim and renew bodies.
constexpr int kMaxCapacity = 10000;
constexpr int kMinLeaseSeconds = 5;
constexpr int kMaxLeaseSeconds = 3600;
constexpr size_t kMaxTriggererIdChars = 200;

milliseconds SecondsToMillis(double seconds) {
  return milliseconds(std::max<int64_t>(1, std::llround(seconds * 1000)));
}

// `text` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string TruncateUtf8(std::string text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  text.resize(end);
  return text;
}

Result<std::string> DefaultTriggererId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return Internal(ErrnoMessage("gethostname"));
  auto random = RandomBytes(4);
  if (!random) return std::unexpected(random.error());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : *random) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return std::string(host).substr(0, 150) + ":" + std::to_string(getpid()) + ":" + hex;
}

bool Retryable(ErrorCode code) {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kDeadlineExceeded ||
         code == ErrorCode::kUnauthenticated || code == ErrorCode::kPermissionDenied ||
         code == ErrorCode::kResourceExhausted || code == ErrorCode::kInternal;
}

// One claimed trigger. Loop thread only. A wait's handler holds a shared_ptr and checks
// `ended` first: a trigger can end (lost, reported, Stop) while a wait is pending.
struct Trigger {
  Trigger(asio::io_context& io, ClaimedTrigger c, uint64_t s)
      : claimed(std::move(c)), serial(s), timer(io), wall_timer(io) {}

  std::string Name() const {
    return "trigger " + std::to_string(claimed.id) + " (" + claimed.kind + ", task instance " +
           claimed.ti_id + ")";
  }

  ClaimedTrigger claimed;  // its token is replaced by every renewal
  // Tells this claim of the trigger from a later one with the same id, for results that
  // come back from a pool.
  const uint64_t serial;
  std::optional<triggers::TriggerArgs> args;
  bool fired = false;  // an event or failure is being reported: never polled again
  bool ended = false;  // no longer held by this triggerer

  asio::steady_timer timer;       // file and http polls; report retries
  asio::system_timer wall_timer;  // the datetime moment; a user trigger's timeout_at

  // The report, kept as it is across retries.
  bool report_is_event = false;
  std::string report_body;
  milliseconds retry_delay{0};
  int attempts = 0;

  // A user trigger's child. `reaped` is false from a successful Spawn until waitpid: until
  // then the pid cannot be reused, so killing its group is safe.
  pid_t pid = -1;
  bool reaped = true;
  std::unique_ptr<asio::posix::stream_descriptor> pidfd, out, err;
  std::string stdout_text;
  size_t stdout_total = 0;
  std::string stderr_line;
  size_t stderr_logged = 0;
  bool stderr_cut_noted = false;
  std::string kill_reason;  // why the triggerer killed it; empty if it did not
};

}  // namespace

struct Triggerer::Impl {
  Impl(TriggererOptions o, TriggerApi& a)
      : options(std::move(o)),
        api(a),
        io(1),
        work(asio::make_work_guard(io)),
        api_pool(static_cast<size_t>(options.api_threads)),
        http_pool(static_cast<size_t>(options.http_threads)),
        claim_timer(io),
        renew_timer(io) {}

  // --- control loops ---------------------------------------------------------------

  void StartLoop() {
    asio::post(io, [this] { Claim(); });
    ScheduleRenew();
    loop = std::thread([this] {
      NameThisThread("trigger-loop");
      // The one catch of this thread: a stray exception from a handler is logged and the
      // loop goes on.
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {
          LogError(std::string("triggerer loop: unexpected exception: ") + e.what());
        }
      }
    });
  }

  void ScheduleClaim(milliseconds after) {
    claim_timer.expires_after(after);
    claim_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopping) Claim();
    });
  }

  void Claim() {
    const int room = options.capacity - static_cast<int>(triggers.size());
    if (room <= 0) {
      ScheduleClaim(options.poll_interval);
      return;
    }
    OnPool(api_pool, [this, room] {
      auto claimed = api.Claim(triggerer_id, room, options.lease_seconds);
      asio::post(io, [this, room, claimed = std::move(claimed)]() mutable {
        OnClaimed(room, std::move(claimed));
      });
    });
  }

  void OnClaimed(int asked, Result<std::vector<ClaimedTrigger>> claimed) {
    if (stopping) return;  // leased to us, never run: the leases expire
    if (!claimed) {
      NoteProblem(claim_problem, "claiming triggers failed: " + claimed.error().message());
      ScheduleClaim(options.poll_interval);
      return;
    }
    NoteRecovery(claim_problem, "claiming triggers works again");
    const bool full = static_cast<int>(claimed->size()) >= asked;
    for (ClaimedTrigger& c : *claimed) Adopt(std::move(c));
    // A full answer means more may be waiting: claim again at once.
    ScheduleClaim(full ? milliseconds(0) : options.poll_interval);
  }

  void ScheduleRenew() {
    renew_timer.expires_after(renew_interval);
    renew_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopping) Renew();
    });
  }

  void Renew() {
    if (triggers.empty()) {
      ScheduleRenew();
      return;
    }
    std::vector<int64_t> ids;
    std::map<int64_t, uint64_t> serials;
    for (const auto& [id, t] : triggers) {
      ids.push_back(id);
      serials[id] = t->serial;
    }
    OnPool(api_pool, [this, ids = std::move(ids), serials = std::move(serials)]() mutable {
      auto renewed = api.Renew(triggerer_id, ids, options.lease_seconds);
      asio::post(io, [this, serials = std::move(serials), renewed = std::move(renewed)]() mutable {
        OnRenewed(serials, std::move(renewed));
      });
    });
  }

  void OnRenewed(const std::map<int64_t, uint64_t>& asked, Result<RenewResult> renewed) {
    if (stopping) return;
    ScheduleRenew();
    if (!renewed) {
      NoteProblem(renew_problem, "renewing trigger leases failed: " + renewed.error().message());
      return;
    }
    NoteRecovery(renew_problem, "renewing trigger leases works again");
    std::set<int64_t> renewed_ids;
    for (const RenewedTrigger& r : renewed->renewed) {
      auto serial = asked.find(r.id);
      if (serial == asked.end()) continue;
      renewed_ids.insert(r.id);
      if (auto t = Find(r.id, serial->second)) t->claimed.token = r.token;
    }
    // Named in "lost", or not mentioned at all: either way this triggerer holds no lease.
    // A trigger whose own report is in flight is not lost but reported: the api-server
    // stops renewing it once it has taken the report, which may be before its answer
    // arrives here. The report's answer ends it (accepted, gone or not deferred).
    for (const auto& [id, serial] : asked) {
      if (renewed_ids.contains(id)) continue;
      if (auto t = Find(id, serial); t && !t->fired) Lose(t);
    }
  }

  // --- one trigger -----------------------------------------------------------------

  void Adopt(ClaimedTrigger c) {
    if (auto it = triggers.find(c.id); it != triggers.end()) {
      // Ours already (our lease had lapsed and we claimed it back): keep it running.
      it->second->claimed.token = std::move(c.token);
      return;
    }
    auto t = std::make_shared<Trigger>(io, std::move(c), ++last_serial);
    triggers[t->claimed.id] = t;
    held.store(static_cast<int64_t>(triggers.size()));
    claimed_count.fetch_add(1);
    auto args = triggers::ParseTriggerArgs(t->claimed.kind, t->claimed.args_json,
                                           std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    if (!args) {
      Fail(t, "invalid trigger arguments: " + args.error().message());
      return;
    }
    t->args = std::move(*args);
    if (const auto* a = std::get_if<triggers::DateTimeArgs>(&*t->args)) {
      ArmMoment(t, a->moment);
    } else if (std::holds_alternative<triggers::FileArgs>(*t->args)) {
      CheckFile(t);
    } else if (std::holds_alternative<triggers::HttpArgs>(*t->args)) {
      PollHttp(t);
    } else {
      StartUserTrigger(t);
    }
  }

  std::shared_ptr<Trigger> Find(int64_t id, uint64_t serial) const {
    auto it = triggers.find(id);
    if (it == triggers.end() || it->second->serial != serial) return nullptr;
    return it->second;
  }

  void ArmMoment(const std::shared_ptr<Trigger>& t, int64_t moment) {
    const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(moment));
    const auto now = std::chrono::system_clock::now();
    if (at <= now) {
      Fire(t, json::serialize(json::object{{"moment", FormatUtcSeconds(moment)}}));
      return;
    }
    t->wall_timer.expires_at(std::min<std::chrono::system_clock::time_point>(
        at,
        now + std::chrono::duration_cast<std::chrono::system_clock::duration>(kMaxWallClockWait)));
    t->wall_timer.async_wait([this, t, moment](boost::system::error_code ec) {
      if (!ec && !t->fired && !t->ended) ArmMoment(t, moment);
    });
  }

  void CheckFile(const std::shared_ptr<Trigger>& t) {
    const auto& args = std::get<triggers::FileArgs>(*t->args);
    struct stat st {};
    if (stat(args.path.c_str(), &st) == 0) {
      Fire(t, json::serialize(json::object{{"path", args.path}}));
      return;
    }
    t->timer.expires_after(SecondsToMillis(args.poll_interval));
    t->timer.async_wait([this, t](boost::system::error_code ec) {
      if (!ec && !t->fired && !t->ended) CheckFile(t);
    });
  }

  void PollHttp(const std::shared_ptr<Trigger>& t) {
    const auto& args = std::get<triggers::HttpArgs>(*t->args);
    OnPool(http_pool, [this, id = t->claimed.id, serial = t->serial, url = args.url] {
      auto response = http::Send({.method = "GET", .url = url},
                                 {.timeout = options.http_timeout, .headers_only = true});
      const int status = response ? response->status : 0;
      std::string error = response ? "" : response.error().message();
      asio::post(io, [this, id, serial, status, error = std::move(error)] {
        OnHttpPolled(id, serial, status, error);
      });
    });
  }

  void OnHttpPolled(int64_t id, uint64_t serial, int status, const std::string& error) {
    auto t = Find(id, serial);
    if (!t || t->fired || stopping) return;
    const auto& args = std::get<triggers::HttpArgs>(*t->args);
    if (status == args.status) {
      Fire(t, json::serialize(json::object{{"url", args.url}, {"status", status}}));
      return;
    }
    Log(LogLevel::kDebug, t->Name() + ": " +
                              (error.empty() ? "HTTP " + std::to_string(status) : error) +
                              ", polling again");
    t->timer.expires_after(SecondsToMillis(args.poll_interval));
    t->timer.async_wait([this, t](boost::system::error_code ec) {
      if (!ec && !t->fired && !t->ended) PollHttp(t);
    });
  }

  // --- user triggers ---------------------------------------------------------------

  void StartUserTrigger(const std::shared_ptr<Trigger>& t) {
    const auto& args = std::get<triggers::ExecArgs>(*t->args);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      Fail(t, "the user trigger could not be started: " + ErrnoMessage("pipe2"));
      return;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
      const std::string why = ErrnoMessage("pipe2");
      close(out[0]);
      close(out[1]);
      Fail(t, "the user trigger could not be started: " + why);
      return;
    }
    // Spawned from the loop thread, on purpose: PR_SET_PDEATHSIG fires when the thread that
    // forked ends, and this thread lives as long as the triggerer runs triggers.
    auto pid =
        supervisor::Spawn(UserTriggerSpawnOptions(args, options.user_triggers, out[1], err[1]));
    close(out[1]);
    close(err[1]);
    if (!pid) {
      close(out[0]);
      close(err[0]);
      Fail(t, "the user trigger could not be started: " + pid.error().message());
      return;
    }
    const int pidfd = supervisor::PidfdOpen(*pid);
    if (pidfd < 0) {
      const std::string why = ErrnoMessage("pidfd_open(" + std::to_string(*pid) + ")");
      kill(-*pid, SIGKILL);
      while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      close(out[0]);
      close(err[0]);
      Fail(t, "the user trigger could not be watched: " + why);
      return;
    }
    for (int fd : {out[0], err[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    t->pid = *pid;
    t->reaped = false;
    children.fetch_add(1);
    t->pidfd = std::make_unique<asio::posix::stream_descriptor>(io, pidfd);
    t->out = std::make_unique<asio::posix::stream_descriptor>(io, out[0]);
    t->err = std::make_unique<asio::posix::stream_descriptor>(io, err[0]);
    LogInfo(t->Name() + ": started user trigger process " + std::to_string(*pid));
    t->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                         [this, t](boost::system::error_code ec) {
                           if (!ec) OnChildExited(t);
                         });
    WatchStdout(t);
    WatchStderr(t);
    if (t->claimed.timeout_at) ArmTimeout(t, *t->claimed.timeout_at);
  }

  void WatchStdout(const std::shared_ptr<Trigger>& t) {
    t->out->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, t](boost::system::error_code ec) {
                         if (!ec && t->out && DrainStdout(*t)) WatchStdout(t);
                       });
  }

  void WatchStderr(const std::shared_ptr<Trigger>& t) {
    t->err->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, t](boost::system::error_code ec) {
                         if (!ec && t->err && DrainStderr(*t)) WatchStderr(t);
                       });
  }

  // Reads what stdout holds. False (and the descriptor closed) at end of file, on an error,
  // or when the child printed more than its cap (and was killed for it).
  bool DrainStdout(Trigger& t) {
    char buf[16384];
    for (;;) {
      const ssize_t n = read(t.out->native_handle(), buf, sizeof buf);
      if (n > 0) {
        t.stdout_total += static_cast<size_t>(n);
        if (t.stdout_total > options.user_triggers.limits.max_stdout_bytes) {
          KillChild(t, "printed more than " +
                           std::to_string(options.user_triggers.limits.max_stdout_bytes) +
                           " bytes on stdout and was killed");
          t.stdout_text.clear();
          t.stdout_text.shrink_to_fit();
          t.out.reset();
          return false;
        }
        t.stdout_text.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      t.out.reset();
      return false;
    }
  }

  bool DrainStderr(Trigger& t) {
    char buf[16384];
    for (;;) {
      const ssize_t n = read(t.err->native_handle(), buf, sizeof buf);
      if (n > 0) {
        LogStderr(t, std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      FlushStderrLine(t);
      t.err.reset();
      return false;
    }
  }

  // A user trigger's stderr, line by line, into the triggerer's log (masked by Log), within
  // max_stderr_log_bytes; what is over is read and dropped, so the child never blocks.
  void LogStderr(Trigger& t, std::string_view data) {
    for (char c : data) {
      if (c == '\n') {
        FlushStderrLine(t);
      } else if (t.stderr_line.size() < kMaxStderrLineChars) {
        t.stderr_line += c;
      } else {
        FlushStderrLine(t);
        t.stderr_line += c;
      }
    }
  }

  void FlushStderrLine(Trigger& t) {
    if (t.stderr_line.empty()) return;
    const std::string line = std::move(t.stderr_line);
    t.stderr_line.clear();
    if (t.stderr_logged >= options.user_triggers.limits.max_stderr_log_bytes) {
      if (!t.stderr_cut_noted) {
        t.stderr_cut_noted = true;
        LogWarning(t.Name() + ": further stderr output is not logged");
      }
      return;
    }
    t.stderr_logged += line.size();
    LogInfo(t.Name() + " stderr: " + line);
  }

  void ArmTimeout(const std::shared_ptr<Trigger>& t, int64_t timeout_at) {
    const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(timeout_at));
    const auto now = std::chrono::system_clock::now();
    if (at <= now) {
      KillChild(*t, "ran past its timeout (" + FormatUtcSeconds(timeout_at) + ") and was killed");
      return;
    }
    t->wall_timer.expires_at(std::min<std::chrono::system_clock::time_point>(
        at,
        now + std::chrono::duration_cast<std::chrono::system_clock::duration>(kMaxWallClockWait)));
    t->wall_timer.async_wait([this, t, timeout_at](boost::system::error_code ec) {
      if (!ec && !t->ended && !t->reaped) ArmTimeout(t, timeout_at);
    });
  }

  // SIGKILL to the child's whole process group; its exit is then handled by OnChildExited.
  // The reason is kept even when the child has just been reaped (its last output read after
  // it ended can still exceed the cap).
  void KillChild(Trigger& t, const std::string& reason) {
    if (t.kill_reason.empty()) t.kill_reason = reason;
    if (!t.reaped) kill(-t.pid, SIGKILL);
  }

  void OnChildExited(const std::shared_ptr<Trigger>& t) {
    if (t->reaped) return;
    // Before waitpid, while the pid cannot be reused: whatever it left running in its
    // session goes with it (and stops holding the pipes open).
    kill(-t->pid, SIGKILL);
    int status = 0;
    while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR) {
    }
    t->reaped = true;
    children.fetch_sub(1);
    dying.erase(t);
    // What it wrote before it ended is in the pipes already.
    if (t->out) DrainStdout(*t);
    if (t->err) DrainStderr(*t);
    FlushStderrLine(*t);
    t->out.reset();
    t->err.reset();
    t->pidfd.reset();
    if (t->ended) return;  // lost, or Stop(): nothing to report
    LogInfo(t->Name() + ": user trigger process " + std::to_string(t->pid) + " " +
            supervisor::DescribeChildExit(status));
    if (!t->kill_reason.empty()) {
      Fail(t, "the user trigger " + t->kill_reason);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      Fire(t, UserTriggerPayload(t->stdout_text));
    } else {
      Fail(t, "the user trigger " + supervisor::DescribeChildExit(status));
    }
  }

  // --- ending a trigger ------------------------------------------------------------

  void Fire(const std::shared_ptr<Trigger>& t, std::string payload_json) {
    LogInfo(t->Name() + ": fired");
    StartReport(t, /*is_event=*/true, std::move(payload_json));
  }

  void Fail(const std::shared_ptr<Trigger>& t, const std::string& error) {
    LogWarning(t->Name() + ": failed: " + error);
    StartReport(t, /*is_event=*/false, TruncateUtf8(error, kMaxFailureChars));
  }

  void StartReport(const std::shared_ptr<Trigger>& t, bool is_event, std::string body) {
    t->fired = true;
    t->timer.cancel();
    t->wall_timer.cancel();
    t->report_is_event = is_event;
    t->report_body = std::move(body);
    t->retry_delay = options.first_retry_delay;
    t->attempts = 0;
    SendReport(t);
  }

  void SendReport(const std::shared_ptr<Trigger>& t) {
    ++t->attempts;
    OnPool(api_pool, [this, id = t->claimed.id, serial = t->serial, token = t->claimed.token,
                      is_event = t->report_is_event, body = t->report_body] {
      auto outcome =
          is_event ? api.ReportEvent(id, token, body) : api.ReportFailure(id, token, body);
      asio::post(io, [this, id, serial, outcome = std::move(outcome)] {
        OnReported(id, serial, outcome);
      });
    });
  }

  void OnReported(int64_t id, uint64_t serial, const Result<ReportOutcome>& outcome) {
    auto t = Find(id, serial);
    if (!t || stopping) return;
    const std::string what = t->report_is_event ? "event" : "failure";
    if (outcome) {
      // Ended before it is counted: a trigger counted as fired or failed is no longer held.
      End(t);
      switch (*outcome) {
        case ReportOutcome::kAccepted:
          (t->report_is_event ? fired : failed).fetch_add(1);
          LogInfo(t->Name() + ": " + what + " reported");
          break;
        case ReportOutcome::kNotDeferred:
          LogInfo(t->Name() + ": " + what + " not taken: the task is no longer deferred");
          break;
        case ReportOutcome::kGone:
          LogInfo(t->Name() + ": " + what + " not taken: the trigger no longer exists");
          break;
      }
      return;
    }
    const Error& error = outcome.error();
    if (Retryable(error.code())) {
      LogWarning(t->Name() + ": reporting its " + what + " failed (attempt " +
                 std::to_string(t->attempts) + "): " + error.message() + "; retrying in " +
                 std::to_string(t->retry_delay.count()) + " ms");
      t->timer.expires_after(t->retry_delay);
      t->retry_delay = std::min(t->retry_delay * 2, options.max_retry_delay);
      t->timer.async_wait([this, t](boost::system::error_code ec) {
        if (!ec && !t->ended && !stopping) SendReport(t);
      });
      return;
    }
    if (t->report_is_event) {
      // The api-server will not take this payload; the task must not wait forever for it.
      Fail(t, "the api-server refused the trigger's event: " + error.message());
      return;
    }
    LogError(t->Name() + ": the api-server refused its failure report, giving the trigger up: " +
             error.message());
    End(t);
  }

  // The api-server no longer gives this triggerer the trigger: stop it at once, report
  // nothing.
  void Lose(const std::shared_ptr<Trigger>& t) {
    LogInfo(t->Name() +
            ": lost (fired elsewhere, its task ended, or another triggerer holds "
            "it): stopped");
    lost.fetch_add(1);
    End(t);
  }

  // The trigger is no longer held: its waits end, its child (if any) is killed and reaped
  // by OnChildExited.
  void End(const std::shared_ptr<Trigger>& t) {
    t->ended = true;
    t->timer.cancel();
    t->wall_timer.cancel();
    if (!t->reaped) {
      kill(-t->pid, SIGKILL);
      dying.insert(t);
    }
    triggers.erase(t->claimed.id);
    held.store(static_cast<int64_t>(triggers.size()));
  }

  // --- stopping --------------------------------------------------------------------

  // On the loop thread: no more claims or renewals; every child killed and reaped here.
  void ShutdownOnLoop() {
    stopping = true;
    claim_timer.cancel();
    renew_timer.cancel();
    std::vector<std::shared_ptr<Trigger>> all(dying.begin(), dying.end());
    for (const auto& [id, t] : triggers) all.push_back(t);
    for (const auto& t : all) {
      t->ended = true;
      t->timer.cancel();
      t->wall_timer.cancel();
      if (!t->reaped) kill(-t->pid, SIGKILL);
    }
    // A process killed with SIGKILL runs no code of its own before it ends.
    for (const auto& t : all) {
      if (!t->reaped) {
        while (waitpid(t->pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        t->reaped = true;
        children.fetch_sub(1);
      }
      t->out.reset();
      t->err.reset();
      t->pidfd.reset();
    }
    dying.clear();
    triggers.clear();
    held.store(0);
    work.reset();
  }

  template <typename F>
  void OnPool(asio::thread_pool& pool, F&& job) {
    asio::post(pool, [job = std::forward<F>(job)]() mutable {
      try {
        job();
      } catch (const std::exception& e) {
        LogError(std::string("triggerer worker: unexpected exception: ") + e.what());
      }
    });
  }

  // Logs a failing control call once, not at every poll, until it works again.
  static void NoteProblem(std::string& last, const std::string& message) {
    if (message != last) LogWarning(message);
    last = message;
  }
  static void NoteRecovery(std::string& last, const std::string& message) {
    if (!last.empty()) LogInfo(message);
    last.clear();
  }

  const TriggererOptions options;
  TriggerApi& api;
  std::string triggerer_id;
  milliseconds renew_interval{0};

  // Declared before every object that uses it, so it is destroyed after them.
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::thread_pool api_pool;
  asio::thread_pool http_pool;
  asio::steady_timer claim_timer;
  asio::steady_timer renew_timer;
  std::thread loop;

  // Loop thread only.
  std::map<int64_t, std::shared_ptr<Trigger>> triggers;
  std::set<std::shared_ptr<Trigger>> dying;  // ended, their child killed but not yet reaped
  uint64_t last_serial = 0;
  bool stopping = false;
  std::string claim_problem, renew_problem;

  // Controlling thread only.
  bool stopped = false;

  std::atomic<int64_t> held{0}, claimed_count{0}, fired{0}, failed{0}, lost{0}, children{0};
};

Result<std::unique_ptr<Triggerer>> Triggerer::Start(TriggererOptions options, TriggerApi& api) {
  if (options.capacity < 0 || options.capacity > kMaxCapacity) {
    return InvalidArgument("triggerer capacity must be between 0 and " +
                           std::to_string(kMaxCapacity));
  }
  if (options.lease_seconds < kMinLeaseSeconds || options.lease_seconds > kMaxLeaseSeconds) {
    return InvalidArgument("triggerer lease_seconds must be between " +
                           std::to_string(kMinLeaseSeconds) + " and " +
                           std::to_string(kMaxLeaseSeconds));
  }
  if (options.poll_interval.count() <= 0) {
    return InvalidArgument("triggerer poll_interval must be positive");
  }
  if (options.http_threads < 1 || options.api_threads < 1 || options.http_timeout.count() <= 0 ||
      options.first_retry_delay.count() <= 0 ||
      options.max_retry_delay < options.first_retry_delay) {
    return InvalidArgument("triggerer threads, HTTP timeout and retry delays must be positive");
  }
  std::string id = options.triggerer_id;
  if (id.empty()) {
    auto made = DefaultTriggererId();
    if (!made) return std::unexpected(made.error());
    id = std::move(*made);
  }
  if (id.size() > kMaxTriggererIdChars) {
    return InvalidArgument("triggerer id must be at most 200 characters");
  }
  const milliseconds renew = options.renew_interval.count() > 0
                                 ? options.renew_interval
                                 : milliseconds(options.lease_seconds * 1000 / 3);
  auto impl = std::make_unique<Impl>(std::move(options), api);
  impl->triggerer_id = std::move(id);
  impl->renew_interval = renew;
  impl->StartLoop();
  return std::unique_ptr<Triggerer>(new Triggerer(std::move(impl)));
}

Triggerer::Triggerer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Triggerer::~Triggerer() { Stop(); }

void Triggerer::Stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  asio::post(impl.io, [&impl] { impl.ShutdownOnLoop(); });
  impl.loop.join();
  // Calls on the wire finish; their results are posted to the stopped loop and dropped
  // below (every handler checks `stopping` first).
  impl.api_pool.join();
  impl.http_pool.join();
  impl.io.restart();
  impl.io.poll();
}

TriggererStats Triggerer::stats() const {
  return {.held = impl_->held.load(),
          .claimed = impl_->claimed_count.load(),
          .fired = impl_->fired.load(),
          .failed = impl_->failed.load(),
          .lost = impl_->lost.load(),
          .children = impl_->children.load()};
}

const std::string& Triggerer::triggerer_id() const { return impl_->triggerer_id; }

}  // namespace airlock::triggerer

#pragma once
// Triggerer: runs the triggers of deferred task instances (SPEC §6) and reports each one's
// event or failure to the api-server, through a TriggerApi (trigger_api.h). What it is not:
// a database client — it holds no database URL and no signing key, only its own token
// (which can claim and renew, nothing else) and the per-trigger tokens the api-server hands
// it, each good for its own trigger only.
//
// One event-loop thread (Boost.Asio) runs every trigger concurrently:
//   datetime  a wall-clock timer to the moment (re-armed at most every minute, so a clock
//             step is noticed); fires at once if the moment is past.
//   file      stat() every poll_interval; fires when the path exists.
//   http      a GET every poll_interval on the HTTP pool (http_threads blocking clients,
//             http_timeout each, status and headers only), the result posted back to the
//             loop; fires when the status is the one expected; connection errors and other
//             statuses just poll again.
//   exec      a hardened child (user_trigger.h) whose pidfd, stdout and stderr the loop
//             watches; exit 0 → event, any other end → failure. Killed (its whole process
//             group, SIGKILL) when it prints more than max_stdout_bytes, when its
//             timeout_at is past, when the trigger is lost, and at Stop().
// and the control loops:
//   claim     every poll_interval, up to capacity − held triggers (at once again when a
//             claim came back full);
//   renew     every renew_interval (default lease_seconds / 3) for all held triggers:
//             fresh per-trigger tokens; a trigger the answer calls lost — or does not
//             mention — is stopped at once and never reported;
//   report    an event or failure is sent with the trigger's latest token on the API pool
//             (api_threads); Unavailable, Unauthenticated and PermissionDenied are retried
//             with doubling delays (first_retry_delay … max_retry_delay), the same payload,
//             for as long as the trigger is held; 204, 404 and 409 end it. A trigger fires
//             at most once per claim: after it fired it is never polled again.
// A trigger whose arguments do not parse, or whose child cannot start, fails its own task;
// nothing a trigger does ends the triggerer.
//
// Threading: Start() and Stop() from one controlling thread; stats() from any thread.
// Stop() is graceful: claiming and renewing stop, every user-trigger child is killed and
// reaped, timers end, calls already on the wire finish; triggers not yet reported are left
// to their leases, which expire, so another triggerer takes them over.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error.h"
#include "triggerer/trigger_api.h"
#include "triggerer/user_trigger.h"

namespace airlock::triggerer {

struct TriggererOptions {
  // Names this process in claims; empty: "<hostname>:<pid>:<8 random hex digits>".
  std::string triggerer_id;
  // [triggerer] capacity: triggers held at once (0..10000).
  int capacity = 1000;
  // [triggerer] poll_interval: between two claims.
  std::chrono::milliseconds poll_interval{1000};
  // [triggerer] lease_seconds (5..3600); renewed every renew_interval (zero: a third of it).
  int lease_seconds = 30;
  std::chrono::milliseconds renew_interval{0};
  // How user triggers run.
  UserTriggerRunOptions user_triggers;
  // HTTP triggers: one GET's whole time, and the threads that run them.
  std::chrono::milliseconds http_timeout{5000};
  int http_threads = 4;
  // Threads that call the TriggerApi (claims, renewals, reports).
  int api_threads = 8;
  // Delays between attempts of one report.
  std::chrono::milliseconds first_retry_delay{500};
  std::chrono::milliseconds max_retry_delay{30000};
};

struct TriggererStats {
  int64_t held = 0;      // triggers claimed and not yet ended
  int64_t claimed = 0;   // since Start
  int64_t fired = 0;     // events reported and accepted
  int64_t failed = 0;    // failures reported and accepted
  int64_t lost = 0;      // stopped because a renewal said so
  int64_t children = 0;  // user-trigger processes alive now
};

class Triggerer {
 public:
  // Starts the loop thread and the pools; `api` must outlive the Triggerer. InvalidArgument
  // for options out of range.
  static Result<std::unique_ptr<Triggerer>> Start(TriggererOptions options, TriggerApi& api);
  ~Triggerer();  // Stop()

  Triggerer(const Triggerer&) = delete;
  Triggerer& operator=(const Triggerer&) = delete;

  // As described above; idempotent. Returns once every thread has ended and every child
  // has been reaped.
  void Stop();

  TriggererStats stats() const;
  const std::string& triggerer_id() const;

  struct Impl;

 private:
  explicit Triggerer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::triggerer

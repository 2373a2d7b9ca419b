#pragma once
// LoginRateLimiter counts failed logins per user name and per client address in a fixed
// window, and refuses further attempts from either once it holds its limit of failures:
// a refused attempt is not even checked, so guessing stops being useful, and it is
// answered the same way whether the user exists or not (the name is counted either way).
// Limits (defaults; [api_auth] login_* options):
//  - per user name: 10 failures per 300 s. An attacker can lock one account for at most
//    the window; that is the price of stopping online guessing of a known name;
//  - per client address: 50 failures per 300 s, across all names (password spraying).
//    Behind a load balancer every client shares its address: raise the limit there.
// A success clears its user's count, never the address's.
// Concurrent attempts may each pass the check before any failure is recorded, so the
// limit can be exceeded by at most the number of server threads.
// Per process: each api-server keeps its own counts in memory, so N api-servers behind a
// load balancer allow up to N times the limits, and a login's 429 depends on the instance
// it lands on (docs/security/jwt-authentication.md).
// Memory is bounded: at most kMaxTrackedKeys keys per kind; expired windows are pruned
// first, then the oldest.
// Thread-safe.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace airlock::api {

struct LoginLimits {
  int max_failures_per_user = 10;
  int max_failures_per_address = 50;
  std::chrono::seconds window{300};
};

class LoginRateLimiter {
 public:
  static constexpr size_t kMaxTrackedKeys = 100000;

  LoginRateLimiter(const Clock& clock, LoginLimits limits) : clock_(clock), limits_(limits) {}

  // Seconds until an attempt for `username` from `address` is allowed again; 0 when it is
  // allowed now.
  int64_t RetryAfterSeconds(std::string_view username, std::string_view address);
  void RecordFailure(std::string_view username, std::string_view address);
  void RecordSuccess(std::string_view username);

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    int failures = 0;
  };
  using Windows = std::map<std::string, Window, std::less<>>;
  int64_t RetryAfter(Windows& windows, std::string_view key, int limit,
                     std::chrono::steady_clock::time_point now) const;
  void Count(Windows& windows, std::string_view key, std::chrono::steady_clock::time_point now);

  const Clock& clock_;
  const LoginLimits limits_;
  std::mutex mu_;
  Windows users_;      // Guarded by mu_.
  Windows addresses_;  // Guarded by mu_.
};

}  // namespace airlock::api

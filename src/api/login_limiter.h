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
// The counts live in the metadata database (Store::RecordLoginFailures), so every
// api-server sharing it applies the same limits to the same counts: a login's 429 does not
// depend on the api-server it lands on (SPEC §9). Windows are measured on the servers'
// clocks (Unix seconds). Concurrent attempts may each pass the check before any failure
// is recorded, so a limit can be exceeded by at most the number of attempts in flight.
// Windows that ended are purged at most once per window, by whichever server counts a
// failure then.
// Thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"
#include "store/store.h"

namespace airlock::api {

struct LoginLimits {
  int max_failures_per_user = 10;
  int max_failures_per_address = 50;
  std::chrono::seconds window{300};
};

class LoginRateLimiter {
 public:
  LoginRateLimiter(store::Store& store, const Clock& clock, LoginLimits limits)
      : store_(store), clock_(clock), limits_(limits) {}

  // Seconds until an attempt for `username` from `address` is allowed again; 0 when it is
  // allowed now. An error when the database cannot be read.
  Result<int64_t> RetryAfterSeconds(std::string_view username, std::string_view address);
  Result<void> RecordFailure(std::string_view username, std::string_view address);
  Result<void> RecordSuccess(std::string_view username);

  // The names the counts are kept under: user names and addresses as they came, with
  // bytes the database cannot hold replaced (store::StorableText).
  static std::string UserKey(std::string_view username);
  static std::string AddressKey(std::string_view address);

 private:
  store::Store& store_;
  const Clock& clock_;
  const LoginLimits limits_;
  std::atomic<int64_t> last_purge_{0};  // Unix seconds of the last purge by this process
};

}  // namespace airlock::api

#include "api/login_limiter.h"

#include <algorithm>
#include <array>

#include "store/checks.h"

namespace airlock::api {

std::string LoginRateLimiter::UserKey(std::string_view username) {
  return "user:" + store::StorableText(username);
}

std::string LoginRateLimiter::AddressKey(std::string_view address) {
  return "address:" + store::StorableText(address);
}

Result<int64_t> LoginRateLimiter::RetryAfterSeconds(std::string_view username,
                                                    std::string_view address) {
  const int64_t now = clock_.NowSeconds();
  const int64_t window = limits_.window.count();
  const std::array<std::string, 2> names{UserKey(username), AddressKey(address)};
  auto windows = store_.LoginFailureWindows(names, now, window);
  if (!windows) return std::unexpected(windows.error());
  int64_t retry_after = 0;
  for (const store::LoginFailureWindow& w : *windows) {
    const int limit =
        w.name == names[0] ? limits_.max_failures_per_user : limits_.max_failures_per_address;
    if (w.failures < limit) continue;
    retry_after =
        std::max<int64_t>(retry_after, std::max<int64_t>(w.window_start + window - now, 1));
  }
  return retry_after;
}

Result<void> LoginRateLimiter::RecordFailure(std::string_view username, std::string_view address) {
  const int64_t now = clock_.NowSeconds();
  const int64_t window = limits_.window.count();
  const std::array<std::string, 2> names{UserKey(username), AddressKey(address)};
  if (auto counted = store_.RecordLoginFailures(names, now, window); !counted) return counted;
  // Windows that ended hold no count that matters; at most one purge per window here.
  int64_t last = last_purge_.load();
  if (now - last >= window && last_purge_.compare_exchange_strong(last, now)) {
    if (auto purged = store_.PurgeLoginFailures(now - window); !purged) {
      return std::unexpected(purged.error());
    }
  }
  return {};
}

Result<void> LoginRateLimiter::RecordSuccess(std::string_view username) {
  return store_.ClearLoginFailures(UserKey(username));
}

}  // namespace airlock::api

#include "api/login_limiter.h"

#include <algorithm>

namespace airlock::api {

using std::chrono::steady_clock;

int64_t LoginRateLimiter::RetryAfter(Windows& windows, std::string_view key, int limit,
                                     steady_clock::time_point now) const {
  auto it = windows.find(key);
  if (it == windows.end()) return 0;
  const auto end = it->second.start + limits_.window;
  if (now >= end) {
    windows.erase(it);
    return 0;
  }
  if (it->second.failures < limit) return 0;
  auto left = std::chrono::ceil<std::chrono::seconds>(end - now).count();
  return std::max<int64_t>(left, 1);
}

void LoginRateLimiter::Count(Windows& windows, std::string_view key, steady_clock::time_point now) {
  auto it = windows.find(key);
  if (it != windows.end() && now >= it->second.start + limits_.window) {
    windows.erase(it);
    it = windows.end();
  }
  if (it == windows.end()) {
    if (windows.size() >= kMaxTrackedKeys) {
      std::erase_if(windows,
                    [&](const auto& entry) { return now >= entry.second.start + limits_.window; });
    }
    if (windows.size() >= kMaxTrackedKeys) {
      auto oldest = std::min_element(
          windows.begin(), windows.end(),
          [](const auto& a, const auto& b) { return a.second.start < b.second.start; });
      windows.erase(oldest);
    }
    it = windows.emplace(std::string(key), Window{.start = now}).first;
  }
  ++it->second.failures;
}

int64_t LoginRateLimiter::RetryAfterSeconds(std::string_view username, std::string_view address) {
  const auto now = clock_.Monotonic();
  std::lock_guard lock(mu_);
  return std::max(RetryAfter(users_, username, limits_.max_failures_per_user, now),
                  RetryAfter(addresses_, address, limits_.max_failures_per_address, now));
}

void LoginRateLimiter::RecordFailure(std::string_view username, std::string_view address) {
  const auto now = clock_.Monotonic();
  std::lock_guard lock(mu_);
  Count(users_, username, now);
  Count(addresses_, address, now);
}

void LoginRateLimiter::RecordSuccess(std::string_view username) {
  std::lock_guard lock(mu_);
  users_.erase(std::string(username));
}

}  // namespace airlock::api

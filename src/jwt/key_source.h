#pragma once
// KeySource is where a Validator (and a signer) gets its current KeySet. Two kinds:
//  - StaticKeySource: a set loaded once (a secret, a key file); Replace() swaps in a new
//    one (rotation without restart).
//  - JwksKeySource: a JWKS read from a file or fetched from an http(s) URL, refreshed
//    every poll interval (default 1 h) by a background thread, and at once when a token
//    names an unknown kid, but at most once per 10 s; a failed fetch keeps the last good
//    set.
// Thread-safety: Current() is lock-free-ish (an atomic shared_ptr) and safe from any
// number of threads; the returned set is immutable.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/clock.h"
#include "common/error.h"
#include "jwt/key_set.h"

namespace airlock::jwt {

class KeySource {
 public:
  virtual ~KeySource() = default;
  // The set to use now. Never null.
  virtual std::shared_ptr<const KeySet> Current() const = 0;
  // Called when a token names a kid that Current() lacks. A source that can refresh
  // may do so (rate-limited); returns the set to retry with.
  virtual std::shared_ptr<const KeySet> RefreshForUnknownKid() { return Current(); }
};

class StaticKeySource final : public KeySource {
 public:
  explicit StaticKeySource(KeySet set);
  std::shared_ptr<const KeySet> Current() const override;
  void Replace(KeySet set);

 private:
  std::atomic<std::shared_ptr<const KeySet>> set_;
};

// Fetches the body of an http(s) URL. Injected so that the jwt module does not depend
// on the HTTP client (bin/ and cli/ wire http::FetchUrl in).
using UrlFetcher = std::function<Result<std::string>(const std::string& url)>;

struct JwksSourceOptions {
  std::chrono::seconds poll_interval{3600};
  // Minimum time between two fetches caused by unknown kids.
  std::chrono::seconds min_refetch_interval{10};
  // Start a background thread that refreshes every poll_interval. Off for one-shot use
  // (the CLI) and for tests that drive Refresh() themselves.
  bool background_polling = true;
};

class JwksKeySource final : public KeySource {
 public:
  // `location` is a file path or an http:// / https:// URL. The first load must succeed;
  // its error (naming the location, never a key) is returned otherwise. `fetcher` is
  // required for URLs and may be empty for files.
  static Result<std::unique_ptr<JwksKeySource>> Create(std::string location, UrlFetcher fetcher,
                                                       const Clock& clock,
                                                       JwksSourceOptions options = {});
  ~JwksKeySource() override;

  std::shared_ptr<const KeySet> Current() const override;
  std::shared_ptr<const KeySet> RefreshForUnknownKid() override;

  // Loads the document now. On failure the previous set stays and the error is returned.
  Result<void> Refresh();

  // Number of fetch attempts so far (for tests and metrics).
  int fetch_count() const { return fetch_count_.load(); }

 private:
  JwksKeySource(std::string location, UrlFetcher fetcher, const Clock& clock,
                JwksSourceOptions options);
  Result<std::string> Load();
  void PollLoop(std::stop_token stop);

  const std::string location_;
  const UrlFetcher fetcher_;
  const Clock& clock_;
  const JwksSourceOptions options_;
  std::atomic<std::shared_ptr<const KeySet>> set_;
  std::atomic<int> fetch_count_{0};
  std::mutex refresh_mu_;  // Serializes fetches; guards last_unknown_kid_fetch_.
  std::chrono::steady_clock::time_point last_unknown_kid_fetch_{};
  bool fetched_for_unknown_kid_ = false;  // Guarded by refresh_mu_.
  std::jthread poller_;
};

// Builds the validation key source the way [api_auth] describes: trusted_jwks_url if set;
// otherwise the public half of jwt_private_key_path; otherwise jwt_secret.
struct ValidationKeyConfig {
  std::string trusted_jwks_url;
  std::string private_key_path;
  std::string secret;
  std::optional<Algorithm> algorithm;  // nullopt = GUESS
  std::string kid;                     // [api_auth] jwt_kid; empty = thumbprint
};
Result<std::shared_ptr<KeySource>> MakeValidationKeySource(const ValidationKeyConfig& config,
                                                           UrlFetcher fetcher, const Clock& clock,
                                                           JwksSourceOptions options = {});

}  // namespace airlock::jwt

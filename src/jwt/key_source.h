#pragma once
// KeySource is where a Validator (and a signer) gets its current KeySet. Two kinds:
//  - StaticKeySource: a set loaded once (a secret, a key file); Replace() swaps in a new
//    one (rotation without restart).
//  - JwksKeySource: a JWKS read from a file or fetched from an http(s) URL, refreshed
//    every poll interval (default 1 h) by a background thread, and at once when a token
//    names an unknown kid, but at most once per 10 s; a failed fetch keeps the last good
//    set.
//  - KeyDirectoryKeySource: the keys of a key directory (key_directory.h) with their
//    states; a background thread reloads them when the manifest changes (checked every
//    kKeyDirectoryPollInterval), and a token naming an unknown kid reloads at once, at most
//    once per 10 s; a failed reload keeps the last good set.
// Thread-safety: Current() is lock-free-ish (an atomic shared_ptr) and safe from any
// number of threads; the returned set is immutable.

#include <atomic>
#include <chrono>
#include <cstdint>
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
  // Milliseconds so that tests can poll quickly; configuration sets whole seconds.
  std::chrono::milliseconds poll_interval{std::chrono::hours(1)};
  // Minimum time between two fetches caused by unknown kids.
  std::chrono::seconds min_refetch_interval{10};
  // Start a background thread that refreshes every poll_interval. Off for one-shot use
  // (the CLI) and for tests that drive Refresh() themselves.
  bool background_polling = true;
  // [api_auth] jwt_algorithm; nullopt = GUESS. If set, a JWK without "alg" is pinned to
  // it and a JWK whose "alg" differs is not used (ParseJwks).
  std::optional<Algorithm> algorithm;
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

// How often a KeyDirectoryKeySource checks whether the manifest changed (one stat() call):
// a rotation reaches a running component within this time, or at once for a token that
// names the new key.
inline constexpr std::chrono::seconds kKeyDirectoryPollInterval{5};

struct KeyDirectorySourceOptions {
  std::chrono::milliseconds poll_interval = kKeyDirectoryPollInterval;
  // Minimum time between two reloads caused by unknown kids.
  std::chrono::seconds min_refetch_interval{10};
  // Start the background thread that watches the manifest. Off for one-shot use and for
  // tests that drive ReloadIfChanged() themselves.
  bool background_polling = true;
  // Called (from the reloading thread) when a reload fails: once per distinct error, not
  // on every poll while the directory stays broken. The message names files, never keys.
  std::function<void(const Error&)> on_reload_error;
  // Called (with the new set) after every successful load, the first one included.
  std::function<void(const KeySet&)> on_reload;
};

// The keys of a directory made by `airlock keys rotate --dir` (KeyDirectory): the active
// key signs, every key of the manifest (next, active, retired) validates and is published.
// A set is only taken if it has an active key that can sign and, when an algorithm is
// configured, every key fits it (the key is pinned to it: RS256 or RS512 for RSA, EdDSA for
// Ed25519); otherwise the load fails and the last good set stays.
// The manifest is watched by its identity (device, inode, size, mtime): `keys rotate`
// replaces it by rename, so a rotation always changes it. Key files edited in place, with
// the manifest untouched, are picked up only by an unknown-kid reload or a restart.
class KeyDirectoryKeySource final : public KeySource {
 public:
  // The first load must succeed; its error (naming the directory) is returned otherwise.
  static Result<std::unique_ptr<KeyDirectoryKeySource>> Create(
      std::string directory, std::optional<Algorithm> algorithm, const Clock& clock,
      KeyDirectorySourceOptions options = {});
  ~KeyDirectoryKeySource() override;

  std::shared_ptr<const KeySet> Current() const override;
  std::shared_ptr<const KeySet> RefreshForUnknownKid() override;

  // Reloads if the manifest changed since the last successful load (what the background
  // thread does). true if a new set was taken; on failure the previous set stays.
  Result<bool> ReloadIfChanged();
  // Reloads now, changed or not. On failure the previous set stays.
  Result<void> Reload();

  const std::string& directory() const { return directory_; }
  // Number of load attempts so far (for tests and metrics).
  int load_count() const { return load_count_.load(); }

 private:
  struct ManifestStamp {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const ManifestStamp&) const = default;
  };
  KeyDirectoryKeySource(std::string directory, std::optional<Algorithm> algorithm,
                        const Clock& clock, KeyDirectorySourceOptions options);
  std::optional<ManifestStamp> Stamp() const;
  // Both called with reload_mu_ held.
  Result<void> LoadLocked();
  void ReportLocked(const Result<void>& outcome);
  void PollLoop(std::stop_token stop);

  const std::string directory_;
  const std::optional<Algorithm> algorithm_;
  const Clock& clock_;
  const KeyDirectorySourceOptions options_;
  std::atomic<std::shared_ptr<const KeySet>> set_;
  std::atomic<int> load_count_{0};
  std::mutex reload_mu_;  // Serializes reloads; guards the members below.
  std::optional<ManifestStamp> loaded_stamp_;
  std::string last_error_;  // the last reported reload error; empty after a success
  std::chrono::steady_clock::time_point last_unknown_kid_reload_{};
  bool reloaded_for_unknown_kid_ = false;
  std::jthread poller_;
};

// True if `path` is a key directory: a directory holding keys.json. A directory without
// one is an error (FailedPrecondition), so that a typo is not taken for a key file.
Result<bool> IsKeyDirectory(const std::string& path);

// Builds the validation key source the way [api_auth] describes: trusted_jwks_url if set;
// otherwise jwt_private_key_path: every key of a key directory, or the public half of a
// key file; otherwise jwt_secret.
struct ValidationKeyConfig {
  std::string trusted_jwks_url;
  std::string private_key_path;
  std::string secret;
  std::optional<Algorithm> algorithm;  // nullopt = GUESS
  std::string kid;  // [api_auth] jwt_kid; empty = thumbprint; not used for a key directory
  // When private_key_path is a key directory and this is a source of that directory (the
  // one that signs), it is shared rather than a second one loaded.
  std::shared_ptr<KeySource> signing_source;
  KeyDirectorySourceOptions directory_options;
};
Result<std::shared_ptr<KeySource>> MakeValidationKeySource(const ValidationKeyConfig& config,
                                                           UrlFetcher fetcher, const Clock& clock,
                                                           JwksSourceOptions options = {});

}  // namespace airlock::jwt

#include "jwt/key_source.h"

#include <sys/stat.h>

#include "common/files.h"
#include "common/thread_name.h"
#include "jwt/key_directory.h"

namespace airlock::jwt {

StaticKeySource::StaticKeySource(KeySet set)
    : set_(std::make_shared<const KeySet>(std::move(set))) {}

std::shared_ptr<const KeySet> StaticKeySource::Current() const { return set_.load(); }

void StaticKeySource::Replace(KeySet set) {
  set_.store(std::make_shared<const KeySet>(std::move(set)));
}

namespace {

bool IsUrl(std::string_view location) {
  return location.starts_with("http://") || location.starts_with("https://");
}

}  // namespace

JwksKeySource::JwksKeySource(std::string location, UrlFetcher fetcher, const Clock& clock,
                             JwksSourceOptions options)
    : location_(std::move(location)),
      fetcher_(std::move(fetcher)),
      clock_(clock),
      options_(options),
      set_(std::make_shared<const KeySet>()) {}

Result<std::unique_ptr<JwksKeySource>> JwksKeySource::Create(std::string location,
                                                             UrlFetcher fetcher, const Clock& clock,
                                                             JwksSourceOptions options) {
  if (IsUrl(location) && !fetcher) {
    return InvalidArgument("no HTTP client to fetch the JWKS from " + location);
  }
  std::unique_ptr<JwksKeySource> source(
      new JwksKeySource(std::move(location), std::move(fetcher), clock, options));
  if (auto ok = source->Refresh(); !ok) return std::unexpected(ok.error());
  if (options.background_polling) {
    source->poller_ = std::jthread([s = source.get()](std::stop_token stop) {
      NameThisThread("jwks-poll");
      s->PollLoop(stop);
    });
  }
  return source;
}

JwksKeySource::~JwksKeySource() {
  if (poller_.joinable()) {
    poller_.request_stop();
    poller_.join();
  }
}

std::shared_ptr<const KeySet> JwksKeySource::Current() const { return set_.load(); }

Result<std::string> JwksKeySource::Load() {
  fetch_count_.fetch_add(1);
  if (IsUrl(location_)) return fetcher_(location_);
  return ReadFile(location_);
}

Result<void> JwksKeySource::Refresh() {
  std::lock_guard lock(refresh_mu_);
  auto text = Load();
  if (!text) return std::unexpected(text.error().WithContext("loading JWKS"));
  auto set = ParseJwks(*text, options_.algorithm);
  if (!set) return std::unexpected(set.error().WithContext(location_));
  set_.store(std::make_shared<const KeySet>(std::move(*set)));
  return {};
}

std::shared_ptr<const KeySet> JwksKeySource::RefreshForUnknownKid() {
  {
    std::lock_guard lock(refresh_mu_);
    auto now = clock_.Monotonic();
    // A flood of tokens with made-up kids must not turn into a flood of fetches.
    if (fetched_for_unknown_kid_ && now - last_unknown_kid_fetch_ < options_.min_refetch_interval) {
      return set_.load();
    }
    fetched_for_unknown_kid_ = true;
    last_unknown_kid_fetch_ = now;
  }
  (void)Refresh();  // on failure the last good set stays
  return set_.load();
}

void JwksKeySource::PollLoop(std::stop_token stop) {
  while (SleepUnlessStopped(stop, options_.poll_interval)) {
    (void)Refresh();  // on failure the last good set stays
  }
}

KeyDirectoryKeySource::KeyDirectoryKeySource(std::string directory,
                                             std::optional<Algorithm> algorithm, const Clock& clock,
                                             KeyDirectorySourceOptions options)
    : directory_(std::move(directory)),
      algorithm_(algorithm),
      clock_(clock),
      options_(std::move(options)),
      set_(std::make_shared<const KeySet>()) {}

Result<std::unique_ptr<KeyDirectoryKeySource>> KeyDirectoryKeySource::Create(
    std::string directory, std::optional<Algorithm> algorithm, const Clock& clock,
    KeyDirectorySourceOptions options) {
  std::unique_ptr<KeyDirectoryKeySource> source(
      new KeyDirectoryKeySource(std::move(directory), algorithm, clock, std::move(options)));
  {
    std::lock_guard lock(source->reload_mu_);
    if (auto ok = source->LoadLocked(); !ok) return std::unexpected(ok.error());
  }
  if (source->options_.background_polling) {
    source->poller_ = std::jthread([s = source.get()](std::stop_token stop) {
      NameThisThread("keydir-poll");
      s->PollLoop(stop);
    });
  }
  return source;
}

KeyDirectoryKeySource::~KeyDirectoryKeySource() {
  if (poller_.joinable()) {
    poller_.request_stop();
    poller_.join();
  }
}

std::shared_ptr<const KeySet> KeyDirectoryKeySource::Current() const { return set_.load(); }

std::optional<KeyDirectoryKeySource::ManifestStamp> KeyDirectoryKeySource::Stamp() const {
  struct stat st {};
  if (::stat((directory_ + "/keys.json").c_str(), &st) != 0) return std::nullopt;
  return ManifestStamp{
      .device = static_cast<uint64_t>(st.st_dev),
      .inode = static_cast<uint64_t>(st.st_ino),
      .size = static_cast<int64_t>(st.st_size),
      .mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

Result<void> KeyDirectoryKeySource::LoadLocked() {
  load_count_.fetch_add(1);
  // The stamp is taken before the manifest is read: if it changes in between, the next
  // check sees a different stamp and loads again.
  std::optional<ManifestStamp> stamp = Stamp();
  auto loaded = KeyDirectory(directory_).Load();
  if (!loaded) return std::unexpected(loaded.error().WithContext("key directory " + directory_));
  std::vector<KeyEntry> entries;
  for (const auto& e : loaded->entries()) {
    KeyPtr key = e.key;
    if (algorithm_ && key->algorithm() != *algorithm_) {
      auto pinned = key->With(*algorithm_, key->kid());
      if (!pinned) {
        return InvalidArgument("key directory " + directory_ + ": key " + key->kid() +
                               " does not fit [api_auth] jwt_algorithm " +
                               std::string(AlgorithmName(*algorithm_)));
      }
      key = std::move(*pinned);
    }
    entries.push_back({std::move(key), e.state});
  }
  auto set = KeySet::Create(std::move(entries));
  if (!set) return std::unexpected(set.error().WithContext("key directory " + directory_));
  const Key* active = set->Active();
  if (active == nullptr) {
    return FailedPrecondition("key directory " + directory_ + ": no active key");
  }
  if (!active->can_sign()) {
    return FailedPrecondition("key directory " + directory_ + ": the active key " + active->kid() +
                              " is a public key and cannot sign");
  }
  auto shared = std::make_shared<const KeySet>(std::move(*set));
  set_.store(shared);
  loaded_stamp_ = stamp;
  if (options_.on_reload) options_.on_reload(*shared);
  return {};
}

void KeyDirectoryKeySource::ReportLocked(const Result<void>& outcome) {
  if (outcome) {
    last_error_.clear();
    return;
  }
  // A directory that stays broken is reported once, not on every poll.
  if (outcome.error().message() == last_error_) return;
  last_error_ = outcome.error().message();
  if (options_.on_reload_error) options_.on_reload_error(outcome.error());
}

Result<bool> KeyDirectoryKeySource::ReloadIfChanged() {
  std::lock_guard lock(reload_mu_);
  // A missing manifest is a change too (and fails to load): it is reported.
  std::optional<ManifestStamp> stamp = Stamp();
  if (stamp && stamp == loaded_stamp_) return false;
  auto outcome = LoadLocked();
  ReportLocked(outcome);
  if (!outcome) return std::unexpected(outcome.error());
  return true;
}

Result<void> KeyDirectoryKeySource::Reload() {
  std::lock_guard lock(reload_mu_);
  auto outcome = LoadLocked();
  ReportLocked(outcome);
  return outcome;
}

std::shared_ptr<const KeySet> KeyDirectoryKeySource::RefreshForUnknownKid() {
  {
    std::lock_guard lock(reload_mu_);
    auto now = clock_.Monotonic();
    // A flood of tokens with made-up kids must not turn into a flood of reloads.
    if (reloaded_for_unknown_kid_ &&
        now - last_unknown_kid_reload_ < options_.min_refetch_interval) {
      return set_.load();
    }
    reloaded_for_unknown_kid_ = true;
    last_unknown_kid_reload_ = now;
  }
  (void)Reload();  // on failure the last good set stays (and the error is reported)
  return set_.load();
}

void KeyDirectoryKeySource::PollLoop(std::stop_token stop) {
  while (SleepUnlessStopped(stop, options_.poll_interval)) {
    (void)ReloadIfChanged();  // on failure the last good set stays (and is reported)
  }
}

Result<bool> IsKeyDirectory(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    // A missing path is left to the key file loader, whose error names it.
    return false;
  }
  if (!S_ISDIR(st.st_mode)) return false;
  struct stat manifest {};
  if (::stat((path + "/keys.json").c_str(), &manifest) != 0) {
    return FailedPrecondition(path +
                              " is a directory without keys.json: create a key directory "
                              "with `airlock keys rotate --dir " +
                              path + "`, or name a key file");
  }
  return true;
}

Result<std::shared_ptr<KeySource>> MakeValidationKeySource(const ValidationKeyConfig& config,
                                                           UrlFetcher fetcher, const Clock& clock,
                                                           JwksSourceOptions options) {
  if (!config.trusted_jwks_url.empty()) {
    options.algorithm = config.algorithm;
    auto source =
        JwksKeySource::Create(config.trusted_jwks_url, std::move(fetcher), clock, options);
    if (!source) return std::unexpected(source.error());
    return std::shared_ptr<KeySource>(std::move(*source));
  }
  if (!config.private_key_path.empty()) {
    auto is_directory = IsKeyDirectory(config.private_key_path);
    if (!is_directory) return std::unexpected(is_directory.error());
    if (*is_directory) {
      auto* shared = dynamic_cast<KeyDirectoryKeySource*>(config.signing_source.get());
      if (shared != nullptr && shared->directory() == config.private_key_path) {
        return config.signing_source;
      }
      auto source = KeyDirectoryKeySource::Create(config.private_key_path, config.algorithm, clock,
                                                  config.directory_options);
      if (!source) return std::unexpected(source.error());
      return std::shared_ptr<KeySource>(std::move(*source));
    }
    auto key = LoadKeyFile(config.private_key_path, config.algorithm, config.kid);
    if (!key) return std::unexpected(key.error());
    return std::shared_ptr<KeySource>(std::make_shared<StaticKeySource>(KeySet::Single(*key)));
  }
  if (!config.secret.empty()) {
    auto key = Key::FromSecret(config.secret, config.algorithm, config.kid);
    if (!key) return std::unexpected(key.error().WithContext("[api_auth] jwt_secret"));
    return std::shared_ptr<KeySource>(std::make_shared<StaticKeySource>(KeySet::Single(*key)));
  }
  return FailedPrecondition(
      "no JWT key configured: set [api_auth] trusted_jwks_url, jwt_private_key_path or "
      "jwt_secret");
}

}  // namespace airlock::jwt

#include "jwt/key_source.h"

#include "common/files.h"
#include "common/thread_name.h"

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
  auto set = ParseJwks(*text);
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

Result<std::shared_ptr<KeySource>> MakeValidationKeySource(const ValidationKeyConfig& config,
                                                           UrlFetcher fetcher, const Clock& clock,
                                                           JwksSourceOptions options) {
  if (!config.trusted_jwks_url.empty()) {
    auto source =
        JwksKeySource::Create(config.trusted_jwks_url, std::move(fetcher), clock, options);
    if (!source) return std::unexpected(source.error());
    return std::shared_ptr<KeySource>(std::move(*source));
  }
  if (!config.private_key_path.empty()) {
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

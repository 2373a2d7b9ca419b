#include "cli/component.h"

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <cmath>

#include "cli/commands.h"
#include "common/log.h"
#include "http/client.h"
#include "jwt/algorithm.h"
#include "supervisor/supervisor.h"

namespace airlock::cli {

namespace {

// An optional string option: empty when unset.
std::string OptionalString(const config::Config& config, std::string_view section,
                           std::string_view option) {
  auto value = config.GetString(section, option);
  return value ? *value : std::string();
}

Result<std::optional<jwt::Algorithm>> ConfiguredAlgorithm(const config::Config& config) {
  std::string setting = OptionalString(config, "api_auth", "jwt_algorithm");
  std::optional<jwt::Algorithm> alg;
  if (!setting.empty() && !jwt::ParseAlgorithmSetting(setting, &alg)) {
    return InvalidArgument("[api_auth] jwt_algorithm: unknown algorithm '" + setting +
                           "' (GUESS, HS512, RS256, RS512 or EdDSA)");
  }
  return alg;
}

}  // namespace

Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const config::Config& config,
                                                          bool migrate) {
  auto url = config.GetString("database", "sql_alchemy_conn");
  if (!url) return std::unexpected(url.error().WithContext("[database] sql_alchemy_conn"));
  // Only a component that migrates may create the database; the others refuse a missing
  // one without leaving an empty file behind.
  auto store = store::OpenStore(*url, {.fernet_key = OptionalString(config, "core", "fernet_key"),
                                       .create_if_missing = migrate});
  if (!store) return std::unexpected(store.error());
  if (migrate) {
    auto version = (*store)->Migrate();
    if (!version) return std::unexpected(version.error());
  } else {
    auto current = store::RequireCurrentSchema(**store);
    if (!current) return std::unexpected(current.error());
  }
  return std::move(*store);
}

namespace {

// How a key directory's source reports to the component's log: reloads, and reloads
// that failed (the last good keys stay). Messages name files and kids, never key material.
jwt::KeyDirectorySourceOptions KeyDirectoryLogging() {
  return {.on_reload_error =
              [](const Error& e) {
                LogError(
                    "[api_auth] jwt_private_key_path: reloading the keys failed, the "
                    "previous keys stay in use: " +
                    e.message());
              },
          .on_reload =
              [](const jwt::KeySet& set) {
                const jwt::Key* active = set.Active();
                LogInfo("[api_auth] jwt_private_key_path: " + std::to_string(set.entries().size()) +
                        " keys loaded, active key " + (active ? active->kid() : "none"));
              }};
}

}  // namespace

Result<std::shared_ptr<jwt::KeySource>> SigningKeySource(const config::Config& config) {
  auto alg = ConfiguredAlgorithm(config);
  if (!alg) return std::unexpected(alg.error());
  std::string kid = OptionalString(config, "api_auth", "jwt_kid");
  Result<jwt::KeyPtr> key = std::unexpected(Error(ErrorCode::kFailedPrecondition, ""));
  if (auto path = config.GetPath("api_auth", "jwt_private_key_path"); path && !path->empty()) {
    auto is_directory = jwt::IsKeyDirectory(*path);
    if (!is_directory) {
      return std::unexpected(is_directory.error().WithContext("[api_auth] jwt_private_key_path"));
    }
    if (*is_directory) {
      // Each key has its own kid from the manifest: jwt_kid does not apply.
      auto source = jwt::KeyDirectoryKeySource::Create(*path, *alg, SystemClock::Instance(),
                                                       KeyDirectoryLogging());
      if (!source) {
        return std::unexpected(source.error().WithContext("[api_auth] jwt_private_key_path"));
      }
      return std::shared_ptr<jwt::KeySource>(std::move(*source));
    }
    key = jwt::LoadKeyFile(*path, *alg, kid);
    if (!key) return std::unexpected(key.error().WithContext("[api_auth] jwt_private_key_path"));
    if (!(*key)->can_sign()) {
      return FailedPrecondition("[api_auth] jwt_private_key_path: the file holds a public key");
    }
  } else if (auto secret = config.GetString("api_auth", "jwt_secret"); secret && !secret->empty()) {
    key = jwt::Key::FromSecret(*secret, *alg, kid);
    if (!key) return std::unexpected(key.error().WithContext("[api_auth] jwt_secret"));
  } else {
    return FailedPrecondition(
        "no signing key: set [api_auth] jwt_private_key_path (preferred) or jwt_secret");
  }
  return std::make_shared<jwt::StaticKeySource>(jwt::KeySet::Single(*key));
}

Result<std::shared_ptr<jwt::KeySource>> ValidationKeySource(
    const config::Config& config, const Clock& clock,
    std::shared_ptr<jwt::KeySource> signing_keys) {
  auto alg = ConfiguredAlgorithm(config);
  if (!alg) return std::unexpected(alg.error());
  auto path = config.GetPath("api_auth", "jwt_private_key_path");
  auto source = jwt::MakeValidationKeySource(
      {.trusted_jwks_url = OptionalString(config, "api_auth", "trusted_jwks_url"),
       .private_key_path = path ? *path : std::string(),
       .secret = OptionalString(config, "api_auth", "jwt_secret"),
       .algorithm = *alg,
       .kid = OptionalString(config, "api_auth", "jwt_kid"),
       .signing_source = std::move(signing_keys),
       .directory_options = KeyDirectoryLogging()},
      [](const std::string& url) { return http::FetchUrl(url); }, clock);
  if (!source) return std::unexpected(source.error());
  return std::move(*source);
}

sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

bool WaitForShutdown(const sigset_t& signals, std::optional<double> seconds) {
  int received = -1;
  if (seconds) {
    timespec timeout{.tv_sec = static_cast<time_t>(*seconds),
                     .tv_nsec = static_cast<long>(std::fmod(*seconds, 1.0) * 1e9)};
    received = sigtimedwait(&signals, nullptr, &timeout);
  } else {
    while (sigwait(&signals, &received) != 0) {
    }
  }
  if (received != SIGTERM && received != SIGINT) return false;
  LogInfo(std::string("received ") + (received == SIGTERM ? "SIGTERM" : "SIGINT") +
          ", shutting down");
  return true;
}

Result<UserCodeComponent> StartUserCodeComponent(config::Component component,
                                                 const std::string& section,
                                                 const std::string& config_path) {
  // Before the token is read: the children may run as this process's user, and the flag
  // does not protect memory that was already copied (SPEC §5, as the supervisor).
  if (auto made = supervisor::MakeNonDumpable(); !made) return std::unexpected(made.error());
  const sigset_t signals = BlockShutdownSignals();
  auto context = StartComponent(component, config_path);
  if (!context) return std::unexpected(context.error());
  const config::Config& config = context->config;
  auto token = config.GetString(section, "api_token");
  if (!token || token->empty()) {
    return FailedPrecondition("no " + section + " token: set [" + section +
                              "] api_token (airlock standalone mints one)");
  }
  auto run_as = config.GetString(section, "run_as_user");
  auto impersonation = config.GetString("core", "default_impersonation");
  auto user = supervisor::ResolveTaskUser(
      {.run_as_user =
           run_as && !run_as->empty() ? std::optional<std::string>(*run_as) : std::nullopt,
       .default_impersonation = impersonation ? *impersonation : "",
       .allow_root_tasks = false,
       .supervisor_euid = geteuid()});
  if (!user) return std::unexpected(user.error());
  return UserCodeComponent{.context = std::move(*context),
                           .signals = signals,
                           .api_token = std::move(*token),
                           .user = std::move(*user)};
}

Result<int64_t> NonNegativeInt(const config::Config& config, const std::string& section,
                               const std::string& option) {
  auto value = config.GetInt(section, option);
  if (!value) return std::unexpected(value.error());
  if (*value < 0) return InvalidArgument("[" + section + "] " + option + " must not be negative");
  return *value;
}

void Fail(const Error& error) {
  LogError(error.message());
  throw CLI::RuntimeError(kExitFailure);
}

}  // namespace airlock::cli

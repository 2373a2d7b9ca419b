#pragma once
// What every long-running component does at start, in one place: start as that component
// (config::StartComponent: configuration, masker, masked log, secrets check), and build the
// pieces it is allowed to have (the store, the token keys) from the configuration. Failures are one
// clear sentence, naming the option, never its value.

#include <signal.h>

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "common/secrets_masker.h"
#include "config/config.h"
#include "config/process.h"
#include "jwt/key_source.h"
#include "store/store.h"
#include "supervisor/spawn.h"

namespace airlock::cli {

// StartComponent (config/process.h) is the first step of every command here.
using config::ComponentContext;
using config::StartComponent;

// The store that [database] sql_alchemy_conn names, with [core] fernet_key; migrated if
// `migrate`, else required to be at the current schema version.
Result<std::unique_ptr<store::Store>> OpenConfiguredStore(const config::Config& config,
                                                          bool migrate);

// The key that signs tokens: [api_auth] jwt_private_key_path, else jwt_secret, with
// jwt_algorithm and jwt_kid. FailedPrecondition when neither is set. When
// jwt_private_key_path is a key directory (`airlock keys rotate --dir`), its active key
// signs and rotations are picked up without a restart (jwt::KeyDirectoryKeySource, which
// logs its reloads and failed reloads); jwt_kid does not apply to it.
Result<std::shared_ptr<jwt::KeySource>> SigningKeySource(const config::Config& config);

// The keys that validate tokens: [api_auth] trusted_jwks_url (a file or an http(s) URL,
// polled), else jwt_private_key_path (every key of a key directory, or the public half of
// a key file), else jwt_secret. `signing_keys`, the component's SigningKeySource, is
// shared when it is the same key directory, so that signing and validation see one set.
Result<std::shared_ptr<jwt::KeySource>> ValidationKeySource(
    const config::Config& config, const Clock& clock,
    std::shared_ptr<jwt::KeySource> signing_keys = nullptr);

// The start shared by the components that run Dag authors' code in children and reach the
// api-server with a token of their own (the dag-processor, the triggerer): the process is
// made non-dumpable before any secret is read, shutdown signals are blocked, the component
// is started (StartComponent), `[section] api_token` is required, and the Unix user the
// children run as is resolved once from `[section] run_as_user`, else
// `[core] default_impersonation` (supervisor::ResolveTaskUser; root is refused).
struct UserCodeComponent {
  ComponentContext context;
  sigset_t signals;
  std::string api_token;
  supervisor::UnixUser user;
};
Result<UserCodeComponent> StartUserCodeComponent(config::Component component,
                                                 const std::string& section,
                                                 const std::string& config_path);

// `[section] option` as an integer ≥ 0; InvalidArgument naming the option otherwise.
Result<int64_t> NonNegativeInt(const config::Config& config, const std::string& section,
                               const std::string& option);

// How a long-running component stops on a startup error: the message goes to its log
// (through the masker), and the command ends with exit code 1.
[[noreturn]] void Fail(const Error& error);

template <typename T>
T OrFail(Result<T> result) {
  if (!result) Fail(result.error());
  return std::move(*result);
}

// Blocks SIGTERM and SIGINT in the calling thread. Call it first, before any thread
// starts: threads inherit the mask, so no thread can be killed by the signal and only
// WaitForShutdown() receives it.
sigset_t BlockShutdownSignals();

// Waits up to `seconds` (forever when nullopt) for SIGTERM or SIGINT; true, and logged,
// when one arrived.
bool WaitForShutdown(const sigset_t& signals, std::optional<double> seconds = std::nullopt);

}  // namespace airlock::cli

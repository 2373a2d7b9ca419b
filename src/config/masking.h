#pragma once
// Connects the configuration to the secrets masker (common/secrets_masker.h): the masker's
// minimum length comes from [logging] min_length_masked_secret, and the value of every
// sensitive option that a source set is registered with it before anything is logged.

#include <memory>

#include "common/secrets_masker.h"
#include "config/config.h"

namespace airlock::config {

// A masker with the configured minimum length and every configured secret registered.
std::unique_ptr<SecretsMasker> MakeSecretsMasker(const Config& config);

// Registers the value of every sensitive option set by a source other than the default
// (defaults are public: they are in config.yml). For a URL with a password
// ("postgresql://user:pw@host/db"), the password is registered on its own too, as it is
// the part a library is likely to log separately.
void RegisterConfigSecrets(const Config& config, SecretsMasker& masker);

}  // namespace airlock::config

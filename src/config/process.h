#pragma once
// What every airlock process that reads a configuration does first, in one place: load the
// configuration as its component, register the secrets it holds with a new masker, start
// the masked process log, and run the per-component secrets check. Here rather than in
// src/cli/ so that airlock-supervisor, which links no store and no CLI, starts the same way.

#include <memory>
#include <string>

#include "common/error.h"
#include "common/secrets_masker.h"
#include "config/config.h"
#include "config/schema.h"

namespace airlock::config {

struct ComponentContext {
  Config config;
  std::shared_ptr<SecretsMasker> masker;
};

// Loads the configuration as `component` (`config_path` empty: $AIRLOCK_HOME/airlock.cfg),
// registers its secrets with a new masker, starts the process log with it at
// [logging] logging_level, and runs the per-component secrets check: warnings are logged;
// with [core] strict_secrets = True a finding is a FailedPrecondition.
Result<ComponentContext> StartComponent(Component component, const std::string& config_path);

// [core] execution_api_ca_file: the CA bundle to trust for the Execution API, "" when
// unset (the system's store). FailedPrecondition, naming the option and the path, when it
// is set but cannot be read, so that a component fails at start rather than at each call.
Result<std::string> ExecutionApiCaFile(const Config& config);

}  // namespace airlock::config

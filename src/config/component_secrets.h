#pragma once
// The per-component secrets rule of SPEC §1 and §7: each component is given only the
// sensitive options it needs (config.yml's needed_by). A worker holding the database URL
// or the signing key defeats the isolation the design is built on, so a component never
// loads the value of a sensitive option it does not need (Config::Load withholds it, see
// ConfigInputs::component), and every component checks at start where such options were
// set, so the operator can remove them; `airlock config check` runs the same check.

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"

namespace airlock::config {

// A sensitive option that is set (by a source other than the default) for a component
// that does not need it.
struct UnneededSecret {
  const OptionSpec* spec = nullptr;
  std::string origin;  // where it was set, as in ResolvedOption::origin
  // Set in the default, shared $AIRLOCK_HOME/airlock.cfg (ResolvedOption::from_default_file)
  // rather than given to this component by its environment or its --config file.
  bool from_default_file = false;

  // "[database] sql_alchemy_conn is set by env AIRLOCK__DATABASE__SQL_ALCHEMY_CONN but
  // worker does not need it". Never the value.
  std::string Describe(Component component) const;
};

// Every sensitive option that `config` has set and `component` does not need, in schema
// order. An option set to the empty string carries no secret and is not reported; a
// `_cmd` source that was not run is (its output is unknown).
std::vector<UnneededSecret> FindUnneededSecrets(const Config& config, Component component);

// What a component runs at start. Returns the findings as lines to log as warnings (an
// empty vector when the configuration is clean). With `strict`, a finding that was given
// to this component — by its environment or by the file its --config names — is instead a
// FailedPrecondition error naming each such option and its source, which the component
// reports before exiting. A finding from the default $AIRLOCK_HOME/airlock.cfg stays a
// warning even with `strict`: every component of the machine reads that file (the local
// executor starts each supervisor with the scheduler's AIRLOCK_HOME), the component did not
// load the value (Config::Load withheld it), and refusing would stop every task from
// running. Callers pass [core] strict_secrets (StrictSecrets()) as `strict`.
Result<std::vector<std::string>> CheckComponentSecrets(const Config& config, Component component,
                                                       bool strict);

// [core] strict_secrets (false if it cannot be read).
bool StrictSecrets(const Config& config);

}  // namespace airlock::config

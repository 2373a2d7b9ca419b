#pragma once
// Config is airlock's configuration: every option of the schema (config.yml, compiled in)
// resolved once, at startup, from these sources, the first one found winning (SPEC §7):
//   1. the environment variable AIRLOCK__SECTION__OPTION
//   2. the environment variable AIRLOCK__SECTION__OPTION_CMD   (sensitive options only)
//   3. `option = value` in the config file
//   4. `option_cmd = command` in the config file                (sensitive options only)
//   5. the schema's default ("{AIRLOCK_HOME}" in it replaced by the AIRLOCK_HOME directory)
// A `_cmd` source names a command that is run without a shell (see command.h); its stdout,
// less one trailing newline, is the value.
//
// Load() is the only code that looks at sources, and it takes them as values (an
// environment map and the file's text), so tests inject them and nothing here reads
// global state; LoadProcessConfig() is the thin wrapper that reads the real ones.
// Load() fails, with every problem it found, on: an unknown section or option in the file
// or in an AIRLOCK__ variable (with a "did you mean" when one is close), a `_cmd` source for
// a non-sensitive option, a value that is not of the option's type, and a command that
// fails. Messages name the option and its source and never contain a value.
// Loaded for a component (ConfigInputs::component), a sensitive option that component does
// not need is withheld: its source is recorded, its value is not kept, its command not run.
//
// A Config is immutable after Load(): reads are safe from any number of threads. It points
// into the Schema it was loaded with, which must outlive it (BuiltinSchema() always does).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "config/command.h"
#include "config/schema.h"

namespace airlock::config {

enum class ValueSource { kEnvironment, kEnvironmentCommand, kFile, kFileCommand, kDefault };

// "env", "env command", "file", "file command", "default".
std::string_view ValueSourceName(ValueSource source);

struct ResolvedOption {
  const OptionSpec* spec = nullptr;
  ValueSource source = ValueSource::kDefault;
  // Where the value came from, for people, never the value itself:
  // "env AIRLOCK__API__PORT", "env AIRLOCK__API_AUTH__JWT_SECRET_CMD",
  // "/srv/airlock/airlock.cfg:12", "/srv/airlock/airlock.cfg:13 (jwt_secret_cmd)", "default".
  std::string origin;
  // nullopt when the option is not set (a null default), or when it was withheld.
  std::optional<std::string> value;
  // True for a sensitive option that a source set (to something other than "") but that
  // the component Load() loaded for does not need (see ConfigInputs::component): its value
  // was not kept and its `_cmd` source was not run. `origin` still says where it was set.
  bool withheld = false;
  // True for a withheld option whose source is a `_cmd` (the command was not run).
  bool command_not_run = false;
  // True when the value came from the config file and that file is the default one,
  // $AIRLOCK_HOME/airlock.cfg (ConfigInputs::file_is_default).
  bool from_default_file = false;

  // True when a source other than the default gave the option.
  bool is_set() const { return source != ValueSource::kDefault; }
};

struct ConfigInputs {
  // The process environment (or a test's). Only AIRLOCK__* entries are read.
  std::map<std::string, std::string> environment;
  // The config file's text; nullopt when there is no config file.
  std::optional<std::string> file_text;
  // The file's path, used only in messages and origins.
  std::string file_path = "airlock.cfg";
  // True when the file is $AIRLOCK_HOME/airlock.cfg, read because no --config named one.
  // Every component of a machine started with the same AIRLOCK_HOME reads that file (the
  // local executor's supervisors, `airlock standalone`'s children), so what it holds for
  // other components is not a sign that this one was given it (see CheckComponentSecrets).
  bool file_is_default = false;
  // Replaces "{AIRLOCK_HOME}" in defaults.
  std::string airlock_home;
  // Replaces a leading "~" in values of path options.
  std::string home;
  // The component this process runs as, if any. When set, a sensitive option this
  // component does not need is withheld (SPEC §1): where it was set is recorded, its value
  // is not kept and its `_cmd` source is not run, whatever the source. A worker given
  // AIRLOCK__DATABASE__SQL_ALCHEMY_CONN_CMD by mistake never fetches the database password,
  // and one that reads a shared airlock.cfg holding the database URL never holds the URL.
  std::optional<Component> component;
  std::chrono::milliseconds command_timeout = kDefaultCommandTimeout;
};

class Config {
 public:
  static Result<Config> Load(const Schema& schema, const ConfigInputs& inputs);

  const Schema& schema() const { return *schema_; }
  // Every option of the schema, resolved, in schema order.
  const std::vector<ResolvedOption>& options() const { return options_; }
  // nullptr if the schema has no such option.
  const ResolvedOption* Find(std::string_view section, std::string_view option) const;
  std::optional<Component> component() const { return component_; }

  // Typed getters. Each fails with InvalidArgument if the schema has no such option or
  // declares another type (a programming error), NotFound if the option is not set,
  // FailedPrecondition if it was withheld (see ConfigInputs::component).
  // Values were checked against their type by Load(), so a typed getter on a loaded
  // Config does not fail for a malformed value.
  // GetString returns the text of an option of any type.
  Result<std::string> GetString(std::string_view section, std::string_view option) const;
  Result<int64_t> GetInt(std::string_view section, std::string_view option) const;
  Result<bool> GetBool(std::string_view section, std::string_view option) const;
  Result<double> GetFloat(std::string_view section, std::string_view option) const;
  // A path option with a leading "~" or "~/" replaced by the home directory.
  Result<std::string> GetPath(std::string_view section, std::string_view option) const;

  // True if the option has a value (from any source, the default included).
  bool HasValue(std::string_view section, std::string_view option) const;

 private:
  Config(const Schema* schema, std::vector<ResolvedOption> options, std::string home,
         std::optional<Component> component)
      : schema_(schema),
        options_(std::move(options)),
        home_(std::move(home)),
        component_(component) {}

  Result<const ResolvedOption*> Lookup(std::string_view section, std::string_view option,
                                       std::optional<OptionType> type) const;

  const Schema* schema_;
  std::vector<ResolvedOption> options_;
  std::string home_;
  std::optional<Component> component_;
};

struct ProcessConfigOptions {
  // --config: the config file to read. Empty means $AIRLOCK_HOME/airlock.cfg, where a
  // missing file is not an error (a missing --config file is).
  std::string config_path;
  std::optional<Component> component;
};

// Loads BuiltinSchema() from the real process environment and config file. AIRLOCK_HOME
// defaults to $HOME/airlock.
Result<Config> LoadProcessConfig(const ProcessConfigOptions& options);

// The process environment as a map (the input LoadProcessConfig passes to Load).
std::map<std::string, std::string> ProcessEnvironment();

}  // namespace airlock::config

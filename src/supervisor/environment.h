#pragma once
// The environments that airlock gives the processes it starts: built from an allow-list,
// never by removing known-bad names from the parent's environment (a deny-list misses the
// secret nobody thought of). Pure functions of their inputs, for the tests.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace airlock::supervisor {

using EnvironmentMap = std::map<std::string, std::string>;

// The only variables copied from a parent's environment into a child's: the search path,
// the locale and the time zone. HOME is not copied: it is the target user's home.
inline constexpr std::string_view kInheritedVariables[] = {"PATH", "LANG", "LC_ALL", "TZ"};

// PATH when the parent has none.
inline constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// "NAME=value" entries, sorted by name: kInheritedVariables taken from `parent` (PATH
// defaulting to kDefaultPath), HOME = `home` when not empty, then every entry of `set`
// (which wins over the inherited ones). Nothing else of `parent` is copied.
std::vector<std::string> ScrubbedEnvironment(const EnvironmentMap& parent, std::string_view home,
                                             const EnvironmentMap& set);

// The supervisor's environment as the local executor builds it: ScrubbedEnvironment plus
// the AIRLOCK__SECTION__OPTION variables of `parent` that configure options the config
// schema marks as needed by the worker and not sensitive (the log level, the default
// impersonation, allow_root_tasks, …), and AIRLOCK_HOME. The database URL, the signing
// keys and every other sensitive option are never passed, whoever needs them.
std::vector<std::string> SupervisorEnvironment(const EnvironmentMap& parent, std::string_view home,
                                               const EnvironmentMap& set);

// `path` with `directory` in front (unless it is already its first entry), so that the
// `airlock` next to the running binary is the one a task finds.
std::string PrependToPath(std::string_view directory, std::string_view path);

// The environment of this process, as a map.
EnvironmentMap CurrentEnvironment();

}  // namespace airlock::supervisor

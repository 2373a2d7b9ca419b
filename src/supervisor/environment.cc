#include "supervisor/environment.h"

#include "config/schema.h"

extern char** environ;

namespace airlock::supervisor {

std::vector<std::string> ScrubbedEnvironment(const EnvironmentMap& parent, std::string_view home,
                                             const EnvironmentMap& set) {
  EnvironmentMap env;
  for (std::string_view name : kInheritedVariables) {
    if (auto it = parent.find(std::string(name)); it != parent.end()) env[it->first] = it->second;
  }
  if (!env.contains("PATH")) env["PATH"] = std::string(kDefaultPath);
  if (!home.empty()) env["HOME"] = std::string(home);
  for (const auto& [name, value] : set) env[name] = value;
  std::vector<std::string> entries;
  entries.reserve(env.size());
  for (const auto& [name, value] : env) {
    // A name with '=' or an empty name cannot be represented; such entries are dropped.
    if (name.empty() || name.find('=') != std::string::npos) continue;
    entries.push_back(name + "=" + value);
  }
  return entries;
}

std::vector<std::string> SupervisorEnvironment(const EnvironmentMap& parent, std::string_view home,
                                               const EnvironmentMap& set) {
  EnvironmentMap forwarded;
  for (const config::OptionSpec* option : config::BuiltinSchema().AllOptions()) {
    if (option->sensitive || !option->NeededBy(config::Component::kWorker)) continue;
    if (auto it = parent.find(option->EnvironmentVariable()); it != parent.end()) {
      forwarded[it->first] = it->second;
    }
  }
  if (auto it = parent.find("AIRLOCK_HOME"); it != parent.end()) forwarded[it->first] = it->second;
  for (const auto& [name, value] : set) forwarded[name] = value;
  return ScrubbedEnvironment(parent, home, forwarded);
}

std::string PrependToPath(std::string_view directory, std::string_view path) {
  if (directory.empty()) return std::string(path);
  std::string_view first = path.substr(0, path.find(':'));
  if (first == directory) return std::string(path);
  if (path.empty()) return std::string(directory);
  return std::string(directory) + ":" + std::string(path);
}

EnvironmentMap CurrentEnvironment() {
  EnvironmentMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

}  // namespace airlock::supervisor

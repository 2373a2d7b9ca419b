#include "config/process.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "config/component_secrets.h"
#include "config/masking.h"

namespace airlock::config {

namespace {

// [logging] logging_level, as Airflow spells its levels.
Result<LogLevel> ConfiguredLogLevel(const Config& config) {
  auto setting = config.GetString("logging", "logging_level");
  std::string level = setting ? *setting : std::string();
  for (char& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (level == "DEBUG") return LogLevel::kDebug;
  if (level == "INFO" || level.empty()) return LogLevel::kInfo;
  if (level == "WARNING" || level == "WARN") return LogLevel::kWarning;
  if (level == "ERROR" || level == "CRITICAL") return LogLevel::kError;
  return InvalidArgument("[logging] logging_level: unknown level '" + level +
                         "' (DEBUG, INFO, WARNING, ERROR or CRITICAL)");
}

}  // namespace

Result<ComponentContext> StartComponent(Component component, const std::string& config_path) {
  auto config = LoadProcessConfig({.config_path = config_path, .component = component});
  if (!config) return std::unexpected(config.error());
  std::shared_ptr<SecretsMasker> masker = MakeSecretsMasker(*config);
  auto level = ConfiguredLogLevel(*config);
  if (!level) return std::unexpected(level.error());
  InitLogging(ComponentName(component), masker, *level);
  auto findings = CheckComponentSecrets(*config, component, StrictSecrets(*config));
  if (!findings) return std::unexpected(findings.error());
  for (const auto& line : *findings) LogWarning(line);
  return ComponentContext{.config = std::move(*config), .masker = std::move(masker)};
}

Result<std::string> ExecutionApiCaFile(const Config& config) {
  auto path = config.GetPath("core", "execution_api_ca_file");
  if (!path) {
    if (path.error().code() == ErrorCode::kNotFound) return std::string();
    return std::unexpected(path.error().WithContext("[core] execution_api_ca_file"));
  }
  if (path->empty()) return std::string();
  if (access(path->c_str(), R_OK) != 0) {
    return FailedPrecondition("[core] execution_api_ca_file: cannot read " + *path + ": " +
                              std::strerror(errno));
  }
  return *path;
}

}  // namespace airlock::config

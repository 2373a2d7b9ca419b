#include "config/component_secrets.h"

namespace airlock::config {

std::string UnneededSecret::Describe(Component component) const {
  return spec->DisplayName() + " is set by " + origin + " but " +
         std::string(ComponentName(component)) + " does not need it";
}

std::vector<UnneededSecret> FindUnneededSecrets(const Config& config, Component component) {
  std::vector<UnneededSecret> found;
  for (const auto& r : config.options()) {
    if (!r.spec->sensitive || !r.is_set() || r.spec->NeededBy(component)) continue;
    if (r.value && r.value->empty()) continue;
    found.push_back({r.spec, r.origin, r.from_default_file});
  }
  return found;
}

Result<std::vector<std::string>> CheckComponentSecrets(const Config& config, Component component,
                                                       bool strict) {
  std::vector<std::string> lines;
  std::vector<std::string> given;  // the findings strict refuses
  for (const auto& finding : FindUnneededSecrets(config, component)) {
    lines.push_back(finding.Describe(component));
    if (!finding.from_default_file) given.push_back(lines.back());
  }
  if (!strict || given.empty()) return lines;
  std::string message = std::string(ComponentName(component)) +
                        " refuses to start because [core] strict_secrets is True and it was "
                        "given sensitive options it does not need: ";
  for (size_t i = 0; i < given.size(); ++i) {
    if (i > 0) message += "; ";
    message += given[i];
  }
  return FailedPrecondition(std::move(message));
}

bool StrictSecrets(const Config& config) {
  auto strict = config.GetBool("core", "strict_secrets");
  return strict.value_or(false);
}

}  // namespace airlock::config

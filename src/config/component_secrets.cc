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
    found.push_back({r.spec, r.origin});
  }
  return found;
}

Result<std::vector<std::string>> CheckComponentSecrets(const Config& config, Component component,
                                                       bool strict) {
  std::vector<std::string> lines;
  for (const auto& finding : FindUnneededSecrets(config, component)) {
    lines.push_back(finding.Describe(component));
  }
  if (!strict || lines.empty()) return lines;
  std::string message = std::string(ComponentName(component)) +
                        " refuses to start because [core] strict_secrets is True and it was "
                        "given sensitive options it does not need: ";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) message += "; ";
    message += lines[i];
  }
  return FailedPrecondition(std::move(message));
}

bool StrictSecrets(const Config& config) {
  auto strict = config.GetBool("core", "strict_secrets");
  return strict.value_or(false);
}

}  // namespace airlock::config

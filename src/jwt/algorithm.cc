#include "jwt/algorithm.h"

#include <strings.h>

namespace airlock::jwt {

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHS512:
      return "HS512";
    case Algorithm::kRS256:
      return "RS256";
    case Algorithm::kRS512:
      return "RS512";
    case Algorithm::kEdDSA:
      return "EdDSA";
  }
  return "?";
}

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  if (name == "HS512") return Algorithm::kHS512;
  if (name == "RS256") return Algorithm::kRS256;
  if (name == "RS512") return Algorithm::kRS512;
  if (name == "EdDSA") return Algorithm::kEdDSA;
  return std::nullopt;
}

bool ParseAlgorithmSetting(std::string_view setting, std::optional<Algorithm>* out) {
  if (setting.size() == 5 && strncasecmp(setting.data(), "GUESS", 5) == 0) {
    *out = std::nullopt;
    return true;
  }
  auto alg = ParseAlgorithm(setting);
  if (!alg) return false;
  *out = alg;
  return true;
}

}  // namespace airlock::jwt

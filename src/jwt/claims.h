#pragma once
// Claims: what a validated token says. Registered claims are typed; the payload JSON is
// kept verbatim so that a token can be reissued with the same claims.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jwt/algorithm.h"

namespace airlock::jwt {

struct Claims {
  std::optional<std::string> jti;
  std::optional<std::string> iss;
  std::optional<std::string> sub;
  std::vector<std::string> aud;  // a string "aud" becomes one element
  int64_t exp = 0;
  int64_t iat = 0;
  std::optional<int64_t> nbf;
  std::optional<std::string> scope;
  std::optional<std::string> role;
  // The verified payload, exactly as decoded (a JSON object).
  std::string payload_json;
  // Header facts.
  Algorithm alg = Algorithm::kHS512;
  std::string kid;  // empty if the token had none
};

}  // namespace airlock::jwt

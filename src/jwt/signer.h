#pragma once
// TokenSigner mints tokens with the active key of its KeySource.
// Header {"alg","kid","typ":"JWT"}; HS512 tokens carry no "kid", even if the secret has one.
// Claims: a fresh "jti" (uuid4 hex, CSPRNG) for every token, "iss" if set, "aud", "sub",
// "iat", "nbf" = "iat", "exp" = "iat" + ttl, then any extra claims.
// Safe from any number of threads.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "jwt/claims.h"
#include "jwt/key_source.h"

namespace airlock::jwt {

struct MintRequest {
  std::string sub;
  std::vector<std::string> aud;  // one element is written as a string, more as an array
  std::optional<std::string> iss;
  int64_t ttl_seconds = 600;
  std::optional<std::string> scope;
  std::optional<std::string> role;
  // Extra claims as (name, JSON text). jti/iss/aud/sub/iat/nbf/exp are refused, and so is
  // "scope" or "role" when the field above is also set.
  std::vector<std::pair<std::string, std::string>> extra_claims;
};

class TokenSigner {
 public:
  TokenSigner(std::shared_ptr<KeySource> keys, const Clock& clock);

  // FailedPrecondition if no active key can sign; InvalidArgument for bad extra claims
  // (not JSON, or a registered name).
  Result<std::string> Mint(const MintRequest& request) const;

  // A new token with the same claims as `claims` (its payload_json) and a fresh
  // jti/iat/nbf/exp = now + ttl_seconds.
  Result<std::string> Reissue(const Claims& claims, int64_t ttl_seconds) const;

 private:
  Result<std::string> SignPayload(const Key& key, std::string_view payload_json) const;

  std::shared_ptr<KeySource> keys_;
  const Clock& clock_;
};

}  // namespace airlock::jwt

#pragma once
// Validator checks compact JWS tokens and returns their claims.
// Built once from ValidatorOptions and immutable afterwards: Validate() is safe from any
// number of threads. Key rotation is the KeySource's job, not the Validator's.
// Defaults, each deliberate:
//  - the algorithm is bound to the key the token names, never read from the token: the
//    header "alg" must equal the key's pinned algorithm;
//  - "kid" must name a loaded key; a token without "kid" is accepted only by a single-key
//    source (a secret or one key file), never by a JWKS, and no key is ever "tried";
//  - "exp" and "iat" are required, "nbf" is checked if present; leeway applies to each;
//  - "aud" must contain one configured audience (exact match); "iss" must match exactly
//    if an issuer is configured;
//  - parsing is strict (see the rules in validator.cc), tokens over 8 KiB are refused
//    before any parsing, and the signature is checked before the payload is parsed.
// Error messages say what failed and never contain the token or a key.

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "jwt/claims.h"
#include "jwt/key_source.h"

namespace airlock::jwt {

inline constexpr size_t kMaxTokenBytes = 8192;
inline constexpr int64_t kDefaultLeewaySeconds = 10;
// Leeway above a day is a configuration mistake, and bounding it keeps time arithmetic
// far from overflow.
inline constexpr int64_t kMaxLeewaySeconds = 86400;
// NumericDates are accepted in [0, 9999-12-31T23:59:59Z]; anything else is out of range.
inline constexpr int64_t kMaxNumericDate = 253402300799;
inline constexpr size_t kMaxKidLength = 128;
inline constexpr int kMaxJsonDepth = 16;

// Why a token was refused. Callers map these to protocol answers (REST: kExpired →
// 401 "Token Expired", everything else → 403).
enum class Failure {
  kTooLarge,
  kMalformed,             // segments, base64url, JSON, types
  kUnsupportedAlgorithm,  // "none", "HS256", "hs512", ...
  kForbiddenHeader,       // crit, jku, x5u, jwk, x5c
  kBadKid,                // not a 1..128 [A-Za-z0-9._-] string
  kUnknownKid,
  kMissingKid,
  kAlgorithmMismatch,  // header alg differs from the key's pinned alg
  kAlgorithmNotAllowed,
  kBadSignature,
  kExpired,
  kNotYetValid,     // nbf in the future
  kIssuedInFuture,  // iat in the future
  kMissingClaim,    // exp or iat absent
  kBadClaim,        // wrong type or out of range
  kWrongAudience,
  kWrongIssuer,
};

std::string_view FailureName(Failure failure);

struct ValidationError {
  Failure failure;
  std::string message;  // "token has expired", "signature verification failed", ...
};

struct ValidatorOptions {
  // The token's "aud" must contain at least one of these. Must not be empty.
  std::vector<std::string> audiences;
  // If set, "iss" must equal it.
  std::optional<std::string> issuer;
  int64_t leeway_seconds = kDefaultLeewaySeconds;
  // If not empty, only these algorithms are accepted (on top of the key binding).
  std::vector<Algorithm> allowed_algorithms;
  // Remember up to this many verified tokens (0: no cache). A worker sends the same token
  // with every heartbeat, and an Ed25519 or RSA verify costs tens of microseconds, so the
  // api-server keeps the claims of tokens it has verified, keyed by the exact token text.
  // That is sound because parsing is canonical (one claims set has one encoding) and the
  // signature covers every byte. A cached token is still refused once it expires (exp,
  // iat and nbf are checked against the clock on every call), and the whole cache is
  // bypassed when the key set changes (a rotated-out key's tokens are verified afresh).
  size_t cache_capacity = 0;
};

class VerifiedTokenCache;

class Validator {
 public:
  // InvalidArgument for empty audiences or a leeway outside [0, kMaxLeewaySeconds].
  static Result<std::unique_ptr<Validator>> Create(std::shared_ptr<KeySource> keys,
                                                   ValidatorOptions options, const Clock& clock);

  std::expected<Claims, ValidationError> Validate(std::string_view token) const;
  // The same checks; the claims are shared with the verified-token cache instead of
  // copied (a cache hit then allocates nothing).
  std::expected<std::shared_ptr<const Claims>, ValidationError> ValidateShared(
      std::string_view token) const;

  const ValidatorOptions& options() const { return options_; }
  // Validations answered from the verified-token cache so far.
  uint64_t cache_hits() const { return cache_hits_.load(std::memory_order_relaxed); }

 private:
  Validator(std::shared_ptr<KeySource> keys, ValidatorOptions options, const Clock& clock);

  std::expected<Claims, ValidationError> ValidateUncached(std::string_view token) const;
  std::expected<void, ValidationError> CheckTimes(const Claims& claims) const;

  std::shared_ptr<KeySource> keys_;
  ValidatorOptions options_;
  const Clock& clock_;
  std::shared_ptr<VerifiedTokenCache> cache_;  // null when cache_capacity is 0
  mutable std::atomic<uint64_t> cache_hits_{0};
};

// The compact token split into its parts, for `token inspect` and tests: strict segment,
// base64url and header-JSON rules apply, nothing else (an "alg":"none" header decodes, so
// that it can be shown). Nothing here is verified.
struct DecodedToken {
  std::string header_json;
  std::string payload;  // decoded bytes (JSON for JWTs)
  std::string signature;
};
std::expected<DecodedToken, ValidationError> DecodeUnverified(std::string_view token);

// Checks only the JWS signature of a compact token with `key` (used for RFC 8037's
// non-JSON example payload). The header's "alg" must equal the key's.
bool VerifyCompactSignature(std::string_view token, const Key& key);

}  // namespace airlock::jwt

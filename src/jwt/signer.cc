#include "jwt/signer.h"

#include <boost/json/serialize.hpp>

#include "common/random.h"
#include "jwt/base64url.h"
#include "jwt/strict_json.h"
#include "jwt/validator.h"

namespace airlock::jwt {

namespace json = boost::json;

namespace {

// Claims the signer writes itself; extra claims may not use these names. ("scope" and
// "role" may come as extras when the request does not set them; a clash is refused.)
constexpr std::string_view kReservedClaims[] = {"jti", "iss", "aud", "sub", "iat", "nbf", "exp"};

// {"alg":…,"kid":…,"typ":"JWT"}. Kids are restricted to [A-Za-z0-9._-] on import, so
// nothing needs escaping.
std::string HeaderJson(const Key& key) {
  std::string out = "{\"alg\":\"";
  out += AlgorithmName(key.algorithm());
  out += "\",";
  if (!key.kid().empty()) {
    out += "\"kid\":\"";
    out += key.kid();
    out += "\",";
  }
  out += "\"typ\":\"JWT\"}";
  return out;
}

// now + ttl_seconds, or InvalidArgument unless the lifetime is positive and "exp" stays
// within the NumericDate range the Validator accepts (which also rules out overflow).
Result<int64_t> Expiry(int64_t now, int64_t ttl_seconds) {
  int64_t exp = 0;
  if (ttl_seconds <= 0 || __builtin_add_overflow(now, ttl_seconds, &exp) || exp > kMaxNumericDate) {
    return InvalidArgument("token lifetime must be positive and end by 9999-12-31");
  }
  return exp;
}

Result<const Key*> SigningKey(const KeySet& set) {
  const Key* key = set.Active();
  if (key == nullptr) return FailedPrecondition("no active signing key");
  if (!key->can_sign()) return FailedPrecondition("the active key is public only");
  return key;
}

}  // namespace

TokenSigner::TokenSigner(std::shared_ptr<KeySource> keys, const Clock& clock)
    : keys_(std::move(keys)), clock_(clock) {}

Result<std::string> TokenSigner::SignPayload(const Key& key, std::string_view payload_json) const {
  std::string token;
  token.reserve(512);
  Base64UrlEncodeTo(HeaderJson(key), token);
  token.push_back('.');
  Base64UrlEncodeTo(payload_json, token);
  auto signature = key.Sign(token);
  if (!signature) return std::unexpected(signature.error());
  token.push_back('.');
  Base64UrlEncodeTo(*signature, token);
  return token;
}

Result<std::string> TokenSigner::Mint(const MintRequest& request) const {
  std::shared_ptr<const KeySet> set = keys_->Current();
  auto key = SigningKey(*set);
  if (!key) return std::unexpected(key.error());
  if (request.aud.empty()) return InvalidArgument("a token needs an audience");
  const int64_t now = clock_.NowSeconds();
  auto exp = Expiry(now, request.ttl_seconds);
  if (!exp) return std::unexpected(exp.error());
  auto jti = Uuid4Hex();
  if (!jti) return std::unexpected(jti.error());

  json::object claims;
  claims.reserve(9 + request.extra_claims.size());
  claims["jti"] = *jti;
  if (request.iss) claims["iss"] = *request.iss;
  if (request.aud.size() == 1) {
    claims["aud"] = request.aud[0];
  } else {
    json::array aud;
    for (const auto& a : request.aud) aud.emplace_back(a);
    claims["aud"] = std::move(aud);
  }
  claims["sub"] = request.sub;
  if (request.scope) claims["scope"] = *request.scope;
  if (request.role) claims["role"] = *request.role;
  claims["iat"] = now;
  claims["nbf"] = now;
  claims["exp"] = *exp;
  for (const auto& [name, value_json] : request.extra_claims) {
    for (std::string_view reserved : kReservedClaims) {
      if (name == reserved) {
        return InvalidArgument("claim '" + name +
                               "' is set by the signer and cannot be overridden");
      }
    }
    if (claims.contains(name)) return InvalidArgument("claim '" + name + "' given twice");
    auto value = ParseStrictJson(value_json);
    if (!value) return std::unexpected(value.error().WithContext("claim '" + name + "'"));
    claims[name] = std::move(*value);
  }
  return SignPayload(**key, json::serialize(claims));
}

Result<std::string> TokenSigner::Reissue(const Claims& old, int64_t ttl_seconds) const {
  std::shared_ptr<const KeySet> set = keys_->Current();
  auto key = SigningKey(*set);
  if (!key) return std::unexpected(key.error());
  auto claims = ParseStrictJsonObject(old.payload_json);
  if (!claims) return std::unexpected(claims.error().WithContext("reissue"));
  const int64_t now = clock_.NowSeconds();
  auto exp = Expiry(now, ttl_seconds);
  if (!exp) return std::unexpected(exp.error());
  auto jti = Uuid4Hex();
  if (!jti) return std::unexpected(jti.error());
  (*claims)["jti"] = *jti;
  (*claims)["iat"] = now;
  (*claims)["nbf"] = now;
  (*claims)["exp"] = *exp;
  return SignPayload(**key, json::serialize(*claims));
}

}  // namespace airlock::jwt

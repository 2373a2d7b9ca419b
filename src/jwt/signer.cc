#include "jwt/signer.h"

#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <charconv>

#include "json/strict_json.h"
#include "jwt/base64url.h"
#include "jwt/jti.h"
#include "jwt/validator.h"

namespace airlock::jwt {

namespace json = boost::json;

namespace {

// Claims the signer writes itself; extra claims may not use these names. ("scope" and
// "role" may come as extras when the request does not set them; a clash is refused.)
constexpr std::string_view kReservedClaims[] = {"jti", "iss", "aud", "sub", "iat", "nbf", "exp"};

// {"alg":…,"kid":…,"typ":"JWT"}. Kids are restricted to [A-Za-z0-9._-] on import, so
// nothing needs escaping. HS512 tokens never carry a kid (SPEC §2), even when the secret
// has one ([api_auth] jwt_kid): it would only name a key nobody can look up.
std::string HeaderJson(const Key& key) {
  std::string out = "{\"alg\":\"";
  out += AlgorithmName(key.algorithm());
  out += "\",";
  if (key.algorithm() != Algorithm::kHS512 && !key.kid().empty()) {
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

// Appends `s` as a JSON string: quoted and escaped by Boost.JSON's serializer, so that a
// caller's string comes out exactly as json::serialize would write it.
void AppendJsonString(json::serializer& sr, std::string_view s, std::string& out) {
  sr.reset(json::string_view(s.data(), s.size()));
  char buf[256];
  while (!sr.done()) {
    json::string_view part = sr.read(buf, sizeof buf);
    out.append(part.data(), part.size());
  }
}

void AppendInt(int64_t v, std::string& out) {
  char buf[24];  // an int64 has at most 20 characters
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
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
  auto jti = NewJti();
  if (!jti) return std::unexpected(jti.error());

  // The claims are written directly, in the order the signer has always used (jti, iss,
  // aud, sub, scope, role, iat, nbf, exp, extras), rather than built as a json::object
  // and serialized: the names are fixed, and every string that comes from the request
  // goes through Boost.JSON's serializer, so the bytes are the same as before.
  json::serializer sr;
  std::string payload;
  payload.reserve(256);
  payload += "{\"jti\":\"";
  payload += *jti;  // 32 hex digits: nothing to escape
  payload += '"';
  if (request.iss) {
    payload += ",\"iss\":";
    AppendJsonString(sr, *request.iss, payload);
  }
  payload += ",\"aud\":";
  if (request.aud.size() == 1) {
    AppendJsonString(sr, request.aud[0], payload);
  } else {
    payload += '[';
    for (size_t i = 0; i < request.aud.size(); ++i) {
      if (i > 0) payload += ',';
      AppendJsonString(sr, request.aud[i], payload);
    }
    payload += ']';
  }
  payload += ",\"sub\":";
  AppendJsonString(sr, request.sub, payload);
  if (request.scope) {
    payload += ",\"scope\":";
    AppendJsonString(sr, *request.scope, payload);
  }
  if (request.role) {
    payload += ",\"role\":";
    AppendJsonString(sr, *request.role, payload);
  }
  payload += ",\"iat\":";
  AppendInt(now, payload);
  payload += ",\"nbf\":";
  AppendInt(now, payload);
  payload += ",\"exp\":";
  AppendInt(*exp, payload);
  for (size_t i = 0; i < request.extra_claims.size(); ++i) {
    const auto& [name, value_json] = request.extra_claims[i];
    for (std::string_view reserved : kReservedClaims) {
      if (name == reserved) {
        return InvalidArgument("claim '" + name +
                               "' is set by the signer and cannot be overridden");
      }
    }
    bool twice = (name == "scope" && request.scope) || (name == "role" && request.role);
    for (size_t j = 0; j < i && !twice; ++j) twice = request.extra_claims[j].first == name;
    if (twice) return InvalidArgument("claim '" + name + "' given twice");
    auto value = ParseStrictJson(value_json);
    if (!value) return std::unexpected(value.error().WithContext("claim '" + name + "'"));
    payload += ',';
    AppendJsonString(sr, name, payload);
    payload += ':';
    payload += json::serialize(*value);
  }
  payload += '}';
  return SignPayload(**key, payload);
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
  auto jti = NewJti();
  if (!jti) return std::unexpected(jti.error());
  (*claims)["jti"] = *jti;
  (*claims)["iat"] = now;
  (*claims)["nbf"] = now;
  (*claims)["exp"] = *exp;
  return SignPayload(**key, json::serialize(*claims));
}

}  // namespace airlock::jwt

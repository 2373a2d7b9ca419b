#include "jwt/validator.h"

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <cmath>
#include <functional>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "jwt/base64url.h"
#include "jwt/jose_object.h"

// The strict rules, in the order they are applied (each has a case in
// testdata/tokens/hostile.json):
//  1. at most kMaxTokenBytes, before anything is parsed;
//  2. exactly three '.'-separated segments;
//  3. each segment canonical unpadded base64url (see base64url.h);
//  4. header and payload: UTF-8 JSON objects, no duplicate names, depth ≤ kMaxJsonDepth
//     (read by JoseObject: compact objects are scanned without building a document, with
//     the parser's verdict; the fuzz target compares the two readings);
//  5. header: "alg" a string naming a supported algorithm (case-sensitive); "crit", "jku",
//     "x5u", "jwk", "x5c" refused; "kid", if present, a 1..128 [A-Za-z0-9._-] string
//     naming a loaded key; "typ", if present, "JWT";
//  6. the header "alg" equals the pinned algorithm of the key;
//  7. the signature (HMAC compared in constant time) — before the payload is parsed;
//  8. "exp" and "iat" required, "nbf" optional: JSON numbers in [0, kMaxNumericDate];
//  9. exp > now − leeway, iat ≤ now + leeway, nbf ≤ now + leeway;
// 10. "aud" a string or array of strings containing a configured audience; "iss" equal
//     to the configured issuer if one is set; "sub", "jti", "scope", "role" strings.

namespace airlock::jwt {

namespace json = boost::json;

std::string_view FailureName(Failure failure) {
  switch (failure) {
    case Failure::kTooLarge:
      return "too_large";
    case Failure::kMalformed:
      return "malformed";
    case Failure::kUnsupportedAlgorithm:
      return "unsupported_algorithm";
    case Failure::kForbiddenHeader:
      return "forbidden_header";
    case Failure::kBadKid:
      return "bad_kid";
    case Failure::kUnknownKid:
      return "unknown_kid";
    case Failure::kMissingKid:
      return "missing_kid";
    case Failure::kAlgorithmMismatch:
      return "algorithm_mismatch";
    case Failure::kAlgorithmNotAllowed:
      return "algorithm_not_allowed";
    case Failure::kBadSignature:
      return "bad_signature";
    case Failure::kExpired:
      return "expired";
    case Failure::kNotYetValid:
      return "not_yet_valid";
    case Failure::kIssuedInFuture:
      return "issued_in_future";
    case Failure::kMissingClaim:
      return "missing_claim";
    case Failure::kBadClaim:
      return "bad_claim";
    case Failure::kWrongAudience:
      return "wrong_audience";
    case Failure::kWrongIssuer:
      return "wrong_issuer";
  }
  return "?";
}

namespace {

std::unexpected<ValidationError> Fail(Failure failure, std::string message) {
  return std::unexpected(ValidationError{failure, std::move(message)});
}

bool IsValidKid(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidLength) return false;
  for (char c : kid) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

struct Segments {
  std::string_view header, payload, signature, signing_input;
};

std::expected<Segments, ValidationError> Split(std::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return Fail(Failure::kTooLarge, "token is larger than 8192 bytes");
  }
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return Fail(Failure::kMalformed, "token must have exactly three segments");
  }
  return Segments{token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1),
                  token.substr(0, d2)};
}

// The checked header: what the rest of validation needs from it.
struct Header {
  Algorithm alg;
  std::string_view kid;  // points into the parsed object; empty if absent
  bool has_kid = false;
};

std::expected<Header, ValidationError> CheckHeader(const JoseObject& header) {
  Header out{};
  bool has_alg = false;
  for (const JoseMember& member : header.members()) {
    const std::string_view name = member.name;
    const JoseValue& v = member.value;
    const bool is_string = v.kind == JoseValue::Kind::kString;
    if (name == "alg") {
      if (!is_string) return Fail(Failure::kMalformed, "header 'alg' is not a string");
      auto alg = ParseAlgorithm(v.string);
      if (!alg) return Fail(Failure::kUnsupportedAlgorithm, "token algorithm is not accepted");
      out.alg = *alg;
      has_alg = true;
    } else if (name == "kid") {
      if (!is_string || !IsValidKid(v.string)) {
        return Fail(Failure::kBadKid, "header 'kid' must be 1-128 characters from [A-Za-z0-9._-]");
      }
      out.kid = v.string;
      out.has_kid = true;
    } else if (name == "typ") {
      if (!is_string || v.string != "JWT") {
        return Fail(Failure::kMalformed, "header 'typ' must be \"JWT\"");
      }
    } else if (name == "crit" || name == "jku" || name == "x5u" || name == "jwk" || name == "x5c") {
      return Fail(Failure::kForbiddenHeader,
                  "header parameter '" + std::string(name) + "' is not allowed");
    }
  }
  if (!has_alg) return Fail(Failure::kMalformed, "header has no 'alg'");
  return out;
}

// A NumericDate claim: a JSON number in [0, kMaxNumericDate]; fractions are truncated.
std::expected<int64_t, ValidationError> NumericDate(const JoseValue& v, std::string_view name) {
  auto out_of_range = [&] {
    return Fail(Failure::kBadClaim, "'" + std::string(name) + "' is out of range");
  };
  switch (v.kind) {
    case JoseValue::Kind::kInt64: {
      int64_t i = v.int64;
      if (i < 0 || i > kMaxNumericDate) return out_of_range();
      return i;
    }
    case JoseValue::Kind::kUint64: {
      uint64_t u = v.uint64;
      if (u > static_cast<uint64_t>(kMaxNumericDate)) return out_of_range();
      return static_cast<int64_t>(u);
    }
    case JoseValue::Kind::kDouble: {
      double d = v.number;
      if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMaxNumericDate)) {
        return out_of_range();
      }
      return static_cast<int64_t>(d);
    }
    default:
      return Fail(Failure::kBadClaim, "'" + std::string(name) + "' must be a number");
  }
}

// A string claim that may be absent (`v` null).
std::expected<std::optional<std::string>, ValidationError> OptionalString(const JoseValue* v,
                                                                          std::string_view name) {
  if (v == nullptr) return std::optional<std::string>();
  if (v->kind != JoseValue::Kind::kString) {
    return Fail(Failure::kBadClaim, "'" + std::string(name) + "' must be a string");
  }
  return std::optional<std::string>(v->string);
}

// The registered claims of a payload, found in one pass over its members instead of one
// look-up per claim (the parser refuses duplicate names, so each appears at most once).
// Null where absent.
struct RegisteredClaims {
  const JoseValue *exp = nullptr, *iat = nullptr, *nbf = nullptr, *aud = nullptr, *iss = nullptr,
                  *sub = nullptr, *jti = nullptr, *scope = nullptr, *role = nullptr;
};

RegisteredClaims FindRegisteredClaims(const JoseObject& payload) {
  RegisteredClaims out;
  for (const JoseMember& member : payload.members()) {
    const std::string_view name = member.name;
    const JoseValue* v = &member.value;
    if (name == "exp") {
      out.exp = v;
    } else if (name == "iat") {
      out.iat = v;
    } else if (name == "nbf") {
      out.nbf = v;
    } else if (name == "aud") {
      out.aud = v;
    } else if (name == "iss") {
      out.iss = v;
    } else if (name == "sub") {
      out.sub = v;
    } else if (name == "jti") {
      out.jti = v;
    } else if (name == "scope") {
      out.scope = v;
    } else if (name == "role") {
      out.role = v;
    }
  }
  return out;
}

// a − b and a + b with the result clamped instead of overflowing.
int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_sub_overflow(a, b, &r) ? INT64_MIN : r;
}
int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

}  // namespace

// Verified tokens by their exact text, in shards so that concurrent requests rarely
// contend. Each entry remembers the key set it was verified against. A full shard drops
// an arbitrary entry (a worker whose token is dropped pays one verify).
class VerifiedTokenCache {
 public:
  explicit VerifiedTokenCache(size_t capacity)
      : per_shard_(std::max<size_t>(1, capacity / kShards)) {}

  std::shared_ptr<const Claims> Find(std::string_view token, const KeySet* keys) {
    Shard& shard = ShardFor(token);
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(token);
    if (it == shard.entries.end() || it->second.keys.get() != keys) return nullptr;
    return it->second.claims;
  }

  void Insert(std::string_view token, std::shared_ptr<const KeySet> keys,
              std::shared_ptr<const Claims> claims) {
    Shard& shard = ShardFor(token);
    std::lock_guard lock(shard.mu);
    if (shard.entries.size() >= per_shard_ && !shard.entries.contains(token)) {
      shard.entries.erase(shard.entries.begin());
    }
    shard.entries.insert_or_assign(std::string(token), Entry{std::move(keys), std::move(claims)});
  }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    // Held, not only compared, so that a freed set's address cannot be reused by a new
    // set while an entry still names it.
    std::shared_ptr<const KeySet> keys;
    std::shared_ptr<const Claims> claims;
  };
  // Hashes the last bytes of a token (and its length), where the whole text took longer
  // to hash than the rest of the lookup. They lie in the signature, which differs between
  // any two tokens the cache holds: only verified tokens enter it, so an entry's signature
  // was made with a key, not chosen by whoever sent the token. Equal keys are still
  // compared in full.
  struct TailHash {
    using is_transparent = void;
    static constexpr size_t kBytes = 32;
    size_t operator()(std::string_view token) const {
      const std::string_view tail = token.substr(token.size() - std::min(token.size(), kBytes));
      return std::hash<std::string_view>{}(tail) ^ token.size();
    }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry, TailHash, std::equal_to<>> entries;  // Guarded by mu.
  };
  // The shard of a token from three characters near its end, which belong to the
  // signature and are spread evenly (not the very last one: it holds only a few bits).
  Shard& ShardFor(std::string_view token) {
    size_t h = 0;
    for (size_t k = 2; k <= 4 && k <= token.size(); ++k) {
      h = h * 31 + static_cast<unsigned char>(token[token.size() - k]);
    }
    return shards_[h % kShards];
  }

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

Validator::Validator(std::shared_ptr<KeySource> keys, ValidatorOptions options, const Clock& clock)
    : keys_(std::move(keys)), options_(std::move(options)), clock_(clock) {
  if (options_.cache_capacity > 0) {
    cache_ = std::make_shared<VerifiedTokenCache>(options_.cache_capacity);
  }
}

std::expected<void, ValidationError> Validator::CheckTimes(const Claims& claims) const {
  const int64_t now = clock_.NowSeconds();
  const int64_t leeway = options_.leeway_seconds;
  if (claims.exp <= SaturatingSub(now, leeway)) {
    return Fail(Failure::kExpired, "token has expired");
  }
  if (claims.iat > SaturatingAdd(now, leeway)) {
    return Fail(Failure::kIssuedInFuture, "token was issued in the future (iat)");
  }
  if (claims.nbf && *claims.nbf > SaturatingAdd(now, leeway)) {
    return Fail(Failure::kNotYetValid, "token is not valid yet (nbf)");
  }
  return {};
}

Result<std::unique_ptr<Validator>> Validator::Create(std::shared_ptr<KeySource> keys,
                                                     ValidatorOptions options, const Clock& clock) {
  if (!keys) return InvalidArgument("validator needs a key source");
  if (options.audiences.empty()) return InvalidArgument("validator needs at least one audience");
  if (options.leeway_seconds < 0 || options.leeway_seconds > kMaxLeewaySeconds) {
    return InvalidArgument("leeway must be between 0 and 86400 seconds");
  }
  return std::unique_ptr<Validator>(new Validator(std::move(keys), std::move(options), clock));
}

std::expected<Claims, ValidationError> Validator::Validate(std::string_view token) const {
  auto claims = ValidateShared(token);
  if (!claims) return std::unexpected(claims.error());
  return **claims;
}

std::expected<std::shared_ptr<const Claims>, ValidationError> Validator::ValidateShared(
    std::string_view token) const {
  std::shared_ptr<const KeySet> current;
  if (cache_ && token.size() <= kMaxTokenBytes) {
    current = keys_->Current();
    if (auto claims = cache_->Find(token, current.get())) {
      if (auto times = CheckTimes(*claims); !times) return std::unexpected(times.error());
      cache_hits_.fetch_add(1, std::memory_order_relaxed);
      return claims;
    }
  }
  auto claims = ValidateUncached(token);
  if (!claims) return std::unexpected(claims.error());
  auto shared = std::make_shared<const Claims>(std::move(*claims));
  // Only a token verified against the set it was looked up with is remembered (not one
  // verified after a refresh for an unknown kid: the next call sees the new set anyway).
  if (cache_ && current && keys_->Current() == current) cache_->Insert(token, current, shared);
  return shared;
}

std::expected<Claims, ValidationError> Validator::ValidateUncached(std::string_view token) const {
  auto segments = Split(token);
  if (!segments) return std::unexpected(segments.error());

  auto header_bytes = Base64UrlDecode(segments->header);
  if (!header_bytes) return Fail(Failure::kMalformed, "header is not canonical base64url");
  // Token JSON is small: parse into a stack buffer and spill to the heap only if needed.
  unsigned char header_buf[1024];
  json::monotonic_resource header_mr(header_buf, sizeof header_buf);
  JoseObject header_obj;
  if (auto read = header_obj.Read(*header_bytes, kMaxJsonDepth, &header_mr); !read) {
    return Fail(Failure::kMalformed, "header: " + read.error().message());
  }
  auto header = CheckHeader(header_obj);
  if (!header) return std::unexpected(header.error());

  std::shared_ptr<const KeySet> keys = keys_->Current();
  const Key* key = nullptr;
  if (header->has_kid) {
    key = keys->Find(header->kid);
    if (key == nullptr) {
      keys = keys_->RefreshForUnknownKid();
      key = keys->Find(header->kid);
    }
    if (key == nullptr) return Fail(Failure::kUnknownKid, "token names an unknown key id");
  } else {
    key = keys->KidlessKey();
    if (key == nullptr) {
      return Fail(Failure::kMissingKid, "token has no 'kid' and several keys could check it");
    }
  }
  if (header->alg != key->algorithm()) {
    return Fail(Failure::kAlgorithmMismatch, "token algorithm does not match its key");
  }
  if (!options_.allowed_algorithms.empty()) {
    bool allowed = false;
    for (Algorithm a : options_.allowed_algorithms) allowed |= a == header->alg;
    if (!allowed) return Fail(Failure::kAlgorithmNotAllowed, "token algorithm is not allowed");
  }

  auto signature = Base64UrlDecode(segments->signature);
  if (!signature) return Fail(Failure::kMalformed, "signature is not canonical base64url");
  if (!key->Verify(segments->signing_input, *signature)) {
    return Fail(Failure::kBadSignature, "signature verification failed");
  }

  auto payload_bytes = Base64UrlDecode(segments->payload);
  if (!payload_bytes) return Fail(Failure::kMalformed, "payload is not canonical base64url");
  unsigned char payload_buf[4096];
  json::monotonic_resource payload_mr(payload_buf, sizeof payload_buf);
  JoseObject payload;
  if (auto read = payload.Read(*payload_bytes, kMaxJsonDepth, &payload_mr); !read) {
    return Fail(Failure::kMalformed, "payload: " + read.error().message());
  }

  const RegisteredClaims found = FindRegisteredClaims(payload);
  Claims claims;
  if (found.exp == nullptr) return Fail(Failure::kMissingClaim, "token has no 'exp'");
  auto exp = NumericDate(*found.exp, "exp");
  if (!exp) return std::unexpected(exp.error());
  if (found.iat == nullptr) return Fail(Failure::kMissingClaim, "token has no 'iat'");
  auto iat = NumericDate(*found.iat, "iat");
  if (!iat) return std::unexpected(iat.error());
  claims.exp = *exp;
  claims.iat = *iat;
  if (found.nbf != nullptr) {
    auto nbf = NumericDate(*found.nbf, "nbf");
    if (!nbf) return std::unexpected(nbf.error());
    claims.nbf = *nbf;
  }

  if (auto times = CheckTimes(claims); !times) return std::unexpected(times.error());

  if (found.aud == nullptr) return Fail(Failure::kWrongAudience, "token has no audience");
  if (found.aud->kind == JoseValue::Kind::kString) {
    claims.aud.emplace_back(found.aud->string);
  } else if (found.aud->kind == JoseValue::Kind::kArray) {
    if (!found.aud->all_strings) return Fail(Failure::kBadClaim, "'aud' must hold strings only");
    for (std::string_view a : payload.array_strings().subspan(found.aud->first, found.aud->count)) {
      claims.aud.emplace_back(a);
    }
  } else {
    return Fail(Failure::kBadClaim, "'aud' must be a string or an array of strings");
  }
  bool audience_ok = false;
  for (const auto& a : claims.aud) {
    for (const auto& want : options_.audiences) audience_ok |= a == want;
  }
  if (!audience_ok) return Fail(Failure::kWrongAudience, "token audience is not accepted");

  auto iss = OptionalString(found.iss, "iss");
  if (!iss) return std::unexpected(iss.error());
  claims.iss = std::move(*iss);
  if (options_.issuer && claims.iss != options_.issuer) {
    return Fail(Failure::kWrongIssuer, "token issuer is not accepted");
  }
  for (auto [name, value, field] :
       {std::tuple{"sub", found.sub, &claims.sub}, std::tuple{"jti", found.jti, &claims.jti},
        std::tuple{"scope", found.scope, &claims.scope},
        std::tuple{"role", found.role, &claims.role}}) {
    auto string = OptionalString(value, name);
    if (!string) return std::unexpected(string.error());
    *field = std::move(*string);
  }
  claims.payload_json = std::move(*payload_bytes);
  claims.alg = header->alg;
  claims.kid = std::string(header->kid);
  return claims;
}

std::expected<DecodedToken, ValidationError> DecodeUnverified(std::string_view token) {
  auto segments = Split(token);
  if (!segments) return std::unexpected(segments.error());
  DecodedToken out;
  auto header = Base64UrlDecode(segments->header);
  auto payload = Base64UrlDecode(segments->payload);
  auto signature = Base64UrlDecode(segments->signature);
  if (!header || !payload || !signature) {
    return Fail(Failure::kMalformed, "token segments are not canonical base64url");
  }
  auto header_obj = ParseStrictJsonObject(*header, kMaxJsonDepth);
  if (!header_obj) return Fail(Failure::kMalformed, "header: " + header_obj.error().message());
  out.header_json = std::move(*header);
  out.payload = std::move(*payload);
  out.signature = std::move(*signature);
  return out;
}

bool VerifyCompactSignature(std::string_view token, const Key& key) {
  auto segments = Split(token);
  if (!segments) return false;
  auto header_bytes = Base64UrlDecode(segments->header);
  if (!header_bytes) return false;
  JoseObject header_obj;
  if (!header_obj.Read(*header_bytes, kMaxJsonDepth)) return false;
  auto header = CheckHeader(header_obj);
  if (!header || header->alg != key.algorithm()) return false;
  auto signature = Base64UrlDecode(segments->signature);
  return signature && key.Verify(segments->signing_input, *signature);
}

}  // namespace airlock::jwt

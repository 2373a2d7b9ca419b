// libFuzzer target for the token parser and validator (the strict rules of SPEC §2).
// Each input is used in four ways; none may crash, leak, hit undefined behaviour or break
// one of the invariants below:
//  1. as a compact token: every validator of the fixture (HS512, RS256 and EdDSA keys,
//     alone and as one set, with and without the verified-token cache), DecodeUnverified,
//     and VerifyCompactSignature with each key;
//  2. the same token with its signature replaced by a valid HS512 one, so that mutations
//     of the header and payload segments get past the signature check to the claim checks
//     (which an unmodified fuzzed token almost never reaches);
//  3. if it holds a '\n', as "header JSON '\n' payload JSON", encoded and HS512-signed, so
//     that mutations of the raw JSON reach the claim checks without base64url in the way;
//  4. as text for the strict JSON parser, the base64url decoder and the JWKS parser.
// Invariants (a violation aborts, which libFuzzer reports as a crash):
//  - an accepted token is canonical: re-encoding its decoded segments gives back the token
//    byte for byte (the Execution API's verified-token cache keys on token bytes);
//  - accepted claims respect the fixture's clock, leeway and audience;
//  - the verified-token cache gives every token the verdict the same validator without
//    it gives;
//  - a successful base64url decode re-encodes to its input, and decode(encode(x)) == x;
//  - a document the strict parser accepts is one Boost.JSON's plain parser reads the same,
//    and it serializes to one the strict parser accepts again, equal;
//  - the strict parser's duplicate names agree with a plain reference (a set of names per
//    object): it accepts no text that names a member twice, and it calls a duplicate only
//    what is one;
//  - JoseObject::Read (a scan of compact objects, the parser for the rest) gives the
//    verdict, message and members that the strict parser gives.

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_fixture.h"
#include "jwt/base64url.h"
#include "jwt/jose_object.h"
#include "jwt/key_set.h"
#include "jwt/validator.h"

namespace airlock::fuzz {
namespace {

namespace json = boost::json;

void Check(bool ok, const char* invariant) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", invariant);
    std::abort();
  }
}

// Boost.JSON 1.81 parses decimal numbers to within an ulp, not exactly, so a serialized
// double may come back one ulp off: compare doubles with a relative tolerance.
bool SameJson(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) {
    if (!a.is_double() || !b.is_double()) return false;
    double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-15 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.is_object()) {
    if (!b.is_object() || a.as_object().size() != b.as_object().size()) return false;
    for (const auto& member : a.as_object()) {
      const json::value* other = b.as_object().if_contains(member.key());
      if (other == nullptr || !SameJson(member.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (!b.is_array() || a.as_array().size() != b.as_array().size()) return false;
    for (size_t i = 0; i < a.as_array().size(); ++i) {
      if (!SameJson(a.as_array()[i], b.as_array()[i])) return false;
    }
    return true;
  }
  return a == b;
}

// The reference for duplicate names: a Boost.JSON handler that keeps each open object's
// names in a set and stops at the first name seen twice. Nothing else is built or checked.
struct DuplicateFinder {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::vector<std::set<std::string>> open;
  std::string key;
  bool found = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    open.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key.append(s.data(), s.size());
    if (!open.back().insert(key).second) {
      found = true;
      ec = json::error::syntax;
      return false;
    }
    key.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// Whether the reference finds a name twice in one object of `text`, before any error.
bool ReferenceFindsADuplicate(std::string_view text) {
  json::parse_options options;
  options.max_depth = 64;
  json::basic_parser<DuplicateFinder> parser(options);
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return parser.handler().found;
}

// Two readings of one JOSE object hold the same members, arrays resolved.
bool SameMembers(const jwt::JoseObject& a, const jwt::JoseObject& b) {
  if (a.members().size() != b.members().size()) return false;
  for (size_t i = 0; i < a.members().size(); ++i) {
    const jwt::JoseMember& x = a.members()[i];
    const jwt::JoseMember& y = b.members()[i];
    if (x.name != y.name || x.value.kind != y.value.kind || x.value.string != y.value.string ||
        x.value.int64 != y.value.int64 || x.value.uint64 != y.value.uint64 ||
        x.value.all_strings != y.value.all_strings || x.value.count != y.value.count) {
      return false;
    }
    // Doubles come only from the parser, on both sides: equal bit for bit, or both NaN-free
    // by the strict rules.
    if (x.value.number != y.value.number) return false;
    for (uint32_t k = 0; k < x.value.count; ++k) {
      if (a.array_strings()[x.value.first + k] != b.array_strings()[y.value.first + k]) {
        return false;
      }
    }
  }
  return true;
}

// The validator reads headers and payloads with JoseObject::Read, which scans compact
// objects itself and hands the rest to the strict parser: the scan must never change a
// verdict, a message or a value.
void FuzzJoseObject(std::string_view text) {
  jwt::JoseObject read, parsed;
  auto a = read.Read(text, jwt::kMaxJsonDepth);
  auto b = parsed.ReadParsed(text, jwt::kMaxJsonDepth);
  Check(a.has_value() == b.has_value(), "JOSE object: the scan changed the verdict");
  if (!a) {
    Check(a.error().message() == b.error().message(), "JOSE object: the scan changed a message");
    return;
  }
  Check(SameMembers(read, parsed), "JOSE object: the scan read different members");
}

// Every string of `v` with the names of the members that hold it, read off the parsed
// document: the reference for NamedStrings, which reads the text.
void CollectNamedStrings(const json::value& v, std::vector<std::string>& names,
                         std::vector<NamedString>& out) {
  if (v.is_string()) {
    out.push_back({.names = names, .value = std::string(v.as_string())});
  } else if (v.is_array()) {
    for (const json::value& element : v.as_array()) CollectNamedStrings(element, names, out);
  } else if (v.is_object()) {
    for (const auto& [name, member] : v.as_object()) {
      names.emplace_back(name);
      CollectNamedStrings(member, names, out);
      names.pop_back();
    }
  }
}

// NamedStrings keeps duplicate names and refuses what else the strict parser refuses.
void FuzzNamedStrings(std::string_view text, const Result<json::value>& strict,
                      JsonProblem problem) {
  auto named = NamedStrings(text, jwt::kMaxJsonDepth);
  if (named) {
    Check(strict.has_value() || problem == JsonProblem::kDuplicateName,
          "named strings: accepted what the strict parser refuses for another rule");
  }
  if (!strict || !strict->is_object()) return;
  Check(named.has_value(), "named strings: refused a strict JSON object");
  std::vector<std::string> names;
  std::vector<NamedString> expected;
  CollectNamedStrings(*strict, names, expected);
  Check(named->size() == expected.size(), "named strings: a different number of strings");
  for (size_t i = 0; i < expected.size(); ++i) {
    Check((*named)[i].names == expected[i].names && (*named)[i].value == expected[i].value,
          "named strings: a string or its names differ");
  }
}

void FuzzStrictJson(std::string_view text) {
  FuzzJoseObject(text);
  JsonProblem problem = JsonProblem::kSyntax;
  auto value = ParseStrictJson(text, jwt::kMaxJsonDepth, {}, &problem);
  // Large objects are checked when they end, so a text that breaks off after a duplicate
  // may be refused for that instead: only these two directions hold.
  if (value) Check(!ReferenceFindsADuplicate(text), "strict JSON: accepted a duplicate name");
  if (!value && problem == JsonProblem::kDuplicateName) {
    Check(ReferenceFindsADuplicate(text), "strict JSON: called a duplicate what is none");
  }
  FuzzNamedStrings(text, value, problem);
  // The validator's way: a stack buffer that spills to the heap.
  unsigned char buffer[512];
  json::monotonic_resource mr(buffer, sizeof buffer);
  auto on_stack = ParseStrictJsonObject(text, jwt::kMaxJsonDepth, &mr);
  Check(value.has_value() == on_stack.has_value() || (value && !value->is_object()),
        "strict JSON: the storage changed the verdict");
  if (!value) return;
  // Strict JSON is a subset of RFC 8259: whatever it accepts, Boost.JSON's own parser
  // must accept as the same document (this is what catches trailing data after it).
  json::error_code ec;
  json::parse_options deep;
  deep.max_depth = 64;
  json::value plain = json::parse(text, ec, {}, deep);
  Check(!ec, "strict JSON: accepted what RFC 8259 does not");
  Check(SameJson(*value, plain), "strict JSON: a different document than RFC 8259 reads");
  std::string again = json::serialize(*value);
  auto reparsed = ParseStrictJson(again, jwt::kMaxJsonDepth);
  Check(reparsed.has_value(), "strict JSON: a serialized document does not parse again");
  Check(SameJson(*value, *reparsed), "strict JSON: a serialized document changed");
}

void FuzzBase64Url(std::string_view text) {
  auto decoded = jwt::Base64UrlDecode(text);
  if (decoded) {
    Check(jwt::Base64UrlEncode(*decoded) == text,
          "base64url: decode accepted a non-canonical form");
  }
  auto round_trip = jwt::Base64UrlDecode(jwt::Base64UrlEncode(text));
  Check(round_trip && *round_trip == text, "base64url: decode(encode(x)) != x");
}

void CheckAccepted(std::string_view token, const jwt::Claims& claims) {
  size_t d1 = token.find('.');
  size_t d2 = token.find('.', d1 + 1);
  Check(d1 != std::string_view::npos && d2 != std::string_view::npos &&
            token.find('.', d2 + 1) == std::string_view::npos,
        "accepted a token without exactly three segments");
  std::string canonical;
  for (std::string_view segment :
       {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)}) {
    auto bytes = jwt::Base64UrlDecode(segment);
    Check(bytes.has_value(), "accepted a segment that is not base64url");
    if (!canonical.empty()) canonical.push_back('.');
    canonical += jwt::Base64UrlEncode(*bytes);
  }
  Check(canonical == token, "accepted a token that is not canonical");
  Check(jwt::Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1)) == claims.payload_json,
        "claims.payload_json is not the payload");
  const int64_t leeway = jwt::kDefaultLeewaySeconds;
  Check(claims.exp > kFuzzNow - leeway, "accepted an expired token");
  Check(claims.iat <= kFuzzNow + leeway, "accepted a token issued in the future");
  Check(!claims.nbf || *claims.nbf <= kFuzzNow + leeway, "accepted a token before its nbf");
  Check(claims.exp <= jwt::kMaxNumericDate && claims.iat >= 0, "accepted a date out of range");
  bool audience = false;
  for (const auto& aud : claims.aud) audience |= aud == kAudience;
  Check(audience, "accepted a token for another audience");
}

bool SameVerdict(const std::expected<jwt::Claims, jwt::ValidationError>& a,
                 const std::expected<jwt::Claims, jwt::ValidationError>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return a.error().failure == b.error().failure;
  return a->payload_json == b->payload_json && a->exp == b->exp && a->iat == b->iat &&
         a->nbf == b->nbf && a->aud == b->aud && a->iss == b->iss && a->sub == b->sub &&
         a->jti == b->jti && a->scope == b->scope && a->role == b->role && a->alg == b->alg &&
         a->kid == b->kid;
}

void FuzzToken(std::string_view token) {
  for (const auto& validator : Validators()) {
    auto claims = validator->Validate(token);
    if (claims) CheckAccepted(token, *claims);
  }
  // The verified-token cache must change no verdict: its validator answers the first call
  // by verifying and a second one from the cache.
  auto uncached = MultiKeyValidator().Validate(token);
  for (int call = 0; call < 2; ++call) {
    Check(SameVerdict(uncached, CachingValidator().Validate(token)),
          "the verified-token cache changed a verdict");
  }
  auto decoded = jwt::DecodeUnverified(token);
  if (decoded) FuzzStrictJson(decoded->header_json);
  const FuzzKeys& keys = Keys();
  for (const auto& key : {keys.hs512, keys.rs256, keys.eddsa}) {
    jwt::VerifyCompactSignature(token, *key);
  }
}

// `signing_input` ("header.payload") with a valid HS512 signature appended.
std::string SignHs512(std::string_view signing_input) {
  auto signature = Keys().hs512->Sign(signing_input);
  Check(signature.has_value(), "HS512 signing failed");
  std::string token(signing_input);
  token.push_back('.');
  jwt::Base64UrlEncodeTo(*signature, token);
  return token;
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. The input as a token.
  FuzzToken(input);

  // 2. Its signing input, validly signed. Bounded by the token limit: a longer one is
  // refused before parsing, which (1) covers already.
  if (size_t last_dot = input.rfind('.');
      last_dot != std::string_view::npos && last_dot < jwt::kMaxTokenBytes) {
    FuzzToken(SignHs512(input.substr(0, last_dot)));
  }

  // 3. Raw header and payload JSON, encoded and signed.
  if (size_t newline = input.find('\n'); newline != std::string_view::npos) {
    std::string_view header = input.substr(0, newline);
    std::string_view payload = input.substr(newline + 1);
    FuzzStrictJson(header);
    FuzzStrictJson(payload);
    if (size < jwt::kMaxTokenBytes / 2) {
      std::string signing_input = jwt::Base64UrlEncode(header);
      signing_input.push_back('.');
      jwt::Base64UrlEncodeTo(payload, signing_input);
      FuzzToken(SignHs512(signing_input));
    }
  }

  // 4. The parsers on their own.
  FuzzStrictJson(input);
  FuzzBase64Url(input);
  jwt::ParseJwks(input);
  return 0;
}

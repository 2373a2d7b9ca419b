// The hostile-token table of SPEC §2: testdata/tokens/hostile.json describes each case
// (header and payload bytes, the key that signs them, mutations, the expected failure) and
// this file builds and signs every token, so that each one is correctly signed over exactly
// its own bytes and only the rule under test can reject it.
//
// Placeholders in header, payload, claim and raw-token text:
//   {now}, {now+N}, {now-N}  the table's "now" (the FakeClock) plus or minus N seconds
//   {alg}, {kid}             the signing key's algorithm name and kid
//   {kid:NAME}               the kid of the named key
//   {pad:N}                  N 'a' characters
//   {nest:N}                 N nested empty arrays: [[...]]
//   {x:HH}                   the raw byte 0xHH (for invalid UTF-8 and control bytes)
//   {fill}                   'a' characters, as many as make the token "token_size" bytes
//   {dots:N}                 N '.' characters (raw tokens only)
//   {token}                  a valid EdDSA token (raw tokens only)
// A case's "claims" override the table's default claims by name (null removes one, and
// new names are appended); "payload" replaces the whole payload text instead.
// Keys ("key", default eddsa): hs512, hs512_other (64-byte secrets), rs256, rs512,
// rs512_as_rs256 (the rs512 RSA key pinned to RS256), eddsa, eddsa_other, none (empty
// signature), and rsa_{pem,der,jwk}_as_hmac: HMAC secrets made of rs256's public key text.
// Validators ("validator"; default hs512 for the secrets, jwks otherwise): hs512 (the
// secret alone, as jwt_secret), rsa_single (rs256's public PEM alone, as a key file), jwks
// (the published JWKS of rs256, rs512 and eddsa), jwks_rs512_only (allowed_algorithms =
// RS512), jwks_no_issuer. All expect audience "airlock", issuer "https://airlock.example"
// and 10 s leeway at the table's "now", except where named.
// Mutations: "header", "payload", "signature" rewrite that segment's base64url text after
// signing inputs were fixed (the signature always covers the mutated header and payload
// text); "signature_bytes" rewrites the raw signature before encoding; "token" rewrites
// the finished token. Every mutation must change its input, or the case fails.

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_set.h"
#include "jwt/key_source.h"
#include "jwt/validator.h"

namespace airlock::jwt {
namespace {

namespace json = boost::json;

constexpr Failure kAllFailures[] = {
    Failure::kTooLarge,
    Failure::kMalformed,
    Failure::kUnsupportedAlgorithm,
    Failure::kForbiddenHeader,
    Failure::kBadKid,
    Failure::kUnknownKid,
    Failure::kMissingKid,
    Failure::kAlgorithmMismatch,
    Failure::kAlgorithmNotAllowed,
    Failure::kBadSignature,
    Failure::kExpired,
    Failure::kNotYetValid,
    Failure::kIssuedInFuture,
    Failure::kMissingClaim,
    Failure::kBadClaim,
    Failure::kWrongAudience,
    Failure::kWrongIssuer,
};

const json::object& Table() {
  static const json::object table = [] {
    const std::string path = std::string(AIRLOCK_SOURCE_DIR) + "/testdata/tokens/hostile.json";
    auto text = ReadFile(path, 4 << 20);
    if (!text) {
      ADD_FAILURE() << text.error().ToString();
      return json::object();
    }
    json::error_code ec;
    json::value v = json::parse(*text, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << path << " is not a JSON object: " << ec.message();
      return json::object();
    }
    return v.as_object();
  }();
  return table;
}

std::string Str(const json::object& o, std::string_view name, std::string fallback = "") {
  auto it = o.find(name);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : fallback;
}

// The keys that sign the table's tokens, and the validators that check them.
struct World {
  static constexpr int64_t kNow = 1'800'000'000;
  FakeClock clock{kNow};
  std::map<std::string, KeyPtr> keys;
  std::map<std::string, std::unique_ptr<Validator>> validators;
  std::string error;  // set if building the world failed

  World() { Build(); }

 private:
  void Build() {
    auto fail = [&](const std::string& what) {
      if (error.empty()) error = what;
    };
    auto put = [&](const std::string& name, Result<KeyPtr> key) {
      if (!key) return fail(name + ": " + key.error().ToString());
      keys[name] = *key;
    };
    put("hs512", Key::FromSecret(std::string(64, 'S') + "-airlock-hostile-token-table"));
    put("hs512_other", Key::FromSecret(std::string(64, 'T')));
    // Fixed test keys: no key generation per process, and reproducible tokens.
    const std::string dir = std::string(AIRLOCK_SOURCE_DIR) + "/testdata/tokens/keys/";
    put("rs256", LoadKeyFile(dir + "rsa_a.pem"));
    put("rs512", LoadKeyFile(dir + "rsa_b.pem", Algorithm::kRS512));
    put("rs512_as_rs256", LoadKeyFile(dir + "rsa_b.pem"));
    put("eddsa", LoadKeyFile(dir + "ed25519_a.pem"));
    put("eddsa_other", LoadKeyFile(dir + "ed25519_b.pem"));
    if (!error.empty()) return;

    // HMAC keys made of the RSA public key in each encoding a confused verifier might use.
    const std::string pem = *keys["rs256"]->PublicPem();
    put("rsa_pem_as_hmac", Key::FromSecret(pem));
    put("rsa_jwk_as_hmac", Key::FromSecret(*keys["rs256"]->PublicJwk()));
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    unsigned char* der = nullptr;
    int der_len = pkey != nullptr ? i2d_PUBKEY(pkey, &der) : -1;
    if (der_len > 0) {
      put("rsa_der_as_hmac", Key::FromSecret(std::string(reinterpret_cast<char*>(der), der_len)));
    } else {
      fail("DER encoding");
    }
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);

    const json::object& t = Table();
    ValidatorOptions options;
    if (auto a = t.find("audiences"); a != t.end() && a->value().is_array()) {
      for (const auto& aud : a->value().as_array()) {
        options.audiences.emplace_back(aud.as_string());
      }
    }
    options.issuer = Str(t, "issuer");
    if (auto l = t.find("leeway_seconds"); l != t.end())
      options.leeway_seconds = l->value().to_number<int64_t>();

    auto add = [&](const std::string& name, KeySet set, ValidatorOptions o) {
      auto v = Validator::Create(std::make_shared<StaticKeySource>(std::move(set)), o, clock);
      if (!v) return fail(name + ": " + v.error().ToString());
      validators[name] = std::move(*v);
    };
    add("hs512", KeySet::Single(keys["hs512"]), options);
    auto public_rsa = Key::FromPem(pem);
    if (!public_rsa) return fail("public RSA");
    add("rsa_single", KeySet::Single(*public_rsa), options);
    auto signing_set = KeySet::Create({{keys["rs256"], KeyState::kRetired},
                                       {keys["rs512"], KeyState::kRetired},
                                       {keys["eddsa"], KeyState::kActive}});
    if (!signing_set) return fail(signing_set.error().ToString());
    // Validators see the published JWKS, as a remote validator would.
    auto jwks = ParseJwks(signing_set->ToJwks());
    if (!jwks) return fail(jwks.error().ToString());
    if (jwks->entries().size() != 3) return fail("the JWKS lost a key");
    add("jwks", *jwks, options);
    ValidatorOptions rs512_only = options;
    rs512_only.allowed_algorithms = {Algorithm::kRS512};
    add("jwks_rs512_only", *jwks, rs512_only);
    ValidatorOptions no_issuer = options;
    no_issuer.issuer.reset();
    add("jwks_no_issuer", *jwks, no_issuer);
  }
};

World& TheWorld() {
  static World* world = new World();  // once per process
  return *world;
}

// Expands the placeholders listed at the top of this file.
std::string Expand(std::string_view text, const World& world, const Key* key, size_t fill = 0) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text[i] != '{') {
      out.push_back(text[i++]);
      continue;
    }
    size_t close = text.find('}', i);
    std::string_view d = close == std::string_view::npos ? "" : text.substr(i + 1, close - i - 1);
    auto number = [&](std::string_view s) { return std::stoll(std::string(s)); };
    bool matched = true;
    if (d == "now") {
      out += std::to_string(World::kNow);
    } else if (d.starts_with("now+") || d.starts_with("now-")) {
      out += std::to_string(World::kNow + (d[3] == '+' ? 1 : -1) * number(d.substr(4)));
    } else if (d == "alg" && key != nullptr) {
      out += AlgorithmName(key->algorithm());
    } else if (d == "kid" && key != nullptr) {
      out += key->kid();
    } else if (d.starts_with("kid:")) {
      out += world.keys.at(std::string(d.substr(4)))->kid();
    } else if (d.starts_with("pad:")) {
      out.append(static_cast<size_t>(number(d.substr(4))), 'a');
    } else if (d.starts_with("nest:")) {
      const size_t n = static_cast<size_t>(number(d.substr(5)));
      out.append(n, '[');
      out.append(n, ']');
    } else if (d.starts_with("x:")) {
      out.push_back(static_cast<char>(std::stoi(std::string(d.substr(2)), nullptr, 16)));
    } else if (d == "fill") {
      out.append(fill, 'a');
    } else if (d.starts_with("dots:")) {
      out.append(static_cast<size_t>(number(d.substr(5))), '.');
    } else {
      matched = false;  // a JSON brace
    }
    if (matched) {
      i = close + 1;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

// Base64url text mutations. Each returns its input unchanged if it does not apply, which
// the caller treats as a broken case.
std::string MutateSegment(std::string s, std::string_view m) {
  const size_t mid = s.size() / 2;
  if (m == "pad") {
    if (s.size() % 4 == 0) return s;
    while (s.size() % 4 != 0) s.push_back('=');
  } else if (m == "std_alphabet") {
    for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  } else if (m == "space_before") {
    s.insert(0, " ");
  } else if (m == "space_after") {
    s.push_back(' ');
  } else if (m == "newline_inside") {
    s.insert(mid, "\r\n");
  } else if (m == "tab_inside") {
    s.insert(mid, "\t");
  } else if (m == "len_1_mod_4") {
    do s.push_back('A');
    while (s.size() % 4 != 1);
  } else if (m == "trailing_bits") {
    // The last character's low bits that belong to no byte: 4 of them after 2 characters
    // of a group, 2 after 3. Setting the lowest one keeps the decoded bytes the same.
    if (s.size() % 4 == 2 || s.size() % 4 == 3) {
      constexpr std::string_view kAlphabet =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      s.back() = kAlphabet[kAlphabet.find(s.back()) | 1];
    }
  } else if (m == "bad_char") {
    s.insert(mid, "!");
  } else if (m == "nul_inside") {
    s.insert(mid, std::string(1, '\0'));
  } else if (m == "percent_encoded") {
    size_t at = s.find_first_of("-_");
    if (at != std::string::npos) s.replace(at, 1, s[at] == '-' ? "%2D" : "%5F");
  } else {
    ADD_FAILURE() << "unknown segment mutation " << m;
  }
  return s;
}

std::string MutateSignatureBytes(std::string sig, std::string_view m) {
  if (m == "empty") {
    sig.clear();
  } else if (m == "drop_last_byte") {
    if (!sig.empty()) sig.pop_back();
  } else if (m == "add_byte") {
    sig.push_back('\0');
  } else if (m == "flip_bit") {
    if (!sig.empty()) sig[0] ^= 1;
  } else if (m == "zeros") {
    sig.assign(sig.size(), '\0');
  } else if (m == "double") {
    sig += sig;
  } else {
    ADD_FAILURE() << "unknown signature mutation " << m;
  }
  return sig;
}

std::string MutateToken(std::string token, std::string_view m) {
  if (m == "append_dot") {
    token += ".";
  } else if (m == "append_segment") {
    token += ".e30";
  } else if (m == "drop_signature") {
    token.resize(token.rfind('.'));
  } else if (m == "leading_space") {
    token.insert(0, " ");
  } else if (m == "trailing_newline") {
    token += "\n";
  } else if (m == "trailing_space") {
    token += " ";
  } else if (m == "trailing_nul") {
    token.push_back('\0');
  } else if (m == "extra_dot_inside") {
    const size_t first = token.find('.');
    token.insert(first + 1 + (token.find('.', first + 1) - first - 1) / 2, ".");
  } else {
    ADD_FAILURE() << "unknown token mutation " << m;
  }
  return token;
}

size_t Base64UrlLength(size_t n) { return (n * 4 + 2) / 3; }

// The payload text of a case: its "payload", or the default claims with its "claims".
std::string PayloadTemplate(const json::object& c) {
  if (auto p = c.find("payload"); p != c.end()) return std::string(p->value().as_string());
  std::vector<std::pair<std::string, std::optional<std::string>>> claims;
  for (const auto& pair : Table().at("default_claims").as_array()) {
    claims.emplace_back(pair.as_array()[0].as_string(),
                        std::string(pair.as_array()[1].as_string()));
  }
  if (auto o = c.find("claims"); o != c.end()) {
    for (const auto& [name, value] : o->value().as_object()) {
      std::optional<std::string> v;
      if (value.is_string()) v = std::string(value.as_string());
      bool replaced = false;
      for (auto& [n, old] : claims) {
        if (n == name) {
          old = v;
          replaced = true;
        }
      }
      if (!replaced) claims.emplace_back(std::string(name), v);
    }
  }
  std::string out = "{";
  for (const auto& [name, value] : claims) {
    if (!value) continue;
    if (out.size() > 1) out += ",";
    out += "\"" + name + "\":" + *value;
  }
  return out + "}";
}

struct Built {
  std::string token;
  std::string validator;
  std::string error;  // a broken case
};

Built BuildToken(const json::object& c) {
  World& world = TheWorld();
  Built b;
  const std::string key_name = Str(c, "key", "eddsa");
  const bool unsigned_token = key_name == "none";
  const Key* key = unsigned_token ? nullptr : world.keys.at(key_name).get();
  b.validator = Str(c, "validator", key_name.starts_with("hs512") ? "hs512" : "jwks");

  if (auto raw = c.find("raw_token"); raw != c.end()) {
    std::string text(raw->value().as_string());
    if (text.find("{token}") != std::string::npos) {
      json::object valid{{"key", "eddsa"}};
      text.replace(text.find("{token}"), 7, BuildToken(valid).token);
    }
    b.token = Expand(text, world, nullptr);
    return b;
  }

  std::string header_text = Str(c, "header");
  if (header_text.empty() && c.find("header") == c.end()) {
    header_text = key == nullptr || key->kid().empty()
                      ? R"({"alg":"{alg}","typ":"JWT"})"
                      : R"({"alg":"{alg}","kid":"{kid}","typ":"JWT"})";
  }
  std::string header = Expand(header_text, world, key);
  const std::string payload_template = PayloadTemplate(c);
  size_t fill = 0;
  if (auto size = c.find("token_size"); size != c.end()) {
    // Solve for the header whitespace and {fill} length that give exactly this many bytes.
    const size_t target = static_cast<size_t>(size->value().to_number<int64_t>());
    const size_t sig_len = key == nullptr ? 0 : Base64UrlLength(key->Sign("x")->size());
    const size_t payload_fixed = Expand(payload_template, world, key).size();
    bool solved = false;
    for (int spaces = 0; spaces < 4 && !solved; ++spaces) {
      const size_t h = Base64UrlLength(header.size() + spaces);
      const size_t p = target - h - sig_len - 2;
      const size_t n = p * 3 / 4;
      if (Base64UrlLength(n) != p || n < payload_fixed) continue;
      fill = n - payload_fixed;
      header.insert(1, std::string(spaces, ' '));
      solved = true;
    }
    if (!solved) b.error = "cannot reach token_size";
  }
  const std::string payload = Expand(payload_template, world, key, fill);

  const json::object no_mutations;
  auto m = c.find("mutate");
  const json::object& mutate = m != c.end() ? m->value().as_object() : no_mutations;
  auto apply = [&](std::string text, std::string_view part, auto fn) {
    const std::string name = Str(mutate, part);
    if (name.empty()) return text;
    std::string mutated = fn(text, name);
    if (mutated == text)
      b.error = "mutation " + name + " of " + std::string(part) + " changed nothing";
    return mutated;
  };

  std::string token = apply(Base64UrlEncode(header), "header", MutateSegment);
  token += ".";
  token += apply(Base64UrlEncode(payload), "payload", MutateSegment);
  std::string signature;
  if (key != nullptr) {
    auto sig = key->Sign(token);
    if (!sig) {
      b.error = sig.error().ToString();
      return b;
    }
    signature = *sig;
  }
  signature = apply(signature, "signature_bytes", MutateSignatureBytes);
  token += ".";
  token += apply(Base64UrlEncode(signature), "signature", MutateSegment);
  b.token = apply(token, "token", MutateToken);
  if (auto size = c.find("token_size");
      size != c.end() && b.error.empty() && b.token.size() != size->value().to_number<uint64_t>()) {
    b.error = "token has " + std::to_string(b.token.size()) + " bytes";
  }
  return b;
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  if (auto cases = Table().find("cases"); cases != Table().end()) {
    for (const auto& c : cases->value().as_array()) names.push_back(Str(c.as_object(), "name"));
  }
  return names;
}

const json::object& CaseNamed(const std::string& name) {
  for (const auto& c : Table().at("cases").as_array()) {
    if (Str(c.as_object(), "name") == name) return c.as_object();
  }
  static const json::object none;
  ADD_FAILURE() << "no case " << name;
  return none;
}

class HostileTokenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_EQ(TheWorld().error, "") << "test keys could not be built"; }
};

TEST_P(HostileTokenTest, GetsExactlyTheExpectedVerdict) {
  const json::object& c = CaseNamed(GetParam());
  const std::string expect = Str(c, "expect");
  SCOPED_TRACE("rule: " + Str(c, "rule"));
  Built built = BuildToken(c);
  ASSERT_EQ(built.error, "") << "the case is broken";
  auto v = TheWorld().validators.find(built.validator);
  ASSERT_NE(v, TheWorld().validators.end()) << "no validator " << built.validator;

  auto result = v->second->Validate(built.token);
  if (expect == "ok") {
    EXPECT_TRUE(result.has_value())
        << FailureName(result.error().failure) << ": " << result.error().message;
    return;
  }
  ASSERT_FALSE(result.has_value()) << "accepted";
  EXPECT_EQ(FailureName(result.error().failure), expect) << result.error().message;
  if (auto message = Str(c, "message"); !message.empty()) {
    EXPECT_NE(result.error().message.find(message), std::string::npos) << result.error().message;
  }
  // Errors say what failed, never what the token said.
  const size_t last_dot = built.token.rfind('.');
  if (last_dot != std::string::npos && built.token.size() - last_dot > 8) {
    EXPECT_EQ(result.error().message.find(built.token.substr(last_dot + 1)), std::string::npos);
  }
  EXPECT_EQ(result.error().message.find("task-42"), std::string::npos);
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, HostileTokenTest, ::testing::ValuesIn(CaseNames()), TestName);

TEST(HostileTokenTableTest, CoversEveryFailureAndHasPositiveControls) {
  std::set<std::string> expected;
  std::set<std::string> positive_keys;
  std::set<std::string> names;
  const auto& cases = Table().at("cases").as_array();
  for (const auto& value : cases) {
    const json::object& c = value.as_object();
    EXPECT_TRUE(names.insert(Str(c, "name")).second) << "duplicate name " << Str(c, "name");
    EXPECT_NE(Str(c, "rule"), "") << Str(c, "name");
    const std::string expect = Str(c, "expect");
    expected.insert(expect);
    if (expect == "ok") positive_keys.insert(Str(c, "key", "eddsa"));
    bool known = expect == "ok";
    for (Failure f : kAllFailures) known |= FailureName(f) == expect;
    EXPECT_TRUE(known) << Str(c, "name") << " expects unknown failure " << expect;
  }
  for (Failure f : kAllFailures) {
    EXPECT_TRUE(expected.contains(std::string(FailureName(f))))
        << "no hostile token is expected to fail with " << FailureName(f);
  }
  // A table that rejects everything proves nothing: each algorithm has a token it accepts.
  for (const char* key : {"hs512", "rs256", "rs512", "eddsa"}) {
    EXPECT_TRUE(positive_keys.contains(key)) << "no positive control signed by " << key;
  }
  EXPECT_GE(cases.size(), 300u);
  EXPECT_EQ(Table().at("now").to_number<int64_t>(), World::kNow);
}

// The builder itself: a case with no mutation yields a token that DecodeUnverified splits
// back into exactly the header and payload the table gave.
TEST(HostileTokenTableTest, BuilderSignsExactlyTheGivenBytes) {
  ASSERT_EQ(TheWorld().error, "");
  json::object c{{"key", "hs512"},
                 {"header", R"({"alg":"HS512","typ":"JWT", "x":"{x:41}"})"},
                 {"payload", R"({"exp":{now+1},"a":"{pad:3}{nest:2}"})"}};
  Built built = BuildToken(c);
  ASSERT_EQ(built.error, "");
  auto decoded = DecodeUnverified(built.token);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->header_json, R"({"alg":"HS512","typ":"JWT", "x":"A"})");
  EXPECT_EQ(decoded->payload, R"({"exp":1800000001,"a":"aaa[[]]"})");
  EXPECT_TRUE(TheWorld().keys["hs512"]->Verify(built.token.substr(0, built.token.rfind('.')),
                                               decoded->signature));
}

}  // namespace
}  // namespace airlock::jwt

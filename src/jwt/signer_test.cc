#include "jwt/signer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <set>

#include "common/clock.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_set.h"
#include "jwt/key_source.h"
#include "jwt/validator.h"

namespace airlock::jwt {
namespace {

namespace json = boost::json;

constexpr int64_t kNow = 1'800'000'000;

// A fixed test key from testdata/tokens/keys (generating RSA keys per test is slow).
KeyPtr TestKey(const std::string& file) {
  auto key = LoadKeyFile(std::string(AIRLOCK_SOURCE_DIR) + "/testdata/tokens/keys/" + file);
  EXPECT_TRUE(key.has_value()) << key.error().ToString();
  return key.value_or(nullptr);
}

json::object PayloadOf(const std::string& token) {
  auto decoded = DecodeUnverified(token);
  EXPECT_TRUE(decoded.has_value());
  return json::parse(decoded ? decoded->payload : "{}").as_object();
}

std::string HeaderOf(const std::string& token) {
  auto decoded = DecodeUnverified(token);
  EXPECT_TRUE(decoded.has_value());
  return decoded ? decoded->header_json : "";
}

bool IsLowerHex32(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// RFC 7638 thumbprint computed here from the published JWK, independently of key.cc.
std::string Rfc7638Thumbprint(const std::string& public_jwk) {
  json::object jwk = json::parse(public_jwk).as_object();
  std::string canonical;
  if (jwk["kty"] == "OKP") {
    canonical = R"({"crv":")" + std::string(jwk["crv"].as_string()) + R"(","kty":"OKP","x":")" +
                std::string(jwk["x"].as_string()) + R"("})";
  } else {
    canonical = R"({"e":")" + std::string(jwk["e"].as_string()) + R"(","kty":"RSA","n":")" +
                std::string(jwk["n"].as_string()) + R"("})";
  }
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest, &len, EVP_sha256(), nullptr);
  return Base64UrlEncode(std::string_view(reinterpret_cast<char*>(digest), len));
}

class SignerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ed_ = TestKey("ed25519_a.pem");
    rsa_ = TestKey("rsa_a.pem");
    secret_ = *Key::FromSecret(std::string(64, 'z'));
  }
  static void TearDownTestSuite() {
    ed_.reset();
    rsa_.reset();
    secret_.reset();
  }

  std::shared_ptr<KeySource> Source(KeyPtr key) {
    return std::make_shared<StaticKeySource>(KeySet::Single(std::move(key)));
  }
  std::unique_ptr<Validator> ValidatorFor(std::shared_ptr<KeySource> keys) {
    auto v = Validator::Create(
        std::move(keys), {.audiences = {"airlock"}, .issuer = "https://airlock.example"}, clock_);
    EXPECT_TRUE(v.has_value());
    return std::move(*v);
  }
  static MintRequest Request() {
    return {.sub = "task-1", .aud = {"airlock"}, .iss = "https://airlock.example"};
  }

  FakeClock clock_{kNow};
  static KeyPtr ed_;
  static KeyPtr rsa_;
  static KeyPtr secret_;
};
KeyPtr SignerTest::ed_;
KeyPtr SignerTest::rsa_;
KeyPtr SignerTest::secret_;

TEST_F(SignerTest, MintedTokensValidateForEveryAlgorithm) {
  auto rs512 = rsa_->With(Algorithm::kRS512, "");
  ASSERT_TRUE(rs512.has_value());
  for (const KeyPtr& key : {secret_, rsa_, *rs512, ed_}) {
    auto source = Source(key);
    TokenSigner signer(source, clock_);
    MintRequest request = Request();
    request.scope = "dag:etl";
    request.role = "worker";
    request.ttl_seconds = 300;
    auto token = signer.Mint(request);
    ASSERT_TRUE(token.has_value()) << token.error().ToString();
    auto claims = ValidatorFor(source)->Validate(*token);
    ASSERT_TRUE(claims.has_value())
        << AlgorithmName(key->algorithm()) << ": " << claims.error().message;
    EXPECT_EQ(claims->alg, key->algorithm());
    EXPECT_EQ(claims->sub, "task-1");
    EXPECT_EQ(claims->iss, "https://airlock.example");
    EXPECT_EQ(claims->aud, std::vector<std::string>{"airlock"});
    EXPECT_EQ(claims->scope, "dag:etl");
    EXPECT_EQ(claims->role, "worker");
    EXPECT_EQ(claims->iat, kNow);
    EXPECT_EQ(claims->nbf, kNow);
    EXPECT_EQ(claims->exp, kNow + 300);
    ASSERT_TRUE(claims->jti.has_value());
    EXPECT_TRUE(IsLowerHex32(*claims->jti)) << *claims->jti;
  }
}

TEST_F(SignerTest, EveryTokenGetsAFreshJti) {
  TokenSigner signer(Source(ed_), clock_);
  std::set<std::string> jtis;
  std::set<std::string> tokens;
  for (int i = 0; i < 200; ++i) {
    auto token = signer.Mint(Request());
    ASSERT_TRUE(token.has_value());
    tokens.insert(*token);
    const json::object payload = PayloadOf(*token);
    const std::string jti(payload.at("jti").as_string());
    EXPECT_TRUE(IsLowerHex32(jti)) << jti;
    // Version 4 UUID without dashes: version nibble 4, variant 10xx.
    EXPECT_EQ(jti[12], '4');
    EXPECT_NE(std::string_view("89ab").find(jti[16]), std::string_view::npos);
    jtis.insert(jti);
  }
  EXPECT_EQ(jtis.size(), 200u);
  EXPECT_EQ(tokens.size(), 200u);  // same claims and clock otherwise
}

TEST_F(SignerTest, HeaderNamesTheKeyByItsRfc7638Thumbprint) {
  for (const KeyPtr& key : {ed_, rsa_}) {
    auto token = TokenSigner(Source(key), clock_).Mint(Request());
    ASSERT_TRUE(token.has_value());
    const std::string thumbprint = Rfc7638Thumbprint(*key->PublicJwk());
    EXPECT_EQ(HeaderOf(*token), R"({"alg":")" + std::string(AlgorithmName(key->algorithm())) +
                                    R"(","kid":")" + thumbprint + R"(","typ":"JWT"})");
    EXPECT_EQ(thumbprint.size(), 43u);
  }
  // HS512 tokens carry no kid, even when the secret has one ([api_auth] jwt_kid)...
  auto hs = TokenSigner(Source(secret_), clock_).Mint(Request());
  ASSERT_TRUE(hs.has_value());
  EXPECT_EQ(HeaderOf(*hs), R"({"alg":"HS512","typ":"JWT"})");
  auto named_secret = *secret_->With(std::nullopt, "my-kid");
  ASSERT_EQ(named_secret->kid(), "my-kid");
  auto hs_named = TokenSigner(Source(named_secret), clock_).Mint(Request());
  ASSERT_TRUE(hs_named.has_value());
  EXPECT_EQ(HeaderOf(*hs_named), R"({"alg":"HS512","typ":"JWT"})");
  // ...and such a token still validates against the same secret.
  auto hs_claims = ValidatorFor(Source(named_secret))->Validate(*hs_named);
  EXPECT_TRUE(hs_claims.has_value()) << hs_claims.error().message;
  // A configured kid names an asymmetric key instead of the thumbprint.
  auto named = TokenSigner(Source(*ed_->With(std::nullopt, "my-kid")), clock_).Mint(Request());
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(HeaderOf(*named), R"({"alg":"EdDSA","kid":"my-kid","typ":"JWT"})");
}

TEST_F(SignerTest, AudienceIsAStringOrAnArray) {
  TokenSigner signer(Source(ed_), clock_);
  auto one = signer.Mint(Request());
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(PayloadOf(*one).at("aud"), "airlock");
  MintRequest two = Request();
  two.aud = {"airlock", "other"};
  auto many = signer.Mint(two);
  ASSERT_TRUE(many.has_value());
  EXPECT_EQ(PayloadOf(*many).at("aud"), (json::array{"airlock", "other"}));
  EXPECT_FALSE(PayloadOf(*one).contains("scope"));
}

TEST_F(SignerTest, PayloadIsExactlyWhatBoostJsonSerializes) {
  // The signer writes the payload itself; the request's strings must come out escaped as
  // Boost.JSON escapes them, in the order a json::object built in that order serializes.
  auto source = Source(secret_);
  TokenSigner signer(source, clock_);
  MintRequest request = Request();
  request.sub = "q\"uote \\back/slash\ttab\nnl\x01\x1f\x7f caf\xc3\xa9 \xe2\x82\xac";
  request.aud = {"airlock", "a\"b", std::string("nul\0byte", 8)};
  request.iss = "https://airlock.example";
  request.scope = "dag:\"etl\" </script>";
  request.role = "\xf0\x9f\x98\x80";
  request.extra_claims = {{"x\"y\\z", R"( { "b" : [ 1 , 2.5 , "\u00e9" ] } )"}, {"n", "null"}};
  auto token = signer.Mint(request);
  ASSERT_TRUE(token.has_value()) << token.error().ToString();
  auto decoded = DecodeUnverified(*token);
  ASSERT_TRUE(decoded.has_value());

  json::object expected;
  expected["jti"] = PayloadOf(*token).at("jti");
  expected["iss"] = *request.iss;
  expected["aud"] = json::array(request.aud.begin(), request.aud.end());
  expected["sub"] = request.sub;
  expected["scope"] = *request.scope;
  expected["role"] = *request.role;
  expected["iat"] = kNow;
  expected["nbf"] = kNow;
  expected["exp"] = kNow + 600;
  expected["x\"y\\z"] = json::parse(request.extra_claims[0].second);
  expected["n"] = nullptr;
  EXPECT_EQ(decoded->payload, json::serialize(expected));

  auto claims = ValidatorFor(source)->Validate(*token);
  ASSERT_TRUE(claims.has_value()) << claims.error().message;
  EXPECT_EQ(claims->sub, request.sub);
  EXPECT_EQ(claims->aud, request.aud);
  EXPECT_EQ(claims->scope, request.scope);
  EXPECT_EQ(claims->role, request.role);
}

TEST_F(SignerTest, ReservedExtraClaimsAreRefused) {
  TokenSigner signer(Source(ed_), clock_);
  for (const char* name : {"jti", "iss", "aud", "sub", "iat", "nbf", "exp"}) {
    MintRequest request = Request();
    request.extra_claims = {{name, "1"}};
    auto token = signer.Mint(request);
    ASSERT_FALSE(token.has_value()) << name;
    EXPECT_EQ(token.error().code(), ErrorCode::kInvalidArgument);
  }
  // "scope" and "role" may come as extras, but not twice.
  MintRequest scoped = Request();
  scoped.scope = "a";
  scoped.extra_claims = {{"scope", R"("b")"}};
  EXPECT_FALSE(signer.Mint(scoped).has_value());
  MintRequest extra_scope = Request();
  extra_scope.extra_claims = {{"scope", R"("b")"}, {"ti", R"({"dag":"x","try":[1,2]})"}};
  auto ok = signer.Mint(extra_scope);
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_EQ(PayloadOf(*ok).at("scope"), "b");
  EXPECT_EQ(PayloadOf(*ok).at("ti").at("try"), (json::array{1, 2}));
  // Extras must be strict JSON and appear once.
  MintRequest bad_json = Request();
  bad_json.extra_claims = {{"x", "{not json"}};
  EXPECT_FALSE(signer.Mint(bad_json).has_value());
  MintRequest dup_inside = Request();
  dup_inside.extra_claims = {{"x", R"({"a":1,"a":2})"}};
  EXPECT_FALSE(signer.Mint(dup_inside).has_value());
  MintRequest twice = Request();
  twice.extra_claims = {{"x", "1"}, {"x", "2"}};
  EXPECT_FALSE(signer.Mint(twice).has_value());
}

TEST_F(SignerTest, MintRefusesRequestsItCannotHonour) {
  TokenSigner signer(Source(ed_), clock_);
  MintRequest no_aud = Request();
  no_aud.aud.clear();
  EXPECT_EQ(signer.Mint(no_aud).error().code(), ErrorCode::kInvalidArgument);
  for (int64_t ttl : {int64_t{0}, int64_t{-1}, INT64_MIN}) {
    MintRequest request = Request();
    request.ttl_seconds = ttl;
    EXPECT_EQ(signer.Mint(request).error().code(), ErrorCode::kInvalidArgument) << ttl;
  }
  // A lifetime that would put "exp" past the largest NumericDate (or overflow int64)
  // would mint a token that no validator accepts.
  for (int64_t ttl : {kMaxNumericDate - kNow + 1, INT64_MAX}) {
    MintRequest request = Request();
    request.ttl_seconds = ttl;
    EXPECT_EQ(signer.Mint(request).error().code(), ErrorCode::kInvalidArgument) << ttl;
  }
  MintRequest longest = Request();
  longest.ttl_seconds = kMaxNumericDate - kNow;
  auto token = signer.Mint(longest);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(PayloadOf(*token).at("exp"), kMaxNumericDate);
}

TEST_F(SignerTest, MintNeedsAnActiveSigningKey) {
  auto next_only = KeySet::Create({{ed_, KeyState::kNext}});
  ASSERT_TRUE(next_only.has_value());
  TokenSigner no_active(std::make_shared<StaticKeySource>(*next_only), clock_);
  EXPECT_EQ(no_active.Mint(Request()).error().code(), ErrorCode::kFailedPrecondition);

  auto public_only = Key::FromPem(*ed_->PublicPem());
  ASSERT_TRUE(public_only.has_value());
  TokenSigner cannot_sign(Source(*public_only), clock_);
  EXPECT_EQ(cannot_sign.Mint(Request()).error().code(), ErrorCode::kFailedPrecondition);

  // With several keys, the active one signs.
  auto set = KeySet::Create({{rsa_, KeyState::kRetired},
                             {ed_, KeyState::kActive},
                             {*ed_->With({}, "n"), KeyState::kNext}});
  ASSERT_TRUE(set.has_value());
  auto token = TokenSigner(std::make_shared<StaticKeySource>(*set), clock_).Mint(Request());
  ASSERT_TRUE(token.has_value());
  EXPECT_NE(HeaderOf(*token).find(ed_->kid()), std::string::npos);
}

TEST_F(SignerTest, ReissueKeepsTheClaimsWithAFreshJtiAndLifetime) {
  auto source = Source(ed_);
  TokenSigner signer(source, clock_);
  auto validator = ValidatorFor(source);
  MintRequest request = Request();
  request.scope = "dag:etl task:extract";
  request.aud = {"airlock", "other"};
  request.ttl_seconds = 600;
  request.extra_claims = {{"ti", R"({"try":3})"}};
  auto first = signer.Mint(request);
  ASSERT_TRUE(first.has_value());
  auto old_claims = validator->Validate(*first);
  ASSERT_TRUE(old_claims.has_value());

  clock_.Advance(500);
  auto reissued = signer.Reissue(*old_claims, 900);
  ASSERT_TRUE(reissued.has_value()) << reissued.error().ToString();
  auto new_claims = validator->Validate(*reissued);
  ASSERT_TRUE(new_claims.has_value()) << new_claims.error().message;
  EXPECT_EQ(new_claims->sub, old_claims->sub);
  EXPECT_EQ(new_claims->scope, old_claims->scope);
  EXPECT_EQ(new_claims->iss, old_claims->iss);
  EXPECT_EQ(new_claims->aud, old_claims->aud);
  EXPECT_EQ(PayloadOf(*reissued).at("ti"), PayloadOf(*first).at("ti"));
  ASSERT_TRUE(new_claims->jti.has_value());
  EXPECT_NE(new_claims->jti, old_claims->jti);
  EXPECT_TRUE(IsLowerHex32(*new_claims->jti));
  EXPECT_EQ(new_claims->iat, kNow + 500);
  EXPECT_EQ(new_claims->nbf, kNow + 500);
  EXPECT_EQ(new_claims->exp, kNow + 500 + 900);
  EXPECT_NE(*reissued, *first);

  // The reissued token outlives the original.
  clock_.Advance(600);
  EXPECT_EQ(validator->Validate(*first).error().failure, Failure::kExpired);
  EXPECT_TRUE(validator->Validate(*reissued).has_value());
}

TEST_F(SignerTest, ReissueRefusesLifetimesMintRefuses) {
  TokenSigner signer(Source(ed_), clock_);
  auto token = signer.Mint(Request());
  ASSERT_TRUE(token.has_value());
  auto claims = ValidatorFor(Source(ed_))->Validate(*token);
  ASSERT_TRUE(claims.has_value());
  for (int64_t ttl : {int64_t{0}, int64_t{-5}, INT64_MAX, kMaxNumericDate}) {
    auto reissued = signer.Reissue(*claims, ttl);
    ASSERT_FALSE(reissued.has_value()) << ttl;
    EXPECT_EQ(reissued.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST_F(SignerTest, ReissueUsesTheCurrentActiveKey) {
  auto source = std::make_shared<StaticKeySource>(*KeySet::Create({{ed_, KeyState::kActive}}));
  TokenSigner signer(source, clock_);
  auto token = signer.Mint(Request());
  ASSERT_TRUE(token.has_value());
  auto claims = ValidatorFor(source)->Validate(*token);
  ASSERT_TRUE(claims.has_value());
  source->Replace(*KeySet::Create({{ed_, KeyState::kRetired}, {rsa_, KeyState::kActive}}));
  auto reissued = signer.Reissue(*claims, 60);
  ASSERT_TRUE(reissued.has_value());
  EXPECT_NE(HeaderOf(*reissued).find("RS256"), std::string::npos);
  EXPECT_TRUE(ValidatorFor(source)->Validate(*reissued).has_value());
}

}  // namespace
}  // namespace airlock::jwt

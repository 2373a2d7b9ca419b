#include "jwt/validator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <set>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_set.h"
#include "jwt/key_source.h"

// The table of hostile tokens is in hostile_tokens_test.cc; this file covers the
// Validator's contract around it: options, claims, clock arithmetic, the order of checks,
// the key source interplay and concurrency.

namespace airlock::jwt {
namespace {

constexpr int64_t kNow = 1'800'000'000;

// A fixed test key from testdata/tokens/keys (generating RSA keys per test is slow).
KeyPtr TestKey(const std::string& file) {
  auto key = LoadKeyFile(std::string(AIRLOCK_SOURCE_DIR) + "/testdata/tokens/keys/" + file);
  EXPECT_TRUE(key.has_value()) << key.error().ToString();
  return key.value_or(nullptr);
}

std::string Sign(const Key& key, std::string_view header, std::string_view payload) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  auto sig = key.Sign(input);
  EXPECT_TRUE(sig.has_value());
  return input + "." + Base64UrlEncode(sig.value_or(""));
}

std::string Header(const Key& key) {
  return key.kid().empty() ? R"({"alg":")" + std::string(AlgorithmName(key.algorithm())) + R"("})"
                           : R"({"alg":")" + std::string(AlgorithmName(key.algorithm())) +
                                 R"(","kid":")" + key.kid() + R"("})";
}

std::string Payload(int64_t iat, int64_t exp, std::string_view extra = "") {
  return R"({"aud":"airlock","iat":)" + std::to_string(iat) + R"(,"exp":)" + std::to_string(exp) +
         std::string(extra) + "}";
}

class ValidatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    secret_ = *Key::FromSecret(std::string(64, 'v'));
    ed_ = TestKey("ed25519_a.pem");
    rsa_ = TestKey("rsa_a.pem");
  }
  static void TearDownTestSuite() {
    secret_.reset();
    ed_.reset();
    rsa_.reset();
  }

  // A cached token is still refused once it has expired (default leeway 10 s) and once a
  // new key set drops its key: `validate` is Validate or ValidateShared, over a cache that
  // holds `token`, signed by ed_ with exp kNow + 60 and served by `source`.
  template <typename ValidateFn>
  void ExpectCachedTokenStillCheckedForExpiryAndKeys(ValidateFn validate, const std::string& token,
                                                     StaticKeySource& source) {
    clock_.Set(kNow + 60 + 10);
    auto expired = validate(token);
    ASSERT_FALSE(expired.has_value());
    EXPECT_EQ(expired.error().failure, Failure::kExpired);
    clock_.Set(kNow);

    source.Replace(*KeySet::Create({{rsa_, KeyState::kActive}}));
    auto rotated = validate(token);
    ASSERT_FALSE(rotated.has_value());
    EXPECT_EQ(rotated.error().failure, Failure::kUnknownKid);
  }

  std::unique_ptr<Validator> Make(std::shared_ptr<KeySource> keys, ValidatorOptions options = {}) {
    if (options.audiences.empty()) options.audiences = {"airlock"};
    auto v = Validator::Create(std::move(keys), std::move(options), clock_);
    EXPECT_TRUE(v.has_value()) << v.error().ToString();
    return v ? std::move(*v) : nullptr;
  }
  static std::shared_ptr<KeySource> Single(KeyPtr key) {
    return std::make_shared<StaticKeySource>(KeySet::Single(std::move(key)));
  }
  static std::shared_ptr<KeySource> Jwks() {
    auto set = KeySet::Create({{ed_, KeyState::kActive}, {rsa_, KeyState::kRetired}});
    return std::make_shared<StaticKeySource>(*ParseJwks(set->ToJwks()));
  }

  FakeClock clock_{kNow};
  static KeyPtr secret_;
  static KeyPtr ed_;
  static KeyPtr rsa_;
};
KeyPtr ValidatorTest::secret_;
KeyPtr ValidatorTest::ed_;
KeyPtr ValidatorTest::rsa_;

TEST_F(ValidatorTest, CreateRefusesIncompleteOptions) {
  EXPECT_FALSE(Validator::Create(nullptr, {.audiences = {"a"}}, clock_).has_value());
  EXPECT_FALSE(Validator::Create(Single(secret_), {}, clock_).has_value()) << "no audience";
  EXPECT_FALSE(
      Validator::Create(Single(secret_), {.audiences = {"a"}, .leeway_seconds = -1}, clock_)
          .has_value());
  EXPECT_FALSE(Validator::Create(Single(secret_),
                                 {.audiences = {"a"}, .leeway_seconds = kMaxLeewaySeconds + 1},
                                 clock_)
                   .has_value());
  EXPECT_TRUE(Validator::Create(Single(secret_),
                                {.audiences = {"a"}, .leeway_seconds = kMaxLeewaySeconds}, clock_)
                  .has_value());
}

TEST_F(ValidatorTest, ReturnsTheClaimsOfAValidToken) {
  auto v = Make(Jwks(), {.audiences = {"other", "airlock"}, .issuer = "https://iss"});
  const std::string payload =
      R"({"jti":"0123456789abcdef0123456789abcdef","iss":"https://iss","aud":["x","airlock"],)"
      R"("sub":"task-7","scope":"dag:a","role":"worker","iat":1800000000,"nbf":1799999990,)"
      R"("exp":1800000600,"custom":{"k":[1,2]}})";
  auto claims = v->Validate(Sign(*ed_, Header(*ed_), payload));
  ASSERT_TRUE(claims.has_value()) << claims.error().message;
  EXPECT_EQ(claims->jti, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(claims->iss, "https://iss");
  EXPECT_EQ(claims->sub, "task-7");
  EXPECT_EQ(claims->aud, (std::vector<std::string>{"x", "airlock"}));
  EXPECT_EQ(claims->scope, "dag:a");
  EXPECT_EQ(claims->role, "worker");
  EXPECT_EQ(claims->iat, 1800000000);
  EXPECT_EQ(claims->nbf, 1799999990);
  EXPECT_EQ(claims->exp, 1800000600);
  EXPECT_EQ(claims->payload_json, payload);  // verbatim, for reissue
  EXPECT_EQ(claims->alg, Algorithm::kEdDSA);
  EXPECT_EQ(claims->kid, ed_->kid());

  // A string "aud" becomes one element; absent optional claims stay absent.
  auto minimal =
      v->Validate(Sign(*rsa_, Header(*rsa_), Payload(kNow, kNow + 60, R"(,"iss":"https://iss")")));
  ASSERT_TRUE(minimal.has_value()) << minimal.error().message;
  EXPECT_EQ(minimal->aud, std::vector<std::string>{"airlock"});
  EXPECT_FALSE(minimal->sub.has_value());
  EXPECT_FALSE(minimal->jti.has_value());
  EXPECT_FALSE(minimal->nbf.has_value());
  EXPECT_EQ(minimal->alg, Algorithm::kRS256);
}

TEST_F(ValidatorTest, KidlessTokensNeedASingleKeySource) {
  auto single = Make(Single(secret_));
  auto claims = single->Validate(Sign(*secret_, R"({"alg":"HS512"})", Payload(kNow, kNow + 60)));
  ASSERT_TRUE(claims.has_value()) << claims.error().message;
  EXPECT_EQ(claims->kid, "");
  EXPECT_EQ(claims->alg, Algorithm::kHS512);

  // The same Ed25519 key: accepted without kid from a single key file, refused from a JWKS.
  const std::string kidless = Sign(*ed_, R"({"alg":"EdDSA"})", Payload(kNow, kNow + 60));
  EXPECT_TRUE(Make(Single(ed_))->Validate(kidless).has_value());
  auto from_jwks = Make(Jwks())->Validate(kidless);
  ASSERT_FALSE(from_jwks.has_value());
  EXPECT_EQ(from_jwks.error().failure, Failure::kMissingKid);
  // A set built with Create() is never kidless, even with one key.
  auto one = KeySet::Create({{ed_, KeyState::kActive}});
  auto created = Make(std::make_shared<StaticKeySource>(*one))->Validate(kidless);
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.error().failure, Failure::kMissingKid);
}

TEST_F(ValidatorTest, ExpiryFollowsTheClockWithLeeway) {
  auto v = Make(Single(secret_));
  const std::string token = Sign(*secret_, R"({"alg":"HS512"})", Payload(kNow, kNow + 60));
  EXPECT_TRUE(v->Validate(token).has_value());
  clock_.Set(kNow + 60 + kDefaultLeewaySeconds - 1);
  EXPECT_TRUE(v->Validate(token).has_value());
  clock_.Set(kNow + 60 + kDefaultLeewaySeconds);
  auto expired = v->Validate(token);
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().failure, Failure::kExpired);
  EXPECT_EQ(expired.error().message, "token has expired");
  // Back in time, before iat - leeway: issued in the future.
  clock_.Set(kNow - kDefaultLeewaySeconds - 1);
  auto future = v->Validate(token);
  ASSERT_FALSE(future.has_value());
  EXPECT_EQ(future.error().failure, Failure::kIssuedInFuture);
}

TEST_F(ValidatorTest, LeewayIsConfigurable) {
  auto strict = Make(Single(secret_), {.leeway_seconds = 0});
  auto check = [&](const Validator& v, int64_t iat, int64_t exp, std::string_view extra = "") {
    auto r = v.Validate(Sign(*secret_, R"({"alg":"HS512"})", Payload(iat, exp, extra)));
    return r.has_value() ? std::string("ok") : std::string(FailureName(r.error().failure));
  };
  EXPECT_EQ(check(*strict, kNow, kNow), "expired");
  EXPECT_EQ(check(*strict, kNow, kNow + 1), "ok");
  EXPECT_EQ(check(*strict, kNow + 1, kNow + 60), "issued_in_future");
  EXPECT_EQ(check(*strict, kNow, kNow + 60, R"(,"nbf":1800000001)"), "not_yet_valid");
  EXPECT_EQ(check(*strict, kNow, kNow + 60, R"(,"nbf":1800000000)"), "ok");

  auto day = Make(Single(secret_), {.leeway_seconds = kMaxLeewaySeconds});
  EXPECT_EQ(check(*day, kNow, kNow - kMaxLeewaySeconds + 1), "ok");
  EXPECT_EQ(check(*day, kNow, kNow - kMaxLeewaySeconds), "expired");
  EXPECT_EQ(check(*day, kNow + kMaxLeewaySeconds, kNow + kMaxLeewaySeconds + 1), "ok");
  EXPECT_EQ(check(*day, kNow + kMaxLeewaySeconds + 1, kNow + kMaxLeewaySeconds + 2),
            "issued_in_future");
}

// now ± leeway is computed with saturating arithmetic: clocks at the ends of int64 give
// answers, not overflow.
TEST_F(ValidatorTest, TimeArithmeticIsOverflowSafe) {
  auto v = Make(Single(secret_), {.leeway_seconds = kMaxLeewaySeconds});
  const std::string token =
      Sign(*secret_, R"({"alg":"HS512"})", Payload(0, kMaxNumericDate, R"(,"nbf":0)"));
  clock_.Set(INT64_MAX);
  auto at_max = v->Validate(token);
  ASSERT_FALSE(at_max.has_value());
  EXPECT_EQ(at_max.error().failure, Failure::kExpired);
  clock_.Set(INT64_MAX - 5);
  EXPECT_EQ(v->Validate(token).error().failure, Failure::kExpired);
  clock_.Set(INT64_MIN);
  auto at_min = v->Validate(token);
  ASSERT_FALSE(at_min.has_value());
  EXPECT_EQ(at_min.error().failure, Failure::kIssuedInFuture);
  clock_.Set(INT64_MIN + 5);
  EXPECT_EQ(v->Validate(token).error().failure, Failure::kIssuedInFuture);
  clock_.Set(kMaxNumericDate - 1);
  EXPECT_TRUE(v->Validate(token).has_value());
}

TEST_F(ValidatorTest, AllowedAlgorithmsNarrowTheKeyBinding) {
  auto v = Make(Jwks(), {.allowed_algorithms = {Algorithm::kRS256}});
  EXPECT_TRUE(v->Validate(Sign(*rsa_, Header(*rsa_), Payload(kNow, kNow + 60))).has_value());
  auto ed = v->Validate(Sign(*ed_, Header(*ed_), Payload(kNow, kNow + 60)));
  ASSERT_FALSE(ed.has_value());
  EXPECT_EQ(ed.error().failure, Failure::kAlgorithmNotAllowed);
}

// Rule 7 before rule 8: a forged token never reaches the JSON parser with its payload.
TEST_F(ValidatorTest, SignatureIsCheckedBeforeThePayloadIsParsed) {
  auto v = Make(Single(secret_));
  const std::string header = Base64UrlEncode(R"({"alg":"HS512"})");
  for (std::string_view payload : {"not json", "{\"a\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}",
                                   "{\"exp\":\"soon\"}", "{\"a\":1,\"a\":2}"}) {
    const std::string token =
        header + "." + Base64UrlEncode(payload) + "." + Base64UrlEncode(std::string(64, '\x01'));
    auto r = v->Validate(token);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().failure, Failure::kBadSignature) << payload;
    // Correctly signed, the same payload fails for what it is.
    auto signed_token = Sign(*secret_, R"({"alg":"HS512"})", payload);
    EXPECT_NE(v->Validate(signed_token).error().failure, Failure::kBadSignature) << payload;
  }
}

// A token naming a kid the current set lacks asks the source once, then uses what it gets.
class RotatingSource final : public KeySource {
 public:
  RotatingSource(KeySet first, KeySet second)
      : current_(std::make_shared<const KeySet>(std::move(first))),
        next_(std::make_shared<const KeySet>(std::move(second))) {}
  std::shared_ptr<const KeySet> Current() const override { return current_; }
  std::shared_ptr<const KeySet> RefreshForUnknownKid() override {
    ++refreshes;
    current_ = next_;
    return current_;
  }
  int refreshes = 0;

 private:
  std::shared_ptr<const KeySet> current_;
  std::shared_ptr<const KeySet> next_;
};

TEST_F(ValidatorTest, UnknownKidAsksTheSourceToRefresh) {
  auto source = std::make_shared<RotatingSource>(
      *KeySet::Create({{rsa_, KeyState::kActive}}),
      *KeySet::Create({{rsa_, KeyState::kRetired}, {ed_, KeyState::kActive}}));
  auto v = Make(source);
  EXPECT_TRUE(v->Validate(Sign(*rsa_, Header(*rsa_), Payload(kNow, kNow + 60))).has_value());
  EXPECT_EQ(source->refreshes, 0) << "a known kid never refreshes";
  EXPECT_TRUE(v->Validate(Sign(*ed_, Header(*ed_), Payload(kNow, kNow + 60))).has_value());
  EXPECT_EQ(source->refreshes, 1);
  auto unknown =
      v->Validate(Sign(*ed_, R"({"alg":"EdDSA","kid":"gone"})", Payload(kNow, kNow + 60)));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().failure, Failure::kUnknownKid);
  EXPECT_EQ(source->refreshes, 2) << "one refresh per unknown kid, no retry loop";
}

TEST_F(ValidatorTest, ReplacedKeySetsApplyToTheNextToken) {
  auto source = std::make_shared<StaticKeySource>(*KeySet::Create({{ed_, KeyState::kActive}}));
  auto v = Make(source);
  const std::string token = Sign(*ed_, Header(*ed_), Payload(kNow, kNow + 60));
  EXPECT_TRUE(v->Validate(token).has_value());
  source->Replace(*KeySet::Create({{rsa_, KeyState::kActive}}));
  auto after = v->Validate(token);
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.error().failure, Failure::kUnknownKid);
}

TEST_F(ValidatorTest, VerifiedTokenCacheAnswersRepeatsAndStillChecksTime) {
  auto source = std::make_shared<StaticKeySource>(*KeySet::Create({{ed_, KeyState::kActive}}));
  auto v = Make(source, {.cache_capacity = 64});
  const std::string token = Sign(*ed_, Header(*ed_), Payload(kNow, kNow + 60));
  auto first = v->Validate(token);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(v->cache_hits(), 0u);
  auto again = v->Validate(token);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(v->cache_hits(), 1u);
  EXPECT_EQ(again->payload_json, first->payload_json);
  EXPECT_EQ(again->jti, first->jti);

  // A token one byte away is not the cached one: it is verified, and fails.
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(v->Validate(tampered).has_value());
  // Nor is one with the cached token's signature, length and end (what the cache hashes)
  // and a payload changed in one byte.
  std::string same_end = token;
  char& c = same_end[token.find('.') + 5];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_FALSE(v->Validate(same_end).has_value());
  EXPECT_EQ(v->cache_hits(), 1u);

  // Expiry is checked on every call, cached or not, and a new key set bypasses every
  // entry: the rotated-out key's token is refused.
  ExpectCachedTokenStillCheckedForExpiryAndKeys(
      [&](const std::string& t) { return v->Validate(t); }, token, *source);
}

TEST_F(ValidatorTest, ValidateSharedHandsOutTheCachedClaimsAndStillChecksEverything) {
  auto source = std::make_shared<StaticKeySource>(*KeySet::Create({{ed_, KeyState::kActive}}));
  auto v = Make(source, {.cache_capacity = 64});
  const std::string token = Sign(*ed_, Header(*ed_), Payload(kNow, kNow + 60));
  auto first = v->ValidateShared(token);
  ASSERT_TRUE(first.has_value());
  auto again = v->ValidateShared(token);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->get(), first->get()) << "a cache hit shares the entry's claims";
  EXPECT_EQ(v->cache_hits(), 1u);
  EXPECT_EQ((*again)->jti, v->Validate(token)->jti);

  ExpectCachedTokenStillCheckedForExpiryAndKeys(
      [&](const std::string& t) { return v->ValidateShared(t); }, token, *source);
}

TEST_F(ValidatorTest, ValidateSharedWithoutACacheGivesEachCallItsOwnClaims) {
  auto v = Make(Single(secret_));
  const std::string token =
      Sign(*secret_, R"({"alg":"HS512","typ":"JWT"})", Payload(kNow, kNow + 60));
  auto first = v->ValidateShared(token);
  auto again = v->ValidateShared(token);
  ASSERT_TRUE(first.has_value() && again.has_value());
  EXPECT_NE(first->get(), again->get());
  EXPECT_EQ(v->cache_hits(), 0u);
}

TEST_F(ValidatorTest, VerifiedTokenCacheStaysBounded) {
  auto v = Make(Single(secret_), {.cache_capacity = 16});
  std::vector<std::string> tokens;
  for (int i = 0; i < 200; ++i) {
    tokens.push_back(
        Sign(*secret_, R"({"alg":"HS512","typ":"JWT"})", Payload(kNow, kNow + 60 + i)));
    ASSERT_TRUE(v->Validate(tokens.back()).has_value());
  }
  // Every token still validates (evicted ones are verified again); at most the capacity
  // (one entry per shard here) could have been answered from the cache.
  for (const auto& t : tokens) ASSERT_TRUE(v->Validate(t).has_value());
  EXPECT_LE(v->cache_hits(), 16u);
}

TEST_F(ValidatorTest, FailureNamesAreDistinct) {
  std::set<std::string_view> names;
  for (int f = 0; f <= static_cast<int>(Failure::kWrongIssuer); ++f) {
    auto name = FailureName(static_cast<Failure>(f));
    EXPECT_NE(name, "?");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(names.size(), 17u);
}

TEST_F(ValidatorTest, DecodeUnverifiedSplitsWithoutVerifying) {
  const std::string none =
      Base64UrlEncode(R"({"alg":"none"})") + "." + Base64UrlEncode(R"({"sub":"x"})") + ".";
  auto decoded = DecodeUnverified(none);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->header_json, R"({"alg":"none"})");
  EXPECT_EQ(decoded->payload, R"({"sub":"x"})");
  EXPECT_EQ(decoded->signature, "");
  // The structural rules still apply.
  EXPECT_EQ(DecodeUnverified(none + ".").error().failure, Failure::kMalformed);
  EXPECT_EQ(DecodeUnverified(none + "=").error().failure, Failure::kMalformed);
  EXPECT_EQ(DecodeUnverified(Base64UrlEncode("[]") + ".e30.").error().failure, Failure::kMalformed);
  EXPECT_EQ(DecodeUnverified(std::string(kMaxTokenBytes + 1, 'a')).error().failure,
            Failure::kTooLarge);
}

TEST_F(ValidatorTest, VerifyCompactSignatureChecksHeaderAndSignatureOnly) {
  // Any payload, JSON or not: this is the layer RFC 8037's text payload is checked at.
  const std::string token = Sign(*ed_, R"({"alg":"EdDSA"})", "plain text payload");
  EXPECT_TRUE(VerifyCompactSignature(token, *ed_));
  EXPECT_FALSE(VerifyCompactSignature(token, *rsa_)) << "alg differs from the key's";
  EXPECT_FALSE(VerifyCompactSignature(token + "x", *ed_));
  EXPECT_FALSE(VerifyCompactSignature(Sign(*ed_, R"({"alg":"EdDSA","jku":"x"})", "p"), *ed_));
  EXPECT_FALSE(VerifyCompactSignature(Sign(*ed_, R"({"alg":"EdDSA","kid":"../x"})", "p"), *ed_));
  EXPECT_FALSE(VerifyCompactSignature(Sign(*ed_, R"({"alg":"none"})", "p"), *ed_));
  EXPECT_FALSE(VerifyCompactSignature(Sign(*ed_, R"({"alg":"EdDSA","alg":"EdDSA"})", "p"), *ed_));
}

TEST_F(ValidatorTest, ValidationIsThreadSafe) {
  auto source = std::make_shared<StaticKeySource>(
      *KeySet::Create({{ed_, KeyState::kActive},
                       {rsa_, KeyState::kRetired},
                       {*secret_->With({}, "hs"), KeyState::kRetired}}));
  auto v = Make(source);
  const std::vector<std::string> good = {
      Sign(*ed_, Header(*ed_), Payload(kNow, kNow + 60)),
      Sign(*rsa_, Header(*rsa_), Payload(kNow, kNow + 60)),
      Sign(*secret_, R"({"alg":"HS512","kid":"hs"})", Payload(kNow, kNow + 60)),
  };
  std::string bad = good[0];
  bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
  for (const auto& t : good) ASSERT_TRUE(v->Validate(t).has_value());

  constexpr int kThreads = 8;
  constexpr int kRounds = 300;
  std::atomic<int> accepted{0}, rejected{0}, wrong{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kRounds; ++i) {
        // All threads verify the same token at once; every fourth round a forged one.
        const std::string& token = i % 4 == 3 ? bad : good[(i / 4 + t) % good.size()];
        auto r = v->Validate(token);
        if (&token == &bad) {
          (r.has_value() || r.error().failure != Failure::kBadSignature ? wrong : rejected)++;
        } else {
          (r.has_value() && r->aud[0] == "airlock" ? accepted : wrong)++;
        }
        // Key rotation racing with validation: the set is swapped, never half-updated.
        if (t == 0 && i % 16 == 0)
          source->Replace(*KeySet::Create({{ed_, KeyState::kActive},
                                           {rsa_, KeyState::kRetired},
                                           {*secret_->With({}, "hs"), KeyState::kRetired}}));
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(accepted.load(), kThreads * kRounds * 3 / 4);
  EXPECT_EQ(rejected.load(), kThreads * kRounds / 4);
}

}  // namespace
}  // namespace airlock::jwt

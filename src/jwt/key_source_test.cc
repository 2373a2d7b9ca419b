#include "jwt/key_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/validator.h"
#include "testing/temp_dir.h"

namespace airlock::jwt {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kUrl[] = "https://idp.example/.well-known/jwks.json";

// A fixed test key from testdata/tokens/keys (generating RSA keys per test is slow).
KeyPtr TestKey(const std::string& file) {
  auto key = LoadKeyFile(std::string(AIRLOCK_SOURCE_DIR) + "/testdata/tokens/keys/" + file);
  EXPECT_TRUE(key.has_value()) << key.error().ToString();
  return key.value_or(nullptr);
}

// A UrlFetcher double: serves `body` (or `error`) and counts requests.
struct FakeFetcher {
  std::mutex mu;
  std::string body;
  std::optional<Error> error;
  int calls = 0;
  std::string last_url;

  UrlFetcher AsFetcher() {
    return [this](const std::string& url) -> Result<std::string> {
      std::lock_guard lock(mu);
      ++calls;
      last_url = url;
      if (error) return std::unexpected(*error);
      return body;
    };
  }
  void Serve(std::string b) {
    std::lock_guard lock(mu);
    body = std::move(b);
    error.reset();
  }
  void Fail(Error e) {
    std::lock_guard lock(mu);
    error = std::move(e);
  }
};

class KeySourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    a_ = TestKey("ed25519_a.pem");
    b_ = TestKey("ed25519_b.pem");
    c_ = TestKey("rsa_a.pem");
  }
  static void TearDownTestSuite() {
    a_.reset();
    b_.reset();
    c_.reset();
  }

  static std::string JwksOf(std::vector<KeyPtr> keys) {
    std::vector<KeyEntry> entries;
    for (auto& k : keys) entries.push_back({std::move(k), KeyState::kRetired});
    return KeySet::Create(std::move(entries))->ToJwks();
  }
  static std::string Token(const Key& key) {
    std::string input =
        Base64UrlEncode(R"({"alg":")" + std::string(AlgorithmName(key.algorithm())) +
                        R"(","kid":")" + key.kid() + R"("})") +
        "." + Base64UrlEncode(R"({"aud":"airlock","iat":1800000000,"exp":1800000600})");
    return input + "." + Base64UrlEncode(*key.Sign(input));
  }
  std::unique_ptr<JwksKeySource> UrlSource(FakeFetcher& fetcher) {
    auto source =
        JwksKeySource::Create(kUrl, fetcher.AsFetcher(), clock_, {.background_polling = false});
    EXPECT_TRUE(source.has_value()) << source.error().ToString();
    return source ? std::move(*source) : nullptr;
  }

  FakeClock clock_{kNow};
  test::TempDir temp_{"airlock-keysource"};
  const std::string dir_ = temp_.path();
  static KeyPtr a_;
  static KeyPtr b_;
  static KeyPtr c_;
};
KeyPtr KeySourceTest::a_;
KeyPtr KeySourceTest::b_;
KeyPtr KeySourceTest::c_;

TEST_F(KeySourceTest, StaticSourceReplaceSwapsTheWholeSet) {
  StaticKeySource source(KeySet::Single(a_));
  auto before = source.Current();
  ASSERT_NE(before, nullptr);
  EXPECT_NE(before->Find(a_->kid()), nullptr);
  EXPECT_EQ(source.RefreshForUnknownKid(), before) << "a static source cannot refresh";

  source.Replace(*KeySet::Create({{b_, KeyState::kActive}, {c_, KeyState::kRetired}}));
  auto after = source.Current();
  EXPECT_EQ(after->Find(a_->kid()), nullptr);
  EXPECT_EQ(after->Active(), after->Find(b_->kid()));
  EXPECT_NE(after->Find(c_->kid()), nullptr);
  // A reader holding the old set keeps a consistent snapshot.
  EXPECT_NE(before->Find(a_->kid()), nullptr);
  EXPECT_EQ(before->entries().size(), 1u);
}

TEST_F(KeySourceTest, JwksFromAFile) {
  const std::string path = dir_ + "/jwks.json";
  ASSERT_TRUE(WriteNewFile(path, JwksOf({a_, c_}), 0600).has_value());
  auto source = JwksKeySource::Create(path, {}, clock_, {.background_polling = false});
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  auto set = (*source)->Current();
  ASSERT_EQ(set->entries().size(), 2u);
  EXPECT_NE(set->Find(a_->kid()), nullptr);
  EXPECT_NE(set->Find(c_->kid()), nullptr);
  EXPECT_EQ(set->Active(), nullptr) << "a JWKS only validates";
  EXPECT_EQ(set->KidlessKey(), nullptr) << "a JWKS never accepts kidless tokens";
  EXPECT_FALSE(set->Find(a_->kid())->can_sign());
  EXPECT_EQ((*source)->fetch_count(), 1);

  // Refresh() re-reads the file.
  std::filesystem::remove(path);
  ASSERT_TRUE(WriteNewFile(path, JwksOf({b_}), 0600).has_value());
  ASSERT_TRUE((*source)->Refresh().has_value());
  EXPECT_NE((*source)->Current()->Find(b_->kid()), nullptr);
  EXPECT_EQ((*source)->Current()->Find(a_->kid()), nullptr);
}

TEST_F(KeySourceTest, FirstLoadMustSucceed) {
  auto missing =
      JwksKeySource::Create(dir_ + "/none.json", {}, clock_, {.background_polling = false});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find(dir_ + "/none.json"), std::string::npos);

  ASSERT_TRUE(WriteNewFile(dir_ + "/bad.json", "{\"keys\":[", 0600).has_value());
  EXPECT_FALSE(JwksKeySource::Create(dir_ + "/bad.json", {}, clock_, {.background_polling = false})
                   .has_value());

  FakeFetcher fetcher;
  fetcher.Fail(Error(ErrorCode::kUnavailable, "connection refused"));
  auto failing =
      JwksKeySource::Create(kUrl, fetcher.AsFetcher(), clock_, {.background_polling = false});
  ASSERT_FALSE(failing.has_value());
  EXPECT_EQ(failing.error().code(), ErrorCode::kUnavailable);

  // A URL needs a fetcher.
  auto no_fetcher = JwksKeySource::Create(kUrl, {}, clock_, {.background_polling = false});
  ASSERT_FALSE(no_fetcher.has_value());
  EXPECT_EQ(no_fetcher.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(KeySourceTest, UrlSourceFetchesThroughTheInjectedFetcher) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  auto source = UrlSource(fetcher);
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(fetcher.calls, 1);
  EXPECT_EQ(fetcher.last_url, kUrl);
  EXPECT_NE(source->Current()->Find(a_->kid()), nullptr);
}

TEST_F(KeySourceTest, UnknownKidRefetchesAtMostOncePerTenSeconds) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  auto source = UrlSource(fetcher);
  ASSERT_NE(source, nullptr);
  std::shared_ptr<KeySource> shared(std::move(source));
  auto* jwks = static_cast<JwksKeySource*>(shared.get());
  auto validator = Validator::Create(shared, {.audiences = {"airlock"}}, clock_);
  ASSERT_TRUE(validator.has_value());

  // b is published only after the first fetch: the first token naming it triggers one
  // refetch and validates.
  fetcher.Serve(JwksOf({a_, b_}));
  EXPECT_TRUE((*validator)->Validate(Token(*b_)).has_value());
  EXPECT_EQ(fetcher.calls, 2);
  EXPECT_EQ(jwks->fetch_count(), 2);

  // A flood of made-up kids within 10 s causes no further fetch...
  fetcher.Serve(JwksOf({a_, b_, c_}));
  auto forged = Token(*c_);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ((*validator)->Validate(forged).error().failure, Failure::kUnknownKid);
  }
  EXPECT_EQ(fetcher.calls, 2);
  clock_.Advance(9);
  EXPECT_EQ((*validator)->Validate(forged).error().failure, Failure::kUnknownKid);
  EXPECT_EQ(fetcher.calls, 2);
  // ...and once 10 s have passed, the next unknown kid fetches again.
  clock_.Advance(1);
  EXPECT_TRUE((*validator)->Validate(forged).has_value());
  EXPECT_EQ(fetcher.calls, 3);
  // Known kids never fetch.
  clock_.Advance(100);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE((*validator)->Validate(Token(*a_)).has_value());
  EXPECT_EQ(fetcher.calls, 3);
}

TEST_F(KeySourceTest, RefetchIntervalIsConfigurable) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  auto source = JwksKeySource::Create(
      kUrl, fetcher.AsFetcher(), clock_,
      {.min_refetch_interval = std::chrono::seconds(60), .background_polling = false});
  ASSERT_TRUE(source.has_value());
  (*source)->RefreshForUnknownKid();
  EXPECT_EQ(fetcher.calls, 2);
  clock_.Advance(59);
  (*source)->RefreshForUnknownKid();
  EXPECT_EQ(fetcher.calls, 2);
  clock_.Advance(1);
  (*source)->RefreshForUnknownKid();
  EXPECT_EQ(fetcher.calls, 3);
}

TEST_F(KeySourceTest, FailingFetchKeepsTheLastGoodSet) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  auto source = UrlSource(fetcher);
  ASSERT_NE(source, nullptr);
  auto good = source->Current();

  fetcher.Fail(Error(ErrorCode::kUnavailable, "HTTP 503"));
  auto refreshed = source->Refresh();
  ASSERT_FALSE(refreshed.has_value());
  EXPECT_EQ(refreshed.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(source->Current(), good);
  EXPECT_NE(source->Current()->Find(a_->kid()), nullptr);

  // The same through the unknown-kid path: the fetch is attempted, the set survives.
  EXPECT_EQ(source->RefreshForUnknownKid(), good);
  EXPECT_EQ(fetcher.calls, 3);
  EXPECT_EQ(source->Current(), good);

  // Recovery: the next successful fetch replaces the set.
  fetcher.Serve(JwksOf({b_}));
  ASSERT_TRUE(source->Refresh().has_value());
  EXPECT_NE(source->Current()->Find(b_->kid()), nullptr);
}

TEST_F(KeySourceTest, MalformedJwksIsRefusedAndKeepsTheLastGoodSet) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  auto source = UrlSource(fetcher);
  ASSERT_NE(source, nullptr);
  auto good = source->Current();

  const std::string a_jwk = *a_->PublicJwk();
  for (const std::string& body :
       {std::string("{not json"), std::string(""), std::string("[]"), std::string("{}"),
        std::string(R"({"keys":{}})"), std::string(R"({"keys":[]})"),
        std::string(R"({"keys":[{"kty":"oct","k":"c2hvcnQ"}]})"),  // nothing usable
        R"({"keys":[)" + a_jwk + "," + a_jwk + "]}",               // duplicate kid
        R"({"keys":[)" + a_jwk + R"(],"keys":[]})",                // duplicate name
        std::string("<html>502 Bad Gateway</html>")}) {
    fetcher.Serve(body);
    auto refreshed = source->Refresh();
    ASSERT_FALSE(refreshed.has_value()) << body;
    EXPECT_EQ(refreshed.error().code(), ErrorCode::kInvalidArgument) << body;
    EXPECT_EQ(source->Current(), good) << body;
  }
  // Keys that fail the import checks are skipped, the rest are used.
  fetcher.Serve(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"weak"},)" + *b_->PublicJwk() +
                "]}");
  ASSERT_TRUE(source->Refresh().has_value());
  EXPECT_EQ(source->Current()->Find("weak"), nullptr);
  EXPECT_NE(source->Current()->Find(b_->kid()), nullptr);
}

TEST_F(KeySourceTest, BackgroundPollerStopsWithTheSource) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  {
    auto source = JwksKeySource::Create(kUrl, fetcher.AsFetcher(), clock_,
                                        {.poll_interval = std::chrono::seconds(3600)});
    ASSERT_TRUE(source.has_value());
    EXPECT_NE((*source)->Current()->Find(a_->kid()), nullptr);
  }  // the destructor wakes and joins the poller instead of waiting an hour
  EXPECT_EQ(fetcher.calls, 1);
}

TEST_F(KeySourceTest, BackgroundPollerRefetchesTheJwks) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({a_}));
  auto source = JwksKeySource::Create(kUrl, fetcher.AsFetcher(), clock_,
                                      {.poll_interval = std::chrono::milliseconds(10)});
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  EXPECT_EQ((*source)->Current()->Find(b_->kid()), nullptr);
  fetcher.Serve(JwksOf({a_, b_}));
  // Nothing asks for b: only the poller can bring it. No timing is asserted, only that it
  // happens before a generous deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*source)->Current()->Find(b_->kid()) == nullptr &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE((*source)->Current()->Find(b_->kid()), nullptr);
  source->reset();
  std::lock_guard lock(fetcher.mu);
  EXPECT_GE(fetcher.calls, 2);
}

// A JWK without "alg", as many identity providers publish them.
std::string WithoutAlg(std::string jwk) {
  for (std::string_view alg : {"RS256", "RS512", "EdDSA"}) {
    const std::string member = ",\"alg\":\"" + std::string(alg) + "\"";
    if (auto at = jwk.find(member); at != std::string::npos) jwk.erase(at, member.size());
  }
  return jwk;
}

TEST_F(KeySourceTest, ConfiguredAlgorithmAppliesToJwksKeys) {
  const std::string bare = WithoutAlg(*c_->PublicJwk());
  ASSERT_EQ(bare.find("\"alg\""), std::string::npos) << bare;
  auto rs512_key = *c_->With(Algorithm::kRS512, c_->kid());
  FakeFetcher fetcher;
  fetcher.Serve(R"({"keys":[)" + bare + "]}");
  JwksSourceOptions once{.background_polling = false};

  // GUESS: an RSA JWK without "alg" is RS256.
  auto guessed =
      MakeValidationKeySource({.trusted_jwks_url = kUrl}, fetcher.AsFetcher(), clock_, once);
  ASSERT_TRUE(guessed.has_value()) << guessed.error().ToString();
  EXPECT_EQ((*guessed)->Current()->Find(c_->kid())->algorithm(), Algorithm::kRS256);

  // jwt_algorithm = RS512: the same JWK is pinned to RS512, so airlock's own RS512 tokens
  // validate and an RS256 token by the same key does not.
  auto pinned = MakeValidationKeySource({.trusted_jwks_url = kUrl, .algorithm = Algorithm::kRS512},
                                        fetcher.AsFetcher(), clock_, once);
  ASSERT_TRUE(pinned.has_value()) << pinned.error().ToString();
  EXPECT_EQ((*pinned)->Current()->Find(c_->kid())->algorithm(), Algorithm::kRS512);
  EXPECT_NE((*pinned)->Current()->ToJwks().find("\"alg\":\"RS512\""), std::string::npos);
  auto validator = Validator::Create(*pinned, {.audiences = {"airlock"}}, clock_);
  ASSERT_TRUE(validator.has_value());
  auto rs512 = (*validator)->Validate(Token(*rs512_key));
  EXPECT_TRUE(rs512.has_value()) << rs512.error().message;
  EXPECT_EQ((*validator)->Validate(Token(*c_)).error().failure, Failure::kAlgorithmMismatch);

  // A JWK whose "alg" disagrees with the configured algorithm is not used; the others are.
  fetcher.Serve(R"({"keys":[)" + *c_->PublicJwk() + "," +
                *rs512_key->With(Algorithm::kRS512, "other").value()->PublicJwk() + "]}");
  auto mixed = MakeValidationKeySource({.trusted_jwks_url = kUrl, .algorithm = Algorithm::kRS512},
                                       fetcher.AsFetcher(), clock_, once);
  ASSERT_TRUE(mixed.has_value()) << mixed.error().ToString();
  EXPECT_EQ((*mixed)->Current()->Find(c_->kid()), nullptr) << "its alg is RS256";
  EXPECT_NE((*mixed)->Current()->Find("other"), nullptr);
  // Nor is a key whose type does not fit (an Ed25519 key for RS512); a document left
  // with no usable key is refused.
  fetcher.Serve(R"({"keys":[)" + *c_->PublicJwk() + "," + WithoutAlg(*a_->PublicJwk()) + "]}");
  auto none = MakeValidationKeySource({.trusted_jwks_url = kUrl, .algorithm = Algorithm::kRS512},
                                      fetcher.AsFetcher(), clock_, once);
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("RS512"), std::string::npos) << none.error().message();
}

TEST_F(KeySourceTest, ValidationKeySourceFollowsTheConfiguredPrecedence) {
  FakeFetcher fetcher;
  fetcher.Serve(JwksOf({c_}));
  const std::string key_path = dir_ + "/private.pem";
  ASSERT_TRUE(WriteNewFile(key_path, *a_->PrivatePem(), 0600).has_value());
  const std::string secret(64, 'x');
  JwksSourceOptions once{.background_polling = false};

  // trusted_jwks_url wins over everything else.
  auto jwks = MakeValidationKeySource(
      {.trusted_jwks_url = kUrl, .private_key_path = key_path, .secret = secret},
      fetcher.AsFetcher(), clock_, once);
  ASSERT_TRUE(jwks.has_value()) << jwks.error().ToString();
  EXPECT_NE((*jwks)->Current()->Find(c_->kid()), nullptr);
  EXPECT_EQ((*jwks)->Current()->Find(a_->kid()), nullptr);

  // Then the private key file: its public half, a single key that accepts kidless tokens.
  auto file = MakeValidationKeySource({.private_key_path = key_path, .secret = secret},
                                      fetcher.AsFetcher(), clock_, once);
  ASSERT_TRUE(file.has_value()) << file.error().ToString();
  ASSERT_NE((*file)->Current()->KidlessKey(), nullptr);
  EXPECT_EQ((*file)->Current()->KidlessKey()->thumbprint(), a_->thumbprint());

  // jwt_kid overrides the thumbprint.
  auto named = MakeValidationKeySource({.private_key_path = key_path, .kid = "k1"},
                                       fetcher.AsFetcher(), clock_, once);
  ASSERT_TRUE(named.has_value());
  EXPECT_NE((*named)->Current()->Find("k1"), nullptr);

  // Then the secret.
  auto hs = MakeValidationKeySource({.secret = secret}, {}, clock_, once);
  ASSERT_TRUE(hs.has_value());
  ASSERT_NE((*hs)->Current()->KidlessKey(), nullptr);
  EXPECT_EQ((*hs)->Current()->KidlessKey()->algorithm(), Algorithm::kHS512);

  auto short_secret = MakeValidationKeySource({.secret = "short"}, {}, clock_, once);
  ASSERT_FALSE(short_secret.has_value());
  EXPECT_NE(short_secret.error().message().find("jwt_secret"), std::string::npos);
  EXPECT_EQ(short_secret.error().message().find("short:"), std::string::npos);

  auto nothing = MakeValidationKeySource({}, {}, clock_, once);
  ASSERT_FALSE(nothing.has_value());
  EXPECT_EQ(nothing.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace airlock::jwt

// KeyDirectoryKeySource: the keys of a key directory, reloaded without a restart.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/files.h"
#include "jwt/key_directory.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "jwt/validator.h"
#include "testing/temp_dir.h"

namespace airlock::jwt {
namespace {

constexpr int64_t kNow = 1'800'000'000;

class KeyDirectorySourceTest : public ::testing::Test {
 protected:
  // The kid of the key in `state`, or "".
  static std::string KidIn(const KeySet& set, KeyState state) {
    for (const auto& e : set.entries()) {
      if (e.state == state) return e.key->kid();
    }
    return "";
  }
  // The private key of `kid`, read from the directory (to sign test tokens with it).
  KeyPtr KeyFromDirectory(const std::string& kid) {
    auto key = LoadKeyFile(dir_ + "/" + kid + ".pem", std::nullopt, kid);
    EXPECT_TRUE(key.has_value()) << key.error().ToString();
    return key.value_or(nullptr);
  }
  // A token signed by `key` (with its kid), valid now for audience "airlock".
  std::string TokenOf(KeyPtr key) {
    TokenSigner signer(std::make_shared<StaticKeySource>(KeySet::Single(std::move(key))), clock_);
    auto token = signer.Mint({.sub = "task-1", .aud = {"airlock"}});
    EXPECT_TRUE(token.has_value());
    return token.value_or("");
  }
  KeySet Rotate(KeyType type = KeyType::kEd25519) {
    auto set = KeyDirectory(dir_).Rotate({.type = type});
    EXPECT_TRUE(set.has_value()) << set.error().ToString();
    return set ? std::move(*set) : KeySet();
  }
  std::shared_ptr<KeyDirectoryKeySource> Source(std::optional<Algorithm> alg = {}) {
    KeyDirectorySourceOptions options{.background_polling = false,
                                      .on_reload_error = [this](const Error& e) {
                                        std::lock_guard lock(mu_);
                                        errors_.push_back(e.message());
                                      }};
    auto source = KeyDirectoryKeySource::Create(dir_, alg, clock_, options);
    EXPECT_TRUE(source.has_value()) << source.error().ToString();
    return source ? std::shared_ptr<KeyDirectoryKeySource>(std::move(*source)) : nullptr;
  }
  std::unique_ptr<Validator> ValidatorOf(std::shared_ptr<KeySource> keys) {
    auto validator = Validator::Create(std::move(keys), {.audiences = {"airlock"}}, clock_);
    EXPECT_TRUE(validator.has_value());
    return validator ? std::move(*validator) : nullptr;
  }
  std::vector<std::string> Errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

  FakeClock clock_{kNow};
  test::TempDir root_{"airlock-keydir-source"};
  const std::string dir_ = root_.path() + "/keys";
  std::mutex mu_;
  std::vector<std::string> errors_;
};

TEST_F(KeyDirectorySourceTest, ActiveKeySignsAndEveryKeyValidatesAndIsPublished) {
  Rotate();
  const KeySet set = Rotate();  // now: active, next and one retired key
  const std::string active = KidIn(set, KeyState::kActive);
  const std::string next = KidIn(set, KeyState::kNext);
  const std::string retired = KidIn(set, KeyState::kRetired);
  ASSERT_FALSE(retired.empty());

  auto source = Source();
  ASSERT_NE(source, nullptr);
  TokenSigner signer(source, clock_);
  auto token = signer.Mint({.sub = "task-1", .aud = {"airlock"}});
  ASSERT_TRUE(token.has_value());
  auto validator = ValidatorOf(source);
  auto claims = validator->Validate(*token);
  ASSERT_TRUE(claims.has_value()) << claims.error().message;
  EXPECT_EQ(claims.value().kid, active);

  // Tokens of the next and the retired key validate too.
  for (const std::string& kid : {next, retired}) {
    auto other = validator->Validate(TokenOf(KeyFromDirectory(kid)));
    ASSERT_TRUE(other.has_value()) << kid << ": " << other.error().message;
    EXPECT_EQ(other.value().kid, kid);
  }
  // All three are published, public halves only.
  const std::string jwks = source->Current()->ToJwks();
  for (const std::string& kid : {active, next, retired}) {
    EXPECT_NE(jwks.find("\"kid\":\"" + kid + "\""), std::string::npos) << jwks;
  }
  EXPECT_EQ(jwks.find("\"d\""), std::string::npos) << "no private member";
  auto published = ParseJwks(jwks);
  ASSERT_TRUE(published.has_value());
  EXPECT_EQ(published->entries().size(), 3u);
}

TEST_F(KeyDirectorySourceTest, RotationIsPickedUpWithoutARestart) {
  const KeySet before = Rotate();
  auto source = Source();
  ASSERT_NE(source, nullptr);
  TokenSigner signer(source, clock_);
  auto validator = ValidatorOf(source);
  auto old_token = signer.Mint({.sub = "task-1", .aud = {"airlock"}});
  ASSERT_TRUE(old_token.has_value());
  EXPECT_EQ(validator->Validate(*old_token).value().kid, KidIn(before, KeyState::kActive));

  // Unchanged manifest: nothing to do.
  auto unchanged = source->ReloadIfChanged();
  ASSERT_TRUE(unchanged.has_value());
  EXPECT_FALSE(*unchanged);
  const int loads = source->load_count();

  const KeySet after = Rotate();
  auto reloaded = source->ReloadIfChanged();
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error().ToString();
  EXPECT_TRUE(*reloaded);
  EXPECT_EQ(source->load_count(), loads + 1);
  // The former next key is active now and signs; the old active key is retired and its
  // token still validates.
  const std::string new_active = KidIn(after, KeyState::kActive);
  EXPECT_EQ(new_active, KidIn(before, KeyState::kNext));
  auto new_token = signer.Mint({.sub = "task-1", .aud = {"airlock"}});
  ASSERT_TRUE(new_token.has_value());
  auto new_claims = validator->Validate(*new_token);
  ASSERT_TRUE(new_claims.has_value()) << new_claims.error().message;
  EXPECT_EQ(new_claims.value().kid, new_active);
  auto old_claims = validator->Validate(*old_token);
  ASSERT_TRUE(old_claims.has_value()) << old_claims.error().message;
  EXPECT_EQ(old_claims.value().kid, KidIn(before, KeyState::kActive));
  // The new next key is known and published.
  EXPECT_NE(source->Current()->Find(KidIn(after, KeyState::kNext)), nullptr);
  EXPECT_TRUE(Errors().empty());
}

TEST_F(KeyDirectorySourceTest, BrokenDirectoryKeepsTheLastGoodSetAndReportsOnce) {
  const KeySet set = Rotate();
  auto source = Source();
  ASSERT_NE(source, nullptr);
  const auto good = source->Current();
  const std::string manifest = dir_ + "/keys.json";
  auto saved = ReadFile(manifest);
  ASSERT_TRUE(saved.has_value());

  auto replace_manifest = [&](const std::string& text) {
    ::unlink(manifest.c_str());
    ASSERT_TRUE(WriteNewFile(manifest, text, 0600).has_value());
  };
  const std::string missing_file =
      R"({"keys":[{"kid":"gone","file":"gone.pem","state":"active"}]})";
  const std::string no_active = R"({"keys":[{"kid":")" + KidIn(set, KeyState::kNext) +
                                R"(","file":")" + KidIn(set, KeyState::kNext) +
                                R"(.pem","state":"next"}]})";
  for (const std::string& text :
       {std::string("{not json"), std::string(R"({"keys":{}})"), missing_file, no_active}) {
    replace_manifest(text);
    auto reloaded = source->ReloadIfChanged();
    EXPECT_FALSE(reloaded.has_value()) << text;
    EXPECT_EQ(source->Current(), good) << text;
    // Polling a directory that stays broken retries but reports nothing new.
    EXPECT_FALSE(source->ReloadIfChanged().has_value()) << text;
  }
  // A missing manifest, too.
  ::unlink(manifest.c_str());
  EXPECT_FALSE(source->ReloadIfChanged().has_value());
  EXPECT_EQ(source->Current(), good);
  EXPECT_EQ(Errors().size(), 5u) << "one report per distinct failure";
  for (const std::string& error : Errors()) {
    EXPECT_NE(error.find(dir_), std::string::npos) << error;
    EXPECT_EQ(error.find("PRIVATE KEY"), std::string::npos) << error;
  }
  // Tokens keep validating against the last good set meanwhile.
  auto validator = ValidatorOf(source);
  EXPECT_TRUE(
      validator->Validate(TokenOf(KeyFromDirectory(KidIn(set, KeyState::kActive)))).has_value());

  // Repaired: the next check loads it. (One more byte of white space: the file must differ
  // from the last good one in size or mtime, or by its inode, which a new file may reuse.)
  replace_manifest(*saved + " ");
  auto repaired = source->ReloadIfChanged();
  ASSERT_TRUE(repaired.has_value()) << repaired.error().ToString();
  EXPECT_TRUE(*repaired);
  EXPECT_NE(source->Current(), good);
  EXPECT_EQ(source->Current()->Active()->kid(), KidIn(set, KeyState::kActive));
}

TEST_F(KeyDirectorySourceTest, UnknownKidReloadsAtOnceAtMostOncePerTenSeconds) {
  Rotate();
  auto source = Source();
  ASSERT_NE(source, nullptr);
  auto validator = ValidatorOf(source);

  // Another host rotated: its new next key signs (as it would after a second rotation)
  // before this source's poller noticed.
  const KeySet second = Rotate();
  const std::string fresh = KidIn(second, KeyState::kNext);
  ASSERT_EQ(source->Current()->Find(fresh), nullptr);
  const int loads = source->load_count();
  auto claims = validator->Validate(TokenOf(KeyFromDirectory(fresh)));
  ASSERT_TRUE(claims.has_value()) << claims.error().message;
  EXPECT_EQ(source->load_count(), loads + 1);

  // A flood of unknown kids within 10 s causes no further load...
  const KeySet third = Rotate();
  const std::string later = KidIn(third, KeyState::kNext);
  const std::string token = TokenOf(KeyFromDirectory(later));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(validator->Validate(token).error().failure, Failure::kUnknownKid);
  }
  clock_.Advance(9);
  EXPECT_EQ(validator->Validate(token).error().failure, Failure::kUnknownKid);
  EXPECT_EQ(source->load_count(), loads + 1);
  // ...and after 10 s the next one reloads again.
  clock_.Advance(1);
  EXPECT_TRUE(validator->Validate(token).has_value());
  EXPECT_EQ(source->load_count(), loads + 2);
}

TEST_F(KeyDirectorySourceTest, BackgroundPollerPicksUpARotation) {
  Rotate();
  std::mutex mu;
  std::vector<std::string> actives;
  auto source = KeyDirectoryKeySource::Create(
      dir_, std::nullopt, clock_,
      {.poll_interval = std::chrono::milliseconds(10), .on_reload = [&](const KeySet& set) {
         std::lock_guard lock(mu);
         actives.push_back(set.Active()->kid());
       }});
  ASSERT_TRUE(source.has_value()) << source.error().ToString();
  const KeySet after = Rotate();
  const std::string want = KidIn(after, KeyState::kActive);
  // No timing is asserted: the poller must get there, however long the machine takes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*source)->Current()->Active()->kid() != want &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ((*source)->Current()->Active()->kid(), want);
  source->reset();  // stops the poller before `actives` goes away
  std::lock_guard lock(mu);
  ASSERT_EQ(actives.size(), 2u);
  EXPECT_EQ(actives.back(), want);
}

TEST_F(KeyDirectorySourceTest, ConfiguredAlgorithmMustFitEveryKey) {
  Rotate(KeyType::kRsa);
  // RS512 pins the RSA keys (which would be RS256 by guess).
  auto rs512 = Source(Algorithm::kRS512);
  ASSERT_NE(rs512, nullptr);
  for (const auto& e : rs512->Current()->entries()) {
    EXPECT_EQ(e.key->algorithm(), Algorithm::kRS512);
  }
  auto token = TokenSigner(rs512, clock_).Mint({.sub = "s", .aud = {"airlock"}});
  ASSERT_TRUE(token.has_value());
  EXPECT_TRUE(ValidatorOf(rs512)->Validate(*token).has_value());
  EXPECT_NE(rs512->Current()->ToJwks().find("\"alg\":\"RS512\""), std::string::npos);

  // An algorithm that does not fit a key refuses the directory.
  for (Algorithm alg : {Algorithm::kEdDSA, Algorithm::kHS512}) {
    auto refused = KeyDirectoryKeySource::Create(dir_, alg, clock_, {.background_polling = false});
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message().find("jwt_algorithm"), std::string::npos)
        << refused.error().message();
  }
  // And a reload that brings such a key keeps the last good set.
  auto good = rs512->Current();
  Rotate(KeyType::kEd25519);  // the new next key is Ed25519
  EXPECT_FALSE(rs512->ReloadIfChanged().has_value());
  EXPECT_EQ(rs512->Current(), good);
}

TEST_F(KeyDirectorySourceTest, ValidationKeySourceUsesTheDirectory) {
  const KeySet set = Rotate();
  JwksSourceOptions once{.background_polling = false};
  ValidationKeyConfig config{.private_key_path = dir_,
                             .directory_options = {.background_polling = false}};
  auto own = MakeValidationKeySource(config, {}, clock_, once);
  ASSERT_TRUE(own.has_value()) << own.error().ToString();
  EXPECT_NE((*own)->Current()->Find(KidIn(set, KeyState::kNext)), nullptr);
  EXPECT_EQ((*own)->Current()->KidlessKey(), nullptr) << "a key directory names its keys";

  // The signing source of the same directory is shared rather than loaded twice.
  auto signing = Source();
  config.signing_source = signing;
  auto shared = MakeValidationKeySource(config, {}, clock_, once);
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->get(), signing.get());
  // trusted_jwks_url still takes precedence.
  const std::string jwks = root_.path() + "/jwks.json";
  ASSERT_TRUE(WriteNewFile(jwks,
                           KeySet::Single(KeyFromDirectory(KidIn(set, KeyState::kActive))).ToJwks(),
                           0600)
                  .has_value());
  config.trusted_jwks_url = jwks;
  auto remote = MakeValidationKeySource(config, {}, clock_, once);
  ASSERT_TRUE(remote.has_value()) << remote.error().ToString();
  EXPECT_NE(remote->get(), signing.get());
  EXPECT_EQ((*remote)->Current()->Find(KidIn(set, KeyState::kNext)), nullptr);

  // A directory without keys.json is refused, naming the way to make one.
  const std::string empty = root_.path() + "/empty";
  std::filesystem::create_directory(empty);
  auto refused = MakeValidationKeySource({.private_key_path = empty}, {}, clock_, once);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("keys rotate"), std::string::npos);
}

}  // namespace
}  // namespace airlock::jwt

#include "jwt/key_directory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/clock.h"
#include "common/files.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "jwt/validator.h"
#include "testing/temp_dir.h"

namespace airlock::jwt {
namespace {

class KeyDirectoryTest : public ::testing::Test {
 protected:
  static std::vector<std::pair<std::string, KeyState>> States(const KeySet& set) {
    std::vector<std::pair<std::string, KeyState>> out;
    for (const auto& e : set.entries()) out.emplace_back(e.key->kid(), e.state);
    return out;
  }
  static std::string KidIn(const KeySet& set, KeyState state) {
    for (const auto& e : set.entries()) {
      if (e.state == state) return e.key->kid();
    }
    return "";
  }

  test::TempDir root_{"airlock-keydir"};
  const std::string dir_ = root_.path() + "/keys";
};

TEST_F(KeyDirectoryTest, FirstRotationCreatesActiveAndNextKeys) {
  KeyDirectory keys(dir_);
  auto set = keys.Rotate({});
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  ASSERT_EQ(set->entries().size(), 2u);
  EXPECT_NE(KidIn(*set, KeyState::kActive), "");
  EXPECT_NE(KidIn(*set, KeyState::kNext), "");

  auto loaded = keys.Load();
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  EXPECT_EQ(States(*loaded), States(*set));

  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/" + KidIn(*set, KeyState::kActive) + ".pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(KeyDirectoryTest, RotationPromotesNextAndRetiresActive) {
  KeyDirectory keys(dir_);
  auto first = keys.Rotate({});
  ASSERT_TRUE(first.has_value());
  const std::string old_active = KidIn(*first, KeyState::kActive);
  const std::string old_next = KidIn(*first, KeyState::kNext);

  auto second = keys.Rotate({});
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  EXPECT_EQ(KidIn(*second, KeyState::kActive), old_next);
  EXPECT_EQ(KidIn(*second, KeyState::kRetired), old_active);
  EXPECT_NE(KidIn(*second, KeyState::kNext), "");
  EXPECT_NE(KidIn(*second, KeyState::kNext), old_active);
}

TEST_F(KeyDirectoryTest, RetiredKeysBeyondTheLimitAreDropped) {
  KeyDirectory keys(dir_);
  auto first = keys.Rotate({});
  ASSERT_TRUE(first.has_value());
  const std::string oldest = KidIn(*first, KeyState::kActive);
  ASSERT_TRUE(keys.Rotate({}).has_value());
  auto third = keys.Rotate({});  // keep_retired = 1: `oldest` goes now
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->Find(oldest), nullptr);
  EXPECT_EQ(third->entries().size(), 3u);
  EXPECT_NE(::access((dir_ + "/" + oldest + ".pem").c_str(), F_OK), 0);
}

// The point of the states: a token signed before a rotation still validates after it,
// and validators that know the next key accept tokens it signs once it is active.
TEST_F(KeyDirectoryTest, TokensSurviveRotationWithoutRestart) {
  FakeClock clock(1'800'000'000);
  KeyDirectory keys(dir_);
  auto first = keys.Rotate({});
  ASSERT_TRUE(first.has_value());
  auto source = std::make_shared<StaticKeySource>(*first);
  TokenSigner signer(source, clock);
  auto validator = Validator::Create(source, {.audiences = {"aud"}}, clock);
  ASSERT_TRUE(validator.has_value());

  MintRequest request{.sub = "s", .aud = {"aud"}};
  auto before = signer.Mint(request);
  ASSERT_TRUE(before.has_value());

  auto second = keys.Rotate({});
  ASSERT_TRUE(second.has_value());
  source->Replace(*second);
  auto after = signer.Mint(request);
  ASSERT_TRUE(after.has_value());

  auto claims_before = (*validator)->Validate(*before);
  auto claims_after = (*validator)->Validate(*after);
  ASSERT_TRUE(claims_before.has_value()) << claims_before.error().message;
  ASSERT_TRUE(claims_after.has_value()) << claims_after.error().message;
  EXPECT_EQ(claims_before->kid, KidIn(*first, KeyState::kActive));
  EXPECT_EQ(claims_after->kid, KidIn(*second, KeyState::kActive));
}

TEST_F(KeyDirectoryTest, ManifestPointingOutsideTheDirectoryIsRefused) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  ASSERT_TRUE(WriteNewFile(dir_ + "/keys.json",
                           R"({"keys":[{"kid":"a","file":"../etc.pem","state":"active"}]})", 0600)
                  .has_value());
  auto loaded = KeyDirectory(dir_).Load();
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(KeyDirectoryTest, MissingManifestIsNotFound) {
  auto loaded = KeyDirectory(dir_).Load();
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace airlock::jwt

#include "store/column_cipher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jwt/base64url.h"

namespace airlock::store {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kKey[] = "column-cipher-test-key-0123456789abcdef";
constexpr char kOtherKey[] = "column-cipher-other-key-0123456789abcde";

ColumnCipher Make(std::string_view key) {
  auto cipher = ColumnCipher::Create(key);
  EXPECT_TRUE(cipher.has_value()) << cipher.error().ToString();
  return std::move(cipher.value());
}

TEST(ColumnCipherTest, RoundTripsAndHidesThePlaintext) {
  ColumnCipher cipher = Make(kKey);
  auto sealed = cipher.Encrypt("hunter2", "connection/db/password", "password");
  ASSERT_TRUE(sealed.has_value());
  EXPECT_THAT(*sealed, StartsWith("gcm1:"));
  EXPECT_THAT(*sealed, Not(HasSubstr("hunter2")));
  EXPECT_EQ(cipher.Decrypt(*sealed, "connection/db/password", "password").value(), "hunter2");
}

TEST(ColumnCipherTest, UsesAFreshNonceEachTime) {
  ColumnCipher cipher = Make(kKey);
  EXPECT_NE(cipher.Encrypt("same", "aad", "x").value(), cipher.Encrypt("same", "aad", "x").value());
}

TEST(ColumnCipherTest, EmptyStaysEmptyAndNeedsNoKey) {
  ColumnCipher keyless = Make("");
  EXPECT_FALSE(keyless.has_key());
  EXPECT_EQ(keyless.Encrypt("", "aad", "x").value(), "");
  EXPECT_EQ(keyless.Decrypt("", "aad", "x").value(), "");
  auto refused = keyless.Encrypt("secret", "aad", "password of connection 'c'");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message(), HasSubstr("password of connection 'c'"));
  EXPECT_THAT(refused.error().message(), HasSubstr("fernet_key"));
}

TEST(ColumnCipherTest, AssociatedDataBindsTheValueToItsRow) {
  ColumnCipher cipher = Make(kKey);
  auto sealed = cipher.Encrypt("pw", "connection/a/password", "x").value();
  auto moved = cipher.Decrypt(sealed, "connection/b/password", "x");
  ASSERT_FALSE(moved.has_value());
  EXPECT_EQ(moved.error().code(), ErrorCode::kFailedPrecondition);
}

TEST(ColumnCipherTest, RejectsTamperedValues) {
  ColumnCipher cipher = Make(kKey);
  const std::string sealed = cipher.Encrypt("payload", "aad", "x").value();
  const size_t body = sealed.rfind(':') + 1;
  auto bytes = jwt::Base64UrlDecode(sealed.substr(body)).value();
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    const std::string tampered = sealed.substr(0, body) + jwt::Base64UrlEncode(flipped);
    EXPECT_FALSE(cipher.Decrypt(tampered, "aad", "x").has_value()) << "byte " << i;
  }
  EXPECT_FALSE(cipher.Decrypt("plaintext", "aad", "x").has_value());
  EXPECT_FALSE(cipher.Decrypt(sealed.substr(0, body) + "AAAA", "aad", "x").has_value());
  EXPECT_FALSE(cipher.Decrypt(sealed.substr(0, sealed.size() - 2), "aad", "x").has_value());
}

TEST(ColumnCipherTest, RotationDecryptsWithTheKeyNamedInTheValue) {
  const std::string old_value = Make(kKey).Encrypt("old", "aad", "x").value();
  ColumnCipher rotated = Make(std::string(kOtherKey) + ", " + kKey);
  EXPECT_EQ(rotated.Decrypt(old_value, "aad", "x").value(), "old");
  const std::string new_value = rotated.Encrypt("new", "aad", "x").value();
  EXPECT_EQ(Make(kOtherKey).Decrypt(new_value, "aad", "x").value(), "new");
  auto unknown = Make(kKey).Decrypt(new_value, "aad", "x");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_THAT(unknown.error().message(), HasSubstr("not in [core] fernet_key"));
}

TEST(ColumnCipherTest, RefusesShortKeys) {
  EXPECT_FALSE(ColumnCipher::Create("short").has_value());
  EXPECT_FALSE(ColumnCipher::Create(std::string(kKey) + ",short").has_value());
  EXPECT_FALSE(ColumnCipher::Create(std::string(kKey) + ",").has_value());
  // An Airflow Fernet key (32 bytes, url-safe base64 with padding) is long enough.
  EXPECT_TRUE(ColumnCipher::Create("ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=").has_value());
}

}  // namespace
}  // namespace airlock::store

#include "jwt/base64url.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace airlock::jwt {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of an alphabet character.
int ValueOf(char c) { return static_cast<int>(kAlphabet.find(c)); }

TEST(Base64UrlTest, EncodesRfc4648Vectors) {
  // RFC 4648 §10; none of these produce '-' or '_', so base64 and base64url agree once the
  // padding is dropped.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST(Base64UrlTest, UsesTheUrlSafeAlphabet) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlEncode("\xff\xff\xff"), "____");
  EXPECT_EQ(Base64UrlEncode("\xfb\xef\xbe"), "----");
  EXPECT_EQ(Base64UrlDecode("-_8"), std::string("\xfb\xff"));
}

TEST(Base64UrlTest, EncodeToAppends) {
  std::string out = "prefix.";
  Base64UrlEncodeTo("foo", out);
  EXPECT_EQ(out, "prefix.Zm9v");
}

TEST(Base64UrlTest, EmptyInputDecodesToEmptyOutput) {
  auto decoded = Base64UrlDecode("");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->empty());
}

TEST(Base64UrlTest, RoundTripsEveryLengthAndByteValue) {
  std::string bytes;
  for (int len = 0; len <= 300; ++len) {
    auto encoded = Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.size(), (bytes.size() * 4 + 2) / 3) << "length " << len;
    EXPECT_EQ(encoded.find_first_not_of(kAlphabet), std::string::npos);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << "length " << len;
    EXPECT_EQ(*decoded, bytes) << "length " << len;
    // Every byte value appears, in every position modulo 3.
    bytes.push_back(static_cast<char>((len * 97 + 13) & 0xff));
  }
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(all)), all);
}

TEST(Base64UrlTest, RefusesPadding) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zg=").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm8=").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9vYg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v====").has_value());
  EXPECT_FALSE(Base64UrlDecode("====").has_value());
  EXPECT_FALSE(Base64UrlDecode("=").has_value());
  // '=' in the middle of otherwise valid text.
  EXPECT_FALSE(Base64UrlDecode("Zm=v").has_value());
}

TEST(Base64UrlTest, RefusesTheStandardAlphabetCharacters) {
  EXPECT_FALSE(Base64UrlDecode("+_8").has_value());
  EXPECT_FALSE(Base64UrlDecode("-/8").has_value());
  EXPECT_FALSE(Base64UrlDecode("++++").has_value());
  EXPECT_FALSE(Base64UrlDecode("////").has_value());
}

TEST(Base64UrlTest, RefusesWhitespaceAnywhere) {
  for (std::string_view ws : {" ", "\t", "\n", "\r", "\r\n", "\f", "\v"}) {
    const std::string w(ws);
    EXPECT_FALSE(Base64UrlDecode(w + "Zm9v").has_value()) << "leading";
    EXPECT_FALSE(Base64UrlDecode("Zm9v" + w).has_value()) << "trailing";
    EXPECT_FALSE(Base64UrlDecode("Zm" + w + "9v").has_value()) << "inside";
    EXPECT_FALSE(Base64UrlDecode("Zm9vYmFy" + w).has_value()) << "after a full group";
  }
}

TEST(Base64UrlTest, RefusesEveryByteOutsideTheAlphabet) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool in_alphabet = kAlphabet.find(c) != std::string_view::npos;
    // In each position of a full group and of both partial groups.
    for (std::string text : {std::string("AAA") + c, std::string(1, c) + "AAA",
                             std::string("AAAA") + c + "A", std::string("AAAAA") + c}) {
      if (in_alphabet) continue;
      EXPECT_FALSE(Base64UrlDecode(text).has_value()) << "byte " << b;
    }
    if (in_alphabet) {
      EXPECT_TRUE(Base64UrlDecode(std::string("AAA") + c).has_value());
    }
  }
  EXPECT_FALSE(Base64UrlDecode(std::string_view("Zm9v\0AAA", 8)).has_value());
}

TEST(Base64UrlTest, RefusesLengthOneModFour) {
  EXPECT_FALSE(Base64UrlDecode("A").has_value());
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9vYmFyA").has_value());
  // And the lengths around it are fine.
  EXPECT_TRUE(Base64UrlDecode("Zm9v").has_value());
  EXPECT_TRUE(Base64UrlDecode("Zm9vYg").has_value());
}

TEST(Base64UrlTest, RefusesNonZeroTrailingBits) {
  // Two characters carry one byte: the low 4 bits of the second must be zero.
  EXPECT_TRUE(Base64UrlDecode("Zg").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zv").has_value());
  // Three characters carry two bytes: the low 2 bits of the third must be zero.
  EXPECT_TRUE(Base64UrlDecode("Zm8").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm-").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm_").has_value());

  // Exhaustively, for every last character of both partial-group lengths.
  for (char last : kAlphabet) {
    EXPECT_EQ(Base64UrlDecode(std::string("QU") + last).has_value(), (ValueOf(last) & 0x03) == 0)
        << "three-character tail ending in " << last;
    EXPECT_EQ(Base64UrlDecode(std::string("Q") + last).has_value(), (ValueOf(last) & 0x0f) == 0)
        << "two-character tail ending in " << last;
  }
}

// The property the verified-token cache relies on: whatever decodes has exactly one
// encoding, so two different token strings never carry the same bytes.
TEST(Base64UrlTest, EveryAcceptedTextIsTheCanonicalEncodingOfItsBytes) {
  int accepted = 0;
  for (char a : kAlphabet) {
    for (char b : kAlphabet) {
      const std::string two{a, b};
      if (auto d = Base64UrlDecode(two)) {
        ++accepted;
        EXPECT_EQ(Base64UrlEncode(*d), two);
      }
      for (char c : kAlphabet) {
        const std::string three{a, b, c};
        if (auto d = Base64UrlDecode(three)) {
          ++accepted;
          EXPECT_EQ(Base64UrlEncode(*d), three);
        }
      }
    }
  }
  // 256 one-byte values and 65536 two-byte values, each exactly once.
  EXPECT_EQ(accepted, 256 + 65536);
}

}  // namespace
}  // namespace airlock::jwt

#include "store/checks.h"

#include <gtest/gtest.h>

namespace airlock::store {
namespace {

TEST(CheckTextTest, AcceptsUtf8) {
  for (std::string_view ok :
       {"", "plain", "Grüße", "世界", "🚀", "\x7f", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(CheckText("v", ok).has_value()) << ok;
  }
}

TEST(CheckTextTest, RejectsNulAndMalformedUtf8) {
  const std::string nul("a\0b", 3);
  for (std::string_view bad :
       {std::string_view(nul), std::string_view("\x80"), std::string_view("\xc3"),
        std::string_view("\xc0\xaf"), std::string_view("\xe0\x80\xaf"),
        std::string_view("\xed\xa0\x80"), std::string_view("\xf4\x90\x80\x80"),
        std::string_view("\xf5\x80\x80\x80"), std::string_view("\xff"),
        std::string_view("ok\xe2\x82")}) {
    auto result = CheckText("the value", bad);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(CheckTextTest, FindsTheBadByteWhereverItSitsInALongText) {
  // Long texts are scanned eight bytes at a time; a bad byte must be found at any offset
  // of a word, and a good sequence that straddles two words must pass.
  for (size_t at = 0; at < 24; ++at) {
    for (std::string_view bad : {std::string_view("\0", 1), std::string_view("\x80"),
                                 std::string_view("\xff"), std::string_view("\xc3")}) {
      std::string text(at, 'a');
      text += bad;
      text += std::string(20, 'b');
      EXPECT_FALSE(CheckText("v", text).has_value()) << "offset " << at;
    }
    std::string good(at, 'a');
    good += "Grüße 🚀";
    good += std::string(20, 'b');
    EXPECT_TRUE(CheckText("v", good).has_value()) << "offset " << at;
  }
}

TEST(IsCanonicalUuidTest, AcceptsOnlyLowercaseDashedForm) {
  EXPECT_TRUE(IsCanonicalUuid("0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11"));
  EXPECT_FALSE(IsCanonicalUuid("0195F3A2-7C2E-7A44-9F36-3F1C2B9D8E11"));
  EXPECT_FALSE(IsCanonicalUuid("0195f3a27c2e7a449f363f1c2b9d8e11"));
  EXPECT_FALSE(IsCanonicalUuid("{0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11}"));
  EXPECT_FALSE(IsCanonicalUuid("0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e1g"));
  EXPECT_FALSE(IsCanonicalUuid(""));
}

}  // namespace
}  // namespace airlock::store

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

TEST(StorableTextTest, KeepsValidTextAndReplacesEachRefusedByte) {
  EXPECT_TRUE(IsStorableText("plain /path and \xC3\xA9 and \xF0\x9F\x94\x92"));
  EXPECT_EQ(StorableText("a\xC3\xA9z"), "a\xC3\xA9z");
  const std::string_view nul("a\0b", 3);
  EXPECT_FALSE(IsStorableText(nul));
  EXPECT_EQ(StorableText(nul), "a\uFFFDb");
  // A truncated sequence, an overlong form and a lone continuation byte: one each per byte.
  EXPECT_EQ(StorableText("\xE2\x82"), "\uFFFD\uFFFD");
  EXPECT_EQ(StorableText("\xC0\xAF"), "\uFFFD\uFFFD");
  EXPECT_EQ(StorableText("x\x80y"), "x\uFFFDy");
  EXPECT_TRUE(IsStorableText(StorableText(std::string_view("\xff\xfe\0\xED\xA0\x80", 6))));
}

}  // namespace
}  // namespace airlock::store

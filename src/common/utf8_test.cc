#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace airlock {
namespace {

constexpr size_t npos = std::string_view::npos;

TEST(Utf8Test, WellFormedSequencesHaveTheirLength) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength(std::string_view("\0", 1), 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xC3\xA9", 0), 2u);          // é
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82\xAC", 0), 3u);      // €
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x99\x82", 0), 4u);  // 🙂
  EXPECT_EQ(Utf8SequenceLength("\xF4\x8F\xBF\xBF", 0), 4u);  // U+10FFFF
}

TEST(Utf8Test, MalformedSequencesHaveNone) {
  for (std::string_view bad : {
           "\x80",              // a continuation byte first
           "\xC0\xAF",          // overlong '/'
           "\xE0\x80\xAF",      // overlong, three bytes
           "\xF0\x80\x80\xAF",  // overlong, four bytes
           "\xED\xA0\x80",      // a surrogate (U+D800)
           "\xF4\x90\x80\x80",  // past U+10FFFF
           "\xF5\x80\x80\x80",  // no such lead byte
           "\xFF",              //
           "\xE2\x82",          // cut short
           "\xC3\x41",          // a continuation that is not one
       }) {
    EXPECT_EQ(Utf8SequenceLength(bad, 0), 0u) << testing::PrintToString(std::string(bad));
  }
}

TEST(Utf8Test, FirstInvalidFindsTheFirstBadByteAfterPlainRuns) {
  EXPECT_EQ(FirstInvalidUtf8("plain ascii, long enough for the fast path"), npos);
  EXPECT_EQ(FirstInvalidUtf8("caf\xC3\xA9 \xE2\x82\xAC 1"), npos);
  EXPECT_EQ(FirstInvalidUtf8("0123456789abcdef\xFFxyz"), 16u);
  EXPECT_EQ(FirstInvalidUtf8("\xC3\xA9\xC3"), 2u);
  const std::string_view with_nul("0123456789\0abc", 14);
  EXPECT_EQ(FirstInvalidUtf8(with_nul), npos);
  EXPECT_EQ(FirstInvalidUtf8(with_nul, /*refuse_nul=*/true), 10u);
}

TEST(Utf8Test, ValidUtf8ReplacesEachBadByteAndKeepsTheRest) {
  EXPECT_EQ(ValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(ValidUtf8("XCom '\xFF' not found"), "XCom '\xEF\xBF\xBD' not found");
  // A sequence cut short: its lead byte is replaced, and the byte after it read again.
  EXPECT_EQ(ValidUtf8("a\xE2\x82z"), "a\xEF\xBF\xBD\xEF\xBF\xBDz");
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  const std::string_view with_nul("a\0b", 3);
  EXPECT_EQ(ValidUtf8(with_nul), std::string(with_nul));
  EXPECT_EQ(ValidUtf8(with_nul, /*replace_nul=*/true),
            "a\xEF\xBF\xBD"
            "b");
}

}  // namespace
}  // namespace airlock

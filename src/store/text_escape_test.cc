#include "store/text_escape.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace airlock::store {
namespace {

constexpr EscapeTable kCopy = MakeEscapeTable("\\\t\n\r", "\\tnr");

std::string Escaped(std::string_view text, const EscapeTable& escapes = kCopy) {
  std::string out = "<";
  AppendEscaped(out, text, escapes);
  return out;
}

TEST(AppendEscapedTest, CopiesTextWithoutEscapesAsItIs) {
  EXPECT_EQ(Escaped(""), "<");
  EXPECT_EQ(Escaped("/execution/task-instances/x/heartbeat"),
            "</execution/task-instances/x/heartbeat");
  EXPECT_EQ(Escaped(std::string_view("a\0b\xff", 4)), std::string("<a\0b\xff", 5));
}

TEST(AppendEscapedTest, EscapesEveryMappedByteWhereverItIs) {
  EXPECT_EQ(Escaped("\\"), "<\\\\");
  EXPECT_EQ(Escaped("\ta\nb\r"), "<\\ta\\nb\\r");
  EXPECT_EQ(Escaped("a\\\\b"), "<a\\\\\\\\b");
  EXPECT_EQ(Escaped("x\n\n"), "<x\\n\\n");
}

TEST(AppendEscapedTest, TheTableDecidesWhatIsEscaped) {
  constexpr EscapeTable kArrayElement = MakeEscapeTable("\"\\", "\"\\");
  EXPECT_EQ(Escaped("say \"hi\"\t\\", kArrayElement), "<say \\\"hi\\\"\t\\\\");
}

// AppendEscaped skips words of eight bytes that hold nothing to escape: every byte value,
// at every position of a word and of the tail, next to plain ASCII and to bytes of 0x80
// and above, comes out as a byte-by-byte escape would write it.
TEST(AppendEscapedTest, EveryByteAtEveryPositionIsEscapedAsByteByByte) {
  constexpr EscapeTable kArrayElement = MakeEscapeTable("\"\\", "\"\\");
  for (const EscapeTable* table : {&kCopy, &kArrayElement}) {
    for (char filler : {'a', '\x80', '\xff', ' '}) {
      for (int byte = 0; byte < 256; ++byte) {
        for (size_t at = 0; at < 19; ++at) {
          std::string text(19, filler);
          text[at] = static_cast<char>(byte);
          std::string expected;
          for (char c : text) {
            const char escape = (*table)[static_cast<unsigned char>(c)];
            if (escape != 0) expected += '\\';
            expected += escape != 0 ? escape : c;
          }
          std::string out;
          AppendEscaped(out, text, *table);
          ASSERT_EQ(out, expected) << "byte " << byte << " at " << at;
        }
      }
    }
  }
}

TEST(AppendDecimalTest, WritesEveryInt64) {
  std::string out = "=";
  AppendDecimal(out, 0);
  AppendDecimal(out, -7);
  EXPECT_EQ(out, "=0-7");
  out.clear();
  AppendDecimal(out, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(out, "-9223372036854775808");
  out.clear();
  AppendDecimal(out, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(out, "9223372036854775807");
}

}  // namespace
}  // namespace airlock::store

#include "http/json_checks.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <string>
#include <vector>

namespace airlock::http {
namespace {

// The 422 message for `text`, or "ok <the document>".
std::string Verdict(std::string_view text, std::string_view what = "Request body") {
  auto value = ParseRequestJson(text, what);
  return value ? "ok " + boost::json::serialize(*value) : value.error();
}

TEST(ParseRequestJsonTest, TakesJsonDocumentsWithWhitespaceAround) {
  EXPECT_EQ(Verdict(R"({"hostname":"h","pid":1})"), R"(ok {"hostname":"h","pid":1})");
  EXPECT_EQ(Verdict(" {\"a\": [1, 2.5, null, true]}\r\n"), R"(ok {"a":[1,2.5E0,null,true]})");
  EXPECT_EQ(Verdict("\"just a string\""), R"(ok "just a string")");
  EXPECT_EQ(Verdict("1.7976931348623157e308"), "ok 1.7976931348623157E308");  // largest double
  EXPECT_EQ(Verdict("1e-400"), "ok 0E0");  // underflows to 0: a finite number
}

TEST(ParseRequestJsonTest, RefusesADuplicateMemberNameAtAnyDepth) {
  constexpr char kDuplicate[] = "Request body has a duplicate member name";
  EXPECT_EQ(Verdict(R"({"hostname":"a","pid":1,"hostname":"b"})"), kDuplicate);
  EXPECT_EQ(Verdict(R"({"value":[{"k":1},{"k":2,"k":3}]})"), kDuplicate);
  EXPECT_EQ(Verdict(R"({"a":1,"\u0061":2})"), kDuplicate);  // the same name once decoded
  // The same name in sibling or nested objects is no duplicate.
  EXPECT_EQ(Verdict(R"({"k":{"k":1},"j":{"k":2}})"), R"(ok {"k":{"k":1},"j":{"k":2}})");
}

TEST(ParseRequestJsonTest, RefusesANumberBeyondADouble) {
  constexpr char kOutOfRange[] = "Request body holds a number out of range (beyond ±1.8e308)";
  EXPECT_EQ(Verdict("1e309"), kOutOfRange);
  EXPECT_EQ(Verdict(R"({"a":[1,{"b":-2e308}]})"), kOutOfRange);
  EXPECT_EQ(Verdict(R"({"a":"1e309"})"), R"(ok {"a":"1e309"})");  // a string is not a number
}

TEST(ParseRequestJsonTest, NamesWhatItReadsAndHowDeepItMayNest) {
  auto deep = [](int levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  EXPECT_TRUE(ParseRequestJson(deep(kMaxRequestJsonDepth), "Request body").has_value());
  EXPECT_EQ(Verdict(deep(kMaxRequestJsonDepth + 1), "Field 'extra'"),
            "Field 'extra' is nested too deeply (more than 32 levels)");
  const std::vector<std::string> bad_texts = {
      "", "{", "{} {}", "{\"a\":1,}", "// c\n{}", "{\"a\":\"\xff\"}", std::string("{\0}", 3)};
  for (const std::string& bad : bad_texts) {
    EXPECT_EQ(Verdict(bad, "Field 'extra'"), "Field 'extra' is not valid JSON") << bad;
  }
}

}  // namespace
}  // namespace airlock::http

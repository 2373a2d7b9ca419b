#include "json/strict_json.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <string>

namespace airlock {
namespace {

// The problem ParseStrictJson names for `text`, or nullopt if it takes the text.
std::optional<JsonProblem> ProblemOf(std::string_view text, int max_depth = 16) {
  JsonProblem problem = JsonProblem::kSyntax;
  auto value = ParseStrictJson(text, max_depth, {}, &problem);
  if (value) return std::nullopt;
  EXPECT_EQ(value.error().code(), ErrorCode::kInvalidArgument);
  return problem;
}

// An object of `n` members "k0".."k<n-1>" (values 0..), with `extra` members appended.
std::string ObjectOf(int n, std::string_view extra = "") {
  std::string text = "{";
  for (int i = 0; i < n; ++i)
    text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  text += extra;
  return text + "}";
}

TEST(StrictJsonTest, TakesJsonWithWhitespaceAroundIt) {
  auto value = ParseStrictJson(" {\"a\":[1,\"x\",null,true,2.5]}\n\t");
  ASSERT_TRUE(value.has_value()) << value.error().message();
  EXPECT_EQ(boost::json::serialize(*value), R"({"a":[1,"x",null,true,2.5E0]})");
}

TEST(StrictJsonTest, NamesTheRuleEachRefusedTextBreaks) {
  EXPECT_EQ(ProblemOf("{\"a\":}"), JsonProblem::kSyntax);
  EXPECT_EQ(ProblemOf("{\"a\":\"\xc3\"}"), JsonProblem::kSyntax);  // invalid UTF-8
  EXPECT_EQ(ProblemOf("/* c */ {}"), JsonProblem::kSyntax);
  EXPECT_EQ(ProblemOf(R"({"a":1,"a":1})"), JsonProblem::kDuplicateName);
  EXPECT_EQ(ProblemOf("[1e400]"), JsonProblem::kNumberOutOfRange);
  EXPECT_EQ(ProblemOf("[[[]]]", 2), JsonProblem::kTooDeep);
  EXPECT_EQ(ProblemOf(std::string_view("{\0}", 3)), JsonProblem::kNulByte);
  EXPECT_EQ(ProblemOf(std::string_view("{}\0", 3)), JsonProblem::kTrailingData);
  EXPECT_EQ(ProblemOf("{} []"), JsonProblem::kTrailingData);
  JsonProblem problem = JsonProblem::kSyntax;
  auto array = ParseStrictJsonObject("[]", 16, {}, &problem);
  ASSERT_FALSE(array.has_value());
  EXPECT_EQ(problem, JsonProblem::kNotObject);
  EXPECT_EQ(array.error().message(), "JSON is not an object");
  auto twice = ParseStrictJson(R"({"a":1,"a":2})");
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().message(), "JSON has a duplicate member name");
}

TEST(StrictJsonTest, ANamedObjectIsRefusedInItsName) {
  auto message = [](std::string_view text) {
    auto object = ParseNamedJsonObject(text, "serialized Dag", 16);
    return object ? std::string("ok") : object.error().message();
  };
  EXPECT_EQ(message(R"({"a":1})"), "ok");
  EXPECT_EQ(message("{"), "serialized Dag is not a JSON object");
  EXPECT_EQ(message("[]"), "serialized Dag is not a JSON object");
  EXPECT_EQ(message(R"({"a":1,"a":1})"), "serialized Dag: JSON has a duplicate member name");
  EXPECT_EQ(message("[1e999]"), "serialized Dag: JSON number out of range");
}

TEST(StrictJsonTest, NamedStringsFindsEveryStringWithTheNamesThatHoldIt) {
  using Names = std::vector<std::string>;
  auto flat = [](const std::vector<NamedString>& strings) {
    std::vector<std::pair<Names, std::string>> out;
    for (const NamedString& s : strings) out.emplace_back(s.names, s.value);
    return out;
  };
  using Flat = std::vector<std::pair<Names, std::string>>;
  auto strings =
      NamedStrings(R"({"api_key":"one","n":1,"nested":{"api_key":"inner","m":[1,{"":"deep"}]},)"
                   R"("list":["x",["y"]],"api_key":"two","t":true,"\u0061":"esc\"aped","z":null,)"
                   R"("after":{}, "last":"l"})",
                   32);
  ASSERT_TRUE(strings.has_value()) << strings.error().message();
  EXPECT_EQ(flat(*strings), (Flat{{{"api_key"}, "one"},
                                  {{"nested", "api_key"}, "inner"},
                                  {{"nested", "m", ""}, "deep"},
                                  {{"list"}, "x"},
                                  {{"list"}, "y"},
                                  {{"api_key"}, "two"},
                                  {{"a"}, "esc\"aped"},
                                  {{"last"}, "l"}}));
  // A name and a value with escapes, long enough for the parser to hand them over in parts.
  std::string raw, decoded;
  for (int i = 0; i < 10'000; ++i) {
    raw += "vvvv\\n";
    decoded += "vvvv\n";
  }
  strings = NamedStrings("{\"" + raw + "\":{\"" + raw + "\":\"" + raw + "\"}}", 32);
  ASSERT_TRUE(strings.has_value());
  EXPECT_EQ(flat(*strings), (Flat{{{decoded, decoded}, decoded}}));
  EXPECT_EQ(NamedStrings("{}", 32).value().size(), 0u);
  for (std::string_view bad :
       {"[\"a\"]", "\"text\"", "{\"a\":1e400}", "{\"a\":", "{} x", "{\"a\":[[]]}"}) {
    EXPECT_FALSE(NamedStrings(bad, 2).has_value()) << bad;
  }
}

TEST(StrictJsonTest, FindsADuplicateInObjectsOfEverySize) {
  // Within the names compared on arrival, just past them, and far past them.
  for (int n : {2, 15, 16, 17, 40, 50'000}) {
    EXPECT_EQ(ProblemOf(ObjectOf(n), 64), std::nullopt) << n;
    EXPECT_EQ(ProblemOf(ObjectOf(n, ",\"k0\":0"), 64), JsonProblem::kDuplicateName) << n;
    const std::string last = ",\"k" + std::to_string(n - 1) + "\":0";
    EXPECT_EQ(ProblemOf(ObjectOf(n, last), 64), JsonProblem::kDuplicateName) << n;
  }
}

TEST(StrictJsonTest, KeepsTheNamesOfNestedObjectsApart) {
  // An inner object may reuse the outer one's names, and the reverse; the outer object's
  // names are still all checked when it ends, after the inner one.
  const std::string inner = ObjectOf(20);
  EXPECT_EQ(ProblemOf(ObjectOf(20, ",\"inner\":" + inner + ",\"after\":[" + inner + "]")),
            std::nullopt);
  EXPECT_EQ(ProblemOf(ObjectOf(20, ",\"inner\":" + inner + ",\"k3\":0")),
            JsonProblem::kDuplicateName);
  EXPECT_EQ(ProblemOf(ObjectOf(3, ",\"inner\":" + ObjectOf(20, ",\"k19\":0"))),
            JsonProblem::kDuplicateName);
  EXPECT_EQ(ProblemOf(R"({"a":{"b":1},"b":{"a":1}})"), std::nullopt);
}

}  // namespace
}  // namespace airlock

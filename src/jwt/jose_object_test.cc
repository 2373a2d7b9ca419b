#include "jwt/jose_object.h"

#include <gtest/gtest.h>

#include <boost/json/monotonic_resource.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "jwt/key.h"
#include "jwt/key_set.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "jwt/validator.h"

namespace airlock::jwt {
namespace {

// What a member holds, with an array's elements resolved, so that two objects read
// different ways compare by content.
struct Resolved {
  std::string name;
  JoseValue::Kind kind;
  std::string string;
  int64_t int64;
  uint64_t uint64;
  double number;
  bool all_strings;
  std::vector<std::string> elements;

  bool operator==(const Resolved&) const = default;
};

std::vector<Resolved> Resolve(const JoseObject& object) {
  std::vector<Resolved> out;
  for (const JoseMember& m : object.members()) {
    Resolved r{std::string(m.name), m.value.kind,   std::string(m.value.string), m.value.int64,
               m.value.uint64,      m.value.number, m.value.all_strings,         {}};
    for (std::string_view e : object.array_strings().subspan(m.value.first, m.value.count)) {
      r.elements.emplace_back(e);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// Read() (the scan where it applies) and ReadParsed() (always the parser) agree: the same
// verdict, the same error message, the same members in the same order.
void ExpectSameAsParsed(std::string_view text) {
  SCOPED_TRACE(std::string(text));
  JoseObject read, parsed;
  auto a = read.Read(text);
  auto b = parsed.ReadParsed(text);
  ASSERT_EQ(a.has_value(), b.has_value());
  if (!a) {
    EXPECT_EQ(a.error().message(), b.error().message());
    return;
  }
  EXPECT_EQ(Resolve(read), Resolve(parsed));
}

TEST(JoseObjectTest, CompactObjectsOfPlainStringsIntegersAndStringArraysAreScanned) {
  for (std::string_view text : {
           R"({})",
           R"({"alg":"HS512","typ":"JWT"})",
           R"({"alg":"EdDSA","typ":"JWT","kid":"key-2026.a_b"})",
           R"({"jti":"0195f3a2","aud":["a","b c"],"exp":1800000600,"iat":0,"x":[]})",
           R"({"n":999999999999999999,"s":"","t":" ~!#$%&'()*+,-./:;<=>?@[]^_`{|}"})",
       }) {
    JoseObject object;
    ASSERT_TRUE(object.Read(text).has_value()) << text;
    EXPECT_TRUE(object.scanned()) << text;
    ExpectSameAsParsed(text);
  }
}

TEST(JoseObjectTest, ScannedMembersHoldTheValues) {
  JoseObject object;
  ASSERT_TRUE(object.Read(R"({"sub":"ti-1","exp":1800000600,"aud":["x","y"],"e":[]})"));
  ASSERT_TRUE(object.scanned());
  auto members = Resolve(object);
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].name, "sub");
  EXPECT_EQ(members[0].kind, JoseValue::Kind::kString);
  EXPECT_EQ(members[0].string, "ti-1");
  EXPECT_EQ(members[1].kind, JoseValue::Kind::kInt64);
  EXPECT_EQ(members[1].int64, 1800000600);
  EXPECT_EQ(members[2].kind, JoseValue::Kind::kArray);
  EXPECT_EQ(members[2].elements, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(members[3].kind, JoseValue::Kind::kArray);
  EXPECT_TRUE(members[3].elements.empty());
}

// Everything outside the scan's simple case goes to the parser, which decides as it
// always did: the verdict, the message and the values are the parser's.
TEST(JoseObjectTest, AnythingElseIsLeftToTheParserWithItsVerdict) {
  const std::vector<std::string_view> texts = {
      // valid, but not for the scan
      R"({ "alg":"HS512"})",
      R"({"alg" :"HS512"})",
      R"({"alg":"HS512"} )",
      "{\"alg\":\"HS512\",\n\"typ\":\"JWT\"}",
      R"({"alg":"HS\u0035"})",
      R"({"a\"b":"x"})",
      R"({"s":"\\"})",
      "{\"s\":\"caf\xc3\xa9\"}",
      R"({"n":-1})",
      R"({"n":-0})",
      R"({"n":1.5})",
      R"({"n":1e3})",
      R"({"n":1E3})",
      R"({"n":9223372036854775807})",
      R"({"n":18446744073709551615})",
      R"({"n":1234567890123456789})",
      R"({"n":9999999999999999999})",
      R"({"b":true,"f":false,"z":null})",
      R"({"o":{"a":1}})",
      R"({"a":[1,"x"]})",
      R"({"a":["x",["y"]]})",
      R"({"a":[ "x"]})",
      // errors, each with the parser's message
      R"({"a":"x","a":"y"})",
      R"({"a":[],"b":1,"a":2})",
      R"({"n":01})",
      R"({"n":00})",
      R"({"n":1e400})",
      R"({"a":"x",})",
      R"({"a":"x"}{})",
      R"({"a":"x"}x)",
      R"({"a":"x")",
      R"({"a":["x")",
      R"({"a":["x",]})",
      R"({"a":[,]})",
      R"({"a":})",
      R"({"a"})",
      R"({"a":"x)",
      R"({a:1})",
      R"({)",
      R"([])",
      R"("x")",
      R"(1)",
      "",
      "{\"a\":\"x\ty\"}",
      std::string_view("{\"a\":\"x\0\"}", 10),
      "{\"a\":\"\xff\"}",
  };
  for (std::string_view text : texts) {
    ExpectSameAsParsed(text);
    JoseObject object;
    (void)object.Read(text);
    EXPECT_FALSE(object.scanned()) << text;
  }
}

TEST(JoseObjectTest, ADuplicateNameIsRefusedWithTheParsersMessage) {
  JoseObject object;
  auto read = object.Read(R"({"exp":1,"iat":2,"exp":3})");
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().message(), "JSON has a duplicate member name");
}

TEST(JoseObjectTest, ObjectsWithMoreMembersThanTheScanTakesAreParsed) {
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += (i ? ",\"m" : "\"m") + std::to_string(i) + "\":1";
  text += "}";
  JoseObject object;
  ASSERT_TRUE(object.Read(text).has_value());
  EXPECT_FALSE(object.scanned());
  EXPECT_EQ(object.members().size(), 100u);
  ExpectSameAsParsed(text);
}

TEST(JoseObjectTest, AParsedObjectOutlivesTheCallInTheCallersStorage) {
  unsigned char buffer[256];
  boost::json::monotonic_resource mr(buffer, sizeof buffer);
  JoseObject object;
  // Escapes: parsed, and the decoded strings live in the document the object keeps.
  ASSERT_TRUE(object.Read(R"({"sub":"a\nb","aud":["\u0078"]})", 16, &mr).has_value());
  ASSERT_FALSE(object.scanned());
  auto members = Resolve(object);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].string, "a\nb");
  EXPECT_EQ(members[1].elements, (std::vector<std::string>{"x"}));
}

// The point of the scan: the tokens airlock signs never build a document when verified.
TEST(JoseObjectTest, TheHeaderAndPayloadOfEveryTokenAirlockSignsAreScanned) {
  FakeClock clock{1'800'000'000};
  auto secret = Key::FromSecret(std::string(64, 'z'));
  ASSERT_TRUE(secret.has_value());
  auto ed = Key::Generate(KeyType::kEd25519);
  ASSERT_TRUE(ed.has_value());
  for (const KeyPtr& key : {*secret, *ed}) {
    TokenSigner signer(std::make_shared<StaticKeySource>(KeySet::Single(key)), clock);
    MintRequest request{.sub = "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11",
                        .aud = {"urn:airflow.apache.org:task", "airlock"},
                        .iss = "airlock",
                        .scope = "execution"};
    request.extra_claims = {{"ti", R"("x")"}, {"try", "2"}};
    auto token = signer.Mint(request);
    ASSERT_TRUE(token.has_value()) << token.error().ToString();
    auto decoded = DecodeUnverified(*token);
    ASSERT_TRUE(decoded.has_value());
    for (const std::string& json : {decoded->header_json, decoded->payload}) {
      JoseObject object;
      ASSERT_TRUE(object.Read(json).has_value()) << json;
      EXPECT_TRUE(object.scanned()) << json;
      ExpectSameAsParsed(json);
    }
  }
}

}  // namespace
}  // namespace airlock::jwt

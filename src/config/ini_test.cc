#include "config/ini.h"

#include <gtest/gtest.h>

namespace airlock::config {
namespace {

TEST(IniTest, ParsesSectionsOptionsAndComments) {
  auto entries = ParseIni(
      "# a comment\n"
      "; another\n"
      "[core]\n"
      "Strict_Secrets = True\n"
      "\n"
      "[api_auth]\n"
      "jwt_secret=abc#not-a-comment\n"
      "jwt_issuer =   \n",
      "airlock.cfg");
  ASSERT_TRUE(entries) << entries.error().message();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].section, "core");
  EXPECT_EQ((*entries)[0].option, "strict_secrets");  // option names are lowercased
  EXPECT_EQ((*entries)[0].value, "True");
  EXPECT_EQ((*entries)[0].line, 4);
  EXPECT_EQ((*entries)[1].value, "abc#not-a-comment");
  EXPECT_EQ((*entries)[2].value, "");
}

TEST(IniTest, KeepsEverythingAfterTheFirstEquals) {
  auto entries = ParseIni("[database]\nsql_alchemy_conn = postgresql://u:p=w@h/db?x=1\n", "f");
  ASSERT_TRUE(entries);
  EXPECT_EQ((*entries)[0].value, "postgresql://u:p=w@h/db?x=1");
}

TEST(IniTest, IndentedLinesContinueAValue) {
  auto entries = ParseIni("[secrets]\nbackend_kwargs = {\n    \"a\": 1\n  }\nbackend = x\n", "f");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].value, "{\n\"a\": 1\n}");
  EXPECT_EQ((*entries)[1].option, "backend");
}

TEST(IniTest, NoInterpolation) {
  auto entries = ParseIni("[s]\na = %(b)s ${HOME}\n", "f");
  ASSERT_TRUE(entries);
  EXPECT_EQ((*entries)[0].value, "%(b)s ${HOME}");
}

TEST(IniTest, HandlesCrLfAndMissingFinalNewline) {
  auto entries = ParseIni("[s]\r\na = 1\r\nb = 2", "f");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].value, "1");
  EXPECT_EQ((*entries)[1].value, "2");
}

TEST(IniTest, RejectsMalformedLinesNamingTheLine) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  const Case cases[] = {
      {"a = 1\n", "airlock.cfg:1: option 'a' appears before any [section]"},
      {"[s]\njust words\n", "airlock.cfg:2: expected '[section]' or 'option = value'"},
      {"[s\n", "airlock.cfg:1: unclosed '['"},
      {"[s]\na = 1\nA = 2\n", "airlock.cfg:3: option 'a' appears twice in [s]"},
      {"[s]\n[t]\n[s]\n", "airlock.cfg:3: section [s] appears twice"},
      {"[s]\n= 1\n", "airlock.cfg:2: missing option name"},
      {"[]\n", "empty section name"},
  };
  for (const auto& c : cases) {
    auto entries = ParseIni(c.text, "airlock.cfg");
    ASSERT_FALSE(entries) << c.text;
    EXPECT_NE(entries.error().message().find(c.message_part), std::string::npos)
        << entries.error().message();
  }
}

TEST(IniTest, ErrorsNeverRepeatAValue) {
  auto entries = ParseIni("[s]\nhunter2-password\n", "f");
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace airlock::config

#include "common/secrets_masker.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace airlock {
namespace {

// A correctly shaped (unsigned-checked) token: header {"alg":"HS512","typ":"JWT"}.
constexpr std::string_view kJwt =
    "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0YXNrIn0."
    "c2lnbmF0dXJlX2J5dGVzX2hlcmVfYW5kX21vcmU";

TEST(SecretsMaskerTest, MasksRegisteredSecretAsSubstring) {
  SecretsMasker masker;
  ASSERT_TRUE(masker.AddSecret("hunter2-password"));
  EXPECT_EQ(masker.Mask("connecting with hunter2-password now"), "connecting with *** now");
  EXPECT_EQ(masker.Mask("xxhunter2-passwordyy"), "xx***yy");
  EXPECT_EQ(masker.Mask("nothing to hide"), "nothing to hide");
}

TEST(SecretsMaskerTest, MasksEveryOccurrence) {
  SecretsMasker masker;
  masker.AddSecret("s3cr3t!");
  EXPECT_EQ(masker.Mask("s3cr3t! and s3cr3t!"), "*** and ***");
}

TEST(SecretsMaskerTest, LeavesValuesShorterThanMinimumAlone) {
  SecretsMasker masker;  // minimum 5
  EXPECT_FALSE(masker.AddSecret("abcd"));
  EXPECT_EQ(masker.Mask("abcd"), "abcd");
  EXPECT_TRUE(masker.AddSecret("abcde"));
  EXPECT_EQ(masker.Mask("abcde"), "***");
}

// SPEC §8: "values shorter than 5 characters" — characters, not bytes.
TEST(SecretsMaskerTest, MinimumLengthCountsCharactersNotBytes) {
  SecretsMasker masker;                                        // minimum 5
  EXPECT_FALSE(masker.AddSecret("\xC3\xA4\xC3\xB6\xC3\xBC"));  // "äöü": 3 characters, 6 bytes
  EXPECT_EQ(masker.Mask("\xC3\xA4\xC3\xB6\xC3\xBC"), "\xC3\xA4\xC3\xB6\xC3\xBC");
  // Four keys (U+1F511): 4 characters, 16 bytes.
  EXPECT_FALSE(
      masker.AddSecret("\xF0\x9F\x94\x91\xF0\x9F\x94\x91\xF0\x9F\x94\x91\xF0\x9F\x94\x91"));
  EXPECT_TRUE(masker.AddSecret("\xC3\xA4\xC3\xB6\xC3\xBC\xC3\x9F\xC3\xA9"));  // "äöüßé": 5
  EXPECT_EQ(masker.Mask("x \xC3\xA4\xC3\xB6\xC3\xBC\xC3\x9F\xC3\xA9 y"), "x *** y");
  // A byte that begins no UTF-8 sequence counts as one character.
  EXPECT_TRUE(masker.AddSecret("ab\xFF\xFEz"));
  EXPECT_EQ(masker.Mask("ab\xFF\xFEz"), "***");
}

TEST(SecretsMaskerTest, NeverRegistersTheEmptyString) {
  SecretsMasker masker(0);
  EXPECT_FALSE(masker.AddSecret(""));
  EXPECT_EQ(masker.Mask("text"), "text");
}

TEST(SecretsMaskerTest, MinimumLengthIsConfigurable) {
  SecretsMasker masker(8);
  EXPECT_FALSE(masker.AddSecret("1234567"));
  EXPECT_TRUE(masker.AddSecret("12345678"));
  EXPECT_EQ(masker.Mask("1234567 12345678"), "1234567 ***");
}

TEST(SecretsMaskerTest, MasksJsonEscapedForms) {
  SecretsMasker masker;
  masker.AddSecret("pa\"ss\\wo/rd\n");
  // Escaped as JSON writes it, with and without "\/".
  EXPECT_EQ(masker.Mask(R"({"password": "pa\"ss\\wo/rd\n"})"), R"({"password": "***"})");
  EXPECT_EQ(masker.Mask(R"({"password": "pa\"ss\\wo\/rd\n"})"), R"({"password": "***"})");
}

TEST(SecretsMaskerTest, MasksJsonAsciiEscapedNonAscii) {
  SecretsMasker masker;
  masker.AddSecret("g\xC3\xA9heim-\xF0\x9F\x94\x91");  // "gèheim-" + U+1F511
  EXPECT_EQ(masker.Mask(R"("g\u00e9heim-\ud83d\udd11")"), R"("***")");
  EXPECT_EQ(masker.Mask("raw g\xC3\xA9heim-\xF0\x9F\x94\x91"), "raw ***");
}

TEST(SecretsMaskerTest, MasksUrlEncodedForms) {
  SecretsMasker masker;
  masker.AddSecret("p@ss w/rd");
  EXPECT_EQ(masker.Mask("postgresql://u:p%40ss%20w%2Frd@db/x"), "postgresql://u:***@db/x");
  EXPECT_EQ(masker.Mask("?password=p%40ss+w%2Frd&x=1"), "?password=***&x=1");
  EXPECT_EQ(masker.Mask("p%40ss%20w/rd"), "***");
}

TEST(SecretsMaskerTest, OverlappingSecretsLeaveNothingBehind) {
  SecretsMasker masker;
  masker.AddSecret("abcdef");
  masker.AddSecret("defXYZ");
  EXPECT_EQ(masker.Mask("--abcdefXYZ--"), "--***--");
  SecretsMasker repeats;
  repeats.AddSecret("aaaaa");
  EXPECT_EQ(repeats.Mask("aaaaaa"), "***");
}

TEST(SecretsMaskerTest, MasksJwtShapedTextWithoutRegistration) {
  SecretsMasker masker;
  std::string line = "Authorization: Bearer " + std::string(kJwt) + " accepted";
  EXPECT_EQ(masker.Mask(line), "Authorization: Bearer *** accepted");
  EXPECT_EQ(masker.Mask(std::string("token=") + std::string(kJwt)), "token=***");
  // An unsecured token (empty signature) is still a token.
  EXPECT_EQ(masker.Mask("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), "***");
}

// The header is JSON: nothing makes it start '{"'. These are valid JWT headers whose
// base64url does not start "eyJ".
TEST(SecretsMaskerTest, MasksJwtsWhoseHeaderDoesNotStartEyJ) {
  SecretsMasker masker;
  const std::string payload = ".eyJzdWIiOiJ0YXNrIn0.c2lnbmF0dXJl";
  for (const char* header : {
           "eyAiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ",  // {_"alg":"HS256","typ":"JWT"}
           "IHsiYWxnIjoibm9uZSJ9",                    // _{"alg":"none"}
           "Cgl7DQogImFsZyIgOiAiRVMyNTYiIH0K",        // \n\t{\r\n_"alg"_:_"ES256"_}\n
           "e30",                                     // {}
       }) {
    EXPECT_EQ(masker.Mask("Bearer " + std::string(header) + payload + ", next"), "Bearer ***, next")
        << header;
    EXPECT_EQ(masker.Mask(std::string(header) + ".e30."), "***") << header;  // unsecured
    EXPECT_EQ(masker.Mask("a.b." + std::string(header) + payload), "a.b.***") << header;
  }
  // Starting '{"' is enough, as it always was, even if the rest does not decode.
  EXPECT_EQ(masker.Mask("eyJhbGciOiJIUzI1NiJ9x.e30.c2ln"), "***");
  // Many in a row, separated only by spaces.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "e30.e30.c2ln ";
  std::string masked;
  for (int i = 0; i < 100; ++i) masked += "*** ";
  EXPECT_EQ(masker.Mask(many), masked);
}

TEST(SecretsMaskerTest, LeavesTextThatIsNotJwtShaped) {
  SecretsMasker masker;
  EXPECT_EQ(masker.Mask("eyJust one segment"), "eyJust one segment");
  EXPECT_EQ(masker.Mask("eyJabc.def"), "eyJabc.def");
  EXPECT_EQ(masker.Mask("keyJabc.def.ghi"), "keyJabc.def.ghi");  // not at a boundary
  EXPECT_EQ(masker.Mask("version 1.2.3"), "version 1.2.3");
  // Three segments, but the first is not the base64url of a JSON object.
  for (const char* text :
       {"a.b.c", "1.2.3.4", "v10.20.30", "www.example.com", "exists.tar.gz", "api.v1.users",
        "e3h9.e30.c2ln",            // {x}
        "WzFd.e30.c2ln",            // [1]
        "eyAiYSI6IgEifQ.e30.c2ln",  // {_"a":"\x01"}: a control character
        "ey.J.x", "ICAg.e30.c2ln" /* three spaces */}) {
    EXPECT_EQ(masker.Mask(text), text) << text;
  }
}

TEST(SecretsMaskerTest, SensitiveKeysFollowSpecWords) {
  for (const char* key :
       {"password", "DB_PASSWORD", "passwd", "my_secret", "api_key", "ApiKey", "access_token",
        "token", "Authorization", "ssh_private_key", "passphrase"}) {
    EXPECT_TRUE(SecretsMasker::IsSensitiveKey(key)) << key;
  }
  for (const char* key : {"host", "port", "user", "schema", "region"}) {
    EXPECT_FALSE(SecretsMasker::IsSensitiveKey(key)) << key;
  }
}

TEST(SecretsMaskerTest, VariablesAreMaskedOnlyForSensitiveKeys) {
  SecretsMasker masker;
  EXPECT_TRUE(masker.AddSecretForKey("slack_api_key", "xoxb-1234567"));
  EXPECT_FALSE(masker.AddSecretForKey("region", "eu-west-1"));
  EXPECT_EQ(masker.Mask("key xoxb-1234567 in eu-west-1"), "key *** in eu-west-1");
}

TEST(SecretsMaskerTest, SecretFormsStartWithTheSecretAndAreDistinct) {
  auto forms = SecretForms("a b/c\"d");
  ASSERT_FALSE(forms.empty());
  EXPECT_EQ(forms[0], "a b/c\"d");
  for (size_t i = 0; i < forms.size(); ++i) {
    for (size_t j = i + 1; j < forms.size(); ++j) EXPECT_NE(forms[i], forms[j]);
  }
  EXPECT_EQ(SecretForms("plainvalue").size(), 1u);
}

TEST(SecretsMaskerTest, ConcurrentRegistrationAndMasking) {
  SecretsMasker masker;
  masker.AddSecret("initial-secret");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&masker, t] {
      for (int i = 0; i < 200; ++i) {
        masker.AddSecret("secret-" + std::to_string(t) + "-" + std::to_string(i));
        EXPECT_EQ(masker.Mask("x initial-secret y"), "x *** y");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(masker.Mask("secret-3-199"), "***");
}

}  // namespace
}  // namespace airlock

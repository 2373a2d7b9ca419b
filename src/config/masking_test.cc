#include "config/masking.h"

#include <gtest/gtest.h>

#include <sstream>

namespace airlock::config {
namespace {

// A stand-in for a component logger: every line goes through the masker, as SPEC §8 asks.
class MaskedLog {
 public:
  explicit MaskedLog(const SecretsMasker& masker) : masker_(masker) {}
  void Line(std::string_view text) { out_ << masker_.Mask(text) << "\n"; }
  std::string str() const { return out_.str(); }

 private:
  const SecretsMasker& masker_;
  std::ostringstream out_;
};

TEST(MaskingTest, ComponentLogNeverContainsAConfiguredSecret) {
  const std::string jwt_secret = "hs512-shared-secret-0123456789abcdef";
  const std::string db_password = "db pass/word@1";
  const std::string fernet = "fernet-key-from-a-command";
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__API_AUTH__JWT_SECRET"] = jwt_secret;
  inputs.environment["AIRLOCK__DATABASE__SQL_ALCHEMY_CONN"] =
      "postgresql://airlock:db%20pass%2Fword%401@db.internal/airlock";
  inputs.environment["AIRLOCK__CORE__FERNET_KEY_CMD"] = "printf " + fernet;
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config) << config.error().message();
  auto masker = MakeSecretsMasker(*config);

  MaskedLog log(*masker);
  log.Line("starting with secret " + jwt_secret);
  log.Line("config dump: {\"jwt_secret\": \"" + jwt_secret + "\"}");
  log.Line("connecting to postgresql://airlock:db%20pass%2Fword%401@db.internal/airlock");
  log.Line("driver said: password '" + db_password + "' rejected");
  log.Line("fernet=" + fernet);
  log.Line("url-encoded fernet: fernet-key-from-a-command&x=1");
  std::string text = log.str();
  for (const std::string& secret :
       {jwt_secret, db_password, fernet, std::string("db%20pass%2Fword%401")}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked in:\n" << text;
  }
  EXPECT_NE(text.find("driver said: password '***' rejected"), std::string::npos) << text;
}

TEST(MaskingTest, DefaultsAreNotSecrets) {
  ConfigInputs inputs;
  inputs.airlock_home = "/srv/airlock";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  auto masker = MakeSecretsMasker(*config);
  EXPECT_EQ(masker->Mask("db at sqlite:////srv/airlock/airlock.db"),
            "db at sqlite:////srv/airlock/airlock.db");
}

TEST(MaskingTest, MinimumLengthComesFromTheConfig) {
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__LOGGING__MIN_LENGTH_MASKED_SECRET"] = "12";
  inputs.environment["AIRLOCK__CORE__FERNET_KEY"] = "short-key";  // 9 characters
  inputs.environment["AIRLOCK__API__SECRET_KEY"] = "a-longer-secret-key";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  auto masker = MakeSecretsMasker(*config);
  EXPECT_EQ(masker->min_length(), 12u);
  EXPECT_EQ(masker->Mask("short-key a-longer-secret-key"), "short-key ***");
}

TEST(MaskingTest, NonSensitiveValuesAreNotMasked) {
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__API_AUTH__JWT_ISSUER"] = "airlock-prod-issuer";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  auto masker = MakeSecretsMasker(*config);
  EXPECT_EQ(masker->Mask("iss airlock-prod-issuer"), "iss airlock-prod-issuer");
}

}  // namespace
}  // namespace airlock::config

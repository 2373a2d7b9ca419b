#include "config/component_secrets.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "testing/temp_dir.h"

namespace airlock::config {
namespace {

// Every sensitive option of the built-in schema set through its environment variable.
ConfigInputs AllSecretsSet() {
  ConfigInputs inputs;
  inputs.airlock_home = "/srv/airlock";
  for (const OptionSpec* spec : BuiltinSchema().AllOptions()) {
    if (spec->sensitive) inputs.environment[spec->EnvironmentVariable()] = "value-of-" + spec->name;
  }
  return inputs;
}

std::set<std::string> Names(const std::vector<UnneededSecret>& found) {
  std::set<std::string> names;
  for (const auto& f : found) names.insert(f.spec->DisplayName());
  return names;
}

// The components' needs written out from SPEC §1 (who holds database credentials and
// signing keys), independently of config.yml: the schema's needed_by must agree.
TEST(ComponentSecretsTest, EveryComponentIsCheckedAgainstNeededBy) {
  const std::set<std::string> control_plane_secrets = {
      "[core] fernet_key",       "[database] sql_alchemy_conn", "[api] ssl_key",
      "[api] secret_key",        "[api_auth] jwt_secret",       "[api_auth] jwt_private_key_path",
      "[secrets] backend_kwargs"};
  // The dag-processor's own bundle-scoped token and the triggerer's lease-only token: only
  // their own component needs each.
  const std::string processor_token = "[dag_processor] api_token";
  const std::string triggerer_token = "[triggerer] api_token";
  std::set<std::string> all_sensitive = control_plane_secrets;
  all_sensitive.insert(processor_token);
  all_sensitive.insert(triggerer_token);
  std::set<std::string> all_but_triggerer_token = all_sensitive;
  all_but_triggerer_token.erase(triggerer_token);
  std::set<std::string> all_but_processor_token = all_sensitive;
  all_but_processor_token.erase(processor_token);
  const std::map<Component, std::set<std::string>> expected = {
      {Component::kApiServer, {processor_token, triggerer_token}},
      {Component::kScheduler,
       {"[api] ssl_key", "[api] secret_key", processor_token, triggerer_token}},
      {Component::kWorker, all_sensitive},
      {Component::kDagProcessor, all_but_processor_token},
      {Component::kTriggerer, all_but_triggerer_token},
  };
  auto config = Config::Load(BuiltinSchema(), AllSecretsSet());
  ASSERT_TRUE(config) << config.error().message();
  for (Component c : kAllComponents) {
    EXPECT_EQ(Names(FindUnneededSecrets(*config, c)), expected.at(c)) << ComponentName(c);
    // And the same from the schema's own data.
    std::set<std::string> from_schema;
    for (const OptionSpec* spec : BuiltinSchema().AllOptions()) {
      if (spec->sensitive && !spec->NeededBy(c)) from_schema.insert(spec->DisplayName());
    }
    EXPECT_EQ(Names(FindUnneededSecrets(*config, c)), from_schema) << ComponentName(c);
  }
}

TEST(ComponentSecretsTest, CleanConfigurationHasNoFindings) {
  ConfigInputs inputs;
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  for (Component c : kAllComponents) {
    // The default sql_alchemy_conn is not "set": only sources other than the default count.
    EXPECT_TRUE(FindUnneededSecrets(*config, c).empty()) << ComponentName(c);
  }
}

TEST(ComponentSecretsTest, FindingSaysWhereTheOptionCameFrom) {
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql://u:pw-123456@db/a";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  auto found = FindUnneededSecrets(*config, Component::kWorker);
  ASSERT_EQ(found.size(), 1u);
  std::string line = found[0].Describe(Component::kWorker);
  EXPECT_EQ(line,
            "[database] sql_alchemy_conn is set by env AIRLOCK__DATABASE__SQL_ALCHEMY_CONN but "
            "worker does not need it");
  EXPECT_EQ(line.find("pw-123456"), std::string::npos);
}

TEST(ComponentSecretsTest, ReportsFileSourcesAndCommandsThatWereNotRun) {
  ConfigInputs inputs;
  inputs.file_path = "/etc/airlock.cfg";
  inputs.file_text = "[api_auth]\njwt_secret_cmd = false\n[core]\nfernet_key = k-123456\n";
  inputs.component = Component::kWorker;
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config) << config.error().message();
  auto lines = CheckComponentSecrets(*config, Component::kWorker, false);
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0],
            "[core] fernet_key is set by /etc/airlock.cfg:4 but worker does not need it");
  EXPECT_EQ((*lines)[1],
            "[api_auth] jwt_secret is set by /etc/airlock.cfg:2 (jwt_secret_cmd) but worker does "
            "not need it");
}

TEST(ComponentSecretsTest, EmptyValuesCarryNoSecret) {
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__DATABASE__SQL_ALCHEMY_CONN"] = "";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  EXPECT_TRUE(FindUnneededSecrets(*config, Component::kWorker).empty());
}

TEST(ComponentSecretsTest, WarnsByDefaultAndRefusesWhenStrict) {
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__API_AUTH__JWT_SECRET"] = "s3cret-value-that-is-long";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  EXPECT_FALSE(StrictSecrets(*config));
  auto warn = CheckComponentSecrets(*config, Component::kTriggerer, StrictSecrets(*config));
  ASSERT_TRUE(warn);
  EXPECT_EQ(warn->size(), 1u);

  inputs.environment["AIRLOCK__CORE__STRICT_SECRETS"] = "True";
  config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config);
  EXPECT_TRUE(StrictSecrets(*config));
  auto refuse = CheckComponentSecrets(*config, Component::kTriggerer, StrictSecrets(*config));
  ASSERT_FALSE(refuse);
  EXPECT_EQ(refuse.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refuse.error().message().find("triggerer refuses to start"), std::string::npos);
  EXPECT_NE(refuse.error().message().find("[api_auth] jwt_secret"), std::string::npos);
  EXPECT_EQ(refuse.error().message().find("s3cret"), std::string::npos);

  // Strict and clean: the component starts.
  auto ok = CheckComponentSecrets(*config, Component::kApiServer, true);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->empty());
}

// The file every component of a machine reads: the one the local executor's supervisors
// and `airlock standalone`'s children find through AIRLOCK_HOME.
constexpr std::string_view kSharedFile =
    "[core]\nstrict_secrets = True\n"
    "[database]\nsql_alchemy_conn = postgresql://airlock:db-pw-4711@db/airlock\n"
    "[api_auth]\njwt_secret = jwt-secret-0815\n";

ConfigInputs SharedFileInputs() {
  ConfigInputs inputs;
  inputs.file_path = "/srv/airlock/airlock.cfg";
  inputs.file_text = std::string(kSharedFile);
  inputs.file_is_default = true;
  inputs.component = Component::kWorker;
  return inputs;
}

TEST(ComponentSecretsTest, AWorkerReadingTheSharedFileHoldsNoneOfItsSecretsAndStillStarts) {
  auto config = Config::Load(BuiltinSchema(), SharedFileInputs());
  ASSERT_TRUE(config) << config.error().message();
  for (auto [section, option] :
       {std::pair{"database", "sql_alchemy_conn"}, std::pair{"api_auth", "jwt_secret"}}) {
    const ResolvedOption* r = config->Find(section, option);
    EXPECT_TRUE(r->withheld) << option;
    EXPECT_FALSE(r->value) << option;
    EXPECT_FALSE(config->GetString(section, option)) << option;
  }
  ASSERT_TRUE(StrictSecrets(*config));
  auto lines = CheckComponentSecrets(*config, Component::kWorker, true);
  ASSERT_TRUE(lines) << lines.error().message();
  EXPECT_EQ(*lines, (std::vector<std::string>{
                        "[database] sql_alchemy_conn is set by /srv/airlock/airlock.cfg:4 but "
                        "worker does not need it",
                        "[api_auth] jwt_secret is set by /srv/airlock/airlock.cfg:6 but worker "
                        "does not need it"}));
}

TEST(ComponentSecretsTest, StrictStillRefusesSecretsGivenToTheComponentItself) {
  // By its environment: that one is refused, the shared file's is not named.
  ConfigInputs inputs = SharedFileInputs();
  inputs.environment["AIRLOCK__API_AUTH__JWT_SECRET"] = "env-secret-0815";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_FALSE(config->Find("api_auth", "jwt_secret")->value);
  auto refused = CheckComponentSecrets(*config, Component::kWorker, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find(
                "worker refuses to start because [core] strict_secrets is True and it was given "
                "sensitive options it does not need: [api_auth] jwt_secret is set by env "
                "AIRLOCK__API_AUTH__JWT_SECRET"),
            std::string::npos)
      << refused.error().message();
  EXPECT_EQ(refused.error().message().find("sql_alchemy_conn"), std::string::npos);

  // By the file its --config names: every finding is refused.
  inputs = SharedFileInputs();
  inputs.file_is_default = false;
  config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config) << config.error().message();
  refused = CheckComponentSecrets(*config, Component::kWorker, true);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("[database] sql_alchemy_conn is set by "
                                           "/srv/airlock/airlock.cfg:4"),
            std::string::npos);
  EXPECT_NE(refused.error().message().find("[api_auth] jwt_secret is set by "
                                           "/srv/airlock/airlock.cfg:6"),
            std::string::npos);
  EXPECT_EQ(refused.error().message().find("4711"), std::string::npos);
}

// LoadProcessConfig marks $AIRLOCK_HOME/airlock.cfg as the default file, and a --config
// file as not.
TEST(ComponentSecretsTest, OnlyTheFileFoundThroughAirlockHomeIsTheDefaultFile) {
  test::TempDir dir("airlock-component-secrets");
  const std::string path = dir.path() + "/airlock.cfg";
  std::ofstream(path) << kSharedFile;
  const char* saved = std::getenv("AIRLOCK_HOME");
  std::optional<std::string> saved_home = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::setenv("AIRLOCK_HOME", dir.path().c_str(), 1);
  auto implicit = LoadProcessConfig({.component = Component::kWorker});
  auto given = LoadProcessConfig({.config_path = path, .component = Component::kWorker});
  if (saved_home) {
    ::setenv("AIRLOCK_HOME", saved_home->c_str(), 1);
  } else {
    ::unsetenv("AIRLOCK_HOME");
  }
  ASSERT_TRUE(implicit) << implicit.error().message();
  ASSERT_TRUE(given) << given.error().message();
  const ResolvedOption* r = implicit->Find("database", "sql_alchemy_conn");
  EXPECT_TRUE(r->from_default_file);
  EXPECT_TRUE(r->withheld);
  EXPECT_EQ(r->origin, path + ":4");
  EXPECT_TRUE(CheckComponentSecrets(*implicit, Component::kWorker, true));
  EXPECT_FALSE(given->Find("database", "sql_alchemy_conn")->from_default_file);
  EXPECT_TRUE(given->Find("database", "sql_alchemy_conn")->withheld);
  EXPECT_FALSE(CheckComponentSecrets(*given, Component::kWorker, true));
}

}  // namespace
}  // namespace airlock::config

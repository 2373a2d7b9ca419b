#include "config/config.h"

#include <gtest/gtest.h>

#include <array>

namespace airlock::config {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kTestSchema = R"(
s:
  options:
    secret:
      description: A sensitive option with a default, so every source can be compared.
      type: string
      default: "from-default"
      sensitive: true
      version_added: 0.1.0
      needed_by: [api-server]
    unset_secret:
      description: A sensitive option without a default.
      type: string
      default: ~
      sensitive: true
      version_added: 0.1.0
      needed_by: [api-server]
    plain:
      description: Not sensitive.
      type: string
      default: "d"
      sensitive: false
      version_added: 0.1.0
      needed_by: [worker]
    number:
      description: An integer.
      type: integer
      default: "7"
      sensitive: false
      version_added: 0.1.0
      needed_by: [worker]
    flag:
      description: A boolean.
      type: boolean
      default: "False"
      sensitive: false
      version_added: 0.1.0
      needed_by: [worker]
    ratio:
      description: A float.
      type: float
      default: "0.5"
      sensitive: false
      version_added: 0.1.0
      needed_by: [worker]
    dir:
      description: A path.
      type: path
      default: "{AIRLOCK_HOME}/x"
      sensitive: false
      version_added: 0.1.0
      needed_by: [worker]
other_section:
  options:
    value:
      description: Another section.
      type: string
      default: ~
      sensitive: false
      version_added: 0.1.0
      needed_by: []
)";

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() : schema_(Schema::Parse(kTestSchema).value()) {
    inputs_.airlock_home = "/srv/airlock";
    inputs_.home = "/home/op";
    inputs_.file_path = "/srv/airlock/airlock.cfg";
  }

  Result<Config> Load() { return Config::Load(schema_, inputs_); }

  // Expects Load() to fail with a message containing every part.
  void ExpectLoadError(std::initializer_list<std::string_view> parts) {
    auto config = Load();
    ASSERT_FALSE(config) << "expected an error";
    for (std::string_view part : parts) {
      EXPECT_NE(config.error().message().find(part), std::string::npos)
          << "missing '" << part << "' in: " << config.error().message();
    }
  }

  Schema schema_;
  ConfigInputs inputs_;
};

enum Source { kEnv, kEnvCmd, kFile, kFileCmd, kDefault };
constexpr std::array<const char*, 5> kSourceValue = {"from-env", "from-env-cmd", "from-file",
                                                     "from-file-cmd", "from-default"};

void SetSource(ConfigInputs& inputs, Source source) {
  std::string file = inputs.file_text.value_or("[s]\n");
  switch (source) {
    case kEnv:
      inputs.environment["AIRLOCK__S__SECRET"] = "from-env";
      return;
    case kEnvCmd:
      inputs.environment["AIRLOCK__S__SECRET_CMD"] = "printf from-env-cmd";
      return;
    case kFile:
      inputs.file_text = file + "secret = from-file\n";
      return;
    case kFileCmd:
      inputs.file_text = file + "secret_cmd = printf 'from-file-cmd\\n'\n";
      return;
    case kDefault:
      return;
  }
}

// SPEC §7: env, env _CMD, file, file _cmd, default; the first one found wins. Every pair.
TEST_F(ConfigTest, PrecedenceForEveryPairOfSources) {
  const ValueSource kExpectedSource[] = {ValueSource::kEnvironment,
                                         ValueSource::kEnvironmentCommand, ValueSource::kFile,
                                         ValueSource::kFileCommand, ValueSource::kDefault};
  for (int higher = kEnv; higher <= kDefault; ++higher) {
    for (int lower = higher; lower <= kDefault; ++lower) {
      ConfigInputs inputs = inputs_;
      SetSource(inputs, static_cast<Source>(lower));
      if (higher != lower) SetSource(inputs, static_cast<Source>(higher));
      auto config = Config::Load(schema_, inputs);
      ASSERT_TRUE(config) << config.error().message();
      const ResolvedOption* r = config->Find("s", "secret");
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->value, kSourceValue[higher]) << "sources " << higher << " and " << lower;
      EXPECT_EQ(r->source, kExpectedSource[higher]);
      EXPECT_EQ(r->is_set(), higher != kDefault);
    }
  }
}

TEST_F(ConfigTest, OriginsNameTheSourceNotTheValue) {
  inputs_.environment["AIRLOCK__S__SECRET_CMD"] = "printf x-value";
  inputs_.file_text = "[s]\nplain = p\n\nunset_secret_cmd = printf y-value\n";
  auto config = Load();
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->Find("s", "secret")->origin, "env AIRLOCK__S__SECRET_CMD");
  EXPECT_EQ(config->Find("s", "plain")->origin, "/srv/airlock/airlock.cfg:2");
  EXPECT_EQ(config->Find("s", "unset_secret")->origin,
            "/srv/airlock/airlock.cfg:4 (unset_secret_cmd)");
  EXPECT_EQ(config->Find("s", "number")->origin, "default");
}

TEST_F(ConfigTest, EnvironmentNamesAreCaseInsensitive) {
  inputs_.environment["AIRLOCK__s__Plain"] = "x";
  auto config = Load();
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->GetString("s", "plain").value(), "x");
}

TEST_F(ConfigTest, IgnoresUnrelatedEnvironment) {
  inputs_.environment["AIRLOCK_HOME"] = "/x";
  inputs_.environment["AIRFLOW__CORE__X"] = "y";
  inputs_.environment["PATH"] = "/bin";
  EXPECT_TRUE(Load());
}

TEST_F(ConfigTest, EmptyEnvironmentValueCountsAsSet) {
  inputs_.environment["AIRLOCK__S__PLAIN"] = "";
  auto config = Load();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->GetString("s", "plain").value(), "");
  EXPECT_TRUE(config->Find("s", "plain")->is_set());
}

TEST_F(ConfigTest, CommandOutputLosesOneTrailingNewline) {
  inputs_.environment["AIRLOCK__S__SECRET_CMD"] = "printf 'two\\n\\n'";
  auto config = Load();
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->GetString("s", "secret").value(), "two\n");
}

TEST_F(ConfigTest, FailingCommandNamesTheOptionButNotTheValue) {
  inputs_.environment["AIRLOCK__S__SECRET_CMD"] = "sh -c 'echo leaked-value; exit 4'";
  ExpectLoadError({"[s] secret", "AIRLOCK__S__SECRET_CMD", "exited with status 4"});
  EXPECT_EQ(Load().error().message().find("leaked-value"), std::string::npos);
}

TEST_F(ConfigTest, FailingFileCommandNamesTheLine) {
  inputs_.file_text = "[s]\nsecret_cmd = airlock-no-such-program-xyz\n";
  ExpectLoadError({"[s] secret", "/srv/airlock/airlock.cfg:2 (secret_cmd)", "not found"});
}

TEST_F(ConfigTest, CommandTimeoutIsAStartupError) {
  inputs_.environment["AIRLOCK__S__SECRET_CMD"] = "sleep 30";
  inputs_.command_timeout = milliseconds(200);
  ExpectLoadError({"[s] secret", "AIRLOCK__S__SECRET_CMD", "did not finish within 200 ms"});
}

TEST_F(ConfigTest, MalformedCommandLineIsAnError) {
  inputs_.environment["AIRLOCK__S__SECRET_CMD"] = "printf 'unclosed";
  ExpectLoadError({"[s] secret", "unterminated single quote"});
}

TEST_F(ConfigTest, RefusesCommandSourcesForNonSensitiveOptions) {
  inputs_.environment["AIRLOCK__S__PLAIN_CMD"] = "printf x";
  ExpectLoadError({"AIRLOCK__S__PLAIN_CMD", "[s] plain is not sensitive"});
  inputs_.environment.clear();
  inputs_.file_text = "[s]\nnumber_cmd = printf 3\n";
  ExpectLoadError({"airlock.cfg:2", "[s] number is not sensitive"});
}

TEST_F(ConfigTest, CommandsOfSecretsTheComponentDoesNotNeedAreNotRun) {
  // `false` would fail the load if it ran.
  inputs_.environment["AIRLOCK__S__SECRET_CMD"] = "false";
  inputs_.component = Component::kWorker;
  auto config = Load();
  ASSERT_TRUE(config) << config.error().message();
  const ResolvedOption* r = config->Find("s", "secret");
  EXPECT_TRUE(r->command_not_run);
  EXPECT_TRUE(r->is_set());
  EXPECT_FALSE(r->value);
  auto value = config->GetString("s", "secret");
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(value.error().message().find("not needed by worker"), std::string::npos);

  inputs_.component = Component::kApiServer;  // needs it: the command runs and fails
  ExpectLoadError({"[s] secret", "exited with status 1"});
}

// SPEC §1: a component never holds a sensitive option it does not need, whatever the source.
TEST_F(ConfigTest, ValuesOfSecretsTheComponentDoesNotNeedAreNotKept) {
  for (Source source : {kEnv, kFile}) {
    ConfigInputs inputs = inputs_;
    SetSource(inputs, source);
    inputs.component = Component::kWorker;
    auto config = Config::Load(schema_, inputs);
    ASSERT_TRUE(config) << config.error().message();
    const ResolvedOption* r = config->Find("s", "secret");
    EXPECT_TRUE(r->withheld) << source;
    EXPECT_FALSE(r->command_not_run) << source;
    EXPECT_TRUE(r->is_set()) << source;
    EXPECT_FALSE(r->value) << source;
    EXPECT_EQ(r->origin, source == kEnv ? "env AIRLOCK__S__SECRET" : "/srv/airlock/airlock.cfg:2");
    EXPECT_FALSE(config->HasValue("s", "secret"));
    auto value = config->GetString("s", "secret");
    ASSERT_FALSE(value);
    EXPECT_EQ(value.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(value.error().message().find("not needed by worker, so its value from " + r->origin +
                                           " was not loaded"),
              std::string::npos)
        << value.error().message();
    EXPECT_EQ(value.error().message().find(kSourceValue[source]), std::string::npos);

    // The component that needs it, and a load for no component, keep it.
    for (std::optional<Component> other :
         {std::optional(Component::kApiServer), std::optional<Component>()}) {
      inputs.component = other;
      config = Config::Load(schema_, inputs);
      ASSERT_TRUE(config) << config.error().message();
      EXPECT_FALSE(config->Find("s", "secret")->withheld);
      EXPECT_EQ(config->GetString("s", "secret").value_or(""), kSourceValue[source]);
    }
  }
}

TEST_F(ConfigTest, OnlySensitiveNonEmptyValuesAreWithheld) {
  // [s] plain is needed by the worker only, but it is not sensitive: another component keeps it.
  inputs_.file_text = "[s]\nplain = p-value\n";
  inputs_.environment["AIRLOCK__S__SECRET"] = "";  // an empty value carries no secret
  inputs_.component = Component::kApiServer;
  auto config = Load();
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->GetString("s", "plain").value_or(""), "p-value");
  inputs_.component = Component::kWorker;
  config = Load();
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_FALSE(config->Find("s", "secret")->withheld);
  EXPECT_EQ(config->GetString("s", "secret").value_or("unset"), "");
}

TEST_F(ConfigTest, RecordsWhetherAValueCameFromTheDefaultFile) {
  inputs_.file_text = "[s]\nsecret = f\nplain = p\nunset_secret_cmd = printf u\n";
  inputs_.environment["AIRLOCK__S__PLAIN"] = "from-env";
  for (bool is_default : {false, true}) {
    inputs_.file_is_default = is_default;
    auto config = Load();
    ASSERT_TRUE(config) << config.error().message();
    EXPECT_EQ(config->Find("s", "secret")->from_default_file, is_default);
    EXPECT_EQ(config->Find("s", "unset_secret")->from_default_file, is_default);
    EXPECT_FALSE(config->Find("s", "plain")->from_default_file);   // env wins
    EXPECT_FALSE(config->Find("s", "number")->from_default_file);  // default
  }
}

TEST_F(ConfigTest, UnknownEnvironmentOptionSuggestsTheClosest) {
  inputs_.environment["AIRLOCK__S__PLIAN"] = "x";
  ExpectLoadError(
      {"AIRLOCK__S__PLIAN", "unknown option [s] plian", "did you mean AIRLOCK__S__PLAIN?"});
}

TEST_F(ConfigTest, UnknownEnvironmentSectionSuggestsTheClosest) {
  inputs_.environment["AIRLOCK__OTHER_SECTON__VALEU"] = "x";
  ExpectLoadError(
      {"unknown section [other_secton]", "did you mean AIRLOCK__OTHER_SECTION__VALUE?"});
}

TEST_F(ConfigTest, UnknownCommandSourceSuggestsTheCommandForm) {
  inputs_.environment["AIRLOCK__S__SECERT_CMD"] = "printf x";
  ExpectLoadError({"unknown option [s] secert", "did you mean AIRLOCK__S__SECRET_CMD?"});
}

TEST_F(ConfigTest, MalformedEnvironmentNameIsAnError) {
  inputs_.environment["AIRLOCK__NOSPLIT"] = "x";
  ExpectLoadError({"AIRLOCK__NOSPLIT is not of the form AIRLOCK__SECTION__OPTION"});
}

TEST_F(ConfigTest, UnknownFileOptionSuggestsTheClosest) {
  inputs_.file_text = "[s]\nplian = x\n";
  ExpectLoadError({"airlock.cfg:2", "unknown option [s] plian", "did you mean [s] plain?"});
  inputs_.file_text = "[ss]\nplain = x\n";
  ExpectLoadError({"airlock.cfg:2", "unknown section [ss]", "did you mean [s] plain?"});
  inputs_.file_text = "[kubernetes]\nnamespace = x\n";
  auto config = Load();
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message().find("did you mean"), std::string::npos);
}

TEST_F(ConfigTest, ReportsEveryProblemAtOnce) {
  inputs_.environment["AIRLOCK__S__PLIAN"] = "x";
  inputs_.file_text = "[s]\nnumbr = 1\n";
  ExpectLoadError({"2 configuration problems", "AIRLOCK__S__PLIAN", "airlock.cfg:2"});
}

TEST_F(ConfigTest, FileSyntaxErrorsAreReported) {
  inputs_.file_text = "plain = x\n";
  ExpectLoadError({"airlock.cfg:1", "before any [section]"});
}

TEST_F(ConfigTest, WrongTypeNamesOptionAndSourceButNotTheValue) {
  inputs_.environment["AIRLOCK__S__NUMBER"] = "twelve-ish";
  ExpectLoadError({"[s] number from env AIRLOCK__S__NUMBER is not a valid integer"});
  EXPECT_EQ(Load().error().message().find("twelve-ish"), std::string::npos);

  inputs_.environment.clear();
  inputs_.file_text = "[s]\nflag = yes\nratio = fast\n";
  ExpectLoadError({"[s] flag from /srv/airlock/airlock.cfg:2 is not a valid boolean",
                   "[s] ratio from /srv/airlock/airlock.cfg:3 is not a valid float"});
}

TEST_F(ConfigTest, CommandOutputIsTypeChecked) {
  schema_ = Schema::Parse(R"(
s:
  options:
    port:
      description: A sensitive integer, for the test.
      type: integer
      default: ~
      sensitive: true
      version_added: 0.1.0
      needed_by: []
)")
                .value();
  inputs_.environment["AIRLOCK__S__PORT_CMD"] = "printf abc";
  ExpectLoadError({"[s] port from env AIRLOCK__S__PORT_CMD is not a valid integer"});
}

TEST_F(ConfigTest, TypedGetters) {
  inputs_.environment["AIRLOCK__S__NUMBER"] = "-42";
  inputs_.environment["AIRLOCK__S__FLAG"] = "true";
  inputs_.environment["AIRLOCK__S__RATIO"] = "2.5";
  auto config = Load();
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->GetInt("s", "number").value(), -42);
  EXPECT_TRUE(config->GetBool("s", "flag").value());
  EXPECT_DOUBLE_EQ(config->GetFloat("s", "ratio").value(), 2.5);
  EXPECT_EQ(config->GetString("s", "number").value(), "-42");
}

TEST_F(ConfigTest, DefaultsExpandAirlockHome) {
  auto config = Load();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->GetPath("s", "dir").value(), "/srv/airlock/x");
  EXPECT_EQ(config->GetBool("s", "flag").value(), false);
  EXPECT_DOUBLE_EQ(config->GetFloat("s", "ratio").value(), 0.5);
}

TEST_F(ConfigTest, PathsExpandTilde) {
  inputs_.environment["AIRLOCK__S__DIR"] = "~/dags";
  auto config = Load();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->GetPath("s", "dir").value(), "/home/op/dags");
  inputs_.environment["AIRLOCK__S__DIR"] = "/abs/~x";
  EXPECT_EQ(Load()->GetPath("s", "dir").value(), "/abs/~x");
}

TEST_F(ConfigTest, GetterErrors) {
  auto config = Load();
  ASSERT_TRUE(config);
  auto unset = config->GetString("s", "unset_secret");
  ASSERT_FALSE(unset);
  EXPECT_EQ(unset.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(config->HasValue("s", "unset_secret"));
  EXPECT_TRUE(config->HasValue("s", "plain"));

  auto unknown = config->GetString("s", "nope");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kInvalidArgument);

  auto wrong_type = config->GetInt("s", "plain");
  ASSERT_FALSE(wrong_type);
  EXPECT_NE(wrong_type.error().message().find("[s] plain is declared string, not integer"),
            std::string::npos);
}

TEST(BuiltinConfigTest, LoadsWithDefaultsOnly) {
  ConfigInputs inputs;
  inputs.airlock_home = "/var/lib/airlock";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->GetString("database", "sql_alchemy_conn").value(),
            "sqlite:////var/lib/airlock/airlock.db");
  EXPECT_EQ(config->GetInt("api_auth", "jwt_leeway").value(), 10);
  EXPECT_EQ(config->GetInt("execution_api", "jwt_expiration_time").value(), 600);
  EXPECT_FALSE(config->GetBool("core", "strict_secrets").value());
  EXPECT_DOUBLE_EQ(config->GetFloat("scheduler", "task_queued_timeout").value(), 600.0);
  EXPECT_EQ(config->GetInt("logging", "min_length_masked_secret").value(), 5);
  EXPECT_FALSE(config->HasValue("api_auth", "jwt_secret"));
}

TEST(BuiltinConfigTest, SectionsWithUnderscoresMapToEnvironmentNames) {
  ConfigInputs inputs;
  inputs.environment["AIRLOCK__API_AUTH__JWT_LEEWAY"] = "30";
  inputs.environment["AIRLOCK__EXECUTION_API__JWT_AUDIENCE"] = "urn:x";
  auto config = Config::Load(BuiltinSchema(), inputs);
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->GetInt("api_auth", "jwt_leeway").value(), 30);
  EXPECT_EQ(config->GetString("execution_api", "jwt_audience").value(), "urn:x");
}

}  // namespace
}  // namespace airlock::config

#include "config/schema.h"

#include <gtest/gtest.h>

namespace airlock::config {
namespace {

constexpr std::string_view kMinimalOption = R"(
s:
  options:
    o:
      description: An option.
      type: integer
      default: "3"
      sensitive: false
      version_added: 0.1.0
      needed_by: [worker]
)";

std::string WithField(std::string_view field_line) {
  std::string yaml(kMinimalOption);
  yaml += "      " + std::string(field_line) + "\n";
  return yaml;
}

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

TEST(SchemaTest, BuiltinSchemaParses) {
  ASSERT_FALSE(BuiltinSchemaText().empty());
  auto schema = Schema::Parse(BuiltinSchemaText());
  ASSERT_TRUE(schema) << schema.error().message();
  EXPECT_GT(schema->AllOptions().size(), 20u);
}

// BuiltinSchema() is C++ generated at build time; it must hold exactly what parsing the
// compiled-in config.yml gives, field by field and in order.
TEST(SchemaTest, GeneratedBuiltinSchemaEqualsTheParsedText) {
  auto parsed = Schema::Parse(BuiltinSchemaText());
  ASSERT_TRUE(parsed) << parsed.error().message();
  const Schema& generated = BuiltinSchema();
  ASSERT_EQ(generated.sections().size(), parsed->sections().size());
  for (size_t i = 0; i < parsed->sections().size(); ++i) {
    const SectionSpec& want = parsed->sections()[i];
    const SectionSpec& got = generated.sections()[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.description, want.description) << want.name;
    ASSERT_EQ(got.options.size(), want.options.size()) << want.name;
    for (size_t j = 0; j < want.options.size(); ++j) {
      EXPECT_TRUE(got.options[j] == want.options[j]) << want.options[j].DisplayName();
      EXPECT_EQ(got.options[j].description, want.options[j].description);
      EXPECT_EQ(got.options[j].default_value, want.options[j].default_value);
    }
  }
  EXPECT_TRUE(generated.sections() == parsed->sections());
}

// The options and defaults the issue and SPEC §7 pin down.
TEST(SchemaTest, BuiltinSchemaHasTheSpecifiedDefaults) {
  const Schema& schema = BuiltinSchema();
  struct Expected {
    const char* section;
    const char* option;
    std::optional<std::string> default_value;
    bool sensitive;
  };
  const Expected expected[] = {
      {"core", "strict_secrets", "False", false},
      {"core", "fernet_key", std::nullopt, true},
      {"core", "default_impersonation", std::nullopt, false},
      {"core", "simple_auth_manager_users", "admin:ADMIN", false},
      {"core", "dags_folder", "{AIRLOCK_HOME}/dags", false},
      {"core", "parallelism", "32", false},
      {"database", "sql_alchemy_conn", "sqlite:///{AIRLOCK_HOME}/airlock.db", true},
      {"api", "host", "0.0.0.0", false},
      {"api", "port", "8080", false},
      {"api", "workers", "0", false},
      {"api", "ssl_cert", std::nullopt, false},
      {"api", "ssl_key", std::nullopt, true},
      {"api", "secret_key", std::nullopt, true},
      {"api_auth", "jwt_secret", std::nullopt, true},
      {"api_auth", "jwt_private_key_path", std::nullopt, true},
      {"api_auth", "jwt_algorithm", "GUESS", false},
      {"api_auth", "jwt_kid", std::nullopt, false},
      {"api_auth", "jwt_issuer", std::nullopt, false},
      {"api_auth", "jwt_audience", "urn:airlock:api", false},
      {"api_auth", "jwt_expiration_time", "86400", false},
      {"api_auth", "jwt_cli_expiration_time", "3600", false},
      {"api_auth", "jwt_leeway", "10", false},
      {"api_auth", "trusted_jwks_url", std::nullopt, false},
      {"execution_api", "jwt_expiration_time", "600", false},
      {"execution_api", "jwt_audience", "urn:airflow.apache.org:task", false},
      {"scheduler", "task_queued_timeout", "600.0", false},
      {"logging", "min_length_masked_secret", "5", false},
      {"secrets", "backend", std::nullopt, false},
      {"secrets", "backend_kwargs", std::nullopt, true},
  };
  for (const auto& e : expected) {
    const OptionSpec* spec = schema.Find(e.section, e.option);
    ASSERT_NE(spec, nullptr) << e.section << " " << e.option;
    EXPECT_EQ(spec->default_value, e.default_value) << spec->DisplayName();
    EXPECT_EQ(spec->sensitive, e.sensitive) << spec->DisplayName();
    EXPECT_FALSE(spec->version_added.empty());
    EXPECT_FALSE(spec->Summary().empty());
  }
}

// SPEC §1: workers, the dag-processor and the triggerer never hold database credentials
// or signing keys. The only secret one of them may need is its own scoped token: the
// dag-processor's, which lets it submit the Dags of its bundles and nothing else, and the
// triggerer's, which lets it lease triggers and nothing else.
TEST(SchemaTest, NoSensitiveOptionIsNeededByComponentsThatRunUserCode) {
  for (const OptionSpec* spec : BuiltinSchema().AllOptions()) {
    if (!spec->sensitive) continue;
    const bool scoped_processor_token =
        spec->section == "dag_processor" && spec->name == "api_token";
    const bool scoped_triggerer_token = spec->section == "triggerer" && spec->name == "api_token";
    EXPECT_FALSE(spec->NeededBy(Component::kWorker)) << spec->DisplayName();
    EXPECT_EQ(spec->NeededBy(Component::kDagProcessor), scoped_processor_token)
        << spec->DisplayName();
    EXPECT_EQ(spec->NeededBy(Component::kTriggerer), scoped_triggerer_token) << spec->DisplayName();
  }
}

TEST(SchemaTest, ParsesAnOptionWithEveryField) {
  auto schema = Schema::Parse(kMinimalOption);
  ASSERT_TRUE(schema) << schema.error().message();
  const OptionSpec* o = schema->Find("s", "o");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->type, OptionType::kInteger);
  EXPECT_EQ(o->default_value, "3");
  EXPECT_TRUE(o->NeededBy(Component::kWorker));
  EXPECT_FALSE(o->NeededBy(Component::kScheduler));
  EXPECT_EQ(o->EnvironmentVariable(), "AIRLOCK__S__O");
  EXPECT_EQ(o->DisplayName(), "[s] o");
  EXPECT_EQ(schema->Find("s", "missing"), nullptr);
  EXPECT_EQ(schema->Find("missing", "o"), nullptr);
}

TEST(SchemaTest, RejectsMalformedSchemas) {
  struct Case {
    std::string yaml;
    std::string message_part;
  };
  const Case cases[] = {
      {Replace(std::string(kMinimalOption), "      sensitive: false\n", ""),
       "missing field 'sensitive'"},
      {WithField("example: x"), "unknown field 'example'"},
      {Replace(std::string(kMinimalOption), "type: integer", "type: number"),
       "unknown type 'number'"},
      {Replace(std::string(kMinimalOption), "[worker]", "[webserver]"),
       "unknown component 'webserver'"},
      {Replace(std::string(kMinimalOption), "default: \"3\"", "default: \"three\""),
       "default is not a valid integer"},
      {Replace(std::string(kMinimalOption), "    o:", "    o_cmd:"), "must not end in _cmd"},
      {Replace(std::string(kMinimalOption), "    o:", "    Bad-Name:"), "[a-z][a-z0-9_]*"},
      {"s: [unclosed", "schema YAML"},
      {"s:\n  description: no options\n", "needs an 'options' mapping"},
  };
  for (const auto& c : cases) {
    auto schema = Schema::Parse(c.yaml);
    ASSERT_FALSE(schema) << c.yaml;
    EXPECT_NE(schema.error().message().find(c.message_part), std::string::npos)
        << schema.error().message();
  }
}

TEST(SchemaTest, SummaryIsTheFirstSentenceOnOneLine) {
  OptionSpec spec;
  spec.description = "Metadata database URL.\nSQLite (sqlite:///x.db) is the default. More.";
  EXPECT_EQ(spec.Summary(), "Metadata database URL.");
  spec.description = "No period at all\n";
  EXPECT_EQ(spec.Summary(), "No period at all");
  spec.description = "Path like a.b.c stays whole.";
  EXPECT_EQ(spec.Summary(), "Path like a.b.c stays whole.");
}

TEST(SchemaTest, SuggestsCloseNamesOnly) {
  const Schema& schema = BuiltinSchema();
  EXPECT_EQ(schema.SuggestSection("api_uath"), "api_auth");
  EXPECT_EQ(schema.SuggestSection("databse"), "database");
  EXPECT_EQ(schema.SuggestSection("kubernetes"), std::nullopt);
  EXPECT_EQ(schema.SuggestOption("api_auth", "jwt_secert"), "jwt_secret");
  EXPECT_EQ(schema.SuggestOption("api_auth", "JWT_LEEWAY"), "jwt_leeway");
  EXPECT_EQ(schema.SuggestOption("api_auth", "completely_different"), std::nullopt);
}

TEST(SchemaTest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("jwt_secert", "jwt_secret"), 2u);
}

TEST(SchemaTest, ComponentNamesRoundTrip) {
  for (Component c : kAllComponents) EXPECT_EQ(ParseComponent(ComponentName(c)), c);
  EXPECT_EQ(ParseComponent("webserver"), std::nullopt);
}

TEST(SchemaTest, ParsesIntegers) {
  EXPECT_EQ(ParseInteger("0").value(), 0);
  EXPECT_EQ(ParseInteger("-12").value(), -12);
  EXPECT_EQ(ParseInteger("+7").value(), 7);
  EXPECT_EQ(ParseInteger("9223372036854775807").value(), INT64_MAX);
  for (const char* bad :
       {"", "-", "+", "+-5", "1.5", "12abc", " 1", "1 ", "0x10", "9223372036854775808"}) {
    EXPECT_FALSE(ParseInteger(bad)) << bad;
  }
}

TEST(SchemaTest, ParsesBooleansAsAirflowDoes) {
  for (const char* t : {"True", "true", "TRUE", "t", "1"}) EXPECT_TRUE(ParseBoolean(t).value());
  for (const char* f : {"False", "false", "f", "0"}) EXPECT_FALSE(ParseBoolean(f).value());
  for (const char* bad : {"", "yes", "no", "2", "Truee"}) EXPECT_FALSE(ParseBoolean(bad)) << bad;
}

TEST(SchemaTest, ParsesFloats) {
  EXPECT_DOUBLE_EQ(ParseFloat("600.0").value(), 600.0);
  EXPECT_DOUBLE_EQ(ParseFloat("-1e3").value(), -1000.0);
  EXPECT_DOUBLE_EQ(ParseFloat("5").value(), 5.0);
  for (const char* bad : {"", "abc", "1.0x", " 1", "inf", "nan", "1e999"}) {
    EXPECT_FALSE(ParseFloat(bad)) << bad;
  }
}

TEST(SchemaTest, ValueErrorsNeverRepeatTheValue) {
  auto v = ParseInteger("hunter2-secret");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace airlock::config

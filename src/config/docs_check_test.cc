#include "config/docs_check.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace airlock::config {
namespace {

namespace fs = std::filesystem;

const std::string kRealDocs = std::string(AIRLOCK_SOURCE_DIR) + "/docs/security";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A temporary copy of the real docs, removed at the end of the test.
class DocsCopy {
 public:
  DocsCopy() {
    std::string tmpl = (fs::temp_directory_path() / "airlock-docs-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    fs::copy(kRealDocs, dir_);
  }
  ~DocsCopy() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }
  void Append(const std::string& file, std::string_view text) {
    WriteText(dir_ / file, ReadText(dir_ / file) + std::string(text));
  }

 private:
  fs::path dir_;
};

std::string Joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += e + "\n";
  return out;
}

std::vector<std::string> Check(std::string text) {
  return CheckSecurityDoc(BuiltinSchema(), "doc.md", text, false).errors;
}

// A document with a correct generated table, for the single-document tests.
std::string WithTable(std::string_view body) {
  return std::string(body) + "\n" + std::string(kGeneratedTableBegin) + "\n" +
         GenerateSensitiveOptionsTable(BuiltinSchema()) + std::string(kGeneratedTableEnd) + "\n";
}

TEST(DocsCheckTest, RealDocsMatchTheSchema) {
  auto report = CheckSecurityDocs(BuiltinSchema(), kRealDocs, false);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_TRUE(report->errors.empty()) << Joined(report->errors);
  EXPECT_GE(report->files_checked, 3u);
  EXPECT_TRUE(report->rewritten.empty());
  for (const char* name :
       {"security-model.md", "jwt-authentication.md", "deployment-hardening.md"}) {
    EXPECT_TRUE(fs::exists(fs::path(kRealDocs) / name)) << name;
  }
}

TEST(DocsCheckTest, FailsOnABogusOption) {
  DocsCopy docs;
  docs.Append("security-model.md", "\nSet `[core] strict_secret` to refuse.\n");
  auto report = CheckSecurityDocs(BuiltinSchema(), docs.dir().string(), false);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->errors.size(), 1u) << Joined(report->errors);
  EXPECT_NE(report->errors[0].find("security-model.md:"), std::string::npos);
  EXPECT_NE(report->errors[0].find("no option [core] strict_secret in the schema; did you mean "
                                   "[core] strict_secrets?"),
            std::string::npos)
      << report->errors[0];
}

TEST(DocsCheckTest, FailsOnAWrongDefault) {
  DocsCopy docs;
  docs.Append("jwt-authentication.md",
              "\n| Option | Default | Meaning |\n|---|---|---|\n"
              "| `[api_auth] jwt_leeway` | `30` (seconds) | skew |\n");
  auto report = CheckSecurityDocs(BuiltinSchema(), docs.dir().string(), false);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->errors.size(), 1u) << Joined(report->errors);
  EXPECT_NE(report->errors[0].find("the table gives '30' as the default of [api_auth] "
                                   "jwt_leeway; the schema's default is '10'"),
            std::string::npos)
      << report->errors[0];
}

TEST(DocsCheckTest, FailsOnAStaleGeneratedTableAndFixRewritesIt) {
  DocsCopy docs;
  fs::path file = docs.dir() / "deployment-hardening.md";
  std::string original = ReadText(file);
  std::string stale = original;
  size_t row = stale.find("| `AIRLOCK__CORE__FERNET_KEY`");
  ASSERT_NE(row, std::string::npos) << "the real table lists the fernet key";
  stale.erase(row, stale.find('\n', row) - row + 1);
  WriteText(file, stale);

  auto report = CheckSecurityDocs(BuiltinSchema(), docs.dir().string(), false);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->errors.size(), 1u) << Joined(report->errors);
  EXPECT_NE(report->errors[0].find("does not match the schema"), std::string::npos);
  EXPECT_EQ(ReadText(file), stale);  // no --fix: nothing written

  auto fixed = CheckSecurityDocs(BuiltinSchema(), docs.dir().string(), true);
  ASSERT_TRUE(fixed);
  EXPECT_TRUE(fixed->errors.empty()) << Joined(fixed->errors);
  ASSERT_EQ(fixed->rewritten.size(), 1u);
  EXPECT_EQ(ReadText(file), original);
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
}

TEST(DocsCheckTest, FailsWhenNoFileHasTheGeneratedTable) {
  DocsCopy docs;
  fs::remove(docs.dir() / "deployment-hardening.md");
  auto report = CheckSecurityDocs(BuiltinSchema(), docs.dir().string(), false);
  ASSERT_TRUE(report);
  ASSERT_EQ(report->errors.size(), 1u) << Joined(report->errors);
  EXPECT_NE(report->errors[0].find("no file has the generated sensitive options table"),
            std::string::npos);
}

TEST(DocsCheckTest, MissingDirectoryIsAnError) {
  auto report = CheckSecurityDocs(BuiltinSchema(), "/nonexistent/airlock/docs", false);
  ASSERT_FALSE(report);
}

TEST(DocsCheckTest, ChecksEnvironmentNamesEverywhere) {
  auto errors = Check(
      WithTable("Export AIRLOCK__API_AUTH__JWT_SECERT first.\n"
                "```sh\nexport AIRLOCK__DATABSE__SQL_ALCHEMY_CONN=x\n```\n"
                "`AIRLOCK__API__PORT_CMD` is wrong, `AIRLOCK__API_AUTH__JWT_SECRET_CMD` is fine.\n"
                "AIRLOCK__{SECTION}__{OPTION} is the generic form. AIRLOCK__NOSPLIT is not.\n"));
  ASSERT_EQ(errors.size(), 4u) << Joined(errors);
  EXPECT_NE(errors[0].find("doc.md:1: AIRLOCK__API_AUTH__JWT_SECERT: no option [api_auth] "
                           "jwt_secert in the schema; did you mean "
                           "AIRLOCK__API_AUTH__JWT_SECRET?"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(
      errors[1].find("doc.md:3: AIRLOCK__DATABSE__SQL_ALCHEMY_CONN: no section "
                     "[databse] in the schema; did you mean AIRLOCK__DATABASE__SQL_ALCHEMY_CONN?"),
      std::string::npos)
      << errors[1];
  EXPECT_NE(errors[2].find("doc.md:5: AIRLOCK__API__PORT_CMD: [api] port is not sensitive"),
            std::string::npos)
      << errors[2];
  EXPECT_NE(errors[3].find("doc.md:6: AIRLOCK__NOSPLIT is not of the form"), std::string::npos)
      << errors[3];
}

TEST(DocsCheckTest, ChecksCodeSpansAndIniBlocks) {
  auto errors = Check(WithTable(
      "`[api_auth]` and `[api_auth] jwt_secret` and `[database] sql_alchemy_conn_cmd` are "
      "fine; `[apiauth]` is not; [not code] and `[x]y` are ignored.\n"
      "```ini\n[core]\nstrict_secrets = True\n# comment = x\nfernet_key_cmd = cat /x\n"
      "parallelism_cmd = echo 3\n[nosuch]\n```\n"));
  ASSERT_EQ(errors.size(), 3u) << Joined(errors);
  EXPECT_NE(errors[0].find("doc.md:1: [apiauth]: no section [apiauth] in the schema; did you "
                           "mean [api_auth]?"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("doc.md:7: [core] parallelism_cmd: [core] parallelism is not "
                           "sensitive"),
            std::string::npos)
      << errors[1];
  EXPECT_NE(errors[2].find("doc.md:8: [nosuch]: no section"), std::string::npos) << errors[2];
}

TEST(DocsCheckTest, ChecksDefaultsOnlyInTablesWithADefaultColumn) {
  auto errors =
      Check(WithTable("| Option | Default |\n|---|---|\n"
                      "| `[api_auth] jwt_expiration_time` | `86400` (24 hours) |\n"
                      "| `[api_auth] jwt_cli_expiration_time` | 3600 seconds |\n"
                      "| `[api_auth] jwt_secret` | not set |\n"
                      "| `[api_auth] jwt_kid` | — |\n"
                      "| `[core] strict_secrets` | `True` |\n"
                      "| `[api_auth] jwt_issuer` | `airlock` |\n"
                      "\n"
                      "| Option | Meaning |\n|---|---|\n"
                      "| `[api_auth] jwt_leeway` | 30 |\n"));
  ASSERT_EQ(errors.size(), 2u) << Joined(errors);
  EXPECT_NE(errors[0].find("doc.md:7: the table gives 'True' as the default of [core] "
                           "strict_secrets; the schema's default is 'False'"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("doc.md:8: the table gives '`airlock`' as the default of [api_auth] "
                           "jwt_issuer, which has no default"),
            std::string::npos)
      << errors[1];
}

TEST(DocsCheckTest, ChecksDefaultsQuotedInProse) {
  auto errors =
      Check(WithTable("Logins are limited (`[api_auth] login_max_failures_per_user` (default\n"
                      "`99`) per user) and `[api_auth] jwt_leeway`, default `10`, applies.\n"
                      "`[api_auth] jwt_expiration_time` (default: `86400`) is fine; so is\n"
                      "`[api_auth] jwt_cli_expiration_time` (one hour by default) and\n"
                      "`[api_auth] jwt_issuer` (default `airlock`).\n"
                      "\n"
                      "`[core] strict_secrets`\n"
                      "\n"
                      "(default `True`) starts another paragraph.\n"));
  ASSERT_EQ(errors.size(), 2u) << Joined(errors);
  EXPECT_NE(errors[0].find("doc.md:1: the text gives '99' as the default of [api_auth] "
                           "login_max_failures_per_user; the schema's default is '10'"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("doc.md:5: the text gives 'airlock' as the default of [api_auth] "
                           "jwt_issuer, which has no default"),
            std::string::npos)
      << errors[1];
}

TEST(DocsCheckTest, MarkersMustPair) {
  std::string doc = "x\n" + std::string(kGeneratedTableBegin) + "\n| a |\n";
  auto errors = Check(doc);
  ASSERT_EQ(errors.size(), 1u) << Joined(errors);
  EXPECT_NE(errors[0].find("doc.md:2: BEGIN GENERATED SENSITIVE OPTIONS without an END"),
            std::string::npos);
  errors = Check("x\n" + std::string(kGeneratedTableEnd) + "\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("without a BEGIN marker"), std::string::npos);
}

TEST(DocsCheckTest, FixReplacesOnlyTheGeneratedBlock) {
  std::string doc = "before\n" + std::string(kGeneratedTableBegin) + "\nold row\n" +
                    std::string(kGeneratedTableEnd) + "\nafter\n";
  auto result = CheckSecurityDoc(BuiltinSchema(), "doc.md", doc, true);
  EXPECT_TRUE(result.errors.empty()) << Joined(result.errors);
  EXPECT_TRUE(result.rewritten);
  EXPECT_EQ(doc, "before\n" + std::string(kGeneratedTableBegin) + "\n" +
                     GenerateSensitiveOptionsTable(BuiltinSchema()) +
                     std::string(kGeneratedTableEnd) + "\nafter\n");
  auto again = CheckSecurityDoc(BuiltinSchema(), "doc.md", doc, true);
  EXPECT_FALSE(again.rewritten);
}

TEST(DocsCheckTest, GeneratedTableListsEverySensitiveOptionSorted) {
  std::string table = GenerateSensitiveOptionsTable(BuiltinSchema());
  EXPECT_NE(table.find("| Environment variable | Description | Needed by |"), std::string::npos);
  EXPECT_NE(table.find("| `AIRLOCK__DATABASE__SQL_ALCHEMY_CONN` | Metadata database URL. | "
                       "api-server, scheduler |"),
            std::string::npos)
      << table;
  EXPECT_LT(table.find("AIRLOCK__API_AUTH__JWT_SECRET"), table.find("AIRLOCK__CORE__FERNET_KEY"));
  EXPECT_EQ(table.find("AIRLOCK__API__PORT"), std::string::npos);
}

}  // namespace
}  // namespace airlock::config

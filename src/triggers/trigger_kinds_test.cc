#include "triggers/trigger_kinds.h"

#include <gtest/gtest.h>

namespace airlock::triggers {
namespace {

constexpr int64_t kNow = 1'800'000'000;

TEST(TriggerKindsTest, DateTimeDelayBecomesAMomentFromNow) {
  auto stored = NormalizeTriggerArgs("datetime", R"({"delay_seconds": 2.5})", kNow);
  ASSERT_TRUE(stored) << stored.error().message();
  auto args = ParseTriggerArgs("datetime", *stored, kNow + 100);
  ASSERT_TRUE(args);
  EXPECT_EQ(std::get<DateTimeArgs>(*args).moment, kNow + 3);
  EXPECT_EQ(TriggerKindName(*args), "datetime");
}

TEST(TriggerKindsTest, DateTimeMomentRoundTrips) {
  auto stored = NormalizeTriggerArgs("datetime", R"({"moment": "2027-01-15T10:00:00Z"})", kNow);
  ASSERT_TRUE(stored) << stored.error().message();
  EXPECT_EQ(*stored, R"({"moment":"2027-01-15T10:00:00Z"})");
}

TEST(TriggerKindsTest, DefaultsAreFilledIn) {
  auto file = NormalizeTriggerArgs("file", R"({"path": "/tmp/ready"})", kNow);
  ASSERT_TRUE(file);
  EXPECT_EQ(*file, R"({"path":"/tmp/ready","poll_interval":1E0})");
  auto http = ParseTriggerArgs("http", R"({"url": "http://127.0.0.1:9/x"})", kNow);
  ASSERT_TRUE(http);
  EXPECT_EQ(std::get<HttpArgs>(*http).status, 200);
  EXPECT_EQ(std::get<HttpArgs>(*http).poll_interval, 5.0);
  auto exec = ParseTriggerArgs("exec", R"({"argv": ["/bin/true", "a b"]})", kNow);
  ASSERT_TRUE(exec);
  EXPECT_EQ(std::get<ExecArgs>(*exec).argv, (std::vector<std::string>{"/bin/true", "a b"}));
}

TEST(TriggerKindsTest, RefusesWhatCannotRun) {
  struct Case {
    std::string_view kind, args, message;
  };
  const Case cases[] = {
      {"cron", "{}", "unknown trigger kind 'cron'"},
      {"datetime", "[]", "must be a JSON object"},
      {"datetime", "{}", "exactly one of 'moment' and 'delay_seconds'"},
      {"datetime", R"({"moment":"2027-01-15T10:00:00Z","delay_seconds":1})", "exactly one"},
      {"datetime", R"({"moment":"tomorrow"})", "'moment' must be an RFC 3339"},
      {"datetime", R"({"delay_seconds":-1})", "'delay_seconds' must be between"},
      {"datetime", R"({"delay_seconds":1,"timezone":"UTC"})", "unknown field 'timezone'"},
      {"file", R"({"path":"relative"})", "'path' must be an absolute path"},
      {"file", R"({"path":"/x","poll_interval":0})", "'poll_interval' must be more than 0"},
      {"http", R"({"url":"ftp://x"})", "'url' must be an http:// or https:// URL"},
      {"http", R"({"url":"http://x","status":700})", "'status' must be an HTTP status"},
      {"exec", R"({"argv":[]})", "'argv' must be a non-empty list"},
      {"exec", R"({"argv":["/bin/x",1]})", "'argv' must be a non-empty list"},
      {"exec", R"({"argv":[""]})", "'argv' must start with a program"},
  };
  for (const Case& c : cases) {
    auto result = ParseTriggerArgs(c.kind, c.args, kNow);
    ASSERT_FALSE(result) << c.kind << " " << c.args;
    EXPECT_NE(result.error().message().find(c.message), std::string::npos)
        << result.error().message();
  }
}

}  // namespace
}  // namespace airlock::triggers

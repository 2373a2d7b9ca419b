#include "common/log.h"

#include <gtest/gtest.h>

namespace airlock {
namespace {

TEST(LogTest, MasksSecretsAndKeepsOneLinePerEvent) {
  auto masker = std::make_shared<SecretsMasker>();
  masker->AddSecret("hunter2-password");
  InitLogging("api-server", masker);
  testing::internal::CaptureStderr();
  LogInfo("connecting with hunter2-password\nforged line");
  LogWarning("token eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl in header");
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("hunter2-password"), std::string::npos) << out;
  EXPECT_EQ(out.find("eyJzdWIiOiJ4In0"), std::string::npos) << out;
  EXPECT_NE(out.find("info api-server connecting with ***\\nforged line"), std::string::npos)
      << out;
  EXPECT_NE(out.find("warning api-server token *** in header"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
}

TEST(LogTest, RespectsTheMinimumLevel) {
  InitLogging("scheduler", nullptr, LogLevel::kWarning);
  testing::internal::CaptureStderr();
  LogInfo("routine");
  LogError("broken");
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("routine"), std::string::npos);
  EXPECT_NE(out.find("error scheduler broken"), std::string::npos) << out;
}

}  // namespace
}  // namespace airlock

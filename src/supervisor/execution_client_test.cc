#include "supervisor/execution_client.h"

#include <gtest/gtest.h>

#include <mutex>

#include "http/server.h"

namespace airlock::supervisor {
namespace {

TEST(ExecutionClientTest, SwapsInRefreshedTokens) {
  std::mutex mu;
  std::vector<std::string> seen;
  auto server = http::Server::Start({.threads = 1}, [&](const http::Request& request) {
    std::lock_guard lock(mu);
    seen.emplace_back(request.Header("Authorization"));
    http::Response response = http::Response::NoContent();
    if (seen.size() == 2) response.SetHeader("Refreshed-API-Token", "second-token");
    return response;
  });
  ASSERT_TRUE(server);
  ExecutionClient client("http://127.0.0.1:" + std::to_string((*server)->port()) + "/execution/",
                         "first-token");
  for (int i = 0; i < 3; ++i) {
    auto reply = client.Call("PUT", "/task-instances/x/heartbeat", "{}");
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->status, 204);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"Bearer first-token", "Bearer first-token",
                                            "Bearer second-token"}));
  EXPECT_EQ(client.token_refreshes(), 1);
}

TEST(ExecutionClientTest, TransportErrorsNeverNameTheToken) {
  ExecutionClient client("http://127.0.0.1:1/execution", "token-that-must-not-leak",
                         {.timeout = std::chrono::milliseconds(2000)});
  auto reply = client.Call("GET", "/variables/x");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().message().find("token-that-must-not-leak"), std::string::npos);
}

TEST(EncodePathSegmentTest, EscapesEverythingButUnreserved) {
  EXPECT_EQ(EncodePathSegment("a-b_c.d~1"), "a-b_c.d~1");
  EXPECT_EQ(EncodePathSegment("a/b c?%"), "a%2Fb%20c%3F%25");
}

}  // namespace
}  // namespace airlock::supervisor

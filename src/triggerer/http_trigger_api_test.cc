// The HTTP TriggerApi against the fake's routes on a loopback server: the request bodies,
// the answers and the status → code mapping of the Execution API's trigger routes.

#include <gtest/gtest.h>

#include "http/client.h"
#include "http/router.h"
#include "http/server.h"
#include "triggerer/fake_trigger_api.h"
#include "triggerer/trigger_api.h"

namespace airlock::triggerer {
namespace {

class HttpTriggerApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.AddRoutes(router_, "/execution");
    auto server =
        http::Server::Start({.threads = 1}, [this](const http::Request& r, http::Respond respond) {
          router_.Dispatch(r, std::move(respond));
        });
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_ = std::move(*server);
    url_ = "http://127.0.0.1:" + std::to_string(server_->port()) + "/execution/";
    api_ = MakeHttpTriggerApi(url_, "triggerer-token",
                              [](const http::ClientRequest& r) { return http::Send(r); });
  }

  FakeTriggerApi fake_{"triggerer-token"};
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
  std::unique_ptr<TriggerApi> api_;
};

TEST_F(HttpTriggerApiTest, ClaimsRenewsAndReportsAnEvent) {
  const int64_t id = fake_.Add("file", R"({"path":"/tmp/x","poll_interval":1.0})", 1'900'000'000,
                               "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11");
  auto claimed = api_->Claim("host:1:abcd", 10, 30);
  ASSERT_TRUE(claimed.has_value()) << claimed.error().message();
  ASSERT_EQ(claimed->size(), 1u);
  const ClaimedTrigger& t = (*claimed)[0];
  EXPECT_EQ(t.id, id);
  EXPECT_EQ(t.ti_id, "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11");
  EXPECT_EQ(t.kind, "file");
  EXPECT_EQ(t.args_json, R"({"path":"/tmp/x","poll_interval":1E0})");
  EXPECT_EQ(t.timeout_at, 1'900'000'000);
  EXPECT_FALSE(t.token.empty());
  EXPECT_EQ(fake_.held(), 1u);

  // Held: nobody else claims it.
  auto again = api_->Claim("other:2:ef01", 10, 30);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->empty());

  auto renewed = api_->Renew("host:1:abcd", {id, 999}, 30);
  ASSERT_TRUE(renewed.has_value()) << renewed.error().message();
  ASSERT_EQ(renewed->renewed.size(), 1u);
  EXPECT_EQ(renewed->renewed[0].id, id);
  EXPECT_NE(renewed->renewed[0].token, t.token);
  EXPECT_EQ(renewed->lost, std::vector<int64_t>{999});

  auto event = api_->ReportEvent(id, renewed->renewed[0].token, R"({"path":"/tmp/x"})");
  ASSERT_TRUE(event.has_value()) << event.error().message();
  EXPECT_EQ(*event, ReportOutcome::kAccepted);
  auto reports = fake_.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].is_event);
  EXPECT_EQ(reports[0].body, R"({"path":"/tmp/x"})");

  auto twice = api_->ReportEvent(id, t.token, R"({"path":"/tmp/x"})");
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(*twice, ReportOutcome::kNotDeferred);
}

TEST_F(HttpTriggerApiTest, NullTimeoutIsNone) {
  fake_.Add("datetime", R"({"moment":"2030-01-01T00:00:00Z"})");
  auto claimed = api_->Claim("host:1:abcd", 1, 30);
  ASSERT_TRUE(claimed.has_value());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_FALSE((*claimed)[0].timeout_at.has_value());
}

TEST_F(HttpTriggerApiTest, FailureReportCarriesTheError) {
  const int64_t id = fake_.Add("exec", R"({"argv":["false"]})");
  auto claimed = api_->Claim("host:1:abcd", 1, 30);
  ASSERT_TRUE(claimed.has_value());
  auto failure = api_->ReportFailure(id, (*claimed)[0].token, std::string(3000, 'e'));
  ASSERT_TRUE(failure.has_value()) << failure.error().message();
  EXPECT_EQ(*failure, ReportOutcome::kAccepted);
  auto reports = fake_.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_FALSE(reports[0].is_event);
  EXPECT_EQ(reports[0].body.size(), kMaxFailureChars);  // cut, not refused
}

TEST_F(HttpTriggerApiTest, StatusesMapToTheRuntimesCodes) {
  const int64_t id = fake_.Add("datetime", R"({"moment":"2030-01-01T00:00:00Z"})");
  auto claimed = api_->Claim("host:1:abcd", 1, 30);
  ASSERT_TRUE(claimed.has_value());
  const std::string token = (*claimed)[0].token;

  // 404: gone.
  auto gone = api_->ReportEvent(id + 100, token, "{}");
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(*gone, ReportOutcome::kGone);
  // 403: another trigger's token.
  auto wrong = api_->ReportEvent(id, "trigger-0-0", "{}");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermissionDenied);
  // 503: transient.
  fake_.FailNextReports(1);
  auto busy = api_->ReportEvent(id, token, "{}");
  ASSERT_FALSE(busy.has_value());
  EXPECT_EQ(busy.error().code(), ErrorCode::kUnavailable);
  // 422: not worth retrying.
  auto bad = api_->ReportEvent(id, token, "[]");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  // A refused triggerer token on claim and renew, never echoed.
  auto refused = MakeHttpTriggerApi(url_, "not-the-token",
                                    [](const http::ClientRequest& r) { return http::Send(r); });
  auto claim = refused->Claim("host:1:abcd", 1, 30);
  ASSERT_FALSE(claim.has_value());
  EXPECT_EQ(claim.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(claim.error().message().find("not-the-token"), std::string::npos);
  auto renew = refused->Renew("host:1:abcd", {id}, 30);
  ASSERT_FALSE(renew.has_value());
  EXPECT_EQ(renew.error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(HttpTriggerApiTest, ConnectionRefusedIsUnavailable) {
  server_->Shutdown();
  auto claim = api_->Claim("host:1:abcd", 1, 30);
  ASSERT_FALSE(claim.has_value());
  EXPECT_EQ(claim.error().code(), ErrorCode::kUnavailable);
}

TEST_F(HttpTriggerApiTest, MalformedAnswersAreInvalidArgument) {
  http::Router router;
  router.Add("POST", "/execution/triggers/claim",
             [](const http::Request&, const http::PathParams&) {
               return http::Response::Json(200, R"({"triggers":[{"id":"1"}]})");
             });
  auto api = MakeHttpTriggerApi(
      "http://api.invalid/execution", "t",
      [&router](const http::ClientRequest& r) -> Result<http::ClientResponse> {
        http::Request request;
        request.method = r.method;
        request.path = r.url.substr(std::string("http://api.invalid").size());
        request.target = request.path;
        request.headers = r.headers;
        request.body = r.body;
        http::Response response = router.Route(request);
        return http::ClientResponse{.status = response.status, .body = response.body};
      });
  auto claim = api->Claim("host:1:abcd", 1, 30);
  ASSERT_FALSE(claim.has_value());
  EXPECT_EQ(claim.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace airlock::triggerer

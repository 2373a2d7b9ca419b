#include "http/router.h"

#include <gtest/gtest.h>

#include <thread>

namespace airlock::http {
namespace {

Request Make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

Router TestRouter() {
  Router router;
  router.Add("PATCH", "/task-instances/{id}/run", [](const Request&, const PathParams& p) {
    return Response::Json(200, "\"run " + std::string(p.Get("id")) + "\"");
  });
  router.Add("PUT", "/task-instances/{id}/heartbeat",
             [](const Request&, const PathParams&) { return Response::NoContent(); });
  router.Add("GET", "/variables/{key}", [](const Request&, const PathParams& p) {
    return Response::Json(200, "\"get " + std::string(p.Get("key")) + "\"");
  });
  router.Add("DELETE", "/variables/{key}",
             [](const Request&, const PathParams&) { return Response::NoContent(); });
  return router;
}

TEST(RouterTest, CapturesPathParameters) {
  Response r = TestRouter().Route(Make("PATCH", "/task-instances/abc-123/run"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"run abc-123\"");
}

TEST(RouterTest, UnknownPathIs404) {
  Response r = TestRouter().Route(Make("GET", "/nothing/here"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"detail":"Not Found"})");
}

TEST(RouterTest, KnownPathWithOtherMethodIs405WithAllow) {
  Response r = TestRouter().Route(Make("POST", "/variables/x"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, DELETE");
}

TEST(RouterTest, CaptureDoesNotMatchEmptyOrSeveralSegments) {
  EXPECT_EQ(TestRouter().Route(Make("GET", "/variables/")).status, 404);
  EXPECT_EQ(TestRouter().Route(Make("GET", "/variables/a/b")).status, 404);
  EXPECT_EQ(TestRouter().Route(Make("PATCH", "/task-instances//run")).status, 404);
}

TEST(MessageTest, DetailIsJsonEscaped) {
  Response r = Response::Detail(403, "Invalid auth token: \"x\"\n");
  EXPECT_EQ(r.body, R"({"detail":"Invalid auth token: \"x\"\n"})");
  EXPECT_EQ(r.Header("content-type"), "application/json");
}

// An asynchronous route answers from another thread, after Dispatch() has returned;
// Route() waits for that answer, and 404/405 still come from the router itself.
TEST(RouterTest, AsyncRoutesAnswerLater) {
  Router router;
  std::thread answerer;
  router.AddAsync("PUT", "/later/{id}", [&](const Request&, const PathParams& p, Respond respond) {
    answerer = std::thread([id = std::string(p.Get("id")), respond = std::move(respond)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      respond(Response::Json(200, "\"" + id + "\""));
    });
  });
  Response r = router.Route(Make("PUT", "/later/7"));
  answerer.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"7\"");
  EXPECT_EQ(router.Route(Make("GET", "/later/7")).status, 405);

  std::optional<int> status;
  router.Dispatch(Make("GET", "/nowhere"), [&](Response r) { status = r.status; });
  EXPECT_EQ(status, 404);  // answered before Dispatch() returned
}

}  // namespace
}  // namespace airlock::http

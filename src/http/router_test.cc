#include "http/router.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"

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

// The miss handler of a prefix gets what no route takes below it, with the router's
// answer; other paths (and a path that only begins with the prefix's letters) do not.
TEST(RouterTest, MissesUnderAPrefixGoToItsHandler) {
  Router router = TestRouter();
  std::vector<std::string> missed;
  router.OnMiss("/variables", [&missed](const Request& r, Response response, Respond respond) {
    missed.push_back(r.method + " " + r.path + " " + std::to_string(response.status));
    response.SetHeader("X-Seen", "1");
    respond(std::move(response));
  });
  Response r = router.Route(Make("POST", "/variables/x"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, DELETE");
  EXPECT_EQ(r.Header("X-Seen"), "1");
  EXPECT_EQ(router.Route(Make("GET", "/variables/a/b")).status, 404);
  EXPECT_EQ(router.Route(Make("GET", "/variables")).status, 404);
  EXPECT_EQ(router.Route(Make("GET", "/variablesx/a")).status, 404);
  EXPECT_EQ(router.Route(Make("GET", "/nothing/here")).status, 404);
  EXPECT_EQ(router.Route(Make("GET", "/variables/a")).status, 200);  // a route took it
  EXPECT_EQ(missed, (std::vector<std::string>{"POST /variables/x 405", "GET /variables/a/b 404",
                                              "GET /variables 404"}));
}

TEST(RouterTest, CaptureDoesNotMatchEmptyOrSeveralSegments) {
  EXPECT_EQ(TestRouter().Route(Make("GET", "/variables/")).status, 404);
  EXPECT_EQ(TestRouter().Route(Make("GET", "/variables/a/b")).status, 404);
  EXPECT_EQ(TestRouter().Route(Make("PATCH", "/task-instances//run")).status, 404);
}

// kMaxPathSegments bounds both: a route that deep still matches, with its captures; a
// deeper request path is 404 without being split further, and a deeper pattern is refused.
TEST(RouterTest, PathsAndPatternsDeeperThanTheLimit) {
  std::string pattern;
  std::string path;
  for (size_t i = 0; i + 1 < kMaxPathSegments; ++i) {
    pattern += "/s" + std::to_string(i);
    path += "/s" + std::to_string(i);
  }
  pattern += "/{last}";
  path += "/end";
  Router router;
  router.Add("GET", pattern, [](const Request&, const PathParams& p) {
    return Response::Json(200, "\"" + std::string(p.Get("last")) + "\"");
  });
  Response r = router.Route(Make("GET", path));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"end\"");
  EXPECT_EQ(router.Route(Make("GET", path + "/more")).status, 404);
  EXPECT_EQ(router.Route(Make("GET", path + "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q")).status, 404);
  EXPECT_THROW(router.Add("GET", pattern + "/x",
                          [](const Request&, const PathParams&) { return Response::NoContent(); }),
               std::invalid_argument);
}

TEST(RouterTest, SeveralCapturesAreEachFound) {
  Router router;
  router.Add("GET", "/a/{x}/b/{y}", [](const Request&, const PathParams& p) {
    return Response::Json(200, "\"" + std::string(p.Get("x")) + std::string(p.Get("y")) +
                                   std::string(p.Get("z")) + "\"");
  });
  EXPECT_EQ(router.Route(Make("GET", "/a/1/b/2")).body, "\"12\"");
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

// A runner that keeps the work it is given, to run when the test says.
class DeferredRunner {
 public:
  BlockingRunner runner() {
    return [this](std::move_only_function<void()> work) { work_.push_back(std::move(work)); };
  }
  size_t queued() const { return work_.size(); }
  void RunAll() {
    auto work = std::move(work_);
    work_.clear();
    for (auto& w : work) w();
  }

 private:
  std::vector<std::move_only_function<void()>> work_;
};

TEST(RouterTest, RoutesThatMayBlockRunOnTheBlockingRunner) {
  Router router = TestRouter();  // Add(): may block
  router.AddAsync("PUT", "/beat", [](const Request&, const PathParams&, Respond respond) {
    respond(Response::NoContent());
  });  // AddAsync(): does not block unless it says so
  router.AddAsync(
      "GET", "/lookup/{id}",
      [](const Request&, const PathParams& p, Respond respond) {
        respond(Response::Json(200, "\"" + std::string(p.Get("id")) + "\""));
      },
      Blocks::kMay);
  router.Add(
      "GET", "/health", [](const Request&, const PathParams&) { return Response::NoContent(); },
      Blocks::kNo);
  DeferredRunner deferred;
  router.RunBlockingOn(deferred.runner());

  std::optional<Response> variable;
  Request get = Make("GET", "/variables/k");
  router.Dispatch(get, [&](Response r) { variable = std::move(r); });
  EXPECT_FALSE(variable.has_value());
  EXPECT_EQ(deferred.queued(), 1u);

  std::optional<Response> lookup;
  Request look = Make("GET", "/lookup/9");
  router.Dispatch(look, [&](Response r) { lookup = std::move(r); });
  EXPECT_FALSE(lookup.has_value());
  EXPECT_EQ(deferred.queued(), 2u);

  std::optional<int> beat, health, missing;
  router.Dispatch(Make("PUT", "/beat"), [&](Response r) { beat = r.status; });
  router.Dispatch(Make("GET", "/health"), [&](Response r) { health = r.status; });
  router.Dispatch(Make("GET", "/nowhere"), [&](Response r) { missing = r.status; });
  EXPECT_EQ(beat, 204);  // on the caller's thread, at once
  EXPECT_EQ(health, 204);
  EXPECT_EQ(missing, 404);
  EXPECT_EQ(deferred.queued(), 2u);

  deferred.RunAll();  // the requests outlive the work, as the server guarantees
  ASSERT_TRUE(variable.has_value());
  EXPECT_EQ(variable->status, 200);
  EXPECT_EQ(variable->body, "\"get k\"");  // the path parameters went with the work
  ASSERT_TRUE(lookup.has_value());
  EXPECT_EQ(lookup->body, "\"9\"");
}

// A handler that throws on the blocking runner is answered 500, and what it threw is
// logged through the process log, so its masker sees the text.
TEST(RouterTest, AHandlerThatThrowsOnTheBlockingRunnerIs500AndItsErrorIsLoggedMasked) {
  auto masker = std::make_shared<SecretsMasker>();
  masker->AddSecret("hunter2-password");
  InitLogging("api-server", masker);
  Router router;
  router.Add("GET", "/boom", [](const Request&, const PathParams&) -> Response {
    throw std::runtime_error("cannot connect with hunter2-password");
  });
  DeferredRunner deferred;
  router.RunBlockingOn(deferred.runner());
  std::optional<Response> answer;
  Request boom = Make("GET", "/boom");
  router.Dispatch(boom, [&](Response r) { answer = std::move(r); });
  testing::internal::CaptureStderr();
  deferred.RunAll();
  const std::string out = testing::internal::GetCapturedStderr();
  InitLogging("test", nullptr);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, 500);
  EXPECT_EQ(answer->body, R"({"detail":"Internal Server Error"})");
  EXPECT_EQ(out.find("hunter2-password"), std::string::npos) << out;
  EXPECT_NE(out.find("error api-server handler for GET /boom threw: cannot connect with ***"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace airlock::http

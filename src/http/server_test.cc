#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "http/blocking_pool.h"
#include "http/router.h"
#include "testing/raw_client.h"

namespace airlock::http {
namespace {

using namespace std::chrono_literals;

using test::RawClient;

int StatusOf(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string BodyOf(const std::string& response) {
  size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

std::string HeaderOf(const std::string& response, std::string_view name) {
  std::string needle = "\r\n" + std::string(name) + ": ";
  size_t p = response.find(needle);
  if (p == std::string::npos) return "";
  size_t end = response.find("\r\n", p + needle.size());
  return response.substr(p + needle.size(), end - p - needle.size());
}

Response Echo(const Request& request) {
  if (request.path == "/throw") throw std::runtime_error("boom");
  return Response::Json(200, "{\"method\":\"" + request.method +
                                 "\",\"path\":" + JsonQuote(request.path) +
                                 ",\"body_size\":" + std::to_string(request.body.size()) + "}");
}

std::unique_ptr<Server> StartServer(ServerOptions options = {}, Handler handler = Echo) {
  options.threads = 2;
  auto server = Server::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.has_value()) << server.error().ToString();
  return server ? std::move(*server) : nullptr;
}

TEST(ServerTest, ServesARequestAndEchoesTheCorrelationId) {
  auto server = StartServer();
  RawClient client(server->port());
  ASSERT_TRUE(client.connected());
  client.Send("GET /a%20b?x=1 HTTP/1.1\r\nHost: t\r\ncorrelation-id: req-42\r\n\r\n");
  std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"method":"GET","path":"/a b","body_size":0})");
  EXPECT_EQ(HeaderOf(response, "correlation-id"), "req-42");
}

TEST(ServerTest, ReplacesAnUnsafeCorrelationId) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\ncorrelation-id: a b<script>\r\n\r\n");
  std::string id = HeaderOf(client.ReadResponse(), "correlation-id");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id.find('<'), std::string::npos);
}

TEST(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer();
  RawClient client(server->port());
  for (int i = 0; i < 3; ++i) {
    client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
    std::string response = client.ReadResponse();
    ASSERT_EQ(StatusOf(response), 200) << response;
    EXPECT_EQ(BodyOf(response), R"({"method":"PUT","path":"/x","body_size":2})");
  }
}

// A read that empties the socket makes the next one wait for data: the rest of a request
// sent in pieces, with pauses between them, must still be read.
TEST(ServerTest, ARequestSentInPiecesIsAnswered) {
  auto server = StartServer();
  RawClient client(server->port());
  for (int round = 0; round < 2; ++round) {  // on a new connection, then a kept-alive one
    client.Send("PUT /pieces HTTP/1.1\r\nHo");
    std::this_thread::sleep_for(20ms);
    client.Send("st: t\r\nContent-Length: 5\r\n\r\n");
    std::this_thread::sleep_for(20ms);
    client.Send("ab");
    std::this_thread::sleep_for(20ms);
    client.Send("cde");
    std::string response = client.ReadResponse();
    ASSERT_EQ(StatusOf(response), 200) << response;
    EXPECT_EQ(BodyOf(response), R"({"method":"PUT","path":"/pieces","body_size":5})");
  }
}

// A request longer than the buffer a connection starts with takes several reads, each
// of which fills the buffer.
TEST(ServerTest, ARequestLongerThanTheReadBufferIsAnswered) {
  auto server = StartServer();
  RawClient client(server->port());
  const std::string value(12000, 'v');
  const std::string body(30000, 'b');
  for (int round = 0; round < 2; ++round) {
    client.Send("PUT /long HTTP/1.1\r\nHost: t\r\nX-Long: " + value +
                "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    std::string response = client.ReadResponse();
    ASSERT_EQ(StatusOf(response), 200) << response;
    EXPECT_EQ(BodyOf(response), R"({"method":"PUT","path":"/long","body_size":30000})");
  }
}

TEST(ServerTest, OversizeHeadersAre431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  auto server = StartServer(options);
  RawClient client(server->port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
  EXPECT_EQ(StatusOf(client.ReadResponse()), 431);
  EXPECT_TRUE(client.WaitClosed());
}

TEST(ServerTest, OversizeBodyIs413BeforeTheBodyIsSent) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(options);
  RawClient client(server->port());
  // Only the headers: the server must answer from Content-Length alone.
  client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n");
  EXPECT_EQ(StatusOf(client.ReadResponse()), 413);
}

TEST(ServerTest, ABodyInATransferCodingOtherThanChunkedAloneIs501) {
  auto server = StartServer();
  const std::string body = "1c\r\n{\"hostname\":\"bench\",\"pid\":1}\r\n0\r\n\r\n";
  for (std::string_view codings :
       {"Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"}) {
    RawClient client(server->port());
    client.Send("PUT /x HTTP/1.1\r\nHost: t\r\n" + std::string(codings) + "\r\n" + body);
    const std::string response = client.ReadResponse();
    EXPECT_EQ(StatusOf(response), 501) << codings;
    EXPECT_EQ(BodyOf(response), R"({"detail":"Not Implemented"})") << codings;
    EXPECT_TRUE(client.WaitClosed()) << codings;
  }
  // Chunked alone, in any case and with spaces around it, is read.
  RawClient client(server->port());
  client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:  Chunked \r\n\r\n" + body);
  const std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"method":"PUT","path":"/x","body_size":28})");
}

TEST(ServerTest, AnExpectedContinueIsSentBeforeTheBodyIsRead) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.ReadResponse(), "HTTP/1.1 100 Continue\r\n\r\n");
  client.Send("hello");
  const std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"method":"PUT","path":"/x","body_size":5})");
  // The connection goes on; a body sent along with the header gets no 100 Continue.
  client.Send("PUT /y HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
  const std::string second = client.ReadResponse();
  EXPECT_EQ(StatusOf(second), 200);
  EXPECT_EQ(BodyOf(second), R"({"method":"PUT","path":"/y","body_size":2})");
}

TEST(ServerTest, AnExpectedContinueForAnOversizeBodyIs413Instead) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(options);
  RawClient client(server->port());
  client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(StatusOf(client.ReadResponse()), 413);
  EXPECT_TRUE(client.WaitClosed());
}

TEST(ServerTest, IncompleteRequestIs408) {
  ServerOptions options;
  options.read_timeout = 200ms;
  auto server = StartServer(options);
  RawClient client(server->port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\n");  // never finished
  EXPECT_EQ(StatusOf(client.ReadResponse()), 408);
  EXPECT_TRUE(client.WaitClosed());
}

TEST(ServerTest, IdleConnectionIsClosedQuietly) {
  ServerOptions options;
  options.read_timeout = 200ms;
  auto server = StartServer(options);
  RawClient client(server->port());
  EXPECT_TRUE(client.WaitClosed());
}

TEST(ServerTest, MalformedRequestIs400) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send("GET / HTTP/1.1\r\nHost t\r\n\r\n");
  EXPECT_EQ(StatusOf(client.ReadResponse()), 400);
}

// The answers the server gives itself are reported to on_refused, with what the header
// said when it was read whole, so that an API can still audit them; a request a handler
// answered is not.
TEST(ServerTest, AnswersGivenBeforeAnyHandlerAreReportedToOnRefused) {
  struct Refused {
    int status;
    std::string method, path, target, authorization;
  };
  std::mutex mu;
  std::vector<Refused> refused;
  ServerOptions options;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 1024;
  options.on_refused = [&](const Request& request, int status) {
    std::lock_guard lock(mu);
    refused.push_back({status, request.method, request.path, request.target,
                       std::string(request.Header("Authorization"))});
  };
  std::vector<std::string> answered;  // on_response: what handlers answered, only
  options.on_response = [&](const Request& request, int, std::chrono::microseconds) {
    std::lock_guard lock(mu);
    answered.push_back(request.path);
  };
  auto server = StartServer(options);
  auto answer = [&](const std::string& raw) {
    RawClient client(server->port());
    client.Send(raw);
    return StatusOf(client.ReadResponse());
  };
  EXPECT_EQ(answer("PUT /execution/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer abc\r\n"
                   "Content-Length: 1048576\r\n\r\n"),
            413);
  EXPECT_EQ(answer("PUT /execution/y HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(answer("GET /execution/%zz HTTP/1.1\r\nHost: t\r\n\r\n"), 400);
  EXPECT_EQ(answer("GET /z HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"),
            431);
  EXPECT_EQ(answer("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
  // on_response runs once the answer's write has started: the client may be first.
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       std::chrono::steady_clock::now() < deadline;) {
    {
      std::lock_guard lock(mu);
      if (!answered.empty()) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(refused.size(), 4u);
  EXPECT_EQ(refused[0].status, 413);
  EXPECT_EQ(refused[0].method, "PUT");
  EXPECT_EQ(refused[0].path, "/execution/x");
  EXPECT_EQ(refused[0].authorization, "Bearer abc");
  EXPECT_EQ(refused[1].status, 501);
  EXPECT_EQ(refused[1].path, "/execution/y");
  EXPECT_EQ(refused[2].status, 400);
  EXPECT_EQ(refused[2].path, "");  // a target that does not parse has no path
  EXPECT_EQ(refused[2].target, "/execution/%zz");
  EXPECT_EQ(refused[3].status, 431);
  EXPECT_EQ(refused[3].method, "");  // the header was never read whole
  EXPECT_EQ(refused[3].path, "");
  EXPECT_EQ(answered, std::vector<std::string>{"/ok"});
}

TEST(ServerTest, TheTargetIsSplitIntoADecodedPathAndARawQuery) {
  auto server = StartServer({}, [](const Request& request) {
    return Response::Json(200, "{\"path\":" + JsonQuote(request.path) +
                                   ",\"query\":" + JsonQuote(request.query) + "}");
  });
  struct Case {
    std::string_view target;
    int status;
    std::string_view body;
  };
  const Case cases[] = {
      {"/execution/task-instances/0195f3a2-7c2e/heartbeat", 200,
       R"({"path":"/execution/task-instances/0195f3a2-7c2e/heartbeat","query":""})"},
      {"/a:b@c!$&'()*+,;=-._~/", 200, R"({"path":"/a:b@c!$&'()*+,;=-._~/","query":""})"},
      {"//x", 200, R"({"path":"//x","query":""})"},
      {"/a%2Fb%20c", 200, R"({"path":"/a/b c","query":""})"},
      {"/a?x=%41&y", 200, R"({"path":"/a","query":"x=%41&y"})"},
      {"/a?", 200, R"({"path":"/a","query":""})"},
      {"/a|b", 400, R"({"detail":"Bad Request"})"},
      {"/a%zz", 400, R"({"detail":"Bad Request"})"},
      {"http://t/a", 400, R"({"detail":"Bad Request"})"},
      {"*", 400, R"({"detail":"Bad Request"})"},
  };
  for (const Case& c : cases) {
    RawClient client(server->port());
    client.Send("GET " + std::string(c.target) + " HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string response = client.ReadResponse();
    EXPECT_EQ(StatusOf(response), c.status) << c.target;
    EXPECT_EQ(BodyOf(response), c.body) << c.target;
  }
}

// A session reuses its request's strings; nothing of an earlier request on the connection
// may show through in a later one: not a header it alone sent, not its correlation-id,
// not its path when the later target cannot be parsed.
TEST(ServerTest, KeptAliveRequestsSeeOnlyTheirOwnParts) {
  std::mutex mu;
  std::vector<std::string> logged_paths;
  ServerOptions options;
  options.on_response = [&](const Request& request, int, std::chrono::microseconds) {
    std::lock_guard lock(mu);
    logged_paths.push_back(request.path);
  };
  std::vector<std::string> refused_paths;  // the unparsable target: the server answers it
  options.on_refused = [&](const Request& request, int) {
    std::lock_guard lock(mu);
    refused_paths.push_back(request.path);
  };
  auto server = StartServer(options, [](const Request& request) {
    return Response::Json(200, "{\"x\":" + JsonQuote(request.Header("x-only-first")) +
                                   ",\"n\":" + std::to_string(request.headers.size()) +
                                   ",\"body\":" + JsonQuote(request.body) + "}");
  });
  RawClient client(server->port());
  client.Send(
      "PUT /first/path HTTP/1.1\r\nHost: t\r\nx-only-first: a-long-value-of-the-first\r\n"
      "correlation-id: first-request-id\r\nContent-Length: 5\r\n\r\nfirst");
  std::string first = client.ReadResponse();
  EXPECT_EQ(BodyOf(first), R"({"x":"a-long-value-of-the-first","n":4,"body":"first"})");
  EXPECT_EQ(HeaderOf(first, "correlation-id"), "first-request-id");

  // Fields longer than the connection's field memory (1 KiB) take the heap.
  const std::string long_value(3000, 'v');
  client.Send("PUT /first/path HTTP/1.1\r\nHost: t\r\nx-only-first: " + long_value +
              "\r\nx-pad: " + long_value + "\r\nContent-Length: 5\r\n\r\nfirst");
  EXPECT_EQ(BodyOf(client.ReadResponse()), R"({"x":")" + long_value + R"(","n":4,"body":"first"})");

  client.Send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string second = client.ReadResponse();
  EXPECT_EQ(BodyOf(second), R"({"x":"","n":1,"body":""})");
  EXPECT_EQ(HeaderOf(second, "correlation-id").size(), 36u);

  client.Send("GET /a|b HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(client.ReadResponse()), 400);
  server->Shutdown();
  EXPECT_EQ(logged_paths, (std::vector<std::string>{"/first/path", "/first/path", "/second"}));
  EXPECT_EQ(refused_paths, (std::vector<std::string>{""}));
}

TEST(ServerTest, HandlerThatThrowsIs500AndTheServerCarriesOn) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send("GET /throw HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 500);
  EXPECT_EQ(BodyOf(response), R"({"detail":"Internal Server Error"})");
  RawClient again(server->port());
  again.Send("GET /fine HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(again.ReadResponse()), 200);
}

TEST(ServerTest, ShutdownFinishesTheInFlightRequest) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  auto server = StartServer({}, [&](const Request&) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return Response::Json(200, "{\"done\":true}");
  });
  RawClient client(server->port());
  client.Send("PUT /write HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return entered; }));
  }
  auto stopped = std::async(std::launch::async, [&] { server->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);  // still in flight
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"done":true})");
  EXPECT_EQ(HeaderOf(response, "Connection"), "close");
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
}

TEST(ServerTest, ShutdownClosesIdleConnectionsAndStopsAccepting) {
  auto server = StartServer();
  uint16_t port = server->port();
  RawClient idle(port);
  ASSERT_TRUE(idle.connected());
  auto stopped = std::async(std::launch::async, [&] { server->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(idle.WaitClosed());
  RawClient late(port);
  EXPECT_FALSE(late.connected());
}

// A client that stalls partway through a request holds the shutdown for the grace, not
// for the idle timeout of its kept-alive connection (75 s here: it held the shutdown that
// long before), and is answered 408.
TEST(ServerTest, ShutdownWaitsForAPartlySentRequestOnlyForTheGrace) {
  ServerOptions options;
  options.shutdown_grace = 300ms;
  auto server = StartServer(options);
  RawClient client(server->port());
  client.Send("GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(StatusOf(client.ReadResponse()), 200);  // its session is open
  client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  const auto start = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { server->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);  // the rest may still come
  EXPECT_EQ(StatusOf(client.ReadResponse()), 408);
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(client.WaitClosed());
}

// Within the grace, the rest of the request is read, and the request is answered.
TEST(ServerTest, ShutdownAnswersARequestCompletedWithinTheGrace) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send("GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(StatusOf(client.ReadResponse()), 200);  // its session is open
  client.Send("PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n");
  auto stopped = std::async(std::launch::async, [&] { server->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);
  client.Send("abc");
  std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"method":"PUT","path":"/x","body_size":3})");
  EXPECT_EQ(HeaderOf(response, "Connection"), "close");
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
}

// A request that has arrived, but that the event loop has not read when the shutdown
// begins, is no idle connection: it is read and answered too. One I/O thread, held by a
// handler while the second request arrives and the shutdown begins.
TEST(ServerTest, ShutdownAnswersARequestNotReadYet) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  ServerOptions options;
  options.threads = 1;
  auto started = Server::Start(options, [&](const Request& request) {
    if (request.path == "/hold") {
      std::unique_lock lock(mu);
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
    return Echo(request);
  });
  ASSERT_TRUE(started.has_value()) << started.error().ToString();
  auto& server = *started;
  RawClient waiting(server->port());
  waiting.Send("GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(StatusOf(waiting.ReadResponse()), 200);  // its session is open, and idle
  RawClient holder(server->port());
  holder.Send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return entered; }));
  }
  waiting.Send("GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
  auto stopped = std::async(std::launch::async, [&] { server->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(100ms), std::future_status::timeout);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(StatusOf(holder.ReadResponse()), 200);
  std::string response = waiting.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"method":"GET","path":"/second","body_size":0})");
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
}

TEST(ServerTest, GeneratedCorrelationIdsAreDistinctVersion4Uuids) {
  auto server = StartServer();
  RawClient client(server->port());
  std::set<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    client.Send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    std::string id = HeaderOf(client.ReadResponse(), "correlation-id");
    ASSERT_EQ(id.size(), 36u) << id;
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '4') << id;                                                    // version
    EXPECT_NE(std::string_view("89ab").find(id[19]), std::string_view::npos) << id;  // variant
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 50u);
}

TEST(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartServer();
  RawClient client(server->port());
  client.Send(
      "GET /one HTTP/1.1\r\nHost: t\r\n\r\n"
      "PUT /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
      "GET /three HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(BodyOf(client.ReadResponse()), R"({"method":"GET","path":"/one","body_size":0})");
  EXPECT_EQ(BodyOf(client.ReadResponse()), R"({"method":"PUT","path":"/two","body_size":3})");
  EXPECT_EQ(BodyOf(client.ReadResponse()), R"({"method":"GET","path":"/three","body_size":0})");
}

// A client that stops reading cannot hold a connection (and its memory) for ever: a
// response not written within the read timeout closes the connection.
TEST(ServerTest, AResponseTheClientDoesNotReadIsAbandonedAfterTheReadTimeout) {
  constexpr size_t kBody = 32 << 20;  // far more than the socket buffers hold
  ServerOptions options;
  options.read_timeout = 200ms;
  auto server = StartServer(
      options, [](const Request&) { return Response::Json(200, std::string(kBody, 'x')); });
  RawClient client(server->port());
  client.Send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
  std::this_thread::sleep_for(1s);  // not reading
  std::string got = client.ReadResponse(10s);
  EXPECT_GT(got.size(), 0u);
  EXPECT_LT(got.size(), kBody);
  EXPECT_TRUE(client.WaitClosed());
}

// Keeps the Respond of a request that an asynchronous handler was given, for a test to
// answer later, from any thread.
class HeldAnswer {
 public:
  void Hold(Respond respond) {
    std::lock_guard lock(mu_);
    held_ = std::move(respond);
    cv_.notify_all();
  }
  bool WaitHeld() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return held_.has_value(); });
  }
  void Answer(Response response) {
    std::lock_guard lock(mu_);
    (*held_)(std::move(response));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Respond> held_;  // Guarded by mu_.
};

// An asynchronous handler that holds its answer does not hold its I/O thread: with one
// thread, another connection is served meanwhile; the late answer, given from another
// thread, reaches the right connection with its correlation-id.
TEST(ServerTest, AsyncHandlerAnswersLaterWhileItsThreadServesOthers) {
  HeldAnswer held;
  auto started = Server::Start({.threads = 1}, [&](const Request& request, Respond respond) {
    if (request.path != "/slow") return respond(Echo(request));
    held.Hold(std::move(respond));
  });
  ASSERT_TRUE(started.has_value());
  auto& server = *started;
  RawClient slow(server->port());
  slow.Send("GET /slow HTTP/1.1\r\nHost: t\r\ncorrelation-id: slow-1\r\n\r\n");
  ASSERT_TRUE(held.WaitHeld());
  RawClient fast(server->port());
  fast.Send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(fast.ReadResponse()), 200);

  std::thread answerer([&] { held.Answer(Response::Json(201, "{\"late\":true}")); });
  answerer.join();
  std::string response = slow.ReadResponse();
  EXPECT_EQ(StatusOf(response), 201);
  EXPECT_EQ(BodyOf(response), R"({"late":true})");
  EXPECT_EQ(HeaderOf(response, "correlation-id"), "slow-1");
  // The connection is kept alive for the next request.
  slow.Send("GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(slow.ReadResponse()), 200);
}

// A handler on an I/O thread finds that thread's event loop; a task posted to it from
// another thread runs on the handler's thread, and may answer there. Other threads have no
// loop.
TEST(ServerTest, AHandlerCanHandWorkBackToItsIOThreadsEventLoop) {
  EXPECT_EQ(ThisThreadsEventLoop(), nullptr);
  std::mutex mu;
  std::condition_variable cv;
  EventLoop* loop = nullptr;  // Guarded by mu.
  std::thread::id handler_thread;
  std::optional<Respond> held;  // Guarded by mu.
  auto started = Server::Start({.threads = 2}, [&](const Request&, Respond respond) {
    std::lock_guard lock(mu);
    loop = ThisThreadsEventLoop();
    handler_thread = std::this_thread::get_id();
    held = std::move(respond);
    cv.notify_all();
  });
  ASSERT_TRUE(started.has_value());
  RawClient client((*started)->port());
  client.Send("PUT /beat HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return held.has_value(); }));
  }
  ASSERT_NE(loop, nullptr);
  std::thread::id task_thread;
  std::thread other([&] {
    loop->Post([&] {
      std::lock_guard lock(mu);
      task_thread = std::this_thread::get_id();
      (*held)(Response::Json(200, "{\"on\":\"loop\"}"));
    });
  });
  other.join();
  std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"on":"loop"})");
  std::lock_guard lock(mu);
  EXPECT_EQ(task_thread, handler_thread);
}

TEST(ServerTest, ShutdownWaitsForTheAnswerOfAnAsyncHandler) {
  HeldAnswer held;
  auto started = Server::Start(
      {.threads = 2}, [&](const Request&, Respond respond) { held.Hold(std::move(respond)); });
  ASSERT_TRUE(started.has_value());
  auto& server = *started;
  RawClient client(server->port());
  client.Send("PUT /write HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(held.WaitHeld());
  auto stopped = std::async(std::launch::async, [&] { server->Shutdown(); });
  EXPECT_EQ(stopped.wait_for(300ms), std::future_status::timeout);  // still in flight
  held.Answer(Response::Json(200, "{\"written\":true}"));
  std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"written":true})");
  EXPECT_EQ(HeaderOf(response, "Connection"), "close");
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
}

// A route that may block runs on the router's blocking pool, not on the I/O thread: with
// one I/O thread and a handler waiting to be released, another connection is served.
TEST(ServerTest, ARouteThatBlocksHoldsUpNoOtherConnection) {
  BlockingPool pool(2);
  Router router;
  std::latch release(1);
  std::atomic<bool> entered{false};
  router.Add("GET", "/slow", [&](const Request&, const PathParams&) {
    entered = true;
    release.wait();
    return Response::Json(200, R"({"slow":true})");
  });
  router.Add("GET", "/fast", [](const Request&, const PathParams&) {
    return Response::Json(200, R"({"fast":true})");
  });
  router.RunBlockingOn(pool.Runner());
  auto started = Server::Start({.threads = 1}, [&router](const Request& r, Respond respond) {
    router.Dispatch(r, std::move(respond));
  });
  ASSERT_TRUE(started.has_value());
  auto& server = *started;
  RawClient slow(server->port());
  slow.Send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500 && !entered; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(entered);
  RawClient fast(server->port());
  fast.Send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string response = fast.ReadResponse();
  release.count_down();
  EXPECT_EQ(StatusOf(response), 200);
  EXPECT_EQ(BodyOf(response), R"({"fast":true})");
  EXPECT_EQ(BodyOf(slow.ReadResponse()), R"({"slow":true})");
}

}  // namespace
}  // namespace airlock::http

#include "http/response_writer.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace airlock::http {
namespace {

std::string Written(const Response& response, bool keep_alive = true,
                    std::string_view request_id = "") {
  std::string out = "left over from the previous response";
  WriteResponse(response, keep_alive, request_id, out);
  return out;
}

TEST(ResponseWriterTest, WritesStatusLineHeadersLengthAndBody) {
  Response r = Response::Json(201, R"({"a":1})");
  r.SetHeader("Cache-Control", "no-store");
  EXPECT_EQ(Written(r, true, "req-1"),
            "HTTP/1.1 201 Created\r\n"
            "Server: airlock\r\n"
            "Content-Type: application/json\r\n"
            "Cache-Control: no-store\r\n"
            "correlation-id: req-1\r\n"
            "Content-Length: 7\r\n"
            "\r\n"
            R"({"a":1})");
}

TEST(ResponseWriterTest, BodylessStatusesHaveNoLengthAndNoBody) {
  for (int status : {101, 204, 304}) {
    Response r;
    r.status = status;
    r.body = "must not be sent";
    const std::string out = Written(r);
    EXPECT_EQ(out.find("Content-Length"), std::string::npos) << status;
    EXPECT_TRUE(out.ends_with("\r\n\r\n")) << status;
  }
  EXPECT_EQ(Written(Response::NoContent()), "HTTP/1.1 204 No Content\r\nServer: airlock\r\n\r\n");
}

TEST(ResponseWriterTest, EmptyBodyOfOtherStatusesHasLengthZero) {
  Response r;
  r.status = 200;
  EXPECT_NE(Written(r).find("\r\nContent-Length: 0\r\n"), std::string::npos);
}

TEST(ResponseWriterTest, ClosingConnectionSaysSo) {
  EXPECT_NE(Written(Response::NoContent(), false).find("\r\nConnection: close\r\n"),
            std::string::npos);
  EXPECT_EQ(Written(Response::NoContent(), true).find("Connection"), std::string::npos);
}

TEST(ResponseWriterTest, FramingHeadersOfTheHandlerAreNotWritten) {
  Response r = Response::Json(200, "{}");
  r.headers.emplace_back("content-length", "999");
  r.headers.emplace_back("Transfer-Encoding", "chunked");
  r.headers.emplace_back("Connection", "keep-alive");
  const std::string out = Written(r, false);
  EXPECT_EQ(out.find("999"), std::string::npos);
  EXPECT_EQ(out.find("chunked"), std::string::npos);
  EXPECT_EQ(out.find("keep-alive"), std::string::npos);
  EXPECT_NE(out.find("\r\nContent-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: close\r\n"), std::string::npos);
}

TEST(ResponseWriterTest, HeadersThatCouldSplitTheResponseAreNotWritten) {
  Response r = Response::NoContent();
  r.headers.emplace_back("X-Value-Cr", "a\rSet-Cookie: x=1");
  r.headers.emplace_back("X-Value-Lf", "a\nSet-Cookie: x=1");
  r.headers.emplace_back("X-Value-Nul", std::string("a\0b", 3));
  r.headers.emplace_back("Bad Name", "v");
  r.headers.emplace_back("Bad:Name", "v");
  r.headers.emplace_back("", "v");
  r.headers.emplace_back("X-Fine", "v");
  EXPECT_EQ(Written(r), "HTTP/1.1 204 No Content\r\nServer: airlock\r\nX-Fine: v\r\n\r\n");
}

TEST(ResponseWriterTest, AHeaderSetTwiceIsWrittenOnceWithItsLastValue) {
  Response r = Response::NoContent();
  r.headers.emplace_back("X-Twice", "first");
  r.headers.emplace_back("x-twice", "second");
  const std::string out = Written(r);
  EXPECT_EQ(out.find("first"), std::string::npos);
  EXPECT_NE(out.find("\r\nx-twice: second\r\n"), std::string::npos);
}

TEST(ResponseWriterTest, TheResponseMayNameItsServer) {
  Response r = Response::NoContent();
  r.SetHeader("Server", "other");
  EXPECT_EQ(Written(r), "HTTP/1.1 204 No Content\r\nServer: other\r\n\r\n");
}

TEST(ResponseWriterTest, TheRequestIdReplacesACorrelationIdOfTheHandler) {
  Response r = Response::NoContent();
  r.SetHeader("correlation-id", "from-handler");
  EXPECT_EQ(Written(r, true, "from-request").find("from-handler"), std::string::npos);
  EXPECT_NE(Written(r, true, "").find("correlation-id: from-handler"), std::string::npos);
}

TEST(ResponseWriterTest, AnHttpParserReadsBackWhatWasWritten) {
  Response r = Response::Json(404, R"({"detail":"Not Found"})");
  r.SetHeader("WWW-Authenticate", "Bearer");
  const std::string out = Written(r, false, "id-9");
  boost::beast::http::response_parser<boost::beast::http::string_body> parser;
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(out), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  const auto& msg = parser.get();
  EXPECT_EQ(msg.result_int(), 404);
  EXPECT_EQ(msg.reason(), "Not Found");
  EXPECT_EQ(msg["WWW-Authenticate"], "Bearer");
  EXPECT_EQ(msg["correlation-id"], "id-9");
  EXPECT_FALSE(msg.keep_alive());
  EXPECT_EQ(msg.body(), R"({"detail":"Not Found"})");
}

}  // namespace
}  // namespace airlock::http

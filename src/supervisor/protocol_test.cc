#include "supervisor/protocol.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace airlock::supervisor {
namespace {

TEST(FrameDecoderTest, ReassemblesFramesSplitAtEveryByte) {
  std::string stream =
      EncodeFrame(R"({"op":"variable.get","key":"a"})") + EncodeFrame("") + EncodeFrame("second");
  FrameDecoder decoder;
  std::vector<std::string> payloads;
  for (char c : stream) {
    ASSERT_TRUE(decoder.Append(std::string_view(&c, 1)));
    while (auto payload = decoder.Next()) payloads.push_back(*payload);
  }
  EXPECT_EQ(payloads,
            (std::vector<std::string>{R"({"op":"variable.get","key":"a"})", "", "second"}));
}

TEST(FrameDecoderTest, RefusesAnOversizedLength) {
  FrameDecoder decoder;
  auto result = decoder.Append(std::string("\x7f\xff\xff\xff", 4));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_FALSE(decoder.Next());
}

TEST(TaskRequestTest, EveryOpRoundTrips) {
  const std::vector<TaskRequest> requests = {
      {.op = TaskOp::kVariableGet, .key = "k"},
      {.op = TaskOp::kVariableSet, .key = "k", .value = "text with \"quotes\""},
      {.op = TaskOp::kConnectionGet, .key = "db"},
      {.op = TaskOp::kXComPush, .key = "x", .value = R"({"a":[1,2]})"},
      {.op = TaskOp::kXComPull, .key = "x", .task_id = "other", .map_index = 3},
      {.op = TaskOp::kXComPull, .key = "x"},
      {.op = TaskOp::kDefer, .key = "datetime", .value = R"({"delay_seconds":5})"},
      {.op = TaskOp::kDefer, .key = "file", .value = R"({"path":"/tmp/x"})", .timeout_seconds = 60},
      {.op = TaskOp::kTriggerEventGet},
  };
  for (const auto& request : requests) {
    auto encoded = EncodeTaskRequest(request);
    ASSERT_TRUE(encoded) << encoded.error().message();
    auto parsed = ParseTaskRequest(*encoded);
    ASSERT_TRUE(parsed) << parsed.error().message();
    EXPECT_EQ(parsed->op, request.op);
    EXPECT_EQ(parsed->key, request.key);
    EXPECT_EQ(parsed->value, request.value);
    EXPECT_EQ(parsed->task_id, request.task_id);
    EXPECT_EQ(parsed->map_index, request.map_index);
    EXPECT_EQ(parsed->timeout_seconds, request.timeout_seconds);
  }
}

// A value carried as JSON is read strictly before it is sent: a duplicate name is refused,
// not settled one way by the client where the supervisor could not see it.
TEST(TaskRequestTest, EncodingRefusesAValueThatIsNotStrictJson) {
  auto message = [](TaskRequest request) {
    auto encoded = EncodeTaskRequest(request);
    return encoded ? std::string("ok") : encoded.error().message();
  };
  EXPECT_EQ(message({.op = TaskOp::kXComPush, .key = "x", .value = R"({"a":1,"a":2})"}),
            "the XCom value has a duplicate member name");
  EXPECT_EQ(message({.op = TaskOp::kXComPush, .key = "x", .value = "not json"}),
            "the XCom value is not valid JSON");
  EXPECT_EQ(message({.op = TaskOp::kDefer, .key = "file", .value = R"({"path":"/a","path":"/b"})"}),
            "the trigger's argument object has a duplicate member name");
  EXPECT_EQ(message({.op = TaskOp::kXComPush, .key = "x", .value = R"({"a":[1,{"b":null}]})"}),
            "ok");
}

TEST(TaskRequestTest, RefusesMalformedRequests) {
  for (std::string_view payload : {
           "not json",
           "[]",
           R"({"key":"k"})",
           R"({"op":"variable.delete","key":"k"})",
           R"({"op":"variable.get"})",
           R"({"op":"variable.get","key":""})",
           R"({"op":"variable.set","key":"k","value":5})",
           R"({"op":"connection.get","key":"k"})",
           R"({"op":"xcom.push","key":"k"})",
           R"({"op":"xcom.pull","key":"k","map_index":-2})",
           R"({"op":"xcom.pull","key":"k","task_id":7})",
           R"({"op":"defer","key":"datetime"})",
           R"({"op":"defer","key":"datetime","args":"{}"})",
           R"({"op":"defer","key":"datetime","args":{},"timeout":0})",
           R"({"op":"defer","args":{}})",
           R"({"op":"variable.get","key":"a","key":"b"})",
           R"({"op":"xcom.push","key":"k","value":{"rows":[{"id":1,"id":2}]}})",
       }) {
    auto parsed = ParseTaskRequest(payload);
    ASSERT_FALSE(parsed) << payload;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << payload;
  }
}

// The task is not trusted: a name twice anywhere in its request is refused, not settled by
// this parse (which would send on one of the two values).
TEST(TaskRequestTest, SaysWhenARequestNamesAMemberTwice) {
  auto parsed = ParseTaskRequest(R"({"op":"xcom.push","key":"k","value":{"a":1,"a":2}})");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message(), "request: JSON has a duplicate member name");
  auto plain = ParseTaskRequest(R"({"op":"xcom.push","key":"k","value":{"a":1,"b":{"a":2}}})");
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(plain->value, R"({"a":1,"b":{"a":2}})");
}

TEST(TaskReplyTest, CarriesResultsAndErrorCodes) {
  auto ok = ParseTaskReply(EncodeTaskReply(std::string(R"({"a":1})")));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, R"({"a":1})");
  auto error = ParseTaskReply(EncodeTaskReply(NotFound("variable 'v' does not exist")));
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(error.error().message(), "variable 'v' does not exist");
  EXPECT_FALSE(ParseTaskReply(R"({"result":1})"));
}

TEST(ConnectionPassingTest, SendsAStreamSocketOverTheChannel) {
  int channel[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, channel), 0);
  auto none = ReceiveConnection(channel[0]);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);

  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ASSERT_TRUE(SendFd(channel[1], pair[1]));
  close(pair[1]);
  auto received = ReceiveConnection(channel[0]);
  ASSERT_TRUE(received) << received.error().message();
  ASSERT_TRUE(WriteFrame(pair[0], "ping"));
  auto frame = ReadFrame(*received);
  ASSERT_TRUE(frame);
  EXPECT_EQ(*frame, "ping");
  close(*received);
  close(pair[0]);

  // A message without an fd is refused, and one carrying a non-socket fd too.
  ASSERT_EQ(send(channel[1], "x", 1, 0), 1);
  auto bare = ReceiveConnection(channel[0]);
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().code(), ErrorCode::kInvalidArgument);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_TRUE(SendFd(channel[1], pipe_fds[0]));
  auto not_socket = ReceiveConnection(channel[0]);
  ASSERT_FALSE(not_socket);
  EXPECT_EQ(not_socket.error().code(), ErrorCode::kInvalidArgument);

  close(channel[1]);
  auto gone = ReceiveConnection(channel[0]);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), ErrorCode::kUnavailable);
  for (int fd : {channel[0], pipe_fds[0], pipe_fds[1]}) close(fd);
}

}  // namespace
}  // namespace airlock::supervisor

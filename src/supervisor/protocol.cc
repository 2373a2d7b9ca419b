#include "supervisor/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>

#include "http/json_checks.h"
#include "json/strict_json.h"

namespace airlock::supervisor {

namespace json = boost::json;

namespace {

constexpr size_t kHeaderBytes = 4;

// A request nests its value one level below the API body that carries it, which may nest 32
// (http/json_checks.h).
constexpr int kMaxTaskRequestDepth = 33;

struct OpName {
  TaskOp op;
  std::string_view name;
};
constexpr OpName kOps[] = {
    {TaskOp::kVariableGet, "variable.get"},
    {TaskOp::kVariableSet, "variable.set"},
    {TaskOp::kConnectionGet, "connection.get"},
    {TaskOp::kXComPush, "xcom.push"},
    {TaskOp::kXComPull, "xcom.pull"},
    {TaskOp::kDefer, "defer"},
    {TaskOp::kTriggerEventGet, "trigger_event.get"},
};

std::string_view OpNameOf(TaskOp op) {
  for (const auto& entry : kOps) {
    if (entry.op == op) return entry.name;
  }
  return "";
}

Result<std::string> StringField(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  if (value == nullptr || !value->is_string() || value->as_string().empty()) {
    return InvalidArgument("field '" + std::string(name) + "' must be a non-empty string");
  }
  return std::string(value->as_string());
}

ErrorCode CodeFromName(std::string_view name) {
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
        ErrorCode::kNotFound, ErrorCode::kAlreadyExists, ErrorCode::kFailedPrecondition,
        ErrorCode::kOutOfRange, ErrorCode::kResourceExhausted, ErrorCode::kDeadlineExceeded,
        ErrorCode::kUnavailable, ErrorCode::kUnimplemented}) {
    if (ErrorCodeName(code) == name) return code;
  }
  return ErrorCode::kInternal;
}

}  // namespace

std::string EncodeFrame(std::string_view payload) {
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::string frame;
  frame.reserve(kHeaderBytes + payload.size());
  frame.push_back(static_cast<char>((n >> 24) & 0xff));
  frame.push_back(static_cast<char>((n >> 16) & 0xff));
  frame.push_back(static_cast<char>((n >> 8) & 0xff));
  frame.push_back(static_cast<char>(n & 0xff));
  frame.append(payload);
  return frame;
}

namespace {
uint32_t FrameLength(std::string_view header) {
  auto byte = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<unsigned char>(header[i]));
  };
  return byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
}
}  // namespace

Result<void> FrameDecoder::Append(std::string_view bytes) {
  buffer_.append(bytes);
  if (buffer_.size() >= kHeaderBytes && FrameLength(buffer_) > kMaxFrameBytes) {
    return std::unexpected(Error(ErrorCode::kResourceExhausted,
                                 "frame larger than " + std::to_string(kMaxFrameBytes) + " bytes"));
  }
  return {};
}

std::optional<std::string> FrameDecoder::Next() {
  if (buffer_.size() < kHeaderBytes) return std::nullopt;
  const size_t n = FrameLength(buffer_);
  if (n > kMaxFrameBytes || buffer_.size() < kHeaderBytes + n) return std::nullopt;
  std::string payload = buffer_.substr(kHeaderBytes, n);
  buffer_.erase(0, kHeaderBytes + n);
  return payload;
}

namespace {

// A value the request carries as JSON (an XCom value, a trigger's arguments), read as the
// Execution API reads it and refused in its words: a duplicate name is refused here rather
// than settled one way by this parse and sent on, where no one could see it.
Result<json::value> StrictValue(std::string_view text, std::string_view what) {
  auto value = http::ParseRequestJson(text, what);
  if (!value) return InvalidArgument(std::move(value.error()));
  return std::move(*value);
}

}  // namespace

Result<std::string> EncodeTaskRequest(const TaskRequest& request) {
  json::object object{{"op", OpNameOf(request.op)}};
  switch (request.op) {
    case TaskOp::kVariableGet:
      object["key"] = request.key;
      break;
    case TaskOp::kVariableSet:
      object["key"] = request.key;
      object["value"] = request.value;
      break;
    case TaskOp::kConnectionGet:
      object["conn_id"] = request.key;
      break;
    case TaskOp::kXComPush: {
      object["key"] = request.key;
      auto value = StrictValue(request.value, "the XCom value");
      if (!value) return std::unexpected(value.error());
      object["value"] = std::move(*value);
      break;
    }
    case TaskOp::kXComPull:
      object["key"] = request.key;
      if (!request.task_id.empty()) object["task_id"] = request.task_id;
      if (request.map_index) object["map_index"] = *request.map_index;
      break;
    case TaskOp::kDefer: {
      object["key"] = request.key;
      auto args = StrictValue(request.value, "the trigger's argument object");
      if (!args) return std::unexpected(args.error());
      object["args"] = std::move(*args);
      if (request.timeout_seconds) object["timeout"] = *request.timeout_seconds;
      break;
    }
    case TaskOp::kTriggerEventGet:
      break;
  }
  return json::serialize(object);
}

Result<TaskRequest> ParseTaskRequest(std::string_view payload) {
  // The task is not trusted: its request is read as strictly as a body of the Execution
  // API, so a duplicate name anywhere in it (an XCom value's included) is refused here,
  // not settled one way by this parse and sent on.
  auto parsed = ParseNamedJsonObject(payload, "request", kMaxTaskRequestDepth);
  if (!parsed) return std::unexpected(parsed.error());
  const json::object& object = *parsed;
  const json::value* op = object.if_contains("op");
  if (op == nullptr || !op->is_string()) return InvalidArgument("field 'op' must be a string");
  TaskRequest request;
  bool known = false;
  for (const auto& entry : kOps) {
    if (entry.name == op->as_string()) {
      request.op = entry.op;
      known = true;
    }
  }
  if (!known) return InvalidArgument("unknown op '" + std::string(op->as_string()) + "'");
  if (request.op == TaskOp::kTriggerEventGet) return request;

  auto key = StringField(object, request.op == TaskOp::kConnectionGet ? "conn_id" : "key");
  if (!key) return std::unexpected(key.error());
  request.key = std::move(*key);
  switch (request.op) {
    case TaskOp::kVariableGet:
    case TaskOp::kConnectionGet:
      break;
    case TaskOp::kVariableSet: {
      const json::value* value = object.if_contains("value");
      if (value == nullptr || !value->is_string()) {
        return InvalidArgument("field 'value' must be a string");
      }
      request.value = value->as_string();
      break;
    }
    case TaskOp::kXComPush: {
      const json::value* value = object.if_contains("value");
      if (value == nullptr) return InvalidArgument("field 'value' is missing");
      request.value = json::serialize(*value);
      break;
    }
    case TaskOp::kXComPull: {
      if (object.contains("task_id")) {
        auto task_id = StringField(object, "task_id");
        if (!task_id) return std::unexpected(task_id.error());
        request.task_id = std::move(*task_id);
      }
      if (const json::value* map_index = object.if_contains("map_index")) {
        if (!map_index->is_int64() || map_index->as_int64() < -1 ||
            map_index->as_int64() > INT32_MAX) {
          return InvalidArgument("field 'map_index' must be an integer ≥ -1");
        }
        request.map_index = static_cast<int>(map_index->as_int64());
      }
      break;
    }
    case TaskOp::kDefer: {
      const json::value* args = object.if_contains("args");
      if (args == nullptr || !args->is_object()) {
        return InvalidArgument("field 'args' must be a JSON object");
      }
      request.value = json::serialize(*args);
      if (const json::value* timeout = object.if_contains("timeout")) {
        if (!timeout->is_int64() || timeout->as_int64() <= 0) {
          return InvalidArgument("field 'timeout' must be a positive number of seconds");
        }
        request.timeout_seconds = timeout->as_int64();
      }
      break;
    }
    case TaskOp::kTriggerEventGet:
      break;
  }
  return request;
}

std::string EncodeTaskReply(const Result<std::string>& result_json) {
  if (!result_json) {
    return json::serialize(json::object{{"ok", false},
                                        {"code", ErrorCodeName(result_json.error().code())},
                                        {"message", result_json.error().message()}});
  }
  boost::system::error_code ec;
  json::value result = json::parse(*result_json, ec);
  if (ec) result = nullptr;
  return json::serialize(json::object{{"ok", true}, {"result", std::move(result)}});
}

Result<std::string> ParseTaskReply(std::string_view payload) {
  boost::system::error_code ec;
  json::value parsed = json::parse(payload, ec);
  if (ec || !parsed.is_object()) return InvalidArgument("reply is not a JSON object");
  const json::object& object = parsed.as_object();
  const json::value* ok = object.if_contains("ok");
  if (ok == nullptr || !ok->is_bool()) return InvalidArgument("reply has no 'ok'");
  if (ok->as_bool()) {
    const json::value* result = object.if_contains("result");
    return result == nullptr ? std::string("null") : json::serialize(*result);
  }
  const json::value* code = object.if_contains("code");
  const json::value* message = object.if_contains("message");
  return std::unexpected(Error(
      code != nullptr && code->is_string() ? CodeFromName(code->as_string()) : ErrorCode::kInternal,
      message != nullptr && message->is_string() ? std::string(message->as_string())
                                                 : "the supervisor refused the request"));
}

Result<void> WriteFrame(int fd, std::string_view payload) {
  if (payload.size() > kMaxFrameBytes) {
    return std::unexpected(Error(ErrorCode::kResourceExhausted, "request too large"));
  }
  std::string frame = EncodeFrame(payload);
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(ErrnoMessage("send(" + std::to_string(fd) + ")", errno));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<std::string> ReadFrame(int fd) {
  FrameDecoder decoder;
  char buf[65536];
  while (true) {
    if (auto payload = decoder.Next()) return std::move(*payload);
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(ErrnoMessage("recv(" + std::to_string(fd) + ")", errno));
    }
    if (n == 0) return Unavailable("the supervisor closed the connection");
    if (auto r = decoder.Append(std::string_view(buf, static_cast<size_t>(n))); !r) {
      return std::unexpected(r.error());
    }
  }
}

Result<void> SendFd(int channel_fd, int fd) {
  char byte = 'c';
  iovec iov{.iov_base = &byte, .iov_len = 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  while (sendmsg(channel_fd, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) {
      return Unavailable(
          ErrnoMessage("sendmsg(" + std::to_string(channel_fd) + ", SCM_RIGHTS)", errno));
    }
  }
  return {};
}

Result<int> ReceiveConnection(int channel_fd) {
  auto received = ReceiveFd(channel_fd, /*wait=*/false);
  if (!received) return received;
  struct stat st;
  if (fstat(*received, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    close(*received);
    return InvalidArgument("message carried an fd that is not a socket");
  }
  return received;
}

Result<int> ReceiveFd(int channel_fd, bool wait) {
  char byte = 0;
  iovec iov{.iov_base = &byte, .iov_len = 1};
  // Room for a few fds: a client that sends more gets them closed, not leaked.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(channel_fd, &msg, (wait ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return NotFound("no connection waiting");
    return Unavailable(ErrnoMessage("recvmsg(" + std::to_string(channel_fd) + ")", errno));
  }
  if (n == 0) return Unavailable("the channel was closed");
  int received = -1;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      if (received < 0) {
        received = fd;
      } else {
        close(fd);
      }
    }
  }
  if (received < 0) return InvalidArgument("message carried no fd");
  return received;
}

}  // namespace airlock::supervisor

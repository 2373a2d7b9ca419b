#pragma once
// The task ↔ supervisor channel: how `airlock task …` (running inside the task process)
// asks its supervisor for variables, connections and XComs. The task never holds a token;
// the supervisor forwards each request to the Execution API with its own.
//
// Transport. The supervisor gives the task one end of an AF_UNIX SOCK_SEQPACKET socketpair
// and names its number in AIRLOCK_SUPERVISOR_FD. A client opens a private connection per
// call: it creates a SOCK_STREAM socketpair and sends one end over the inherited socket
// (SCM_RIGHTS, one message), so concurrent clients (a task's own subprocesses) never share
// a stream. On that connection each side sends frames: a 4-byte big-endian length, then
// that many bytes of JSON. One request frame, one reply frame.
//
// Requests ({"op": …}):
//   {"op":"variable.get","key":K}
//   {"op":"variable.set","key":K,"value":"text"}
//   {"op":"connection.get","conn_id":C}
//   {"op":"xcom.push","key":K,"value":<any JSON>}
//   {"op":"xcom.pull","key":K[,"task_id":T][,"map_index":N]}   (task_id: own task if absent)
//   {"op":"defer","key":KIND,"args":{…}[,"timeout":SECONDS]}      (triggers/trigger_kinds.h)
//   {"op":"trigger_event.get"}     the payload of the event that resumed this try
// Replies: {"ok":true,"result":<JSON>} or {"ok":false,"code":"NotFound","message":"…"}.
//
// Everything here is a pure function or a blocking helper on a given fd; nothing is shared.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace airlock::supervisor {

// The environment variable that names the inherited channel fd.
inline constexpr char kSupervisorFdVariable[] = "AIRLOCK_SUPERVISOR_FD";
// The channel's fd number in the task.
inline constexpr int kTaskChannelFd = 3;

// A frame's largest payload. XCom values and variables are small; a bigger frame is a
// broken or hostile client and ends the connection.
inline constexpr size_t kMaxFrameBytes = 4 << 20;

// `payload` with its 4-byte big-endian length in front.
std::string EncodeFrame(std::string_view payload);

// Splits a byte stream into frame payloads.
class FrameDecoder {
 public:
  // Adds bytes read from the stream. ResourceExhausted when a frame announces more than
  // kMaxFrameBytes (the decoder is then unusable).
  Result<void> Append(std::string_view bytes);
  // The next complete payload, if one has arrived.
  std::optional<std::string> Next();

 private:
  std::string buffer_;
};

enum class TaskOp {
  kVariableGet,
  kVariableSet,
  kConnectionGet,
  kXComPush,
  kXComPull,
  kDefer,
  kTriggerEventGet,
};

struct TaskRequest {
  TaskOp op = TaskOp::kVariableGet;
  std::string key;    // variable key, conn_id, XCom key, or defer: the trigger kind
  std::string value;  // variable.set: the text; xcom.push: the value as JSON text; defer:
                      // the trigger's arguments (a JSON object's text)
  std::optional<int64_t> timeout_seconds;  // defer: the trigger's timeout
  std::string task_id;                     // xcom.pull: whose XCom; empty = the task's own
  std::optional<int> map_index;            // xcom.pull: absent = the task's own map index
};

// The request as a frame payload. InvalidArgument when a value it carries as JSON (an
// XCom value, a trigger's arguments) is not JSON under the strict rules of
// json/strict_json.h (a duplicate member name included).
Result<std::string> EncodeTaskRequest(const TaskRequest& request);
// InvalidArgument naming the problem (unknown op, missing or mistyped field, an
// xcom.push value that is not JSON).
Result<TaskRequest> ParseTaskRequest(std::string_view payload);

// A reply: result_json on success, else the error.
std::string EncodeTaskReply(const Result<std::string>& result_json);
// The result's JSON text, or the error the supervisor sent. InvalidArgument when the
// payload is not a reply.
Result<std::string> ParseTaskReply(std::string_view payload);

// Blocking frame I/O on a stream socket (the client side; the supervisor uses
// FrameDecoder on non-blocking fds). ReadFrame: Unavailable on EOF or error.
Result<void> WriteFrame(int fd, std::string_view payload);
Result<std::string> ReadFrame(int fd);

// Sends `fd` as SCM_RIGHTS in one message on the SEQPACKET `channel_fd` (a connection's
// end, or the launcher's request file).
Result<void> SendFd(int channel_fd, int fd);
// Receives one message from `channel_fd` and returns the fd it carried (close-on-exec).
// With `wait` it blocks until a message comes; without, NotFound when none is waiting.
// InvalidArgument when the message carried no fd (extra fds are closed); Unavailable when
// the peer is gone.
Result<int> ReceiveFd(int channel_fd, bool wait);
// ReceiveFd without waiting, and InvalidArgument unless the fd is a socket.
Result<int> ReceiveConnection(int channel_fd);

}  // namespace airlock::supervisor

#pragma once
// Request and Response as handlers see them: plain structs, no Beast types, so handlers
// are pure functions that are unit-tested without sockets.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airlock::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Whether two header names are the same name (ASCII case-insensitive, as in HTTP).
bool SameHeaderName(std::string_view a, std::string_view b);

// The first value of header `name` (case-insensitive), or empty.
std::string_view FindHeader(const Headers& headers, std::string_view name);

struct Request {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded path, no query
  std::string query;   // raw query string without '?'
  Headers headers;
  std::string body;
  std::string remote_address;
  std::string request_id;  // the correlation-id: echoed from the client or generated
  bool tls = false;

  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  void SetHeader(std::string name, std::string value);
  std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }

  // A JSON response: the body as given, Content-Type application/json.
  static Response Json(int status, std::string body);
  // {"detail": "<detail>"} with the detail JSON-escaped.
  static Response Detail(int status, std::string_view detail);
  static Response NoContent();
};

using Handler = std::function<Response(const Request&)>;

// Delivers the response of an asynchronous handler: call it once, from any thread. The
// Request being answered stays valid until then.
using Respond = std::move_only_function<void(Response)>;
// A handler that may answer later, e.g. once a batched database write has been made, so
// that the I/O thread serves other connections meanwhile.
using AsyncHandler = std::function<void(const Request&, Respond)>;

// The event loop of one of a Server's I/O threads. A component that answers requests from
// a thread of its own can hand the answers back to the I/O thread that took them, many in
// one task, so that the answer is written, and what the request allocated is freed, on
// that thread.
class EventLoop {
 public:
  // Runs `task` on the loop's thread, after what is queued there.
  virtual void Post(std::move_only_function<void()> task) = 0;

 protected:
  ~EventLoop() = default;
};
// The loop of the I/O thread that calls it; nullptr on any other thread.
EventLoop* ThisThreadsEventLoop();

// The answer to `request` when its handler threw: 500 {"detail":"Internal Server Error"},
// and what the handler threw written to the process log (through its masker). Call it
// inside a catch block.
Response HandlerThrew(const Request& request);

// `s` as a JSON string literal, quotes included; bytes that are not UTF-8 become U+FFFD.
std::string JsonQuote(std::string_view s);

}  // namespace airlock::http

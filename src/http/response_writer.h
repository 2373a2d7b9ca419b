#pragma once
// The bytes of an HTTP/1.1 response, written by the server in one send.

#include <string>
#include <string_view>

#include "http/message.h"

namespace airlock::http {

// Replaces `out` with `response` as HTTP/1.1: the status line, "Server: airlock" (unless
// the response names its own), the response's headers, a correlation-id when
// `request_id` is not empty, Content-Length, "Connection: close" unless `keep_alive`, and
// the body. The server owns the framing: Content-Length, Transfer-Encoding and Connection
// headers of the response are not written. A header set twice is written once, with its
// last value. A header whose name is not an HTTP token, or whose value holds CR, LF or
// NUL, is not written (it could split the response). 1xx, 204 and 304 have no body and
// no Content-Length.
void WriteResponse(const Response& response, bool keep_alive, std::string_view request_id,
                   std::string& out);

}  // namespace airlock::http

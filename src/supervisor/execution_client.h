#pragma once
// ExecutionClient: the supervisor's side of the Execution API (SPEC §4). It holds the
// task's token, sends it as a Bearer token on every call and swaps in the token of any
// Refreshed-API-Token header, so a long task never outlives its token. The token is
// never logged and never appears in an error message (http::Send names URLs without
// their query, and tokens travel in a header).
//
// Not thread-safe: one supervisor, one thread, one client.

#include <string>
#include <string_view>

#include "common/error.h"
#include "http/client.h"

namespace airlock::supervisor {

struct ExecutionReply {
  int status = 0;
  std::string body;
};

class ExecutionClient {
 public:
  // `base_url`: the Execution API's root, e.g. "http://localhost:8080/execution/" (a
  // trailing slash is optional).
  ExecutionClient(std::string base_url, std::string token, http::ClientOptions options = {});

  // One call: `path` is appended to the base URL ("/variables/x"). Any HTTP status is a
  // reply; transport failures are errors (Unavailable, DeadlineExceeded, …).
  Result<ExecutionReply> Call(std::string_view method, std::string_view path,
                              std::string_view body = {});

  // How many times a Refreshed-API-Token replaced the token.
  int token_refreshes() const { return token_refreshes_; }
  // For the supervisor to register the current token with the masker after a refresh.
  const std::string& token() const { return token_; }

 private:
  std::string base_url_;
  std::string token_;
  http::ClientOptions options_;
  int token_refreshes_ = 0;
};

// `segment` percent-encoded for use as one URL path segment (RFC 3986 unreserved
// characters are kept; everything else, '/' included, is %XX).
std::string EncodePathSegment(std::string_view segment);

}  // namespace airlock::supervisor

#pragma once
// A small blocking HTTP/1.1 client for control-plane calls: fetching a JWKS today,
// Execution API calls from supervisors later. http:// and https:// (TLS 1.2+, peer
// certificate and host name verified against the system CAs or a given CA file).
// No redirects are followed; bodies are capped. One request per call; safe to call from
// any number of threads (no shared state).

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace airlock::http {

struct ClientOptions {
  std::chrono::milliseconds timeout{10000};  // whole request: connect + write + read
  size_t max_body_bytes = 1 << 20;
  std::string ca_file;  // PEM bundle to trust instead of the system store; empty = system
  // Read the status line and headers only, then close: the body is never read (and
  // ClientResponse::body stays empty), so its size does not matter. For status probes
  // such as the triggerer's HTTP triggers.
  bool headers_only = false;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header with this name (case-insensitive), or empty.
  std::string Header(std::string_view name) const;
  // For messages about an error answer: its {"detail": …} (the text, or the JSON of a
  // structured detail), or "HTTP <status>" when the body has none.
  std::string Detail() const;
};

// Sends one request. Errors: InvalidArgument for a bad URL or scheme, Unavailable for
// connect/TLS/read failures, DeadlineExceeded on timeout, ResourceExhausted for a body
// over max_body_bytes. Error messages name the URL without its userinfo or query.
Result<ClientResponse> Send(const ClientRequest& request, const ClientOptions& options = {});

// GET `url` and return the body; any status other than 200 is an Unavailable error that
// names the status.
Result<std::string> FetchUrl(const std::string& url, const ClientOptions& options = {});

// Whether Send() would speak TLS to `url`: an https URL as Send() parses it (false for a
// URL it would refuse).
bool UsesTls(const std::string& url);

}  // namespace airlock::http

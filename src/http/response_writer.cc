#include "http/response_writer.h"

#include <boost/beast/http/status.hpp>
#include <charconv>
#include <ostream>  // Boost.Beast's status.hpp uses std::ostream and does not include it

namespace airlock::http {
namespace {

// RFC 9110 token characters.
bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool IsSafeValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsFraming(std::string_view name) {
  return SameHeaderName(name, "Content-Length") || SameHeaderName(name, "Transfer-Encoding") ||
         SameHeaderName(name, "Connection");
}

void AppendNumber(std::string& out, size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

void WriteResponse(const Response& response, bool keep_alive, std::string_view request_id,
                   std::string& out) {
  const int status = response.status;
  const bool bodyless = (status >= 100 && status < 200) || status == 204 || status == 304;
  out.clear();
  out.append("HTTP/1.1 ");
  AppendNumber(out, static_cast<size_t>(status));
  out.push_back(' ');
  out.append(boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status)));
  out.append("\r\n");

  const auto& headers = response.headers;
  if (FindHeader(headers, "Server").empty()) AppendHeader(out, "Server", "airlock");
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, value] = headers[i];
    if (IsFraming(name) || !IsToken(name) || !IsSafeValue(value)) continue;
    if (!request_id.empty() && SameHeaderName(name, "correlation-id")) continue;
    bool replaced = false;
    for (size_t j = i + 1; j < headers.size() && !replaced; ++j) {
      replaced = SameHeaderName(headers[j].first, name);
    }
    if (!replaced) AppendHeader(out, name, value);
  }
  if (!request_id.empty()) AppendHeader(out, "correlation-id", request_id);
  if (!bodyless) {
    out.append("Content-Length: ");
    AppendNumber(out, response.body.size());
    out.append("\r\n");
  }
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!bodyless) out.append(response.body);
}

}  // namespace airlock::http

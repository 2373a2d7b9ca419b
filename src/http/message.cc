#include "http/message.h"

#include <strings.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <exception>
#include <string>

#include "common/log.h"
#include "common/utf8.h"

namespace airlock::http {

Response HandlerThrew(const Request& request) {
  // Through the process log, whose masker sees the line: an exception's text may quote
  // what the handler was working on.
  std::string what = "an exception that is not a std::exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  LogError("handler for " + request.method + " " + request.path + " threw: " + what);
  return Response::Detail(500, "Internal Server Error");
}

bool SameHeaderName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (SameHeaderName(k, name)) return v;
  }
  return {};
}

void Response::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (SameHeaderName(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Response Response::Detail(int status, std::string_view detail) {
  return Json(status, "{\"detail\":" + JsonQuote(detail) + "}");
}

Response Response::NoContent() {
  Response r;
  r.status = 204;
  return r;
}

std::string JsonQuote(std::string_view s) {
  // Boost.JSON writes a string's bytes as they are: bytes that are not UTF-8 (a request's
  // path quoted in a message, say) would make the document invalid JSON.
  if (FirstInvalidUtf8(s) != std::string_view::npos) {
    return boost::json::serialize(boost::json::string(ValidUtf8(s)));
  }
  return boost::json::serialize(boost::json::string(s));
}

}  // namespace airlock::http

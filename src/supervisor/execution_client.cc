#include "supervisor/execution_client.h"

#include <cctype>

namespace airlock::supervisor {

ExecutionClient::ExecutionClient(std::string base_url, std::string token,
                                 http::ClientOptions options)
    : base_url_(std::move(base_url)), token_(std::move(token)), options_(std::move(options)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

Result<ExecutionReply> ExecutionClient::Call(std::string_view method, std::string_view path,
                                             std::string_view body) {
  http::ClientRequest request{
      .method = std::string(method),
      .url = base_url_ + std::string(path),
      .headers = {{"Authorization", "Bearer " + token_}, {"Accept", "application/json"}},
      .body = std::string(body)};
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  auto response = http::Send(request, options_);
  if (!response) return std::unexpected(response.error());
  std::string refreshed = response->Header("Refreshed-API-Token");
  if (!refreshed.empty()) {
    token_ = std::move(refreshed);
    ++token_refreshes_;
  }
  return ExecutionReply{.status = response->status, .body = std::move(response->body)};
}

std::string EncodePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace airlock::supervisor

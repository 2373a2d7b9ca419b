#include "execution_api/auth.h"

#include <strings.h>

#include <algorithm>

namespace airlock::execution_api {

std::string_view TokenTypeName(TokenType type) {
  switch (type) {
    case TokenType::kWorkload:
      return "workload";
    case TokenType::kExecution:
      break;
    case TokenType::kDagProcessor:
      return "dag_processor";
    case TokenType::kTriggerer:
      return "triggerer";
    case TokenType::kTrigger:
      return "trigger";
  }
  return "execution";
}

std::expected<std::string_view, http::Response> BearerToken(const http::Request& request) {
  std::string_view header = request.Header("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      strncasecmp(header.data(), kScheme.data(), kScheme.size()) != 0) {
    return std::unexpected(http::Response::Detail(401, "Missing auth token"));
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty()) return std::unexpected(http::Response::Detail(401, "Missing auth token"));
  return token;
}

std::expected<Caller, Refusal> Authenticate(const http::Request& request,
                                            const jwt::Validator& validator,
                                            const RoutePolicy& policy, std::string_view ti_id) {
  auto token = BearerToken(request);
  if (!token) return std::unexpected(Refusal{std::move(token.error()), nullptr});
  auto validated = validator.ValidateShared(*token);
  if (!validated) {
    return std::unexpected(Refusal{
        http::Response::Detail(403, "Invalid auth token: " + validated.error().message), nullptr});
  }
  const jwt::Claims* claims = validated->get();
  // From here on the token is valid: a refusal carries its claims.
  auto refuse = [&validated](std::string detail) {
    return std::unexpected(Refusal{http::Response::Detail(403, std::move(detail)), *validated});
  };
  Caller caller;
  if (!claims->scope || *claims->scope == "execution") {
    caller.type = TokenType::kExecution;
  } else if (*claims->scope == "workload") {
    caller.type = TokenType::kWorkload;
  } else if (*claims->scope == "dag_processor") {
    caller.type = TokenType::kDagProcessor;
  } else if (*claims->scope == "triggerer") {
    caller.type = TokenType::kTriggerer;
  } else if (*claims->scope == "trigger") {
    caller.type = TokenType::kTrigger;
  } else {
    // The scope comes from a correctly signed token, but it is still echoed only if it is
    // short and printable.
    std::string shown = claims->scope->substr(0, 64);
    bool printable =
        std::all_of(shown.begin(), shown.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    return refuse("Invalid token scope: " + (printable ? shown : "?"));
  }
  if (std::find(policy.allowed_types.begin(), policy.allowed_types.end(), caller.type) ==
      policy.allowed_types.end()) {
    std::string allowed;
    for (TokenType t : policy.allowed_types) {
      if (!allowed.empty()) allowed += ", ";
      allowed += TokenTypeName(t);
    }
    return refuse("Token type '" + std::string(TokenTypeName(caller.type)) +
                  "' not allowed for this endpoint. Allowed types: " + allowed);
  }
  // Compared as views: value_or("") would copy the subject into a new string.
  if (policy.ti_self && (claims->sub ? std::string_view(*claims->sub) : "") != ti_id) {
    return refuse("Token subject does not match task instance ID");
  }
  caller.claims = std::move(*validated);
  return caller;
}

bool ShouldReissue(const Caller& caller, int64_t now, int64_t validity_seconds) {
  if (caller.type != TokenType::kExecution) return false;
  const int64_t threshold = std::max<int64_t>(validity_seconds / 5, 30);
  return caller.claims->exp - now <= threshold;
}

}  // namespace airlock::execution_api

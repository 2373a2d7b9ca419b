#pragma once
// Authentication of Execution API requests: the only code that reads the Authorization
// header of /execution routes. Pure functions over a Request and the validated claims,
// so every rule of SPEC §4 is unit-tested without sockets.

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "jwt/claims.h"
#include "jwt/validator.h"

namespace airlock::execution_api {

// The token types (the JWT "scope" claim). A token without "scope" is kExecution.
// kDagProcessor ("dag_processor") is the dag-processor's token: not tied to a task
// instance, it carries a "bundles" claim (the Dag bundles it may submit Dags for) and is
// accepted only on the /dags routes. kTriggerer ("triggerer") is the triggerer's token,
// accepted only to claim and renew trigger leases; kTrigger ("trigger") is one trigger's
// token (sub = its task instance, "trigger_id" claim), accepted only to report that
// trigger's event or failure (trigger_routes.h).
enum class TokenType { kWorkload, kExecution, kDagProcessor, kTriggerer, kTrigger };
std::string_view TokenTypeName(TokenType type);

// What a route accepts.
struct RoutePolicy {
  std::vector<TokenType> allowed_types = {TokenType::kExecution};
  // The route has an {id} task-instance parameter that the token's "sub" must equal.
  bool ti_self = false;
};

// An authenticated caller.
struct Caller {
  std::shared_ptr<const jwt::Claims> claims;  // never null; shared with the token cache
  TokenType type = TokenType::kExecution;
};

// The bearer token of `request`, or a 401 {"detail":"Missing auth token"} when the
// header is absent or not "Bearer <token>" (scheme case-insensitive, as RFC 7235 says).
std::expected<std::string_view, http::Response> BearerToken(const http::Request& request);

// A request Authenticate refuses: the answer, and the token's claims when the token
// itself validated (refused for its scope, type or subject), so that the refusal is
// audited with the jti of the token that made it.
struct Refusal {
  http::Response response;
  std::shared_ptr<const jwt::Claims> claims;  // null unless the token validated
};

// Validates the token and applies the policy: 403 "Invalid auth token: <reason>",
// "Invalid token scope: <x>", "Token type '…' not allowed for this endpoint. Allowed
// types: …", or "Token subject does not match task instance ID" (when ti_self and
// `ti_id` differ from "sub").
std::expected<Caller, Refusal> Authenticate(const http::Request& request,
                                            const jwt::Validator& validator,
                                            const RoutePolicy& policy, std::string_view ti_id);

// The reissue rule: a response to an execution token carries a fresh token when
// exp − now ≤ max(int(0.2 × validity_seconds), 30). Only for execution tokens: never for
// workload tokens, nor for dag_processor and triggerer tokens (long-lived, rotated by
// reconfiguring them), nor for trigger tokens (renewed with their lease).
bool ShouldReissue(const Caller& caller, int64_t now, int64_t validity_seconds);

}  // namespace airlock::execution_api

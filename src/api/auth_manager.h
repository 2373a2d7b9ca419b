#pragma once
// SimpleAuthManager: authentication of the REST API, the UI and the CLI (SPEC §3).
// It is the only code that reads the Authorization header or the `_token` cookie of
// /api/v2, /auth and the UI, and it mints REST tokens (claims jti, iss, aud, sub, role,
// iat, nbf = iat, exp).
//
// Where a token is read, in this order:
//  1. `Authorization: Bearer <token>`. A bearer token alone decides: a bad, expired or
//     revoked one is refused even if a good cookie came with it, so a request acts as
//     the identity its client chose and a stale token never looks valid because a
//     browser also held a cookie.
//  2. the `_token` cookie (the UI), when there is no bearer token: no Authorization
//     header, or one of another scheme (a browser behind a proxy's Basic
//     authentication sends one with every request).
// Tokens in query parameters are never read: URLs end up in access logs, browser history
// and Referer headers.
//
// Answers: no token → 401 {"detail":"Not authenticated"}; an expired one → 401
// {"detail":"Token Expired"}; any other invalid token, a revoked one, one without jti,
// sub or a known role, or one whose user has been deleted → 403 {"detail":"Invalid JWT
// token"}. An authenticated caller without the role a route needs → 403
// {"detail":"Forbidden"}. The caller's role is the lower of the token's and the user's
// current one, so a demotion takes effect at once.
// Revocation is checked in the database on every request, so a logout is honoured at once
// by every api-server sharing it.
//
// Thread-safety: every method may be called from any number of threads.

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/login_limiter.h"
#include "api/passwords.h"
#include "api/roles.h"
#include "common/clock.h"
#include "execution_api/audit_writer.h"
#include "http/message.h"
#include "http/router.h"
#include "jwt/signer.h"
#include "jwt/validator.h"
#include "store/store.h"

namespace airlock::api {

inline constexpr std::string_view kTokenCookie = "_token";
// [api_auth] jwt_audience when it is not set.
inline constexpr std::string_view kDefaultAudience = "urn:airlock:api";

enum class TokenSource { kNone, kHeader, kCookie };
struct FoundToken {
  TokenSource source = TokenSource::kNone;
  std::string_view token;  // empty for kNone
};
// The token of `request` by the rules above.
FoundToken FindToken(const http::Request& request);

// The value of cookie `name` in the request's Cookie header(s), or empty.
std::string_view CookieValue(const http::Request& request, std::string_view name);

// True when a cookie token has under 20 % of its validity (exp − iat) left.
bool CookieRefreshDue(const jwt::Claims& claims, int64_t now);

// Set-Cookie values: the token for `max_age_seconds`, and one that clears it.
// HttpOnly (no script reads it), SameSite=Lax (not sent with cross-site POSTs), Path=/,
// and Secure when the request came over TLS.
std::string TokenCookie(std::string_view token, int64_t max_age_seconds, bool secure);
std::string ClearedTokenCookie(bool secure);

struct Principal {
  std::string username;
  Role role = Role::kViewer;
  jwt::Claims claims;
  TokenSource source = TokenSource::kNone;
};

struct AuthOptions {
  std::string audience = std::string(kDefaultAudience);  // [api_auth] jwt_audience
  std::optional<std::string> issuer;                     // [api_auth] jwt_issuer
  int64_t token_lifetime_seconds = 86400;                // jwt_expiration_time
  int64_t cli_token_lifetime_seconds = 3600;             // jwt_cli_expiration_time
  LoginLimits login_limits;
  // Costs of the dummy hash that unknown users are checked against; use the costs real
  // hashes are made with, so that both take the same time.
  PasswordHashOptions password_hash;
  std::string component = "api-server";  // named in audit entries
};

class SimpleAuthManager {
 public:
  // `validator` must check `options.audience`. `audit` may be null. Everything must
  // outlive the manager. Internal if the dummy hash cannot be made.
  static Result<std::unique_ptr<SimpleAuthManager>> Create(
      store::Store& store, const jwt::Validator& validator, const jwt::TokenSigner& signer,
      const Clock& clock, execution_api::AuditWriter* audit, AuthOptions options);

  // POST /auth/token and /auth/token/cli (JSON or form body {"username","password"} →
  // 201 {"access_token"}; 400 "Username and password must be provided"; 401 "Invalid
  // credentials"; 429 after too many failures), POST /auth/login (the UI's: the same, but
  // the token goes into the `_token` cookie and the answer is 204), POST /auth/logout
  // (revokes the caller's token → 204) and GET /auth/logout (the UI's: revokes the cookie's
  // token if it is still valid, clears the cookie, 303 to /login).
  void AddRoutes(http::Router& router) const;

  // The caller of `request`, or the 401/403 answer described above (503 if revocation
  // cannot be checked: the store is down, and failing open is not an option).
  std::expected<Principal, http::Response> Authenticate(const http::Request& request) const;
  // Authenticate, then 403 {"detail":"Forbidden"} unless the caller has `role`.
  std::expected<Principal, http::Response> Authorize(const http::Request& request, Role role) const;

  // Adds a fresh `_token` cookie to `response` when the caller came with a cookie whose
  // token is due for refresh (CookieRefreshDue).
  void MaybeRefreshCookie(const Principal& principal, const http::Request& request,
                          http::Response* response) const;

  // A REST token for `username` with `role`, valid for `ttl_seconds`.
  Result<std::string> Mint(std::string_view username, Role role, int64_t ttl_seconds) const;

  // Appends one audit entry for `request` (jti and sub from `principal` if given, else
  // `sub`, e.g. the user name of a failed login, made printable and cut to 64 bytes).
  void Audit(const http::Request& request, const Principal* principal, int status,
             std::string_view sub = {}) const;

  const AuthOptions& options() const { return options_; }

 private:
  SimpleAuthManager(store::Store& store, const jwt::Validator& validator,
                    const jwt::TokenSigner& signer, const Clock& clock,
                    execution_api::AuditWriter* audit, AuthOptions options, std::string dummy_hash);

  http::Response Login(const http::Request& request, int64_t ttl_seconds, bool set_cookie) const;
  http::Response Logout(const http::Request& request, bool ui) const;

  store::Store& store_;
  const jwt::Validator& validator_;
  const jwt::TokenSigner& signer_;
  const Clock& clock_;
  execution_api::AuditWriter* audit_;
  const AuthOptions options_;
  const std::string dummy_hash_;
  mutable LoginRateLimiter limiter_;
};

}  // namespace airlock::api

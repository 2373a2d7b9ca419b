#include "api/auth_manager.h"

#include <strings.h>

#include <algorithm>
#include <boost/json.hpp>

#include "api/form.h"
#include "common/log.h"
#include "http/json_checks.h"
#include "store/checks.h"

namespace airlock::api {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kNotAuthenticated = "Not authenticated";
constexpr std::string_view kTokenExpired = "Token Expired";
constexpr std::string_view kInvalidToken = "Invalid JWT token";
constexpr std::string_view kMissingCredentials = "Username and password must be provided";
constexpr std::string_view kInvalidCredentials = "Invalid credentials";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The credentials of a login body: JSON {"username","password"} or a form. nullopt when
// either is missing, not a string, or empty.
struct Credentials {
  std::string username;
  std::string password;
  ~Credentials() { WipePassword(password); }
};
std::optional<Credentials> ParseCredentials(const Request& request) {
  Credentials credentials;
  // A JSON object or a form, told apart by the body itself: clients such as curl -d label
  // JSON as a form, and a form never starts with '{'.
  const size_t first = request.body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || request.body[first] != '{') {
    auto fields = ParseForm(request.body);
    if (!fields) return std::nullopt;
    auto username = FormValue(*fields, "username");
    auto password = FormValue(*fields, "password");
    if (!username || !password) return std::nullopt;
    credentials.username = std::move(*username);
    credentials.password = std::move(*password);
    for (auto& [name, value] : *fields) WipePassword(value);
  } else {
    auto body = http::ParseRequestJson(request.body, "Request body");
    if (!body || !body->is_object()) return std::nullopt;
    const json::value* username = body->as_object().if_contains("username");
    const json::value* password = body->as_object().if_contains("password");
    if (username == nullptr || password == nullptr || !username->is_string() ||
        !password->is_string()) {
      return std::nullopt;
    }
    credentials.username = std::string(username->as_string());
    credentials.password = std::string(password->as_string());
  }
  if (credentials.username.empty() || credentials.password.empty()) return std::nullopt;
  return credentials;
}

// A user name as it may appear in the audit log: printable ASCII, at most 64 bytes.
std::string Printable(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

FoundToken FindToken(const Request& request) {
  std::string_view header = Trim(request.Header("Authorization"));
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() > kScheme.size() &&
      strncasecmp(header.data(), kScheme.data(), kScheme.size()) == 0) {
    std::string_view token = Trim(header.substr(kScheme.size()));
    if (!token.empty()) return {TokenSource::kHeader, token};
  }
  std::string_view cookie = CookieValue(request, kTokenCookie);
  if (!cookie.empty()) return {TokenSource::kCookie, cookie};
  return {};
}

std::string_view CookieValue(const Request& request, std::string_view name) {
  for (const auto& [header, value] : request.headers) {
    if (strcasecmp(header.c_str(), "Cookie") != 0) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = Trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || Trim(pair.substr(0, eq)) != name) continue;
      std::string_view v = Trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return {};
}

bool CookieRefreshDue(const jwt::Claims& claims, int64_t now) {
  const int64_t validity = claims.exp - claims.iat;
  if (validity <= 0) return false;
  // remaining < 0.2 × validity, in integers: 5 × remaining < validity.
  const int64_t remaining = claims.exp - now;
  return 5 * remaining < validity;
}

std::string TokenCookie(std::string_view token, int64_t max_age_seconds, bool secure) {
  std::string cookie = std::string(kTokenCookie) + "=" + std::string(token) +
                       "; Path=/; Max-Age=" + std::to_string(max_age_seconds) +
                       "; HttpOnly; SameSite=Lax";
  if (secure) cookie += "; Secure";
  return cookie;
}

std::string ClearedTokenCookie(bool secure) {
  std::string cookie = std::string(kTokenCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax";
  if (secure) cookie += "; Secure";
  return cookie;
}

Result<std::unique_ptr<SimpleAuthManager>> SimpleAuthManager::Create(
    store::Store& store, const jwt::Validator& validator, const jwt::TokenSigner& signer,
    const Clock& clock, execution_api::AuditWriter* audit, AuthOptions options) {
  // The dummy hash is of a random password nobody knows, made with the real costs.
  auto dummy_password = GeneratePassword();
  if (!dummy_password) return std::unexpected(dummy_password.error());
  auto dummy_hash = HashPassword(*dummy_password, options.password_hash);
  WipePassword(*dummy_password);
  if (!dummy_hash) return std::unexpected(dummy_hash.error());
  return std::unique_ptr<SimpleAuthManager>(new SimpleAuthManager(
      store, validator, signer, clock, audit, std::move(options), std::move(*dummy_hash)));
}

SimpleAuthManager::SimpleAuthManager(store::Store& store, const jwt::Validator& validator,
                                     const jwt::TokenSigner& signer, const Clock& clock,
                                     execution_api::AuditWriter* audit, AuthOptions options,
                                     std::string dummy_hash)
    : store_(store),
      validator_(validator),
      signer_(signer),
      clock_(clock),
      audit_(audit),
      options_(std::move(options)),
      dummy_hash_(std::move(dummy_hash)),
      limiter_(store, clock, options_.login_limits) {}

Result<std::string> SimpleAuthManager::Mint(std::string_view username, Role role,
                                            int64_t ttl_seconds) const {
  return signer_.Mint({.sub = std::string(username),
                       .aud = {options_.audience},
                       .iss = options_.issuer,
                       .ttl_seconds = ttl_seconds,
                       .role = std::string(RoleName(role))});
}

void SimpleAuthManager::Audit(const Request& request, const Principal* principal, int status,
                              std::string_view sub) const {
  if (audit_ == nullptr) return;
  // The temporaries live until Append() has copied them.
  audit_->Append({
      .time = clock_.NowMicros(),
      .component = options_.component,
      .jti = principal && principal->claims.jti ? std::string_view(*principal->claims.jti) : "",
      .sub = principal ? principal->username : Printable(sub),
      .method = request.method,
      .path = Printable(request.path.substr(0, 512)),
      .status = status,
  });
}

std::expected<Principal, Response> SimpleAuthManager::Authenticate(const Request& request) const {
  FoundToken found = FindToken(request);
  if (found.source == TokenSource::kNone) {
    return std::unexpected(Response::Detail(401, kNotAuthenticated));
  }
  auto claims = validator_.Validate(found.token);
  if (!claims) {
    if (claims.error().failure == jwt::Failure::kExpired) {
      return std::unexpected(Response::Detail(401, kTokenExpired));
    }
    return std::unexpected(Response::Detail(403, kInvalidToken));
  }
  // A token that cannot be revoked (no jti, or one the store cannot hold: airlock mints
  // UUIDs) or names no user or role is not ours.
  std::optional<Role> token_role = claims->role ? ParseRole(*claims->role) : std::nullopt;
  if (!claims->jti || claims->jti->empty() || !store::IsStorableText(*claims->jti) ||
      !claims->sub || claims->sub->empty() || !token_role) {
    return std::unexpected(Response::Detail(403, kInvalidToken));
  }
  auto revoked = store_.IsTokenRevoked(*claims->jti);
  if (!revoked) return std::unexpected(Response::Detail(503, "Service Unavailable"));
  if (*revoked) return std::unexpected(Response::Detail(403, kInvalidToken));
  auto user = store_.GetUser(*claims->sub);
  if (!user && user.error().code() != ErrorCode::kNotFound) {
    return std::unexpected(Response::Detail(503, "Service Unavailable"));
  }
  std::optional<Role> current_role = user ? ParseRole(user->role) : std::nullopt;
  if (!current_role) return std::unexpected(Response::Detail(403, kInvalidToken));
  // Issued before the user's last password change, or to an earlier user of the name.
  if (claims->iat < user->tokens_valid_after) {
    return std::unexpected(Response::Detail(403, kInvalidToken));
  }
  Principal principal;
  principal.username = *claims->sub;
  principal.role = std::min(*token_role, *current_role);
  principal.claims = std::move(*claims);
  principal.source = found.source;
  return principal;
}

std::expected<Principal, Response> SimpleAuthManager::Authorize(const Request& request,
                                                                Role role) const {
  auto principal = Authenticate(request);
  if (principal && !HasRole(principal->role, role)) {
    return std::unexpected(Response::Detail(403, "Forbidden"));
  }
  return principal;
}

void SimpleAuthManager::MaybeRefreshCookie(const Principal& principal, const Request& request,
                                           Response* response) const {
  if (principal.source != TokenSource::kCookie) return;
  if (!CookieRefreshDue(principal.claims, clock_.NowSeconds())) return;
  auto token = Mint(principal.username, principal.role, options_.token_lifetime_seconds);
  if (!token) return;  // the old cookie still works until it expires
  response->SetHeader("Set-Cookie",
                      TokenCookie(*token, options_.token_lifetime_seconds, request.tls));
}

Response SimpleAuthManager::Login(const Request& request, int64_t ttl_seconds,
                                  bool set_cookie) const {
  auto credentials = ParseCredentials(request);
  if (!credentials) {
    Audit(request, nullptr, 400);
    return Response::Detail(400, kMissingCredentials);
  }
  const std::string& username = credentials->username;
  auto retry_after = limiter_.RetryAfterSeconds(username, request.remote_address);
  if (!retry_after) {
    LogError("reading failed logins: " + retry_after.error().message());
    return Response::Detail(503, "Service Unavailable");
  }
  if (*retry_after > 0) {
    Audit(request, nullptr, 429, username);
    Response response = Response::Detail(429, "Too many failed login attempts, try again later");
    response.SetHeader("Retry-After", std::to_string(*retry_after));
    return response;
  }
  auto user = store_.GetUser(username);
  if (!user && user.error().code() != ErrorCode::kNotFound) {
    return Response::Detail(503, "Service Unavailable");
  }
  // An unknown user costs one verification too, so that timing does not tell which
  // names exist; the answer is the same either way.
  bool ok = VerifyPassword(user ? user->password_hash : dummy_hash_, credentials->password);
  std::optional<Role> role = user ? ParseRole(user->role) : std::nullopt;
  if (!ok || !user || !role) {
    if (auto counted = limiter_.RecordFailure(username, request.remote_address); !counted) {
      LogError("counting a failed login: " + counted.error().message());
    }
    Audit(request, nullptr, 401, username);
    return Response::Detail(401, kInvalidCredentials);
  }
  if (auto cleared = limiter_.RecordSuccess(username); !cleared) {
    LogError("clearing failed logins: " + cleared.error().message());
  }
  auto token = Mint(username, *role, ttl_seconds);
  if (!token) return Response::Detail(500, "Internal Server Error");
  Response response;
  if (set_cookie) {
    response = Response::NoContent();
    response.SetHeader("Set-Cookie", TokenCookie(*token, ttl_seconds, request.tls));
  } else {
    response = Response::Json(201, json::serialize(json::object{{"access_token", *token}}));
  }
  response.SetHeader("Cache-Control", "no-store");
  Audit(request, nullptr, response.status, username);
  return response;
}

Response SimpleAuthManager::Logout(const Request& request, bool ui) const {
  auto principal = Authenticate(request);
  Response response;
  if (principal) {
    if (auto revoked = store_.RevokeToken(*principal->claims.jti, principal->claims.exp);
        !revoked) {
      // Not logged out: say so rather than pretend.
      Audit(request, &*principal, 503);
      return Response::Detail(503, "Service Unavailable");
    }
  }
  if (ui) {
    // The UI's logout always ends at the login page with the cookie gone, even when the
    // token was already expired or revoked.
    response.status = 303;
    response.SetHeader("Location", "/login");
  } else if (!principal) {
    response = principal.error();
  } else {
    response = Response::NoContent();
  }
  response.SetHeader("Set-Cookie", ClearedTokenCookie(request.tls));
  Audit(request, principal ? &*principal : nullptr, response.status);
  return response;
}

void SimpleAuthManager::AddRoutes(http::Router& router) const {
  router.Add("POST", "/auth/token", [this](const Request& r, const http::PathParams&) {
    return Login(r, options_.token_lifetime_seconds, false);
  });
  router.Add("POST", "/auth/token/cli", [this](const Request& r, const http::PathParams&) {
    return Login(r, options_.cli_token_lifetime_seconds, false);
  });
  router.Add("POST", "/auth/login", [this](const Request& r, const http::PathParams&) {
    return Login(r, options_.token_lifetime_seconds, true);
  });
  router.Add("POST", "/auth/logout",
             [this](const Request& r, const http::PathParams&) { return Logout(r, false); });
  router.Add("GET", "/auth/logout",
             [this](const Request& r, const http::PathParams&) { return Logout(r, true); });
}

}  // namespace airlock::api

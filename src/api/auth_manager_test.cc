// SPEC §3 rules, one test per answer: every status/message pair, token claims and
// lifetimes, where tokens are read (header beats cookie; a bad header is not rescued by a
// good cookie; no query tokens), logout and revocation, the cookie and its refresh
// threshold, failed-login limits and their audit, and password hashing.

#include "api/auth_manager.h"

#include <gtest/gtest.h>

#include "api/api_test_fixture.h"
#include "api/form.h"
#include "api/login_limiter.h"
#include "api/passwords.h"
#include "api/users.h"
#include "jwt/base64url.h"

namespace airlock::api::testing {
namespace {

namespace json = boost::json;

using AuthTest = ApiTest;

TEST_F(AuthTest, TokenForJsonCredentialsIs201WithRestClaims) {
  auto response = Call("POST", "/auth/token", R"({"username":"op","password":"op-password"})");
  ASSERT_EQ(response.status, 201) << response.body;
  auto body = json::parse(response.body).as_object();
  ASSERT_EQ(body.size(), 1u);
  auto claims = Payload(std::string(body.at("access_token").as_string()));
  EXPECT_EQ(claims.at("sub").as_string(), "op");
  EXPECT_EQ(claims.at("role").as_string(), "OP");
  EXPECT_EQ(claims.at("aud").as_string(), kDefaultAudience);
  EXPECT_EQ(claims.at("iat").as_int64(), kNow);
  EXPECT_EQ(claims.at("nbf").as_int64(), kNow);
  EXPECT_EQ(claims.at("exp").as_int64(), kNow + 86400);
  EXPECT_EQ(claims.at("jti").as_string().size(), 32u);
  EXPECT_EQ(response.Header("Cache-Control"), "no-store");
}

TEST_F(AuthTest, TokenForFormCredentials) {
  auto response = Call("POST", "/auth/token", "username=viewer&password=viewer-password",
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(response.status, 201) << response.body;
}

TEST_F(AuthTest, CliTokenLivesJwtCliExpirationTime) {
  auto response =
      Call("POST", "/auth/token/cli", R"({"username":"admin","password":"admin-password"})");
  ASSERT_EQ(response.status, 201);
  auto token = json::parse(response.body).at("access_token").as_string();
  EXPECT_EQ(Payload(std::string(token)).at("exp").as_int64(), kNow + 3600);
}

TEST_F(AuthTest, MissingFieldIs400) {
  for (std::string body :
       {R"({"username":"op"})", R"({"password":"x"})", R"({})", "", "not json",
        R"({"username":"op","password":""})", R"({"username":1,"password":"op-password"})", "[]",
        R"({"username":"op","password":"op-password","username":"admin"})"}) {
    auto response = Call("POST", "/auth/token", body);
    EXPECT_EQ(response.status, 400) << body;
    EXPECT_EQ(response.body, R"({"detail":"Username and password must be provided"})") << body;
  }
  auto form = Call("POST", "/auth/token/cli", "username=op",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 400);
}

TEST_F(AuthTest, WrongPasswordAndUnknownUserAreAnsweredAlike) {
  auto wrong = Call("POST", "/auth/token", R"({"username":"op","password":"nope"})");
  auto unknown = Call("POST", "/auth/token", R"({"username":"ghost","password":"nope"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body, R"({"detail":"Invalid credentials"})");
  EXPECT_EQ(unknown.status, wrong.status);
  EXPECT_EQ(unknown.body, wrong.body);
  EXPECT_EQ(unknown.headers, wrong.headers);
}

TEST_F(AuthTest, NoTokenIs401NotAuthenticated) {
  auto response = Call("GET", "/api/v2/dags");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.body, R"({"detail":"Not authenticated"})");
}

TEST_F(AuthTest, QueryTokenIsNotRead) {
  std::string token = Login("viewer");
  auto response = Call("GET", "/api/v2/dags?token=" + token);
  EXPECT_EQ(response.status, 401);
  response = Call("GET", "/api/v2/dags?access_token=" + token);
  EXPECT_EQ(response.status, 401);
}

TEST_F(AuthTest, ExpiredTokenIs401TokenExpired) {
  std::string token = Login("viewer");
  clock_.Advance(86400 + 11);  // past exp and the 10 s leeway
  auto response = Call("GET", "/api/v2/dags", "", Bearer(token));
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.body, R"({"detail":"Token Expired"})");
}

TEST_F(AuthTest, InvalidTokensAre403InvalidJwtToken) {
  std::string good = Login("viewer");
  std::string tampered = good;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  auto wrong_audience =
      signer_->Mint({.sub = "viewer", .aud = {"urn:airflow.apache.org:task"}, .role = "VIEWER"});
  auto no_role = signer_->Mint({.sub = "viewer", .aud = {std::string(kDefaultAudience)}});
  auto bad_role =
      signer_->Mint({.sub = "viewer", .aud = {std::string(kDefaultAudience)}, .role = "ROOT"});
  auto deleted_user =
      signer_->Mint({.sub = "gone", .aud = {std::string(kDefaultAudience)}, .role = "ADMIN"});
  for (const std::string& token : {tampered, std::string("not-a-token"), *wrong_audience, *no_role,
                                   *bad_role, *deleted_user}) {
    auto response = Call("GET", "/api/v2/dags", "", Bearer(token));
    EXPECT_EQ(response.status, 403) << token;
    EXPECT_EQ(response.body, R"({"detail":"Invalid JWT token"})");
  }
}

TEST_F(AuthTest, RoleIsTheLowerOfTokenAndCurrentUser) {
  std::string token = Login("admin");
  ASSERT_EQ(Call("GET", "/api/v2/auditLog", "", Bearer(token)).status, 200);
  ASSERT_TRUE(store_->DeleteUser("admin").has_value());
  ASSERT_TRUE(store_->CreateUser({.username = "admin", .password_hash = "x", .role = "VIEWER"})
                  .has_value());
  auto response = Call("GET", "/api/v2/auditLog", "", Bearer(token));
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(response.body, R"({"detail":"Forbidden"})");
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(token)).status, 200);
}

// A password change refuses the tokens issued before it, on their next request; a token
// issued after it (also within the same second) is accepted.
TEST_F(AuthTest, APasswordChangeRefusesTheUsersEarlierTokens) {
  std::string before = Login("viewer");
  std::string other = Login("admin");
  clock_.Advance(5);
  ASSERT_EQ(Call("GET", "/api/v2/dags", "", Bearer(before)).status, 200);
  ASSERT_TRUE(
      SetUserPassword(*store_, "viewer", "new-password", PasswordHashOptions::ForTests(), clock_)
          .has_value());
  auto refused = Call("GET", "/api/v2/dags", "", Bearer(before));
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body, R"({"detail":"Invalid JWT token"})");
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Cookie(before)).status, 403);
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(other)).status, 200);  // another user's

  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(Login("viewer", "new-password"))).status, 200);
}

// A user deleted and created again under the same name does not inherit the tokens of
// the one before.
TEST_F(AuthTest, AUserCreatedAgainRefusesTheTokensOfTheEarlierOne) {
  std::string earlier = Login("viewer");
  ASSERT_TRUE(store_->DeleteUser("viewer").has_value());
  clock_.Advance(60);
  ASSERT_TRUE(CreateUser(*store_, "viewer", Role::kViewer, "another-password",
                         PasswordHashOptions::ForTests(), clock_)
                  .has_value());
  auto refused = Call("GET", "/api/v2/dags", "", Bearer(earlier));
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body, R"({"detail":"Invalid JWT token"})");
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(Login("viewer", "another-password"))).status,
            200);
}

TEST_F(AuthTest, HeaderBeatsCookie) {
  std::string viewer = Login("viewer"), admin = Login("admin");
  http::Headers both = Bearer(viewer);
  both.emplace_back("Cookie", "_token=" + admin);
  // The header's identity (VIEWER) is used, not the cookie's (ADMIN).
  EXPECT_EQ(Call("GET", "/api/v2/auditLog", "", both).status, 403);
  EXPECT_EQ(Call("GET", "/api/v2/auditLog", "", Cookie(admin)).status, 200);
}

TEST_F(AuthTest, BadBearerTokenIsNotRescuedByGoodCookie) {
  std::string good = Login("admin");
  http::Headers headers{{"Authorization", "Bearer garbage"}, {"Cookie", "_token=" + good}};
  auto refused = Call("GET", "/api/v2/dags", "", headers);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(Detail(refused), "Invalid JWT token");
  // An expired header token is refused even with a fresh cookie.
  std::string old = Login("admin");
  clock_.Advance(86400 + 11);
  std::string fresh = Login("admin");
  auto response = Call("GET", "/api/v2/dags", "",
                       {{"Authorization", "Bearer " + old}, {"Cookie", "_token=" + fresh}});
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(Detail(response), "Token Expired");
}

// Without a bearer token the cookie is read (SPEC §3's order): a browser behind a proxy's
// Basic authentication sends an Authorization header of another scheme with every request.
TEST_F(AuthTest, CookieIsReadWhenTheAuthorizationHeaderHoldsNoBearerToken) {
  std::string viewer = Login("viewer");
  for (std::string header : {"Basic YWRtaW46eA==", "Bearer ", "Token x", ""}) {
    http::Headers headers{{"Authorization", header}, {"Cookie", "_token=" + viewer}};
    EXPECT_EQ(Call("GET", "/api/v2/dags", "", headers).status, 200) << header;
    // Without the cookie there is no token at all.
    auto none = Call("GET", "/api/v2/dags", "", {{"Authorization", header}});
    EXPECT_EQ(none.status, 401) << header;
    EXPECT_EQ(Detail(none), "Not authenticated") << header;
  }
}

TEST_F(AuthTest, FindTokenOrderAndCookieParsing) {
  auto r = MakeRequest("GET", "/", "", {{"Cookie", "a=1; _token=\"abc\"; b=2"}});
  EXPECT_EQ(FindToken(r).source, TokenSource::kCookie);
  EXPECT_EQ(FindToken(r).token, "abc");
  r.headers.emplace_back("authorization", "bearer  xyz ");
  EXPECT_EQ(FindToken(r).source, TokenSource::kHeader);
  EXPECT_EQ(FindToken(r).token, "xyz");
  EXPECT_EQ(CookieValue(MakeRequest("GET", "/", "", {{"Cookie", "x_token=1"}}), "_token"), "");
}

TEST_F(AuthTest, LogoutRevokesAtOnce) {
  std::string token = Login("viewer");
  ASSERT_EQ(Call("GET", "/api/v2/dags", "", Bearer(token)).status, 200);
  auto logout = Call("POST", "/auth/logout", "", Bearer(token));
  EXPECT_EQ(logout.status, 204);
  EXPECT_EQ(logout.Header("Set-Cookie").substr(0, 17), "_token=; Path=/; ");
  auto jti = Payload(token).at("jti").as_string();
  EXPECT_TRUE(store_->IsTokenRevoked(std::string(jti)).value());
  auto after = Call("GET", "/api/v2/dags", "", Bearer(token));
  EXPECT_EQ(after.status, 403);
  EXPECT_EQ(after.body, R"({"detail":"Invalid JWT token"})");
  // Logging out again with the revoked token is refused like any other use of it.
  EXPECT_EQ(Call("POST", "/auth/logout", "", Bearer(token)).status, 403);
  EXPECT_EQ(Call("POST", "/auth/logout").status, 401);
}

// A revoked token's row outlives its exp for as long as a validator may still accept the
// token (its leeway, twice over for the clocks' skew): purged at exp, the token would
// pass again until exp + leeway.
TEST_F(AuthTest, PurgingKeepsARevokedTokenRefusedWhileItsLeewayLasts) {
  const int64_t leeway = jwt::kDefaultLeewaySeconds;  // the fixture's validator's
  RevokedTokenPurger purger(*store_, clock_, std::chrono::hours(1), std::chrono::seconds(leeway),
                            [](const Error& e) { ADD_FAILURE() << e.message(); });
  const std::string token = Login("viewer");
  const int64_t exp = Payload(token).at("exp").as_int64();
  ASSERT_EQ(Call("POST", "/auth/logout", "", Bearer(token)).status, 204);
  const std::string jti(Payload(token).at("jti").as_string());

  clock_.Set(exp + leeway - 1);  // expired, but still inside the validator's leeway
  purger.PurgeOnce();
  EXPECT_TRUE(store_->IsTokenRevoked(jti).value());
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(token)).status, 403);

  clock_.Set(exp + 2 * leeway);  // the row's last second
  purger.PurgeOnce();
  EXPECT_TRUE(store_->IsTokenRevoked(jti).value());

  clock_.Set(exp + 2 * leeway + 1);
  purger.PurgeOnce();
  EXPECT_FALSE(store_->IsTokenRevoked(jti).value());
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(token)).status, 401);  // Token Expired
}

// A correctly signed token whose jti the store could not hold could never be revoked
// (RevokeToken refuses it), so it is refused outright, on every store.
TEST_F(AuthTest, ATokenWhoseJtiCannotBeRevokedIsRefused) {
  const std::string token = Login("viewer");
  auto payload = Payload(token);
  const auto key = jwt::Key::FromSecret(kSecret, std::nullopt, "").value();
  auto resigned = [&](const std::string& jti) {
    payload["jti"] = jti;
    std::string out = token.substr(0, token.find('.')) + "." +
                      jwt::Base64UrlEncode(boost::json::serialize(payload));
    return out + "." + jwt::Base64UrlEncode(key->Sign(out).value());
  };
  // The same token signed again with a new, ordinary jti is accepted: the signing is right.
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Bearer(resigned("another-jti"))).status, 200);
  // "a\u0000b" in the payload: valid JSON, so only this rule can refuse it. (Bytes that
  // are not UTF-8 make the payload invalid JSON, which the validator refuses first.)
  auto r = Call("GET", "/api/v2/dags", "", Bearer(resigned(std::string("a\0b", 3))));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"Invalid JWT token"})");
}

TEST_F(AuthTest, RevocationSharedThroughTheStoreIsSeenByAnotherManager) {
  // A second api-server: its own validator and manager over the same store.
  auto other = SimpleAuthManager::Create(*store_, *validator_, *signer_, clock_, nullptr,
                                         {.password_hash = PasswordHashOptions::ForTests()})
                   .value();
  std::string token = Login("viewer");
  auto request = MakeRequest("GET", "/api/v2/dags", "", Bearer(token));
  ASSERT_TRUE(other->Authenticate(request).has_value());
  ASSERT_EQ(Call("POST", "/auth/logout", "", Bearer(token)).status, 204);
  auto refused = other->Authenticate(request);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().status, 403);
}

TEST_F(AuthTest, UiLogoutRevokesTheCookieAndRedirects) {
  std::string token = Login("viewer");
  auto response = Call("GET", "/auth/logout", "", Cookie(token));
  EXPECT_EQ(response.status, 303);
  EXPECT_EQ(response.Header("Location"), "/login");
  EXPECT_NE(response.Header("Set-Cookie").find("Max-Age=0"), std::string_view::npos);
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Cookie(token)).status, 403);
  // Without a (valid) cookie it still ends at the login page.
  EXPECT_EQ(Call("GET", "/auth/logout").status, 303);
}

TEST_F(AuthTest, UiLoginSetsAHardenedCookie) {
  auto response = Call("POST", "/auth/login", R"({"username":"user","password":"user-password"})");
  ASSERT_EQ(response.status, 204) << response.body;
  EXPECT_TRUE(response.body.empty());
  std::string cookie(response.Header("Set-Cookie"));
  EXPECT_TRUE(cookie.starts_with("_token=ey")) << cookie;
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos);
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("; SameSite=Lax"), std::string::npos);
  EXPECT_NE(cookie.find("; Max-Age=86400"), std::string::npos);
  EXPECT_EQ(cookie.find("Secure"), std::string::npos);  // plain HTTP

  auto request =
      MakeRequest("POST", "/auth/login", R"({"username":"user","password":"user-password"})");
  request.tls = true;
  EXPECT_NE(router_.Route(request).Header("Set-Cookie").find("; Secure"), std::string_view::npos);
  auto wrong = Call("POST", "/auth/login", R"({"username":"user","password":"x"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(wrong.Header("Set-Cookie").empty());
}

TEST_F(AuthTest, CookieRefreshThreshold) {
  jwt::Claims claims;
  claims.iat = 1000;
  claims.exp = 1000 + 86400;  // 20 % = 17280 s
  EXPECT_FALSE(CookieRefreshDue(claims, claims.exp - 17281));
  EXPECT_FALSE(CookieRefreshDue(claims, claims.exp - 17280));  // exactly 20 %: not under
  EXPECT_TRUE(CookieRefreshDue(claims, claims.exp - 17279));
  EXPECT_TRUE(CookieRefreshDue(claims, claims.exp));
}

TEST_F(AuthTest, CookieIsRefreshedUnderTwentyPercentOnly) {
  std::string token = Login("viewer");
  clock_.Advance(86400 - 17280);  // 20 % left: not yet
  auto response = Call("GET", "/api/v2/dags", "", Cookie(token));
  ASSERT_EQ(response.status, 200);
  EXPECT_TRUE(response.Header("Set-Cookie").empty());
  clock_.Advance(1);  // under 20 %
  response = Call("GET", "/api/v2/dags", "", Cookie(token));
  ASSERT_EQ(response.status, 200);
  std::string cookie(response.Header("Set-Cookie"));
  ASSERT_TRUE(cookie.starts_with("_token=")) << cookie;
  std::string fresh = cookie.substr(7, cookie.find(';') - 7);
  EXPECT_EQ(Payload(fresh).at("exp").as_int64(), clock_.NowSeconds() + 86400);
  EXPECT_EQ(Payload(fresh).at("sub").as_string(), "viewer");
  EXPECT_EQ(Call("GET", "/api/v2/dags", "", Cookie(fresh)).status, 200);
  // The UI's page refreshes it as the API does.
  auto page = Call("GET", "/", "", Cookie(token));
  ASSERT_EQ(page.status, 200);
  cookie = page.Header("Set-Cookie");
  ASSERT_TRUE(cookie.starts_with("_token=")) << cookie;
  EXPECT_EQ(Payload(cookie.substr(7, cookie.find(';') - 7)).at("exp").as_int64(),
            clock_.NowSeconds() + 86400);
  EXPECT_TRUE(Call("GET", "/", "", Cookie(fresh)).Header("Set-Cookie").empty());
  // A bearer token is never "refreshed" with a cookie.
  EXPECT_TRUE(Call("GET", "/api/v2/dags", "", Bearer(token)).Header("Set-Cookie").empty());
}

TEST_F(AuthTest, FailedLoginsAreRateLimitedPerUser) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Call("POST", "/auth/token", R"({"username":"op","password":"x"})").status, 401);
  }
  // Limited: even the right password is not checked, and an unknown name answers alike.
  auto limited = Call("POST", "/auth/token", R"({"username":"op","password":"op-password"})");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Header("Retry-After"), "60");
  for (int i = 0; i < 3; ++i) Call("POST", "/auth/token", R"({"username":"ghost","password":"x"})");
  auto ghost = Call("POST", "/auth/token", R"({"username":"ghost","password":"x"})");
  EXPECT_EQ(ghost.status, 429);
  EXPECT_EQ(ghost.body, limited.body);
  clock_.Advance(60);
  EXPECT_EQ(Call("POST", "/auth/token", R"({"username":"op","password":"op-password"})").status,
            201);
}

TEST_F(AuthTest, FailedLoginsAreRateLimitedPerAddress) {
  for (int i = 0; i < 5; ++i) {
    Call("POST", "/auth/token",
         R"({"username":"spray-)" + std::to_string(i) + R"(","password":"x"})");
  }
  EXPECT_EQ(Call("POST", "/auth/token", R"({"username":"user","password":"user-password"})").status,
            429);
  auto elsewhere =
      MakeRequest("POST", "/auth/token", R"({"username":"user","password":"user-password"})");
  elsewhere.remote_address = "198.51.100.7";
  EXPECT_EQ(router_.Route(elsewhere).status, 201);
}

TEST_F(AuthTest, LoginLimiterForgetsAfterSuccessAndBoundsRetryAfter) {
  LoginRateLimiter limiter(*store_, clock_,
                           {.max_failures_per_user = 2,
                            .max_failures_per_address = 100,
                            .window = std::chrono::seconds(30)});
  ASSERT_TRUE(limiter.RecordFailure("a", "ip").has_value());
  EXPECT_EQ(limiter.RetryAfterSeconds("a", "ip").value(), 0);
  ASSERT_TRUE(limiter.RecordSuccess("a").has_value());
  ASSERT_TRUE(limiter.RecordFailure("a", "ip").has_value());
  EXPECT_EQ(limiter.RetryAfterSeconds("a", "ip").value(), 0);
  ASSERT_TRUE(limiter.RecordFailure("a", "ip").has_value());
  EXPECT_EQ(limiter.RetryAfterSeconds("a", "ip").value(), 30);
  clock_.Advance(29);
  EXPECT_EQ(limiter.RetryAfterSeconds("a", "ip").value(), 1);
  clock_.Advance(1);
  EXPECT_EQ(limiter.RetryAfterSeconds("a", "ip").value(), 0);
}

// SPEC §9: nothing in a request depends on the api-server it lands on. A second api-server
// (its own manager and limiter over the same database) sees the failures the first
// counted, and a success on either clears the user's count for both.
TEST_F(AuthTest, FailedLoginsAreCountedAcrossApiServersSharingTheDatabase) {
  AuthOptions options;
  options.password_hash = PasswordHashOptions::ForTests();
  options.login_limits = {.max_failures_per_user = 3,
                          .max_failures_per_address = 5,
                          .window = std::chrono::seconds(60)};
  auto other =
      SimpleAuthManager::Create(*store_, *validator_, *signer_, clock_, nullptr, options).value();
  http::Router other_router;
  other->AddRoutes(other_router);
  auto attempt = [](http::Router& router, const std::string& password) {
    auto request = MakeRequest("POST", "/auth/token",
                               R"({"username":"user","password":")" + password + R"("})");
    return router.Route(request).status;
  };
  // Two failures here, one there: the user's limit of three is reached on both.
  EXPECT_EQ(attempt(router_, "wrong"), 401);
  EXPECT_EQ(attempt(router_, "wrong"), 401);
  EXPECT_EQ(attempt(other_router, "wrong"), 401);
  EXPECT_EQ(attempt(router_, "user-password"), 429);
  EXPECT_EQ(attempt(other_router, "user-password"), 429);
  // After the window, a success on one clears the count the other reads.
  clock_.Advance(60);
  EXPECT_EQ(attempt(other_router, "wrong"), 401);
  EXPECT_EQ(attempt(other_router, "wrong"), 401);
  EXPECT_EQ(attempt(router_, "user-password"), 201);
  EXPECT_EQ(attempt(other_router, "wrong"), 401);
  EXPECT_EQ(attempt(router_, "wrong"), 401);
  EXPECT_EQ(attempt(other_router, "user-password"), 201);
}

TEST_F(AuthTest, LoginsAreAuditedWithoutPasswords) {
  Call("POST", "/auth/token", R"({"username":"op","password":"wrong-password-123"})");
  Call("POST", "/auth/token", R"({"username":"op","password":"op-password"})");
  ASSERT_TRUE(audit_->Flush().has_value());
  auto entries = store_->ListAudit(10, 0).value();
  ASSERT_GE(entries.size(), 2u);
  EXPECT_EQ(entries[1].sub, "op");
  EXPECT_EQ(entries[1].status, 401);
  EXPECT_EQ(entries[1].path, "/auth/token");
  EXPECT_EQ(entries[0].status, 201);
  for (const auto& e : entries) {
    for (const std::string& field : {e.sub, e.path, e.jti, e.method}) {
      EXPECT_EQ(field.find("password"), std::string::npos);
    }
  }
}

TEST_F(AuthTest, PasswordsAreArgon2idHashesOnly) {
  auto user = store_->GetUser("op").value();
  EXPECT_TRUE(user.password_hash.starts_with("$argon2id$")) << user.password_hash;
  EXPECT_EQ(user.password_hash.find("op-password"), std::string::npos);
  EXPECT_TRUE(VerifyPassword(user.password_hash, "op-password"));
  EXPECT_FALSE(VerifyPassword(user.password_hash, "op-passwor"));
  EXPECT_FALSE(VerifyPassword("garbage", "op-password"));
  EXPECT_FALSE(HashPassword("", PasswordHashOptions::ForTests()).has_value());
  EXPECT_FALSE(
      HashPassword(std::string(kMaxPasswordBytes + 1, 'x'), PasswordHashOptions::ForTests())
          .has_value());
  auto a = GeneratePassword().value(), b = GeneratePassword().value();
  EXPECT_EQ(a.size(), 20u);
  EXPECT_NE(a, b);
}

TEST(UsersTest, ParseUserSpec) {
  auto users = ParseUserSpec(" admin:ADMIN, bob:viewer ,,carol:Op").value();
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[0], (std::pair<std::string, Role>{"admin", Role::kAdmin}));
  EXPECT_EQ(users[1], (std::pair<std::string, Role>{"bob", Role::kViewer}));
  EXPECT_EQ(users[2], (std::pair<std::string, Role>{"carol", Role::kOp}));
  EXPECT_FALSE(ParseUserSpec("admin").has_value());
  EXPECT_FALSE(ParseUserSpec("admin:ROOT").has_value());
  EXPECT_FALSE(ParseUserSpec(":ADMIN").has_value());
  EXPECT_TRUE(ParseUserSpec("").value().empty());
}

TEST(UsersTest, FirstStartCreatesSeededUsersOnceWithGeneratedPasswords) {
  FakeClock clock(kNow);
  auto store = std::move(store::OpenStore("memory://").value());
  auto hashing = PasswordHashOptions::ForTests();
  auto first = EnsureInitialUsers(*store, "admin:ADMIN,viewer:VIEWER", hashing, clock).value();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].username, "admin");
  auto admin = store->GetUser("admin").value();
  EXPECT_EQ(admin.role, "ADMIN");
  EXPECT_TRUE(VerifyPassword(admin.password_hash, first[0].password));
  EXPECT_EQ(store->GetUser("viewer")->role, "VIEWER");
  // Second start: nothing new, no password printed again.
  EXPECT_TRUE(EnsureInitialUsers(*store, "admin:ADMIN,viewer:VIEWER", hashing, clock)->empty());
}

TEST(UsersTest, NoSeedAndNoUsersMeansAnAdmin) {
  FakeClock clock(kNow);
  auto store = std::move(store::OpenStore("memory://").value());
  auto created = EnsureInitialUsers(*store, "", PasswordHashOptions::ForTests(), clock).value();
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].username, "admin");
  EXPECT_EQ(store->GetUser("admin")->role, "ADMIN");
}

TEST(FormTest, DecodesPlusAndPercent) {
  auto fields = ParseForm("username=a+b&password=p%40ss%2Bword&empty=").value();
  EXPECT_EQ(FormValue(fields, "username"), "a b");
  EXPECT_EQ(FormValue(fields, "password"), "p@ss+word");
  EXPECT_EQ(FormValue(fields, "empty"), "");
  EXPECT_FALSE(ParseForm("a=%4").has_value());
  EXPECT_FALSE(ParseForm("a=%zz").has_value());
}

}  // namespace
}  // namespace airlock::api::testing

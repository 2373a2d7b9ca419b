#pragma once
// A REST API over the in-memory store with a FakeClock, an HS512 key and one user per
// role (password "<name>-password"), for the unit tests of this module.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>

#include "api/auth_manager.h"
#include "api/rest_api.h"
#include "api/ui.h"
#include "api/users.h"
#include "execution_api/audit_writer.h"
#include "testing/temp_dir.h"

namespace airlock::api::testing {

inline constexpr int64_t kNow = 1'800'000'000;
inline constexpr char kSecret[] =
    "unit-test-secret-of-at-least-sixty-four-bytes-for-hs512-0123456789abcdef";

class ApiTest : public ::testing::Test {
 protected:
  ~ApiTest() override { std::filesystem::remove_all(log_dir_); }
  void SetUp() override {
    store_ = std::move(store::OpenStore(StoreUrl(), {.fernet_key = std::string(40, 'f')}).value());
    ASSERT_TRUE(store_->Migrate().has_value());
    keys_ = std::make_shared<jwt::StaticKeySource>(
        jwt::KeySet::Single(jwt::Key::FromSecret(kSecret, std::nullopt, "").value()));
    validator_ =
        jwt::Validator::Create(keys_, {.audiences = {std::string(kDefaultAudience)}}, clock_)
            .value();
    signer_ = std::make_unique<jwt::TokenSigner>(keys_, clock_);
    audit_ = std::make_unique<execution_api::AuditWriter>(*store_,
                                                          execution_api::AuditWriter::Options{});
    AuthOptions options;
    options.password_hash = PasswordHashOptions::ForTests();
    options.login_limits = {.max_failures_per_user = 3,
                            .max_failures_per_address = 5,
                            .window = std::chrono::seconds(60)};
    auth_ = SimpleAuthManager::Create(*store_, *validator_, *signer_, clock_, audit_.get(), options)
                .value();
    for (Role role : {Role::kViewer, Role::kUser, Role::kOp, Role::kAdmin}) {
      std::string name(RoleName(role));
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      ASSERT_TRUE(CreateUser(*store_, name, role, name + "-password",
                             PasswordHashOptions::ForTests(), clock_)
                      .has_value());
    }
    rest_ = std::make_unique<RestApi>(*store_, *auth_, clock_,
                                      RestApiOptions{.base_log_folder = log_dir_});
    auth_->AddRoutes(router_);
    rest_->AddRoutes(router_);
    AddUiRoutes(router_, *auth_);
  }

  static http::Request MakeRequest(std::string method, std::string target, std::string body = "",
                                   http::Headers headers = {}) {
    http::Request request;
    request.method = std::move(method);
    request.target = target;
    size_t q = target.find('?');
    request.path = target.substr(0, q);
    if (q != std::string::npos) request.query = target.substr(q + 1);
    request.body = std::move(body);
    request.headers = std::move(headers);
    request.remote_address = "192.0.2.1";
    return request;
  }

  http::Response Call(std::string method, std::string target, std::string body = "",
                      http::Headers headers = {}) {
    return router_.Route(
        MakeRequest(std::move(method), std::move(target), std::move(body), std::move(headers)));
  }

  // A token for `username` from POST /auth/token (with the password it was created with,
  // unless another is given).
  std::string Login(const std::string& username, std::string password = "") {
    if (password.empty()) password = username + "-password";
    auto response = Call("POST", "/auth/token",
                         R"({"username":")" + username + R"(","password":")" + password + R"("})");
    EXPECT_EQ(response.status, 201) << response.body;
    return std::string(boost::json::parse(response.body).at("access_token").as_string());
  }

  static http::Headers Bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  static http::Headers Cookie(const std::string& token) {
    return {{"Cookie", "theme=dark; _token=" + token}};
  }
  static std::string Detail(const http::Response& r) {
    auto v = boost::json::parse(r.body);
    return std::string(v.as_object().at("detail").as_string());
  }
  static boost::json::object Payload(const std::string& token) {
    auto decoded = jwt::DecodeUnverified(token);
    EXPECT_TRUE(decoded.has_value());
    return boost::json::parse(decoded->payload).as_object();
  }

  // The store the fixture runs on; a subclass may choose a database file in db_dir_.
  virtual std::string StoreUrl() { return "memory://"; }

  test::TempDir db_dir_{"airlock-api-db"};  // declared before store_, so it outlives it
  FakeClock clock_{kNow};
  // A directory of its own per test, so that tests run in parallel (ctest -j) never share
  // or delete each other's task logs.
  static std::string MakeLogDir() {
    std::string dir = ::testing::TempDir() + "/airlock-api-test-logs-XXXXXX";
    EXPECT_NE(::mkdtemp(dir.data()), nullptr);
    return dir;
  }
  std::string log_dir_ = MakeLogDir();
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<jwt::StaticKeySource> keys_;
  std::unique_ptr<jwt::Validator> validator_;
  std::unique_ptr<jwt::TokenSigner> signer_;
  std::unique_ptr<execution_api::AuditWriter> audit_;
  std::unique_ptr<SimpleAuthManager> auth_;
  std::unique_ptr<RestApi> rest_;
  http::Router router_;
};

}  // namespace airlock::api::testing

#pragma once
// The simple auth manager's users in the store: seeding at first start, and the
// operations behind `airlock users …`. Passwords are hashed here (argon2id) and never
// stored, logged or returned in clear.

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/passwords.h"
#include "api/roles.h"
#include "common/clock.h"
#include "common/error.h"
#include "store/store.h"

namespace airlock::api {

// [core] simple_auth_manager_users: comma-separated "name:ROLE" pairs ("admin:ADMIN,
// bob:VIEWER"); spaces around items are ignored. InvalidArgument naming the bad item.
Result<std::vector<std::pair<std::string, Role>>> ParseUserSpec(std::string_view spec);

struct GeneratedPassword {
  std::string username;
  std::string password;
};

// Creates every user of `spec` that does not exist yet, each with a generated password,
// and, if the store then holds no user at all, an "admin" with role ADMIN. Returns the
// generated passwords, for the caller to print once to the console (never to the log).
// A user that another api-server creates at the same moment is skipped (AlreadyExists).
Result<std::vector<GeneratedPassword>> EnsureInitialUsers(store::Store& store,
                                                          std::string_view spec,
                                                          const PasswordHashOptions& hashing,
                                                          const Clock& clock);

// Creates a user; AlreadyExists, InvalidArgument for an empty name or a bad password.
Result<void> CreateUser(store::Store& store, std::string_view username, Role role,
                        std::string_view password, const PasswordHashOptions& hashing,
                        const Clock& clock);
// Sets a user's password; the tokens issued to the user before now are refused from then
// on (store::User::tokens_valid_after). NotFound, InvalidArgument for a bad password.
Result<void> SetUserPassword(store::Store& store, std::string_view username,
                             std::string_view password, const PasswordHashOptions& hashing,
                             const Clock& clock);

// Deletes rows of revoked_token every `interval` (2 × [api_auth] jwt_expiration_time) on a
// background thread, until destroyed. A row goes only once its token can pass no
// validator: twice `leeway` ([api_auth] jwt_leeway) after its exp, since a validator
// accepts a token until exp + leeway by its own clock and this server's clock may run up
// to a leeway ahead of it. Errors go to `on_error`.
class RevokedTokenPurger {
 public:
  RevokedTokenPurger(store::Store& store, const Clock& clock, std::chrono::seconds interval,
                     std::chrono::seconds leeway, std::function<void(const Error&)> on_error);
  ~RevokedTokenPurger();  // stops and joins the thread

  // One pass, as the thread makes it every interval.
  void PurgeOnce();

 private:
  void Loop(std::stop_token stop);

  store::Store& store_;
  const Clock& clock_;
  const std::chrono::seconds interval_;
  const std::chrono::seconds keep_after_exp_;
  const std::function<void(const Error&)> on_error_;
  std::jthread thread_;
};

}  // namespace airlock::api

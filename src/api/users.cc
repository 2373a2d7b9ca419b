#include "api/users.h"

#include "common/thread_name.h"

namespace airlock::api {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::vector<std::pair<std::string, Role>>> ParseUserSpec(std::string_view spec) {
  std::vector<std::pair<std::string, Role>> users;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = Trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (item.empty()) continue;
    size_t colon = item.rfind(':');
    std::string_view name = colon == std::string_view::npos ? item : Trim(item.substr(0, colon));
    std::optional<Role> role =
        colon == std::string_view::npos ? std::nullopt : ParseRole(Trim(item.substr(colon + 1)));
    if (name.empty() || !role) {
      return InvalidArgument("[core] simple_auth_manager_users: '" + std::string(item) +
                             "' is not name:ROLE (ROLE is VIEWER, USER, OP or ADMIN)");
    }
    users.emplace_back(std::string(name), *role);
  }
  return users;
}

Result<void> CreateUser(store::Store& store, std::string_view username, Role role,
                        std::string_view password, const PasswordHashOptions& hashing,
                        const Clock& clock) {
  if (username.empty()) return InvalidArgument("the user name must not be empty");
  auto hash = HashPassword(password, hashing);
  if (!hash) return std::unexpected(hash.error());
  return store.CreateUser({.username = std::string(username),
                           .password_hash = std::move(*hash),
                           .role = std::string(RoleName(role)),
                           .created_at = clock.NowSeconds()});
}

Result<void> SetUserPassword(store::Store& store, std::string_view username,
                             std::string_view password, const PasswordHashOptions& hashing,
                             const Clock& clock) {
  auto hash = HashPassword(password, hashing);
  if (!hash) return std::unexpected(hash.error());
  return store.SetUserPassword(username, *hash, clock.NowSeconds());
}

Result<std::vector<GeneratedPassword>> EnsureInitialUsers(store::Store& store,
                                                          std::string_view spec,
                                                          const PasswordHashOptions& hashing,
                                                          const Clock& clock) {
  auto wanted = ParseUserSpec(spec);
  if (!wanted) return std::unexpected(wanted.error());
  auto existing = store.ListUsers();
  if (!existing) return std::unexpected(existing.error());
  if (existing->empty() && wanted->empty()) wanted->emplace_back("admin", Role::kAdmin);
  std::vector<GeneratedPassword> generated;
  for (const auto& [name, role] : *wanted) {
    bool exists = std::any_of(existing->begin(), existing->end(),
                              [&](const store::User& u) { return u.username == name; });
    if (exists) continue;
    auto password = GeneratePassword();
    if (!password) return std::unexpected(password.error());
    auto created = CreateUser(store, name, role, *password, hashing, clock);
    if (!created && created.error().code() == ErrorCode::kAlreadyExists) {
      WipePassword(*password);
      continue;
    }
    if (!created) return std::unexpected(created.error());
    generated.push_back({.username = name, .password = std::move(*password)});
  }
  return generated;
}

RevokedTokenPurger::RevokedTokenPurger(store::Store& store, const Clock& clock,
                                       std::chrono::seconds interval, std::chrono::seconds leeway,
                                       std::function<void(const Error&)> on_error)
    : store_(store),
      clock_(clock),
      interval_(std::max(interval, std::chrono::seconds(1))),
      keep_after_exp_(2 * std::max(leeway, std::chrono::seconds(0))),
      on_error_(std::move(on_error)),
      thread_([this](std::stop_token stop) {
        NameThisThread("token-purge");
        Loop(stop);
      }) {}

RevokedTokenPurger::~RevokedTokenPurger() { thread_.request_stop(); }

void RevokedTokenPurger::PurgeOnce() {
  const int64_t cutoff = clock_.NowSeconds() - keep_after_exp_.count();
  if (auto purged = store_.PurgeRevokedTokens(cutoff); !purged && on_error_) {
    on_error_(purged.error());
  }
}

void RevokedTokenPurger::Loop(std::stop_token stop) {
  while (SleepUnlessStopped(stop, interval_)) PurgeOnce();
}

}  // namespace airlock::api

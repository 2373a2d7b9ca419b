// airlock users create|list|delete|set-password: the simple auth manager's users, in the
// database that [database] sql_alchemy_conn names (it must be migrated: `airlock db
// migrate`). Passwords are read from stdin with --password-stdin (never from an argument,
// which every user of the machine can read in /proc/<pid>/cmdline), or generated and
// printed once. The store only ever sees the argon2id hash.

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "api/passwords.h"
#include "api/roles.h"
#include "api/users.h"
#include "cli/commands.h"
#include "cli/component.h"
#include "cli/io.h"
#include "common/clock.h"
#include "config/config.h"

namespace airlock::cli {
namespace {

struct UsersArgs {
  std::string config_path;
  std::string username;
  std::string role;
  bool password_stdin = false;
};

std::unique_ptr<store::Store> OpenUserStore(const UsersArgs& args) {
  auto config = config::LoadProcessConfig({.config_path = args.config_path});
  if (!config) Exit(kExitUsage, config.error());
  auto store = OpenConfiguredStore(*config, /*migrate=*/false);
  if (!store) Exit(kExitFailure, store.error());
  return std::move(*store);
}

// The new password: the first line of stdin, or a generated one (printed by the caller).
std::string NewPassword(const UsersArgs& args, bool* generated) {
  *generated = !args.password_stdin;
  if (*generated) {
    auto password = api::GeneratePassword();
    if (!password) Exit(kExitFailure, password.error());
    return std::move(*password);
  }
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) Exit(kExitUsage, "no password on stdin");
  return password;
}

void Create(const UsersArgs& args) {
  auto role = api::ParseRole(args.role);
  if (!role) Exit(kExitUsage, "--role must be VIEWER, USER, OP or ADMIN");
  auto store = OpenUserStore(args);
  bool generated = false;
  std::string password = NewPassword(args, &generated);
  auto created =
      api::CreateUser(*store, args.username, *role, password, {}, SystemClock::Instance());
  if (!created) {
    api::WipePassword(password);
    Exit(kExitFailure, created.error());
  }
  std::cout << "Created user '" << args.username << "' with role " << api::RoleName(*role) << "\n";
  if (generated) std::cout << "Password for user '" << args.username << "': " << password << "\n";
  api::WipePassword(password);
}

void SetPassword(const UsersArgs& args) {
  auto store = OpenUserStore(args);
  bool generated = false;
  std::string password = NewPassword(args, &generated);
  auto set = api::SetUserPassword(*store, args.username, password, {}, SystemClock::Instance());
  if (!set) {
    api::WipePassword(password);
    Exit(kExitFailure, set.error());
  }
  std::cout << "Changed the password of user '" << args.username
            << "'; the tokens issued to it before now are no longer accepted\n";
  if (generated) std::cout << "Password for user '" << args.username << "': " << password << "\n";
  api::WipePassword(password);
}

void List(const UsersArgs& args) {
  auto store = OpenUserStore(args);
  auto users = store->ListUsers();
  if (!users) Exit(kExitFailure, users.error());
  for (const auto& user : *users) std::cout << user.username << "\t" << user.role << "\n";
}

void Delete(const UsersArgs& args) {
  auto store = OpenUserStore(args);
  if (auto deleted = store->DeleteUser(args.username); !deleted) {
    Exit(kExitFailure, deleted.error());
  }
  std::cout << "Deleted user '" << args.username << "'\n";
}

}  // namespace

void RegisterUsersCommands(CLI::App& app) {
  CLI::App* users = app.add_subcommand("users", "Users of the REST API and the UI");
  users->require_subcommand(1);
  auto add = [&](const char* name, const char* help, bool needs_name,
                 void (*run)(const UsersArgs&)) {
    auto args = std::make_shared<UsersArgs>();
    CLI::App* cmd = users->add_subcommand(name, help);
    cmd->add_option("--config", args->config_path,
                    "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
    if (needs_name) cmd->add_option("--username", args->username, "User name")->required();
    cmd->callback([args, run] { run(*args); });
    return std::make_pair(cmd, args);
  };
  auto [create, create_args] = add(
      "create", "Create a user (password from stdin, or generated and printed once)", true, Create);
  create->add_option("--role", create_args->role, "VIEWER, USER, OP or ADMIN")->required();
  create->add_flag("--password-stdin", create_args->password_stdin,
                   "Read the password from the first line of stdin");
  add("list", "List users and their roles", false, List);
  add("delete", "Delete a user (their tokens are refused at once)", true, Delete);
  auto [set, set_args] =
      add("set-password",
          "Set a user's password (from stdin, or generated and printed once); the user's "
          "earlier tokens are refused",
          true, SetPassword);
  set->add_flag("--password-stdin", set_args->password_stdin,
                "Read the password from the first line of stdin");
}

}  // namespace airlock::cli

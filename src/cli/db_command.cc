// airlock db migrate|version
//
// The database is the one that --conn names, else [database] sql_alchemy_conn from the
// configuration (env AIRLOCK__DATABASE__SQL_ALCHEMY_CONN, its _CMD form, the config file,
// then the default sqlite:///$AIRLOCK_HOME/airlock.db). Neither command needs
// [core] fernet_key: they touch only the schema.

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "cli/io.h"
#include "config/config.h"
#include "store/store.h"

namespace airlock::cli {
namespace {

struct DbArgs {
  std::string conn;
  std::string config_path;
};

std::string DatabaseUrl(const DbArgs& args) {
  if (!args.conn.empty()) return args.conn;
  auto config = config::LoadProcessConfig({.config_path = args.config_path});
  if (!config) Exit(kExitUsage, config.error());
  auto url = config->GetString("database", "sql_alchemy_conn");
  if (!url) Exit(kExitUsage, url.error().WithContext("[database] sql_alchemy_conn"));
  return *url;
}

// For a SQLite URL, creates the database's directory if it is missing (0700: the file
// holds password hashes and encrypted connections), so that the first `db migrate` on a
// fresh machine works with the default $AIRLOCK_HOME. Only the last component is created.
void CreateSqliteDirectory(const std::string& url) {
  constexpr std::string_view kScheme = "sqlite:///";
  if (!url.starts_with(kScheme) || url == "sqlite:///:memory:") return;
  std::string path = url.substr(kScheme.size() - 1);
  while (path.starts_with("//")) path.erase(0, 1);
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  const std::string dir = path.substr(0, slash);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    Exit(kExitFailure, "cannot create " + dir + ": " + std::strerror(errno));
  }
}

// `create`: whether a missing SQLite file may be created (only by migrate).
std::unique_ptr<store::Store> Open(const std::string& url, bool create) {
  auto store = store::OpenStore(url, {.create_if_missing = create});
  if (!store) Exit(kExitFailure, store.error());
  return std::move(*store);
}

void Migrate(const DbArgs& args) {
  const std::string url = DatabaseUrl(args);
  CreateSqliteDirectory(url);
  auto store = Open(url, /*create=*/true);
  auto before = store->SchemaVersion();
  if (!before) Exit(kExitFailure, before.error());
  auto after = store->Migrate();
  if (!after) Exit(kExitFailure, after.error());
  const std::string where = store::RedactDatabaseUrl(url);
  if (*before == *after) {
    std::cout << "Database " << where << " is already at schema version " << *after << "\n";
  } else {
    std::cout << "Migrated database " << where << " from schema version " << *before << " to "
              << *after << "\n";
  }
}

void Version(const DbArgs& args) {
  auto store = Open(DatabaseUrl(args), /*create=*/false);
  auto version = store->SchemaVersion();
  if (!version) Exit(kExitFailure, version.error());
  std::cout << "database schema version: " << *version << "\n"
            << "airlock schema version: " << store::kSchemaVersion << "\n";
  if (auto current = store::RequireCurrentSchema(*store); !current) {
    std::cerr << "airlock: " << current.error().message() << "\n";
  }
}

void AddDatabaseFlags(CLI::App* command, DbArgs* args) {
  command->add_option("--conn", args->conn,
                      "Database URL (sqlite:///path, postgresql://…); default: "
                      "[database] sql_alchemy_conn");
  command->add_option("--config", args->config_path,
                      "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
}

}  // namespace

void RegisterDbCommands(CLI::App& app) {
  CLI::App* db = app.add_subcommand("db", "The metadata database's schema");
  db->require_subcommand(1);

  auto migrate_args = std::make_shared<DbArgs>();
  CLI::App* migrate = db->add_subcommand(
      "migrate", "Apply pending schema migrations (refuses a database newer than this airlock)");
  AddDatabaseFlags(migrate, migrate_args.get());
  migrate->callback([migrate_args] { Migrate(*migrate_args); });

  auto version_args = std::make_shared<DbArgs>();
  CLI::App* version = db->add_subcommand(
      "version", "Print the database's schema version and the one this airlock needs");
  AddDatabaseFlags(version, version_args.get());
  version->callback([version_args] { Version(*version_args); });
}

}  // namespace airlock::cli

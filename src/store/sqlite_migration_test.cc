// Migrations over a SQLite database that an earlier airlock left with rows in it.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "store/sql_store.h"
#include "store/sqlite/sqlite_connection.h"
#include "store/store.h"
#include "testing/temp_dir.h"

namespace airlock::store {
namespace {

// Version 5: a user of an earlier version refuses the tokens issued before its creation
// (not before its first password change, which that version did not record).
TEST(SqliteMigrationTest, MigrationFiveDatesEachUsersTokensFromItsCreation) {
  test::TempDir temp("airlock-migration");
  const std::string db = temp.path() + "/airlock.db";
  {
    auto opened = OpenStore("sqlite://" + db, {});
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    auto& sql_store = dynamic_cast<SqlStore&>(**opened);
    ASSERT_EQ(sql_store.MigrateTo(4).value_or(-1), 4);
  }
  {
    auto raw = SqliteConnection::Open(db, std::chrono::seconds(5));
    ASSERT_TRUE(raw.has_value()) << raw.error().ToString();
    ASSERT_TRUE((*raw)
                    ->ExecuteScript(R"(INSERT INTO "user" (username, password_hash, role, )"
                                    R"(created_at) VALUES ('ada', 'h', 'ADMIN', 1000), )"
                                    R"(('bob', 'h', 'VIEWER', 2000))")
                    .has_value());
  }
  auto store = OpenStore("sqlite://" + db, {});
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_EQ((*store)->Migrate().value_or(-1), kSchemaVersion);
  auto ada = (*store)->GetUser("ada");
  ASSERT_TRUE(ada.has_value()) << ada.error().ToString();
  EXPECT_EQ(ada->tokens_valid_after, 1000);
  EXPECT_EQ((*store)->GetUser("bob")->tokens_valid_after, 2000);
}

}  // namespace
}  // namespace airlock::store

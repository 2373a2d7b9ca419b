// What opening a SQLite database does beyond the store contract: the settings
// SqliteConnection::Open makes for the whole process, and when a missing file is created.
#include "store/sqlite/sqlite_connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "store/store.h"
#include "testing/temp_dir.h"

namespace airlock::store {
namespace {

// SQLite keeps no memory statistics: with them, every allocation SQLite makes would take
// one process-wide mutex, shared by the heartbeat and audit writers.
TEST(SqliteConnectionTest, KeepsNoMemoryStatistics) {
  auto connection = SqliteConnection::Open(":memory:", std::chrono::seconds(1), false);
  ASSERT_TRUE(connection.has_value()) << connection.error().ToString();
  ASSERT_TRUE(
      (*connection)->ExecuteScript("CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(100000));"))
      << "the connection works";
  sqlite3_int64 current = -1;
  sqlite3_int64 highwater = -1;
  ASSERT_EQ(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &current, &highwater, 0), SQLITE_OK);
  EXPECT_EQ(current, 0);
  EXPECT_EQ(highwater, 0);
}

class SqliteCreateTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ + "/airlock.db"; }

  test::TempDir temp_{"airlock-create"};
  const std::string dir_ = temp_.path();
};

// A command that only uses a database refuses a missing one, and leaves no empty file
// behind for a later command to mistake for a database.
TEST_F(SqliteCreateTest, AMissingFileIsRefusedAndNotCreatedUnlessAllowed) {
  auto store = OpenStore("sqlite://" + db(), {.create_if_missing = false});
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(store.error().message(), ::testing::HasSubstr("no SQLite database at " + db()));
  EXPECT_THAT(store.error().message(), ::testing::HasSubstr("airlock db migrate"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(SqliteCreateTest, AnExistingFileOpensWithoutCreating) {
  {
    auto created = OpenStore("sqlite://" + db());  // create_if_missing by default
    ASSERT_TRUE(created.has_value()) << created.error().ToString();
    ASSERT_TRUE((*created)->Migrate().has_value());
  }
  auto store = OpenStore("sqlite://" + db(), {.create_if_missing = false});
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_TRUE(RequireCurrentSchema(**store).has_value());
}

}  // namespace
}  // namespace airlock::store

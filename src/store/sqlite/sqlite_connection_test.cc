// Settings that SqliteConnection::Open makes for the whole process.
#include "store/sqlite/sqlite_connection.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>

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

}  // namespace
}  // namespace airlock::store

// A SQLite file database keeps its audit log in a file of its own (store.h:
// kAuditFileSuffix): audit writes and task-table writes each have their file's write lock
// to themselves, and the audit file's checkpoints sync only that file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "store/sql_store.h"
#include "store/sqlite/sqlite_connection.h"
#include "store/store.h"
#include "testing/temp_dir.h"

namespace airlock::store {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

AuditEntry Entry(int64_t n) {
  return AuditEntry{.time = n,
                    .component = "api-server",
                    .jti = "jti-" + std::to_string(n),
                    .sub = "sub-" + std::to_string(n),
                    .method = "PUT",
                    .path = "/execution/task-instances/" + std::to_string(n) + "/heartbeat",
                    .status = 204};
}

class SqliteAuditFileTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ + "/airlock.db"; }
  std::string audit_db() const { return db() + std::string(kAuditFileSuffix); }

  Result<std::unique_ptr<Store>> OpenUnmigrated(std::chrono::milliseconds busy_timeout) {
    return OpenStore("sqlite://" + db(), {.busy_timeout = busy_timeout});
  }
  std::unique_ptr<Store> Open(std::chrono::milliseconds busy_timeout = std::chrono::seconds(5)) {
    auto store = OpenUnmigrated(busy_timeout);
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    if (!store) return nullptr;
    auto migrated = (*store)->Migrate();
    EXPECT_TRUE(migrated.has_value()) << migrated.error().ToString();
    return std::move(*store);
  }
  static std::unique_ptr<SqliteConnection> Raw(const std::string& path) {
    auto connection = SqliteConnection::Open(path, std::chrono::seconds(5));
    EXPECT_TRUE(connection.has_value()) << connection.error().ToString();
    return connection ? std::move(*connection) : nullptr;
  }
  static int64_t Count(SqlConnection& connection, const std::string& sql) {
    auto result = connection.Execute(sql, {});
    EXPECT_TRUE(result.has_value()) << result.error().ToString();
    if (!result || result->rows.empty() || !result->rows[0][0]) return -1;
    return std::stoll(*result->rows[0][0]);
  }
  static int64_t AuditTables(SqlConnection& connection) {
    return Count(connection,
                 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'");
  }

  test::TempDir temp_{"airlock-audit-file"};
  const std::string dir_ = temp_.path();
};

TEST_F(SqliteAuditFileTest, TheAuditLogIsInAFileOfItsOwn) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->AppendAudit(std::vector<AuditEntry>{Entry(1), Entry(2), Entry(3)}).has_value());

  auto main = Raw(db());
  auto audit = Raw(audit_db());
  ASSERT_NE(main, nullptr);
  ASSERT_NE(audit, nullptr);
  EXPECT_EQ(AuditTables(*main), 0);
  EXPECT_EQ(Count(*audit, "SELECT count(*) FROM audit_log"), 3);
  struct stat st {};
  ASSERT_EQ(::stat(audit_db().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  auto listed = store->ListAudit(2, 0);
  ASSERT_TRUE(listed.has_value()) << listed.error().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].jti, "jti-3");
  EXPECT_EQ((*listed)[1].path, "/execution/task-instances/2/heartbeat");
  EXPECT_EQ(store->CountAudit().value_or(-1), 3);
}

// Another process holds the write lock of one file for longer than the busy timeout: the
// store still writes to the other. (With one file, each write below failed as busy.)
TEST_F(SqliteAuditFileTest, AuditAndTaskTableWritersDoNotWaitForEachOther) {
  auto store = Open(std::chrono::milliseconds(200));
  ASSERT_NE(store, nullptr);
  {
    auto main = Raw(db());
    ASSERT_NE(main, nullptr);
    ASSERT_TRUE(main->ExecuteScript("BEGIN IMMEDIATE").has_value());
    EXPECT_TRUE(store->AppendAudit(std::vector<AuditEntry>{Entry(1)}).has_value());
    ASSERT_TRUE(main->ExecuteScript("ROLLBACK").has_value());
  }
  {
    auto audit = Raw(audit_db());
    ASSERT_NE(audit, nullptr);
    ASSERT_TRUE(audit->ExecuteScript("BEGIN IMMEDIATE").has_value());
    EXPECT_TRUE(store->SetVariable({.key = "k", .value = "v"}).has_value());
    EXPECT_FALSE(
        store->AppendAudit(std::vector<AuditEntry>{Entry(2)}).has_value());  // that lock is held
    ASSERT_TRUE(audit->ExecuteScript("ROLLBACK").has_value());
  }
  EXPECT_EQ(store->CountAudit().value_or(-1), 1);
}

// Its one writer checkpoints the audit file after its commits (SQLite's automatic
// checkpoint), with no other writer in the way, so the WAL starts again from its
// beginning. 100000 entries are about 10 MiB of pages; the automatic checkpoint runs at
// 1000 pages (4 MiB).
TEST_F(SqliteAuditFileTest, TheAuditFilesWalStaysShort) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<AuditEntry> batch;
  for (int64_t n = 0; n < 100000; ++n) {
    batch.push_back(Entry(n));
    if (batch.size() == 500) {
      ASSERT_TRUE(store->AppendAudit(batch).has_value());
      batch.clear();
    }
  }
  EXPECT_EQ(store->CountAudit().value_or(-1), 100000);
  std::error_code ec;
  const auto wal = fs::file_size(audit_db() + "-wal", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_LT(wal, 6u << 20);
  EXPECT_GT(fs::file_size(audit_db(), ec), 6u << 20);  // the checkpoints copied the pages
}

// A database that an earlier airlock (schema version 3) wrote its audit log into: the
// migration to version 4 moves every row, with its id and values, and drops the table.
// Ten rows are in the audit file already, as a move interrupted after the audit file
// committed leaves them; they are not copied twice.
TEST_F(SqliteAuditFileTest, MigrationFourMovesTheRowsAnEarlierAirlockWrote) {
  {
    auto opened = OpenUnmigrated(std::chrono::seconds(5));
    ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
    auto& sql_store = dynamic_cast<SqlStore&>(**opened);
    ASSERT_EQ(sql_store.MigrateTo(3).value_or(-1), 3);
  }
  constexpr int64_t kRows = 2500;  // more than one copy round
  {
    auto main = Raw(db());
    ASSERT_NE(main, nullptr);
    ASSERT_TRUE(main->ExecuteScript("BEGIN").has_value());
    for (int64_t n = 1; n <= kRows; ++n) {
      const AuditEntry e = Entry(n);
      const SqlParam params[] = {e.time, e.component, e.jti, e.sub, e.method, e.path, int64_t{200}};
      ASSERT_TRUE(main->Execute("INSERT INTO audit_log (time, component, jti, sub, method, path, "
                                "status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                params)
                      .has_value());
    }
    ASSERT_TRUE(main->ExecuteScript("COMMIT").has_value());
    auto audit = Raw(audit_db());
    ASSERT_NE(audit, nullptr);
    for (int64_t n = 1; n <= 10; ++n) {
      const AuditEntry e = Entry(n);
      const SqlParam params[] = {n,     e.time,   e.component, e.jti,
                                 e.sub, e.method, e.path,      int64_t{200}};
      ASSERT_TRUE(audit
                      ->Execute("INSERT INTO audit_log (id, time, component, jti, sub, method, "
                                "path, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                params)
                      .has_value());
    }
  }

  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion().value_or(-1), kSchemaVersion);
  EXPECT_EQ(store->CountAudit().value_or(-1), kRows);
  auto newest = store->ListAudit(2, 0);
  ASSERT_TRUE(newest.has_value()) << newest.error().ToString();
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].jti, "jti-2500");
  EXPECT_EQ((*newest)[0].time, 2500);
  EXPECT_EQ((*newest)[1].sub, "sub-2499");
  auto oldest = store->ListAudit(1, kRows - 1);
  ASSERT_TRUE(oldest.has_value());
  ASSERT_EQ(oldest->size(), 1u);
  EXPECT_EQ((*oldest)[0].path, "/execution/task-instances/1/heartbeat");
  EXPECT_EQ((*oldest)[0].status, 200);
  auto main = Raw(db());
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(AuditTables(*main), 0);
  // New entries follow the moved ones.
  ASSERT_TRUE(store->AppendAudit(std::vector<AuditEntry>{Entry(9999)}).has_value());
  EXPECT_EQ(store->ListAudit(1, 0).value().at(0).jti, "jti-9999");
}

TEST_F(SqliteAuditFileTest, AnAuditFileNewerThanTheBinaryIsRefused) {
  {
    auto audit = Raw(audit_db());
    ASSERT_NE(audit, nullptr);
    ASSERT_TRUE(audit->ExecuteScript("PRAGMA user_version = 2").has_value());
  }
  auto store = OpenUnmigrated(std::chrono::seconds(5));
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(store.error().message(), HasSubstr("audit log file's schema is at version 2"));
  EXPECT_THAT(store.error().message(), HasSubstr("upgrade airlock"));
}

}  // namespace
}  // namespace airlock::store

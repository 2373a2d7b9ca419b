#include "execution_api/audit_writer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <string>
#include <vector>

#include "store/store.h"
#include "testing/temp_dir.h"

namespace airlock::execution_api {
namespace {

using namespace std::chrono_literals;

class AuditWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::OpenStore("sqlite://" + dir_ + "/airlock.db", {.busy_timeout = 50ms});
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->Migrate().has_value());
  }

  // A writer that writes only when told to (Flush).
  AuditWriter::Options Manual() {
    return {.flush_interval = 1h, .on_error = [this](const Error&) { ++errors_; }};
  }

  // Paths in append order (ListAudit gives the newest first).
  std::vector<std::string> Paths() {
    auto entries = store_->ListAudit(100, 0);
    EXPECT_TRUE(entries.has_value());
    std::vector<std::string> paths;
    if (!entries) return paths;
    for (auto it = entries->rbegin(); it != entries->rend(); ++it) paths.push_back(it->path);
    return paths;
  }

  test::TempDir temp_{"airlock-audit-writer"};  // outlives store_
  const std::string dir_ = temp_.path();
  std::unique_ptr<store::Store> store_;
  int errors_ = 0;
};

AuditWriter::Record At(std::string_view path, std::string_view jti = "jti-1") {
  return {.time = 1,
          .component = "api-server",
          .jti = jti,
          .sub = "sub",
          .method = "PUT",
          .path = path,
          .status = 204};
}

// Slots are reused from batch to batch: a shorter value leaves nothing of a longer one.
TEST_F(AuditWriterTest, EntriesKeepTheirValuesAndOrderAcrossBatches) {
  AuditWriter writer(*store_, Manual());
  writer.Append(At("/a-rather-long-path-for-the-first-batch", "a-rather-long-jti-0123456789"));
  writer.Append(At("/second"));
  ASSERT_TRUE(writer.Flush().has_value());
  writer.Append(At("/3", ""));
  ASSERT_TRUE(writer.Flush().has_value());
  writer.Append(At("/4"));  // into the first batch's slots
  writer.Append(At("/5"));
  writer.Append(At("/6"));  // one slot more than that batch had
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/a-rather-long-path-for-the-first-batch", "/second",
                                               "/3", "/4", "/5", "/6"}));
  auto newest = store_->ListAudit(6, 0);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ((*newest)[3].jti, "");  // "/3"
  EXPECT_EQ((*newest)[2].jti, "jti-1");
  EXPECT_EQ((*newest)[5].jti, "a-rather-long-jti-0123456789");
  EXPECT_EQ(errors_, 0);
}

// A batch that cannot be written now (the audit file is locked by another writer) is kept,
// and written later in front of the entries that arrived meanwhile.
TEST_F(AuditWriterTest, AFailedBatchIsRetriedBeforeLaterEntries) {
  AuditWriter writer(*store_, Manual());
  writer.Append(At("/1"));
  writer.Append(At("/2"));
  sqlite3* other = nullptr;
  ASSERT_EQ(
      sqlite3_open((dir_ + "/airlock.db" + std::string(store::kAuditFileSuffix)).c_str(), &other),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_FALSE(writer.Flush().has_value());
  EXPECT_EQ(errors_, 1);
  writer.Append(At("/3"));
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_EQ(writer.dropped(), 0u);
}

// A request's path may hold any byte (it is percent-decoded). Bytes the store refuses are
// replaced, so that one such request cannot make every later entry wait behind it.
TEST_F(AuditWriterTest, BytesTheStoreRefusesAreReplacedAndHoldNothingBack) {
  AuditWriter writer(*store_, Manual());
  writer.Append(At(std::string_view("/x/\xff\0y", 6), std::string_view("j\0ti", 4)));
  writer.Append(At("/after"));
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/x/\uFFFD\uFFFDy", "/after"}));
  auto newest = store_->ListAudit(2, 0);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ((*newest)[1].jti, "j\uFFFDti");
  EXPECT_EQ(errors_, 0);
}

TEST_F(AuditWriterTest, EntriesBeyondMaxPendingAreDroppedCountedAndReported) {
  auto options = Manual();
  options.max_pending = 2;
  std::vector<size_t> reported;
  options.on_dropped = [&reported](size_t n) { reported.push_back(n); };
  AuditWriter writer(*store_, options);
  for (const char* path : {"/1", "/2", "/3", "/4"}) writer.Append(At(path));
  EXPECT_EQ(writer.dropped(), 2u);
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/1", "/2"}));
  EXPECT_EQ(reported, std::vector<size_t>{2});
  // Each loss is reported once, and only what was lost since.
  writer.Append(At("/5"));
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ(reported, std::vector<size_t>{2});
  for (const char* path : {"/6", "/7", "/8"}) writer.Append(At(path));
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ(reported, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(writer.dropped(), 3u);
}

}  // namespace
}  // namespace airlock::execution_api

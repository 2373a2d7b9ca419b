// SQLite's write-ahead log is checkpointed by the store's own thread, never by a commit
// (store.h: StoreOptions::checkpoint_interval). The file sizes show who copied what: a
// page is in the database file only once a checkpoint has copied it from the WAL.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "store/store.h"
#include "testing/temp_dir.h"

namespace airlock::store {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr uintmax_t kMiB = 1 << 20;

class SqliteCheckpointTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(std::chrono::milliseconds interval, int max_connections = 8) {
    auto store = OpenStore("sqlite://" + db(),
                           {.max_connections = max_connections, .checkpoint_interval = interval});
    EXPECT_TRUE(store.has_value()) << store.error().ToString();
    if (!store) return nullptr;
    EXPECT_TRUE((*store)->Migrate().has_value());
    return std::move(*store);
  }
  // `count` variables of 16 KiB (four pages each), one commit each; a pause of `pause`
  // after every 20.
  static void Write(Store& store, int count, int keys,
                    std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    for (int i = 0; i < count; ++i) {
      if (i % 20 == 19) std::this_thread::sleep_for(pause);
      ASSERT_TRUE(
          store
              .SetVariable({.key = "k" + std::to_string(i % keys),
                            .value = std::string(16 * 1024, static_cast<char>('a' + i % 26))})
              .has_value());
    }
  }
  std::string db() const { return dir_ + "/airlock.db"; }
  uintmax_t Size(const std::string& path) const {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    return ec ? 0 : size;
  }

  test::TempDir temp_{"airlock-checkpoint"};
  const std::string dir_ = temp_.path();
};

// 1200 commits of four pages: far past the 1000 pages at which SQLite's own automatic
// checkpoint would have copied them into the database file during a commit.
TEST_F(SqliteCheckpointTest, CommitsNeverCheckpoint) {
  auto store = Open(std::chrono::hours(1));  // the thread waits all test long
  ASSERT_NE(store, nullptr);
  Write(*store, 300, 300);
  EXPECT_GT(Size(db() + "-wal"), 4 * kMiB);
  EXPECT_LT(Size(db()), 1 * kMiB);  // only the schema: nothing was copied
}

// 600 pages, under SQLite's automatic threshold: only the store's thread copies them.
TEST_F(SqliteCheckpointTest, TheStoresThreadCheckpoints) {
  auto store = Open(20ms);
  ASSERT_NE(store, nullptr);
  Write(*store, 150, 150);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (Size(db()) < 2 * kMiB && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(Size(db()), 2 * kMiB);
}

// Commit after commit, with no pause long enough for a checkpoint to finish while no one
// writes: the WAL still starts again from its beginning. About 120 MiB of frames go
// through it; passive checkpoints alone leave all of them in the file. With the pass that
// holds writers back it stays at a few MiB on an idle machine; the bound leaves room for
// a loaded one, where the checkpointer may wait long for a core.
TEST_F(SqliteCheckpointTest, TheWalStaysBoundedUnderSteadyCommits) {
  auto store = Open(10ms);
  ASSERT_NE(store, nullptr);
  Write(*store, 6000, 50, 2ms);
  EXPECT_LT(Size(db() + "-wal"), 40 * kMiB);
}

// The checkpointer's pass that holds writers back takes the write lock as writers do,
// before a connection: with a single connection, the other order would have it wait for
// the lock while holding the connection that the lock's holder waits for (it did: the
// writes below never finished).
TEST_F(SqliteCheckpointTest, ASingleConnectionIsSharedWithoutDeadlock) {
  auto store = Open(1ms, /*max_connections=*/1);
  ASSERT_NE(store, nullptr);
  std::promise<void> finished;
  auto done = finished.get_future();
  std::thread writer([&] {
    Write(*store, 3000, 50);
    finished.set_value();
  });
  if (done.wait_for(60s) != std::future_status::ready) {
    ADD_FAILURE() << "3000 writes did not finish within 60 s: deadlocked";
    std::_Exit(1);  // the writer cannot be joined
  }
  writer.join();
}

}  // namespace
}  // namespace airlock::store

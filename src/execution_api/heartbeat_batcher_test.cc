#include "execution_api/heartbeat_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace airlock::execution_api {
namespace {

constexpr int64_t kNow = 1'800'000'000;

std::string Id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0b9f4b6e-1f4c-4d7a-9c1e-%012d", n);
  return buf;
}

class HeartbeatBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(*store::OpenStore("memory://"));
    ASSERT_TRUE(store_->Migrate().has_value());
    ASSERT_TRUE(store_->CreateDagRun({.dag_id = "d", .run_id = "r"}).has_value());
    for (int i = 0; i < kTasks; ++i) {
      store::TaskInstance ti{
          .id = Id(i), .dag_id = "d", .run_id = "r", .task_id = "t" + std::to_string(i)};
      ASSERT_TRUE(store_->CreateTaskInstance(ti).has_value());
      ASSERT_TRUE(store_
                      ->TransitionTaskInstance(ti.id, store::TaskState::kScheduled,
                                               store::TaskState::kQueued, kNow)
                      .has_value());
      ASSERT_TRUE(store_->StartTaskInstance(ti.id, "host", 1, kNow).has_value());
    }
  }
  static constexpr int kTasks = 16;
  std::unique_ptr<store::Store> store_;
};

TEST_F(HeartbeatBatcherTest, AnswersLikeTheStore) {
  HeartbeatBatcher batcher(*store_);
  EXPECT_EQ(batcher.Heartbeat(Id(0), "host", 1, kNow + 1).value(), store::HeartbeatRefusal::kNone);
  EXPECT_EQ(batcher.Heartbeat(Id(0), "other", 1, kNow + 2).value(),
            store::HeartbeatRefusal::kRunningElsewhere);
  EXPECT_EQ(batcher.Heartbeat(Id(999), "host", 1, kNow).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetTaskInstance(Id(0))->last_heartbeat_at, kNow + 1);
  EXPECT_EQ(batcher.batches_written(), 3u);  // alone, each is written at once
}

TEST_F(HeartbeatBatcherTest, ConcurrentCallersShareBatchesAndEachGetsItsOwnAnswer) {
  HeartbeatBatcher batcher(*store_, /*max_batch=*/8);
  constexpr int kThreads = 32;
  constexpr int kRounds = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // Even threads beat as the owner, odd threads as an impostor.
        const bool owner = t % 2 == 0;
        auto r = batcher.Heartbeat(Id(t % kTasks), owner ? "host" : "impostor", 1, kNow + round);
        auto expected =
            owner ? store::HeartbeatRefusal::kNone : store::HeartbeatRefusal::kRunningElsewhere;
        if (!r || *r != expected) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // Calls overlapped, so some batches carried several requests.
  EXPECT_LT(batcher.batches_written(), static_cast<size_t>(kThreads * kRounds));
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(store_->GetTaskInstance(Id(i))->last_heartbeat_at.value_or(0) >= kNow, true);
  }
}

}  // namespace
}  // namespace airlock::execution_api

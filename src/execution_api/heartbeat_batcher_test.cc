#include "execution_api/heartbeat_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

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
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(store_->GetTaskInstance(Id(i))->last_heartbeat_at.value_or(0) >= kNow, true);
  }
}

// With the one writer busy, callers queue and the writer's next batch holds them all.
TEST(HeartbeatBatcherGroupCommitTest, QueuedCallersAreWrittenTogether) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<size_t> batch_sizes;  // Guarded by mu.
  HeartbeatBatcher batcher(
      [&](std::span<const store::Store::HeartbeatRequest> requests) {
        std::unique_lock lock(mu);
        batch_sizes.push_back(requests.size());
        if (batch_sizes.size() == 1) {
          cv.wait(lock, [&] { return release; });  // hold the first batch open
        }
        std::vector<Result<store::HeartbeatRefusal>> results;
        for (const auto& r : requests) {
          results.push_back(r.pid == 1 ? store::HeartbeatRefusal::kNone
                                       : store::HeartbeatRefusal::kRunningElsewhere);
        }
        return results;
      },
      /*max_batch=*/128);

  std::vector<std::optional<Result<store::HeartbeatRefusal>>> answers(8);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { answers[0] = batcher.Heartbeat(Id(0), "h", 1, kNow); });
  auto wait_until = [](auto condition) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    return condition();
  };
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(mu);
    return batch_sizes.size() == 1;
  }));
  for (int i = 1; i < 8; ++i) {
    threads.emplace_back(
        [&, i] { answers[i] = batcher.Heartbeat(Id(i), "h", i % 2 ? 1 : 2, kNow); });
  }
  ASSERT_TRUE(wait_until([&] { return batcher.queued() == 7; }));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();

  EXPECT_EQ(batch_sizes, (std::vector<size_t>{1, 7}));
  EXPECT_EQ(batcher.batches_written(), 2u);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(answers[i].has_value() && answers[i]->has_value()) << i;
    EXPECT_EQ(**answers[i], i == 0 || i % 2 ? store::HeartbeatRefusal::kNone
                                            : store::HeartbeatRefusal::kRunningElsewhere)
        << i;
  }
}

// Submit() returns while the write is held; the answer comes later, on the writer. The
// destructor writes and answers what is still queued.
TEST(HeartbeatBatcherGroupCommitTest, SubmitDoesNotWaitAndTheDestructorAnswersTheQueue) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  size_t written = 0;  // Guarded by mu.
  std::atomic<int> answered{0};
  std::thread::id submitter = std::this_thread::get_id();
  std::atomic<bool> answered_on_submitter{false};
  std::vector<std::string> ids;  // Submit() keeps views of them until it answers
  for (int i = 0; i < 5; ++i) ids.push_back(Id(i));
  {
    HeartbeatBatcher batcher(
        [&](std::span<const store::Store::HeartbeatRequest> requests) {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return release; });
          written += requests.size();
          return std::vector<Result<store::HeartbeatRefusal>>(requests.size(),
                                                              store::HeartbeatRefusal::kNone);
        },
        /*max_batch=*/2);
    for (int i = 0; i < 5; ++i) {
      batcher.Submit(ids[i], "h", 1, kNow, [&](Result<store::HeartbeatRefusal> r) {
        if (std::this_thread::get_id() == submitter) answered_on_submitter = true;
        if (r && *r == store::HeartbeatRefusal::kNone) ++answered;
      });
    }
    EXPECT_EQ(answered.load(), 0);  // every Submit() returned with its write held
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
  }  // the destructor drains the queue
  EXPECT_EQ(answered.load(), 5);
  EXPECT_EQ(written, 5u);
  EXPECT_FALSE(answered_on_submitter.load());
}

// An event loop whose tasks run when the test says, on the test's thread.
class FakeLoop final : public http::EventLoop {
 public:
  void Post(std::move_only_function<void()> task) override {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  // Runs the tasks posted so far; returns how many there were.
  size_t RunAll() {
    std::vector<std::move_only_function<void()>> tasks;
    {
      std::lock_guard lock(mu_);
      tasks.swap(tasks_);
    }
    for (auto& task : tasks) task();
    return tasks.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::move_only_function<void()>> tasks_;
};

// A heartbeat submitted with a loop is answered by a task on that loop, one task per loop
// and batch; one submitted without is answered on the writer.
TEST(HeartbeatBatcherGroupCommitTest, AnswersGoToTheLoopOfTheirRequestOneTaskPerBatch) {
  FakeLoop a, b;
  struct Answer {
    std::thread::id thread;
    std::optional<Result<store::HeartbeatRefusal>> result;
  };
  std::vector<Answer> answers(6);
  const std::thread::id test_thread = std::this_thread::get_id();
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int batches = 0;               // Guarded by mu.
  std::vector<std::string> ids;  // Submit() keeps views of them until it answers
  for (int i = 0; i < 6; ++i) ids.push_back(Id(i));
  {
    HeartbeatBatcher batcher(
        [&](std::span<const store::Store::HeartbeatRequest> requests) {
          std::unique_lock lock(mu);
          ++batches;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
          std::vector<Result<store::HeartbeatRefusal>> results;
          for (const auto& r : requests) {
            results.push_back(r.pid == 1 ? store::HeartbeatRefusal::kNone
                                         : store::HeartbeatRefusal::kRunningElsewhere);
          }
          return results;
        },
        /*max_batch=*/128);
    // The first is written alone, held by the writer; the other five queue behind it and
    // make the second batch.
    http::EventLoop* loops[] = {&a, &b, &a, nullptr, &b, &a};
    auto submit = [&](int i) {
      batcher.Submit(
          ids[i], "h", i % 2 == 0 ? 1 : 2, kNow,
          [&answers, i](Result<store::HeartbeatRefusal> r) {
            answers[i] = {std::this_thread::get_id(), std::move(r)};
          },
          loops[i]);
    };
    submit(0);
    {
      std::unique_lock lock(mu);
      // No ASSERT while the writer is held: the batcher could not be destroyed.
      EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return batches == 1; }));
    }
    for (int i = 1; i < 6; ++i) submit(i);
    EXPECT_EQ(batcher.queued(), 5u);
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
  }  // the destructor writes the queue, then joins the writer
  for (int i : {0, 1, 2, 4, 5}) EXPECT_FALSE(answers[i].result.has_value()) << i;
  ASSERT_TRUE(answers[3].result.has_value());
  EXPECT_NE(answers[3].thread, test_thread);  // on the writer
  EXPECT_EQ(a.RunAll(), 2u);                  // request 0's batch, then 2 and 5 together
  EXPECT_EQ(b.RunAll(), 1u);                  // 1 and 4
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(answers[i].result.has_value() && answers[i].result->has_value()) << i;
    EXPECT_EQ(**answers[i].result, i % 2 == 0 ? store::HeartbeatRefusal::kNone
                                              : store::HeartbeatRefusal::kRunningElsewhere)
        << i;
    if (i != 3) {
      EXPECT_EQ(answers[i].thread, test_thread) << i;
    }
  }
}

}  // namespace
}  // namespace airlock::execution_api

#include "http/blocking_pool.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace airlock::http {
namespace {

std::string ThisThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// Every thread of the pool runs at once (the latch opens only when all four are in) and
// is named blocking-0 … blocking-3; none is the caller's.
TEST(BlockingPoolTest, RunsWorkOnItsOwnNamedThreads) {
  std::mutex mu;
  std::set<std::string> names;
  std::set<std::thread::id> ids;
  {
    BlockingPool pool(4);
    std::latch all_in(4);
    for (int i = 0; i < 4; ++i) {
      pool.Post([&] {
        all_in.arrive_and_wait();
        std::lock_guard lock(mu);
        names.insert(ThisThreadName());
        ids.insert(std::this_thread::get_id());
      });
    }
  }  // waits for the work
  EXPECT_EQ(names, (std::set<std::string>{"blocking-0", "blocking-1", "blocking-2", "blocking-3"}));
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_FALSE(ids.contains(std::this_thread::get_id()));
}

// The destructor returns once everything posted has run, also when pools come and go
// quickly (a pool that named its threads with a latch on the constructor's stack left
// threads waiting on it for ever, and its destructor never returned).
TEST(BlockingPoolTest, TheDestructorRunsEverythingPostedAndReturns) {
  std::atomic<int> ran{0};
  for (int round = 0; round < 200; ++round) {
    BlockingPool pool(4);
    for (int i = 0; i < 8; ++i) pool.Post([&] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 200 * 8);
}

TEST(BlockingPoolTest, TheRunnerPostsToThePool) {
  std::atomic<bool> off_caller{false};
  const auto caller = std::this_thread::get_id();
  {
    BlockingPool pool(1);
    BlockingRunner run = pool.Runner();
    run([&] { off_caller = std::this_thread::get_id() != caller; });
  }
  EXPECT_TRUE(off_caller);
}

}  // namespace
}  // namespace airlock::http

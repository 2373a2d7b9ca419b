#include "common/clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace airlock {
namespace {

using namespace std::chrono_literals;

TEST(SleepUnlessStoppedTest, SleepsTheWholeDurationWhenNotStopped) {
  std::stop_source source;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(SleepUnlessStopped(source.get_token(), 50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(SleepUnlessStoppedTest, ReturnsFalseWhenStoppedMidSleep) {
  std::stop_source source;
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    source.request_stop();
  });
  EXPECT_FALSE(SleepUnlessStopped(source.get_token(), std::chrono::hours(1)));
  stopper.join();
}

TEST(SleepUnlessStoppedTest, ReturnsFalseAtOnceWhenAlreadyStopped) {
  std::stop_source source;
  source.request_stop();
  EXPECT_FALSE(SleepUnlessStopped(source.get_token(), std::chrono::hours(1)));
}

}  // namespace
}  // namespace airlock

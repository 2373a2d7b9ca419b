#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <string_view>
#include <thread>

namespace airlock {
namespace {

std::string NameOfThisThread() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// The name a new thread has after it called NameThisThread(name).
std::string NameSetInANewThread(std::string_view name) {
  std::string inside;
  std::thread([&] {
    NameThisThread(name);
    inside = NameOfThisThread();
  }).join();
  return inside;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = NameOfThisThread();
  EXPECT_EQ(NameSetInANewThread("heartbeat-io"), "heartbeat-io");
  EXPECT_EQ(NameOfThisThread(), before);
}

TEST(ThreadNameTest, CutsNamesToTheFifteenBytesLinuxKeeps) {
  EXPECT_EQ(NameSetInANewThread("a-name-longer-than-fifteen-bytes"), "a-name-longer-t");
}

}  // namespace
}  // namespace airlock

#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace airlock {
namespace {

std::string NameOfThisThread() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = NameOfThisThread();
  std::string inside;
  std::thread([&] {
    NameThisThread("heartbeat-io");
    inside = NameOfThisThread();
  }).join();
  EXPECT_EQ(inside, "heartbeat-io");
  EXPECT_EQ(NameOfThisThread(), before);
}

TEST(ThreadNameTest, CutsNamesToTheFifteenBytesLinuxKeeps) {
  std::string inside;
  std::thread([&] {
    NameThisThread("a-name-longer-than-fifteen-bytes");
    inside = NameOfThisThread();
  }).join();
  EXPECT_EQ(inside, "a-name-longer-t");
}

}  // namespace
}  // namespace airlock

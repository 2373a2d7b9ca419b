#include "jwt/jti.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace airlock::jwt {
namespace {

// 32 lowercase hex digits of a version 4 UUID: version nibble 4, variant 10xx.
bool IsUuid4Hex(std::string_view s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos &&
         s[12] == '4' && std::string_view("89ab").find(s[16]) != std::string_view::npos;
}

TEST(JtiTest, IsAUuid4InLowercaseHexAndNeverRepeats) {
  // Several buffer refills' worth (64 ids per 1 KiB).
  std::set<std::string> seen;
  for (size_t i = 0; i < 5 * kJtiRandomBufferBytes / 16 + 7; ++i) {
    auto jti = NewJti();
    ASSERT_TRUE(jti.has_value()) << jti.error().ToString();
    EXPECT_TRUE(IsUuid4Hex(*jti)) << *jti;
    EXPECT_TRUE(seen.insert(*jti).second) << "repeated " << *jti;
  }
}

TEST(JtiTest, ThreadsDrawDifferentIds) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::mutex mu;
  std::set<std::string> seen;  // Guarded by mu.
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < kPerThread; ++i) mine.push_back(NewJti().value_or(""));
      std::lock_guard lock(mu);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(seen.size(), size_t{kThreads * kPerThread});
  EXPECT_FALSE(seen.contains(""));
}

TEST(JtiTest, ForkedChildDoesNotMintTheParentsNextIds) {
  // The parent has buffered random bytes for its next ids. A child that used the bytes it
  // inherited would mint exactly those ids: it must draw fresh ones instead.
  ASSERT_TRUE(NewJti().has_value());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    std::string ids;
    for (int i = 0; i < 3; ++i) ids += NewJti().value_or(std::string(32, '-'));
    const bool written = write(fds[1], ids.data(), ids.size()) == static_cast<ssize_t>(ids.size());
    _exit(written ? 0 : 1);
  }
  close(fds[1]);
  std::string child;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    child.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(child.size(), 3u * 32);

  // Everything the parent's buffer still held, and then some.
  std::set<std::string> parent;
  for (size_t i = 0; i < kJtiRandomBufferBytes / 16 + 1; ++i) parent.insert(NewJti().value());
  for (int i = 0; i < 3; ++i) {
    const std::string id = child.substr(32 * static_cast<size_t>(i), 32);
    EXPECT_TRUE(IsUuid4Hex(id)) << id;
    EXPECT_FALSE(parent.contains(id)) << "the child minted the parent's id " << id;
  }
}

}  // namespace
}  // namespace airlock::jwt

// Once a kept-alive connection has served a request, serving the next one allocates
// nothing on the server's I/O threads: the body's buffer, the Respond, and Asio's read
// and write operations reuse the connection's memory. That holds when a handler's
// answers come back in batches, as the heartbeat group commit gives them, which is when
// Asio's own per-thread cache of two blocks ran dry. Only allocations on the I/O threads
// count (testing/io_allocations.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "testing/io_allocations.h"
#include "testing/raw_client.h"

namespace airlock::http {
namespace {

TEST(ServerAllocTest, KeptAliveRequestsAnsweredInBatchesAllocateNothingOnTheIoThreads) {
  constexpr int kConnections = 16;
  constexpr int kWarmUpRounds = 3;
  constexpr int kRounds = 50;
  // Each request's Respond waits here until every connection has one waiting; then the
  // answering thread answers them all, with one task per event loop.
  struct Waiting {
    Respond respond;
    EventLoop* loop;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Waiting> waiting;  // Guarded by mu.
  bool stop = false;             // Guarded by mu.
  std::vector<Waiting> batch;
  // The I/O threads append to `waiting`, which must not grow while they are counted.
  waiting.reserve(kConnections);
  batch.reserve(kConnections);
  auto server = Server::Start({.threads = 2}, AsyncHandler([&](const Request&, Respond respond) {
                                {
                                  std::lock_guard lock(mu);
                                  waiting.push_back({std::move(respond), ThisThreadsEventLoop()});
                                }
                                cv.notify_one();
                              }));
  ASSERT_TRUE(server.has_value()) << server.error().ToString();
  std::thread answerer([&] {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stop || waiting.size() == kConnections; });
      if (stop) return;
      batch.swap(waiting);
      lock.unlock();
      std::vector<std::pair<EventLoop*, std::vector<Respond>>> by_loop;
      for (Waiting& w : batch) {
        auto group = std::ranges::find(by_loop, w.loop, &decltype(by_loop)::value_type::first);
        auto& responds =
            group != by_loop.end() ? group->second : by_loop.emplace_back(w.loop, 0).second;
        responds.push_back(std::move(w.respond));
      }
      batch.clear();
      for (auto& [loop, responds] : by_loop) {
        loop->Post([responds = std::move(responds)]() mutable {
          for (Respond& respond : responds) respond(Response::NoContent());
        });
      }
      lock.lock();
    }
  });

  std::vector<std::unique_ptr<test::RawClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<test::RawClient>((*server)->port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  const std::string request =
      "PUT /execution/task-instances/0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11/heartbeat HTTP/1.1\r\n"
      "Host: x\r\nAuthorization: Bearer " +
      std::string(300, 't') + "\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n" +
      R"({"hostname":"bench","pid":123})";
  // A round, one request on every connection, is one batch.
  const test::IoAllocationCount count =
      test::CountIoAllocations(clients, std::vector<std::string>(kConnections, request),
                               kWarmUpRounds, kRounds, "HTTP/1.1 204");

  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_one();
  answerer.join();
  EXPECT_EQ(count.warm_up_answered, kConnections * kWarmUpRounds);
  EXPECT_EQ(count.answered, kConnections * kRounds);
  // Asio's sweep timer takes a block now and then; the requests take none.
  EXPECT_LE(count.allocations, 4) << count.allocations << " allocations on the I/O threads for "
                                  << count.answered << " requests";
}

}  // namespace
}  // namespace airlock::http

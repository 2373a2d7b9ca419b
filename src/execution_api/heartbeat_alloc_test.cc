// A heartbeat on a kept-alive connection makes one allocation on the server's I/O
// threads: the block that holds the call (its caller and the server's Respond) until the
// group commit answers it. The HTTP server's own part allocates nothing
// (http/server_alloc_test.cc), the task instance's id is not copied, and the callbacks
// that carry the answer fit in std::move_only_function's inline space. Allocations are
// counted in this binary's operator new (testing/io_allocations.h). The audit log's
// appends are counted by audit_writer_alloc_test.cc; this server has none.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "execution_api/execution_api.h"
#include "http/server.h"
#include "jwt/key_source.h"
#include "testing/io_allocations.h"
#include "testing/raw_client.h"

namespace airlock::execution_api {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kAudience[] = "urn:airflow.apache.org:task";

std::string Id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0b9f4b6e-1f4c-4d7a-9c1e-%012d", n);
  return buf;
}

TEST(HeartbeatAllocTest, AHeartbeatAllocatesOnceOnTheIoThreads) {
  constexpr int kConnections = 16;
  constexpr int kWarmUpRounds = 3;
  constexpr int kRounds = 50;
  FakeClock clock(kNow);
  auto store = store::OpenStore("memory://");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_TRUE((*store)->Migrate().has_value());
  ASSERT_TRUE((*store)->CreateDagRun({.dag_id = "d", .run_id = "r"}).has_value());
  for (int i = 0; i < kConnections; ++i) {
    store::TaskInstance ti{.id = Id(i), .dag_id = "d", .run_id = "r", .task_id = "t" + Id(i)};
    ASSERT_TRUE((*store)->CreateTaskInstance(ti).has_value());
    ASSERT_TRUE((*store)
                    ->TransitionTaskInstance(ti.id, store::TaskState::kScheduled,
                                             store::TaskState::kQueued, kNow)
                    .has_value());
    ASSERT_TRUE((*store)->StartTaskInstance(ti.id, "bench", 1, kNow).has_value());
  }
  auto keys = std::make_shared<jwt::StaticKeySource>(*jwt::KeySet::Create(
      {{.key = *jwt::Key::Generate(jwt::KeyType::kEd25519), .state = jwt::KeyState::kActive}}));
  // As the api-server does: a worker's repeated token is verified once.
  auto validator =
      jwt::Validator::Create(keys, {.audiences = {kAudience}, .cache_capacity = 1024}, clock);
  ASSERT_TRUE(validator.has_value());
  jwt::TokenSigner signer(keys, clock);
  ExecutionApi api(**store, **validator, signer, clock, /*audit=*/nullptr, ExecutionApiOptions{});
  http::Router router;
  api.AddRoutes(router, "/execution");
  auto server = http::Server::Start({.threads = 2},
                                    [&router](const http::Request& request, http::Respond respond) {
                                      router.Dispatch(request, std::move(respond));
                                    });
  ASSERT_TRUE(server.has_value()) << server.error().ToString();

  std::vector<std::unique_ptr<test::RawClient>> clients;
  std::vector<std::string> requests;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<test::RawClient>((*server)->port()));
    ASSERT_TRUE(clients.back()->connected());
    auto token = signer.Mint({.sub = Id(i), .aud = {kAudience}, .ttl_seconds = 3600});
    ASSERT_TRUE(token.has_value());
    const std::string body = R"({"hostname":"bench","pid":1})";
    requests.push_back("PUT /execution/task-instances/" + Id(i) +
                       "/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + *token +
                       "\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  // The group commit sees each round's heartbeats arrive together, as it does under load.
  const test::IoAllocationCount count =
      test::CountIoAllocations(clients, requests, kWarmUpRounds, kRounds, "HTTP/1.1 204");
  EXPECT_EQ(count.warm_up_answered, kConnections * kWarmUpRounds);
  EXPECT_EQ(count.answered, kConnections * kRounds);
  const long allocated = count.allocations;
  const int answered = count.answered;
  // One per heartbeat, and a few more now and then: the group commit's queue growing to a
  // larger batch than before, Asio's timers.
  EXPECT_LE(allocated, answered + 16)
      << allocated << " allocations on the I/O threads for " << answered << " heartbeats";
}

}  // namespace
}  // namespace airlock::execution_api

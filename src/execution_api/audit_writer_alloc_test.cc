// In steady state an audit entry is copied into a slot a written entry used, whose
// strings keep their capacity: appending allocates nothing. Counted by replacing the
// global operator new in this binary.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <new>
#include <string>

#include "execution_api/audit_writer.h"
#include "store/store.h"
#include "testing/temp_dir.h"

namespace {
std::atomic<long> allocations{0};
}  // namespace

void* operator new(size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace airlock::execution_api {
namespace {

using namespace std::chrono_literals;

TEST(AuditWriterAllocTest, AppendsAllocateNothingOnceSlotsAreThere) {
  const test::TempDir dir("airlock-audit-alloc");  // outlives the store
  auto store = store::OpenStore("sqlite://" + dir.path() + "/airlock.db");
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  ASSERT_TRUE((*store)->Migrate().has_value());
  AuditWriter writer(**store, {.flush_interval = 1h});
  // Values longer than std::string keeps inline, as a token's jti and sub are.
  const std::string jti(32, 'j');
  const std::string sub = "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11";
  const std::string path = "/execution/task-instances/" + sub + "/heartbeat";
  constexpr int kBatch = 100;
  auto append_batch = [&] {
    for (int i = 0; i < kBatch; ++i) {
      writer.Append({.time = i,
                     .component = "api-server",
                     .jti = jti,
                     .sub = sub,
                     .method = "PUT",
                     .path = path,
                     .status = 204});
    }
  };
  // The first two batches fill the two sets of slots (the one being appended to and the
  // one being written alternate).
  for (int round = 0; round < 2; ++round) {
    append_batch();
    ASSERT_TRUE(writer.Flush().has_value());
  }
  const long before = allocations.load();
  append_batch();
  EXPECT_EQ(allocations.load() - before, 0);
  ASSERT_TRUE(writer.Flush().has_value());
  EXPECT_EQ((*store)->CountAudit().value_or(0), 3 * kBatch);
}

}  // namespace
}  // namespace airlock::execution_api

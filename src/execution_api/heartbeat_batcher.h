#pragma once
// HeartbeatBatcher records heartbeats as a group commit: concurrent callers are written
// together by one Store::Heartbeats() call (one statement on the SQL stores), and each
// caller gets the answer Store::Heartbeat() would have given it alone.
// No timer and no background thread: a caller that finds fewer than
// Store::ConcurrentWriters() batches in progress becomes a leader, takes every request
// queued so far (at most max_batch), writes them, and hands out the results; callers that
// arrive while all writers are busy wait, and one of them leads the next batch. An idle
// server therefore writes each heartbeat at once; a busy one amortises a commit over many
// requests where writes are serialized (SQLite) and keeps its parallel connections busy
// where they are not (PostgreSQL).
// Thread-safe.

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace airlock::execution_api {

class HeartbeatBatcher {
 public:
  // Larger batches make longer statements; 128 keeps one well under a millisecond.
  static constexpr size_t kDefaultMaxBatch = 128;

  // Writes one batch; results in the order of the requests (Store::Heartbeats).
  using WriteBatch = std::function<std::vector<Result<store::HeartbeatRefusal>>(
      std::span<const store::Store::HeartbeatRequest>)>;

  // Batches for `store`, with store.ConcurrentWriters() batches at once.
  explicit HeartbeatBatcher(store::Store& store, size_t max_batch = kDefaultMaxBatch);
  // For tests: any writer, `max_writers` batches at once.
  HeartbeatBatcher(WriteBatch write, int max_writers, size_t max_batch);

  Result<store::HeartbeatRefusal> Heartbeat(std::string_view id, std::string_view hostname, int pid,
                                            int64_t now);

  // Number of batches written so far, and requests waiting for a writer now (for tests).
  size_t batches_written() const;
  size_t queued() const;

 private:
  struct Pending {
    store::Store::HeartbeatRequest request;
    std::optional<Result<store::HeartbeatRefusal>> result;  // Guarded by mu_.
  };

  const WriteBatch write_;
  const size_t max_batch_;
  const int max_writers_;
  mutable std::mutex mu_;
  std::condition_variable done_;
  std::deque<Pending*> queue_;  // Guarded by mu_.
  int writers_ = 0;             // batches being written. Guarded by mu_.
  size_t batches_written_ = 0;  // Guarded by mu_.
};

}  // namespace airlock::execution_api

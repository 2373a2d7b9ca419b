#pragma once
// AuditWriter batches audit entries and writes them to the store from one background
// thread (a group commit): a request only appends to a buffer, so auditing every
// Execution API call costs no database round trip on the request path.
// Entries are written at least every flush_interval, or sooner when max_batch are
// pending; Flush() writes everything pending now; the destructor flushes. If a write
// fails the batch is kept and retried (and an error is reported through on_error); a
// crash loses at most the entries of the last interval. Bytes the store would refuse
// (NUL, bytes that are not UTF-8, say in a request's path) are replaced with U+FFFD
// before a write, so that no entry can make its batch fail for good.
// An entry is copied into a slot that an earlier, written entry used, whose strings keep
// their capacity: in steady state an append allocates nothing, and nothing one thread
// allocated is freed by another (glibc's malloc serves both from its slow paths).
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "store/store.h"

namespace airlock::execution_api {

class AuditWriter {
 public:
  struct Options {
    std::chrono::milliseconds flush_interval{200};
    size_t max_batch = 512;
    // Pending entries beyond this are dropped (and counted) rather than growing memory
    // without bound while the database is down.
    size_t max_pending = 100000;
    std::function<void(const Error&)> on_error;
    // Called on the writer's thread after a write (or Flush) with the number of entries
    // dropped since the last call, when there are any: the loss is never silent.
    std::function<void(size_t)> on_dropped;
  };

  // One entry, as its caller holds it; Append() copies it.
  struct Record {
    int64_t time = 0;  // Unix microseconds
    std::string_view component;
    std::string_view jti;
    std::string_view sub;
    std::string_view method;
    std::string_view path;
    int status = 0;
  };

  AuditWriter(store::Store& store, Options options);
  ~AuditWriter();

  void Append(const Record& record);
  // Writes everything appended before the call; returns the last write error, if any.
  Result<void> Flush();
  size_t dropped() const;

 private:
  void Run(std::stop_token stop);
  Result<void> WriteBatch(std::unique_lock<std::mutex>& lock);
  // Tells options_.on_dropped of the entries dropped since it was last told, outside mu_.
  void ReportDropped(std::unique_lock<std::mutex>& lock);

  store::Store& store_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  // Entries waiting to be written are pending_[0, pending_count_); the slots after them
  // are spare.
  std::vector<store::AuditEntry> pending_;  // Guarded by mu_.
  size_t pending_count_ = 0;                // Guarded by mu_.
  size_t dropped_ = 0;                      // Guarded by mu_.
  size_t dropped_reported_ = 0;             // Guarded by mu_.
  std::mutex write_mu_;                     // Taken before mu_; one batch is written at a time.
  // The batch being written, then its slots, spare, until the next batch is taken.
  std::vector<store::AuditEntry> writing_;  // Guarded by write_mu_.
  std::jthread thread_;
};

}  // namespace airlock::execution_api

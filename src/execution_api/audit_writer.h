#pragma once
// AuditWriter batches audit entries and writes them to the store from one background
// thread (a group commit): a request only appends to a buffer, so auditing every
// Execution API call costs no database round trip on the request path.
// Entries are written at least every flush_interval, or sooner when max_batch are
// pending; Flush() writes everything pending now; the destructor flushes. If a write
// fails the batch is kept and retried (and an error is reported through on_error); a
// crash loses at most the entries of the last interval.
// Thread-safe.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
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
  };

  AuditWriter(store::Store& store, Options options);
  ~AuditWriter();

  void Append(store::AuditEntry entry);
  // Writes everything appended before the call; returns the last write error, if any.
  Result<void> Flush();
  size_t dropped() const;

 private:
  void Run(std::stop_token stop);
  Result<void> WriteBatch(std::unique_lock<std::mutex>& lock);

  store::Store& store_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<store::AuditEntry> pending_;  // Guarded by mu_.
  size_t dropped_ = 0;                      // Guarded by mu_.
  std::mutex write_mu_;                     // Serializes writes to the store.
  std::jthread thread_;
};

}  // namespace airlock::execution_api

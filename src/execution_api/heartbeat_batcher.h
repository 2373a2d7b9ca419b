#pragma once
// HeartbeatBatcher records heartbeats as a group commit. Submit() queues a heartbeat and
// returns at once; one writer thread takes everything queued (at most max_batch), writes
// it with one Store::Heartbeats() call (one statement on the SQL stores), and hands each
// request the answer Store::Heartbeat() would have given it alone, through its callback.
// A heartbeat submitted with an event loop (an I/O thread's) is answered on that loop:
// the writer hands the loop all of a batch's answers for it in one task, so that the
// responses are made and written there, and what the request allocated is freed on the
// thread that allocated it (glibc's malloc takes its slow paths for memory that one
// thread frees for another). Without one it is answered on the writer thread.
// There is no timer: a writer that finds the queue empty sleeps until the next Submit(),
// so an idle server writes each heartbeat at once, and a busy one writes everything that
// arrived during the previous batch in the next. An HTTP thread that submits is free to
// serve other connections while the batch is written.
// One writer on every store: SQLite serializes writes anyway, and on PostgreSQL a second
// writer, whose batches ran beside the first's on a backend of their own, gave a higher
// p99 in each of thirteen alternating pairs (docs/PERFORMANCE.md, stop 21).
// The destructor writes and answers (or hands to their loops) everything queued, then
// joins the writer.
// Thread-safe.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http/message.h"
#include "store/store.h"

namespace airlock::execution_api {

class HeartbeatBatcher {
 public:
  // A batch of 512 is a few milliseconds of work for SQLite at most; larger batches would
  // only add to the latency of their first request.
  static constexpr size_t kDefaultMaxBatch = 512;
  // Writes one batch; results in the order of the requests (Store::Heartbeats).
  using WriteBatch = std::function<std::vector<Result<store::HeartbeatRefusal>>(
      std::span<const store::Store::HeartbeatRequest>)>;
  // Receives the answer to one heartbeat, on its loop (Submit) or the writer thread.
  using Done = std::move_only_function<void(Result<store::HeartbeatRefusal>)>;

  // Batches for `store`.
  explicit HeartbeatBatcher(store::Store& store, size_t max_batch = kDefaultMaxBatch);
  // For tests: any writer function.
  HeartbeatBatcher(WriteBatch write, size_t max_batch);
  ~HeartbeatBatcher();
  HeartbeatBatcher(const HeartbeatBatcher&) = delete;
  HeartbeatBatcher& operator=(const HeartbeatBatcher&) = delete;

  // Queues one heartbeat; `done` is called once with its answer, on `loop` if one is given
  // (which must outlive the answer), else on the writer thread. `id` is not copied: it
  // must stay valid until `done` has been called (the request's path, which the server
  // keeps until the request is answered). `hostname` is copied.
  void Submit(std::string_view id, std::string_view hostname, int pid, int64_t now, Done done,
              http::EventLoop* loop = nullptr);
  // Submit() and wait for the answer.
  Result<store::HeartbeatRefusal> Heartbeat(std::string_view id, std::string_view hostname, int pid,
                                            int64_t now);

  // Number of batches written so far, and requests waiting for a writer now (for tests).
  size_t batches_written() const;
  size_t queued() const;

 private:
  struct Pending {
    std::string_view id;
    std::string hostname;
    int pid = 0;
    int64_t now = 0;
    Done done;
    http::EventLoop* loop = nullptr;
  };
  void Run();
  // Answers `batch` with `results` (in its order): those without a loop here, the others
  // in one task per loop.
  void Answer(std::vector<Pending>& batch, std::vector<Result<store::HeartbeatRefusal>> results);

  const WriteBatch write_;
  const size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  // A vector, not a deque: the writer swaps it with its emptied batch, so both keep their
  // capacity and queueing allocates nothing once they have grown.
  std::vector<Pending> queue_;  // Guarded by mu_.
  std::atomic<size_t> batches_written_{0};
  bool stopping_ = false;  // Guarded by mu_.
  std::thread writer_;
};

}  // namespace airlock::execution_api

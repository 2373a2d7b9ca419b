#include "execution_api/heartbeat_batcher.h"

#include <vector>

namespace airlock::execution_api {

HeartbeatBatcher::HeartbeatBatcher(store::Store& store, size_t max_batch)
    : HeartbeatBatcher(
          [&store](std::span<const store::Store::HeartbeatRequest> requests) {
            return store.Heartbeats(requests);
          },
          store.ConcurrentWriters(), max_batch) {}

HeartbeatBatcher::HeartbeatBatcher(WriteBatch write, int max_writers, size_t max_batch)
    : write_(std::move(write)),
      max_batch_(std::max<size_t>(1, max_batch)),
      max_writers_(std::max(1, max_writers)) {}

Result<store::HeartbeatRefusal> HeartbeatBatcher::Heartbeat(std::string_view id,
                                                            std::string_view hostname, int pid,
                                                            int64_t now) {
  Pending mine{.request = {.id = id, .hostname = hostname, .pid = pid, .now = now}};
  std::unique_lock lock(mu_);
  queue_.push_back(&mine);
  while (!mine.result) {
    if (writers_ >= max_writers_) {
      done_.wait(lock);
      continue;
    }
    // Lead one batch: everything queued so far, up to max_batch_ (oldest first, so that
    // `mine` is written by this batch or an earlier one's leader).
    ++writers_;
    std::vector<Pending*> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<store::Store::HeartbeatRequest> requests;
    requests.reserve(batch.size());
    for (const Pending* p : batch) requests.push_back(p->request);
    auto results = write_(requests);
    lock.lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->result = i < results.size()
                             ? std::move(results[i])
                             : Result<store::HeartbeatRefusal>(std::unexpected(
                                   Error(ErrorCode::kInternal, "heartbeat batch lost a result")));
    }
    ++batches_written_;
    --writers_;
    done_.notify_all();
  }
  return std::move(*mine.result);
}

size_t HeartbeatBatcher::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t HeartbeatBatcher::batches_written() const {
  std::lock_guard lock(mu_);
  return batches_written_;
}

}  // namespace airlock::execution_api

#include "execution_api/audit_writer.h"

#include "common/thread_name.h"

namespace airlock::execution_api {

AuditWriter::AuditWriter(store::Store& store, Options options)
    : store_(store), options_(std::move(options)) {
  thread_ = std::jthread([this](std::stop_token stop) {
    NameThisThread("audit-write");
    Run(stop);
  });
}

AuditWriter::~AuditWriter() {
  thread_.request_stop();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  (void)Flush();
}

void AuditWriter::Append(store::AuditEntry entry) {
  std::lock_guard lock(mu_);
  if (pending_.size() >= options_.max_pending) {
    ++dropped_;
    return;
  }
  pending_.push_back(std::move(entry));
  if (pending_.size() >= options_.max_batch) cv_.notify_one();
}

size_t AuditWriter::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

Result<void> AuditWriter::WriteBatch(std::unique_lock<std::mutex>& lock) {
  std::vector<store::AuditEntry> batch;
  batch.swap(pending_);
  lock.unlock();
  Result<void> written;
  {
    std::lock_guard write_lock(write_mu_);
    written = store_.AppendAudit(batch);
  }
  // Requests append under mu_ (the heartbeat writer, for every answer): freeing a written
  // batch, thousands of strings, must not make them wait.
  if (written) batch = {};
  lock.lock();
  if (!written) {
    // Put the batch back in front of what arrived meanwhile; retried on the next round.
    batch.insert(batch.end(), std::make_move_iterator(pending_.begin()),
                 std::make_move_iterator(pending_.end()));
    pending_.swap(batch);
    if (options_.on_error) options_.on_error(written.error());
  }
  return written;
}

Result<void> AuditWriter::Flush() {
  std::unique_lock lock(mu_);
  if (pending_.empty()) return {};
  return WriteBatch(lock);
}

void AuditWriter::Run(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    cv_.wait_for(lock, stop, options_.flush_interval,
                 [&] { return pending_.size() >= options_.max_batch; });
    if (!pending_.empty()) (void)WriteBatch(lock);
  }
}

}  // namespace airlock::execution_api

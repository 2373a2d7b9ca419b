#include "execution_api/audit_writer.h"

#include <algorithm>
#include <span>

#include "common/thread_name.h"
#include "store/checks.h"

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

void AuditWriter::Append(const Record& record) {
  std::lock_guard lock(mu_);
  if (pending_count_ >= options_.max_pending) {
    ++dropped_;
    return;
  }
  if (pending_count_ == pending_.size()) pending_.emplace_back();
  store::AuditEntry& slot = pending_[pending_count_++];
  slot.time = record.time;
  slot.component.assign(record.component);
  slot.jti.assign(record.jti);
  slot.sub.assign(record.sub);
  slot.method.assign(record.method);
  slot.path.assign(record.path);
  slot.status = record.status;
  if (pending_count_ >= options_.max_batch) cv_.notify_one();
}

size_t AuditWriter::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

Result<void> AuditWriter::WriteBatch(std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  std::lock_guard write_lock(write_mu_);
  lock.lock();
  const size_t count = pending_count_;
  if (count == 0) return {};  // another caller wrote them meanwhile
  pending_.swap(writing_);    // appends go on into the slots of the last batch written
  pending_count_ = 0;
  lock.unlock();
  const std::span<store::AuditEntry> batch(writing_.data(), count);
  // Fields record requests as they came (a path may hold any byte): what the store would
  // refuse is replaced here, or one hostile request would hold back every entry after it.
  for (store::AuditEntry& e : batch) {
    for (std::string* field : {&e.component, &e.jti, &e.sub, &e.method, &e.path}) {
      if (!store::IsStorableText(*field)) *field = store::StorableText(*field);
    }
  }
  const Result<void> written = store_.AppendAudit(batch);
  // Spare slots beyond a few batches (after an outage) are freed here, outside mu_, which
  // requests take to append.
  const size_t keep = std::max(count, 2 * options_.max_batch);
  if (written && writing_.size() > keep) writing_.resize(keep);
  lock.lock();
  if (!written) {
    // Put the batch back in front of what arrived meanwhile; retried on the next round.
    const size_t arrived = pending_count_;
    if (writing_.size() < count + arrived) writing_.resize(count + arrived);
    for (size_t i = 0; i < arrived; ++i) std::swap(writing_[count + i], pending_[i]);
    pending_.swap(writing_);
    pending_count_ = count + arrived;
    if (options_.on_error) options_.on_error(written.error());
  }
  return written;
}

void AuditWriter::ReportDropped(std::unique_lock<std::mutex>& lock) {
  const size_t dropped = dropped_ - dropped_reported_;
  if (dropped == 0 || !options_.on_dropped) return;
  dropped_reported_ = dropped_;
  lock.unlock();
  options_.on_dropped(dropped);
  lock.lock();
}

Result<void> AuditWriter::Flush() {
  std::unique_lock lock(mu_);
  if (pending_count_ == 0) return {};
  Result<void> written = WriteBatch(lock);
  ReportDropped(lock);
  return written;
}

void AuditWriter::Run(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    cv_.wait_for(lock, stop, options_.flush_interval,
                 [&] { return pending_count_ >= options_.max_batch; });
    if (pending_count_ > 0) (void)WriteBatch(lock);
    ReportDropped(lock);
  }
}

}  // namespace airlock::execution_api

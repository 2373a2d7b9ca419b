#include "execution_api/heartbeat_batcher.h"

#include <algorithm>
#include <future>

#include "common/thread_name.h"

namespace airlock::execution_api {

HeartbeatBatcher::HeartbeatBatcher(store::Store& store, size_t max_batch)
    : HeartbeatBatcher(
          [&store](std::span<const store::Store::HeartbeatRequest> requests) {
            return store.Heartbeats(requests);
          },
          max_batch) {}

HeartbeatBatcher::HeartbeatBatcher(WriteBatch write, size_t max_batch)
    : write_(std::move(write)), max_batch_(std::max<size_t>(1, max_batch)) {
  writer_ = std::thread([this] {
    NameThisThread("heartbeat-write");
    Run();
  });
}

HeartbeatBatcher::~HeartbeatBatcher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void HeartbeatBatcher::Submit(std::string_view id, std::string_view hostname, int pid, int64_t now,
                              Done done, http::EventLoop* loop) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back({.id = id,
                        .hostname = std::string(hostname),
                        .pid = pid,
                        .now = now,
                        .done = std::move(done),
                        .loop = loop});
      wake_.notify_one();
      return;
    }
  }
  done(std::unexpected(Error(ErrorCode::kUnavailable, "the heartbeat writer has stopped")));
}

Result<store::HeartbeatRefusal> HeartbeatBatcher::Heartbeat(std::string_view id,
                                                            std::string_view hostname, int pid,
                                                            int64_t now) {
  std::promise<Result<store::HeartbeatRefusal>> answer;
  auto future = answer.get_future();
  Submit(id, hostname, pid, now,
         [&answer](Result<store::HeartbeatRefusal> r) { answer.set_value(std::move(r)); });
  return future.get();
}

void HeartbeatBatcher::Run() {
  std::vector<Pending> batch;
  std::vector<store::Store::HeartbeatRequest> requests;
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything has been answered
    if (queue_.size() <= max_batch_) {
      batch.swap(queue_);  // `batch` is empty, with the capacity of an earlier batch
    } else {
      auto taken = queue_.begin() + static_cast<ptrdiff_t>(max_batch_);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(taken));
      queue_.erase(queue_.begin(), taken);
    }
    lock.unlock();
    requests.clear();
    for (const Pending& p : batch) {
      requests.push_back({.id = p.id, .hostname = p.hostname, .pid = p.pid, .now = p.now});
    }
    auto results = write_(requests);
    ++batches_written_;  // before the answers, so that a caller that has one sees it
    Answer(batch, std::move(results));
    batch.clear();  // not under mu_, which every Submit() takes
    lock.lock();
  }
}

void HeartbeatBatcher::Answer(std::vector<Pending>& batch,
                              std::vector<Result<store::HeartbeatRefusal>> results) {
  results.resize(batch.size(),
                 std::unexpected(Error(ErrorCode::kInternal, "heartbeat batch lost a result")));
  struct Answered {
    Pending pending;
    Result<store::HeartbeatRefusal> result;
  };
  // One list per loop; a batch sees as many loops as the server has I/O threads.
  std::vector<std::pair<http::EventLoop*, std::vector<Answered>>> by_loop;
  for (size_t i = 0; i < batch.size(); ++i) {
    http::EventLoop* loop = batch[i].loop;
    if (loop == nullptr) {
      batch[i].done(std::move(results[i]));
      continue;
    }
    auto group = std::ranges::find(by_loop, loop, &decltype(by_loop)::value_type::first);
    std::vector<Answered>& answers =
        group != by_loop.end() ? group->second : by_loop.emplace_back(loop, 0).second;
    answers.push_back({std::move(batch[i]), std::move(results[i])});
  }
  for (auto& [loop, answers] : by_loop) {
    loop->Post([answers = std::move(answers)]() mutable {
      for (Answered& a : answers) a.pending.done(std::move(a.result));
    });
  }
}

size_t HeartbeatBatcher::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t HeartbeatBatcher::batches_written() const { return batches_written_; }

}  // namespace airlock::execution_api

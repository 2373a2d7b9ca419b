#include "http/blocking_pool.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <latch>
#include <memory>
#include <string>

#include "common/thread_name.h"

namespace airlock::http {

struct BlockingPool::Impl {
  explicit Impl(int threads) : pool(static_cast<size_t>(threads)) {}
  boost::asio::thread_pool pool;
};

BlockingPool::BlockingPool(int threads) : impl_(std::make_unique<Impl>(std::max(1, threads))) {
  // Names each thread: every naming job waits until all have started, so that no thread
  // runs two of them. The latch is shared with the jobs: a job may still be inside
  // arrive_and_wait() when the constructor returns.
  const int n = std::max(1, threads);
  auto started = std::make_shared<std::latch>(n);
  for (int i = 0; i < n; ++i) {
    boost::asio::post(impl_->pool, [i, started] {
      NameThisThread("blocking-" + std::to_string(i));
      started->arrive_and_wait();
    });
  }
  started->wait();
}

BlockingPool::~BlockingPool() { impl_->pool.join(); }

void BlockingPool::Post(std::move_only_function<void()> work) {
  boost::asio::post(impl_->pool, std::move(work));
}

BlockingRunner BlockingPool::Runner() {
  return [this](std::move_only_function<void()> work) { Post(std::move(work)); };
}

}  // namespace airlock::http

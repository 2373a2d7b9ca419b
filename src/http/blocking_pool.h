#pragma once
// BlockingPool runs work that may block (database calls, password hashing) on threads of
// its own, named blocking-N, so that it never holds up an event loop. Work runs in the
// order it was posted, on whichever thread is free. The destructor waits for everything
// posted, then joins the threads.
// Thread-safe.

#include <functional>
#include <memory>

#include "http/router.h"

namespace airlock::http {

class BlockingPool {
 public:
  explicit BlockingPool(int threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Post(std::move_only_function<void()> work);
  // Post(), as a Router's blocking runner; valid while the pool is.
  BlockingRunner Runner();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace airlock::http

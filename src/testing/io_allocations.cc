#include "testing/io_allocations.h"

#include <stdlib.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>

namespace {

std::atomic<long> io_allocations{0};

bool OnIoThread() {
  // A thread's name is set before it serves and not changed after; only the answer
  // "yes" is kept, since a thread allocates before it names itself.
  thread_local bool io = false;
  if (!io) {
    char name[16] = {};
    ::prctl(PR_GET_NAME, name);
    io = std::strncmp(name, "http-io-", 8) == 0;
  }
  return io;
}

void Count() {
  if (OnIoThread()) io_allocations.fetch_add(1, std::memory_order_relaxed);
}

void* Aligned(size_t align, size_t size) {
  void* p = nullptr;
  return ::posix_memalign(&p, std::max(align, sizeof(void*)), size == 0 ? 1 : size) == 0 ? p
                                                                                         : nullptr;
}

}  // namespace

namespace airlock::test {
long IoThreadAllocations() { return io_allocations.load(); }
}  // namespace airlock::test

void* operator new(size_t size) {
  Count();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t size, std::align_val_t align) {
  Count();
  if (void* p = Aligned(static_cast<size_t>(align), size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }

extern "C" void* aligned_alloc(size_t align, size_t size) {
  Count();
  return Aligned(align, size);
}

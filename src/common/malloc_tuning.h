#pragma once
// glibc's malloc, tuned for a long-running server that allocates and frees at a steady
// rate on many threads.
//
// By default glibc hands memory back to the kernel whenever the free space at the top of
// a heap passes 128 KiB, takes it again on the next burst, and serves large blocks with
// mmap/munmap. Each of those changes the process's memory map, which on a virtual
// machine must reach every other CPU that runs a thread of the process before it
// completes. Under the heartbeat benchmark the api-server made about 100 such changes a
// second; with this tuning it makes none, and its p99 was lower in 15 of 16 alternating
// pairs of runs (8 with these settings, 8 with larger ones given by GLIBC_TUNABLES;
// docs/PERFORMANCE.md, stop 14).
//
// KeepFreedMemoryForReuse() keeps up to kMallocTrimThreshold of freed memory per heap in
// the process (it is reused for the next allocations), lets a heap grow in steps of
// kMallocTopPad, and serves blocks up to kMallocMmapThreshold from the heaps. The
// process's resident memory then stays near its peak rather than shrinking after a
// burst. Call it once, before the threads start.

#include <cstddef>

namespace airlock {

inline constexpr size_t kMallocTopPad = size_t{16} << 20;
inline constexpr size_t kMallocTrimThreshold = size_t{256} << 20;
inline constexpr size_t kMallocMmapThreshold = size_t{32} << 20;  // glibc's largest

// False if glibc refused a setting (none of them is then guaranteed).
bool KeepFreedMemoryForReuse();

}  // namespace airlock

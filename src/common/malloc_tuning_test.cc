// The tuning is observed through mallinfo2(): where a large block comes from, and
// whether freeing it gives memory back to the kernel. With glibc's defaults a 4 MiB block
// is mmapped (hblkhd grows) and freeing 8 MiB at the top of the heap trims it.
// Run as a test binary of its own (ctest runs each test in its own process), so the
// settings stay out of the other tests.
#include "common/malloc_tuning.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace airlock {
namespace {

TEST(MallocTuningTest, LargeBlocksComeFromTheHeapAndFreedMemoryStays) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces glibc's malloc, which this test observes";
#endif
  ASSERT_TRUE(KeepFreedMemoryForReuse());

  const struct mallinfo2 before = mallinfo2();
  void* block = std::malloc(size_t{4} << 20);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, size_t{4} << 20);
  const struct mallinfo2 with_block = mallinfo2();
  EXPECT_EQ(with_block.hblkhd, before.hblkhd) << "the 4 MiB block was mmapped";
  EXPECT_GE(with_block.arena, before.arena + (size_t{4} << 20));

  std::free(block);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_GE(after.arena, with_block.arena) << "freeing the block gave memory back";
  EXPECT_GE(after.fordblks, size_t{4} << 20);  // kept, free for the next allocation
}

}  // namespace
}  // namespace airlock

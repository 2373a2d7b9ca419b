#include "common/malloc_tuning.h"

#include <malloc.h>

namespace airlock {

bool KeepFreedMemoryForReuse() {
  // Setting any of these also stops glibc from adjusting the mmap and trim thresholds by
  // itself, as it otherwise does when a large block is freed.
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMallocMmapThreshold)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(kMallocTrimThreshold)) == 1 &&
         mallopt(M_TOP_PAD, static_cast<int>(kMallocTopPad)) == 1;
}

}  // namespace airlock

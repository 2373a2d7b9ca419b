#pragma once
// Names the calling thread, as `top -H`, `ps -L`, perf and gdb show it.

#include <string_view>

namespace airlock {

// Linux keeps 15 bytes of a thread's name; longer names are cut.
void NameThisThread(std::string_view name);

}  // namespace airlock

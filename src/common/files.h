#pragma once
// Whole-file reads and writes with the checks airlock wants everywhere: a size cap on
// reads (a config or key file is never gigabytes), and writes of secrets that never
// replace an existing file and are created with their final mode (no window in which
// another user can open them).

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock {

inline constexpr size_t kDefaultMaxFileBytes = 1 << 20;

// The file's bytes. NotFound if it does not exist, ResourceExhausted if it is larger than
// `max_bytes`, Unavailable for other I/O errors; messages name the path and errno text.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = kDefaultMaxFileBytes);

// Creates `path` with `mode` (O_CREAT|O_EXCL, so it refuses to overwrite: AlreadyExists)
// and writes `data`, fsync'd. On a failed write the partial file is removed.
Result<void> WriteNewFile(const std::string& path, std::string_view data, mode_t mode);

// The running executable (/proc/self/exe, symlinks resolved), and the directory that holds
// it; empty when /proc is not readable. airlock's executables are installed side by side,
// so this is how one finds another (airlock-supervisor beside airlock).
std::string SelfExecutable();
std::string SelfExecutableDirectory();
// The file `name` in SelfExecutableDirectory(): executables installed together find each
// other there.
std::string PathBesideSelf(std::string_view name);

// Replaces this process with the executable `name` in SelfExecutableDirectory(), run with
// `args` after its own path as argv[0] and this process's environment. Returns only when
// execv fails: the error names the path and errno.
Error ExecBesideSelf(std::string_view name, const std::vector<std::string>& args);

}  // namespace airlock

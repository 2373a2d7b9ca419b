#pragma once
// Small helpers shared by the command groups: ending a command with a message and an exit
// code, and reading a token argument.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "jwt/algorithm.h"

namespace airlock::cli {

// Prints "airlock: <message>" to stderr and ends the command with `exit_code`.
[[noreturn]] void Exit(int exit_code, std::string_view message);

// As Exit(), with the error's message.
[[noreturn]] void Exit(int exit_code, const Error& error);

// The token given as an argument, or read from stdin when the argument is "-". Trailing
// whitespace (the newline `token mint` prints) is dropped. Input over 64 KiB is refused.
std::string ReadTokenArgument(const std::string& argument);

// For the benchmarks: a field of /proc/<pid>/<file> in kB — status ("VmRSS", "VmHWM",
// "RssAnon") or smaps_rollup ("Pss", "Private_Dirty") — or 0 when the process is gone or
// the file is not readable. status stays readable for non-dumpable processes; smaps_rollup
// only for root (CAP_SYS_PTRACE).
long ProcStatusKb(pid_t pid, std::string_view field, std::string_view file = "status");

// Parses --alg; exits with a usage error naming the accepted values otherwise.
jwt::Algorithm ParseAlgorithmFlag(const std::string& name);

}  // namespace airlock::cli

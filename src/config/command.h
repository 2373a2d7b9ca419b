#pragma once
// Runs the commands of `_cmd` configuration sources (AIRLOCK__SECTION__OPTION_CMD and
// `option_cmd` in airlock.cfg): the way a secret is fetched from a vault or a file that
// only the component can read.
// Deliberately without a shell: the command line is split into words by SplitCommandLine
// and executed directly, so nothing in it is expanded or interpreted ($VAR, ~, globs, |, ;,
// >, && are ordinary characters). Whoever needs a shell writes `sh -c '...'` explicitly.
// Errors describe the failure (not found, exit status, signal, timeout) and never contain
// the command's output, which is the secret.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::config {

// Splits a command line into words, a subset of POSIX shell quoting:
// - blanks (space, tab, newline) separate words outside quotes;
// - '...' is literal up to the next single quote;
// - "..." is literal up to the next unescaped double quote, where \" and \\ stand for
//   " and \ and any other backslash is kept;
// - outside quotes, a backslash makes the next character literal.
// InvalidArgument for an unterminated quote, a trailing backslash, or no words at all.
Result<std::vector<std::string>> SplitCommandLine(std::string_view command_line);

inline constexpr std::chrono::milliseconds kDefaultCommandTimeout{10'000};
// A secret is small; more output than this means the wrong command.
inline constexpr size_t kMaxCommandOutput = 64 * 1024;

// Runs argv[0] (looked up in PATH when it has no '/') with the remaining words as its
// arguments, stdin from /dev/null, stderr inherited (so the operator sees why a command
// failed), in its own process group, with the current environment. Returns its stdout
// with one trailing "\n" removed when it exits with status 0 within `timeout`.
// Otherwise: NotFound when the program cannot be found or executed, DeadlineExceeded
// after `timeout` (the whole process group is killed with SIGKILL), ResourceExhausted if it
// prints more than kMaxCommandOutput bytes (killed likewise), FailedPrecondition for a
// non-zero exit status or a death by signal, Internal when pipe() or fork() fail.
Result<std::string> RunCommand(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout = kDefaultCommandTimeout);

}  // namespace airlock::config

#pragma once
// The process log: one line per event on stderr, "<time> <level> <component> <message>",
// written through spdlog. Every message passes through the process's SecretsMasker first,
// so a secret that reaches a log call (a connection string in an error, a token in a
// header) is written as "***". Components install the masker once at start, after the
// configuration is loaded and before anything that could carry a secret is logged.
// Thread-safe: spdlog's sink is locked, and the masker is.

#include <memory>
#include <string_view>

#include "common/secrets_masker.h"

namespace airlock {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Names the component in every line ("api-server", "scheduler", ...) and sets the masker
// (nullptr: no masking, for commands that handle no secrets). Call before logging.
void InitLogging(std::string_view component, std::shared_ptr<const SecretsMasker> masker,
                 LogLevel min_level = LogLevel::kInfo);

// Writes one line (newlines in `message` are escaped so a line is always one event).
void Log(LogLevel level, std::string_view message);
// Whether a message of `level` would be written: lets a caller skip building it.
bool LogEnabled(LogLevel level);
inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarning(std::string_view message) { Log(LogLevel::kWarning, message); }
inline void LogError(std::string_view message) { Log(LogLevel::kError, message); }

}  // namespace airlock

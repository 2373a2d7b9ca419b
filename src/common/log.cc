#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

namespace airlock {

namespace {

struct LogState {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;       // Guarded by mu (replaced by Init).
  std::shared_ptr<const SecretsMasker> masker;  // Guarded by mu.
  // The logger's level, readable without the lock (set with it).
  std::atomic<LogLevel> min_level{LogLevel::kInfo};
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: threads may log at exit
  return *state;
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarning:
      return spdlog::level::warn;
    case LogLevel::kError:
      break;
  }
  return spdlog::level::err;
}

std::shared_ptr<spdlog::logger> MakeLogger(std::string_view component, LogLevel min_level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(component), sink);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %n %v", spdlog::pattern_time_type::utc);
  logger->set_level(ToSpdlog(min_level));
  logger->flush_on(spdlog::level::info);
  return logger;
}

}  // namespace

void InitLogging(std::string_view component, std::shared_ptr<const SecretsMasker> masker,
                 LogLevel min_level) {
  auto& state = State();
  std::lock_guard lock(state.mu);
  state.logger = MakeLogger(component, min_level);
  state.masker = std::move(masker);
  state.min_level = min_level;
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= static_cast<int>(State().min_level.load());
}

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  auto& state = State();
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<const SecretsMasker> masker;
  {
    std::lock_guard lock(state.mu);
    if (!state.logger) state.logger = MakeLogger("airlock", LogLevel::kInfo);
    logger = state.logger;
    masker = state.masker;
  }
  if (!logger->should_log(ToSpdlog(level))) return;
  std::string text = masker ? masker->Mask(message) : std::string(message);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') text.replace(i, 1, "\\n");
    if (text[i] == '\r') text.replace(i, 1, "\\r");
  }
  logger->log(ToSpdlog(level), std::string_view(text));
}

}  // namespace airlock

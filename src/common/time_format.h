#pragma once
// RFC 3339 / ISO 8601 times in UTC, as Airflow's APIs write and read them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace airlock {

// "2026-11-23T10:00:00Z" (whole seconds).
std::string FormatUtcSeconds(int64_t unix_seconds);
// "2026-11-23T10:00:00.123456Z".
std::string FormatUtcMicros(int64_t unix_micros);

// An RFC 3339 date-time ("2026-11-23T10:00:00Z", "2026-11-23 10:00:00.5+01:00") → Unix
// seconds, fractions dropped; nullopt for anything else (no bare dates, no local times).
std::optional<int64_t> ParseRfc3339(std::string_view text);

}  // namespace airlock

// Event-time helpers: RFC 3339 timestamps <-> microseconds since the Unix epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

// Parses RFC 3339 ("2024-05-01T10:00:00.123456Z", "+02:00" offsets) and the common lenient forms
// seen in exported logs: a space instead of 'T', no zone (taken as UTC), 0-9 fractional digits.
// Returns nullopt on anything else, including out-of-range fields.
std::optional<int64_t> ParseTimestampMicros(std::string_view text);

// Formats as "2024-05-01T10:00:00.123456Z" (always UTC, always 6 fractional digits).
std::string FormatTimestampMicros(int64_t micros);

// Parses a duration: one or more <integer><unit> groups, unit ms, s, m, h or d ("300s", "15m",
// "1h30m", "7d"). Returns nullopt for anything else, for zero, and past 100 years.
std::optional<int64_t> ParseDurationMicros(std::string_view text);

}  // namespace vigil

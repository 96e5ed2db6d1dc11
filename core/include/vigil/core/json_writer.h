// Minimal JSON output helpers: escaping that is safe for any bytes (invalid UTF-8 is replaced
// with U+FFFD so that output is always valid JSON).
#pragma once

#include <string>
#include <string_view>

namespace vigil {

// Appends `s` as a quoted JSON string.
void AppendJsonString(std::string_view s, std::string* out);

// true when `s` is well-formed UTF-8.
bool IsValidUtf8(std::string_view s);

}  // namespace vigil

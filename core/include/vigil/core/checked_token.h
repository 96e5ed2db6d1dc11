// Checked opaque tokens (paging cursors): lowercase hex of `body` followed by its FNV-1a-64,
// big-endian. The checksum catches truncation and accidental tampering; it is not a MAC (a
// cursor only names a position its holder may read anyway). Also the big-endian 64-bit helpers
// the store keys are built with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil {

void AppendBigEndian64(uint64_t v, std::string* out);
// The first 8 bytes of `b` (which must hold them) as a big-endian number.
uint64_t DecodeBigEndian64(std::string_view b);

// hex(body ‖ FNV-1a-64(body)).
std::string EncodeCheckedToken(std::string_view body);
// The body of a token EncodeCheckedToken made; nullopt for anything else (odd length, not
// lowercase hex, shorter than the checksum, longer than max_chars, a checksum that does not
// match).
std::optional<std::string> DecodeCheckedToken(std::string_view text, size_t max_chars);

}  // namespace vigil

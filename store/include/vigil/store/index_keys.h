// Byte layout of the findings index keys and of the opaque query cursor (see store/README.md).
// Public so that tests and future migration tools can read the layout without the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::store {

// Which index a key (and a cursor) belongs to. The numeric values are stored inside cursors.
enum class IndexKind : uint8_t { kTime = 0, kRule = 1, kCluster = 2, kUser = 3 };

// The part of an index key that selects one indexed value: empty for kTime, otherwise a
// 4-byte big-endian length followed by the value bytes. The length prefix makes the encoding
// unambiguous for any value bytes (including '\0') and keeps one value's keys contiguous.
std::string IndexPrefix(IndexKind kind, std::string_view value);

// Appends the 8-byte big-endian encoding of ~(uint64(t) ^ 2^63): byte-wise ascending order of
// the encoding is descending order of t, so a forward scan yields the newest first.
void AppendInvertedTime(int64_t t, std::string* out);
int64_t DecodeInvertedTime(std::string_view eight_bytes);  // requires size() >= 8

// prefix + inverted first_seen + id. Ties on first_seen are ordered by id ascending.
std::string MakeIndexKey(std::string_view prefix, int64_t first_seen_us, std::string_view id);

struct ParsedIndexKey {
  int64_t first_seen_us = 0;
  std::string_view id;  // points into the parsed key
};
// nullopt unless key starts with prefix and has a time and a non-empty id after it.
std::optional<ParsedIndexKey> ParseIndexKey(std::string_view key, std::string_view prefix);

// A cursor names the last index entry a page looked at; the next page starts strictly after it.
struct Cursor {
  IndexKind kind = IndexKind::kTime;
  std::string key;
};

// Lowercase hex of [version=1][kind][key][FNV-1a 64 of the preceding bytes, big-endian]. The
// checksum detects truncation and tampering by accident or by hand; it is not a MAC (a cursor
// only names a position in an index the caller may read anyway).
std::string EncodeCursor(const Cursor& cursor);
// nullopt for anything EncodeCursor did not produce.
std::optional<Cursor> DecodeCursor(std::string_view text);

}  // namespace vigil::store

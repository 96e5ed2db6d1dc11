// Index key and cursor encodings for the RocksDB findings store.
#include "vigil/store/index_keys.h"

#include "vigil/core/checked_token.h"

namespace vigil::store {
namespace {

constexpr uint8_t kCursorVersion = 1;
constexpr size_t kTimeBytes = 8;

}  // namespace

std::string IndexPrefix(IndexKind kind, std::string_view value) {
  std::string out;
  if (kind == IndexKind::kTime) return out;
  const auto n = static_cast<uint32_t>(value.size());
  out.reserve(4 + value.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xFF));
  out.append(value);
  return out;
}

void AppendInvertedTime(int64_t t, std::string* out) {
  const uint64_t ordered = static_cast<uint64_t>(t) ^ (uint64_t{1} << 63);
  AppendBigEndian64(~ordered, out);
}

int64_t DecodeInvertedTime(std::string_view eight_bytes) {
  const uint64_t ordered = ~DecodeBigEndian64(eight_bytes);
  return static_cast<int64_t>(ordered ^ (uint64_t{1} << 63));
}

std::string MakeIndexKey(std::string_view prefix, int64_t first_seen_us, std::string_view id) {
  std::string key;
  key.reserve(prefix.size() + kTimeBytes + id.size());
  key.append(prefix);
  AppendInvertedTime(first_seen_us, &key);
  key.append(id);
  return key;
}

std::optional<ParsedIndexKey> ParseIndexKey(std::string_view key, std::string_view prefix) {
  if (key.size() <= prefix.size() + kTimeBytes || !key.starts_with(prefix)) return std::nullopt;
  ParsedIndexKey parsed;
  parsed.first_seen_us = DecodeInvertedTime(key.substr(prefix.size(), kTimeBytes));
  parsed.id = key.substr(prefix.size() + kTimeBytes);
  return parsed;
}

std::string EncodeCursor(const Cursor& cursor) {
  std::string body;
  body.reserve(2 + cursor.key.size());
  body.push_back(static_cast<char>(kCursorVersion));
  body.push_back(static_cast<char>(cursor.kind));
  body.append(cursor.key);
  return EncodeCheckedToken(body);
}

std::optional<Cursor> DecodeCursor(std::string_view text) {
  // Bounded so that a hostile query string cannot make us allocate much.
  constexpr size_t kMaxCursorChars = 8192;
  if (text.empty()) return std::nullopt;
  auto body = DecodeCheckedToken(text, kMaxCursorChars);
  if (!body || body->size() < 2 + kTimeBytes + 1) return std::nullopt;
  if (static_cast<uint8_t>((*body)[0]) != kCursorVersion) return std::nullopt;
  const auto kind = static_cast<uint8_t>((*body)[1]);
  if (kind > static_cast<uint8_t>(IndexKind::kUser)) return std::nullopt;
  Cursor cursor;
  cursor.kind = static_cast<IndexKind>(kind);
  cursor.key.assign(body->substr(2));
  return cursor;
}

}  // namespace vigil::store

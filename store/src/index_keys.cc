// Index key and cursor encodings for the RocksDB findings store.
#include "vigil/store/index_keys.h"

namespace vigil::store {
namespace {

constexpr uint8_t kCursorVersion = 1;
constexpr size_t kTimeBytes = 8;
constexpr size_t kChecksumBytes = 8;

void AppendBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xFF));
}

uint64_t DecodeBigEndian64(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is rejected: EncodeCursor never produces it
}

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
  std::string raw;
  raw.reserve(2 + cursor.key.size() + kChecksumBytes);
  raw.push_back(static_cast<char>(kCursorVersion));
  raw.push_back(static_cast<char>(cursor.kind));
  raw.append(cursor.key);
  AppendBigEndian64(Fnv1a64(raw), &raw);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) {
    const auto b = static_cast<uint8_t>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

std::optional<Cursor> DecodeCursor(std::string_view text) {
  // Bounded so that a hostile query string cannot make us allocate much.
  constexpr size_t kMaxCursorChars = 8192;
  if (text.empty() || text.size() % 2 != 0 || text.size() > kMaxCursorChars) return std::nullopt;
  std::string raw;
  raw.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = HexValue(text[i]);
    const int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw.push_back(static_cast<char>((hi << 4) | lo));
  }
  if (raw.size() < 2 + kTimeBytes + 1 + kChecksumBytes) return std::nullopt;
  const std::string_view body(raw.data(), raw.size() - kChecksumBytes);
  if (DecodeBigEndian64(std::string_view(raw).substr(body.size())) != Fnv1a64(body)) {
    return std::nullopt;
  }
  if (static_cast<uint8_t>(body[0]) != kCursorVersion) return std::nullopt;
  const auto kind = static_cast<uint8_t>(body[1]);
  if (kind > static_cast<uint8_t>(IndexKind::kUser)) return std::nullopt;
  Cursor cursor;
  cursor.kind = static_cast<IndexKind>(kind);
  cursor.key.assign(body.substr(2));
  return cursor;
}

}  // namespace vigil::store

// Checked opaque tokens (see checked_token.h).
#include "vigil/core/checked_token.h"

namespace vigil {
namespace {

constexpr size_t kChecksumBytes = 8;

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
  return -1;  // uppercase is rejected: EncodeCheckedToken never produces it
}

}  // namespace

void AppendBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xFF));
}

uint64_t DecodeBigEndian64(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

std::string EncodeCheckedToken(std::string_view body) {
  std::string raw(body);
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

std::optional<std::string> DecodeCheckedToken(std::string_view text, size_t max_chars) {
  if (text.size() % 2 != 0 || text.size() > max_chars) return std::nullopt;
  std::string raw;
  raw.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = HexValue(text[i]);
    const int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw.push_back(static_cast<char>((hi << 4) | lo));
  }
  if (raw.size() < kChecksumBytes) return std::nullopt;
  const std::string_view body(raw.data(), raw.size() - kChecksumBytes);
  if (DecodeBigEndian64(std::string_view(raw).substr(body.size())) != Fnv1a64(body)) {
    return std::nullopt;
  }
  return std::string(body);
}

}  // namespace vigil

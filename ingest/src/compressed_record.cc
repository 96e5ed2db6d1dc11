// Bounded base64 and gzip decoding for compressed records (see compressed_record.h).
#include "compressed_record.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace vigil::ingest::internal {
namespace {

constexpr uint8_t kInvalid = 0xff;
constexpr uint8_t kSpace = 0xfe;

constexpr std::array<uint8_t, 256> MakeBase64Table() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = i;
  for (char c : {' ', '\t', '\r', '\n'}) t[static_cast<uint8_t>(c)] = kSpace;
  return t;
}
constexpr std::array<uint8_t, 256> kBase64 = MakeBase64Table();

// Ends the z_stream however Gunzip returns.
struct InflateGuard {
  z_stream* zs;
  ~InflateGuard() { inflateEnd(zs); }
};

Status OverLimit(size_t limit) {
  return Status::InvalidArgument("gzip record inflates to more than the limit of " +
                                 std::to_string(limit) + " bytes");
}

}  // namespace

bool IsGzip(const char* data, size_t len) {
  return len >= 2 && static_cast<uint8_t>(data[0]) == 0x1f && static_cast<uint8_t>(data[1]) == 0x8b;
}

bool IsBase64Gzip(const char* data, size_t len) {
  return len >= 4 && std::string_view(data, 4) == "H4sI";
}

Status Base64Decode(std::string_view text, std::string* out) {
  out->clear();
  out->reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(text[i]);
    const uint8_t v = kBase64[c];
    if (v == kSpace) continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (v == kInvalid || pad > 0) {
      const char hex[] = "0123456789abcdef";
      return Status::InvalidArgument(std::string("invalid base64: unexpected byte 0x") +
                                     hex[c >> 4] + hex[c & 15] + " at offset " + std::to_string(i));
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // 6 leftover bits cannot end a quantum: one base64 digit alone encodes no byte.
  if (bits >= 6 || pad > 2) return Status::InvalidArgument("invalid base64: truncated text");
  return Status::Ok();
}

Status Gunzip(const char* data, size_t len, size_t limit, PaddedBuffer* out) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {  // 16: gzip wrapper only
    return Status::Internal("zlib inflateInit2 failed");
  }
  InflateGuard guard{&zs};
  out->clear();
  // One byte past the limit tells "over" from "exactly".
  const size_t cap_limit = limit == SIZE_MAX ? limit : limit + 1;
  size_t produced = 0;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  zs.avail_in = 0;
  size_t in_left = len;
  for (;;) {
    if (produced > limit) return OverLimit(limit);
    const size_t writable = out->capacity() - simdjson::SIMDJSON_PADDING;
    if (!out->data() || produced == std::min(writable, cap_limit)) {
      // Grow geometrically from a guess (logs compress ~12x), never past limit + 1.
      size_t want = std::max<size_t>({size_t{64} << 10, len * 4, produced * 2});
      if (out->data()) out->Resize(produced);  // Reserve keeps only size() bytes
      out->Reserve(std::min(want, cap_limit));
    }
    const size_t room = std::min(out->capacity() - simdjson::SIMDJSON_PADDING, cap_limit);
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs.avail_out = static_cast<uInt>(std::min<size_t>(room - produced, UINT32_MAX));
    if (zs.avail_in == 0 && in_left > 0) {
      zs.avail_in = static_cast<uInt>(std::min<size_t>(in_left, UINT32_MAX));
      in_left -= zs.avail_in;
    }
    const uInt before = zs.avail_out;
    const int ret = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (ret == Z_STREAM_END) {
      if (zs.avail_in == 0 && in_left == 0) break;
      const char* next = reinterpret_cast<const char*>(zs.next_in);
      const size_t rest = zs.avail_in + in_left;
      if (!IsGzip(next, rest)) {
        return Status::InvalidArgument("invalid gzip: " + std::to_string(rest) +
                                       " bytes after the end of the gzip stream");
      }
      if (inflateReset(&zs) != Z_OK) return Status::Internal("zlib inflateReset failed");
      continue;
    }
    if (ret == Z_OK || ret == Z_BUF_ERROR) {
      if (zs.avail_out == 0) continue;  // the output is full: grow, or report the limit
      if (zs.avail_in == 0 && in_left == 0) {
        return Status::InvalidArgument("truncated gzip record (the stream ends early)");
      }
      if (ret == Z_OK) continue;
      // Z_BUF_ERROR with room on both sides: no progress is possible.
    }
    std::string why = zs.msg ? zs.msg : "zlib error " + std::to_string(ret);
    return Status::InvalidArgument("corrupt gzip record: " + why);
  }
  if (produced > limit) return OverLimit(limit);  // the last call filled the byte past it
  out->Resize(produced);
  return Status::Ok();
}

}  // namespace vigil::ingest::internal

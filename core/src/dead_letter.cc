// DeadLetter rendering, its sort key and its paging cursor.
#include "vigil/core/dead_letter.h"

#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"

namespace vigil {
namespace {

constexpr uint8_t kCursorVersion = 1;
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
  return -1;  // uppercase is rejected: Encode never produces it
}

void AppendBase64(std::string_view bytes, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<uint8_t>(bytes[i + 2])};
    for (int shift = 18; shift >= 0; shift -= 6) out->push_back(kAlphabet[(n >> shift) & 0x3F]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 0) return;
  uint32_t n = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
  if (rest == 2) n |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
  out->push_back(kAlphabet[(n >> 18) & 0x3F]);
  out->push_back(kAlphabet[(n >> 12) & 0x3F]);
  out->push_back(rest == 2 ? kAlphabet[(n >> 6) & 0x3F] : '=');
  out->push_back('=');
}

void Key(std::string_view k, std::string* out) {
  AppendJsonString(k, out);
  out->push_back(':');
}

void StrField(std::string_view k, std::string_view v, std::string* out) {
  Key(k, out);
  AppendJsonString(v, out);
  out->push_back(',');
}

template <typename T>
void NumberOrNull(std::string_view k, T v, bool known, std::string* out) {
  Key(k, out);
  out->append(known ? std::to_string(v) : "null");
  out->push_back(',');
}

void Cut(size_t max, std::string* s) {
  if (s->size() > max) s->resize(max);
}

}  // namespace

void SetDeadLetterRecord(std::string_view record, DeadLetter* dl) {
  dl->head.assign(record.substr(0, kDeadLetterHeadBytes));
  dl->size = record.size();
}

void TruncateDeadLetter(DeadLetter* dl) {
  Cut(kDeadLetterHeadBytes, &dl->head);
  Cut(kDeadLetterTextBytes, &dl->source);
  Cut(kDeadLetterTextBytes, &dl->origin);
  Cut(kDeadLetterTextBytes, &dl->cluster);
  Cut(kDeadLetterTextBytes, &dl->error);
}

void AppendDeadLetterJson(const DeadLetter& dl, std::string* out) {
  out->push_back('{');
  StrField("received", FormatTimestampMicros(dl.received_us), out);
  StrField("source", dl.source, out);
  StrField("origin", dl.origin, out);
  NumberOrNull("partition", dl.partition, dl.partition >= 0, out);
  NumberOrNull("offset", dl.offset, dl.offset >= 0, out);
  NumberOrNull("line", dl.line, dl.line > 0, out);
  StrField("cluster", dl.cluster, out);
  StrField("error", dl.error, out);
  NumberOrNull("size", dl.size, true, out);
  StrField("head", dl.head, out);
  Key("head_truncated", out);
  out->append(dl.size > dl.head.size() ? "true" : "false");
  if (!IsValidUtf8(dl.head)) {
    out->push_back(',');
    Key("head_base64", out);
    out->push_back('"');
    AppendBase64(dl.head, out);
    out->push_back('"');
  }
  out->push_back('}');
}

std::string DeadLetterToJson(const DeadLetter& dl) {
  std::string out;
  out.reserve(256 + dl.head.size() + dl.error.size() + dl.origin.size());
  AppendDeadLetterJson(dl, &out);
  return out;
}

std::string MakeDeadLetterKey(int64_t received_us, uint64_t seq) {
  std::string key;
  key.reserve(kDeadLetterKeyBytes);
  AppendBigEndian64(static_cast<uint64_t>(received_us) ^ (uint64_t{1} << 63), &key);
  AppendBigEndian64(seq, &key);
  return key;
}

std::optional<int64_t> DeadLetterKeyTime(std::string_view key) {
  if (key.size() != kDeadLetterKeyBytes) return std::nullopt;
  return static_cast<int64_t>(DecodeBigEndian64(key) ^ (uint64_t{1} << 63));
}

std::optional<uint64_t> DeadLetterKeySeq(std::string_view key) {
  if (key.size() != kDeadLetterKeyBytes) return std::nullopt;
  return DecodeBigEndian64(key.substr(8));
}

std::string EncodeDeadLetterCursor(std::string_view key) {
  std::string raw;
  raw.reserve(1 + key.size() + kChecksumBytes);
  raw.push_back(static_cast<char>(kCursorVersion));
  raw.append(key);
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

std::optional<std::string> DecodeDeadLetterCursor(std::string_view text) {
  constexpr size_t kRawBytes = 1 + kDeadLetterKeyBytes + kChecksumBytes;
  if (text.size() != 2 * kRawBytes) return std::nullopt;
  std::string raw;
  raw.reserve(kRawBytes);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = HexValue(text[i]);
    const int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw.push_back(static_cast<char>((hi << 4) | lo));
  }
  const std::string_view body(raw.data(), raw.size() - kChecksumBytes);
  if (DecodeBigEndian64(std::string_view(raw).substr(body.size())) != Fnv1a64(body)) {
    return std::nullopt;
  }
  if (static_cast<uint8_t>(body[0]) != kCursorVersion) return std::nullopt;
  return std::string(body.substr(1));
}

}  // namespace vigil

// DeadLetter rendering, its sort key and its paging cursor.
#include "vigil/core/dead_letter.h"

#include "vigil/core/json_writer.h"
#include "vigil/core/checked_token.h"
#include "vigil/core/time_util.h"

namespace vigil {
namespace {

constexpr uint8_t kCursorVersion = 1;

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
  std::string body(1, static_cast<char>(kCursorVersion));
  body.append(key);
  return EncodeCheckedToken(body);
}

std::optional<std::string> DecodeDeadLetterCursor(std::string_view text) {
  constexpr size_t kBodyBytes = 1 + kDeadLetterKeyBytes;
  auto body = DecodeCheckedToken(text, 2 * (kBodyBytes + 8));
  if (!body || body->size() != kBodyBytes) return std::nullopt;
  if (static_cast<uint8_t>((*body)[0]) != kCursorVersion) return std::nullopt;
  return body->substr(1);
}

}  // namespace vigil

// DeadLetter: a record that could not be parsed (malformed JSON, oversize, not decodable), kept
// with its position so that someone can find it and see why (invariant 5), and the read
// interface of the store that keeps them. Lives in core so that app fills them, store keeps them
// and api serves them without knowing each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"

namespace vigil {

// At most this many bytes of a record are kept (DeadLetter::head).
inline constexpr size_t kDeadLetterHeadBytes = 1024;
// The text fields (source, origin, cluster, error) are cut to this many bytes when stored.
inline constexpr size_t kDeadLetterTextBytes = 4096;
// The default bound on how many dead letters a store keeps (the oldest go first).
inline constexpr size_t kDefaultMaxDeadLetters = 100'000;
// ListDeadLetters accepts a limit of 1..kMaxDeadLetterLimit.
inline constexpr size_t kMaxDeadLetterLimit = 1000;

struct DeadLetter {
  int64_t received_us = 0;  // wall clock (µs since the epoch) when it was dead-lettered; the
                            // RocksDB store stamps 0 with its own clock
  std::string source;       // "kafka", "file", "webhook"
  std::string origin;       // topic, file path, ...
  int32_t partition = -1;   // Kafka partition; -1 when not applicable
  int64_t offset = -1;      // Kafka offset, or byte offset in a file; -1 when unknown
  uint64_t line = 0;        // line number in a file (1-based); 0 when unknown
  std::string cluster;      // from the authenticated channel, as for events
  std::string error;        // why it could not be parsed
  std::string head;         // the first bytes of the record, raw (at most kDeadLetterHeadBytes)
  uint64_t size = 0;        // the record's full size in bytes

  bool operator==(const DeadLetter&) const = default;
};

// Sets head (the first kDeadLetterHeadBytes bytes of `record`, raw) and size.
void SetDeadLetterRecord(std::string_view record, DeadLetter* dl);

// Cuts head to kDeadLetterHeadBytes and the text fields to kDeadLetterTextBytes (bytes; a cut
// may split a UTF-8 sequence, which the JSON rendering shows as U+FFFD). Stores call it on
// write so that every entry is bounded whatever the caller passed.
void TruncateDeadLetter(DeadLetter* dl);

// One JSON object, always valid JSON whatever the bytes:
//   {"received":"2025-03-04T06:22:18.000000Z","source":"file","origin":"/var/log/a.log",
//    "partition":null,"offset":1234,"line":17,"cluster":"prod","error":"...","size":5000,
//    "head":"{\"kind\":...","head_truncated":true}
// partition/offset/line are null when unknown (-1, -1, 0). `head` is the head as a JSON
// string: control bytes are escaped (exact), bytes that are not valid UTF-8 become U+FFFD; when
// that happened, "head_base64" (standard alphabet, padded) holds the exact bytes as well.
// head_truncated is size > the bytes in head.
void AppendDeadLetterJson(const DeadLetter& dl, std::string* out);
std::string DeadLetterToJson(const DeadLetter& dl);

// The sort key of a dead letter in a store: 8 bytes big-endian of uint64(received_us) XOR 2^63
// (so byte order is time order, negative times included), then 8 bytes big-endian of a sequence
// number that makes two dead letters of the same microsecond distinct. Oldest first.
inline constexpr size_t kDeadLetterKeyBytes = 16;
std::string MakeDeadLetterKey(int64_t received_us, uint64_t seq);
// The parts of a key. nullopt unless `key` is exactly kDeadLetterKeyBytes long.
std::optional<int64_t> DeadLetterKeyTime(std::string_view key);
std::optional<uint64_t> DeadLetterKeySeq(std::string_view key);

// The opaque paging cursor: lowercase hex of [version=1][key][FNV-1a-64 of the preceding bytes,
// big-endian]. Decode gives the key back, or nullopt for anything Encode did not produce. The
// checksum catches truncation and tampering by accident; it is not a MAC (a cursor only names a
// position the caller may read anyway).
std::string EncodeDeadLetterCursor(std::string_view key);
std::optional<std::string> DecodeDeadLetterCursor(std::string_view text);

struct DeadLetterFilter {
  std::optional<std::string> source;  // exact match
  std::optional<std::string> origin;  // exact match
  size_t limit = 100;                 // 1..kMaxDeadLetterLimit
  std::string cursor;                 // opaque, from the previous page's next_cursor
};

struct DeadLetterPage {
  std::vector<DeadLetter> dead_letters;  // newest first (received_us, then arrival order)
  std::string next_cursor;               // empty when there are no more
};

// Reads the dead letters kept by a store. Writing goes through StateStore::Commit
// (StateCheckpoint::dead_letters), in the same atomic write as the rest of the checkpoint.
class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;

  // One page, newest first, from a consistent snapshot; the next page starts strictly after the
  // cursor. InvalidArgument("invalid cursor") for a cursor Encode did not produce, and
  // InvalidArgument for a limit out of range. A page may hold fewer than `limit` entries (a
  // filter, or a bound on the work of one call) and still have a next_cursor. Thread-safe.
  virtual Result<DeadLetterPage> ListDeadLetters(const DeadLetterFilter& filter) const = 0;

  // How many dead letters are kept now. Thread-safe.
  virtual uint64_t DeadLetterCount() const = 0;
};

}  // namespace vigil

// Outbox: messages a checkpoint owes to the outside world (the findings and dead-letter Kafka
// topics, the Falco alert endpoint). They are written in the same atomic write as the checkpoint
// that made them, and removed once the outside acknowledged them, so that a crash between the
// checkpoint and the delivery never loses one: after a restart they are sent again. Delivery is
// therefore at least once; every message carries a key (the finding id) so that consumers and
// compacted topics keep the last value. Lives in core so that app fills and relays it and store
// keeps it without knowing each other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"

namespace vigil {

// Channel names: what the message is, not where it goes (the topic is configuration and may
// change between restarts).
inline constexpr std::string_view kOutboxFindings = "findings";
inline constexpr std::string_view kOutboxDeadLetters = "deadletters";
inline constexpr std::string_view kOutboxFalco = "falco";  // Falco JSON alerts (falco sink)
// The default bound on how many messages a store keeps (the oldest are dropped, and counted,
// when the outside is unreachable for long).
inline constexpr size_t kDefaultMaxOutbox = 200'000;

struct OutboxMessage {
  std::string channel;  // kOutboxFindings, kOutboxDeadLetters, kOutboxFalco
  std::string key;
  std::string value;

  bool operator==(const OutboxMessage&) const = default;
};

struct OutboxEntry {
  uint64_t seq = 0;  // increasing in write order, never reused by a store
  OutboxMessage message;
};

// The store side of the outbox. Writing goes through StateStore::Commit
// (StateCheckpoint::outbox). Thread-safe.
class Outbox {
 public:
  virtual ~Outbox() = default;

  // The kept entries with seq >= from, in seq order: at most `limit` of them, and fewer once
  // their values pass `max_bytes` (always at least one when any is left).
  virtual Result<std::vector<OutboxEntry>> ReadOutbox(uint64_t from, size_t limit,
                                                      size_t max_bytes) const = 0;
  // Removes delivered entries. Seqs that are no longer kept (already removed, or dropped past
  // the bound) are ignored. Not synced: an entry whose removal is lost in a crash is sent again.
  virtual Status TrimOutbox(const std::vector<uint64_t>& seqs) = 0;
  // Entries kept now, and entries dropped past the bound since the store was opened.
  virtual uint64_t OutboxCount() const = 0;
  virtual uint64_t OutboxDropped() const = 0;
};

}  // namespace vigil

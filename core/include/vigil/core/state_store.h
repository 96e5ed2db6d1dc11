// StateStore: where stateful detection keeps what it remembers (operator state, the dedup set of
// events already processed, watermarks, source positions), and the checkpoint that writes all of
// it together with the findings it produced. The interface lives in core so that detect and app
// depend on it without knowing RocksDB; vigil::store::RocksDbFindingStore implements it, and
// MemoryStateStore (memory_state_store.h) is the fake for tests and store-less runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/core/dead_letter.h"
#include "vigil/core/finding.h"
#include "vigil/core/outbox.h"
#include "vigil/core/status.h"

namespace vigil {

// Every state and dedup value starts with this header: the event time (µs, little-endian int64)
// after which the entry is dead. A store may drop an entry once the watermark of the entry's
// cluster passes its expiry; readers treat an expired entry as absent, so whether it was
// dropped yet never changes a result.
inline constexpr size_t kStateExpiryBytes = 8;
void PutExpiry(int64_t expires_us, std::string* value);  // appends the header
int64_t GetExpiry(std::string_view value);               // 0 when the value is too short

// Keys are built from parts separated by kKeySep ('\x1f', which the parts never contain:
// callers strip it). State keys: rule_id SEP cluster SEP group key. Dedup keys: cluster SEP
// auditID SEP stage. The cluster is always the second field, or the first for dedup keys.
inline constexpr char kKeySep = '\x1f';
std::string MakeStateKey(std::string_view rule_id, std::string_view cluster, std::string_view key);
std::string MakeDedupKey(std::string_view cluster, std::string_view audit_id,
                         std::string_view stage);
// The cluster field of a state key (the second) or of a dedup key (the first); empty when the
// key has no such field.
std::string_view StateKeyCluster(std::string_view state_key);
std::string_view DedupKeyCluster(std::string_view dedup_key);

// Meta keys of the per-cluster event-time watermark (and learning start) that StatefulDetector
// keeps: kWatermarkMetaPrefix + cluster.
inline constexpr std::string_view kWatermarkMetaPrefix = "wm\x1f";
inline std::string WatermarkMetaKey(std::string_view cluster) {
  std::string k(kWatermarkMetaPrefix);
  k.append(cluster);
  return k;
}

// What one checkpoint writes, atomically: all of it or none of it.
struct StateCheckpoint {
  std::vector<std::pair<std::string, std::string>> state;  // key -> value (with expiry header)
  std::vector<std::string> state_deletes;
  std::vector<std::pair<std::string, std::string>> dedup;  // key -> value (expiry header only)
  std::vector<std::string> dedup_deletes;  // events to be taken as new again (a restore)
  std::vector<std::pair<std::string, std::string>> meta;   // watermarks, learning starts,
                                                           // source positions
  std::vector<Finding> findings;  // final values (already merged with what is stored)
  // Records that could not be parsed, up to the position this checkpoint covers, so that a
  // dead letter is kept exactly when the source position that skips it is.
  std::vector<DeadLetter> dead_letters;
  // Messages owed to the outside (the findings topic, ...), kept until delivered (outbox.h).
  std::vector<OutboxMessage> outbox;

  bool empty() const {
    return state.empty() && state_deletes.empty() && dedup.empty() && dedup_deletes.empty() &&
           meta.empty() &&
           findings.empty() && dead_letters.empty() && outbox.empty();
  }
  void clear() {
    state.clear();
    state_deletes.clear();
    dedup_deletes.clear();
    dedup.clear();
    meta.clear();
    findings.clear();
    dead_letters.clear();
    outbox.clear();
  }
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // The stored value, or nullopt when absent. IoError/Corruption when the store cannot answer.
  virtual Result<std::optional<std::string>> GetState(std::string_view key) const = 0;
  // Whether the event with this dedup key was committed by an earlier checkpoint.
  virtual Result<bool> ContainsEvent(std::string_view dedup_key) const = 0;
  virtual Result<std::optional<std::string>> GetMeta(std::string_view key) const = 0;
  // All meta entries whose key starts with `prefix`, in key order.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const = 0;

  // Writes the checkpoint in one atomic, durable write. The findings go to the finding store
  // when the implementation is also one (RocksDbFindingStore); a pure state store ignores them.
  // The dead letters go to the store's bounded dead-letter set (DeadLetterStore), oldest
  // removed past its bound; the outbox messages to its outbox (Outbox) the same way.
  virtual Status Commit(const StateCheckpoint& checkpoint) = 0;
  // Commit, only while meta `key` holds `expected` (nullopt: absent): FailedPrecondition, and
  // nothing written, when it does not. For a writer that shares keys with another (the
  // changelog standby and a pipeline committing a partition it has just lost). The default
  // reads, then commits (not atomic); the stores here check under their commit lock.
  virtual Status CommitIfMeta(const StateCheckpoint& checkpoint, std::string_view key,
                              const std::optional<std::string>& expected);

  // The event-time watermark of `cluster` has reached `watermark_us`: entries of that cluster
  // whose expiry is below it may be dropped. A hint; the default ignores it.
  virtual void AdvanceWatermark(std::string_view cluster, int64_t watermark_us) {
    (void)cluster;
    (void)watermark_us;
  }
};

}  // namespace vigil

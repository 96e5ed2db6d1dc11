// MemoryStateStore: a StateStore in memory, for tests, `vigil rules test` and runs without a
// database. Nothing survives the process; findings in a checkpoint are kept for inspection.
// It keeps the checkpoints' dead letters too (a DeadLetterStore), for tests.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "vigil/core/state_store.h"

namespace vigil {

// Thread-safe (one mutex). Memory grows with the state; bounded runs only. Dead letters are
// bounded by count (the oldest go first); there is no TTL.
class MemoryStateStore final : public StateStore, public DeadLetterStore {
 public:
  // Keeps at most max_dead_letters dead letters (at least 1).
  explicit MemoryStateStore(size_t max_dead_letters = kDefaultMaxDeadLetters);

  Result<std::optional<std::string>> GetState(std::string_view key) const override;
  Result<bool> ContainsEvent(std::string_view dedup_key) const override;
  Result<std::optional<std::string>> GetMeta(std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const override;
  Status Commit(const StateCheckpoint& checkpoint) override;
  Status CommitIfMeta(const StateCheckpoint& checkpoint, std::string_view key,
                      const std::optional<std::string>& expected) override;

  // DeadLetterStore: newest first; pages like the RocksDB store (same cursor format).
  Result<DeadLetterPage> ListDeadLetters(const DeadLetterFilter& filter) const override;
  uint64_t DeadLetterCount() const override;

  size_t state_size() const;
  size_t dedup_size() const;
  uint64_t commits() const;

 private:
  Status CommitLocked(const StateCheckpoint& checkpoint);  // mu_ held

  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> state_;
  std::map<std::string, std::string, std::less<>> dedup_;
  std::map<std::string, std::string, std::less<>> meta_;
  std::map<std::string, DeadLetter, std::less<>> dead_letters_;  // by MakeDeadLetterKey
  const size_t max_dead_letters_;
  uint64_t next_dead_letter_seq_ = 0;
  uint64_t commits_ = 0;
};

}  // namespace vigil

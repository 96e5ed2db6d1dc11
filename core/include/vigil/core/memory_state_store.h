// MemoryStateStore: a StateStore in memory, for tests, `vigil rules test` and runs without a
// database. Nothing survives the process; findings in a checkpoint are kept for inspection.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "vigil/core/state_store.h"

namespace vigil {

// Thread-safe (one mutex). Memory grows with the state; bounded runs only.
class MemoryStateStore final : public StateStore {
 public:
  Result<std::optional<std::string>> GetState(std::string_view key) const override;
  Result<bool> ContainsEvent(std::string_view dedup_key) const override;
  Result<std::optional<std::string>> GetMeta(std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const override;
  Status Commit(const StateCheckpoint& checkpoint) override;

  size_t state_size() const;
  size_t dedup_size() const;
  uint64_t commits() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> state_;
  std::map<std::string, std::string, std::less<>> dedup_;
  std::map<std::string, std::string, std::less<>> meta_;
  uint64_t commits_ = 0;
};

}  // namespace vigil

// FindingStore: where findings are kept and queried. The interface lives in core so that the
// API room can serve findings without depending on how they are stored; the RocksDB
// implementation is vigil::store::RocksDbFindingStore.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vigil/core/finding.h"
#include "vigil/core/status.h"

namespace vigil {

struct FindingFilter {
  std::optional<std::string> cluster;
  std::optional<std::string> rule_id;
  std::optional<Severity> min_severity;  // findings at or above this severity
  std::optional<std::string> user;
  std::optional<int64_t> since_us;  // first_seen >= since (event time)
  std::optional<int64_t> until_us;  // first_seen <  until (event time)
  size_t limit = 100;               // 1..1000
  std::string cursor;               // opaque, from the previous page's next_cursor
};

struct FindingPage {
  std::vector<Finding> findings;  // newest first_seen first
  std::string next_cursor;        // empty when there are no more
};

class FindingStore {
 public:
  virtual ~FindingStore() = default;

  // Writes findings atomically. A finding whose id already exists is replaced by the new value
  // (same id = same finding), and its index entries are kept consistent. Thread-safe.
  virtual Status Put(const std::vector<Finding>& findings) = 0;

  // NotFound when there is no finding with that id. Thread-safe.
  virtual Result<Finding> Get(const std::string& id) const = 0;

  // Reads one page from a consistent snapshot. InvalidArgument for a malformed cursor or a
  // limit out of range. Thread-safe.
  virtual Result<FindingPage> Query(const FindingFilter& filter) const = 0;
};
using FindingStorePtr = std::unique_ptr<FindingStore>;

}  // namespace vigil

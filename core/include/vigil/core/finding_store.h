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
  static constexpr size_t kMaxTextBytes = 256;  // longest `text` accepted (API: 400 beyond)

  std::optional<std::string> cluster;
  std::optional<std::string> rule_id;
  std::optional<Severity> min_severity;  // findings at or above this severity
  std::optional<std::string> user;
  std::optional<std::string> namespace_;  // object namespace, exact
  std::optional<FindingStatus> status;
  // Case-insensitive (ASCII) substring of the rule id or name, message, user, object name or
  // object namespace. At most kMaxTextBytes.
  std::optional<std::string> text;
  std::optional<int64_t> since_us;  // first_seen >= since (event time)
  std::optional<int64_t> until_us;  // first_seen <  until (event time)
  size_t limit = 100;               // 1..1000
  std::string cursor;               // opaque, from the previous page's next_cursor
};

struct FindingPage {
  std::vector<Finding> findings;  // newest first_seen first
  std::string next_cursor;        // empty when there are no more
};

// The filter's conditions other than the cursor and limit: what every FindingStore applies, so
// that implementations agree.
bool FindingMatches(const Finding& f, const FindingFilter& filter);

// What PATCH /v1/findings/{id} changes. At least one of status and note.
struct TriageUpdate {
  std::optional<FindingStatus> status;
  std::optional<std::string> note;  // at most Finding::kMaxNoteBytes; "" clears the note
  std::string by;                   // who asks (the authenticated principal), non-empty
};

class FindingStore {
 public:
  virtual ~FindingStore() = default;

  // Writes findings atomically. A finding whose id already exists is replaced by the new value
  // (same id = same finding), and its index entries are kept consistent, except for triage:
  // a stored status set by an analyst (status_by non-empty) and a stored note win over the
  // new value's, so the pipeline's updates (count, last_seen, evidence) never undo a PATCH. A
  // finding whose status no analyst set is marked kSuppressed (suppressed_by = the id) when an
  // active suppression of a SuppressionStore sharing the implementation matches it, and goes back
  // to kOpen when the suppression that marked it no longer does. Thread-safe.
  virtual Status Put(const std::vector<Finding>& findings) = 0;

  // NotFound when there is no finding with that id. Thread-safe.
  virtual Result<Finding> Get(const std::string& id) const = 0;

  // Reads one page from a consistent snapshot. InvalidArgument for a malformed cursor or a
  // limit out of range. Thread-safe.
  virtual Result<FindingPage> Query(const FindingFilter& filter) const = 0;

  // Applies an analyst's triage to finding `id` and returns the updated finding: `status` sets
  // status, status_by = by, status_at_us = now (wall clock) and clears suppressed_by; `note`
  // sets note, note_by, note_at_us. A read-modify-write that neither loses nor is lost to a
  // concurrent Put of the same finding. NotFound for an unknown id; InvalidArgument for an
  // update with neither field, an empty `by` or a note over Finding::kMaxNoteBytes. The default
  // answers FailedPrecondition (a store that keeps no triage). Thread-safe.
  virtual Result<Finding> UpdateTriage(const std::string& id, const TriageUpdate& update);
};
using FindingStorePtr = std::unique_ptr<FindingStore>;

}  // namespace vigil

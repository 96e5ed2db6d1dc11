// IngestJournal: where the webhook puts a request's body before it answers 2xx (invariant 3,
// durable before acknowledged), and where the pipeline's WebhookJournalSource reads it from.
// Entries are numbered in append order and removed (TrimJournal) once a checkpoint that covers
// them is durable. Lives in core so that api appends, ingest reads and store keeps it without
// knowing each other.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vigil/core/status.h"

namespace vigil {

struct JournalRecord {
  std::string cluster;      // from the request's credential (invariant 6), never its body
  std::string body;         // the request body, decompressed
  int64_t received_us = 0;  // wall clock when it was received
};

struct JournalEntry {
  uint64_t seq = 0;
  JournalRecord record;
};

struct JournalStats {
  uint64_t entries = 0;   // kept (appended, not trimmed)
  uint64_t bytes = 0;     // their bodies' bytes
  uint64_t next_seq = 0;  // the seq the next append gets
  uint64_t appends = 0;   // since open
  uint64_t syncs = 0;     // durable writes since open (< appends when appends were grouped)
};

class IngestJournal {
 public:
  virtual ~IngestJournal() = default;

  // Appends `record` and returns its seq once it is durable (the WAL is synced when the store
  // syncs writes). Thread-safe; concurrent appends may share one write and one sync.
  virtual Result<uint64_t> AppendJournal(JournalRecord record) = 0;
  // The kept entries with seq >= from, in order: at most `limit`, fewer once their bodies pass
  // `max_bytes` (always one when any is left).
  virtual Result<std::vector<JournalEntry>> ReadJournal(uint64_t from, size_t limit,
                                                        size_t max_bytes) const = 0;
  // Waits until an entry with seq >= from exists or `timeout` passes; true when one exists.
  virtual bool WaitJournal(uint64_t from, std::chrono::milliseconds timeout) const = 0;
  // Removes every entry with seq < below (not synced: a lost trim only reads them again, and
  // the pipeline's dedup makes that harmless).
  virtual Status TrimJournal(uint64_t below) = 0;
  // Seqs below `below` are never handed out again (durably): the reader's stored position is
  // `below`, and an entry numbered under it would never be read. Call at start, before the
  // first append. Trims keep the journal's own record of this; the reservation covers a
  // journal that has none (made by an older version, or lost).
  virtual Status ReserveJournal(uint64_t below) = 0;
  virtual JournalStats journal_stats() const = 0;
};

}  // namespace vigil

// WebhookJournalSource: the webhook's ingest journal (core/ingest_journal.h) as a RecordSource.
// Each journal entry is one record (an EventList, an Event or a JSON array) of the cluster its
// request's credential named. The position is the next journal seq to apply, kept in the
// store's meta entries under PositionKey(); once a checkpoint covering entries is durable they
// are trimmed from the journal.
#pragma once

#include <atomic>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

#include "vigil/core/ingest_journal.h"
#include "vigil/ingest/record_source.h"

namespace vigil::ingest {

struct WebhookJournalSourceOptions {
  IngestJournal* journal = nullptr;  // borrowed; must outlive the source
  size_t max_record_bytes = size_t{64} << 20;
};

class WebhookJournalSource final : public RecordSource {
 public:
  explicit WebhookJournalSource(WebhookJournalSourceOptions options);

  std::string_view kind() const override { return "webhook"; }
  // Resumes after the stored position, and trims what a durable checkpoint already covered.
  Status Restore(const StateStore* store) override;
  Result<PollResult> Poll(RecordBatch* batch, const BatchLimits& limits,
                          std::chrono::milliseconds wait) override;
  void Applied(const RecordOrigin& origin, const RawRecord& record) override;
  uint64_t TakePositions(std::vector<std::pair<std::string, std::string>>* meta) override;
  void OnDurable(uint64_t token) override;
  void Stop() override { stop_ = true; }
  // Always ready; the lag is the journal's backlog (entries not yet trimmed).
  SourceHealth Health() const override;
  // vigil_webhook_journal_{entries,bytes,appends_total,syncs_total}.
  void RenderMetrics(std::string* out) const override;

  // "webhook" SEP "journal".
  static std::string PositionKey();
  // The position stored under PositionKey() (0 when none), and journal->ReserveJournal of it:
  // call at start, before the webhook takes its first request, so that no acknowledged entry
  // is numbered below where the reader resumes.
  static Result<uint64_t> StoredPosition(const StateStore* store);
  static Status ReserveStoredPosition(const StateStore* store, IngestJournal* journal);

 private:
  const WebhookJournalSourceOptions options_;
  std::atomic<bool> stop_{false};
  // The pipeline thread's.
  uint64_t next_ = 0;     // the next seq to read
  uint64_t applied_ = 0;  // seqs below are applied
  uint64_t taken_ = 0;    // the position handed to the last checkpoint
  uint64_t tokens_ = 0;
  std::deque<std::pair<uint64_t, uint64_t>> pending_;  // (token, position) not yet durable
  std::unordered_map<std::string, uint32_t> streams_;  // cluster -> stream id
};

}  // namespace vigil::ingest

// WebhookJournalSource (see webhook_journal_source.h).
#include "vigil/ingest/webhook_journal_source.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "vigil/core/histogram.h"

namespace vigil::ingest {

WebhookJournalSource::WebhookJournalSource(WebhookJournalSourceOptions options)
    : options_(std::move(options)) {}

std::string WebhookJournalSource::PositionKey() {
  return std::string("webhook") + kKeySep + "journal";
}

Result<uint64_t> WebhookJournalSource::StoredPosition(const StateStore* store) {
  auto v = store->GetMeta(PositionKey());
  if (!v.ok()) return v.status();
  if (!v->has_value()) return uint64_t{0};
  const std::string& text = **v;
  uint64_t pos = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), pos);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::Corruption("webhook: stored journal position '" + text + "' is not a number");
  }
  return pos;
}

Status WebhookJournalSource::ReserveStoredPosition(const StateStore* store,
                                                   IngestJournal* journal) {
  auto pos = StoredPosition(store);
  if (!pos.ok()) return pos.status();
  return journal->ReserveJournal(*pos);
}

Status WebhookJournalSource::Restore(const StateStore* store) {
  if (options_.journal == nullptr) return Status::InvalidArgument("webhook: no journal");
  if (store == nullptr) return Status::Ok();  // from the oldest kept entry, nothing trimmed
  auto pos = StoredPosition(store);
  if (!pos.ok()) return pos.status();
  if (*pos == 0) return Status::Ok();
  next_ = applied_ = taken_ = *pos;
  return options_.journal->TrimJournal(*pos);
}

Result<RecordSource::PollResult> WebhookJournalSource::Poll(RecordBatch* batch,
                                                            const BatchLimits& limits,
                                                            std::chrono::milliseconds wait) {
  if (stop_.load()) return PollResult::kEnd;
  auto entries = options_.journal->ReadJournal(next_, limits.max_records, limits.max_bytes);
  if (!entries.ok()) return entries.status();
  if (entries->empty()) {
    if (!options_.journal->WaitJournal(next_, wait)) return PollResult::kIdle;
    entries = options_.journal->ReadJournal(next_, limits.max_records, limits.max_bytes);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return PollResult::kIdle;
  }
  for (const JournalEntry& e : *entries) {
    const std::string& cluster = e.record.cluster;
    auto [it, fresh] = streams_.try_emplace(cluster, static_cast<uint32_t>(streams_.size()));
    (void)fresh;
    const uint32_t origin = batch->OriginFor(it->second, cluster, [&](RecordOrigin& o) {
      o.name = "webhook";
      o.lines = false;
    });
    const std::string& body = e.record.body;
    if (body.size() > options_.max_record_bytes) {
      batch->AddProblem(origin, RawRecord::Kind::kOversize, e.seq, 0,
                        "webhook@" + std::to_string(e.seq) + ": request body of " +
                            std::to_string(body.size()) + " bytes is over the record limit",
                        body.size(), std::string_view(body).substr(0, 1024));
    } else {
      batch->Add(origin, e.seq, 0, body.data(), body.size());
    }
    batch->source_bytes += body.size();
    next_ = e.seq + 1;
  }
  return PollResult::kRecords;
}

void WebhookJournalSource::Applied(const RecordOrigin& /*origin*/, const RawRecord& record) {
  if (record.position + 1 > applied_) applied_ = record.position + 1;
}

uint64_t WebhookJournalSource::TakePositions(
    std::vector<std::pair<std::string, std::string>>* meta) {
  if (applied_ != taken_) {
    meta->emplace_back(PositionKey(), std::to_string(applied_));
    taken_ = applied_;
    pending_.emplace_back(++tokens_, taken_);
  }
  return tokens_;
}

void WebhookJournalSource::OnDurable(uint64_t token) {
  uint64_t below = 0;
  while (!pending_.empty() && pending_.front().first <= token) {
    below = pending_.front().second;
    pending_.pop_front();
  }
  if (below == 0) return;
  if (Status s = options_.journal->TrimJournal(below); !s.ok()) {
    // Kept: read again after a restart, which dedup makes harmless.
    spdlog::warn("webhook: cannot trim the journal: {}", s.message());
  }
}

SourceHealth WebhookJournalSource::Health() const {
  SourceHealth h;
  h.ready = true;
  h.lag = options_.journal->journal_stats().entries;
  return h;
}

void WebhookJournalSource::RenderMetrics(std::string* out) const {
  const JournalStats s = options_.journal->journal_stats();
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t v) {
    AppendMetricHeader(name, type, help, out);
    out->append(name).append(" ").append(std::to_string(v)).append("\n");
  };
  metric("vigil_webhook_journal_entries", "gauge",
         "Webhook request bodies journaled and not yet covered by a checkpoint.", s.entries);
  metric("vigil_webhook_journal_bytes", "gauge", "Bytes of the journaled webhook bodies.", s.bytes);
  metric("vigil_webhook_journal_appends_total", "counter",
         "Webhook bodies appended to the journal since start.", s.appends);
  metric("vigil_webhook_journal_syncs_total", "counter",
         "Durable journal writes since start (fewer than appends when grouped).", s.syncs);
}

}  // namespace vigil::ingest

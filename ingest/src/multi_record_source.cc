// MultiRecordSource (see multi_record_source.h).
#include "vigil/ingest/multi_record_source.h"

#include <algorithm>

namespace vigil::ingest {

namespace {
// While another source may have records, a source waits at most this long for its first.
constexpr std::chrono::milliseconds kTurnWait(5);
}  // namespace

MultiRecordSource::MultiRecordSource(std::vector<RecordSource*> sources)
    : sources_(std::move(sources)), ended_(sources_.size(), false) {
  if (sources_.size() > 0xFFFF) sources_.resize(0xFFFF);
  ended_.resize(sources_.size());
}

Status MultiRecordSource::Restore(const StateStore* store) {
  for (RecordSource* s : sources_) {
    RETURN_IF_ERROR(s->Restore(store).WithContext(std::string(s->kind())));
  }
  return Status::Ok();
}

Result<RecordSource::PollResult> MultiRecordSource::Poll(RecordBatch* batch,
                                                         const BatchLimits& limits,
                                                         std::chrono::milliseconds wait) {
  const size_t n = sources_.size();
  const auto deadline = std::chrono::steady_clock::now() + wait;
  // Round robin: each source gets a turn with a short wait, until one has records or the
  // caller's wait is over. The last live source alone gets the whole wait.
  while (true) {
    size_t live = 0;
    for (size_t i = 0; i < n; ++i) live += ended_[i] ? 0 : 1;
    if (live == 0) return PollResult::kEnd;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (next_ + k) % n;
      if (ended_[i]) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const auto turn = live == 1 ? std::max(left, std::chrono::milliseconds(0))
                                  : std::clamp(left, std::chrono::milliseconds(0), kTurnWait);
      const size_t first_origin = batch->origins.size();
      auto r = sources_[i]->Poll(batch, limits, turn);
      if (!r.ok()) return r.status().WithContext(std::string(sources_[i]->kind()));
      for (size_t o = first_origin; o < batch->origins.size(); ++o) {
        batch->origins[o].source = static_cast<uint16_t>(i);
      }
      switch (*r) {
        case PollResult::kEnd:
          ended_[i] = true;
          --live;
          if (!batch->empty()) {
            next_ = (i + 1) % n;
            return PollResult::kRecords;
          }
          continue;
        case PollResult::kIdle:
          continue;
        case PollResult::kRecords:
        case PollResult::kBarrier:
          next_ = (i + 1) % n;
          return *r;
        case PollResult::kRestored:
          next_ = (i + 1) % n;
          restored_from_ = i;
          return *r;
      }
    }
    if (live == 0) return PollResult::kEnd;
    if (std::chrono::steady_clock::now() >= deadline) return PollResult::kIdle;
  }
}

std::vector<RestoredState> MultiRecordSource::TakeRestored() {
  return restored_from_ < sources_.size() ? sources_[restored_from_]->TakeRestored()
                                          : std::vector<RestoredState>{};
}

void MultiRecordSource::Applied(const RecordOrigin& origin, const RawRecord& record) {
  if (origin.source < sources_.size()) sources_[origin.source]->Applied(origin, record);
}

uint64_t MultiRecordSource::TakePositions(std::vector<std::pair<std::string, std::string>>* meta) {
  std::vector<uint64_t> tokens;
  tokens.reserve(sources_.size());
  for (RecordSource* s : sources_) tokens.push_back(s->TakePositions(meta));
  pending_.emplace_back(++tokens_, std::move(tokens));
  return tokens_;
}

void MultiRecordSource::OnDurable(uint64_t token) {
  std::vector<uint64_t> latest;
  while (!pending_.empty() && pending_.front().first <= token) {
    latest = std::move(pending_.front().second);
    pending_.pop_front();
  }
  for (size_t i = 0; i < latest.size(); ++i) sources_[i]->OnDurable(latest[i]);
}

void MultiRecordSource::Pause() {
  for (RecordSource* s : sources_) s->Pause();
}

void MultiRecordSource::Resume() {
  for (RecordSource* s : sources_) s->Resume();
}

void MultiRecordSource::Stop() {
  for (RecordSource* s : sources_) s->Stop();
}

SourceHealth MultiRecordSource::Health() const {
  SourceHealth all;
  all.ready = true;
  for (const RecordSource* s : sources_) {
    const SourceHealth h = s->Health();
    all.lag += h.lag;
    if (!h.ready && all.ready) {
      all.ready = false;
      all.why = std::string(s->kind()) + ": " + h.why;
    }
  }
  return all;
}

std::string_view MultiRecordSource::KindOf(const RecordOrigin& origin) const {
  return origin.source < sources_.size() ? sources_[origin.source]->KindOf(origin) : kind();
}

void MultiRecordSource::RenderMetrics(std::string* out) const {
  for (const RecordSource* s : sources_) s->RenderMetrics(out);
}

}  // namespace vigil::ingest

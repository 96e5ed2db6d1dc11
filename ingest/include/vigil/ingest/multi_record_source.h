// MultiRecordSource: several RecordSources as one, so that one pipeline runs them all (the
// Kafka consumer and the webhook journal in `vigil serve`). Each Poll takes the next source in
// turn that has records, so a busy source cannot starve a quiet one; positions, durability and
// Applied go back to the source each record came from (RecordOrigin::source). It ends when every
// source ended; it is ready when every source is.
#pragma once

#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "vigil/ingest/record_source.h"

namespace vigil::ingest {

class MultiRecordSource final : public RecordSource {
 public:
  // At most 65535 sources; borrowed, they must outlive this one.
  explicit MultiRecordSource(std::vector<RecordSource*> sources);

  std::string_view kind() const override { return "multi"; }
  std::string_view KindOf(const RecordOrigin& origin) const override;
  Status Restore(const StateStore* store) override;
  Result<PollResult> Poll(RecordBatch* batch, const BatchLimits& limits,
                          std::chrono::milliseconds wait) override;
  std::vector<RestoredState> TakeRestored() override;
  void Applied(const RecordOrigin& origin, const RawRecord& record) override;
  uint64_t TakePositions(std::vector<std::pair<std::string, std::string>>* meta) override;
  void OnDurable(uint64_t token) override;
  void Pause() override;
  void Resume() override;
  void Stop() override;
  // Ready when all are; the lag is their sum; `why` names the first that is not ready.
  SourceHealth Health() const override;
  void RenderMetrics(std::string* out) const override;

 private:
  std::vector<RecordSource*> sources_;
  std::vector<bool> ended_;
  size_t next_ = 0;  // the source polled first next time
  size_t restored_from_ = SIZE_MAX;  // the source of the last kRestored poll
  uint64_t tokens_ = 0;
  // token -> each source's token, until durable.
  std::deque<std::pair<uint64_t, std::vector<uint64_t>>> pending_;
};

}  // namespace vigil::ingest

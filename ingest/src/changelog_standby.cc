// ChangelogStandby (see changelog_standby.h).
#include "changelog_standby.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "vigil/ingest/kafka_source.h"
#include "vigil/ingest/state_changelog.h"

namespace vigil::ingest::internal {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kBeginning = -2;  // RD_KAFKA_OFFSET_BEGINNING

}  // namespace

ChangelogStandby::ChangelogStandby(StandbyOptions options, std::unique_ptr<KafkaTopicReader> reader,
                                   StateStore* store)
    : o_(std::move(options)), reader_(std::move(reader)), store_(store) {}

ChangelogStandby::~ChangelogStandby() { Stop(); }

std::string ChangelogStandby::ResumeKey(int32_t partition) {
  return ChangelogMetaKey("standby", "", partition);
}

Status ChangelogStandby::Start() {
  next_.assign(static_cast<size_t>(o_.partitions), kBeginning);
  for (int32_t p = 0; p < o_.partitions; ++p) {
    auto v = store_->GetMeta(ResumeKey(p));
    if (!v.ok()) return v.status();
    int64_t offset = 0;
    if (v->has_value() && ParseChangelogInt(**v, &offset) && offset >= 0) next_[p] = offset;
  }
  spdlog::info("changelog: standby following the {} partitions of {}", o_.partitions, o_.topic);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ChangelogStandby::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_.store(true);
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ChangelogStandby::Stream* ChangelogStandby::StreamOf(std::string_view topic, int32_t partition) {
  auto [it, inserted] = streams_.try_emplace({std::string(topic), partition}, nullptr);
  if (inserted) {
    it->second = std::make_unique<Stream>();
    it->second->topic = topic;
    it->second->partition = partition;
  }
  return it->second.get();
}

void ChangelogStandby::Own(const std::string& topic, int32_t partition) {
  std::lock_guard<std::mutex> lock(mu_);  // after an apply in progress
  Stream* s = StreamOf(topic, partition);
  s->owned = true;
  s->known = false;
  s->first_pending = -1;
  s->pending = ChangelogEntries();
}

void ChangelogStandby::Release(const std::string& topic, int32_t partition) {
  std::lock_guard<std::mutex> lock(mu_);
  Stream* s = StreamOf(topic, partition);
  if (!s->owned) return;
  s->owned = false;
  s->known = false;
  // Its records after the store's position were not read while it was owned here.
  int64_t pos = kBeginning;
  auto v = store_->GetMeta(KafkaStateChangelog::PositionKey(topic, partition));
  if (v.ok() && v->has_value() && !ParseChangelogInt(**v, &pos)) pos = kBeginning;
  RereadFrom(partition, pos);
}

void ChangelogStandby::RereadFrom(int32_t partition, int64_t offset) {
  if (partition < 0 || partition >= o_.partitions) return;
  // What the partition's streams kept is read again too.
  for (auto& [key, s] : streams_) {
    if (s->partition != partition) continue;
    if (s->first_pending >= 0 && offset != kBeginning) offset = std::min(offset, s->first_pending);
    s->first_pending = -1;
    s->pending = ChangelogEntries();
  }
  if (offset == kBeginning) {
    reread_[partition] = kBeginning;
    return;
  }
  auto [it, inserted] = reread_.try_emplace(partition, offset);
  if (!inserted && it->second != kBeginning) it->second = std::min(it->second, offset);
  n_rereads_.fetch_add(1, std::memory_order_relaxed);
}

int64_t ChangelogStandby::ResumeOffset(int32_t partition) const {
  int64_t offset = next_[partition];
  for (const auto& [key, s] : streams_) {
    if (s->partition == partition && s->first_pending >= 0) {
      offset = offset < 0 ? s->first_pending : std::min(offset, s->first_pending);
    }
  }
  return offset;
}

void ChangelogStandby::OnRecord(const KafkaReadRecord& r) {
  const int32_t p = r.partition();
  if (p < 0 || p >= o_.partitions) return;
  next_[p] = r.offset() + 1;
  ChangelogRecord c;
  if (!ReadChangelogRecord(r, &c)) return;
  Stream* s = StreamOf(c.topic, p);
  if (s->owned) return;  // this instance writes it
  n_records_.fetch_add(1, std::memory_order_relaxed);
  n_bytes_.fetch_add(c.key.size() + 1 + (c.value ? c.value->size() : 0), std::memory_order_relaxed);
  if (!s->known) {
    auto v = store_->GetMeta(KafkaStateChangelog::PositionKey(s->topic, p));
    s->expected_pos = v.ok() && v->has_value() ? **v : std::string();
    s->known = true;
  }
  if (c.type == kChangelogMarker) {
    Status st = ApplyMarker(s, c, r.offset());
    if (!st.ok()) {
      spdlog::warn("changelog: standby of {}[{}]: {}; reading it again", s->topic, p, st.message());
      RereadFrom(p, r.offset());
    }
    return;
  }
  if (!s->pending.Add(c, r.offset(), o_.topic)) return;
  if (s->first_pending < 0) s->first_pending = r.offset();
  if (s->pending.size() >= o_.batch) {
    // A large checkpoint: its values go ahead of its marker (the store's position stays before
    // them, so a restore still reads them, and guards them if the marker never comes).
    StateCheckpoint cp;
    s->pending.MoveTo(&cp);
    Status st = store_->Commit(cp);
    if (!st.ok()) spdlog::warn("changelog: standby of {}[{}]: {}", s->topic, p, st.message());
  }
}

Status ChangelogStandby::ApplyMarker(Stream* s, const ChangelogRecord& c, int64_t offset) {
  ChangelogMarker marker;
  if (!c.value || !DecodeChangelogMarker(*c.value, &marker)) {
    return Status::Ok();  // not a marker this version reads: what follows will be
  }
  // Did someone else write this stream's position (the pipeline, committing a checkpoint of a
  // stream it has just lost)? Then the store may hold older values than the ones read since:
  // read the stream again from the store's position.
  auto v = store_->GetMeta(KafkaStateChangelog::PositionKey(s->topic, s->partition));
  if (!v.ok()) return v.status();
  const std::string now = v->has_value() ? **v : std::string();
  if (now != s->expected_pos) {
    int64_t pos = kBeginning;
    if (!now.empty() && !ParseChangelogInt(now, &pos)) pos = kBeginning;
    s->expected_pos = now;
    RereadFrom(s->partition, pos);
    return Status::Ok();
  }
  StateCheckpoint cp;
  s->pending.MoveTo(&cp);
  for (const auto& [cluster, wm] : marker.watermarks) {
    cp.meta.emplace_back(WatermarkMetaKey(cluster), wm);
  }
  const std::string pos = std::to_string(offset + 1);
  cp.meta.emplace_back(KafkaStateChangelog::PositionKey(s->topic, s->partition), pos);
  cp.meta.emplace_back(KafkaStateChangelog::MarkerKey(s->topic, s->partition),
                       std::string(*c.value));
  if (marker.offset >= 0) {
    cp.meta.emplace_back(KafkaRecordSource::OffsetKey(o_.group, s->topic, s->partition),
                         std::to_string(marker.offset));
  }
  s->first_pending = -1;
  const int64_t resume = ResumeOffset(s->partition);
  if (resume >= 0) cp.meta.emplace_back(ResumeKey(s->partition), std::to_string(resume));
  RETURN_IF_ERROR(store_->Commit(cp));
  s->expected_pos = pos;
  n_checkpoints_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

void ChangelogStandby::MeasureLag() {
  int64_t lag = 0;
  for (int32_t p = 0; p < o_.partitions; ++p) {
    auto marks = reader_->Watermarks(o_.topic, p, std::chrono::seconds(5));
    if (!marks.ok()) return;  // measured next time
    int64_t next = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      next = next_[p];
    }
    const auto [low, high] = *marks;
    lag += std::max<int64_t>(high - std::max(next, low), 0);
  }
  lag_.store(lag);
  // Where to resume after a restart, also for partitions whose streams are all owned here.
  StateCheckpoint cp;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t p = 0; p < o_.partitions; ++p) {
      const int64_t resume = ResumeOffset(p);
      if (resume >= 0) cp.meta.emplace_back(ResumeKey(p), std::to_string(resume));
    }
  }
  if (!cp.empty()) {
    Status s = store_->Commit(cp);
    if (!s.ok()) spdlog::warn("changelog: standby: {}", s.message());
  }
}

void ChangelogStandby::Run() {
  bool assign = true;
  auto measured = Clock::now() - o_.lag_interval;
  while (!stop_.load()) {
    if (assign) {
      std::vector<ReaderPartition> parts;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int32_t p = 0; p < o_.partitions; ++p) parts.push_back({o_.topic, p, next_[p]});
      }
      Status s = reader_->Assign(parts);
      if (!s.ok()) spdlog::warn("changelog: standby: {}", s.message());
      assign = !s.ok();
    }
    auto polled =
        reader_->Poll(std::chrono::milliseconds(200), 5000, [&](const KafkaReadRecord& r) {
          std::lock_guard<std::mutex> lock(mu_);
          OnRecord(r);
        });
    if (!polled.ok()) {
      // A position gone from the log (retention, or compaction under a long-stopped standby):
      // what is kept is read from its beginning; the latest value of every key is there.
      spdlog::warn("changelog: standby: {}; reading the changelog again from what it keeps",
                   polled.status().message());
      std::lock_guard<std::mutex> lock(mu_);
      for (int32_t p = 0; p < o_.partitions; ++p) {
        auto marks = reader_->Watermarks(o_.topic, p, std::chrono::seconds(5));
        if (marks.ok() && next_[p] >= 0 && next_[p] < marks->first) RereadFrom(p, kBeginning);
      }
      assign = true;
      std::unique_lock<std::mutex> wait(stop_mu_);
      stop_cv_.wait_for(wait, std::chrono::seconds(1), [&] { return stop_.load(); });
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [p, offset] : reread_) {
        // Never forward: what lies between was not read yet.
        int64_t& next = next_[p];
        next = (next == kBeginning || offset == kBeginning) ? kBeginning : std::min(next, offset);
      }
      if (!reread_.empty()) assign = true;
      reread_.clear();
    }
    if (Clock::now() - measured >= o_.lag_interval) {
      MeasureLag();
      measured = Clock::now();
    }
  }
}

ChangelogStandby::Stats ChangelogStandby::stats() const {
  Stats s;
  s.records = n_records_.load();
  s.bytes = n_bytes_.load();
  s.checkpoints = n_checkpoints_.load();
  s.rereads = n_rereads_.load();
  s.lag = lag_.load();
  s.caught_up = s.lag == 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, st] : streams_) s.streams += st->owned ? 0 : 1;
  return s;
}

}  // namespace vigil::ingest::internal

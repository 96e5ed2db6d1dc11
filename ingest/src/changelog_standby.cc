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

std::string ChangelogStandby::ResumeKey(std::string_view topic, int32_t partition) {
  return ChangelogMetaKey("standby", topic, partition);
}

Status ChangelogStandby::Start() {
  next_.assign(static_cast<size_t>(o_.partitions), kBeginning);
  for (int32_t p = 0; p < o_.partitions; ++p) {
    auto v = store_->GetMeta(ResumeKey(o_.topic, p));
    if (!v.ok()) return v.status();
    int64_t offset = 0;
    if (v->has_value() && ParseChangelogInt(**v, &offset) && offset >= 0) next_[p] = offset;
  }
  // A stream this instance owned before it stopped was skipped, not read: its records after the
  // store's position (a checkpoint Kafka acknowledged that the store did not commit) are read
  // now. (Restore leaves every owned stream a position.)
  const std::string prefix = ChangelogMetaPrefix("pos");
  auto positions = store_->ScanMeta(prefix);
  if (!positions.ok()) return positions.status();
  for (const auto& [key, value] : *positions) {
    const size_t sep = key.rfind(kKeySep);
    int64_t partition = -1, pos = -1;
    if (sep == std::string::npos || !ParseChangelogInt(key.substr(sep + 1), &partition) ||
        !ParseChangelogInt(value, &pos) || partition < 0 || partition >= o_.partitions) {
      continue;
    }
    int64_t& next = next_[static_cast<size_t>(partition)];
    if (next != kBeginning) next = std::min(next, pos);
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

std::vector<std::string> ChangelogStandby::Own(const std::string& topic, int32_t partition) {
  std::lock_guard<std::mutex> lock(mu_);  // after an apply in progress
  Stream* s = StreamOf(topic, partition);
  s->owned = true;
  s->known = false;
  s->first_pending = -1;
  s->pending = ChangelogEntries();
  std::vector<std::string> out(s->applied_clusters.begin(), s->applied_clusters.end());
  s->applied_clusters.clear();
  return out;
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
  auto [it, inserted] = reread_.try_emplace(partition, offset);
  if (!inserted) {
    it->second = (it->second == kBeginning || offset == kBeginning) ? kBeginning
                                                                    : std::min(it->second, offset);
  }
  n_rereads_.fetch_add(1, std::memory_order_relaxed);
}

int64_t ChangelogStandby::ResumeOffset(int32_t partition) const {
  int64_t offset = next_[partition];
  if (auto it = reread_.find(partition); it != reread_.end()) {
    offset = (offset == kBeginning || it->second == kBeginning) ? kBeginning
                                                                : std::min(offset, it->second);
  }
  if (offset == kBeginning) return kBeginning;
  for (const auto& [key, s] : streams_) {
    if (s->partition == partition && s->first_pending >= 0) {
      offset = std::min(offset, s->first_pending);
    }
  }
  return offset;
}

void ChangelogStandby::OnRecord(const KafkaReadRecord& r) {
  const int32_t p = r.partition();
  if (p < 0 || p >= o_.partitions) return;
  struct Count {
    std::atomic<uint64_t>& n;
    ~Count() { n.fetch_add(1, std::memory_order_relaxed); }
  } count{n_read_};
  if (reread_.count(p) != 0) return;  // read again from an earlier offset after this poll
  next_[p] = r.offset() + 1;
  ChangelogRecord c;
  if (!ReadChangelogRecord(r, &c)) return;
  Stream* s = StreamOf(c.topic, p);
  if (s->owned) return;  // this instance writes it
  n_records_.fetch_add(1, std::memory_order_relaxed);
  n_bytes_.fetch_add(c.key.size() + 1 + (c.value ? c.value->size() : 0), std::memory_order_relaxed);
  if (!s->known) {
    auto v = store_->GetMeta(KafkaStateChangelog::PositionKey(s->topic, p));
    if (!v.ok()) {
      failed_ = true;
      RereadFrom(p, r.offset());
      return;
    }
    s->expected_pos = *v;
    s->known = true;
  }
  if (c.type == kChangelogMarker) {
    ApplyMarker(s, c, r.offset());
    return;
  }
  if (!s->pending.Add(c, r.offset(), o_.topic)) return;
  s->first_pending = s->first_pending < 0 ? r.offset() : std::min(s->first_pending, r.offset());
  if (s->pending.size() >= o_.batch) {
    // A large checkpoint: its values go ahead of its marker (the store's position stays before
    // them, so a restore still reads them, and guards them if the marker never comes).
    StateCheckpoint cp;
    s->applied_clusters.insert(s->pending.clusters.begin(), s->pending.clusters.end());
    s->pending.clusters.clear();
    s->pending.MoveTo(&cp);
    Status st = store_->Commit(cp);
    if (!st.ok()) {
      spdlog::warn("changelog: standby of {}[{}]: {}; reading it again", s->topic, p, st.message());
      n_failures_.fetch_add(1, std::memory_order_relaxed);
      failed_ = true;
      RereadFrom(p, s->first_pending);
    }
  }
}

void ChangelogStandby::ApplyMarker(Stream* s, const ChangelogRecord& c, int64_t offset) {
  ChangelogMarker marker;
  if (!c.value || !DecodeChangelogMarker(*c.value, &marker)) {
    return;  // not a marker this version reads: what follows will be
  }
  const int32_t p = s->partition;
  const int64_t from = s->first_pending >= 0 ? s->first_pending : offset;
  StateCheckpoint cp;
  std::set<std::string> clusters = std::move(s->pending.clusters);
  s->pending.clusters.clear();
  s->pending.MoveTo(&cp);
  for (const auto& [cluster, wm] : marker.watermarks) {
    cp.meta.emplace_back(WatermarkMetaKey(cluster), wm);
    clusters.insert(cluster);
  }
  const std::string pos_key = KafkaStateChangelog::PositionKey(s->topic, p);
  const std::string pos = std::to_string(offset + 1);
  cp.meta.emplace_back(pos_key, pos);
  cp.meta.emplace_back(KafkaStateChangelog::MarkerKey(s->topic, p), std::string(*c.value));
  if (marker.offset >= 0) {
    cp.meta.emplace_back(KafkaRecordSource::OffsetKey(o_.group, s->topic, p),
                         std::to_string(marker.offset));
  }
  s->first_pending = -1;  // (for the resume offset written with it)
  cp.meta.emplace_back(ResumeKey(o_.topic, p), std::to_string(ResumeOffset(p)));
  // Only if nobody else wrote the stream's position meanwhile (the pipeline, committing a
  // checkpoint of a stream it has just lost): the store may then hold older values than the
  // records read since, which are read again from its position.
  Status st = store_->CommitIfMeta(cp, pos_key, s->expected_pos);
  if (st.ok()) {
    s->expected_pos = pos;
    clusters.erase(std::string());
    s->applied_clusters.insert(clusters.begin(), clusters.end());
    n_checkpoints_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (st.code() == StatusCode::kFailedPrecondition) {
    auto now = store_->GetMeta(pos_key);
    int64_t at = kBeginning;
    if (now.ok()) {
      s->expected_pos = *now;
      if (now->has_value() && ParseChangelogInt(**now, &at)) at = std::min(at, from);
    } else {
      s->known = false;
    }
    spdlog::info("changelog: standby of {}[{}]: its position moved under it; reading it again",
                 s->topic, p);
    RereadFrom(p, at);
    return;
  }
  spdlog::warn("changelog: standby of {}[{}]: {}; reading it again", s->topic, p, st.message());
  n_failures_.fetch_add(1, std::memory_order_relaxed);
  failed_ = true;
  RereadFrom(p, from);
}

void ChangelogStandby::MeasureLag() {
  std::vector<std::pair<int64_t, int64_t>> marks(static_cast<size_t>(o_.partitions));
  for (int32_t p = 0; p < o_.partitions; ++p) {
    auto m = reader_->Watermarks(o_.topic, p, std::chrono::seconds(5));
    if (!m.ok()) return;  // measured next time
    marks[static_cast<size_t>(p)] = *m;
  }
  int64_t lag = 0;
  StateCheckpoint cp;  // where to resume after a restart
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int32_t p = 0; p < o_.partitions; ++p) {
      const auto [low, high] = marks[static_cast<size_t>(p)];
      const int64_t next = next_[p] == kBeginning || reread_.count(p) != 0 ? low : next_[p];
      lag += std::max<int64_t>(high - std::max(next, low), 0);
      cp.meta.emplace_back(ResumeKey(o_.topic, p), std::to_string(ResumeOffset(p)));
    }
  }
  lag_.store(lag);
  Status s = store_->Commit(cp);
  if (!s.ok()) spdlog::warn("changelog: standby: {}", s.message());
}

void ChangelogStandby::Run() {
  bool assign = true;
  auto measured = Clock::now() - o_.lag_interval;
  auto backoff = [&] {
    std::unique_lock<std::mutex> wait(stop_mu_);
    stop_cv_.wait_for(wait, std::chrono::seconds(1), [&] { return stop_.load(); });
  };
  while (!stop_.load()) {
    if (assign) {
      std::vector<ReaderPartition> parts;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int32_t p = 0; p < o_.partitions; ++p) parts.push_back({o_.topic, p, next_[p]});
      }
      Status s = reader_->Assign(parts);
      if (!s.ok()) {
        spdlog::warn("changelog: standby: {}", s.message());
        backoff();
        continue;
      }
      assign = false;
    }
    auto polled =
        reader_->Poll(std::chrono::milliseconds(200), 5000, [&](const KafkaReadRecord& r) {
          std::lock_guard<std::mutex> lock(mu_);
          OnRecord(r);
        });
    if (!polled.ok()) {
      // A position gone from the log (retention, compaction under a long-stopped standby) or
      // past its end (the topic made again): what is kept is read from its beginning; the
      // latest value of every key is there.
      spdlog::warn("changelog: standby: {}; reading the changelog again from what it keeps",
                   polled.status().message());
      std::vector<std::optional<std::pair<int64_t, int64_t>>> marks;
      for (int32_t p = 0; p < o_.partitions; ++p) {
        auto m = reader_->Watermarks(o_.topic, p, std::chrono::seconds(5));
        marks.push_back(m.ok() ? std::optional(*m) : std::nullopt);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int32_t p = 0; p < o_.partitions; ++p) {
          const auto& m = marks[static_cast<size_t>(p)];
          if (m && next_[p] >= 0 && (next_[p] < m->first || next_[p] > m->second)) {
            RereadFrom(p, kBeginning);
          }
        }
      }
      assign = true;
      backoff();
    }
    bool failed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [p, offset] : reread_) {
        // Never forward: what lies between was not read yet.
        int64_t& next = next_[p];
        next = (next == kBeginning || offset == kBeginning) ? kBeginning : std::min(next, offset);
      }
      if (!reread_.empty()) assign = true;
      reread_.clear();
      failed = failed_;
      failed_ = false;
    }
    if (failed) backoff();  // the store failed: not in a tight loop
    if (Clock::now() - measured >= o_.lag_interval) {
      MeasureLag();
      measured = Clock::now();
    }
  }
}

ChangelogStandby::Stats ChangelogStandby::stats() const {
  Stats s;
  s.read = n_read_.load();
  s.failures = n_failures_.load();
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

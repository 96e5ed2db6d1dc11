// KafkaStateChangelog (see state_changelog.h).
#include "vigil/ingest/state_changelog.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "changelog_format.h"
#include "changelog_standby.h"
#include "vigil/core/finding.h"
#include "vigil/core/histogram.h"
#include "vigil/ingest/kafka_source.h"

namespace vigil::ingest {
namespace {

using Clock = std::chrono::steady_clock;
using internal::ChangelogEntries;
using internal::ChangelogMarker;
using internal::ChangelogRecord;
using internal::DecodeChangelogMarker;
using internal::EncodeChangelogMarker;
using internal::kChangelogFinding;
using internal::kChangelogMarker;
using internal::kChangelogOffsetHeader;
using internal::kChangelogState;
using internal::kChangelogTopicHeader;

int64_t ElapsedUs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count();
}

}  // namespace

struct KafkaStateChangelog::Stream {
  std::string topic;
  int32_t partition = 0;
  int64_t next = -1;  // the input offset after the last record applied
  bool loaded = false;
  bool changed = false;  // watermarks changed since the last marker
  ChangelogMarker marker;  // the last one sent (or restored)
};

std::string KafkaStateChangelog::PositionKey(std::string_view topic, int32_t partition) {
  return internal::ChangelogMetaKey("pos", topic, partition);
}

std::string KafkaStateChangelog::MarkerKey(std::string_view topic, int32_t partition) {
  return internal::ChangelogMetaKey("mark", topic, partition);
}

KafkaStateChangelog::KafkaStateChangelog(StateChangelogOptions options)
    : options_(std::move(options)) {}

KafkaStateChangelog::~KafkaStateChangelog() {
  if (standby_) standby_->Stop();
}

Result<std::unique_ptr<KafkaStateChangelog>> KafkaStateChangelog::Create(
    StateChangelogOptions options) {
  if (options.group.empty()) return Status::InvalidArgument("changelog: the group is empty");
  if (options.topic.empty()) options.topic = options.group + "-state-changelog";
  std::unique_ptr<KafkaStateChangelog> c(new KafkaStateChangelog(std::move(options)));
  KafkaProducerOptions po;
  po.brokers = c->options_.brokers;
  po.client_id = c->options_.client_id + "-changelog";
  po.properties = c->options_.properties;
  po.properties.emplace_back("message.timeout.ms",
                             std::to_string(c->options_.produce_timeout.count()));
  po.properties.emplace_back("linger.ms", "5");
  KafkaStateChangelog* raw = c.get();
  // Tags: the Write's generation in the high 32 bits (a late report of a Write that timed out
  // is not counted for the next one), the batch stream + 1 (0: the findings topic) below.
  po.on_offset = [raw](uint64_t tag, int32_t, int64_t offset) {
    std::lock_guard<std::mutex> lock(raw->mu_);
    const uint64_t stream = tag & 0xffffffffu;
    if ((tag >> 32) != raw->generation_ || stream == 0 || stream > raw->acked_offsets_.size()) {
      return;
    }
    int64_t& o = raw->acked_offsets_[stream - 1];
    o = std::max(o, offset);
  };
  po.on_delivery = [raw](uint64_t tag, bool ok) {
    std::lock_guard<std::mutex> lock(raw->mu_);
    if ((tag >> 32) != raw->generation_) return;
    (ok ? raw->acked_ : raw->failed_) += 1;
  };
  ASSIGN_OR_RETURN(c->producer_, KafkaProducer::Create(std::move(po)));
  KafkaReaderOptions ro;
  ro.brokers = c->options_.brokers;
  ro.client_id = c->options_.client_id + "-restore";
  // A restore reads to a known end: a fetch that found nothing new need not wait long.
  ro.properties = {{"fetch.wait.max.ms", "20"}};
  ro.properties.insert(ro.properties.end(), c->options_.properties.begin(),
                       c->options_.properties.end());
  ASSIGN_OR_RETURN(c->reader_, KafkaTopicReader::Create(std::move(ro)));
  return c;
}

Status KafkaStateChangelog::Start(std::chrono::milliseconds timeout) {
  int wanted = 1;
  for (const std::string& t : options_.input_topics) {
    auto n = reader_->PartitionCount(t, timeout);
    if (n.ok()) wanted = std::max(wanted, *n);
  }
  auto n = reader_->PartitionCount(options_.topic, timeout);
  if (n.ok()) {
    partitions_ = *n;
    spdlog::info("changelog: {} has {} partitions", options_.topic, partitions_);
    return Status::Ok();
  }
  if (n.status().code() != StatusCode::kNotFound) return n.status();
  // Create it: compacted, one partition per input partition.
  const auto configs = ChangelogTopicConfigs(options_.retention);
  Status status =
      CreateTopic(options_.brokers, options_.properties, options_.topic, wanted, configs, timeout);
  if (!status.ok()) {
    std::string how;
    for (const auto& [k, v] : configs) how += k + "=" + v + " ";
    return Status::FailedPrecondition(
        "changelog: topic '" + options_.topic + "' does not exist and could not be created (" +
        status.message() + "); create it with " + how + "and " + std::to_string(wanted) +
        " partitions (as many as the largest input topic)");
  }
  ASSIGN_OR_RETURN(partitions_, reader_->PartitionCount(options_.topic, timeout));
  spdlog::info("changelog: created {} with {} partitions", options_.topic, partitions_);
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> ChangelogTopicConfigs(
    std::chrono::milliseconds retention) {
  if (retention.count() <= 0) return {{"cleanup.policy", "compact"}};
  return {{"cleanup.policy", "compact,delete"},
          {"retention.ms", std::to_string(retention.count())}};
}

KafkaStateChangelog::Stream* KafkaStateChangelog::StreamOf(std::string_view topic,
                                                           int32_t partition) {
  auto [it, inserted] = streams_.try_emplace({std::string(topic), partition}, nullptr);
  if (inserted) {
    it->second = std::make_unique<Stream>();
    it->second->topic = topic;
    it->second->partition = partition;
  }
  return it->second.get();
}

void KafkaStateChangelog::Applied(const RecordOrigin& origin, const RawRecord& record) {
  if (origin.partition < 0) return;
  Seen(origin);
  last_->next = static_cast<int64_t>(record.position) + 1;
}

void KafkaStateChangelog::Forget(Stream* s) {
  s->next = -1;
  s->loaded = false;
  s->changed = false;
  s->marker = ChangelogMarker();
}

void KafkaStateChangelog::Reset() {
  for (auto& [name, s] : streams_) Forget(s.get());
  last_ = nullptr;
}

void KafkaStateChangelog::Seen(const RecordOrigin& origin) {
  if (origin.partition < 0) return;
  if (last_ == nullptr || origin.stream != last_stream_id_ || origin.source != last_source_ ||
      origin.cluster != last_cluster_) {
    last_ = StreamOf(origin.key, origin.partition);
    last_stream_id_ = origin.stream;
    last_source_ = origin.source;
    last_cluster_ = origin.cluster;
    if (!origin.cluster.empty()) {
      auto [it, inserted] = cluster_stream_.try_emplace(origin.cluster, last_);
      if (!inserted && it->second != last_) {
        n_conflicts_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn(
            "changelog: cluster '{}' arrives on {}[{}] and on {}[{}]: its state follows the "
            "last; key input topics by cluster (or let Vigil repartition them)",
            origin.cluster, it->second->topic, it->second->partition, last_->topic,
            last_->partition);
        it->second = last_;
      }
    }
  }
}

void KafkaStateChangelog::Restored(const RestoredState& restored) {
  Stream* s = StreamOf(restored.topic, restored.partition);
  Forget(s);  // its marker is read again from the store; no offset until a record is applied
  for (const std::string& c : restored.clusters) cluster_stream_[c] = s;
  last_ = nullptr;
}

void KafkaStateChangelog::LoadMarker(Stream* s, const StateStore& store) {
  s->loaded = true;
  auto stored = store.GetMeta(MarkerKey(s->topic, s->partition));
  ChangelogMarker m;
  if (stored.ok() && stored->has_value() && DecodeChangelogMarker(**stored, &m)) {
    // Watermarks changed since then are newer: keep them.
    for (auto& [cluster, wm] : m.watermarks) s->marker.watermarks.try_emplace(cluster, wm);
    if (s->marker.offset < 0) s->marker.offset = m.offset;
  }
}

Status KafkaStateChangelog::Prepare(const StateCheckpoint& cp, const StateStore& store,
                                    ChangelogBatch* out) {
  out->clear();
  std::unordered_map<const Stream*, uint32_t> index;
  auto ref = [&](Stream* s) -> Result<uint32_t> {
    auto [it, inserted] = index.try_emplace(s, static_cast<uint32_t>(out->streams.size()));
    if (inserted) {
      if (s->partition >= partitions_) {
        return Status::FailedPrecondition(
            "changelog: input " + s->topic + "[" + std::to_string(s->partition) + "] has no " +
            "partition in " + options_.topic + " (" + std::to_string(partitions_) +
            " partitions): give the changelog as many partitions as the largest input topic");
      }
      if (!s->loaded) LoadMarker(s, store);
      out->streams.push_back({s->topic, s->partition, std::to_string(s->next)});
    }
    return it->second;
  };
  auto add = [&](std::string_view cluster, char type, std::string_view key,
                 std::optional<std::string> value) -> Status {
    auto it = cluster_stream_.find(std::string(cluster));
    if (it == cluster_stream_.end()) return Status::Ok();  // not from Kafka (webhook, files)
    ASSIGN_OR_RETURN(uint32_t stream, ref(it->second));
    ChangelogBatch::Message& m = out->messages.emplace_back();
    m.partition = it->second->partition;
    m.key.reserve(key.size() + 1);
    m.key.push_back(type);
    m.key.append(key);
    m.value = std::move(value);
    m.stream = stream;
    return Status::Ok();
  };
  for (const auto& [k, v] : cp.meta) {
    if (k.compare(0, kWatermarkMetaPrefix.size(), kWatermarkMetaPrefix) != 0) continue;
    const std::string cluster = k.substr(kWatermarkMetaPrefix.size());
    auto it = cluster_stream_.find(cluster);
    if (it == cluster_stream_.end()) continue;
    Stream* s = it->second;
    if (!s->loaded) LoadMarker(s, store);
    s->marker.watermarks[cluster] = v;
    s->changed = true;
  }
  for (const auto& [k, v] : cp.state) {
    RETURN_IF_ERROR(add(StateKeyCluster(k), kChangelogState, k, v));
  }
  for (const std::string& k : cp.state_deletes) {
    RETURN_IF_ERROR(add(StateKeyCluster(k), kChangelogState, k, std::nullopt));
  }
  // Dedup entries stay local: one per event, each a key of its own, they would make the
  // compacted topic grow without bound (compaction keeps every distinct key). A moved partition
  // resumes at its marker, so Kafka never redelivers what the state holds; only a record the
  // shipper sent twice, one copy on each side of a move, is counted twice. (A restore still
  // takes 'd' records when it finds them.)
  for (const Finding& f : cp.findings) {
    std::string json = FindingToJson(f);
    if (!options_.findings_topic.empty()) {
      ChangelogBatch::Message& m = out->messages.emplace_back();
      m.finding_topic = true;
      m.key = f.id;
      m.value = json;
    }
    RETURN_IF_ERROR(add(f.cluster, kChangelogFinding, f.id, std::move(json)));
  }
  // A marker for every stream that moved: after its data, in the same partition.
  for (auto& [name, s] : streams_) {
    if (s->next < 0 || (s->next == s->marker.offset && !s->changed)) continue;
    ASSIGN_OR_RETURN(uint32_t stream, ref(s.get()));
    s->marker.offset = s->next;
    s->changed = false;
    std::string value = EncodeChangelogMarker(s->marker);
    out->meta.emplace_back(MarkerKey(s->topic, s->partition), value);
    ChangelogBatch::Message& m = out->messages.emplace_back();
    m.partition = s->partition;
    m.key.push_back(kChangelogMarker);
    m.key.append(s->topic);
    m.value = std::move(value);
    m.stream = stream;
  }
  return Status::Ok();
}

Status KafkaStateChangelog::Write(const ChangelogBatch& batch, StateCheckpoint* cp) {
  if (batch.empty()) return Status::Ok();
  const auto started = Clock::now();
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    acked_offsets_.assign(batch.streams.size(), -1);
    acked_ = failed_ = 0;
    generation = ++generation_ & 0xffffffffu;
    generation_ = generation;
  }
  uint64_t bytes = 0, findings = 0, markers = 0;
  for (const ChangelogBatch::Message& m : batch.messages) {
    ProducerRecord r;
    r.key = m.key;
    if (m.value) r.value = std::string_view(*m.value);
    bytes += m.key.size() + (m.value ? m.value->size() : 0);
    r.tag = generation << 32;
    if (m.finding_topic) {
      r.topic = options_.findings_topic;
      ++findings;
    } else {
      const ChangelogBatch::StreamRef& s = batch.streams[m.stream];
      r.topic = options_.topic;
      r.partition = m.partition;
      r.headers = {{kChangelogTopicHeader, s.topic}, {kChangelogOffsetHeader, s.covered}};
      r.tag = (generation << 32) | (m.stream + 1);
      if (m.key[0] == kChangelogMarker) ++markers;
    }
    const auto deadline = Clock::now() + options_.produce_timeout;
    while (true) {
      const KafkaProducer::Queued q = producer_->TryProduce(r);
      if (q == KafkaProducer::Queued::kQueued) break;
      if (q == KafkaProducer::Queued::kFailed || Clock::now() > deadline) {
        return Status::Unavailable("changelog: cannot queue a record for " +
                                   std::string(r.topic));
      }
      producer_->Flush(std::chrono::milliseconds(10));  // full: let deliveries drain it
    }
  }
  if (!producer_->Flush(options_.produce_timeout)) {
    return Status::Unavailable("changelog: records to " + options_.topic +
                               " not acknowledged within " +
                               std::to_string(options_.produce_timeout.count()) + " ms");
  }
  std::vector<int64_t> offsets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_ > 0 || acked_ < batch.messages.size()) {
      return Status::Unavailable("changelog: " + std::to_string(batch.messages.size() - acked_) +
                                 " of " + std::to_string(batch.messages.size()) +
                                 " records not delivered to " + options_.topic);
    }
    offsets = acked_offsets_;
  }
  for (size_t i = 0; i < batch.streams.size(); ++i) {
    if (offsets[i] < 0) continue;
    cp->meta.emplace_back(PositionKey(batch.streams[i].topic, batch.streams[i].partition),
                          std::to_string(offsets[i] + 1));
  }
  cp->meta.insert(cp->meta.end(), batch.meta.begin(), batch.meta.end());
  n_records_.fetch_add(batch.messages.size() - findings, std::memory_order_relaxed);
  n_findings_.fetch_add(findings, std::memory_order_relaxed);
  n_markers_.fetch_add(markers, std::memory_order_relaxed);
  n_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  n_writes_.fetch_add(1, std::memory_order_relaxed);
  n_write_us_.fetch_add(static_cast<uint64_t>(ElapsedUs(started)), std::memory_order_relaxed);
  return Status::Ok();
}

Result<RestoredState> KafkaStateChangelog::Restore(const std::string& topic, int32_t partition,
                                                   StateStore* store, int64_t* offset) {
  *offset = -1;
  RestoredState out;
  out.topic = topic;
  out.partition = partition;
  out.stream = topic + "[" + std::to_string(partition) + "]";
  if (partition >= partitions_) {
    return Status::FailedPrecondition("changelog: input " + out.stream + " has no partition in " +
                                      options_.topic + " (" + std::to_string(partitions_) +
                                      " partitions)");
  }
  // A standby stops writing this stream's state before it is read; the clusters it wrote.
  std::vector<std::string> warmed;
  if (standby_) warmed = standby_->Own(topic, partition);
  const auto started = Clock::now();
  int64_t local = -1;
  auto pos = store->GetMeta(PositionKey(topic, partition));
  if (!pos.ok()) return pos.status();
  if (pos->has_value() && !internal::ParseChangelogInt(**pos, &local)) local = -1;
  ASSIGN_OR_RETURN(auto marks,
                   reader_->Watermarks(options_.topic, partition, std::chrono::seconds(30)));
  const auto [low, high] = marks;
  ChangelogMarker marker;
  bool have_marker = false;
  if (local >= 0 && local >= low) {
    auto m = store->GetMeta(MarkerKey(topic, partition));
    have_marker = m.ok() && m->has_value() && DecodeChangelogMarker(**m, &marker);
  }
  if (high <= 0 || local >= high) {
    // The store reflects all of it. The clusters a standby wrote are read again by the
    // pipeline, which may have cached them when it owned them before.
    out.clusters = std::move(warmed);
    if (standby_ && local < 0) {
      // Every stream owned here has a position: after a restart the standby reads what this
      // instance wrote to the changelog and the store did not commit (standby Start).
      StateCheckpoint cp;
      cp.meta.emplace_back(PositionKey(topic, partition),
                           std::to_string(std::max<int64_t>(high, 0)));
      RETURN_IF_ERROR(store->Commit(cp));
    }
    return out;
  }
  const int64_t from = (local < 0 || local < low) ? low : local;
  if (!have_marker) marker = ChangelogMarker();
  spdlog::info("changelog: restoring {} from {}[{}] offsets {}..{} (the store has {})", out.stream,
               options_.topic, partition, from, high, local < 0 ? "none" : std::to_string(local));
  restoring_.fetch_add(1);
  restore_remaining_.store(static_cast<uint64_t>(high - from));
  struct Done {
    std::atomic<int>& n;
    std::atomic<uint64_t>& left;
    ~Done() {
      n.fetch_sub(1);
      left.store(0);
    }
  } done{restoring_, restore_remaining_};

  // Entries since the last marker, by type and key: the covered offset of the latest.
  std::map<std::pair<char, std::string>, int64_t> tail;
  ChangelogEntries entries;
  StateCheckpoint cp;
  Status status;
  uint64_t records = 0, bytes = 0;
  auto flush = [&]() -> Status {
    entries.MoveTo(&cp);
    if (cp.empty()) return Status::Ok();
    Status s = store->Commit(cp);
    cp.clear();
    return s;
  };
  RETURN_IF_ERROR(reader_->ReadRange(
      options_.topic, partition, from, high, options_.restore_timeout,
      [&](const KafkaReadRecord& r) {
        if (!status.ok()) return;
        restore_remaining_.store(static_cast<uint64_t>(std::max<int64_t>(high - r.offset(), 0)));
        ChangelogRecord c;
        if (!internal::ReadChangelogRecord(r, &c) || c.topic != topic) return;  // not this stream's
        ++records;
        bytes += c.key.size() + 1 + (c.value ? c.value->size() : 0);
        if (c.type == kChangelogMarker) {
          ChangelogMarker m;
          if (c.value && DecodeChangelogMarker(*c.value, &m)) {
            marker = std::move(m);
            tail.clear();
          }
          return;
        }
        if (!entries.Add(c, r.offset(), options_.topic)) return;
        tail[{c.type, std::string(c.key)}] = c.covered;
        if (entries.size() >= options_.restore_batch) status = flush();
      }));
  RETURN_IF_ERROR(status);
  // What came after the last marker: from a checkpoint that never completed.
  for (const auto& [tk, covered] : tail) {
    if (covered <= marker.offset) continue;
    const auto& [type, key] = tk;
    if (type == kChangelogState) {
      out.state_guards.emplace_back(key, static_cast<uint64_t>(covered));
    } else if (type == kChangelogFinding) {
      out.finding_guards.emplace_back(key, static_cast<uint64_t>(covered));
    } else if (type == internal::kChangelogDedup) {
      entries.dedup[key] = std::nullopt;  // its event is replayed into the entries not guarded
    }
  }
  std::set<std::string> clusters = std::move(entries.clusters);
  clusters.insert(warmed.begin(), warmed.end());
  for (const auto& [cluster, wm] : marker.watermarks) {
    cp.meta.emplace_back(WatermarkMetaKey(cluster), wm);
    clusters.insert(cluster);
  }
  cp.meta.emplace_back(PositionKey(topic, partition), std::to_string(high));
  if (marker.offset >= 0) {
    cp.meta.emplace_back(MarkerKey(topic, partition), EncodeChangelogMarker(marker));
    cp.meta.emplace_back(KafkaRecordSource::OffsetKey(options_.group, topic, partition),
                         std::to_string(marker.offset));
    *offset = marker.offset;
  }
  RETURN_IF_ERROR(flush());
  clusters.erase(std::string());
  out.clusters.assign(clusters.begin(), clusters.end());
  const int64_t us = ElapsedUs(started);
  n_restores_.fetch_add(1, std::memory_order_relaxed);
  n_restore_records_.fetch_add(records, std::memory_order_relaxed);
  n_restore_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  n_restore_us_.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
  n_restore_guards_.fetch_add(out.state_guards.size() + out.finding_guards.size(),
                              std::memory_order_relaxed);
  spdlog::info(
      "changelog: restored {}: {} records ({} bytes) in {:.3f} s, {} clusters, resuming at {}{}",
      out.stream, records, bytes, static_cast<double>(us) / 1e6, out.clusters.size(), *offset,
      out.state_guards.empty() && out.finding_guards.empty()
          ? ""
          : fmt::format(" ({} entries from an incomplete checkpoint guarded)",
                        out.state_guards.size() + out.finding_guards.size()));
  return out;
}

Status KafkaStateChangelog::StartStandby(StateStore* store) {
  if (partitions_ <= 0) return Status::FailedPrecondition("changelog: StartStandby before Start");
  KafkaReaderOptions ro;
  ro.brokers = options_.brokers;
  ro.client_id = options_.client_id + "-standby";
  // A warm copy follows its writers closely; an idle fetch returns after 100 ms.
  ro.properties = {{"fetch.wait.max.ms", "100"}};
  ro.properties.insert(ro.properties.end(), options_.properties.begin(), options_.properties.end());
  ASSIGN_OR_RETURN(auto reader, KafkaTopicReader::Create(std::move(ro)));
  internal::StandbyOptions so;
  so.topic = options_.topic;
  so.partitions = partitions_;
  so.group = options_.group;
  so.batch = options_.restore_batch;
  so.lag_interval = options_.standby_lag_interval;
  standby_ = std::make_unique<internal::ChangelogStandby>(std::move(so), std::move(reader), store);
  return standby_->Start();
}

std::string KafkaStateChangelog::StandbyResumeKey(std::string_view changelog_topic,
                                                  int32_t partition) {
  return internal::ChangelogStandby::ResumeKey(changelog_topic, partition);
}

void KafkaStateChangelog::Released(const std::string& topic, int32_t partition) {
  if (standby_) standby_->Release(topic, partition);
}

KafkaStateChangelog::Stats KafkaStateChangelog::stats() const {
  Stats s;
  if (standby_) {
    const internal::ChangelogStandby::Stats st = standby_->stats();
    s.standby_records = st.records;
    s.standby_checkpoints = st.checkpoints;
    s.standby_rereads = st.rereads;
    s.standby_streams = st.streams;
    s.standby_lag = st.lag;
    s.standby_read = st.read;
    s.standby_failures = st.failures;
  }
  s.records = n_records_.load();
  s.bytes = n_bytes_.load();
  s.findings = n_findings_.load();
  s.markers = n_markers_.load();
  s.writes = n_writes_.load();
  s.write_us = n_write_us_.load();
  s.restores = n_restores_.load();
  s.restore_records = n_restore_records_.load();
  s.restore_bytes = n_restore_bytes_.load();
  s.restore_us = n_restore_us_.load();
  s.restore_guards = n_restore_guards_.load();
  s.cluster_conflicts = n_conflicts_.load();
  return s;
}

void KafkaStateChangelog::RenderMetrics(std::string* out) const {
  const Stats s = stats();
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    AppendMetricHeader(name, type, help, out);
    out->append(name).append(" ").append(fmt::format("{}", value)).append("\n");
  };
  metric("vigil_changelog_records_total", "counter",
         "State records (markers included) sent to the state changelog.",
         static_cast<double>(s.records));
  metric("vigil_changelog_bytes_total", "counter",
         "Key and value bytes sent to the state changelog and the findings topic.",
         static_cast<double>(s.bytes));
  metric("vigil_changelog_findings_total", "counter",
         "Findings sent to the findings topic with the checkpoints.",
         static_cast<double>(s.findings));
  metric("vigil_changelog_writes_total", "counter", "Checkpoints sent to the changelog.",
         static_cast<double>(s.writes));
  metric("vigil_changelog_write_seconds_total", "counter",
         "Time checkpoints waited for the changelog's acknowledgements.",
         static_cast<double>(s.write_us) / 1e6);
  metric("vigil_changelog_restores_total", "counter",
         "Partitions whose state was restored from the changelog.",
         static_cast<double>(s.restores));
  metric("vigil_changelog_restore_records_total", "counter",
         "Changelog records read by restores.", static_cast<double>(s.restore_records));
  metric("vigil_changelog_restore_bytes_total", "counter", "Changelog bytes read by restores.",
         static_cast<double>(s.restore_bytes));
  metric("vigil_changelog_restore_seconds_total", "counter", "Time spent restoring.",
         static_cast<double>(s.restore_us) / 1e6);
  metric("vigil_changelog_restoring", "gauge",
         "Partitions being restored now (/readyz is 503 meanwhile).",
         static_cast<double>(restoring_.load()));
  metric("vigil_changelog_restore_remaining_records", "gauge",
         "Changelog records the restore in progress has still to read.",
         static_cast<double>(restore_remaining_.load()));
  metric("vigil_changelog_guarded_entries_total", "counter",
         "Restored entries from an incomplete checkpoint, guarded against a second count.",
         static_cast<double>(s.restore_guards));
  metric("vigil_changelog_cluster_conflicts_total", "counter",
         "Times a cluster arrived on a second input partition (input not keyed by cluster).",
         static_cast<double>(s.cluster_conflicts));
  if (!standby_) return;
  metric("vigil_changelog_standby_records_total", "counter",
         "Changelog records of streams owned elsewhere read by the standby.",
         static_cast<double>(s.standby_records));
  metric("vigil_changelog_standby_checkpoints_total", "counter",
         "Complete checkpoints of streams owned elsewhere written to the local store.",
         static_cast<double>(s.standby_checkpoints));
  metric("vigil_changelog_standby_rereads_total", "counter",
         "Times the standby read a changelog partition again (a stream released here, a "
         "position moved under it, a failed store write).",
         static_cast<double>(s.standby_rereads));
  metric("vigil_changelog_standby_failures_total", "counter",
         "Store writes of the standby that failed (the stream is read again after a pause).",
         static_cast<double>(s.standby_failures));
  metric("vigil_changelog_standby_streams", "gauge",
         "Input partitions (of any topic) whose state the standby keeps.",
         static_cast<double>(s.standby_streams));
  metric("vigil_changelog_standby_lag_records", "gauge",
         "Changelog records the standby has still to read (-1: not measured yet).",
         static_cast<double>(s.standby_lag));
}

}  // namespace vigil::ingest

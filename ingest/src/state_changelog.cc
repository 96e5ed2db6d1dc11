// KafkaStateChangelog (see state_changelog.h).
#include "vigil/ingest/state_changelog.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "vigil/core/finding.h"
#include "vigil/core/histogram.h"

namespace vigil::ingest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kState = 's';
constexpr char kDedup = 'd';
constexpr char kFinding = 'f';
constexpr char kMarker = 'm';
constexpr const char* kTopicHeader = "vigil-topic";
constexpr const char* kOffsetHeader = "vigil-offset";
constexpr std::string_view kMarkerMagic = "VM1";

int64_t ElapsedUs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count();
}

bool ParseInt(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

void PutU32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
bool GetU32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = 0;
  for (int i = 3; i >= 0; --i) *v = (*v << 8) | static_cast<unsigned char>((*in)[i]);
  in->remove_prefix(4);
  return true;
}

// A stream's marker: the input offset its last complete checkpoint covers and the watermarks of
// its clusters.
struct Marker {
  int64_t offset = -1;
  std::map<std::string, std::string> watermarks;  // cluster -> WatermarkMetaKey value
};

std::string EncodeMarker(const Marker& m) {
  std::string out(kMarkerMagic);
  PutExpiry(m.offset, &out);  // 8 bytes little-endian
  for (const auto& [cluster, wm] : m.watermarks) {
    PutU32(static_cast<uint32_t>(cluster.size()), &out);
    out.append(cluster);
    PutU32(static_cast<uint32_t>(wm.size()), &out);
    out.append(wm);
  }
  return out;
}

bool DecodeMarker(std::string_view in, Marker* m) {
  if (in.substr(0, kMarkerMagic.size()) != kMarkerMagic) return false;
  in.remove_prefix(kMarkerMagic.size());
  if (in.size() < kStateExpiryBytes) return false;
  m->offset = GetExpiry(in);
  in.remove_prefix(kStateExpiryBytes);
  m->watermarks.clear();
  while (!in.empty()) {
    uint32_t n = 0;
    if (!GetU32(&in, &n) || in.size() < n) return false;
    std::string cluster(in.substr(0, n));
    in.remove_prefix(n);
    if (!GetU32(&in, &n) || in.size() < n) return false;
    m->watermarks[std::move(cluster)] = std::string(in.substr(0, n));
    in.remove_prefix(n);
  }
  return true;
}

std::string MetaKey(std::string_view what, std::string_view topic, int32_t partition) {
  std::string k = "changelog";
  k.push_back(kKeySep);
  k.append(what);
  k.push_back(kKeySep);
  k.append(topic);
  k.push_back(kKeySep);
  k.append(std::to_string(partition));
  return k;
}

// The offset meta key KafkaRecordSource keeps for topic[partition] of `group`.
std::string InputOffsetKey(std::string_view group, std::string_view topic, int32_t partition) {
  std::string key = "kafka";
  key.push_back(kKeySep);
  key.append(group);
  key.push_back(kKeySep);
  key.append(topic);
  key.push_back(kKeySep);
  key.append(std::to_string(partition));
  return key;
}

}  // namespace

struct KafkaStateChangelog::Stream {
  std::string topic;
  int32_t partition = 0;
  int64_t next = -1;  // the input offset after the last record applied
  bool loaded = false;
  bool changed = false;  // watermarks changed since the last marker
  Marker marker;         // the last one sent (or restored)
};

std::string KafkaStateChangelog::PositionKey(std::string_view topic, int32_t partition) {
  return MetaKey("pos", topic, partition);
}

std::string KafkaStateChangelog::MarkerKey(std::string_view topic, int32_t partition) {
  return MetaKey("mark", topic, partition);
}

KafkaStateChangelog::KafkaStateChangelog(StateChangelogOptions options)
    : options_(std::move(options)) {}

KafkaStateChangelog::~KafkaStateChangelog() = default;

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
  Status status = CreateTopic(options_.brokers, options_.properties, options_.topic, wanted,
                              {{"cleanup.policy", "compact"}}, timeout);
  if (!status.ok()) {
    return Status::FailedPrecondition(
        "changelog: topic '" + options_.topic + "' does not exist and could not be created (" +
        status.message() + "); create it with cleanup.policy=compact and " +
        std::to_string(wanted) + " partitions (as many as the largest input topic)");
  }
  ASSIGN_OR_RETURN(partitions_, reader_->PartitionCount(options_.topic, timeout));
  spdlog::info("changelog: created {} with {} partitions", options_.topic, partitions_);
  return Status::Ok();
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
  s->marker = Marker();
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
  Marker m;
  if (stored.ok() && stored->has_value() && DecodeMarker(**stored, &m)) {
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
  for (const auto& [k, v] : cp.state) RETURN_IF_ERROR(add(StateKeyCluster(k), kState, k, v));
  for (const std::string& k : cp.state_deletes) {
    RETURN_IF_ERROR(add(StateKeyCluster(k), kState, k, std::nullopt));
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
    RETURN_IF_ERROR(add(f.cluster, kFinding, f.id, std::move(json)));
  }
  // A marker for every stream that moved: after its data, in the same partition.
  for (auto& [name, s] : streams_) {
    if (s->next < 0 || (s->next == s->marker.offset && !s->changed)) continue;
    ASSIGN_OR_RETURN(uint32_t stream, ref(s.get()));
    s->marker.offset = s->next;
    s->changed = false;
    std::string value = EncodeMarker(s->marker);
    out->meta.emplace_back(MarkerKey(s->topic, s->partition), value);
    ChangelogBatch::Message& m = out->messages.emplace_back();
    m.partition = s->partition;
    m.key.push_back(kMarker);
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
      r.headers = {{kTopicHeader, s.topic}, {kOffsetHeader, s.covered}};
      r.tag = (generation << 32) | (m.stream + 1);
      if (m.key[0] == kMarker) ++markers;
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
  const auto started = Clock::now();
  int64_t local = -1;
  auto pos = store->GetMeta(PositionKey(topic, partition));
  if (!pos.ok()) return pos.status();
  if (pos->has_value() && !ParseInt(**pos, &local)) local = -1;
  ASSIGN_OR_RETURN(auto marks,
                   reader_->Watermarks(options_.topic, partition, std::chrono::seconds(30)));
  const auto [low, high] = marks;
  if (high <= 0 || local >= high) return out;  // the store reflects all of it
  const int64_t from = (local < 0 || local < low) ? low : local;
  Marker marker;
  if (local >= low) {
    auto m = store->GetMeta(MarkerKey(topic, partition));
    if (m.ok() && m->has_value()) DecodeMarker(**m, &marker);
  }
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
  std::set<std::string> clusters;
  // The latest value of each key read (a key is sent again with each checkpoint that changed
  // it; a store write sorts its keys, so it must see each once).
  std::unordered_map<std::string, std::optional<std::string>> state;
  std::unordered_map<std::string, std::optional<std::string>> dedup;
  std::unordered_map<std::string, Finding> findings;
  StateCheckpoint cp;
  Status status;
  uint64_t records = 0, bytes = 0;
  auto flush = [&]() -> Status {
    for (auto& [k, v] : state) {
      if (v) {
        cp.state.emplace_back(k, std::move(*v));
      } else {
        cp.state_deletes.push_back(k);
      }
    }
    for (auto& [k, v] : dedup) {
      if (v) {
        cp.dedup.emplace_back(k, std::move(*v));
      } else {
        cp.dedup_deletes.push_back(k);
      }
    }
    for (auto& [id, f] : findings) cp.findings.push_back(std::move(f));
    state.clear();
    dedup.clear();
    findings.clear();
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
        auto t = r.header(kTopicHeader);
        auto key = r.key();
        if (!t || *t != topic || !key || key->empty()) return;  // another input topic's
        int64_t covered = -1;
        auto o = r.header(kOffsetHeader);
        if (!o || !ParseInt(*o, &covered)) return;
        ++records;
        const std::optional<std::string_view> value = r.value();
        bytes += key->size() + (value ? value->size() : 0);
        const char type = (*key)[0];
        const std::string_view k = key->substr(1);
        switch (type) {
          case kMarker: {
            Marker m;
            if (value && DecodeMarker(*value, &m)) {
              marker = std::move(m);
              tail.clear();
            }
            return;
          }
          case kState:
            state[std::string(k)] = value ? std::optional<std::string>(*value) : std::nullopt;
            clusters.emplace(StateKeyCluster(k));
            break;
          case kDedup:
            if (value) dedup[std::string(k)] = std::string(*value);
            clusters.emplace(DedupKeyCluster(k));
            break;
          case kFinding: {
            if (!value) break;
            auto f = FindingFromJson(*value);
            if (!f.ok()) {
              spdlog::warn("changelog: {}@{}: a finding that cannot be read: {}", options_.topic,
                           r.offset(), f.status().message());
              return;
            }
            findings[f->id] = std::move(*f);
            break;
          }
          default:
            return;
        }
        tail[{type, std::string(k)}] = covered;
        if (state.size() + dedup.size() + findings.size() >= options_.restore_batch) {
          status = flush();
        }
      }));
  RETURN_IF_ERROR(status);
  // What came after the last marker: from a checkpoint that never completed.
  for (const auto& [tk, covered] : tail) {
    if (covered <= marker.offset) continue;
    const auto& [type, key] = tk;
    if (type == kState) {
      out.state_guards.emplace_back(key, static_cast<uint64_t>(covered));
    } else if (type == kFinding) {
      out.finding_guards.emplace_back(key, static_cast<uint64_t>(covered));
    } else if (type == kDedup) {
      dedup[key] = std::nullopt;  // its event is replayed into the entries not guarded
    }
  }
  for (const auto& [cluster, wm] : marker.watermarks) {
    cp.meta.emplace_back(WatermarkMetaKey(cluster), wm);
    clusters.insert(cluster);
  }
  cp.meta.emplace_back(PositionKey(topic, partition), std::to_string(high));
  if (marker.offset >= 0) {
    cp.meta.emplace_back(MarkerKey(topic, partition), EncodeMarker(marker));
    cp.meta.emplace_back(InputOffsetKey(options_.group, topic, partition),
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

KafkaStateChangelog::Stats KafkaStateChangelog::stats() const {
  Stats s;
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
}

}  // namespace vigil::ingest

// KafkaRecordSource (see kafka_source.h): librdkafka's high-level consumer on a thread of its
// own, batches handed to the pipeline, offsets in the checkpoint and committed after it.
#include "vigil/ingest/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "kafka_cluster_of.h"
#include "vigil/core/dead_letter.h"

namespace vigil::ingest {
namespace {

using Clock = std::chrono::steady_clock;

struct Partition {
  std::string topic;
  int32_t partition = 0;
  size_t topic_index = 0;            // into KafkaOptions::topics
  std::string name;                  // "topic[partition]"
  std::atomic<int64_t> next{-1};     // the next offset to apply (the pipeline's); -1 unknown
  std::atomic<int64_t> durable{-1};  // the next offset a durable checkpoint covers
  std::atomic<int64_t> committed{-1};
  std::atomic<uint64_t> records{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> assigned{false};
  int64_t taken = -1;  // the pipeline thread's: `next` at the last TakePositions
};

bool ParseInt64(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

spdlog::level::level_enum LogLevel(int syslog_level) {
  if (syslog_level <= 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

struct PartitionList {
  rd_kafka_topic_partition_list_t* list;
  explicit PartitionList(int size = 8) : list(rd_kafka_topic_partition_list_new(size)) {}
  ~PartitionList() { rd_kafka_topic_partition_list_destroy(list); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
};

}  // namespace

Status CheckClusterName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("the cluster name is empty");
  if (name.size() > 253) {
    return Status::InvalidArgument("the cluster name is longer than 253 bytes");
  }
  for (char c : name) {
    if (c <= 0x20 || c >= 0x7f) {
      return Status::InvalidArgument(
          "the cluster name may hold printable ASCII only, without spaces");
    }
  }
  return Status::Ok();
}

Status ParseClusterFrom(std::string_view text, KafkaTopic* topic) {
  if (text == "key") {
    topic->cluster_from = KafkaTopic::ClusterFrom::kKey;
  } else if (text == "topic") {
    topic->cluster_from = KafkaTopic::ClusterFrom::kTopic;
  } else if (text.substr(0, 7) == "header:" && text.size() > 7) {
    topic->cluster_from = KafkaTopic::ClusterFrom::kHeader;
    topic->header.assign(text.substr(7));
  } else {
    return Status::InvalidArgument("cluster_from must be key, topic or header:<name>, got '" +
                                   std::string(text) + "'");
  }
  return Status::Ok();
}

class KafkaRecordSource::Impl {
 public:
  explicit Impl(KafkaOptions options) : o(std::move(options)) {}
  ~Impl() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  Status Init();
  void Loop();
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void CommitDone(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets);
  void Close();

  Result<PollResult> Poll(RecordBatch* batch, const BatchLimits& limits,
                          std::chrono::milliseconds wait);
  void Applied(const RecordOrigin& origin, const RawRecord& record);
  uint64_t TakePositions(std::vector<std::pair<std::string, std::string>>* meta);
  void OnDurable(uint64_t token);
  SourceHealth Health() const;
  void RenderMetrics(std::string* out) const;

  KafkaOptions o;
  rd_kafka_t* rk = nullptr;
  std::vector<std::unique_ptr<RE2>> patterns;  // per topic; null for an exact name
  const StateStore* store = nullptr;
  std::atomic<bool> stop{false};

  // Partitions seen, in order (append-only).
  mutable std::mutex parts_mu;
  std::vector<std::unique_ptr<Partition>> parts;                // guarded by parts_mu
  std::map<std::pair<std::string, int32_t>, uint32_t> by_name;  // guarded by parts_mu
  std::vector<Partition*> local;  // the pipeline thread's copy of `parts`

  // Batches between the consumer thread and the pipeline.
  struct Ready {
    std::unique_ptr<RecordBatch> batch;
    uint64_t barrier = 0;  // a revoke waits for this barrier to be durable
    std::vector<RestoredState> restored;  // kRestored
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Ready> ready;                          // guarded by mu
  size_t ready_bytes = 0;                           // guarded by mu
  std::vector<std::unique_ptr<RecordBatch>> spare;  // guarded by mu
  uint64_t barrier_seq = 0;                         // guarded by mu
  uint64_t barrier_done = 0;                        // guarded by mu
  bool consumer_done = false;                       // guarded by mu
  Status consumer_status;                           // guarded by mu
  BatchLimits limits;
  std::thread thread;

  // The consumer thread's.
  std::unique_ptr<RecordBatch> filling;
  bool paused = false;
  bool restore_failed = false;  // a restore failed or an assignment was lost: the loop ends
  rd_kafka_topic_t* last_rkt = nullptr;
  int32_t last_partition = -1;
  uint32_t last_stream = 0;

  std::atomic<bool> want_pause{false};  // Pause()
  std::atomic<bool> is_paused{false};   // for metrics
  std::atomic<bool> assigned_once{false};
  std::atomic<bool> closing{false};

  // The pipeline thread's.
  std::vector<RestoredState> polled_restored;  // returned by Poll (kRestored), not taken yet
  uint64_t polled_barrier = 0;  // returned by Poll, not released yet
  uint64_t barrier_token = 0;   // the checkpoint that covers it
  uint64_t tokens = 0;
  std::deque<std::pair<uint64_t, std::vector<std::pair<uint32_t, int64_t>>>> snapshots;

  // Counters.
  std::atomic<uint64_t> n_records{0}, n_bytes{0}, n_pauses{0}, n_rebalances{0}, n_commits{0},
      n_commit_errors{0}, n_consumer_errors{0}, n_no_cluster{0}, n_lost{0}, n_restores{0};
  std::atomic<int> restoring{0};  // partitions being restored (not ready meanwhile)
  std::string restoring_what;     // guarded by parts_mu
  std::atomic<int64_t> commit_started_us{0};
  // The group is rebalancing (a commit was refused for it): async commits wait for the
  // rebalance callback, since librdkafka takes a commit refused for a stale generation as the
  // assignment lost. Until then (µs on the steady clock), or 0.
  std::atomic<int64_t> commits_held_until_us{0};
  // From librdkafka's statistics: the consumer group is in its steady state. Async commits are
  // sent only then: one sent while the member rejoins goes out with the old generation, and
  // librdkafka takes its ILLEGAL_GENERATION answer as the assignment lost.
  std::atomic<bool> steady{true};
  std::atomic<uint64_t> commit_latency_us_sum{0};

 private:
  std::unique_ptr<RecordBatch> TakeSpare();
  void Push(uint64_t barrier);  // hands `filling` over
  void Append(rd_kafka_message_t* m);
  uint32_t StreamFor(rd_kafka_message_t* m);
  Partition* Ensure(const char* topic, int32_t partition);
  void ApplyPause();
  void CommitDurable(rd_kafka_topic_partition_list_t* only, bool async);
  int64_t StoredOffset(const Partition& p) const;
  void RefreshLocal();
};

namespace internal {

std::string_view ClusterOfRecord(const KafkaTopic& t, std::string_view topic,
                                 const rd_kafka_message_t* m, std::string* problem) {
  std::string_view cluster;
  switch (t.cluster_from) {
    case KafkaTopic::ClusterFrom::kFixed:
      cluster = t.cluster;
      break;
    case KafkaTopic::ClusterFrom::kTopic:
      cluster = topic;
      break;
    case KafkaTopic::ClusterFrom::kKey:
      if (m->key == nullptr || m->key_len == 0) {
        *problem = "the record has no key to take the cluster from";
        // Re-keyed by Vigil's repartition stage, which said why it had none.
        rd_kafka_headers_t* headers = nullptr;
        const void* why = nullptr;
        size_t size = 0;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(headers, "vigil-problem", &why, &size) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            why != nullptr) {
          *problem = "repartition: " + std::string(static_cast<const char*>(why), size);
        }
      } else {
        cluster = std::string_view(static_cast<const char*>(m->key), m->key_len);
      }
      break;
    case KafkaTopic::ClusterFrom::kHeader: {
      rd_kafka_headers_t* headers = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
          rd_kafka_header_get_last(headers, t.header.c_str(), &value, &size) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          value == nullptr || size == 0) {
        *problem = "the record has no header '" + t.header + "' to take the cluster from";
      } else {
        cluster = std::string_view(static_cast<const char*>(value), size);
      }
      break;
    }
  }
  if (problem->empty() && t.cluster_from != KafkaTopic::ClusterFrom::kFixed) {
    if (Status s = CheckClusterName(cluster); !s.ok()) *problem = "bad cluster: " + s.message();
  }
  return problem->empty() ? cluster : std::string_view();
}

}  // namespace internal

std::string KafkaRecordSource::OffsetKey(std::string_view group, std::string_view topic,
                                         int32_t partition) {
  std::string key = "kafka";
  key.push_back(kKeySep);
  key.append(group);
  key.push_back(kKeySep);
  key.append(topic);
  key.push_back(kKeySep);
  key.append(std::to_string(partition));
  return key;
}

Status KafkaRecordSource::Impl::Init() {
  if (o.brokers.empty()) return Status::InvalidArgument("kafka.brokers is empty");
  if (o.group.empty()) return Status::InvalidArgument("kafka.group is empty");
  if (o.topics.empty()) return Status::InvalidArgument("kafka.topics names no topic");
  for (size_t i = 0; i < o.topics.size(); ++i) {
    const KafkaTopic& t = o.topics[i];
    const std::string where = "kafka.topics[" + std::to_string(i) + "]";
    if (t.name.empty() == t.pattern.empty()) {
      return Status::InvalidArgument(where + ": give exactly one of name and pattern");
    }
    if (!t.pattern.empty()) {
      if (t.pattern[0] != '^') {
        return Status::InvalidArgument(where + ".pattern must start with ^ (got '" + t.pattern +
                                       "')");
      }
      auto re = std::make_unique<RE2>(t.pattern, RE2::Quiet);
      if (!re->ok()) {
        return Status::InvalidArgument(where + ".pattern: " + re->error());
      }
      patterns.push_back(std::move(re));
    } else {
      patterns.push_back(nullptr);
    }
    switch (t.cluster_from) {
      case KafkaTopic::ClusterFrom::kFixed:
        if (Status s = CheckClusterName(t.cluster); !s.ok()) {
          return Status::InvalidArgument(where + ": give cluster or cluster_from (" + s.message() +
                                         ")");
        }
        break;
      case KafkaTopic::ClusterFrom::kHeader:
        if (t.header.empty()) return Status::InvalidArgument(where + ": header name is empty");
        [[fallthrough]];
      case KafkaTopic::ClusterFrom::kKey:
      case KafkaTopic::ClusterFrom::kTopic:
        if (!t.cluster.empty()) {
          return Status::InvalidArgument(where + ": give cluster or cluster_from, not both");
        }
        break;
    }
  }

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value,
                 const std::string& where) -> Status {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument(where + ": " + errstr);
    }
    return Status::Ok();
  };
  const size_t queue_kb = std::max<size_t>(o.queue_bytes / 1024, 1024);
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"bootstrap.servers", o.brokers},
      {"group.id", o.group},
      {"client.id", o.client_id},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      // The prefetch queue is bounded by bytes. (A lower queued.min.messages than librdkafka's
      // default stalled every partition for a fetch backoff each time its queue filled: bursts
      // and ~0.7 s pauses, 40k instead of 200k+ events/s in bench/kafka_bench.)
      {"queued.max.messages.kbytes", std::to_string(queue_kb)},
      {"statistics.interval.ms", "100"},  // the group's join state, for commits
  };
  Status status;
  for (const auto& [k, v] : defaults) {
    if (status.ok()) status = set(k, v, "kafka." + k);
  }
  for (const auto& [k, v] : o.properties) {
    if (!status.ok()) break;
    if ((k == "enable.auto.commit" || k == "enable.auto.offset.store") && v != "false") {
      status = Status::InvalidArgument("kafka.properties." + k +
                                       " must be false: offsets are committed by Vigil's "
                                       "checkpoints");
      break;
    }
    status = set(k, v, "kafka.properties." + k);
  }
  if (status.ok()) status = set("enable.auto.commit", "false", "kafka");
  if (status.ok()) status = set("enable.auto.offset.store", "false", "kafka");
  if (!status.ok()) {
    rd_kafka_conf_destroy(conf);
    return status;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(
      conf, [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
               void* opaque) { static_cast<Impl*>(opaque)->Rebalance(err, parts); });
  rd_kafka_conf_set_offset_commit_cb(
      conf, [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
               void* opaque) { static_cast<Impl*>(opaque)->CommitDone(err, offsets); });
  rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    self->n_consumer_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("kafka: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
  });
  rd_kafka_conf_set_stats_cb(conf, [](rd_kafka_t*, char* json, size_t len, void* opaque) {
    const std::string_view text(json, len);
    constexpr std::string_view kKey = "\"join_state\":\"";
    const size_t at = text.find(kKey);
    if (at != std::string_view::npos) {
      static_cast<Impl*>(opaque)->steady = text.substr(at + kKey.size(), 6) == "steady";
    }
    return 0;  // librdkafka frees json
  });
  rd_kafka_conf_set_log_cb(conf,
                           [](const rd_kafka_t*, int level, const char* fac, const char* buf) {
                             spdlog::log(LogLevel(level), "kafka: {}: {}", fac, buf);
                           });
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("kafka: cannot make the consumer: ") + errstr);
  }
  rd_kafka_poll_set_consumer(rk);
  return Status::Ok();
}

std::unique_ptr<RecordBatch> KafkaRecordSource::Impl::TakeSpare() {
  std::lock_guard<std::mutex> lock(mu);
  if (spare.empty()) return std::make_unique<RecordBatch>();
  std::unique_ptr<RecordBatch> b = std::move(spare.back());
  spare.pop_back();
  return b;
}

void KafkaRecordSource::Impl::Push(uint64_t barrier) {
  {
    std::lock_guard<std::mutex> lock(mu);
    ready_bytes += filling->bytes.size();
    ready.push_back(Ready{std::move(filling), barrier});
  }
  cv.notify_all();
  filling = TakeSpare();
  ApplyPause();
}

// Pauses every assigned partition while the batches waiting for the pipeline are over the
// budget (or Pause() asked), and resumes them once half of it is drained.
void KafkaRecordSource::Impl::ApplyPause() {
  size_t waiting = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    waiting = ready_bytes;
  }
  bool want = paused ? (waiting > o.queue_bytes / 2) : (waiting > o.queue_bytes);
  if (want_pause.load()) want = true;
  if (want == paused) return;
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(rk, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  if (want) {
    rd_kafka_pause_partitions(rk, assignment);
    n_pauses.fetch_add(1, std::memory_order_relaxed);
  } else {
    rd_kafka_resume_partitions(rk, assignment);
  }
  rd_kafka_topic_partition_list_destroy(assignment);
  paused = want;
  is_paused = want;
}

Partition* KafkaRecordSource::Impl::Ensure(const char* topic, int32_t partition) {
  std::lock_guard<std::mutex> lock(parts_mu);
  auto [it, inserted] = by_name.try_emplace({topic, partition}, 0);
  if (!inserted) return parts[it->second].get();
  auto p = std::make_unique<Partition>();
  p->topic = topic;
  p->partition = partition;
  p->name = p->topic + "[" + std::to_string(partition) + "]";
  for (size_t i = 0; i < o.topics.size(); ++i) {
    const KafkaTopic& t = o.topics[i];
    if (t.name == p->topic || (patterns[i] && RE2::PartialMatch(p->topic, *patterns[i]))) {
      p->topic_index = i;
      break;
    }
  }
  it->second = static_cast<uint32_t>(parts.size());
  parts.push_back(std::move(p));
  return parts.back().get();
}

uint32_t KafkaRecordSource::Impl::StreamFor(rd_kafka_message_t* m) {
  if (m->rkt == last_rkt && m->partition == last_partition) return last_stream;
  Ensure(rd_kafka_topic_name(m->rkt), m->partition);
  std::lock_guard<std::mutex> lock(parts_mu);
  last_rkt = m->rkt;
  last_partition = m->partition;
  last_stream = by_name.at({rd_kafka_topic_name(m->rkt), m->partition});
  return last_stream;
}

void KafkaRecordSource::Impl::Append(rd_kafka_message_t* m) {
  const uint32_t stream = StreamFor(m);
  Partition* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(parts_mu);
    p = parts[stream].get();
  }
  const KafkaTopic& t = o.topics[p->topic_index];
  std::string problem;
  const std::string_view cluster = internal::ClusterOfRecord(t, p->topic, m, &problem);
  const char* data = static_cast<const char*>(m->payload);
  const size_t len = data == nullptr ? 0 : m->len;
  p->records.fetch_add(1, std::memory_order_relaxed);
  p->bytes.fetch_add(len, std::memory_order_relaxed);
  n_records.fetch_add(1, std::memory_order_relaxed);
  n_bytes.fetch_add(len, std::memory_order_relaxed);
  const uint32_t origin =
      filling->OriginFor(stream, problem.empty() ? cluster : "", [&](RecordOrigin& orig) {
        orig.name = p->name;
        orig.key = p->topic;
        orig.partition = p->partition;
        orig.envelope = t.envelope;
        orig.lines = false;
      });
  filling->source_bytes += len;
  if (!problem.empty() || len == 0) {
    if (problem.empty()) problem = "empty record (no value)";
    if (t.cluster_from != KafkaTopic::ClusterFrom::kFixed) {
      n_no_cluster.fetch_add(1, std::memory_order_relaxed);
    }
    filling->AddProblem(
        origin, RawRecord::Kind::kMalformed, static_cast<uint64_t>(m->offset), 0,
        p->name + "@" + std::to_string(m->offset) + ": " + problem, len,
        std::string_view(data == nullptr ? "" : data, std::min(len, kDeadLetterHeadBytes)));
    return;
  }
  filling->Add(origin, static_cast<uint64_t>(m->offset), 0, data, len);
}

void KafkaRecordSource::Impl::Loop() {
  pthread_setname_np(pthread_self(), "vigil-kafka");
  PartitionList topics(static_cast<int>(o.topics.size()));
  for (const KafkaTopic& t : o.topics) {
    rd_kafka_topic_partition_list_add(
        topics.list, t.name.empty() ? t.pattern.c_str() : t.name.c_str(), RD_KAFKA_PARTITION_UA);
  }
  filling = TakeSpare();
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.list)) {
    std::lock_guard<std::mutex> lock(mu);
    consumer_done = true;
    consumer_status =
        Status::Unavailable(std::string("kafka: cannot subscribe: ") + rd_kafka_err2str(err));
    cv.notify_all();
    return;
  }
  const size_t max_bytes = std::max<size_t>(limits.max_bytes, 1);
  const size_t max_records = std::max<size_t>(limits.max_records, 1);
  while (!stop.load()) {
    ApplyPause();
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, filling->empty() ? 100 : 2);
    if (restore_failed) {
      if (m != nullptr) rd_kafka_message_destroy(m);
      if (!filling->empty()) Push(0);  // polled before: still applied
      std::lock_guard<std::mutex> lock(mu);
      consumer_done = true;
      cv.notify_all();
      return;
    }
    if (m == nullptr) {
      if (!filling->empty()) Push(0);  // nothing more right now: hand over what there is
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      n_consumer_errors.fetch_add(1, std::memory_order_relaxed);
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        spdlog::warn("kafka: consumer: {}", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    if (!filling->empty() && filling->bytes.size() + m->len > max_bytes) Push(0);
    Append(m);
    rd_kafka_message_destroy(m);
    if (filling->bytes.size() >= max_bytes || filling->records.size() >= max_records) Push(0);
  }
}

int64_t KafkaRecordSource::Impl::StoredOffset(const Partition& p) const {
  if (store == nullptr) return -1;
  auto stored = store->GetMeta(OffsetKey(o.group, p.topic, p.partition));
  int64_t offset = -1;
  if (!stored.ok()) {
    spdlog::error("kafka: cannot read the stored offset of {}: {}", p.name,
                  stored.status().message());
    return -1;
  }
  if (!stored->has_value() || !ParseInt64(**stored, &offset) || offset < 0) return -1;
  return offset;
}

void KafkaRecordSource::Impl::Rebalance(rd_kafka_resp_err_t err,
                                        rd_kafka_topic_partition_list_t* partitions) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  n_rebalances.fetch_add(1, std::memory_order_relaxed);
  commits_held_until_us = 0;  // the group has a generation again
  std::string names;
  for (int i = 0; i < partitions->cnt; ++i) {
    if (i > 0) names += ", ";
    names += std::string(partitions->elems[i].topic) + "[" +
             std::to_string(partitions->elems[i].partition) + "]";
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    std::vector<RestoredState> restored;
    for (int i = 0; i < partitions->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = partitions->elems[i];
      Partition* p = Ensure(tp.topic, tp.partition);
      if (o.restore && !stop.load() && !restore_failed) {
        restoring.fetch_add(1);
        {
          std::lock_guard<std::mutex> lock(parts_mu);
          restoring_what = p->name;
        }
        int64_t offset = -1;
        auto r = o.restore(p->topic, p->partition, &offset);
        restoring.fetch_sub(1);
        if (!r.ok()) {
          spdlog::error("kafka: restoring the state of {}: {}", p->name, r.status().message());
          std::lock_guard<std::mutex> lock(mu);
          restore_failed = true;
          consumer_status = r.status().WithContext("restoring the state of " + p->name);
        } else if (!r->clusters.empty() || offset >= 0) {
          n_restores.fetch_add(1, std::memory_order_relaxed);
          restored.push_back(std::move(*r));
        }
      }
      const int64_t stored = StoredOffset(*p);
      if (stored >= 0) {
        tp.offset = stored;  // the checkpoint's offset wins over the group's
        p->durable = stored;
      }
      p->next = stored;
      p->assigned = true;
    }
    if (cooperative) {
      if (rd_kafka_error_t* error = rd_kafka_incremental_assign(rk, partitions)) {
        spdlog::error("kafka: assigning {}: {}", names, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
    } else if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, partitions)) {
      spdlog::error("kafka: assigning {}: {}", names, rd_kafka_err2str(e));
    }
    if (paused) rd_kafka_pause_partitions(rk, partitions);
    if (!restored.empty()) {
      // The pipeline forgets what it cached of their clusters before any of their records:
      // those are fetched after this callback, so they come after this batch.
      if (!filling->empty()) Push(0);
      std::lock_guard<std::mutex> lock(mu);
      ready.push_back(Ready{std::make_unique<RecordBatch>(), 0, std::move(restored)});
      cv.notify_all();
    }
    assigned_once = true;
    spdlog::info("kafka: assigned {}", names.empty() ? "no partitions" : names);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    if (lost) n_lost.fetch_add(1, std::memory_order_relaxed);
    if (lost && o.restore && !closing.load() && !stop.load()) {
      // State built from these partitions may be ahead of what their next owner restores: the
      // pipeline must start again from the store (and the partitions' changelog).
      std::lock_guard<std::mutex> lock(mu);
      restore_failed = true;
      consumer_status = Status::Unavailable("kafka: the assignment of " + names +
                                        " was lost (session expired); starting again from the "
                                        "store and the changelog");
    }
    if (!lost && !closing.load() && !stop.load()) {
      // Everything polled from these partitions must be applied and durable before they go.
      uint64_t id = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        id = ++barrier_seq;
      }
      Push(id);
      const auto deadline = Clock::now() + o.rebalance_timeout;
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_until(lock, deadline,
                         [&] { return barrier_done >= id || stop.load() || consumer_done; })) {
        spdlog::warn(
            "kafka: revoking {}: the pipeline did not checkpoint within {} ms; their "
            "last records will be redelivered",
            names, o.rebalance_timeout.count());
      }
    }
    if (!lost) CommitDurable(partitions, /*async=*/false);
    for (int i = 0; i < partitions->cnt; ++i) {
      Ensure(partitions->elems[i].topic, partitions->elems[i].partition)->assigned = false;
      if (o.released) o.released(partitions->elems[i].topic, partitions->elems[i].partition);
    }
    rd_kafka_error_t* error = nullptr;
    if (cooperative) {
      error = rd_kafka_incremental_unassign(rk, partitions);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    if (error != nullptr) {
      spdlog::error("kafka: revoking {}: {}", names, rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
    spdlog::info("kafka: {} {}", lost ? "lost" : "released", names);
    return;
  }
  spdlog::error("kafka: rebalance failed: {}", rd_kafka_err2str(err));
  if (!cooperative) rd_kafka_assign(rk, nullptr);
}

// Commits the offsets durable checkpoints cover, of `only` (the partitions of a revoke) or of
// every assigned partition.
void KafkaRecordSource::Impl::CommitDurable(rd_kafka_topic_partition_list_t* only, bool async) {
  PartitionList offsets;
  {
    std::lock_guard<std::mutex> lock(parts_mu);
    for (const auto& p : parts) {
      const int64_t durable = p->durable.load();
      if (durable < 0 || durable == p->committed.load()) continue;
      if (only != nullptr) {
        if (rd_kafka_topic_partition_list_find(only, p->topic.c_str(), p->partition) == nullptr) {
          continue;
        }
      } else if (!p->assigned.load()) {
        continue;  // another member owns it now: never commit over its progress
      }
      rd_kafka_topic_partition_list_add(offsets.list, p->topic.c_str(), p->partition)->offset =
          durable;
    }
  }
  if (offsets.list->cnt == 0) return;
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
          .count();
  if (async && (commits_held_until_us.load() > now_us || !steady.load())) {
    return;  // the group is rebalancing: the next checkpoint (or the revoke) commits
  }
  commit_started_us = now_us;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk, offsets.list, async ? 1 : 0);
  if (!async) CommitDone(err, offsets.list);
}

void KafkaRecordSource::Impl::CommitDone(rd_kafka_resp_err_t err,
                                         rd_kafka_topic_partition_list_t* offsets) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
          .count();
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing to commit
  if (err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
      err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION) {
    commits_held_until_us = now + int64_t{30'000'000};  // or until the rebalance callback
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    n_commit_errors.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("kafka: offset commit failed: {} (the next checkpoint commits again)",
                 rd_kafka_err2str(err));
    return;
  }
  n_commits.fetch_add(1, std::memory_order_relaxed);
  const int64_t started = commit_started_us.load();
  if (started > 0 && now >= started) {
    commit_latency_us_sum.fetch_add(static_cast<uint64_t>(now - started));
  }
  if (offsets == nullptr) return;
  std::lock_guard<std::mutex> lock(parts_mu);
  for (int i = 0; i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = offsets->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR || tp.offset < 0) continue;
    auto it = by_name.find({tp.topic, tp.partition});
    if (it != by_name.end()) parts[it->second]->committed = tp.offset;
  }
}

void KafkaRecordSource::Impl::Close() {
  stop = true;
  cv.notify_all();
  if (thread.joinable()) thread.join();
  if (rk == nullptr) return;
  closing = true;
  CommitDurable(nullptr, /*async=*/false);  // what the last checkpoint covers
  rd_kafka_consumer_close(rk);              // leaves the group (a last revoke, no waiting)
}

Result<RecordSource::PollResult> KafkaRecordSource::Impl::Poll(RecordBatch* batch,
                                                               const BatchLimits& l,
                                                               std::chrono::milliseconds wait) {
  if (!thread.joinable() && !stop.load()) {
    limits = l;
    thread = std::thread([this] { Loop(); });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, wait, [&] { return !ready.empty() || consumer_done || stop.load(); });
  if (stop.load()) return PollResult::kEnd;
  if (ready.empty()) {
    if (consumer_done) {
      if (!consumer_status.ok()) return consumer_status;
      return PollResult::kEnd;
    }
    return PollResult::kIdle;
  }
  Ready r = std::move(ready.front());
  ready.pop_front();
  ready_bytes -= r.batch->bytes.size();
  std::swap(*batch, *r.batch);
  spare.push_back(std::move(r.batch));
  if (r.barrier != 0) {
    polled_barrier = r.barrier;
    return PollResult::kBarrier;
  }
  if (!r.restored.empty()) {
    polled_restored = std::move(r.restored);
    return PollResult::kRestored;
  }
  return PollResult::kRecords;
}

void KafkaRecordSource::Impl::RefreshLocal() {
  std::lock_guard<std::mutex> lock(parts_mu);
  for (size_t i = local.size(); i < parts.size(); ++i) local.push_back(parts[i].get());
}

void KafkaRecordSource::Impl::Applied(const RecordOrigin& origin, const RawRecord& record) {
  if (origin.stream >= local.size()) RefreshLocal();
  local[origin.stream]->next.store(static_cast<int64_t>(record.position) + 1,
                                   std::memory_order_relaxed);
}

uint64_t KafkaRecordSource::Impl::TakePositions(
    std::vector<std::pair<std::string, std::string>>* meta) {
  RefreshLocal();
  std::vector<std::pair<uint32_t, int64_t>> snapshot;
  for (uint32_t i = 0; i < local.size(); ++i) {
    Partition* p = local[i];
    const int64_t next = p->next.load();
    if (next < 0 || next == p->taken) continue;
    meta->emplace_back(OffsetKey(o.group, p->topic, p->partition), std::to_string(next));
    snapshot.emplace_back(i, next);
    p->taken = next;
  }
  const uint64_t token = ++tokens;
  snapshots.emplace_back(token, std::move(snapshot));
  if (polled_barrier != 0 && barrier_token == 0) barrier_token = token;
  return token;
}

void KafkaRecordSource::Impl::OnDurable(uint64_t token) {
  bool any = false;
  while (!snapshots.empty() && snapshots.front().first <= token) {
    for (const auto& [stream, next] : snapshots.front().second) {
      local[stream]->durable = next;
      any = true;
    }
    snapshots.pop_front();
  }
  if (any) CommitDurable(nullptr, /*async=*/true);
  if (polled_barrier != 0 && barrier_token != 0 && token >= barrier_token) {
    {
      std::lock_guard<std::mutex> lock(mu);
      barrier_done = std::max(barrier_done, polled_barrier);
    }
    polled_barrier = 0;
    barrier_token = 0;
    cv.notify_all();
  }
}

SourceHealth KafkaRecordSource::Impl::Health() const {
  SourceHealth h;
  std::lock_guard<std::mutex> lock(parts_mu);
  if (restoring.load() > 0) {  // (during the first assignment too)
    h.why = "kafka: restoring the state of " + restoring_what + " from the changelog";
    return h;
  }
  if (!assigned_once.load()) {
    h.why = "kafka: waiting for the group to assign partitions";
    return h;
  }
  h.ready = true;
  for (const auto& p : parts) {
    if (!p->assigned.load()) continue;
    int64_t low = -1, high = -1;
    rd_kafka_get_watermark_offsets(rk, p->topic.c_str(), p->partition, &low, &high);
    if (high < 0) {
      h.ready = false;
      if (h.why.empty()) h.why = "kafka: no watermark yet for " + p->name;
      continue;
    }
    int64_t pos = p->next.load();
    if (pos < 0) pos = std::max<int64_t>(low, 0);
    if (high > pos) h.lag += static_cast<uint64_t>(high - pos);
  }
  return h;
}

void KafkaRecordSource::Impl::RenderMetrics(std::string* out) const {
  auto family = [&](const char* name, const char* type, const char* help) {
    out->append("# HELP ").append(name).append(" ").append(help).append("\n");
    out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
  };
  auto line = [&](const char* name, const std::string& labels, uint64_t value) {
    out->append(name);
    if (!labels.empty()) out->append("{").append(labels).append("}");
    out->append(" ").append(std::to_string(value)).append("\n");
  };
  struct Row {
    std::string labels;
    uint64_t lag, records, bytes;
    int64_t committed;
  };
  std::vector<Row> rows;
  {
    std::lock_guard<std::mutex> lock(parts_mu);
    for (const auto& p : parts) {
      if (!p->assigned.load()) continue;
      int64_t low = -1, high = -1;
      rd_kafka_get_watermark_offsets(rk, p->topic.c_str(), p->partition, &low, &high);
      int64_t pos = p->next.load();
      if (pos < 0) pos = std::max<int64_t>(low, 0);
      rows.push_back(
          Row{"topic=\"" + p->topic + "\",partition=\"" + std::to_string(p->partition) + "\"",
              high > pos ? static_cast<uint64_t>(high - pos) : 0, p->records.load(),
              p->bytes.load(), p->committed.load()});
    }
  }
  family("vigil_kafka_lag", "gauge",
         "Records in an assigned partition not applied yet (high watermark - next offset).");
  for (const Row& r : rows) line("vigil_kafka_lag", r.labels, r.lag);
  family("vigil_kafka_records_total", "counter", "Records consumed from an assigned partition.");
  for (const Row& r : rows) line("vigil_kafka_records_total", r.labels, r.records);
  family("vigil_kafka_bytes_total", "counter", "Bytes of record values consumed.");
  for (const Row& r : rows) line("vigil_kafka_bytes_total", r.labels, r.bytes);
  family("vigil_kafka_committed_offset", "gauge", "The offset last committed to Kafka.");
  for (const Row& r : rows) {
    if (r.committed >= 0) line("vigil_kafka_committed_offset", r.labels, r.committed);
  }
  family("vigil_kafka_assigned_partitions", "gauge", "Partitions assigned to this consumer.");
  line("vigil_kafka_assigned_partitions", "", rows.size());
  family("vigil_kafka_paused", "gauge", "1 while the partitions are paused for backpressure.");
  line("vigil_kafka_paused", "", is_paused.load() ? 1 : 0);
  family("vigil_kafka_pauses_total", "counter", "Times the partitions were paused.");
  line("vigil_kafka_pauses_total", "", n_pauses.load());
  family("vigil_kafka_rebalances_total", "counter", "Assignments and revocations.");
  line("vigil_kafka_rebalances_total", "", n_rebalances.load());
  family("vigil_kafka_assignments_lost_total", "counter",
         "Assignments lost (not revoked): their last records may be redelivered elsewhere.");
  line("vigil_kafka_assignments_lost_total", "", n_lost.load());
  family("vigil_kafka_commits_total", "counter", "Offset commits acknowledged by Kafka.");
  line("vigil_kafka_commits_total", "", n_commits.load());
  family("vigil_kafka_commit_errors_total", "counter", "Offset commits that failed.");
  line("vigil_kafka_commit_errors_total", "", n_commit_errors.load());
  // A counter of seconds (base unit, _total) rather than a _sum without its histogram.
  family("vigil_kafka_commit_latency_seconds_total", "counter",
         "Time from an offset commit's request to its acknowledgement, summed over commits.");
  out->append("vigil_kafka_commit_latency_seconds_total ")
      .append(std::to_string(static_cast<double>(commit_latency_us_sum.load()) / 1e6))
      .append("\n");
  family("vigil_kafka_consumer_errors_total", "counter",
         "Errors librdkafka reported (broker down, transport...).");
  line("vigil_kafka_consumer_errors_total", "", n_consumer_errors.load());
  family("vigil_kafka_records_without_cluster_total", "counter",
         "Records whose key or header named no valid cluster (dead-lettered).");
  line("vigil_kafka_records_without_cluster_total", "", n_no_cluster.load());
}

// ---- KafkaRecordSource ----------------------------------------------------------------------

Result<std::unique_ptr<KafkaRecordSource>> KafkaRecordSource::Create(KafkaOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<KafkaRecordSource>(new KafkaRecordSource(std::move(impl)));
}

KafkaRecordSource::KafkaRecordSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaRecordSource::~KafkaRecordSource() { impl_->Close(); }

Status KafkaRecordSource::Restore(const StateStore* store) {
  impl_->store = store;
  return Status::Ok();
}

Result<RecordSource::PollResult> KafkaRecordSource::Poll(RecordBatch* batch,
                                                         const BatchLimits& limits,
                                                         std::chrono::milliseconds wait) {
  return impl_->Poll(batch, limits, wait);
}

std::vector<RestoredState> KafkaRecordSource::TakeRestored() {
  return std::move(impl_->polled_restored);
}

void KafkaRecordSource::Applied(const RecordOrigin& origin, const RawRecord& record) {
  impl_->Applied(origin, record);
}

uint64_t KafkaRecordSource::TakePositions(std::vector<std::pair<std::string, std::string>>* meta) {
  return impl_->TakePositions(meta);
}

void KafkaRecordSource::OnDurable(uint64_t token) { impl_->OnDurable(token); }

void KafkaRecordSource::Pause() { impl_->want_pause = true; }

void KafkaRecordSource::Resume() { impl_->want_pause = false; }

void KafkaRecordSource::Stop() {
  impl_->stop = true;
  impl_->cv.notify_all();
}

SourceHealth KafkaRecordSource::Health() const { return impl_->Health(); }

void KafkaRecordSource::RenderMetrics(std::string* out) const { impl_->RenderMetrics(out); }

KafkaRecordSource::Stats KafkaRecordSource::stats() const {
  Stats s;
  s.records = impl_->n_records.load();
  s.bytes = impl_->n_bytes.load();
  s.pauses = impl_->n_pauses.load();
  s.rebalances = impl_->n_rebalances.load();
  s.commits = impl_->n_commits.load();
  s.commit_errors = impl_->n_commit_errors.load();
  s.consumer_errors = impl_->n_consumer_errors.load();
  s.no_cluster = impl_->n_no_cluster.load();
  s.lost = impl_->n_lost.load();
  s.restores = impl_->n_restores.load();
  std::lock_guard<std::mutex> lock(impl_->parts_mu);
  for (const auto& p : impl_->parts) s.assigned += p->assigned.load() ? 1 : 0;
  return s;
}

}  // namespace vigil::ingest

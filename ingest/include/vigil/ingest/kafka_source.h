// KafkaRecordSource: a librdkafka consumer group as a RecordSource, effectively once.
//
// Offsets belong to the checkpoint: auto commit and auto offset store are off; the next offset
// of every partition is written in the checkpoint's WriteBatch with state, findings and dedup
// (meta key "kafka" SEP group SEP topic SEP partition); on assignment the consumer seeks to the
// stored offsets (they win over the group's committed ones); offsets are committed to Kafka only
// once the checkpoint that covers them is durable (OnDurable), so lag tools work. Redelivery is
// harmless (dedup by cluster, auditID, stage).
//
// A consumer thread polls librdkafka and fills batches, at most queue_bytes ahead of the
// pipeline; over that it pauses every assigned partition (it keeps polling, so it stays in the
// group) and resumes them once the pipeline has drained half of it. A rebalance that revokes
// partitions (cooperative-sticky by default) waits, inside the callback, until the pipeline has
// applied every record polled before it and made a durable checkpoint (Poll returns kBarrier);
// then it commits their offsets and releases them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vigil/ingest/record_source.h"

namespace vigil::ingest {

// One input topic (or pattern) and where its records' cluster comes from.
struct KafkaTopic {
  std::string name;     // an exact topic name, or
  std::string pattern;  // a regular expression over topic names (RE2 syntax, anchored)
  enum class ClusterFrom : uint8_t { kFixed, kKey, kHeader, kTopic };
  ClusterFrom cluster_from = ClusterFrom::kFixed;
  std::string cluster;  // kFixed: the cluster of every record
  std::string header;   // kHeader: the name of the header holding the cluster
  EnvelopeChoice envelope = EnvelopeChoice::kAuto;
  // Not keyed by cluster: re-keyed first by the repartition stage (kafka_repartitioner.h).
  bool repartition = false;
};

struct KafkaOptions {
  std::string brokers;  // bootstrap.servers
  std::string group = "vigil";
  std::vector<KafkaTopic> topics;
  // Passed to librdkafka unchanged, after Vigil's defaults (so they override them), e.g.
  // security.protocol, sasl.*, ssl.*, session.timeout.ms. enable.auto.commit and
  // enable.auto.offset.store must stay false.
  std::vector<std::pair<std::string, std::string>> properties;
  // Records fetched and not applied yet, in Vigil's batches; librdkafka's own pre-fetch queue
  // gets as much again (queued.max.messages.kbytes). Over it, the partitions are paused.
  size_t queue_bytes = size_t{64} << 20;
  // The longest a revoke waits for the pipeline's checkpoint before releasing the partitions
  // anyway (their records are then redelivered to the next owner).
  std::chrono::milliseconds rebalance_timeout{60000};
  std::string client_id = "vigil";
  // Scale-out (a state changelog): called on assignment of each partition, before it is read,
  // to bring its state into the store; sets *offset to where reading resumes (-1: the stored
  // offset). An error stops the consumer (the pipeline restarts). With it, an assignment lost
  // without a revoke (the session expired) also stops the consumer: state built from it may be
  // ahead of what the partition's next owner restores.
  std::function<Result<RestoredState>(const std::string& topic, int32_t partition,
                                      int64_t* offset)>
      restore;
  // Called after a partition is revoked (its last checkpoint durable) or its assignment lost.
  std::function<void(const std::string& topic, int32_t partition)> released;
};

// A cluster name taken from a record's key, header or topic: 1..253 printable ASCII bytes, no
// space. InvalidArgument with what is wrong otherwise.
Status CheckClusterName(std::string_view name);

// Parses the cluster source of a topic: "key", "topic" or "header:<name>".
Status ParseClusterFrom(std::string_view text, KafkaTopic* topic);

class KafkaRecordSource final : public RecordSource {
 public:
  // Validates the options (topics, cluster mapping, patterns, properties) and makes the consumer
  // (it connects when Poll first runs). InvalidArgument naming what is wrong.
  static Result<std::unique_ptr<KafkaRecordSource>> Create(KafkaOptions options);
  ~KafkaRecordSource() override;  // stops the consumer thread, commits, leaves the group

  std::string_view kind() const override { return "kafka"; }
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
  SourceHealth Health() const override;
  void RenderMetrics(std::string* out) const override;

  // The meta key of a partition's next offset.
  static std::string OffsetKey(std::string_view group, std::string_view topic, int32_t partition);

  struct Stats {
    uint64_t records = 0, bytes = 0, pauses = 0, rebalances = 0, commits = 0, commit_errors = 0,
             consumer_errors = 0, no_cluster = 0;
    uint64_t assigned = 0;  // partitions assigned now
    uint64_t lost = 0;      // assignments lost (not revoked)
    uint64_t restores = 0;  // partitions whose state was restored on assignment
  };
  Stats stats() const;

  class Impl;  // librdkafka's callbacks reach it

 private:
  explicit KafkaRecordSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::ingest

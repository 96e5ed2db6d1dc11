// KafkaStateChangelog: the state of Kafka-fed detection, kept also in a compacted Kafka topic
// (`<group>-state-changelog`) so that a partition's state can follow it to another instance of
// the consumer group, as Kafka Streams' changelogs do, but without transactions.
//
// Layout. Changelog partition p holds the state of input partition p of every input topic (the
// clusters whose records arrive there: input topics are keyed by cluster). Record keys are a
// type byte and the store's own key: 's' state key, 'f' finding id, 'm' input topic (the
// stream's marker); 'd' (a dedup key) is read but not written: dedup entries, one per event,
// would grow a compacted topic without bound, and a moved partition resumes at its marker, so
// only a record its shipper sent twice, one copy on each side of the move, counts twice. Values are the store's values (a finding: FindingToJson), a null
// value deletes. Headers: `vigil-topic` (the input topic) and `vigil-offset` (the input offset
// the record covers: every event of the stream before it is in the value).
//
// Writing. Each checkpoint sends the state and findings it changed, then, per input partition that moved, a
// marker (covered offset + the watermarks of the partition's clusters), and waits until Kafka
// acknowledged all of it before the local store commits (durable before acknowledged). The
// findings go to the findings topic in the same flush. The local store records, per stream, the
// changelog offset it reflects and the last marker.
//
// Restoring. When an input partition is assigned, the changelog records of that stream that the
// local store does not reflect (all of them when it has none) are written to the store, and the
// input resumes at the last marker's covered offset. Records after the last marker come from a
// checkpoint that never completed (its writer died mid-send): their values are kept, and the
// events before their covered offset are not applied to them again (RestoredState guards);
// dedup entries found there are dropped so that those events are replayed into the other
// entries.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vigil/core/state_store.h"
#include "vigil/core/status.h"
#include "vigil/ingest/kafka_producer.h"
#include "vigil/ingest/kafka_topic_reader.h"
#include "vigil/ingest/record_source.h"

namespace vigil::ingest {
namespace internal {
class ChangelogStandby;
}

struct StateChangelogOptions {
  std::string brokers;
  std::vector<std::pair<std::string, std::string>> properties;  // as KafkaOptions::properties
  std::string client_id = "vigil";
  std::string group;           // the input's consumer group
  std::string topic;           // default: group + "-state-changelog"
  std::string findings_topic;  // also sent with every checkpoint ("" none)
  // Input topics whose partition count the changelog must cover (when it is created).
  std::vector<std::string> input_topics;
  std::chrono::milliseconds produce_timeout{60000};   // a checkpoint's records acknowledged
  std::chrono::milliseconds restore_timeout{600000};  // a partition's restore
  size_t restore_batch = 20000;                       // entries per store write while restoring
  std::chrono::milliseconds standby_lag_interval{5000};  // how often a standby measures its lag
  // > 0: the topic Vigil creates is compact,delete with this retention.ms (broker time), so that
  // state no rule can still read (expired: its longest ttl passed) leaves it and the topic stays
  // bounded; 0: compact only.
  std::chrono::milliseconds retention{0};
};

// The topic configs of a changelog created with `retention` (StateChangelogOptions::retention).
std::vector<std::pair<std::string, std::string>> ChangelogTopicConfigs(
    std::chrono::milliseconds retention);

// One checkpoint's records, built on the pipeline thread, sent on the commit thread.
struct ChangelogBatch {
  struct Message {
    bool finding_topic = false;  // to the findings topic (else the changelog)
    int32_t partition = -1;
    std::string key;
    std::optional<std::string> value;
    uint32_t stream = 0;  // index into streams (changelog records)
  };
  std::vector<Message> messages;
  struct StreamRef {
    std::string topic;
    int32_t partition = 0;
    std::string covered;  // decimal, the vigil-offset header
  };
  std::vector<StreamRef> streams;
  std::vector<std::pair<std::string, std::string>> meta;  // local marker copies
  bool empty() const { return messages.empty(); }
  void clear() {
    messages.clear();
    streams.clear();
    meta.clear();
  }
};

class KafkaStateChangelog {
 public:
  // Makes the producer and reader; InvalidArgument on bad options.
  static Result<std::unique_ptr<KafkaStateChangelog>> Create(StateChangelogOptions options);
  ~KafkaStateChangelog();

  // Before the pipeline starts: finds the changelog topic (creating it, compacted, with as many
  // partitions as the largest input topic, when the cluster allows) and its partition count.
  // Unavailable / FailedPrecondition with what to do.
  Status Start(std::chrono::milliseconds timeout);
  const std::string& topic() const { return options_.topic; }
  int partitions() const { return partitions_; }

  // Pipeline thread, before a record's events are applied: its cluster's state belongs to its
  // stream. Only Kafka records count.
  void Seen(const RecordOrigin& origin);
  // Pipeline thread: every event of `record` of `origin` was applied (Seen, then the offset it
  // covers).
  void Applied(const RecordOrigin& origin, const RawRecord& record);
  // Pipeline thread, when a pipeline (re)starts: forgets the offsets applied by an earlier run
  // (the source resumes at the store's), so that no marker claims what was not checkpointed.
  void Reset();
  // Pipeline thread: the state of a restored stream was replaced in the store; its marker is
  // read again from there.
  void Restored(const RestoredState& restored);
  // Pipeline thread: the records of checkpoint `cp` (built before it is submitted).
  // FailedPrecondition when an input partition has no changelog partition.
  Status Prepare(const StateCheckpoint& cp, const StateStore& store, ChangelogBatch* out);
  // Commit thread: sends `batch`, waits for Kafka's acknowledgement of every record, and adds to
  // cp->meta the changelog positions (and markers) the local store then reflects. Unavailable
  // when some record was not acknowledged in time (the checkpoint must then fail).
  Status Write(const ChangelogBatch& batch, StateCheckpoint* cp);

  // Kafka consumer thread (assignment): restores topic[partition]'s state into `store` from the
  // records the store does not reflect. `*offset` is where the input resumes (-1: keep the
  // stored position, nothing was restored).
  Result<RestoredState> Restore(const std::string& topic, int32_t partition, StateStore* store,
                                int64_t* offset);

  // standby_replicas: 1. From now on keeps, in `store`, a warm copy of the state of every stream
  // this instance does not own (changelog_standby.h), so that taking one over restores only
  // what came after the standby's last complete checkpoint. After Start.
  Status StartStandby(StateStore* store);
  // Consumer thread, after a revoke or a lost assignment: topic[partition] is not owned here
  // any more (a standby follows it again).
  void Released(const std::string& topic, int32_t partition);

  bool restoring() const { return restoring_.load() > 0; }
  uint64_t restore_remaining() const { return restore_remaining_.load(); }
  void RenderMetrics(std::string* out) const;

  // Local meta keys.
  static std::string PositionKey(std::string_view topic, int32_t partition);
  static std::string MarkerKey(std::string_view topic, int32_t partition);
  // The changelog offset a standby resumes changelog_topic[partition] at.
  static std::string StandbyResumeKey(std::string_view changelog_topic, int32_t partition);

  struct Stats {
    uint64_t records = 0, bytes = 0, findings = 0, markers = 0, writes = 0, write_us = 0;
    uint64_t restores = 0, restore_records = 0, restore_bytes = 0, restore_us = 0,
             restore_guards = 0, cluster_conflicts = 0;
    // The standby's.
    uint64_t standby_records = 0, standby_checkpoints = 0, standby_rereads = 0, standby_streams = 0;
    uint64_t standby_read = 0;      // every record it polled (owned streams' too)
    uint64_t standby_failures = 0;  // store writes that failed (the stream read again)
    int64_t standby_lag = -1;  // changelog records it has still to read (-1: none or unknown)
  };
  Stats stats() const;

 private:
  struct Stream;
  explicit KafkaStateChangelog(StateChangelogOptions options);
  Stream* StreamOf(std::string_view topic, int32_t partition);
  static void Forget(Stream* s);
  void LoadMarker(Stream* s, const StateStore& store);

  StateChangelogOptions options_;
  int partitions_ = 0;
  std::unique_ptr<KafkaProducer> producer_;
  std::unique_ptr<KafkaTopicReader> reader_;  // the consumer thread's (Restore)
  std::unique_ptr<internal::ChangelogStandby> standby_;

  // Pipeline thread.
  std::map<std::pair<std::string, int32_t>, std::unique_ptr<Stream>> streams_;
  std::unordered_map<std::string, Stream*> cluster_stream_;
  Stream* last_ = nullptr;
  uint32_t last_stream_id_ = UINT32_MAX;
  uint16_t last_source_ = 0;
  std::string last_cluster_;

  // Commit thread / producer thread: the batch being sent.
  std::mutex mu_;
  std::vector<int64_t> acked_offsets_;  // per batch stream: the highest offset acknowledged
  uint64_t acked_ = 0, failed_ = 0;
  uint64_t generation_ = 0;  // of the Write in progress (tags carry it)

  std::atomic<int> restoring_{0};
  std::atomic<uint64_t> restore_remaining_{0};
  std::atomic<uint64_t> n_records_{0}, n_bytes_{0}, n_findings_{0}, n_markers_{0}, n_writes_{0},
      n_write_us_{0}, n_restores_{0}, n_restore_records_{0}, n_restore_bytes_{0},
      n_restore_us_{0}, n_restore_guards_{0}, n_conflicts_{0};
};

}  // namespace vigil::ingest

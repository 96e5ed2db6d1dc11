// librdkafka helpers for tests that talk to vigil-kafka-mock (or any broker): produce with
// delivery reports, consume through a group, read watermarks, committed offsets and leaders.
// Every call takes a timeout and returns a Status/Result instead of asserting, so the test decides
// what a failure means. Each call makes and destroys its own client; all are thread-compatible.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vigil/core/status.h"

namespace vigil::testing {

// librdkafka properties, applied in order after the helper's defaults (so they override them).
using KafkaConfig = std::vector<std::pair<std::string, std::string>>;

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

struct KafkaTestMessage {
  std::optional<std::string> key;    // nullopt: a null key
  std::optional<std::string> value;  // nullopt: a null value (a tombstone)
  std::vector<std::pair<std::string, std::string>> headers;
  // To produce: the partition, or -1 (RD_KAFKA_PARTITION_UA) for the partitioner to pick by key.
  // Set from the delivery report / the consumed record.
  int32_t partition = -1;
  int64_t offset = -1;  // set from the delivery report / the consumed record
};

// A client of `type` with bootstrap.servers=`bootstrap` and `config`. Fails with
// InvalidArgument on a bad property.
Result<RdKafkaPtr> NewKafkaClient(rd_kafka_type_t type, const std::string& bootstrap,
                                  const KafkaConfig& config = {});

// Produces `messages` to `topic` and waits until every one is acknowledged or `timeout` passes
// (message.timeout.ms is set to `timeout`, so librdkafka retries until then). Returns the
// messages in the order given with partition and offset from their delivery reports. Fails with
// the first delivery error, or Unavailable if some were not acknowledged in time.
Result<std::vector<KafkaTestMessage>> ProduceMessages(const std::string& bootstrap,
                                                      const std::string& topic,
                                                      std::vector<KafkaTestMessage> messages,
                                                      std::chrono::milliseconds timeout,
                                                      const KafkaConfig& config = {});

// Joins consumer group `group`, subscribes to `topic` and polls until `count` messages have
// arrived, then commits their offsets (synchronously) and leaves the group. Defaults:
// auto.offset.reset=earliest, partition.assignment.strategy=cooperative-sticky,
// session.timeout.ms=6000, heartbeat.interval.ms=500, enable.auto.commit=false. Transient errors
// are tolerated until `timeout`; fails with Unavailable (naming the last error and how many
// arrived) on timeout, or with a fatal error. The mock's first join takes ~3 s.
Result<std::vector<KafkaTestMessage>> ConsumeGroup(const std::string& bootstrap,
                                                   const std::string& group,
                                                   const std::string& topic, size_t count,
                                                   std::chrono::milliseconds timeout,
                                                   const KafkaConfig& config = {});

// The number of partitions of `topic`; NotFound if the cluster does not know it. Never creates it.
Result<int> PartitionCount(const std::string& bootstrap, const std::string& topic,
                           std::chrono::milliseconds timeout);

// Per-partition high watermarks (the offset the next record will get), indexed by partition.
Result<std::vector<int64_t>> HighWatermarks(const std::string& bootstrap, const std::string& topic,
                                            std::chrono::milliseconds timeout);

// Offsets committed by `group` for each partition of `topic`, indexed by partition;
// RD_KAFKA_OFFSET_INVALID (-1001) where the group has committed nothing.
Result<std::vector<int64_t>> CommittedOffsets(const std::string& bootstrap,
                                              const std::string& group, const std::string& topic,
                                              std::chrono::milliseconds timeout);

// The leader broker id of each partition of `topic` as the cluster's metadata reports it,
// indexed by partition; -1 where leaderless.
Result<std::vector<int32_t>> PartitionLeaders(const std::string& bootstrap,
                                              const std::string& topic,
                                              std::chrono::milliseconds timeout);

}  // namespace vigil::testing

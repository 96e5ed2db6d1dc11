// KafkaTopicReader: reads chosen partitions of Kafka topics from chosen offsets, outside any
// consumer group (assign only: it never joins, nothing is committed; the caller keeps its
// positions). The state changelog's restore
// and standbys, and the findings view, read this way.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/core/status.h"

namespace vigil::ingest {

struct KafkaReaderOptions {
  std::string brokers;
  // Passed to librdkafka unchanged after the reader's defaults (security.protocol, sasl.*, ...).
  // Consumer-group properties (group.id, ...) are ignored by librdkafka here.
  std::vector<std::pair<std::string, std::string>> properties;
  std::string client_id = "vigil";
};

// One record as the reader hands it over; valid only during the callback.
class KafkaReadRecord {
 public:
  explicit KafkaReadRecord(const void* message) : m_(message) {}
  std::string_view topic() const;
  int32_t partition() const;
  int64_t offset() const;
  std::optional<std::string_view> key() const;    // nullopt: a null key
  std::optional<std::string_view> value() const;  // nullopt: a null value (a tombstone)
  // The last header of that name, or nullopt.
  std::optional<std::string_view> header(const char* name) const;

 private:
  const void* m_;  // rd_kafka_message_t
};

struct ReaderPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -2;  // the first offset to read; -2 the beginning, -1 the end
};

// Creates topic `name` with `partitions` and topic `configs` (e.g. cleanup.policy=compact)
// through the admin API; a topic that already exists is fine. Unavailable with the broker's
// reason when it cannot (no permission, a broker without the API).
Status CreateTopic(const std::string& brokers,
                   const std::vector<std::pair<std::string, std::string>>& properties,
                   const std::string& name, int partitions,
                   const std::vector<std::pair<std::string, std::string>>& configs,
                   std::chrono::milliseconds timeout);

class KafkaTopicReader {
 public:
  // Makes the client (it connects on first use). InvalidArgument on a bad property.
  static Result<std::unique_ptr<KafkaTopicReader>> Create(KafkaReaderOptions options);
  ~KafkaTopicReader();
  KafkaTopicReader(const KafkaTopicReader&) = delete;
  KafkaTopicReader& operator=(const KafkaTopicReader&) = delete;

  // The number of partitions of `topic`; NotFound when the cluster does not know it.
  Result<int> PartitionCount(const std::string& topic, std::chrono::milliseconds timeout);
  // The low (first kept) and high (next to be written) offsets of topic[partition].
  Result<std::pair<int64_t, int64_t>> Watermarks(const std::string& topic, int32_t partition,
                                                 std::chrono::milliseconds timeout);

  // Reads exactly these partitions from now on, each from its offset (replaces what was read).
  Status Assign(const std::vector<ReaderPartition>& partitions);
  // Calls `on_record` for each record that arrives within `wait` (at most `max` of them) and
  // returns how many. Fails on an error that reading on cannot fix (an unknown topic or
  // partition, an offset out of range, authentication); transient errors are retried by
  // librdkafka and not reported.
  using OnRecord = std::function<void(const KafkaReadRecord&)>;
  Result<size_t> Poll(std::chrono::milliseconds wait, size_t max, const OnRecord& on_record);

  // Reads topic[partition] from `from` up to (not including) `to`, record by record, within
  // `timeout`. Unavailable when `to` is not reached in time. Replaces the assignment.
  Status ReadRange(const std::string& topic, int32_t partition, int64_t from, int64_t to,
                   std::chrono::milliseconds timeout, const OnRecord& on_record);

 private:
  KafkaTopicReader() = default;
  struct rd_kafka_s* rk_ = nullptr;
};

}  // namespace vigil::ingest

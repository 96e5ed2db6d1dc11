// KafkaProducer: librdkafka's idempotent producer (enable.idempotence=true, acks=all) for what
// Vigil writes to Kafka: findings (keyed by finding id) and dead letters. Produce never blocks
// for long: when librdkafka's queue is full it waits up to a bound, then counts the record as
// dropped. A thread serves delivery reports; the destructor flushes (bounded).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/core/status.h"

namespace vigil::ingest {

struct KafkaProducerOptions {
  std::string brokers;
  // Passed to librdkafka unchanged after Vigil's defaults (security.protocol, sasl.*, ...).
  std::vector<std::pair<std::string, std::string>> properties;
  std::chrono::milliseconds max_block{5000};  // a full queue waits at most this long
  std::chrono::milliseconds flush_timeout{10000};
  std::string client_id = "vigil";
  // Called on the producer's thread once a record is acknowledged (true) or has failed for good
  // (false, after librdkafka's retries), with the tag it was produced with. May be empty.
  std::function<void(uint64_t tag, bool delivered)> on_delivery;
  // Called on the producer's thread, before on_delivery, for each acknowledged record with the
  // partition and offset it got. May be empty.
  std::function<void(uint64_t tag, int32_t partition, int64_t offset)> on_offset;
};

// One record with everything Kafka lets a producer choose.
struct ProducerRecord {
  std::string_view topic;
  int32_t partition = -1;  // -1: the partitioner picks by key
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt: a null value (a tombstone)
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  uint64_t tag = 0;
};

class KafkaProducer {
 public:
  static Result<std::unique_ptr<KafkaProducer>> Create(KafkaProducerOptions options);
  ~KafkaProducer();  // flushes (up to flush_timeout), then stops

  // Queues one record; false when it could not be queued (counted in dropped(); on_delivery is
  // not called for it). `tag` comes back in on_delivery.
  bool Produce(std::string_view topic, std::string_view key, std::string_view value,
               uint64_t tag = 0);
  // Queues one record without waiting: kQueued, kFull (librdkafka's queue is full: try again
  // after deliveries drained it), or kFailed (an error that retrying will not fix; logged).
  // Neither of the last two is counted in dropped().
  enum class Queued { kQueued, kFull, kFailed };
  Queued TryProduce(std::string_view topic, std::string_view key, std::string_view value,
                    uint64_t tag);
  Queued TryProduce(const ProducerRecord& record);
  // Waits until every queued record is acknowledged or `timeout` passes; false on timeout.
  bool Flush(std::chrono::milliseconds timeout);

  uint64_t delivered() const { return delivered_.load(); }
  uint64_t failed() const { return failed_.load(); }    // delivery errors (after retries)
  uint64_t dropped() const { return dropped_.load(); }  // never queued
  // Prometheus text for the producers of a process, by use (e.g. "findings", "deadletters"):
  // each family once, with HELP and TYPE, a line per (use, producer). Null producers are
  // skipped; with none, nothing is written.
  static void RenderMetrics(
      const std::vector<std::pair<std::string_view, const KafkaProducer*>>& producers,
      std::string* out);

 private:
  explicit KafkaProducer(KafkaProducerOptions options) : options_(std::move(options)) {}
  void Loop();

  KafkaProducerOptions options_;
  struct rd_kafka_s* rk_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> delivered_{0}, failed_{0}, dropped_{0};
  std::thread thread_;
};

}  // namespace vigil::ingest

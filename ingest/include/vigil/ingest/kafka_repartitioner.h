// KafkaRepartitioner: re-keys input topics that are not keyed by cluster, as Kafka Streams'
// repartition topics do. Stateful state is per cluster and a partition's state follows it to its
// owner, so a partition must carry whole clusters; when a shipper keys records otherwise (at
// random, by node), this first stage takes each record's cluster from its channel (the topic's
// cluster, header or name, as KafkaRecordSource would) and produces the record, value
// unchanged, to `<group>-repartition` keyed by that cluster. The detection stage reads only that
// topic (cluster_from: key), so state is built only from it.
//
// At least once: the stage's own consumer group (`<group>-repartition`) commits its offsets only
// after the records produced before were acknowledged (every commit interval, and on revoke), so
// a crash may send a record again, which the detection stage's dedup set recognises (the copy
// lands in the same partition). A record whose channel names no cluster goes with a null key and
// header `vigil-problem` (the reason); the detection stage dead-letters it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/ingest/kafka_producer.h"
#include "vigil/ingest/kafka_source.h"

namespace vigil::ingest {

struct RepartitionOptions {
  std::string brokers;
  std::vector<std::pair<std::string, std::string>> properties;  // as KafkaOptions::properties
  std::string client_id = "vigil";
  std::string group;         // the detection stage's; this stage's is group + "-repartition"
  std::vector<KafkaTopic> topics;  // the topics to re-key (name or pattern, cluster source)
  std::string out_topic;     // default: group + "-repartition"
  std::chrono::milliseconds commit_interval{500};
  std::chrono::milliseconds flush_timeout{60000};
};

class KafkaRepartitioner {
 public:
  // Validates the options (every topic has a cluster source). InvalidArgument naming the topic.
  static Result<std::unique_ptr<KafkaRepartitioner>> Create(RepartitionOptions options);
  ~KafkaRepartitioner();  // Stop()

  // Creates the out topic with `partitions` when the cluster allows (a topic that exists is
  // kept), then starts the stage's thread.
  Status Start(int partitions, std::chrono::milliseconds timeout);
  void Stop();

  const std::string& out_topic() const { return options_.out_topic; }
  void RenderMetrics(std::string* out) const;

  class Impl;

 private:
  explicit KafkaRepartitioner(RepartitionOptions options);
  void Loop();

  RepartitionOptions options_;
  std::unique_ptr<KafkaProducer> producer_;
  struct rd_kafka_s* rk_ = nullptr;  // the stage's consumer
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> n_records_{0}, n_no_cluster_{0}, n_commits_{0}, n_errors_{0};
  std::thread thread_;
};

}  // namespace vigil::ingest

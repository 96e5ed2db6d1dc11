// MakeChangelog (see scale_out.h).
#include "scale_out.h"

#include <algorithm>

#include "vigil/app/pipeline.h"
#include "vigil/detect/stateful_detector.h"
#include "vigil/ingest/kafka_topic_reader.h"

namespace vigil::app {

Result<std::unique_ptr<ingest::KafkaRepartitioner>> StartRepartition(
    ingest::KafkaOptions* consumer) {
  std::vector<ingest::KafkaTopic> rekey, keep;
  for (const ingest::KafkaTopic& t : consumer->topics) (t.repartition ? rekey : keep).push_back(t);
  if (rekey.empty()) return std::unique_ptr<ingest::KafkaRepartitioner>();
  for (const ingest::KafkaTopic& t : rekey) {
    if (t.envelope != rekey[0].envelope) {
      return Status::InvalidArgument(
          "kafka.topics: the topics with repartition: true share one repartition topic and "
          "must force the same envelope (or none)");
    }
  }
  ingest::RepartitionOptions o;
  o.brokers = consumer->brokers;
  o.properties = consumer->properties;
  o.client_id = consumer->client_id;
  o.group = consumer->group;
  o.topics = rekey;
  ASSIGN_OR_RETURN(auto stage, ingest::KafkaRepartitioner::Create(std::move(o)));
  // As many partitions as the largest re-keyed topic.
  int partitions = 1;
  ingest::KafkaReaderOptions ro;
  ro.brokers = consumer->brokers;
  ro.properties = consumer->properties;
  ASSIGN_OR_RETURN(auto reader, ingest::KafkaTopicReader::Create(std::move(ro)));
  for (const ingest::KafkaTopic& t : rekey) {
    if (t.name.empty()) continue;
    auto n = reader->PartitionCount(t.name, std::chrono::seconds(30));
    if (n.ok()) partitions = std::max(partitions, *n);
  }
  RETURN_IF_ERROR(stage->Start(partitions, std::chrono::seconds(30)));
  ingest::KafkaTopic out;
  out.name = stage->out_topic();
  out.cluster_from = ingest::KafkaTopic::ClusterFrom::kKey;
  out.envelope = rekey[0].envelope;
  keep.push_back(out);
  consumer->topics = std::move(keep);
  return stage;
}

int64_t ChangelogRetentionUs(const Config& config, const std::vector<detect::Rule>& rules) {
  if (config.kafka.changelog_retention_us >= 0) return config.kafka.changelog_retention_us;
  const detect::StatefulOptions o = StatefulOptionsFrom(config);
  constexpr int64_t kDay = int64_t{86400} * 1'000'000;
  // At least a week: a rule reloaded later with a longer ttl finds room.
  return std::max(detect::MaxStateTtlUs(rules, o) + o.allowed_lateness_us + kDay, 7 * kDay);
}

Result<std::unique_ptr<ingest::KafkaStateChangelog>> MakeChangelog(const Config& config,
                                                                   int64_t retention_us) {
  const ingest::KafkaOptions& k = config.kafka.consumer;
  ingest::StateChangelogOptions o;
  o.brokers = k.brokers;
  o.properties = k.properties;
  o.client_id = k.client_id;
  o.group = k.group;
  o.topic = config.kafka.changelog_topic;
  o.findings_topic = config.kafka.findings_topic;
  o.retention = std::chrono::milliseconds(retention_us / 1000);
  for (const ingest::KafkaTopic& t : k.topics) {
    if (!t.name.empty()) o.input_topics.push_back(t.name);
  }
  ASSIGN_OR_RETURN(auto changelog, ingest::KafkaStateChangelog::Create(std::move(o)));
  RETURN_IF_ERROR(changelog->Start(std::chrono::seconds(30)));
  return changelog;
}

}  // namespace vigil::app

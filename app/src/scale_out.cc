// MakeChangelog (see scale_out.h).
#include "scale_out.h"

namespace vigil::app {

Result<std::unique_ptr<ingest::KafkaStateChangelog>> MakeChangelog(const Config& config) {
  const ingest::KafkaOptions& k = config.kafka.consumer;
  ingest::StateChangelogOptions o;
  o.brokers = k.brokers;
  o.properties = k.properties;
  o.client_id = k.client_id;
  o.group = k.group;
  o.topic = config.kafka.changelog_topic;
  o.findings_topic = config.kafka.findings_topic;
  for (const ingest::KafkaTopic& t : k.topics) {
    if (!t.name.empty()) o.input_topics.push_back(t.name);
  }
  ASSIGN_OR_RETURN(auto changelog, ingest::KafkaStateChangelog::Create(std::move(o)));
  RETURN_IF_ERROR(changelog->Start(std::chrono::seconds(30)));
  return changelog;
}

}  // namespace vigil::app

// What `vigil serve` runs for scale-out on Kafka: the state changelog (ingest/state_changelog.h)
// and the findings view (app/findings_view.h) made from the configuration. Part of the `vigil`
// binary.
#pragma once

#include <memory>
#include <vector>

#include "vigil/app/config.h"
#include "vigil/app/findings_view.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/status.h"
#include "vigil/detect/rule.h"
#include "vigil/ingest/kafka_repartitioner.h"
#include "vigil/ingest/state_changelog.h"

namespace vigil::app {

// The changelog of config.kafka (kafka.changelog must be on), with its topic found or created
// (compact,delete with retention_us when > 0).
Result<std::unique_ptr<ingest::KafkaStateChangelog>> MakeChangelog(const Config& config,
                                                                   int64_t retention_us);

// kafka.changelog_retention, or for auto: the longest state ttl of `rules` plus the allowed
// lateness and a day, at least 7 days. Changelog records are kept that long after they were
// written (broker time), which covers the state they hold for live input (event time about the
// broker's): what is deleted is state no rule reads any more.
int64_t ChangelogRetentionUs(const Config& config, const std::vector<detect::Rule>& rules);

// Topics marked `repartition: true` are re-keyed by cluster first: starts the repartition stage
// for them and replaces them, in *consumer, with its out topic (cluster from the key). Null when
// no topic asks for it. InvalidArgument when the re-keyed topics force different envelopes.
Result<std::unique_ptr<ingest::KafkaRepartitioner>> StartRepartition(
    ingest::KafkaOptions* consumer);

// The view of config.kafka.findings_topic kept in `store` (findings and positions), started.
template <typename Store>
Result<std::unique_ptr<FindingsView>> MakeFindingsView(const Config& config, Store* store) {
  FindingsViewOptions o;
  o.brokers = config.kafka.consumer.brokers;
  o.properties = config.kafka.consumer.properties;
  o.client_id = config.kafka.consumer.client_id;
  o.topic = config.kafka.findings_topic;
  auto view = std::make_unique<FindingsView>(std::move(o), store, store);
  RETURN_IF_ERROR(view->Start(std::chrono::seconds(30)).WithContext("findings view"));
  return view;
}

}  // namespace vigil::app

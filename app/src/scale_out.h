// What `vigil serve` runs for scale-out on Kafka: the state changelog (ingest/state_changelog.h)
// made from the configuration. Part of the `vigil` binary.
#pragma once

#include <memory>

#include "vigil/app/config.h"
#include "vigil/core/status.h"
#include "vigil/ingest/state_changelog.h"

namespace vigil::app {

// The changelog of config.kafka (kafka.changelog must be on), with its topic found or created.
Result<std::unique_ptr<ingest::KafkaStateChangelog>> MakeChangelog(const Config& config);

}  // namespace vigil::app

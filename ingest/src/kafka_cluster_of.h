// The cluster of a Kafka record, from its channel as its topic's configuration says (never from
// its value, invariant 6). Shared by KafkaRecordSource and KafkaRepartitioner. Internal.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>

#include "vigil/ingest/kafka_source.h"

namespace vigil::ingest::internal {

// The cluster of record `m` of `topic` (configured as `t`): valid while `m` and `t` live. On a
// record that names none (no key, no header, a bad name), empty and *problem says why.
std::string_view ClusterOfRecord(const KafkaTopic& t, std::string_view topic,
                                 const rd_kafka_message_t* m, std::string* problem);

}  // namespace vigil::ingest::internal

// librdkafka helpers for tests; see kafka_test_util.h for the contracts.
#include "kafka_test_util.h"

#include <algorithm>
#include <cstdint>
#include <functional>

namespace vigil::testing {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
}

std::string ErrText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + " (" + rd_kafka_err2str(err) + ")";
}

Result<RdKafkaPtr> NewClient(rd_kafka_type_t type, const std::string& bootstrap,
                             const KafkaConfig& defaults, const KafkaConfig& config,
                             const std::function<void(rd_kafka_conf_t*)>& customize = {}) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument("kafka property " + name + "=" + value + ": " + errstr);
    }
    return Status::Ok();
  };
  Status s = set("bootstrap.servers", bootstrap);
  for (const auto& [name, value] : defaults) {
    if (s.ok()) s = set(name, value);
  }
  for (const auto& [name, value] : config) {
    if (s.ok()) s = set(name, value);
  }
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  if (customize) customize(conf);
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);  // owns conf on success
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("rd_kafka_new: ") + errstr);
  }
  return RdKafkaPtr(rk);
}

// Partition metadata of `topic`, retried on transient errors until the deadline.
template <typename F>
Status WithTopicMetadata(rd_kafka_t* rk, const std::string& topic, Clock::time_point deadline,
                         F&& use) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) return Status::InvalidArgument("bad topic '" + topic + "'");
  Status result = Status::Unavailable("no metadata for topic '" + topic + "' in time");
  while (true) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk, 0, rkt, &md, std::max(1, RemainingMs(deadline)));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const rd_kafka_metadata_topic_t* t = md->topic_cnt == 1 ? &md->topics[0] : nullptr;
      rd_kafka_resp_err_t terr = t ? t->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        result = Status::NotFound("topic '" + topic + "' does not exist");
        rd_kafka_metadata_destroy(md);
        break;
      }
      if (terr == RD_KAFKA_RESP_ERR_NO_ERROR) {
        result = use(*t);
        rd_kafka_metadata_destroy(md);
        break;
      }
      result = Status::Unavailable("metadata for '" + topic + "': " + ErrText(terr));
      rd_kafka_metadata_destroy(md);
    } else {
      result = Status::Unavailable("metadata for '" + topic + "': " + ErrText(err));
    }
    if (RemainingMs(deadline) == 0) break;
    rd_kafka_poll(rk, std::min(100, RemainingMs(deadline)));  // back off before retrying
  }
  rd_kafka_topic_destroy(rkt);
  return result;
}

// Delivery bookkeeping shared with the delivery-report callback (runs inside rd_kafka_poll/flush
// on the calling thread).
struct DeliveryState {
  std::vector<KafkaTestMessage>* messages = nullptr;
  size_t acknowledged = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* state = static_cast<DeliveryState*>(opaque);
  if (m->err) {
    if (!state->first_error) state->first_error = m->err;
    return;
  }
  auto& msg = (*state->messages)[reinterpret_cast<uintptr_t>(m->_private)];
  msg.partition = m->partition;
  msg.offset = m->offset;
  ++state->acknowledged;
}

}  // namespace

Result<RdKafkaPtr> NewKafkaClient(rd_kafka_type_t type, const std::string& bootstrap,
                                  const KafkaConfig& config) {
  return NewClient(type, bootstrap, {}, config);
}

Result<std::vector<KafkaTestMessage>> ProduceMessages(const std::string& bootstrap,
                                                      const std::string& topic,
                                                      std::vector<KafkaTestMessage> messages,
                                                      std::chrono::milliseconds timeout,
                                                      const KafkaConfig& config) {
  const auto deadline = Clock::now() + timeout;
  DeliveryState state;  // outlives the client, whose callbacks point at it
  state.messages = &messages;
  ASSIGN_OR_RETURN(
      RdKafkaPtr rk,
      NewClient(RD_KAFKA_PRODUCER, bootstrap,
                {{"message.timeout.ms", std::to_string(std::max<int64_t>(1, timeout.count()))},
                 {"linger.ms", "5"}},
                config, [&](rd_kafka_conf_t* conf) {
                  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
                  rd_kafka_conf_set_opaque(conf, &state);
                }));
  for (size_t i = 0; i < messages.size(); ++i) {
    const KafkaTestMessage& m = messages[i];
    while (true) {
      rd_kafka_headers_t* hdrs = nullptr;
      if (!m.headers.empty()) {
        hdrs = rd_kafka_headers_new(m.headers.size());
        for (const auto& [name, value] : m.headers) {
          rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                              static_cast<ssize_t>(value.size()));
        }
      }
      // The RD_KAFKA_V_* macros do not parenthesise their arguments: pass plain names.
      const void* key = m.key ? m.key->data() : nullptr;
      size_t key_len = m.key ? m.key->size() : 0;
      void* value = m.value ? const_cast<char*>(m.value->data()) : nullptr;  // copied (F_COPY)
      size_t value_len = m.value ? m.value->size() : 0;
      void* opaque = reinterpret_cast<void*>(i);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(m.partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
          RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // the message owns hdrs now
      if (hdrs) rd_kafka_headers_destroy(hdrs);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return Status::InvalidArgument("produce to '" + topic + "': " + ErrText(err));
      }
      if (RemainingMs(deadline) == 0) {
        return Status::Unavailable("producer queue still full at the deadline");
      }
      rd_kafka_poll(rk.get(), std::min(100, RemainingMs(deadline)));  // let deliveries drain
    }
    rd_kafka_poll(rk.get(), 0);
  }
  rd_kafka_flush(rk.get(), RemainingMs(deadline));
  if (state.first_error) {
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    return Status::Unavailable("delivery to '" + topic + "' failed: " + ErrText(state.first_error));
  }
  if (state.acknowledged != messages.size()) {
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    return Status::Unavailable(std::to_string(messages.size() - state.acknowledged) + " of " +
                               std::to_string(messages.size()) + " messages to '" + topic +
                               "' not acknowledged in time");
  }
  return messages;
}

Result<std::vector<KafkaTestMessage>> ConsumeGroup(const std::string& bootstrap,
                                                   const std::string& group,
                                                   const std::string& topic, size_t count,
                                                   std::chrono::milliseconds timeout,
                                                   const KafkaConfig& config) {
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(RdKafkaPtr rk,
                   NewClient(RD_KAFKA_CONSUMER, bootstrap,
                             {{"group.id", group},
                              {"auto.offset.reset", "earliest"},
                              {"partition.assignment.strategy", "cooperative-sticky"},
                              {"session.timeout.ms", "6000"},
                              {"heartbeat.interval.ms", "500"},
                              {"enable.auto.commit", "false"}},
                             config));
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) return Status::InvalidArgument("subscribe to '" + topic + "': " + ErrText(err));

  std::vector<KafkaTestMessage> out;
  std::string last_error = "none";
  Status status;
  while (out.size() < count) {
    if (RemainingMs(deadline) == 0) {
      status = Status::Unavailable("consumed " + std::to_string(out.size()) + " of " +
                                   std::to_string(count) + " messages from '" + topic +
                                   "' in time; last error: " + last_error);
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), std::min(200, RemainingMs(deadline)));
    if (m == nullptr) continue;
    if (m->err) {
      char fatal[512];
      last_error = ErrText(m->err);
      rd_kafka_message_destroy(m);
      if (rd_kafka_fatal_error(rk.get(), fatal, sizeof fatal)) {
        status = Status::Internal(std::string("fatal consumer error: ") + fatal);
        break;
      }
      continue;
    }
    KafkaTestMessage msg;
    if (m->key) msg.key.emplace(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) msg.value.emplace(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); ++i) {
        msg.headers.emplace_back(
            name, value ? std::string(static_cast<const char*>(value), size) : std::string());
      }
    }
    msg.partition = m->partition;
    msg.offset = m->offset;
    out.push_back(std::move(msg));
    rd_kafka_message_destroy(m);
  }
  if (status.ok() && count > 0) {
    err = rd_kafka_commit(rk.get(), nullptr, /*async=*/0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      status = Status::Unavailable("commit for group '" + group + "': " + ErrText(err));
    }
  }
  rd_kafka_consumer_close(rk.get());
  if (!status.ok()) return status;
  return out;
}

Result<int> PartitionCount(const std::string& bootstrap, const std::string& topic,
                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(RdKafkaPtr rk, NewClient(RD_KAFKA_CONSUMER, bootstrap, {}, {}));
  int count = 0;
  RETURN_IF_ERROR(
      WithTopicMetadata(rk.get(), topic, deadline, [&](const rd_kafka_metadata_topic_t& t) {
        count = t.partition_cnt;
        return Status::Ok();
      }));
  return count;
}

Result<std::vector<int64_t>> HighWatermarks(const std::string& bootstrap, const std::string& topic,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(int partitions, PartitionCount(bootstrap, topic, timeout));
  ASSIGN_OR_RETURN(RdKafkaPtr rk, NewClient(RD_KAFKA_CONSUMER, bootstrap, {}, {}));
  std::vector<int64_t> high(static_cast<size_t>(partitions), -1);
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = -1;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &lo,
                                                               &high[static_cast<size_t>(p)],
                                                               std::max(1, RemainingMs(deadline)));
    if (err) {
      return Status::Unavailable("watermarks of " + topic + "[" + std::to_string(p) +
                                 "]: " + ErrText(err));
    }
  }
  return high;
}

Result<std::vector<int64_t>> CommittedOffsets(const std::string& bootstrap,
                                              const std::string& group, const std::string& topic,
                                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(int partitions, PartitionCount(bootstrap, topic, timeout));
  ASSIGN_OR_RETURN(RdKafkaPtr rk,
                   NewClient(RD_KAFKA_CONSUMER, bootstrap, {{"group.id", group}}, {}));
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(parts, topic.c_str(), p);
  rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), parts, std::max(1, RemainingMs(deadline)));
  std::vector<int64_t> offsets(static_cast<size_t>(partitions), RD_KAFKA_OFFSET_INVALID);
  for (int i = 0; !err && i < parts->cnt; ++i) {
    if (parts->elems[i].err) err = parts->elems[i].err;
    offsets[static_cast<size_t>(parts->elems[i].partition)] = parts->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_consumer_close(rk.get());
  if (err)
    return Status::Unavailable("committed offsets of group '" + group + "': " + ErrText(err));
  return offsets;
}

Result<std::vector<int32_t>> PartitionLeaders(const std::string& bootstrap,
                                              const std::string& topic,
                                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(RdKafkaPtr rk, NewClient(RD_KAFKA_CONSUMER, bootstrap, {}, {}));
  std::vector<int32_t> leaders;
  RETURN_IF_ERROR(
      WithTopicMetadata(rk.get(), topic, deadline, [&](const rd_kafka_metadata_topic_t& t) {
        leaders.assign(static_cast<size_t>(t.partition_cnt), -1);
        for (int i = 0; i < t.partition_cnt; ++i) {
          const auto& p = t.partitions[i];
          if (p.id >= 0 && p.id < t.partition_cnt) {
            leaders[static_cast<size_t>(p.id)] = p.leader;
          }
        }
        return Status::Ok();
      }));
  return leaders;
}

}  // namespace vigil::testing

// KafkaTopicReader (see kafka_topic_reader.h): a librdkafka consumer with assign() only.
#include "vigil/ingest/kafka_topic_reader.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

namespace vigil::ingest {
namespace {

rd_kafka_t* Rk(struct rd_kafka_s* rk) { return reinterpret_cast<rd_kafka_t*>(rk); }
const rd_kafka_message_t* Msg(const void* m) { return static_cast<const rd_kafka_message_t*>(m); }

// Errors that reading on will not fix.
bool Fatal(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__FATAL:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view KafkaReadRecord::topic() const { return rd_kafka_topic_name(Msg(m_)->rkt); }
int32_t KafkaReadRecord::partition() const { return Msg(m_)->partition; }
int64_t KafkaReadRecord::offset() const { return Msg(m_)->offset; }

std::optional<std::string_view> KafkaReadRecord::key() const {
  const rd_kafka_message_t* m = Msg(m_);
  if (m->key == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(m->key), m->key_len);
}

std::optional<std::string_view> KafkaReadRecord::value() const {
  const rd_kafka_message_t* m = Msg(m_);
  if (m->payload == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(m->payload), m->len);
}

std::optional<std::string_view> KafkaReadRecord::header(const char* name) const {
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_message_headers(Msg(m_), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  if (value == nullptr) return std::string_view();
  return std::string_view(static_cast<const char*>(value), size);
}

Status CreateTopic(const std::string& brokers,
                   const std::vector<std::pair<std::string, std::string>>& properties,
                   const std::string& name, int partitions,
                   const std::vector<std::pair<std::string, std::string>>& configs,
                   std::chrono::milliseconds timeout) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof errstr);
  for (const auto& [k, v] : properties) {
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) return Status::InvalidArgument(std::string("kafka: ") + errstr);
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(name.c_str(), partitions, -1, errstr, sizeof errstr);
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(ao, static_cast<int>(timeout.count()), errstr,
                                              sizeof errstr);
  rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  Status status = Status::Unavailable("no answer");
  if (ev != nullptr) {
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = Status::Unavailable(rd_kafka_event_error_string(ev));
    } else if (const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev)) {
      size_t cnt = 0;
      const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &cnt);
      status = Status::Ok();
      for (size_t i = 0; i < cnt; ++i) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(topics[i]);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          const char* msg = rd_kafka_topic_result_error_string(topics[i]);
          status = Status::Unavailable(msg != nullptr ? msg : rd_kafka_err2str(e));
        }
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_AdminOptions_destroy(ao);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return status;
}

Result<std::unique_ptr<KafkaTopicReader>> KafkaTopicReader::Create(KafkaReaderOptions options) {
  if (options.brokers.empty()) return Status::InvalidArgument("kafka.brokers is empty");
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", options.brokers},
      {"client.id", options.client_id},
      // assign() needs a group id; this one never joins (no subscribe) and commits nothing.
      {"group.id", options.client_id + "-reader"},
      {"enable.partition.eof", "true"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "error"},  // a position gone from the log is the caller's to handle
  };
  for (const auto& [k, v] : options.properties) {
    if (k == "group.id" || k == "group.instance.id" || k == "partition.assignment.strategy" ||
        k == "enable.partition.eof" || k == "auto.offset.reset") {
      continue;
    }
    props.emplace_back(k, v);
  }
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka.properties." + k + ": " + errstr);
    }
  }
  rd_kafka_conf_set_log_cb(conf,
                           [](const rd_kafka_t*, int level, const char* fac, const char* buf) {
                             if (level <= 4) spdlog::warn("kafka reader: {}: {}", fac, buf);
                           });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("kafka: cannot make a reader: ") + errstr);
  }
  std::unique_ptr<KafkaTopicReader> r(new KafkaTopicReader());
  r->rk_ = reinterpret_cast<struct rd_kafka_s*>(rk);
  return r;
}

KafkaTopicReader::~KafkaTopicReader() {
  if (rk_ == nullptr) return;
  rd_kafka_assign(Rk(rk_), nullptr);
  rd_kafka_destroy(Rk(rk_));
}

Result<int> KafkaTopicReader::PartitionCount(const std::string& topic,
                                             std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(Rk(rk_), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(Rk(rk_), 0, rkt, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("kafka: metadata of '" + topic + "': " + rd_kafka_err2str(err));
  }
  Result<int> result = Status::NotFound("kafka: topic '" + topic + "' does not exist");
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) {
      result = t.partition_cnt;
    } else if (t.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
               t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      result = Status::Unavailable("kafka: metadata of '" + topic + "': " + rd_kafka_err2str(t.err));
    }
  }
  rd_kafka_metadata_destroy(md);
  return result;
}

Result<std::pair<int64_t, int64_t>> KafkaTopicReader::Watermarks(const std::string& topic,
                                                                 int32_t partition,
                                                                 std::chrono::milliseconds timeout) {
  int64_t low = -1, high = -1;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
      Rk(rk_), topic.c_str(), partition, &low, &high, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("kafka: watermarks of " + topic + "[" + std::to_string(partition) +
                               "]: " + rd_kafka_err2str(err));
  }
  return std::make_pair(low, high);
}

Status KafkaTopicReader::Assign(const std::vector<ReaderPartition>& partitions) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
  for (const ReaderPartition& p : partitions) {
    rd_kafka_topic_partition_list_add(list, p.topic.c_str(), p.partition)->offset = p.offset;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(Rk(rk_), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("kafka: assigning a reader: ") + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

Result<size_t> KafkaTopicReader::Poll(std::chrono::milliseconds wait, size_t max,
                                      const OnRecord& on_record) {
  size_t n = 0;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (n < max) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    rd_kafka_message_t* m =
        rd_kafka_consumer_poll(Rk(rk_), n == 0 ? static_cast<int>(std::max<int64_t>(left.count(), 0)) : 0);
    if (m == nullptr) break;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      rd_kafka_message_destroy(m);
      if (std::chrono::steady_clock::now() >= deadline) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Status s = Status::Unavailable(std::string("kafka: reading: ") + rd_kafka_message_errstr(m));
      const bool fatal = Fatal(m->err);
      rd_kafka_message_destroy(m);
      if (fatal) return s;
      spdlog::warn("{}", s.message());
      continue;
    }
    on_record(KafkaReadRecord(m));
    rd_kafka_message_destroy(m);
    ++n;
  }
  return n;
}

Status KafkaTopicReader::ReadRange(const std::string& topic, int32_t partition, int64_t from,
                                   int64_t to, std::chrono::milliseconds timeout,
                                   const OnRecord& on_record) {
  if (from >= to) return Status::Ok();
  RETURN_IF_ERROR(Assign({ReaderPartition{topic, partition, from}}));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string where = topic + "[" + std::to_string(partition) + "]";
  int64_t position = from;
  while (position < to) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("kafka: reading " + where + ": at offset " +
                                 std::to_string(position) + " of " + std::to_string(to) +
                                 " when the time ran out");
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(Rk(rk_), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      position = std::max(position, m->offset);  // compaction leaves gaps: the end is the end
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Status s = Status::Unavailable("kafka: reading " + where + ": " + rd_kafka_message_errstr(m));
      const bool fatal = Fatal(m->err);
      rd_kafka_message_destroy(m);
      if (fatal) return s;
      continue;
    }
    if (m->offset < to) on_record(KafkaReadRecord(m));
    position = m->offset + 1;
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(Rk(rk_), nullptr);
  return Status::Ok();
}

}  // namespace vigil::ingest

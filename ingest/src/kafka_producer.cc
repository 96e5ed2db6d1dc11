// KafkaProducer (see kafka_producer.h).
#include "vigil/ingest/kafka_producer.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include "vigil/core/histogram.h"

namespace vigil::ingest {

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(KafkaProducerOptions options) {
  if (options.brokers.empty()) return Status::InvalidArgument("kafka.brokers is empty");
  std::unique_ptr<KafkaProducer> p(new KafkaProducer(std::move(options)));
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", p->options_.brokers},
      {"client.id", p->options_.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "20"},
  };
  props.insert(props.end(), p->options_.properties.begin(), p->options_.properties.end());
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka.properties." + k + ": " + errstr);
    }
  }
  rd_kafka_conf_set_opaque(conf, p.get());
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaProducer*>(opaque);
    const bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ok) {
      self->delivered_.fetch_add(1, std::memory_order_relaxed);
    } else {
      self->failed_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("kafka: producing to {} failed: {}", rd_kafka_topic_name(m->rkt),
                   rd_kafka_err2str(m->err));
    }
    if (ok && self->options_.on_offset) {
      self->options_.on_offset(reinterpret_cast<uintptr_t>(m->_private), m->partition, m->offset);
    }
    if (self->options_.on_delivery) {
      self->options_.on_delivery(reinterpret_cast<uintptr_t>(m->_private), ok);
    }
  });
  rd_kafka_conf_set_log_cb(conf,
                           [](const rd_kafka_t*, int level, const char* fac, const char* buf) {
                             if (level <= 4) spdlog::warn("kafka producer: {}: {}", fac, buf);
                           });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("kafka: cannot make the producer: ") + errstr);
  }
  p->rk_ = reinterpret_cast<struct rd_kafka_s*>(rk);
  p->thread_ = std::thread([raw = p.get()] { raw->Loop(); });
  return p;
}

KafkaProducer::~KafkaProducer() {
  if (rk_ == nullptr) return;
  Flush(options_.flush_timeout);
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  rd_kafka_destroy(reinterpret_cast<rd_kafka_t*>(rk_));
}

void KafkaProducer::Loop() {
  pthread_setname_np(pthread_self(), "vigil-produce");
  while (!stop_.load()) rd_kafka_poll(reinterpret_cast<rd_kafka_t*>(rk_), 100);
}

KafkaProducer::Queued KafkaProducer::TryProduce(std::string_view topic, std::string_view key,
                                                std::string_view value, uint64_t tag) {
  ProducerRecord r;
  r.topic = topic;
  r.key = key;
  r.value = value;
  r.tag = tag;
  return TryProduce(r);
}

KafkaProducer::Queued KafkaProducer::TryProduce(const ProducerRecord& record) {
  const std::string name(record.topic);
  rd_kafka_headers_t* headers = nullptr;
  if (!record.headers.empty()) {
    headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& [k, v] : record.headers) {
      rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
  }
  const char* value = record.value ? record.value->data() : nullptr;
  const size_t value_len = record.value ? record.value->size() : 0;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      reinterpret_cast<rd_kafka_t*>(rk_), RD_KAFKA_V_TOPIC(name.c_str()),
      RD_KAFKA_V_PARTITION(record.partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(const_cast<char*>(record.key.data()), record.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value), value_len),
      RD_KAFKA_V_HEADERS(headers),  // owned by the message once queued
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(record.tag))),
      RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Queued::kQueued;
  if (headers != nullptr) rd_kafka_headers_destroy(headers);
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return Queued::kFull;
  spdlog::warn("kafka: cannot queue a record for {}: {}", name, rd_kafka_err2str(err));
  return Queued::kFailed;
}

bool KafkaProducer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                            uint64_t tag) {
  const auto deadline = std::chrono::steady_clock::now() + options_.max_block;
  while (true) {
    const Queued q = TryProduce(topic, key, value, tag);
    if (q == Queued::kQueued) return true;
    if (q == Queued::kFailed || std::chrono::steady_clock::now() > deadline) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      if (q == Queued::kFull) spdlog::warn("kafka: queue full, dropped a record for {}", topic);
      return false;
    }
    rd_kafka_poll(reinterpret_cast<rd_kafka_t*>(rk_), 10);  // full: let deliveries drain it
  }
}

bool KafkaProducer::Flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(reinterpret_cast<rd_kafka_t*>(rk_), static_cast<int>(timeout.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

void KafkaProducer::RenderMetrics(
    const std::vector<std::pair<std::string_view, const KafkaProducer*>>& producers,
    std::string* out) {
  struct Family {
    const char* name;
    const char* help;
    uint64_t (KafkaProducer::*value)() const;
  };
  static constexpr Family kFamilies[] = {
      {"vigil_kafka_produced_total", "Records produced and acknowledged by Kafka, by use.",
       &KafkaProducer::delivered},
      {"vigil_kafka_produce_failed_total", "Records whose delivery failed after retries, by use.",
       &KafkaProducer::failed},
      {"vigil_kafka_produce_dropped_total", "Records never queued for Kafka, by use.",
       &KafkaProducer::dropped},
  };
  bool any = false;
  for (const auto& [use, p] : producers) any = any || p != nullptr;
  if (!any) return;
  for (const Family& f : kFamilies) {
    AppendMetricHeader(f.name, "counter", f.help, out);
    for (const auto& [use, p] : producers) {
      if (p == nullptr) continue;
      out->append(f.name).append("{use=\"").append(EscapeLabelValue(use)).append("\"} ");
      out->append(std::to_string((p->*f.value)())).append("\n");
    }
  }
}

}  // namespace vigil::ingest

// KafkaRepartitioner (see kafka_repartitioner.h).
#include "vigil/ingest/kafka_repartitioner.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "kafka_cluster_of.h"
#include "vigil/core/histogram.h"
#include "vigil/ingest/kafka_topic_reader.h"

namespace vigil::ingest {
namespace {

rd_kafka_t* Rk(struct rd_kafka_s* rk) { return reinterpret_cast<rd_kafka_t*>(rk); }

}  // namespace

KafkaRepartitioner::KafkaRepartitioner(RepartitionOptions options) : options_(std::move(options)) {}

KafkaRepartitioner::~KafkaRepartitioner() {
  Stop();
  if (rk_ != nullptr) rd_kafka_destroy(Rk(rk_));
}

Result<std::unique_ptr<KafkaRepartitioner>> KafkaRepartitioner::Create(
    RepartitionOptions options) {
  if (options.brokers.empty()) return Status::InvalidArgument("kafka.brokers is empty");
  if (options.group.empty()) return Status::InvalidArgument("repartition: the group is empty");
  if (options.topics.empty()) return Status::InvalidArgument("repartition: no topic");
  for (const KafkaTopic& t : options.topics) {
    if (t.cluster_from == KafkaTopic::ClusterFrom::kFixed && t.cluster.empty()) {
      return Status::InvalidArgument("kafka.topics '" + t.name + t.pattern +
                                     "': repartition needs a cluster or cluster_from");
    }
  }
  if (options.out_topic.empty()) options.out_topic = options.group + "-repartition";
  std::unique_ptr<KafkaRepartitioner> r(new KafkaRepartitioner(std::move(options)));
  KafkaProducerOptions po;
  po.brokers = r->options_.brokers;
  po.properties = r->options_.properties;
  po.client_id = r->options_.client_id + "-repartition";
  po.properties.emplace_back("linger.ms", "5");
  ASSIGN_OR_RETURN(r->producer_, KafkaProducer::Create(std::move(po)));
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", r->options_.brokers},
      {"client.id", r->options_.client_id + "-repartition"},
      {"group.id", r->options_.group + "-repartition"},
      {"enable.auto.commit", "false"},  // committed once what was produced is acknowledged
      {"auto.offset.reset", "earliest"},
      {"partition.assignment.strategy", "cooperative-sticky"},
  };
  props.insert(props.end(), r->options_.properties.begin(), r->options_.properties.end());
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka.properties." + k + ": " + errstr);
    }
  }
  rd_kafka_conf_set_opaque(conf, r.get());
  rd_kafka_conf_set_rebalance_cb(
      conf, [](rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
               void* opaque) {
        auto* self = static_cast<KafkaRepartitioner*>(opaque);
        const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
          if (cooperative) {
            if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
              rd_kafka_error_destroy(e);
            }
          } else {
            rd_kafka_assign(rk, parts);
          }
          return;
        }
        // Revoked: what was read from them is acknowledged, then their offsets committed.
        if (!rd_kafka_assignment_lost(rk) && self->producer_->Flush(self->options_.flush_timeout)) {
          rd_kafka_position(rk, parts);
          rd_kafka_commit(rk, parts, 0);
        }
        if (cooperative) {
          if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
            rd_kafka_error_destroy(e);
          }
        } else {
          rd_kafka_assign(rk, nullptr);
        }
      });
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int level, const char* fac,
                                    const char* buf) {
    if (level <= 4) spdlog::warn("kafka repartition: {}: {}", fac, buf);
  });
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("kafka: cannot make the repartition consumer: ") +
                                   errstr);
  }
  rd_kafka_poll_set_consumer(rk);
  r->rk_ = reinterpret_cast<struct rd_kafka_s*>(rk);
  return r;
}

Status KafkaRepartitioner::Start(int partitions, std::chrono::milliseconds timeout) {
  Status created = CreateTopic(options_.brokers, options_.properties, options_.out_topic,
                               partitions, {}, timeout);
  if (!created.ok()) {
    // An existing topic is fine; a missing one is an error the next step reports.
    spdlog::info("repartition: creating {}: {} (using it if it exists)", options_.out_topic,
                 created.message());
  }
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size()));
  for (const KafkaTopic& t : options_.topics) {
    const std::string name = t.name.empty() ? (t.pattern[0] == '^' ? t.pattern : "^" + t.pattern)
                                            : t.name;
    rd_kafka_topic_partition_list_add(list, name.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(Rk(rk_), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(std::string("repartition: cannot subscribe: ") +
                               rd_kafka_err2str(err));
  }
  spdlog::info("repartition: re-keying {} topic(s) by cluster into {}", options_.topics.size(),
               options_.out_topic);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void KafkaRepartitioner::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (rk_ != nullptr) rd_kafka_consumer_close(Rk(rk_));  // revokes: flush, commit
}

void KafkaRepartitioner::Loop() {
  pthread_setname_np(pthread_self(), "vigil-repart");
  auto last_commit = std::chrono::steady_clock::now();
  bool pending = false;  // produced since the last commit
  auto commit = [&] {
    if (!pending) return;
    if (!producer_->Flush(options_.flush_timeout)) {
      n_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("repartition: records not acknowledged in time; their offsets wait");
      return;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(Rk(rk_), nullptr, 0);  // the consumed positions
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      n_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("repartition: offset commit: {}", rd_kafka_err2str(err));
      return;
    }
    n_commits_.fetch_add(1, std::memory_order_relaxed);
    pending = false;
  };
  while (!stop_.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(Rk(rk_), 100);
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string_view topic = rd_kafka_topic_name(m->rkt);
        const KafkaTopic* t = &options_.topics[0];
        for (const KafkaTopic& c : options_.topics) {
          if (c.name == topic) t = &c;
        }
        std::string problem;
        const std::string_view cluster = internal::ClusterOfRecord(*t, topic, m, &problem);
        ProducerRecord r;
        r.topic = options_.out_topic;
        r.key = cluster;
        if (m->payload != nullptr) {
          r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
        }
        if (!problem.empty()) {
          n_no_cluster_.fetch_add(1, std::memory_order_relaxed);
          r.headers = {{"vigil-problem", problem}};
        }
        while (true) {
          const KafkaProducer::Queued q = producer_->TryProduce(r);
          if (q == KafkaProducer::Queued::kQueued) break;
          if (q == KafkaProducer::Queued::kFailed || stop_.load()) {
            n_errors_.fetch_add(1, std::memory_order_relaxed);
            break;
          }
          producer_->Flush(std::chrono::milliseconds(10));  // full: let deliveries drain it
        }
        n_records_.fetch_add(1, std::memory_order_relaxed);
        pending = true;
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        spdlog::warn("repartition: consumer: {}", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
    if (std::chrono::steady_clock::now() - last_commit >= options_.commit_interval) {
      commit();
      last_commit = std::chrono::steady_clock::now();
    }
  }
  commit();
}

void KafkaRepartitioner::RenderMetrics(std::string* out) const {
  auto metric = [&](const char* name, const char* help, uint64_t value) {
    AppendMetricHeader(name, "counter", help, out);
    out->append(name).append(" ").append(std::to_string(value)).append("\n");
  };
  metric("vigil_repartition_records_total",
         "Records re-keyed by cluster into the repartition topic.", n_records_.load());
  metric("vigil_repartition_no_cluster_total",
         "Records whose channel named no cluster (sent on with vigil-problem).",
         n_no_cluster_.load());
  metric("vigil_repartition_commits_total",
         "Offset commits of the repartition stage (after its records were acknowledged).",
         n_commits_.load());
  metric("vigil_repartition_errors_total", "Records or commits the stage could not complete.",
         n_errors_.load());
}

}  // namespace vigil::ingest

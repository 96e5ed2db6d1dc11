// YAML config loading (yaml-cpp). Exceptions from yaml-cpp are caught here and turned into
// a Status that names the file, line and key.
#include "vigil/app/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>
#include <thread>

#include "vigil/core/time_util.h"

namespace vigil::app {
namespace {

std::string Where(const std::string& path, const YAML::Node& n) {
  return path + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
}

template <typename T>
Status Read(const std::string& path, const YAML::Node& node, const std::string& key, T* out) {
  try {
    *out = node.as<T>();
  } catch (const YAML::Exception&) {
    return Status::InvalidArgument(Where(path, node) + ": '" + key + "' has the wrong type");
  }
  return Status::Ok();
}

Status ReadDuration(const std::string& path, const YAML::Node& node, const std::string& key,
                    int64_t* out) {
  std::string text;
  RETURN_IF_ERROR(Read(path, node, key, &text));
  std::optional<int64_t> us = ParseDurationMicros(text);
  if (!us) {
    return Status::InvalidArgument(Where(path, node) + ": '" + key + "' must be a duration like " +
                                   "30s, 5m, 1h or 7d, got '" + text + "'");
  }
  *out = *us;
  return Status::Ok();
}

// Calls fn(key, value) for each entry of the mapping `section`; InvalidArgument naming the
// section when it is not a mapping. fn answers unknown keys with UnknownKey.
template <typename Fn>
Status ForEachKey(const std::string& path, const YAML::Node& node, const std::string& section,
                  Fn fn) {
  if (!node.IsMap()) {
    return Status::InvalidArgument(Where(path, node) + ": '" + section + "' must be a mapping");
  }
  for (const auto& kv : node) {
    RETURN_IF_ERROR(fn(kv.first.as<std::string>(), kv.first, kv.second));
  }
  return Status::Ok();
}

Status UnknownKey(const std::string& path, const YAML::Node& key, const std::string& name) {
  return Status::InvalidArgument(Where(path, key) + ": unknown key '" + name + "'");
}

// A positive duration in milliseconds (at least 1ms).
Status ReadMillis(const std::string& path, const YAML::Node& node, const std::string& key,
                  int64_t* out_ms) {
  int64_t us = 0;
  RETURN_IF_ERROR(ReadDuration(path, node, key, &us));
  if (us < 1000) {
    return Status::InvalidArgument(Where(path, node) + ": '" + key + "' must be at least 1ms");
  }
  *out_ms = us / 1000;
  return Status::Ok();
}

// A string or a list of strings.
Status ReadStrings(const std::string& path, const YAML::Node& node, const std::string& key,
                   std::vector<std::string>* out) {
  out->clear();
  if (node.IsScalar()) return Read(path, node, key, &out->emplace_back());
  if (!node.IsSequence()) {
    return Status::InvalidArgument(Where(path, node) + ": '" + key +
                                   "' must be a string or a list of strings");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    RETURN_IF_ERROR(Read(path, node[i], key, &out->emplace_back()));
  }
  return Status::Ok();
}

Status ReadCredentials(const std::string& path, const YAML::Node& node,
                       std::vector<api::Credential>* out) {
  if (!node.IsSequence()) {
    return Status::InvalidArgument(Where(path, node) + ": 'api.credentials' must be a list");
  }
  out->clear();
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string where = "api.credentials[" + std::to_string(i) + "]";
    api::Credential c;
    RETURN_IF_ERROR(ForEachKey(
        path, node[i], where,
        [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) -> Status {
          if (k == "name") return Read(path, v, where + ".name", &c.name);
          if (k == "token_sha256") return Read(path, v, where + ".token_sha256", &c.token_sha256);
          if (k == "client_cert")
            return ReadStrings(path, v, where + ".client_cert", &c.client_names);
          if (k == "roles") return ReadStrings(path, v, where + ".roles", &c.roles);
          if (k == "token") {
            return Status::InvalidArgument(
                Where(path, kn) + ": '" + where +
                ".token': tokens are configured only as hashes: token_sha256 (printf %s TOKEN | "
                "sha256sum)");
          }
          return UnknownKey(path, kn, where + "." + k);
        }));
    out->push_back(std::move(c));
  }
  return Status::Ok();
}

Status ReadTls(const std::string& path, const YAML::Node& node, api::TlsOptions* tls) {
  return ForEachKey(path, node, "api.tls",
                    [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) -> Status {
                      const std::string key = "api.tls." + k;
                      if (k == "cert") return Read(path, v, key, &tls->cert_file);
                      if (k == "key") return Read(path, v, key, &tls->key_file);
                      if (k == "client_ca") return Read(path, v, key, &tls->client_ca_file);
                      if (k == "require_client_cert")
                        return Read(path, v, key, &tls->require_client_cert);
                      return UnknownKey(path, kn, key);
                    });
}

Status ReadApi(const std::string& path, const YAML::Node& node, Config* c) {
  return ForEachKey(
      path, node, "api",
      [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) -> Status {
        const std::string key = "api." + k;
        if (k == "threads") return Read(path, v, key, &c->api_threads);
        if (k == "max_body_bytes") return Read(path, v, key, &c->api_max_body_bytes);
        if (k == "max_header_bytes") return Read(path, v, key, &c->api_max_header_bytes);
        if (k == "max_connections") return Read(path, v, key, &c->api_max_connections);
        if (k == "max_requests_per_connection") {
          return Read(path, v, key, &c->api_max_requests_per_connection);
        }
        if (k == "header_timeout") return ReadMillis(path, v, key, &c->api_header_timeout_ms);
        if (k == "body_timeout") return ReadMillis(path, v, key, &c->api_body_timeout_ms);
        if (k == "idle_timeout") return ReadMillis(path, v, key, &c->api_idle_timeout_ms);
        if (k == "credentials") return ReadCredentials(path, v, &c->api_credentials);
        if (k == "tls") return ReadTls(path, v, &c->api_tls);
        if (k == "allow_plain_http") return Read(path, v, key, &c->api_allow_plain_http);
        if (k == "allow_anonymous") return Read(path, v, key, &c->api_allow_anonymous);
        if (k == "token") {
          return Status::InvalidArgument(
              Where(path, kn) +
              ": 'api.token' (a plain-text token) is not read any more: list api.credentials "
              "with a name, token_sha256 and roles");
        }
        return UnknownKey(path, kn, key);
      });
}

Status ReadWebhook(const std::string& path, const YAML::Node& node, WebhookConfig* w) {
  return ForEachKey(
      path, node, "webhook",
      [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) -> Status {
        const std::string key = "webhook." + k;
        if (k == "max_body_bytes") return Read(path, v, key, &w->max_body_bytes);
        if (k == "max_inflated_bytes") return Read(path, v, key, &w->max_inflated_bytes);
        if (k == "max_backlog_bytes") return Read(path, v, key, &w->max_backlog_bytes);
        if (k == "retry_after") {
          int64_t ms = 0;
          RETURN_IF_ERROR(ReadMillis(path, v, key, &ms));
          w->retry_after_seconds = static_cast<int>(std::max<int64_t>(1, (ms + 999) / 1000));
          return Status::Ok();
        }
        if (k == "threads") return Read(path, v, key, &w->threads);
        if (k == "group_commit") return Read(path, v, key, &w->group_commit);
        if (k != "clusters") return UnknownKey(path, kn, key);
        if (!v.IsSequence()) {
          return Status::InvalidArgument(Where(path, v) + ": 'webhook.clusters' must be a list");
        }
        w->clusters.clear();
        for (size_t i = 0; i < v.size(); ++i) {
          const std::string where = "webhook.clusters[" + std::to_string(i) + "]";
          WebhookConfig::Cluster c;
          RETURN_IF_ERROR(ForEachKey(
              path, v[i], where,
              [&](const std::string& ck, const YAML::Node& ckn, const YAML::Node& cv) -> Status {
                if (ck == "name") return Read(path, cv, where + ".name", &c.name);
                if (ck == "token_sha256")
                  return Read(path, cv, where + ".token_sha256", &c.token_sha256);
                if (ck == "client_cert")
                  return ReadStrings(path, cv, where + ".client_cert", &c.client_names);
                return UnknownKey(path, ckn, where + "." + ck);
              }));
          w->clusters.push_back(std::move(c));
        }
        return Status::Ok();
      });
}

Status ReadKafkaTopic(const std::string& path, const YAML::Node& node, size_t index,
                      ingest::KafkaTopic* t) {
  const std::string where = "kafka.topics[" + std::to_string(index) + "]";
  if (!node.IsMap())
    return Status::InvalidArgument(Where(path, node) + ": '" + where +
                                   "' must be a mapping (name, cluster...)");
  for (const auto& kv : node) {
    const std::string k = kv.first.as<std::string>();
    const std::string key = where + "." + k;
    if (k == "name") {
      RETURN_IF_ERROR(Read(path, kv.second, key, &t->name));
    } else if (k == "pattern") {
      RETURN_IF_ERROR(Read(path, kv.second, key, &t->pattern));
    } else if (k == "cluster") {
      RETURN_IF_ERROR(Read(path, kv.second, key, &t->cluster));
    } else if (k == "cluster_from") {
      std::string text;
      RETURN_IF_ERROR(Read(path, kv.second, key, &text));
      if (Status s = ingest::ParseClusterFrom(text, t); !s.ok()) {
        return Status::InvalidArgument(Where(path, kv.second) + ": '" + key + "': " + s.message());
      }
    } else if (k == "envelope") {
      std::string text;
      RETURN_IF_ERROR(Read(path, kv.second, key, &text));
      auto choice = ingest::ParseEnvelopeChoice(text);
      if (!choice.ok()) {
        return Status::InvalidArgument(Where(path, kv.second) + ": '" + key +
                                       "': " + choice.status().message());
      }
      t->envelope = *choice;
    } else if (k == "repartition") {
      RETURN_IF_ERROR(Read(path, kv.second, key, &t->repartition));
    } else {
      return Status::InvalidArgument(Where(path, kv.first) + ": unknown key '" + key + "'");
    }
  }
  return Status::Ok();
}

Status ReadKafka(const std::string& path, const YAML::Node& v, KafkaConfig* kafka) {
  if (!v.IsMap()) return Status::InvalidArgument(Where(path, v) + ": 'kafka' must be a mapping");
  ingest::KafkaOptions& o = kafka->consumer;
  for (const auto& kv : v) {
    const std::string k = kv.first.as<std::string>();
    const std::string key = "kafka." + k;
    const YAML::Node& n = kv.second;
    if (k == "brokers") {
      RETURN_IF_ERROR(Read(path, n, key, &o.brokers));
    } else if (k == "group") {
      RETURN_IF_ERROR(Read(path, n, key, &o.group));
    } else if (k == "client_id") {
      RETURN_IF_ERROR(Read(path, n, key, &o.client_id));
    } else if (k == "queue_bytes") {
      RETURN_IF_ERROR(Read(path, n, key, &o.queue_bytes));
      if (o.queue_bytes < (size_t{1} << 20)) {
        return Status::InvalidArgument(Where(path, n) +
                                       ": 'kafka.queue_bytes' must be at least "
                                       "1048576 (1 MiB)");
      }
    } else if (k == "rebalance_timeout") {
      int64_t us = 0;
      RETURN_IF_ERROR(ReadDuration(path, n, key, &us));
      o.rebalance_timeout = std::chrono::milliseconds(us / 1000);
    } else if (k == "findings_topic") {
      RETURN_IF_ERROR(Read(path, n, key, &kafka->findings_topic));
    } else if (k == "dead_letter_topic") {
      RETURN_IF_ERROR(Read(path, n, key, &kafka->dead_letter_topic));
    } else if (k == "changelog") {
      RETURN_IF_ERROR(Read(path, n, key, &kafka->changelog));
    } else if (k == "findings_view") {
      RETURN_IF_ERROR(Read(path, n, key, &kafka->findings_view));
    } else if (k == "changelog_topic") {
      RETURN_IF_ERROR(Read(path, n, key, &kafka->changelog_topic));
    } else if (k == "changelog_retention") {
      std::string text;
      RETURN_IF_ERROR(Read(path, n, key, &text));
      if (text == "auto") {
        kafka->changelog_retention_us = -1;
      } else if (text == "0" || text == "never") {
        kafka->changelog_retention_us = 0;
      } else {
        RETURN_IF_ERROR(ReadDuration(path, n, key, &kafka->changelog_retention_us));
        if (kafka->changelog_retention_us < int64_t{3600} * 1'000'000) {
          return Status::InvalidArgument(
              Where(path, n) +
              ": 'kafka.changelog_retention' must be auto, never or at least 1h (state older "
              "than it leaves the changelog: keep it above the longest stateful ttl)");
        }
      }
    } else if (k == "standby_replicas") {
      RETURN_IF_ERROR(Read(path, n, key, &kafka->standby_replicas));
      // librdkafka's assignors place a partition without knowing where its standbys are (Kafka
      // Streams has an assignor of its own for that), so a copy of only some partitions would
      // be where a fail-over lands by chance: a standby copies every partition it does not own.
      if (kafka->standby_replicas < 0 || kafka->standby_replicas > 1) {
        return Status::InvalidArgument(
            Where(path, n) +
            ": 'kafka.standby_replicas' must be 0 or 1 (1: this instance keeps a warm copy of "
            "every partition it does not own; each instance with it is one more replica)");
      }
    } else if (k == "topics") {
      if (!n.IsSequence() || n.size() == 0) {
        return Status::InvalidArgument(Where(path, n) +
                                       ": 'kafka.topics' must be a list of "
                                       "topics");
      }
      o.topics.clear();
      for (size_t i = 0; i < n.size(); ++i) {
        RETURN_IF_ERROR(ReadKafkaTopic(path, n[i], i, &o.topics.emplace_back()));
      }
    } else if (k == "properties") {
      if (!n.IsMap()) {
        return Status::InvalidArgument(Where(path, n) + ": 'kafka.properties' must be a mapping");
      }
      for (const auto& p : n) {
        std::string value;
        RETURN_IF_ERROR(
            Read(path, p.second, "kafka.properties." + p.first.as<std::string>(), &value));
        o.properties.emplace_back(p.first.as<std::string>(), value);
      }
    } else {
      return Status::InvalidArgument(Where(path, kv.first) + ": unknown key '" + key + "'");
    }
  }
  if (!o.topics.empty() && o.brokers.empty()) {
    return Status::InvalidArgument(path + ": 'kafka.brokers' is required with kafka.topics");
  }
  if (kafka->standby_replicas > 0 && !kafka->changelog) {
    return Status::InvalidArgument(path +
                                   ": 'kafka.standby_replicas' needs 'kafka.changelog: true' "
                                   "(standbys copy the state changelog)");
  }
  return Status::Ok();
}

}  // namespace

Status LoadConfigFile(const std::string& path, Config* c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Status::IoError("cannot read config file " + path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsNull()) return Status::Ok();  // empty file: all defaults
  if (!root.IsMap()) return Status::InvalidArgument(path + ": top level must be a mapping");

  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "db") {
      RETURN_IF_ERROR(Read(path, v, key, &c->db_dir));
    } else if (key == "cluster") {
      RETURN_IF_ERROR(Read(path, v, key, &c->cluster));
    } else if (key == "listen") {
      RETURN_IF_ERROR(Read(path, v, key, &c->listen));
    } else if (key == "role") {
      RETURN_IF_ERROR(Read(path, v, key, &c->role));
      if (c->role != "worker" && c->role != "api") {
        return Status::InvalidArgument(Where(path, v) + ": 'role' must be worker or api");
      }
    } else if (key == "workers") {
      RETURN_IF_ERROR(Read(path, v, key, &c->workers));
    } else if (key == "pipeline_nice") {
      RETURN_IF_ERROR(Read(path, v, key, &c->pipeline_nice));
    } else if (key == "log") {
      if (!v.IsMap()) return Status::InvalidArgument(Where(path, v) + ": 'log' must be a mapping");
      for (const auto& l : v) {
        const std::string k = l.first.as<std::string>();
        if (k == "level") {
          RETURN_IF_ERROR(Read(path, l.second, "log.level", &c->log_level));
        } else if (k == "json") {
          RETURN_IF_ERROR(Read(path, l.second, "log.json", &c->log_json));
        } else {
          return Status::InvalidArgument(Where(path, l.first) + ": unknown key 'log." + k + "'");
        }
      }
    } else if (key == "limits") {
      if (!v.IsMap())
        return Status::InvalidArgument(Where(path, v) + ": 'limits' must be a mapping");
      for (const auto& l : v) {
        const std::string k = l.first.as<std::string>();
        if (k == "max_event_bytes") {
          RETURN_IF_ERROR(Read(path, l.second, "limits.max_event_bytes", &c->max_event_bytes));
        } else if (k == "max_record_bytes") {
          RETURN_IF_ERROR(Read(path, l.second, "limits.max_record_bytes", &c->max_record_bytes));
        } else {
          return Status::InvalidArgument(Where(path, l.first) + ": unknown key 'limits." + k + "'");
        }
      }
    } else if (key == "api") {
      RETURN_IF_ERROR(ReadApi(path, v, c));
    } else if (key == "kafka") {
      RETURN_IF_ERROR(ReadKafka(path, v, &c->kafka));
    } else if (key == "ready") {
      RETURN_IF_ERROR(ForEachKey(
          path, v, key, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& kv2) {
            if (k == "max_lag") return Read(path, kv2, "ready.max_lag", &c->ready_max_lag);
            return UnknownKey(path, kn, "ready." + k);
          }));
    } else if (key == "checkpoint") {
      RETURN_IF_ERROR(ForEachKey(
          path, v, key, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& kv2) {
            if (k == "events") return Read(path, kv2, "checkpoint.events", &c->checkpoint_events);
            if (k == "interval") {
              return ReadMillis(path, kv2, "checkpoint.interval", &c->checkpoint_interval_ms);
            }
            return UnknownKey(path, kn, "checkpoint." + k);
          }));
    } else if (key == "webhook") {
      RETURN_IF_ERROR(ReadWebhook(path, v, &c->webhook));
    } else if (key == "deadletters") {
      RETURN_IF_ERROR(ForEachKey(
          path, v, key, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& kv2) {
            if (k == "max") return Read(path, kv2, "deadletters.max", &c->dead_letters_max);
            if (k == "ttl")
              return ReadDuration(path, kv2, "deadletters.ttl", &c->dead_letter_ttl_us);
            return UnknownKey(path, kn, "deadletters." + k);
          }));
    } else if (key == "falco") {
      RETURN_IF_ERROR(ForEachKey(
          path, v, key,
          [&](const std::string& k, const YAML::Node& kn, const YAML::Node& kv2) -> Status {
            FalcoSinkOptions& f = c->falco_sink;
            const std::string name = "falco." + k;
            if (k == "url") {
              RETURN_IF_ERROR(Read(path, kv2, name, &f.url));
              if (auto url = ParseHttpUrl(f.url); !url.ok()) {
                return Status::InvalidArgument(Where(path, kv2) + ": " + url.status().message());
              }
              return Status::Ok();
            }
            if (k == "min_severity") {
              std::string text;
              RETURN_IF_ERROR(Read(path, kv2, name, &text));
              auto sev = ParseSeverity(text);
              if (!sev) {
                return Status::InvalidArgument(Where(path, kv2) + ": '" + name +
                                               "' must be info, low, medium, high or critical");
              }
              f.min_severity = *sev;
              return Status::Ok();
            }
            if (k == "timeout") {
              int64_t ms = 0;
              RETURN_IF_ERROR(ReadMillis(path, kv2, name, &ms));
              f.timeout = std::chrono::milliseconds(ms);
              return Status::Ok();
            }
            if (k == "max_queue") return Read(path, kv2, name, &f.max_queue);
            if (k == "ca_file") return Read(path, kv2, name, &f.ca_file);
            if (k == "insecure_skip_verify") return Read(path, kv2, name, &f.insecure_skip_verify);
            return UnknownKey(path, kn, name);
          }));
    } else if (key == "outbox") {
      RETURN_IF_ERROR(ForEachKey(
          path, v, key, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& kv2) {
            if (k == "max") return Read(path, kv2, "outbox.max", &c->outbox_max);
            return UnknownKey(path, kn, "outbox." + k);
          }));
    } else if (key == "restart") {
      RETURN_IF_ERROR(ForEachKey(
          path, v, key, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& kv2) {
            if (k == "max_failures") {
              return Read(path, kv2, "restart.max_failures", &c->restart_max_failures);
            }
            if (k == "backoff")
              return ReadMillis(path, kv2, "restart.backoff", &c->restart_backoff_ms);
            return UnknownKey(path, kn, "restart." + k);
          }));
    } else if (key == "state") {
      if (!v.IsMap())
        return Status::InvalidArgument(Where(path, v) + ": 'state' must be a mapping");
      for (const auto& l : v) {
        const std::string k = l.first.as<std::string>();
        if (k == "allowed_lateness") {
          RETURN_IF_ERROR(
              ReadDuration(path, l.second, "state.allowed_lateness", &c->allowed_lateness_us));
        } else if (k == "dedup_retention") {
          RETURN_IF_ERROR(
              ReadDuration(path, l.second, "state.dedup_retention", &c->dedup_retention_us));
        } else if (k == "learning_period") {
          RETURN_IF_ERROR(
              ReadDuration(path, l.second, "state.learning_period", &c->learning_override_us));
        } else if (k == "cache_bytes") {
          RETURN_IF_ERROR(Read(path, l.second, "state.cache_bytes", &c->state_cache_bytes));
        } else if (k == "checkpoint_events") {  // older name of checkpoint.events
          RETURN_IF_ERROR(Read(path, l.second, "state.checkpoint_events", &c->checkpoint_events));
        } else {
          return Status::InvalidArgument(Where(path, l.first) + ": unknown key 'state." + k + "'");
        }
      }
    } else {
      return Status::InvalidArgument(Where(path, kv.first) + ": unknown key '" + key + "'");
    }
  }
  if (c->state_cache_bytes < (size_t{1} << 20)) {
    return Status::InvalidArgument(path + ": state.cache_bytes must be at least 1048576 (1 MiB)");
  }
  if (Status s = CheckWorkers(c->workers); !s.ok())
    return Status::InvalidArgument(path + ": " + s.message());
  if (c->pipeline_nice < -1 || c->pipeline_nice > 19) {
    return Status::InvalidArgument(path + ": pipeline_nice must be in 0..19 (or -1: automatic)");
  }
  if (c->checkpoint_events == 0) {
    return Status::InvalidArgument(path + ": state.checkpoint_events must be at least 1");
  }
  if (c->max_event_bytes == 0 || c->max_event_bytes > c->max_record_bytes) {
    return Status::InvalidArgument(path +
                                   ": limits.max_event_bytes must be in 1..max_record_bytes");
  }
  if (c->dead_letters_max == 0) {
    return Status::InvalidArgument(path + ": deadletters.max must be at least 1");
  }
  if (c->webhook.threads < 1 || c->webhook.threads > 256) {
    return Status::InvalidArgument(path + ": webhook.threads must be in 1..256");
  }
  if (c->outbox_max == 0) return Status::InvalidArgument(path + ": outbox.max must be at least 1");
  if (c->restart_max_failures < 1) {
    return Status::InvalidArgument(path + ": restart.max_failures must be at least 1");
  }
  if (c->api_max_connections < 1 || c->api_max_requests_per_connection < 1 ||
      c->api_max_header_bytes < 1024) {
    return Status::InvalidArgument(path +
                                   ": api.max_connections and api.max_requests_per_connection "
                                   "must be at least 1, api.max_header_bytes at least 1024");
  }
  if (Status s = api::CheckAuthOptions({AllCredentials(*c)}); !s.ok()) {
    return Status::InvalidArgument(path + ": " + s.message());
  }
  if (c->api_threads < 1 || c->api_threads > 64) {
    return Status::InvalidArgument(path + ": api.threads must be in 1..64");
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.count(c->log_level)) {
    return Status::InvalidArgument(
        path + ": log.level must be one of trace, debug, info, warn, error, off");
  }
  return Status::Ok();
}

std::vector<api::Credential> AllCredentials(const Config& config) {
  std::vector<api::Credential> all = config.api_credentials;
  for (const WebhookConfig::Cluster& c : config.webhook.clusters) {
    all.push_back({c.name, c.token_sha256, c.client_names, {"ingest:" + c.name}});
  }
  return all;
}

bool WebhookEnabled(const Config& config) {
  for (const api::Credential& c : AllCredentials(config)) {
    if (api::Authenticator::Allows(c, api::RouteOptions::Role::kIngest)) return true;
  }
  return false;
}

Status CheckWorkers(int workers) {
  if (workers < 0 || workers > kMaxWorkers) {
    return Status::InvalidArgument("workers must be in 0.." + std::to_string(kMaxWorkers) +
                                   " (0: one per core), got " + std::to_string(workers));
  }
  return Status::Ok();
}

int EffectiveWorkers(int workers) {
  if (workers > 0) return workers;
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(cores, 1, kAutoMaxWorkers));
}

int EffectivePipelineNice(const Config& c) {
  if (c.pipeline_nice >= 0) return c.pipeline_nice;
  return c.webhook.enabled() ? 10 : 0;
}

Status ParseListen(const std::string& listen, std::string* address, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("listen address '" + listen + "' must be ADDR:PORT");
  }
  std::string addr = listen.substr(0, colon);
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']')
    addr = addr.substr(1, addr.size() - 2);
  if (addr.empty()) addr = "0.0.0.0";
  const std::string p = listen.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || value > 65535) {
    return Status::InvalidArgument("listen port '" + p + "' must be a number in 0..65535");
  }
  in6_addr buf;
  if (inet_pton(AF_INET, addr.c_str(), &buf) != 1 && inet_pton(AF_INET6, addr.c_str(), &buf) != 1) {
    return Status::InvalidArgument("listen address '" + addr +
                                   "' must be an IPv4 or IPv6 address, e.g. 127.0.0.1:8080");
  }
  *address = addr;
  *port = static_cast<uint16_t>(value);
  return Status::Ok();
}

}  // namespace vigil::app

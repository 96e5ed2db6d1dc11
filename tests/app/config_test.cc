#include "vigil/app/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace vigil::app {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::path(::testing::TempDir()) / name;
  std::ofstream(path) << text;
  return path.string();
}

TEST(ConfigTest, DefaultsNeedNoFile) {
  Config c;
  EXPECT_EQ(c.db_dir, "./vigil-data");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.max_event_bytes, 1u << 20);
}

TEST(ConfigTest, FileOverridesDefaults) {
  Config c;
  auto path = WriteTemp("ok.yaml",
                        "db: /tmp/x\ncluster: prod-eu\nlog: {level: debug, json: true}\n"
                        "limits: {max_event_bytes: 4096}\napi: {threads: 4}\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.db_dir, "/tmp/x");
  EXPECT_EQ(c.cluster, "prod-eu");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.log_json);
  EXPECT_EQ(c.max_event_bytes, 4096u);
  EXPECT_EQ(c.api_threads, 4);
}

TEST(ConfigTest, EmptyFileKeepsDefaults) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(WriteTemp("empty.yaml", ""), &c).ok());
  EXPECT_EQ(c.cluster, "default");
}

TEST(ConfigTest, ErrorsNameTheKeyAndLine) {
  Config c;
  Status s = LoadConfigFile(WriteTemp("typo.yaml", "db: /x\nclustr: a\n"), &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("typo.yaml:2:1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("clustr"), std::string::npos);

  s = LoadConfigFile(WriteTemp("type.yaml", "api: {threads: many}\n"), &c);
  EXPECT_NE(s.message().find("api.threads"), std::string::npos) << s.message();

  s = LoadConfigFile(WriteTemp("bad.yaml", "db: [unclosed\n"), &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bad.yaml:"), std::string::npos) << s.message();

  s = LoadConfigFile(WriteTemp("lvl.yaml", "log: {level: loud}\n"), &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);

  s = LoadConfigFile("/nonexistent/vigil.yaml", &c);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
}

TEST(ConfigTest, StateSection) {
  Config c;
  auto path = WriteTemp("state.yaml",
                        "state:\n  allowed_lateness: 10m\n  dedup_retention: 2h\n"
                        "  learning_period: 1h\n  cache_bytes: 8388608\n"
                        "  checkpoint_events: 1000\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.allowed_lateness_us, int64_t{600} * 1'000'000);
  EXPECT_EQ(c.dedup_retention_us, int64_t{7200} * 1'000'000);
  EXPECT_EQ(c.learning_override_us, int64_t{3600} * 1'000'000);
  EXPECT_EQ(c.state_cache_bytes, 8u << 20);
  EXPECT_EQ(c.checkpoint_events, 1000u);

  struct Bad {
    const char* yaml;
    const char* needle;
  } bad[] = {
      {"state: {allowed_lateness: soon}\n", "'state.allowed_lateness' must be a duration"},
      {"state: {learning_period: 5}\n", "'state.learning_period' must be a duration"},
      {"state: {cache_bytes: lots}\n", "state.cache_bytes"},
      {"state: {cache_bytes: 1024}\n", "at least 1048576"},
      {"state: {checkpoint_events: 0}\n", "checkpoint_events must be at least 1"},
      {"state: {windows: 3}\n", "unknown key 'state.windows'"},
      {"state: 3\n", "'state' must be a mapping"},
  };
  for (const Bad& b : bad) {
    Config d;
    Status st = LoadConfigFile(WriteTemp("bad-state.yaml", b.yaml), &d);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << b.yaml;
    EXPECT_NE(st.message().find(b.needle), std::string::npos) << st.message();
  }
}

TEST(ConfigTest, StoreBoundsAndRestartSections) {
  Config c;
  auto path = WriteTemp("bounds.yaml",
                        "deadletters: {max: 500, ttl: 2d}\noutbox: {max: 1000}\n"
                        "restart: {max_failures: 2, backoff: 250ms}\n"
                        "checkpoint: {events: 100, interval: 5s}\nready: {max_lag: 7}\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.dead_letters_max, 500u);
  EXPECT_EQ(c.dead_letter_ttl_us, int64_t{2} * 24 * 3600 * 1'000'000);
  EXPECT_EQ(c.outbox_max, 1000u);
  EXPECT_EQ(c.restart_max_failures, 2);
  EXPECT_EQ(c.restart_backoff_ms, 250);
  EXPECT_EQ(c.checkpoint_events, 100u);
  EXPECT_EQ(c.checkpoint_interval_ms, 5000);
  EXPECT_EQ(c.ready_max_lag, 7u);
  Config d;
  EXPECT_EQ(d.dead_letters_max, kDefaultMaxDeadLetters);
  EXPECT_EQ(d.outbox_max, kDefaultMaxOutbox);
  EXPECT_EQ(d.restart_max_failures, 5);

  struct Bad {
    const char* yaml;
    const char* needle;
  } bad[] = {
      {"deadletters: {max: 0}\n", "deadletters.max must be at least 1"},
      {"deadletters: {max: many}\n", "'deadletters.max' has the wrong type"},
      {"deadletters: {ttl: forever}\n", "'deadletters.ttl' must be a duration"},
      {"deadletters: {size: 3}\n", "unknown key 'deadletters.size'"},
      {"outbox: {max: 0}\n", "outbox.max must be at least 1"},
      {"outbox: 5\n", "'outbox' must be a mapping"},
      {"restart: {max_failures: 0}\n", "restart.max_failures must be at least 1"},
      {"restart: {backoff: 0s}\n", "'restart.backoff' must be a duration"},
      {"restart: {tries: 3}\n", "unknown key 'restart.tries'"},
      {"checkpoint: {interval: soon}\n", "'checkpoint.interval' must be a duration"},
      {"checkpoint: {every: 3}\n", "unknown key 'checkpoint.every'"},
      {"ready: {lag: 3}\n", "unknown key 'ready.lag'"},
  };
  for (const Bad& b : bad) {
    Config e;
    Status st = LoadConfigFile(WriteTemp("bad-bounds.yaml", b.yaml), &e);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << b.yaml;
    EXPECT_NE(st.message().find(b.needle), std::string::npos) << st.message();
  }
}

TEST(ConfigTest, Workers) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(WriteTemp("workers.yaml", "workers: 4\n"), &c).ok());
  EXPECT_EQ(c.workers, 4);
  EXPECT_EQ(EffectiveWorkers(4), 4);
  Config automatic;
  EXPECT_EQ(automatic.workers, 0);  // the default: one per core
  ASSERT_TRUE(LoadConfigFile(WriteTemp("auto.yaml", "workers: 0\n"), &automatic).ok());
  EXPECT_GE(EffectiveWorkers(0), 1);
  EXPECT_LE(EffectiveWorkers(0), kAutoMaxWorkers);
  for (const char* yaml : {"workers: 65\n", "workers: -1\n"}) {
    Config d;
    Status st = LoadConfigFile(WriteTemp("bad-workers.yaml", yaml), &d);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << yaml;
    EXPECT_NE(st.message().find("workers must be in 0..64"), std::string::npos) << st.message();
  }
  Config e;
  Status st = LoadConfigFile(WriteTemp("typo-workers.yaml", "workers: many\n"), &e);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("workers"), std::string::npos) << st.message();
}

TEST(ConfigTest, PipelineNice) {
  Config plain;
  EXPECT_EQ(plain.pipeline_nice, -1);
  EXPECT_EQ(EffectivePipelineNice(plain), 0);  // no webhook: detection at normal priority
  Config hooked;
  ASSERT_TRUE(LoadConfigFile(WriteTemp("nice-webhook.yaml",
                                       "webhook:\n  clusters:\n    - {name: a, token_sha256: " +
                                           std::string(64, 'a') + "}\n"),
                             &hooked)
                  .ok());
  EXPECT_EQ(EffectivePipelineNice(hooked), 10);  // the acknowledgements go first
  Config set;
  ASSERT_TRUE(LoadConfigFile(WriteTemp("nice.yaml", "pipeline_nice: 3\n"), &set).ok());
  EXPECT_EQ(EffectivePipelineNice(set), 3);
  ASSERT_TRUE(LoadConfigFile(WriteTemp("nice0.yaml", "pipeline_nice: 0\n"), &hooked).ok());
  EXPECT_EQ(EffectivePipelineNice(hooked), 0);  // explicit 0 wins over the webhook's default
  for (const char* yaml : {"pipeline_nice: 20\n", "pipeline_nice: -2\n", "pipeline_nice: x\n"}) {
    Config d;
    Status st = LoadConfigFile(WriteTemp("bad-nice.yaml", yaml), &d);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << yaml;
    EXPECT_NE(st.message().find("pipeline_nice"), std::string::npos) << st.message();
  }
}

TEST(ConfigTest, KafkaSection) {
  Config c;
  auto path = WriteTemp("kafka.yaml",
                        "kafka:\n"
                        "  brokers: \"b1:9092,b2:9092\"\n"
                        "  group: soc\n"
                        "  topics:\n"
                        "    - {name: audit-eu, cluster: prod-eu, envelope: vector}\n"
                        "    - {pattern: \"^audit-.*\", cluster_from: \"header:x-cluster\",\n"
                        "       repartition: true}\n"
                        "  properties: {security.protocol: SASL_SSL, session.timeout.ms: 6000}\n"
                        "  findings_topic: vigil-findings\n"
                        "  changelog: true\n"
                        "  changelog_topic: soc-state\n"
                        "  standby_replicas: 1\n"
                        "  changelog_retention: 120d\n"
                        "  findings_view: true\n"
                        "role: api\n"
                        "ready: {max_lag: 50}\n"
                        "checkpoint: {interval: 250ms, events: 1000}\n");
  Status s = LoadConfigFile(path, &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.kafka.consumer.topics.size(), 2u);
  EXPECT_EQ(c.kafka.consumer.brokers, "b1:9092,b2:9092");
  EXPECT_EQ(c.kafka.consumer.group, "soc");
  EXPECT_EQ(c.kafka.consumer.topics[0].cluster, "prod-eu");
  EXPECT_EQ(c.kafka.consumer.topics[0].envelope, ingest::EnvelopeChoice::kVector);
  EXPECT_EQ(c.kafka.consumer.topics[1].cluster_from, ingest::KafkaTopic::ClusterFrom::kHeader);
  EXPECT_EQ(c.kafka.consumer.topics[1].header, "x-cluster");
  EXPECT_FALSE(c.kafka.consumer.topics[0].repartition);
  EXPECT_TRUE(c.kafka.consumer.topics[1].repartition);
  ASSERT_EQ(c.kafka.consumer.properties.size(), 2u);
  EXPECT_EQ(c.kafka.consumer.properties[1].second, "6000");
  EXPECT_EQ(c.kafka.findings_topic, "vigil-findings");
  EXPECT_TRUE(c.kafka.changelog);
  EXPECT_EQ(c.kafka.changelog_topic, "soc-state");
  EXPECT_EQ(c.kafka.standby_replicas, 1);
  EXPECT_EQ(c.kafka.changelog_retention_us, int64_t{120} * 86400 * 1'000'000);
  EXPECT_TRUE(c.kafka.findings_view);
  EXPECT_EQ(c.role, "api");
  EXPECT_EQ(c.ready_max_lag, 50u);
  EXPECT_EQ(c.checkpoint_interval_ms, 250);
  EXPECT_EQ(c.checkpoint_events, 1000u);
  EXPECT_TRUE(c.kafka.enabled());
}

TEST(ConfigTest, ChangelogRetentionIsAutoNeverOrADuration) {
  const std::pair<const char*, int64_t> cases[] = {
      {"kafka: {brokers: b}\n", -1},
      {"kafka: {brokers: b, changelog_retention: auto}\n", -1},
      {"kafka: {brokers: b, changelog_retention: never}\n", 0},
      {"kafka: {brokers: b, changelog_retention: 36h}\n", int64_t{36} * 3600 * 1'000'000},
  };
  for (const auto& [text, want] : cases) {
    Config c;
    Status s = LoadConfigFile(WriteTemp("retention.yaml", text), &c);
    ASSERT_TRUE(s.ok()) << text << s.ToString();
    EXPECT_EQ(c.kafka.changelog_retention_us, want) << text;
  }
}

TEST(ConfigTest, KafkaErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"kafka: {topics: [{name: a, cluster_from: body}]}\n", "kafka.topics[0].cluster_from"},
      {"kafka: {brokers: b, topics: [{name: a, envelope: xml}]}\n", "kafka.topics[0].envelope"},
      {"kafka: {brokers: b, topics: [{name: a, colour: red}]}\n", "kafka.topics[0].colour"},
      {"kafka: {topics: [{name: a, cluster: c}]}\n", "kafka.brokers"},
      {"kafka: {brokers: b, topics: []}\n", "kafka.topics"},
      {"kafka: {brokers: b, queue_bytes: 10}\n", "kafka.queue_bytes"},
      {"checkpoint: {interval: soon}\n", "checkpoint.interval"},
      {"ready: {max_lag: many}\n", "ready.max_lag"},
      {"kafka: {brokers: b, changelog: sometimes}\n", "kafka.changelog"},
      {"kafka: {brokers: b, topics: [{name: a, cluster: c, repartition: maybe}]}\n",
       "kafka.topics[0].repartition"},
      {"kafka: {brokers: b, findings_view: [yes]}\n", "kafka.findings_view"},
      {"kafka: {brokers: b, changelog: true, standby_replicas: 2}\n",
       "'kafka.standby_replicas' must be 0 or 1"},
      {"kafka: {brokers: b, changelog: true, standby_replicas: one}\n", "kafka.standby_replicas"},
      {"kafka: {brokers: b, standby_replicas: 1}\n", "needs 'kafka.changelog: true'"},
      {"kafka: {brokers: b, changelog_retention: 10m}\n", "at least 1h"},
      {"kafka: {brokers: b, changelog_retention: forever}\n", "kafka.changelog_retention"},
      {"role: manager\n", "'role' must be worker or api"},
  };
  for (const auto& [text, key] : cases) {
    Config c;
    Status s = LoadConfigFile(WriteTemp("bad-kafka.yaml", text), &c);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_NE(s.message().find(key), std::string::npos) << text << " -> " << s.message();
  }
  // What only the consumer can check (a pattern, a property librdkafka does not know, the
  // cluster mapping) is refused when the source is made, naming the key.
  const std::pair<ingest::KafkaOptions, const char*> made[] = {
      {[] {
         ingest::KafkaOptions o;
         o.brokers = "b";
         o.topics.push_back({});
         o.topics[0].pattern = "audit-(";
         return o;
       }(),
       "pattern"},
      {[] {
         ingest::KafkaOptions o;
         o.brokers = "b";
         o.topics.push_back({});
         o.topics[0].name = "a";
         o.topics[0].cluster = "c";
         o.properties = {{"no.such.property", "1"}};
         return o;
       }(),
       "kafka.properties.no.such.property"},
      {[] {
         ingest::KafkaOptions o;
         o.brokers = "b";
         o.topics.push_back({});
         o.topics[0].name = "a";
         o.topics[0].cluster = "c";
         o.properties = {{"enable.auto.commit", "true"}};
         return o;
       }(),
       "enable.auto.commit"},
      {[] {
         ingest::KafkaOptions o;
         o.brokers = "b";
         o.topics.push_back({});
         o.topics[0].name = "a";  // neither cluster nor cluster_from
         return o;
       }(),
       "cluster"},
  };
  for (const auto& [options, key] : made) {
    auto source = ingest::KafkaRecordSource::Create(options);
    ASSERT_FALSE(source.ok()) << key;
    EXPECT_NE(source.status().message().find(key), std::string::npos) << source.status().message();
  }
}

TEST(ConfigTest, ApiCredentialsTlsAndLimits) {
  const std::string h1(64, 'a'), h2(64, 'b'), h3(64, 'c');
  Config c;
  Status s = LoadConfigFile(
      WriteTemp(
          "api.yaml",
          "api:\n"
          "  credentials:\n"
          "    - {name: grafana, token_sha256: " +
              h1 +
              ", roles: [read]}\n"
              "    - {name: ops, token_sha256: " +
              h2 +
              ", roles: admin}\n"
              "    - {name: us-apiserver, client_cert: [apiserver-us, api.us.example],"
              " roles: ['ingest:prod-us']}\n"
              "  tls: {cert: /s.pem, key: /s.key, client_ca: /ca.pem, require_client_cert: true}\n"
              "  allow_plain_http: true\n"
              "  header_timeout: 5s\n"
              "  max_requests_per_connection: 7\n"
              "webhook:\n"
              "  clusters:\n"
              "    - {name: prod-eu, token_sha256: " +
              h3 + "}\n"),
      &c);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(c.api_credentials.size(), 3u);
  EXPECT_EQ(c.api_credentials[1].roles, std::vector<std::string>{"admin"});
  EXPECT_EQ(c.api_credentials[2].client_names,
            (std::vector<std::string>{"apiserver-us", "api.us.example"}));
  EXPECT_EQ(c.api_tls.client_ca_file, "/ca.pem");
  EXPECT_TRUE(c.api_tls.require_client_cert);
  EXPECT_TRUE(c.api_allow_plain_http);
  EXPECT_EQ(c.api_header_timeout_ms, 5000);
  EXPECT_EQ(c.api_max_requests_per_connection, 7u);
  // The webhook's clusters are credentials too, each with its ingest role.
  auto all = AllCredentials(c);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].name, "prod-eu");
  EXPECT_EQ(all[3].roles, std::vector<std::string>{"ingest:prod-eu"});
  EXPECT_TRUE(WebhookEnabled(c));
  Config open;
  EXPECT_FALSE(WebhookEnabled(open));
}

TEST(ConfigTest, ApiErrorsNameTheKey) {
  auto error = [](const std::string& yaml) {
    Config c;
    return LoadConfigFile(WriteTemp("bad-api.yaml", yaml), &c).message();
  };
  EXPECT_NE(error("api: {token: s3cret}\n").find("'api.token' (a plain-text token)"),
            std::string::npos);
  EXPECT_NE(error("api: {credentials: [{name: a, token: x, roles: [read]}]}\n")
                .find("configured only as hashes"),
            std::string::npos);
  EXPECT_NE(error("api: {credentials: [{name: a, token_sha256: abc, roles: [read]}]}\n")
                .find("64 lowercase hex"),
            std::string::npos);
  EXPECT_NE(error("api: {credentials: [{name: a, token_sha256: " + std::string(64, 'a') +
                  ", roles: [root]}]}\n")
                .find("unknown role 'root'"),
            std::string::npos);
  EXPECT_NE(error("api: {tls: {certificate: x}}\n").find("api.tls.certificate"), std::string::npos);
  EXPECT_NE(error("api: {credentials: {name: a}}\n").find("must be a list"), std::string::npos);
}

TEST(ConfigTest, ParseListen) {
  std::string a;
  uint16_t p = 0;
  ASSERT_TRUE(ParseListen("127.0.0.1:8080", &a, &p).ok());
  EXPECT_EQ(a, "127.0.0.1");
  EXPECT_EQ(p, 8080);
  ASSERT_TRUE(ParseListen("[::1]:0", &a, &p).ok());
  EXPECT_EQ(a, "::1");
  EXPECT_EQ(p, 0);
  ASSERT_TRUE(ParseListen(":9000", &a, &p).ok());
  EXPECT_EQ(a, "0.0.0.0");
  EXPECT_FALSE(ParseListen("localhost", &a, &p).ok());
  EXPECT_FALSE(ParseListen("1.2.3.4:99999", &a, &p).ok());
  EXPECT_FALSE(ParseListen("1.2.3.4:80x", &a, &p).ok());
  EXPECT_FALSE(ParseListen("localhost:8080", &a, &p).ok());
  EXPECT_FALSE(ParseListen("999.1.1.1:80", &a, &p).ok());
}

}  // namespace
}  // namespace vigil::app

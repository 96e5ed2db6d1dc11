// Vigil's configuration: every option has a default that works with no config file. A YAML file
// (--config) overrides the defaults, and command-line flags override the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vigil/api/http_server.h"
#include "vigil/app/falco_sink.h"
#include "vigil/core/dead_letter.h"
#include "vigil/core/outbox.h"
#include "vigil/core/status.h"
#include "vigil/ingest/kafka_source.h"

namespace vigil::app {

// The `kafka:` section: the consumer group `vigil serve` runs, and the topics it writes.
struct KafkaConfig {
  ingest::KafkaOptions consumer;  // brokers, group, topics, properties, queue_bytes
  std::string findings_topic;     // every new or updated finding, keyed by its id
  std::string dead_letter_topic;  // every dead letter, keyed by its origin
  // Scale-out: several instances in one group, each partition's state in a compacted changelog
  // topic (ingest/state_changelog.h) that follows the partition to its next owner.
  bool changelog = false;
  std::string changelog_topic;  // default: <group>-state-changelog
  // 1: keep a warm copy of the state of every partition owned elsewhere, from the changelog, so
  // that a fail-over restores only the last checkpoint's tail. 0 or 1 (see ReadKafka).
  int standby_replicas = 0;
  // retention.ms of the changelog Vigil creates (compact,delete): -1 auto (the longest state ttl
  // of the loaded rules + allowed lateness + 1 day), 0 compact only (never deleted).
  int64_t changelog_retention_us = -1;
  // Serve the findings API from a view of the findings topic (every instance's findings), kept
  // in DB/view (app/findings_view.h). Always on with role: api.
  bool findings_view = false;
  bool enabled() const { return !consumer.topics.empty(); }
};

// The `webhook:` section: the kube-apiserver audit webhook (POST /v1/audit) of `vigil serve`.
struct WebhookConfig {
  // Shorthand for a credential with the one role ingest:<name> (see api.credentials).
  struct Cluster {
    std::string name;
    std::string token_sha256;               // lowercase hex SHA-256 of its bearer token
    std::vector<std::string> client_names;  // or its apiserver's client certificate CN/SAN
  };
  std::vector<Cluster> clusters;
  size_t max_body_bytes = size_t{12} << 20;
  size_t max_inflated_bytes = size_t{64} << 20;
  uint64_t max_backlog_bytes = uint64_t{1} << 30;
  int retry_after_seconds = 1;
  int threads = 8;  // requests waiting for their journal sync at once (grouped into one sync)
  bool group_commit = true;
  bool enabled() const { return !clusters.empty(); }
};

struct Config {
  std::string db_dir = "./vigil-data";
  std::string cluster = "default";  // cluster name for events read from files
  std::string listen = "127.0.0.1:8080";
  // serve: "worker" (the pipeline and the API) or "api" (only the findings view of
  // kafka.findings_topic and the API over it; no audit topic, file or webhook is read).
  std::string role = "worker";
  std::string log_level = "info";  // trace, debug, info, warn, error, off
  bool log_json = false;
  size_t max_event_bytes = 1 << 20;    // 1 MiB
  size_t max_record_bytes = 64 << 20;  // one EventList document
  // Threads that parse events and run the rules (`workers`, --workers); 0, the default, is one
  // per core (at most kAutoMaxWorkers). With 1, one thread does everything (plus the checkpoint
  // writer); with more, they run beside the thread that reads and keeps the stateful state,
  // which sees every event in input order, so the findings are the same whatever the number.
  int workers = 0;
  // The nice value (0..19) of the threads that decode, detect and checkpoint (`pipeline_nice`);
  // -1, the default: 10 when the webhook is on, else 0. An acknowledgement waits for the journal,
  // not for detection, so under load the threads that answer the apiservers go first and
  // detection catches up from the durable journal (its backlog is bounded by the 429s).
  int pipeline_nice = -1;
  // Records handed to a worker at a time: at most this many, and this many bytes (a bigger
  // record goes alone). Not in the config file.
  size_t batch_records = 1024;
  size_t batch_bytes = size_t{1} << 20;
  int api_threads = 2;
  size_t api_max_body_bytes = 1 << 20;
  // The `api:` section: credentials (tokens by SHA-256, client certificates by CN/SAN) and their
  // roles; none: the API is open, which serve allows on loopback only. The webhook's clusters
  // add one credential each.
  std::vector<api::Credential> api_credentials;
  api::TlsOptions api_tls;  // api.tls: cert, key, client_ca, require_client_cert
  bool api_allow_plain_http = false;
  bool api_allow_anonymous = false;
  int64_t api_header_timeout_ms = 10'000;
  int64_t api_body_timeout_ms = 60'000;
  int64_t api_idle_timeout_ms = 30'000;
  size_t api_max_connections = 1024;
  size_t api_max_header_bytes = 16 << 10;
  size_t api_max_requests_per_connection = 10'000;
  size_t max_errors_printed = 20;      // replay: bad records printed before "... and N more"
  size_t max_findings_shown = 100000;  // replay: findings kept in memory to print

  // Stateful detection (the `state:` section; durations as "5m", "1h", "7d").
  int64_t allowed_lateness_us = int64_t{5} * 60 * 1'000'000;  // state.allowed_lateness
  int64_t dedup_retention_us = int64_t{60} * 60 * 1'000'000;  // state.dedup_retention
  int64_t learning_override_us = 0;             // state.learning_period: overrides every rule's
  size_t state_cache_bytes = size_t{64} << 20;  // state.cache_bytes
  size_t checkpoint_events = 50'000;            // checkpoint.events (or state.checkpoint_events)
  // checkpoint.interval: a checkpoint at least this often (wall time) while anything changed,
  // so that a live source with little traffic still commits its offsets.
  int64_t checkpoint_interval_ms = 1000;
  bool resume = true;  // replay: start files at the position the store remembers (--from-start)
  KafkaConfig kafka;
  WebhookConfig webhook;
  uint64_t ready_max_lag = 10'000;  // ready.max_lag: /readyz is 503 while more records wait
  // The store's bounds: dead letters (deadletters.max, deadletters.ttl; 0 ttl: no age limit) and
  // messages waiting for the findings / dead-letter topics (outbox.max; the oldest are dropped
  // and counted past it).
  size_t dead_letters_max = kDefaultMaxDeadLetters;
  int64_t dead_letter_ttl_us = int64_t{7} * 24 * 3600 * 1'000'000;
  size_t outbox_max = kDefaultMaxOutbox;
  // The `falco:` section: POST findings as Falco JSON alerts to falco.url (falcosidekick).
  FalcoSinkOptions falco_sink;
  // serve: a failed pipeline restarts after restart.backoff, doubling up to 16x; after
  // restart.max_failures failures in a row the process exits 1.
  int restart_max_failures = 5;
  int64_t restart_backoff_ms = 1000;
  uint64_t test_kill_after_events = 0;  // crash tests only (env VIGIL_TEST_KILL_AFTER_EVENTS)
  // Crash tests only (env VIGIL_TEST_KILL_AFTER_CHECKPOINTS): SIGKILL right after the Nth
  // durable checkpoint, before anything is told about it but the source.
  uint64_t test_kill_after_checkpoints = 0;
  // Failure tests only (env VIGIL_TEST_THROW_AFTER_EVENTS, VIGIL_TEST_THROW_RUNS): the first
  // test_throw_runs pipelines of the process throw when they apply that event.
  uint64_t test_throw_after_events = 0;
  uint64_t test_throw_runs = 1;
};

// Every credential the server checks: api.credentials, then one per webhook cluster (named after
// it, with the role ingest:<cluster>).
std::vector<api::Credential> AllCredentials(const Config& config);
// Whether serve runs the webhook: some credential has an ingest:<cluster> role.
bool WebhookEnabled(const Config& config);

// Reads a YAML config file over `config`. Unknown keys and wrong types are errors that name the
// key, so a typo never silently falls back to a default.
Status LoadConfigFile(const std::string& path, Config* config);

constexpr int kMaxWorkers = 64;
constexpr int kAutoMaxWorkers = 8;
// pipeline_nice resolved: itself, or for -1 10 with the webhook on and 0 without.
int EffectivePipelineNice(const Config& c);
// InvalidArgument unless 0 <= workers <= kMaxWorkers.
Status CheckWorkers(int workers);
// The threads `workers` stands for: itself, or for 0 the number of cores (1..kAutoMaxWorkers).
int EffectiveWorkers(int workers);

// Splits "ADDR:PORT" ("127.0.0.1:8080", "[::1]:8080", ":8080"). InvalidArgument on a bad form.
Status ParseListen(const std::string& listen, std::string* address, uint16_t* port);

}  // namespace vigil::app

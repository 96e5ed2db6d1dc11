// The `vigil` binary: CLI (CLI11) over the pipeline, the store and the API server.
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "scale_out.h"
#include "serve_api.h"
#include "vigil/api/admin.h"
#include "vigil/api/handlers.h"
#include "vigil/api/http_server.h"
#include "vigil/api/webhook.h"
#include "vigil/app/config.h"
#include "vigil/app/deadletters_cli.h"
#include "vigil/app/falco_sink.h"
#include "vigil/app/logging.h"
#include "vigil/app/outbox_relay.h"
#include "vigil/app/output.h"
#include "vigil/app/pipeline.h"
#include "vigil/app/rules.h"
#include "vigil/app/rules_cli.h"
#include "vigil/core/json_writer.h"
#include "vigil/core/memory_state_store.h"
#include "vigil/ingest/kafka_producer.h"
#include "vigil/ingest/kafka_source.h"
#include "vigil/ingest/multi_record_source.h"
#include "vigil/ingest/state_changelog.h"
#include "vigil/ingest/webhook_journal_source.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// A runtime failure (exit 1). Usage errors are caught before anything runs and exit 2.
int Fail(const Status& s) {
  std::cerr << "vigil: " << SanitizeForTerminal(s.message()) << '\n';
  return kExitFailure;
}

int UsageError(const Status& s) {
  std::cerr << "vigil: " << SanitizeForTerminal(s.message()) << '\n';
  return kExitUsage;
}

// The store's bounds from the config.
store::StoreOptions StoreOptionsFrom(const Config& config) {
  store::StoreOptions o;
  o.max_dead_letters = config.dead_letters_max;
  o.dead_letter_ttl = std::chrono::microseconds(config.dead_letter_ttl_us);
  o.max_outbox = config.outbox_max;
  o.journal_group_commit = config.webhook.group_commit;
  return o;
}

int RunReplay(const Config& config, const std::vector<std::string>& paths,
              const std::vector<std::string>& rule_paths, const std::vector<std::string>& only,
              bool use_db, bool parse_only, bool stateless, OutputFormat format) {
  RuleProvider rules(rule_paths, only);
  if (!parse_only) {
    if (Status s = rules.Reload(); !s.ok()) return UsageError(s);
  }
  std::unique_ptr<store::RocksDbFindingStore> db;
  if (use_db) {
    auto opened = store::RocksDbFindingStore::Open(config.db_dir, StoreOptionsFrom(config));
    if (!opened.ok()) return Fail(opened.status());
    db = std::move(opened).value();
  }
  // Stateful rules keep their state in the store, or in memory for this run only.
  MemoryStateStore memory_state;
  StateStore* state = nullptr;
  if (!stateless && !parse_only) state = db ? static_cast<StateStore*>(db.get()) : &memory_state;
  PipelineMetrics metrics;
  Pipeline pipeline(
      config,
      parse_only ? nullptr : MakeFollowingDetector(&rules, state, StatefulOptionsFrom(config)),
      db.get(), &metrics, state);
  auto report = pipeline.Run(paths);
  if (!report.ok()) return Fail(report.status());

  for (const std::string& e : report->errors) {
    std::cerr << "vigil: skipped " << SanitizeForTerminal(e) << '\n';
  }
  if (report->errors_total > report->errors.size()) {
    std::cerr << "vigil: ... and " << report->errors_total - report->errors.size()
              << " more bad records\n";
  }
  PrintFindings(report->findings, format, std::cout);
  std::cout.flush();

  if (report->findings_not_shown > 0) {
    std::cerr << "vigil: " << report->findings_not_shown << " more findings not shown"
              << (use_db ? " (they are in the store)" : " (use --db to keep them all)") << '\n';
  }
  const double secs = report->seconds > 0 ? report->seconds : 1e-9;
  std::fprintf(
      stderr,
      "vigil: read %llu records (%.1f MB): %llu events parsed, %llu malformed, %llu "
      "skipped (not audit events), %llu fields dropped; %llu findings; %.3f s, %.0f "
      "events/s, %.1f MB/s%s\n",
      static_cast<unsigned long long>(report->records), report->bytes / 1e6,
      static_cast<unsigned long long>(report->events),
      static_cast<unsigned long long>(report->malformed),
      static_cast<unsigned long long>(report->skipped),
      static_cast<unsigned long long>(report->fields_dropped),
      static_cast<unsigned long long>(report->findings.size() + report->findings_not_shown),
      report->seconds, report->events / secs, report->bytes / 1e6 / secs,
      use_db ? (" -> " + config.db_dir).c_str() : "");
  if (report->state.events > 0) {
    const detect::StatefulStats& st = report->state;
    std::fprintf(stderr,
                 "vigil: state: %llu stateful hits, %llu findings or updates; cache %llu hits, "
                 "%llu misses, %llu evictions, %zu entries (%.1f MB); %llu state writes in %llu "
                 "checkpoints\n",
                 static_cast<unsigned long long>(st.hits),
                 static_cast<unsigned long long>(st.findings),
                 static_cast<unsigned long long>(st.cache_hits),
                 static_cast<unsigned long long>(st.cache_misses),
                 static_cast<unsigned long long>(st.evictions), st.cache_entries,
                 st.cache_bytes / 1e6, static_cast<unsigned long long>(st.state_writes),
                 static_cast<unsigned long long>(st.checkpoints));
  }
  if (report->duplicates + report->late + report->resumed_files > 0) {
    std::fprintf(stderr,
                 "vigil: %llu events already processed (skipped), %llu late events (single-event "
                 "rules only), %llu files resumed from the stored position\n",
                 static_cast<unsigned long long>(report->duplicates),
                 static_cast<unsigned long long>(report->late),
                 static_cast<unsigned long long>(report->resumed_files));
  }
  return kExitOk;
}

// Lists the findings stored in the database, newest first, all pages.
int RunFindings(const Config& config, const FindingFilter& base, size_t limit,
                OutputFormat format) {
  if (!std::filesystem::exists(config.db_dir)) {
    return UsageError(Status::NotFound("no store at " + config.db_dir));
  }
  auto opened = store::RocksDbFindingStore::Open(config.db_dir, StoreOptionsFrom(config));
  if (!opened.ok()) return Fail(opened.status());
  std::vector<Finding> all;
  FindingFilter filter = base;
  filter.limit = store::RocksDbFindingStore::kMaxLimit;
  while (limit == 0 || all.size() < limit) {
    auto page = (*opened)->Query(filter);
    if (!page.ok()) return Fail(page.status());
    for (Finding& f : page->findings) {
      if (limit != 0 && all.size() >= limit) break;
      all.push_back(std::move(f));
    }
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
  PrintFindings(all, format, std::cout);
  return kExitOk;
}

// The sources `vigil serve` runs: files given on the command line (read once), then the
// Kafka consumer group, live.
// The live sources of one pipeline run: the Kafka consumer and/or the webhook journal, as one
// source when both run. Made anew after a failure (a fresh consumer joins the group again).
class LiveSources {
 public:
  static Result<std::unique_ptr<LiveSources>> Make(const Config& config, IngestJournal* journal) {
    std::unique_ptr<LiveSources> live(new LiveSources);
    std::vector<ingest::RecordSource*> all;
    if (config.kafka.enabled()) {
      auto kafka = ingest::KafkaRecordSource::Create(config.kafka.consumer);
      if (!kafka.ok()) return kafka.status();
      live->kafka_ = std::move(kafka).value();
      all.push_back(live->kafka_.get());
    }
    if (WebhookEnabled(config)) {
      ingest::WebhookJournalSourceOptions o;
      o.journal = journal;
      o.max_record_bytes = config.max_record_bytes;
      live->webhook_ = std::make_unique<ingest::WebhookJournalSource>(o);
      all.push_back(live->webhook_.get());
    }
    if (all.size() == 1) {
      live->top_ = all[0];
    } else {
      live->multi_ = std::make_unique<ingest::MultiRecordSource>(all);
      live->top_ = live->multi_.get();
    }
    return live;
  }
  ingest::RecordSource* source() const { return top_; }

 private:
  LiveSources() = default;
  // Destroyed in reverse: the combination first, the Kafka consumer (which commits) last.
  std::unique_ptr<ingest::KafkaRecordSource> kafka_;
  std::unique_ptr<ingest::WebhookJournalSource> webhook_;
  std::unique_ptr<ingest::MultiRecordSource> multi_;
  ingest::RecordSource* top_ = nullptr;
};

int RunServe(const Config& config, const std::vector<std::string>& paths,
             const std::vector<std::string>& rule_paths, bool print_routes) {
  // Block the stop signals before any thread starts (RocksDB starts its own when it opens), so
  // that only sigwait below receives them: a thread that did not block them would take SIGTERM
  // with its default action and kill the process without a clean shutdown.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const bool api_role = config.role == "api";
  if (api_role) {
    if (config.kafka.consumer.brokers.empty() || config.kafka.findings_topic.empty()) {
      return UsageError(Status::InvalidArgument(
          "--role api serves the view of kafka.findings_topic: it needs kafka.brokers and "
          "kafka.findings_topic"));
    }
    if (!paths.empty() || WebhookEnabled(config)) {
      return UsageError(Status::InvalidArgument(
          "--role api reads no files and runs no webhook: start a worker for them"));
    }
  }
  if (config.kafka.findings_view &&
      (config.kafka.consumer.brokers.empty() || config.kafka.findings_topic.empty())) {
    return UsageError(Status::InvalidArgument(
        "kafka.findings_view needs kafka.brokers and kafka.findings_topic"));
  }
  RuleProvider rules(rule_paths);
  if (Status s = rules.Reload(); !s.ok()) return UsageError(s);

  std::string address;
  uint16_t port = 0;
  if (Status s = ParseListen(config.listen, &address, &port); !s.ok()) return UsageError(s);
  // Kafka options are checked before anything is opened: a bad topic or property is a usage
  // error (exit 2) that names the key.
  if (config.kafka.enabled() && !api_role) {
    auto probe = ingest::KafkaRecordSource::Create(config.kafka.consumer);
    if (!probe.ok()) return UsageError(probe.status());
  }

  api::WebhookOptions webhook;
  webhook.max_body_bytes = config.webhook.max_body_bytes;
  webhook.max_inflated_bytes = config.webhook.max_inflated_bytes;
  webhook.max_backlog_bytes = config.webhook.max_backlog_bytes;
  webhook.retry_after_seconds = config.webhook.retry_after_seconds;
  const std::vector<api::Credential> credentials = AllCredentials(config);
  for (const api::Credential& c : credentials) {
    for (const std::string& role : c.roles) {
      if (!role.starts_with("ingest:")) continue;
      if (Status s = ingest::CheckClusterName(role.substr(7)); !s.ok()) {
        return UsageError(Status::InvalidArgument("credential '" + c.name + "': " + s.message()));
      }
    }
  }
  if (Status s = api::CheckWebhookOptions(webhook); !s.ok()) return UsageError(s);

  auto opened = store::RocksDbFindingStore::Open(config.db_dir, StoreOptionsFrom(config));
  if (!opened.ok()) return Fail(opened.status());
  std::unique_ptr<store::RocksDbFindingStore> db = std::move(opened).value();

  // Producers for the findings and dead-letter topics, fed by the outbox relay: every finding
  // and dead letter a checkpoint writes is kept in the store's outbox until Kafka acknowledged
  // it, so a crash after the checkpoint sends it again instead of losing it.
  std::unique_ptr<OutboxRelay> relay;
  std::unique_ptr<ingest::KafkaProducer> findings_out, dead_letters_out;
  for (auto [topic, out] : {std::pair{&config.kafka.findings_topic, &findings_out},
                            std::pair{&config.kafka.dead_letter_topic, &dead_letters_out}}) {
    if (topic->empty()) continue;
    ingest::KafkaProducerOptions po;
    po.brokers = config.kafka.consumer.brokers;
    po.properties = config.kafka.consumer.properties;
    po.client_id = config.kafka.consumer.client_id;
    po.on_delivery = [&relay](uint64_t seq, bool ok) {
      if (relay) relay->Delivered(seq, ok);
    };
    auto made = ingest::KafkaProducer::Create(po);
    if (!made.ok()) return UsageError(made.status());
    *out = std::move(made).value();
  }
  // Falco alerts for falcosidekick (or any endpoint that takes Falco's JSON), through the
  // outbox too: an alert leaves it once the endpoint answered 2xx.
  std::unique_ptr<FalcoSink> falco_sink;
  if (!config.falco_sink.url.empty() && !api_role) {
    auto made = FalcoSink::Create(config.falco_sink);
    if (!made.ok()) return UsageError(made.status());
    falco_sink = std::move(made).value();
  }
  // Always running: it also removes what an earlier run left for a topic no longer configured.
  // With a Falco sink, its alerts have a relay of their own, so a Falco endpoint that is slow or
  // down never holds up the Kafka topics.
  OutboxRelayOptions kafka_relay_options;
  if (falco_sink) {
    kafka_relay_options.handles = [](std::string_view c) { return c != kOutboxFalco; };
  }
  relay = std::make_unique<OutboxRelay>(
      db.get(),
      PublishToKafka(
          {{kOutboxFindings, findings_out.get(), config.kafka.findings_topic},
           {kOutboxDeadLetters, dead_letters_out.get(), config.kafka.dead_letter_topic}}),
      kafka_relay_options);
  std::unique_ptr<OutboxRelay> falco_relay;
  if (falco_sink) {
    OutboxRelayOptions falco_relay_options;
    falco_relay_options.handles = [](std::string_view c) { return c == kOutboxFalco; };
    falco_relay = std::make_unique<OutboxRelay>(
        db.get(), [&falco_sink](const OutboxEntry& e) { return falco_sink->Publish(e); },
        falco_relay_options);
    falco_sink->Start([&falco_relay](uint64_t seq, bool ok) {
      if (falco_relay) falco_relay->Delivered(seq, ok);
    });
    falco_relay->Start();
    spdlog::info("falco sink: posting findings at or above {} to {}",
                 SeverityName(config.falco_sink.min_severity), config.falco_sink.url);
  }
  relay->Start();
  // Whatever way this function returns, the relays' threads stop before the sink they publish
  // to is destroyed, and the sink's before the relay it reports to.
  struct StopOutbox {
    std::unique_ptr<OutboxRelay>& relay;
    std::unique_ptr<OutboxRelay>& falco_relay;
    std::unique_ptr<FalcoSink>& sink;
    ~StopOutbox() {
      if (relay) relay->Stop();
      if (falco_relay) falco_relay->Stop();
      if (sink) sink->Stop();
    }
  } stop_outbox{relay, falco_relay, falco_sink};

  // Scale-out: the state changelog, written with every checkpoint and read when a partition
  // moves here (its state is restored before its first record is applied).
  std::unique_ptr<ingest::KafkaStateChangelog> changelog;
  int64_t changelog_retention_us = 0;
  Config live_config = config;
  if (api_role) live_config.kafka.consumer.topics.clear();  // no pipeline
  // Topics not keyed by cluster: re-keyed by the repartition stage, read from its topic.
  std::unique_ptr<ingest::KafkaRepartitioner> repartition;
  if (live_config.kafka.enabled()) {
    auto started = StartRepartition(&live_config.kafka.consumer);
    if (!started.ok()) {
      return started.status().code() == StatusCode::kInvalidArgument ? UsageError(started.status())
                                                                     : Fail(started.status());
    }
    repartition = std::move(started).value();
  }
  if (live_config.kafka.enabled() && config.kafka.changelog) {
    const int64_t retention_us = ChangelogRetentionUs(config, rules.engine()->rule_defs());
    changelog_retention_us = retention_us;
    auto made = MakeChangelog(live_config, retention_us);
    if (!made.ok()) return Fail(made.status());
    changelog = std::move(made).value();
    if (retention_us > 0) {
      spdlog::info(
          "changelog: records older than {:.1f} days leave {} (the longest state ttl of "
          "the rules, plus lateness and a day; kafka.changelog_retention)",
          static_cast<double>(retention_us) / 86400e6, changelog->topic());
    }
    live_config.kafka.consumer.restore = [&](const std::string& topic, int32_t partition,
                                             int64_t* offset) {
      return changelog->Restore(topic, partition, db.get(), offset);
    };
    live_config.kafka.consumer.released = [&](const std::string& topic, int32_t partition) {
      changelog->Released(topic, partition);
    };
    if (config.kafka.standby_replicas > 0) {
      Status standby = changelog->StartStandby(db.get());
      if (!standby.ok()) return Fail(standby);
    }
  }

  // One view of every instance's findings (the findings topic), served instead of this
  // instance's own store: the api role's store is the view; a worker keeps it in DB/view.
  std::unique_ptr<store::RocksDbFindingStore> view_db;
  store::RocksDbFindingStore* served = db.get();
  std::unique_ptr<FindingsView> view;
  if (api_role || config.kafka.findings_view) {
    if (!api_role) {
      auto opened_view = store::RocksDbFindingStore::Open(config.db_dir + "/view",
                                                          StoreOptionsFrom(config));
      if (!opened_view.ok()) return Fail(opened_view.status());
      view_db = std::move(opened_view).value();
      served = view_db.get();
    }
    auto made = MakeFindingsView(config, served);
    if (!made.ok()) return Fail(made.status());
    view = std::move(made).value();
  }

  PipelineMetrics metrics;
  api::ServerOptions opts;
  opts.address = address;
  opts.port = port;
  opts.threads = config.api_threads;
  opts.max_body_bytes = config.api_max_body_bytes;
  opts.max_header_bytes = config.api_max_header_bytes;
  opts.max_connections = config.api_max_connections;
  opts.max_requests_per_connection = config.api_max_requests_per_connection;
  opts.header_timeout = std::chrono::milliseconds(config.api_header_timeout_ms);
  opts.body_timeout = std::chrono::milliseconds(config.api_body_timeout_ms);
  opts.idle_timeout = std::chrono::milliseconds(config.api_idle_timeout_ms);
  opts.auth.credentials = credentials;
  opts.tls = config.api_tls;
  opts.allow_plain_http = config.api_allow_plain_http;
  opts.allow_anonymous = config.api_allow_anonymous;
  opts.ingest_threads = config.webhook.threads;
  api::HttpServer server(opts, served, &metrics);
  if (Status s = server.SetDeadLetterStore(db.get()); !s.ok()) return Fail(s);
  // Triage (PATCH /v1/findings/{id}) and suppressions: writes, so registered here with the
  // writable store rather than by the server, which only reads findings.
  api::RegisterFindingTriageHandlers(served, server.router());
  api::RegisterSuppressionHandlers(served, server.router());
  // The apiserver audit webhook: bodies journaled durably before 200, applied by the pipeline.
  api::WebhookCounters webhook_counters;
  if (WebhookEnabled(config)) {
    // Before the first request: no acknowledged entry numbered below where the reader resumes.
    if (Status s = ingest::WebhookJournalSource::ReserveStoredPosition(db.get(), db.get());
        !s.ok()) {
      return Fail(s);
    }
    api::RegisterWebhookHandlers(db.get(), webhook, &webhook_counters, server.router());
  }
  // The source the pipeline runs now, for /readyz, /metrics and /v1/stats (null between runs).
  std::mutex source_mu;
  ingest::RecordSource* live = nullptr;  // guarded by source_mu
  // GET /v1/rules, POST /v1/rules/reload (admin: a bad file is answered 400 with its
  // file:line:col, the old rules stay), GET /v1/stats, GET /v1/openapi.yaml.
  api::RegisterRuleHandlers(RuleHooksFor(&rules), server.router());
  api::StatsOptions stats;
  stats.metrics = &metrics;
  stats.findings = served;
  if (WebhookEnabled(config)) stats.journal = db.get();
  stats.sources = [&] {
    std::lock_guard<std::mutex> lock(source_mu);
    return SourceStatusOf(live);
  };
  api::RegisterStatsHandler(std::move(stats), server.router());
  api::RegisterOpenApiHandler(server.router());
  std::atomic<bool> files_done{paths.empty()};
  server.SetReadinessCheck([&](std::string* why) {
    if (!files_done.load()) {
      *why = "ingesting the files named on the command line";
      return false;
    }
    if (view != nullptr && !view->caught_up()) {
      *why = "the findings view has not read " + config.kafka.findings_topic + " to its end yet";
      return false;
    }
    if (!live_config.kafka.enabled() && !WebhookEnabled(config)) return true;
    std::lock_guard<std::mutex> lock(source_mu);
    if (live == nullptr) {
      *why = "the live sources are (re)starting";
      return false;
    }
    ingest::SourceHealth h = live->Health();
    if (!h.ready) {
      *why = h.why;
      return false;
    }
    if (h.lag > config.ready_max_lag) {
      *why = std::string(live->kind()) + ": " + std::to_string(h.lag) +
             " records behind (ready.max_lag " + std::to_string(config.ready_max_lag) + ")";
      return false;
    }
    return true;
  });
  server.AddMetrics([&](std::string* out) {
    std::lock_guard<std::mutex> lock(source_mu);
    if (live != nullptr) live->RenderMetrics(out);
    ingest::KafkaProducer::RenderMetrics(
        {{"findings", findings_out.get()}, {"deadletters", dead_letters_out.get()}}, out);
    relay->RenderMetrics(out);
    if (falco_sink) falco_sink->RenderMetrics(out);
    if (changelog) changelog->RenderMetrics(out);
    if (repartition) repartition->RenderMetrics(out);
    if (view) view->RenderMetrics(out);
    if (WebhookEnabled(config)) webhook_counters.Render(out);
  });
  if (print_routes) {  // what this config serves, for checking api/openapi.yaml against it
    for (const auto& [method, pattern] : server.router()->Routes()) {
      std::printf(
          "%s %s %s\n", method.c_str(), pattern.c_str(),
          std::string(api::RoleName(server.router()->OptionsFor(method, pattern).role)).c_str());
    }
    relay->Stop();
    return kExitOk;
  }
  if (Status s = server.Start(); !s.ok()) return Fail(s);
  spdlog::info("vigil serving findings from {} on {}://{}:{}", config.db_dir,
               config.api_tls.enabled() ? "https" : "http", address, server.port());
  std::printf("listening on %s:%u\n", address.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.SetReady(true);  // the readiness check says what is still missing

  // The pipeline thread: the files, then Kafka live. A failure (an exception, a store or source
  // error) is logged and counted and the pipeline restarts from the store (the source seeks to
  // the stored offsets again); after max_failures in a row the process exits 1.
  const int max_failures = config.restart_max_failures;  // restart.max_failures
  std::atomic<bool> stop{false};
  std::atomic<int> exit_code{kExitOk};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  auto run_pipelines = [&] {
    Config serve_config = config;
    serve_config.max_findings_shown = 0;  // nothing to print: keep findings only in the store
    auto make_pipeline = [&] {
      auto p = std::make_unique<Pipeline>(
          serve_config, MakeFollowingDetector(&rules, db.get(), StatefulOptionsFrom(serve_config)),
          db.get(), &metrics, db.get());
      Pipeline::OutboxChannels channels;
      // With a changelog, findings go to their topic with each checkpoint's changelog records.
      channels.findings = findings_out != nullptr && changelog == nullptr;
      channels.dead_letters = dead_letters_out != nullptr;
      channels.falco = falco_sink != nullptr;
      channels.falco_min_severity = config.falco_sink.min_severity;
      channels.hostname = LocalHostname();
      if (channels.findings || channels.dead_letters || channels.falco) {
        p->WriteOutbox(channels, [&] {
          relay->Notify();
          if (falco_relay) falco_relay->Notify();
        });
      }
      if (changelog) p->WriteChangelog(changelog.get());
      return p;
    };
    int failures = 0;
    auto failed = [&](const Status& s, const char* what) {
      PipelineMetrics::Inc(metrics.pipeline_errors);
      ++failures;
      spdlog::error("{} failed ({} of {} in a row): {}", what, failures, max_failures, s.message());
      if (failures >= max_failures) {
        std::fprintf(stderr, "vigil: %s failed %d times in a row, last: %s\n", what, failures,
                     SanitizeForTerminal(s.message()).c_str());
        exit_code = kExitFailure;
        stop = true;
        kill(getpid(), SIGTERM);  // wakes the signal loop
        return false;
      }
      // Back off before a retry, unless stopped meanwhile.
      std::unique_lock<std::mutex> lock(stop_mu);
      stop_cv.wait_for(
          lock, std::chrono::milliseconds(config.restart_backoff_ms << std::min(failures - 1, 4)),
          [&] { return stop.load(); });
      return !stop.load();
    };
    while (!paths.empty() && !stop.load()) {
      auto report = make_pipeline()->Run(paths, &stop);
      if (report.ok()) {
        for (const std::string& e : report->errors) spdlog::warn("skipped {}", e);
        // Before the log line, so that whoever reads it sees /readyz 200 (the files are in the
        // store: Run returns once its last checkpoint is durable).
        files_done = true;
        spdlog::info("ingested {} events ({} malformed, {} skipped), {} findings", report->events,
                     report->malformed, report->skipped, metrics.findings.load());
        break;
      }
      if (stop.load()) break;
      if (!failed(report.status(), "file ingest")) break;
    }
    files_done = true;
    failures = 0;
    while ((live_config.kafka.enabled() || WebhookEnabled(config)) && !stop.load()) {
      auto sources = LiveSources::Make(live_config, db.get());
      if (!sources.ok()) {
        if (!failed(sources.status(), "live sources")) break;
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(source_mu);
        live = (*sources)->source();
      }
      auto pipeline = make_pipeline();
      auto report = pipeline->Run((*sources)->source(), &stop);
      {
        std::lock_guard<std::mutex> lock(source_mu);
        live = nullptr;
      }
      sources->reset();  // commits what the last checkpoint covers, leaves the group
      if (stop.load()) break;
      if (!report.ok() && !failed(report.status(), "live pipeline")) break;
      if (report.ok()) failures = 0;  // the sources ended by themselves: start them again
    }
  };
  std::thread pipeline_thread([&] {
    pthread_setname_np(pthread_self(), "vigil-pipeline");
    // Its workers and commit thread, created from here, inherit the nice value.
    if (const int nice = EffectivePipelineNice(config); nice > 0) {
      if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0) {
        spdlog::warn("pipeline_nice {}: setpriority failed: {}", nice, std::strerror(errno));
      }
    }
    try {
      run_pipelines();
    } catch (const std::exception& e) {  // never std::terminate the server
      PipelineMetrics::Inc(metrics.pipeline_errors);
      spdlog::error("pipeline thread: {}", e.what());
      std::fprintf(stderr, "vigil: pipeline thread failed: %s\n",
                   SanitizeForTerminal(e.what()).c_str());
      exit_code = kExitFailure;
      stop = true;
      kill(getpid(), SIGTERM);
    }
  });

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    if (Status s = rules.Reload(); !s.ok()) {
      spdlog::error("SIGHUP: rules reload failed, previous rules stay active: {}", s.message());
    } else {
      spdlog::info("SIGHUP: rules reloaded: {} rules (generation {})", rules.rule_count(),
                   rules.generation());
      if (changelog_retention_us > 0) {
        const int64_t needed = ChangelogRetentionUs(config, rules.engine()->rule_defs());
        if (config.kafka.changelog_retention_us < 0 && needed > changelog_retention_us) {
          spdlog::warn(
              "SIGHUP: a reloaded rule keeps state {:.1f} days, longer than the "
              "changelog's retention ({:.1f} days): raise retention.ms of the topic",
              static_cast<double>(needed) / 86400e6,
              static_cast<double>(changelog_retention_us) / 86400e6);
        }
      }
    }
    if (config.api_tls.enabled()) {  // rotated certificates: new connections use the new ones
      if (Status s = server.ReloadTls(); !s.ok()) {
        spdlog::error("SIGHUP: TLS reload failed, the previous certificate stays: {}", s.message());
      } else {
        spdlog::info("SIGHUP: TLS certificate, key and client CA reloaded");
      }
    }
  }
  spdlog::info("signal {} received, shutting down", sig);
  server.SetReady(false);
  {
    std::lock_guard<std::mutex> lock(stop_mu);
    stop = true;
  }
  stop_cv.notify_all();
  pipeline_thread.join();  // the last checkpoint is durable and its offsets committed
  if (view) view->Stop();
  if (repartition) repartition->Stop();  // commits what was acknowledged
  // Send what the last checkpoints left in the outbox; what is not acknowledged in time stays
  // there for the next run.
  if ((findings_out || dead_letters_out || falco_sink) && !relay->Drain(std::chrono::seconds(10))) {
    spdlog::warn("outbox: {} messages not yet acknowledged; sent on the next start",
                 db->OutboxCount());
  }
  relay->Stop();
  if (falco_relay) falco_relay->Stop();
  if (falco_sink) falco_sink->Stop();  // what it had not posted stays in the outbox
  findings_out.reset();  // flushes; late acknowledgements still reach the relay
  dead_letters_out.reset();
  relay.reset();  // removes what was acknowledged during the flush
  server.Stop();
  spdlog::info("stopped");
  return exit_code.load();
}

int Main(int argc, char** argv) {
  CLI::App cli{
      "Vigil: a hardened stream processor for Kubernetes API-server audit logs.\n"
      "Parses audit events (files, .gz, EventList, JSON lines, EKS/AKS/GKE envelopes), runs\n"
      "detections, stores findings in RocksDB and serves them over a REST API.",
      "vigil"};
  cli.require_subcommand(1);
  cli.fallthrough();  // global options (--config, --log-*) may also follow the subcommand
  cli.set_version_flag("--version", "vigil 0.1.0");

  Config config;
  std::string config_file;
  std::string log_level;
  bool log_json = false;
  cli.add_option("--config", config_file, "YAML config file (every option has a default)")
      ->check(CLI::ExistingFile);
  cli.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  cli.add_flag("--log-json", log_json, "log one JSON object per line");

  // replay
  auto* replay = cli.add_subcommand(
      "replay", "Process audit log files (plain, .gz, or directories) and print the findings");
  std::vector<std::string> paths;
  std::string db_dir, cluster, format_text = "table", listen;
  replay->add_option("PATH", paths, "files or directories, read in order")
      ->required()
      ->check(CLI::ExistingPath);
  replay->add_option("--db", db_dir, "also store findings in this RocksDB directory");
  replay->add_option("--cluster", cluster, "cluster the events belong to (default 'default')");
  std::vector<std::string> rule_paths;
  replay
      ->add_option("--rules", rule_paths,
                   "rule file or directory (native, Falco or Sigma); repeat to load several "
                   "in order; default: the built-in pack")
      ->check(CLI::ExistingPath);
  std::vector<std::string> only_rules;
  replay
      ->add_option("--only", only_rules,
                   "run only these rule ids (comma-separated or repeated), e.g. to compare with "
                   "another tool on the same rules")
      ->delimiter(',');
  bool parse_only = false;
  replay->add_flag("--parse-only", parse_only,
                   "read and parse only, run no rules (to measure ingest alone)");
  bool from_start = false;
  replay->add_flag("--from-start", from_start,
                   "read every file from its beginning, not from the position stored in --db "
                   "(already processed events are still recognised and skipped)");
  bool stateless = false;
  replay->add_flag("--stateless", stateless,
                   "run only the single-event rules, no stateful ones (no state, no dedup)");
  replay
      ->add_option("--format", format_text,
                   "table | json | jsonl | falco (Falco's JSON alerts, one per line; default "
                   "table)")
      ->check(CLI::IsMember({"table", "json", "jsonl", "falco"}));
  int workers = -1;
  const std::string workers_help =
      "threads parsing events and running rules (0.." + std::to_string(kMaxWorkers) +
      "; default 0: one per core, at most " + std::to_string(kAutoMaxWorkers) +
      "); the findings are the same for any number";
  replay->add_option("--workers", workers, workers_help)->check(CLI::Range(0, kMaxWorkers));
  replay->footer(
      "Exit status: 0 on success (bad records are reported and skipped), 1 on a runtime error,\n"
      "2 on bad usage.\n\nExample:\n  vigil replay /var/log/kube-audit/ --cluster prod-eu --db "
      "./vigil-data");

  // serve
  auto* serve = cli.add_subcommand("serve", "Serve findings over HTTP from the RocksDB store");
  std::vector<std::string> serve_paths;
  serve
      ->add_option("PATH", serve_paths,
                   "optional files or directories to ingest into the store at start")
      ->check(CLI::ExistingPath);
  serve->add_option("--db", db_dir, "RocksDB directory (default ./vigil-data)");
  serve->add_option("--cluster", cluster, "cluster of the ingested files (default 'default')");
  serve
      ->add_option("--rules", rule_paths,
                   "rule files, as for replay; reloaded on SIGHUP and POST /v1/rules/reload")
      ->check(CLI::ExistingPath);
  serve->add_option("--listen", listen, "ADDR:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--workers", workers, workers_help)->check(CLI::Range(0, kMaxWorkers));
  std::string kafka_brokers, kafka_group;
  std::vector<std::string> kafka_topics;
  serve->add_option("--kafka-brokers", kafka_brokers,
                    "consume audit events from these Kafka brokers (host:port,...)");
  serve->add_option("--kafka-topic", kafka_topics,
                    "TOPIC[:CLUSTER]: a topic to consume; its records belong to CLUSTER "
                    "(default: --cluster); repeat for several");
  serve->add_option("--kafka-group", kafka_group, "the consumer group (default vigil)");
  std::string role;
  serve->add_option("--role", role,
                    "worker (default): run the pipeline and the API; api: serve the findings of "
                    "every instance from a view of kafka.findings_topic, read nothing else")
      ->check(CLI::IsMember({"worker", "api"}));
  bool print_routes = false;
  serve->add_flag("--print-routes", print_routes,
                  "print the routes this configuration serves (METHOD PATTERN ROLE) and exit");
  serve->footer(
      "Endpoints: GET /v1/findings, GET /v1/findings/{id}, GET /v1/deadletters, GET /v1/rules,\n"
      "POST /v1/rules/reload, GET /v1/stats, GET /v1/openapi.yaml (the full list), GET /healthz,\n"
      "GET /readyz, GET /metrics.\n\nExamples:\n"
      "  vigil serve --db ./vigil-data --listen 127.0.0.1:8080\n"
      "  vigil serve --kafka-brokers kafka:9092 --kafka-topic audit-prod-eu:prod-eu "
      "--kafka-group vigil\n"
      "  curl -s 'http://127.0.0.1:8080/v1/findings?severity=high&limit=20'");

  // findings
  auto* findings_cmd =
      cli.add_subcommand("findings", "List the findings stored in the database (newest first)");
  std::string find_rule, find_user, find_severity, find_format = "table";
  size_t find_limit = 0;
  findings_cmd->add_option("--db", db_dir, "RocksDB directory (default ./vigil-data)");
  findings_cmd->add_option("--cluster", cluster, "only this cluster");
  findings_cmd->add_option("--rule", find_rule, "only this rule id");
  findings_cmd->add_option("--user", find_user, "only this user");
  findings_cmd->add_option("--severity", find_severity, "at least this severity")
      ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
  findings_cmd->add_option("--limit", find_limit, "at most this many (default: all)");
  findings_cmd->add_option("--format", find_format, "table | json | jsonl | falco (default table)")
      ->check(CLI::IsMember({"table", "json", "jsonl", "falco"}));

  // deadletters
  auto* deadletters_cmd =
      cli.add_subcommand("deadletters", "List the records that could not be parsed (newest first)");
  std::string dl_source, dl_origin, dl_format = "table";
  size_t dl_limit = 100;
  deadletters_cmd->add_option("--db", db_dir, "RocksDB directory (default ./vigil-data)");
  deadletters_cmd->add_option("--source", dl_source, "only this source (kafka, file, webhook)");
  deadletters_cmd->add_option("--origin", dl_origin, "only this origin (topic, file path)");
  deadletters_cmd->add_option("--limit", dl_limit, "at most this many (default 100; 0: all)");
  deadletters_cmd->add_option("--format", dl_format, "table | json | jsonl (default table)")
      ->check(CLI::IsMember({"table", "json", "jsonl"}));

  // rules
  auto* rules_cmd = cli.add_subcommand("rules", "Test, lint and list detection rules");
  rules_cmd->require_subcommand(1);
  std::vector<std::string> rule_files;
  auto* rules_test =
      rules_cmd->add_subcommand("test", "Run every rule's inline tests; exit 1 when one fails");
  auto* rules_lint = rules_cmd->add_subcommand(
      "lint", "Report fields that never exist, type mismatches and conditions never true");
  auto* rules_list = rules_cmd->add_subcommand("list", "List the rules");
  std::string list_format = "table";
  for (auto* sub : {rules_test, rules_lint, rules_list}) {
    sub->add_option("FILES", rule_files,
                    "rule files or directories (native, Falco, Sigma); default: the built-in pack")
        ->check(CLI::ExistingPath);
  }
  rules_list->add_option("--format", list_format, "table | json | md (default table)")
      ->check(CLI::IsMember({"table", "json", "md"}));

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = cli.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (!config_file.empty()) {
    if (Status s = LoadConfigFile(config_file, &config); !s.ok()) return UsageError(s);
  }
  if (!log_level.empty()) config.log_level = log_level;
  if (log_json) config.log_json = true;
  if (!db_dir.empty()) config.db_dir = db_dir;
  if (!cluster.empty()) config.cluster = cluster;
  if (!listen.empty()) config.listen = listen;
  if (workers >= 0) config.workers = workers;
  if (!kafka_brokers.empty()) config.kafka.consumer.brokers = kafka_brokers;
  if (!kafka_group.empty()) config.kafka.consumer.group = kafka_group;
  if (!kafka_topics.empty()) {
    config.kafka.consumer.topics.clear();
    for (const std::string& t : kafka_topics) {
      ingest::KafkaTopic topic;
      const size_t colon = t.find(':');
      topic.name = t.substr(0, colon);
      topic.cluster = colon == std::string::npos ? config.cluster : t.substr(colon + 1);
      config.kafka.consumer.topics.push_back(std::move(topic));
    }
  }
  if (!role.empty()) config.role = role;
  if (config.kafka.enabled() && config.kafka.consumer.brokers.empty()) {
    return UsageError(Status::InvalidArgument("--kafka-topic needs --kafka-brokers"));
  }
  if (Status s = SetupLogging(config.log_level, config.log_json); !s.ok()) return UsageError(s);
  // Crash tests: SIGKILL this process after N events (a real kill -9 at a chosen point).
  if (const char* k = std::getenv("VIGIL_TEST_KILL_AFTER_EVENTS")) {
    config.test_kill_after_events = std::strtoull(k, nullptr, 10);
  }
  if (const char* k = std::getenv("VIGIL_TEST_KILL_AFTER_CHECKPOINTS")) {
    config.test_kill_after_checkpoints = std::strtoull(k, nullptr, 10);
  }
  if (const char* t = std::getenv("VIGIL_TEST_THROW_AFTER_EVENTS")) {
    config.test_throw_after_events = std::strtoull(t, nullptr, 10);
  }
  if (const char* t = std::getenv("VIGIL_TEST_THROW_RUNS")) {
    config.test_throw_runs = std::strtoull(t, nullptr, 10);
  }

  if (*replay) {
    OutputFormat format = OutputFormat::kTable;
    ParseOutputFormat(format_text, &format);
    if (from_start) config.resume = false;
    return RunReplay(config, paths, rule_paths, only_rules, !db_dir.empty(), parse_only, stateless,
                     format);
  }
  if (*findings_cmd) {
    FindingFilter filter;
    if (!cluster.empty()) filter.cluster = cluster;
    if (!find_rule.empty()) filter.rule_id = find_rule;
    if (!find_user.empty()) filter.user = find_user;
    if (!find_severity.empty()) filter.min_severity = ParseSeverity(find_severity);
    OutputFormat format = OutputFormat::kTable;
    ParseOutputFormat(find_format, &format);
    return RunFindings(config, filter, find_limit, format);
  }
  if (*deadletters_cmd) {
    DeadLetterFilter filter;
    if (!dl_source.empty()) filter.source = dl_source;
    if (!dl_origin.empty()) filter.origin = dl_origin;
    OutputFormat format = OutputFormat::kTable;
    ParseOutputFormat(dl_format, &format);
    return RunDeadLetters(config.db_dir, filter, dl_limit, format, std::cout, std::cerr);
  }
  if (*rules_test) return RunRulesTest(rule_files, std::cout, std::cerr);
  if (*rules_lint) return RunRulesLint(rule_files, std::cout, std::cerr);
  if (*rules_list) return RunRulesList(rule_files, list_format, std::cout, std::cerr);
  return RunServe(config, serve_paths, rule_paths, print_routes);
}

}  // namespace
}  // namespace vigil::app

int main(int argc, char** argv) {
  try {
    return vigil::app::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "vigil: fatal: " << e.what() << '\n';
    return 1;
  }
}

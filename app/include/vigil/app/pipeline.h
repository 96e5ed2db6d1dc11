// The pipeline: a RecordSource (files, Kafka, the webhook journal) -> envelopes, parser ->
// detector -> findings, aggregated by id and written to the store with the detector's state and
// the source's positions in one checkpoint. One pipeline for every source and any number of
// workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "vigil/app/config.h"
#include "vigil/core/finding.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/metrics.h"
#include "vigil/core/state_store.h"
#include "vigil/core/status.h"
#include "vigil/detect/detector.h"
#include "vigil/detect/stateful_detector.h"
#include "vigil/ingest/record_source.h"

namespace vigil::ingest {
class KafkaStateChangelog;
}

namespace vigil::app {

struct ReplayReport {
  uint64_t records = 0;             // top-level records read (lines, array elements, documents)
  uint64_t events = 0;              // audit events parsed and evaluated
  uint64_t malformed = 0;           // rejected records/events (each reported in `errors`)
  uint64_t skipped = 0;             // well-formed records that are not audit events
  uint64_t fields_dropped = 0;      // wrong-typed fields ignored inside good events
  uint64_t bytes = 0;               // bytes read after decompression
  double seconds = 0;               // wall time of the run
  std::vector<std::string> errors;  // "file:line: reason", at most Config::max_errors_printed
  uint64_t errors_total = 0;
  std::vector<Finding> findings;    // aggregated by id, ordered by first_seen; at most
                                    // Config::max_findings_shown
  uint64_t findings_not_shown = 0;  // raised after that cap (stored with a store, not kept)
  uint64_t duplicates = 0;          // events already processed (same cluster, auditID, stage)
  uint64_t late = 0;                // behind the watermark: single-event rules only
  uint64_t checkpoints = 0;
  uint64_t dead_letters = 0;    // records kept in the dead-letter store
  uint64_t resumed_files = 0;   // files read from a stored position instead of the start
  int workers = 1;              // threads that parsed and evaluated (1: the calling one)
  detect::StatefulStats state;  // the stateful detector's counters (zero without one)
};

class Pipeline {
 public:
  // `detector` may be null: a parse-only run (for measuring ingest alone). `store` may be null
  // (findings are only returned). `metrics` may be null. `state` (may be null) is where a
  // StatefulDetector's state lives: with it, every checkpoint writes findings, detector state,
  // the dedup set, dead letters and the source's positions in one StateStore::Commit (the
  // findings go to `store` through it when both are the same RocksDB store), and sources resume
  // from the stored positions. With Config::workers > 1 and a detector that can be split
  // (Detector::NewWorkerEngine), that many threads decode and evaluate while the calling thread
  // applies their results in input order: the outcome is the same as with one.
  Pipeline(const Config& config, detect::DetectorPtr detector, FindingStore* store,
           PipelineMetrics* metrics, StateStore* state = nullptr);
  ~Pipeline();

  // Runs `source` until it ends (kEnd), fails, or `cancel` is set (the source is then stopped:
  // what it already handed over is applied and checkpointed, and Run returns Unavailable).
  // Checkpoints are taken every Config::checkpoint_events events, when memory asks for one, and
  // at least every Config::checkpoint_interval_ms of wall time while anything changed. Bad
  // records are counted, reported and dead-lettered, never fatal; Run fails when the source or
  // the store fails, or when a worker throws.
  Result<ReplayReport> Run(ingest::RecordSource* source, const std::atomic<bool>* cancel = nullptr);

  // Files (plain, .gz, directories) in order through a FileRecordSource of Config::cluster,
  // resumed from the store when Config::resume. Fails when a path does not exist.
  Result<ReplayReport> Run(const std::vector<std::string>& paths,
                           const std::atomic<bool>* cancel = nullptr);

  // Every finding a checkpoint writes (new or updated, merged with what was stored; value
  // FindingToJson, key its id) and/or every dead letter (DeadLetterToJson, key its origin) also
  // goes into the store's outbox (core/outbox.h), in the same atomic write, for an OutboxRelay
  // to send to Kafka: a crash after the checkpoint cannot lose one. `on_durable` (may be empty)
  // is called on the pipeline thread after each durable checkpoint that added to the outbox.
  // Needs `state` and `store` to be one store (one write); Run fails with FailedPrecondition
  // otherwise. Set before Run.
  struct OutboxChannels {
    bool findings = false;
    bool dead_letters = false;
    // Falco alerts (FindingToFalcoJson, channel kOutboxFalco) of the new or updated findings at
    // or above falco_min_severity that are not suppressed, for a FalcoSink.
    bool falco = false;
    Severity falco_min_severity = Severity::kInfo;
    std::string hostname;  // the alerts' hostname
  };
  void WriteOutbox(OutboxChannels channels, std::function<void()> on_durable) {
    outbox_ = channels;
    outbox_durable_ = std::move(on_durable);
  }

  // Scale-out: every checkpoint's state and findings of Kafka-fed clusters also go
  // to `changelog` (and its findings topic), acknowledged before the store commits; a kRestored
  // poll makes the pipeline forget the restored clusters' cached state. Needs `state`. Set
  // before Run; `changelog` must outlive it.
  void WriteChangelog(ingest::KafkaStateChangelog* changelog) { changelog_ = changelog; }

 private:
  class Runner;

  Config config_;
  detect::DetectorPtr detector_;
  detect::StatefulDetector* stateful_ = nullptr;  // detector_, when it is one
  FindingStore* store_;
  PipelineMetrics* metrics_;
  StateStore* state_;
  OutboxChannels outbox_;
  std::function<void()> outbox_durable_;
  ingest::KafkaStateChangelog* changelog_ = nullptr;
};

// The stateful detection options a config asks for.
detect::StatefulOptions StatefulOptionsFrom(const Config& config);

// Merges `f` into `into` (same id): widens first/last seen, adds new evidence (bounded), and adds
// f.count unless every evidence id of `f` is already in `into` (the same event again), so
// re-reading an event never inflates the count. `into` keeps its own status, severity and
// message (the first occurrence describes it).
void MergeFinding(const Finding& f, Finding* into);

}  // namespace vigil::app

// The replay pipeline: files -> ingest (envelopes, parser) -> detector -> findings, aggregated by
// id and written to the finding store in batches.
#pragma once

#include <atomic>
#include <cstdint>
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

namespace vigil::ingest {
class FileSource;
struct FileSourceStats;
}  // namespace vigil::ingest

namespace vigil::app {

struct ReplayReport {
  uint64_t records = 0;             // top-level records read (lines, array elements, documents)
  uint64_t events = 0;              // audit events parsed and evaluated
  uint64_t malformed = 0;           // rejected records/events (each reported in `errors`)
  uint64_t skipped = 0;             // well-formed records that are not audit events
  uint64_t fields_dropped = 0;      // wrong-typed fields ignored inside good events
  uint64_t bytes = 0;               // bytes read after decompression
  double seconds = 0;               // wall time of the replay
  std::vector<std::string> errors;  // "file:line: reason", at most Config::max_errors_printed
  uint64_t errors_total = 0;
  std::vector<Finding> findings;    // aggregated by id, ordered by first_seen; at most
                                    // Config::max_findings_shown
  uint64_t findings_not_shown = 0;  // raised after that cap (stored with a store, not kept)
  uint64_t duplicates = 0;          // events already processed (same cluster, auditID, stage)
  uint64_t late = 0;                // behind the watermark: single-event rules only
  uint64_t checkpoints = 0;
  uint64_t resumed_files = 0;   // files read from a stored position instead of the start
  int workers = 1;              // threads that parsed and evaluated (1: the calling one)
  detect::StatefulStats state;  // the stateful detector's counters (zero without one)
};

class Committer;  // commits checkpoints on a thread of its own (pipeline.cc)

class ReplayPipeline {
 public:
  // `detector` may be null: a parse-only run (for measuring ingest alone). `store` may be null
  // (findings are only returned). `metrics` may be null. `state` (may be null) is where a
  // StatefulDetector's state lives: with it, every checkpoint writes findings, detector state,
  // the dedup set and the file positions in one StateStore::Commit (the findings go to `store`
  // through it when both are the same RocksDB store), and files are resumed from the stored
  // positions. With Config::workers > 1 and a detector that can be split
  // (Detector::NewWorkerEngine), that many threads decode and evaluate while the calling thread
  // reads and applies their results in input order: the outcome is the same as with one.
  ReplayPipeline(const Config& config, detect::DetectorPtr detector, FindingStore* store,
                 PipelineMetrics* metrics, StateStore* state = nullptr);

  // Reads every path (files, .gz, directories) in order. Fails only when a path does not exist
  // or the store cannot be written; bad records are counted and reported, never fatal.
  // `cancel` (optional): set it to stop early; Run then returns Unavailable.
  Result<ReplayReport> Run(const std::vector<std::string>& paths,
                           const std::atomic<bool>* cancel = nullptr);

 private:
  class Session;
  // Run with worker threads, one per engine (see pipeline.cc).
  Status RunParallel(const std::vector<std::string>& paths, ingest::FileSource* source,
                     std::vector<std::unique_ptr<detect::RuleEngine>>* engines, Session* session,
                     ingest::FileSourceStats* stats);
  // The meta key of a file's position: "pos" SEP its absolute path.
  std::string PositionKey(std::string_view path) const;
  // Writes `pending` (emptied), merged with what is stored under the same ids, with the
  // detector's state and `positions` (meta entries) in one checkpoint.
  // With a committer, the write runs on its thread: this waits for the previous one first, and
  // returns its error if it failed.
  Status Checkpoint(std::unordered_map<std::string, Finding>* pending,
                    std::vector<std::pair<std::string, std::string>>* positions,
                    Committer* committer);
  // Appends to *batch each pending finding merged with its stored version (read-modify-write).
  Status MergeWithStored(std::unordered_map<std::string, Finding>* pending,
                         std::vector<Finding>* batch);

  Config config_;
  detect::DetectorPtr detector_;
  detect::StatefulDetector* stateful_ = nullptr;  // detector_, when it is one
  FindingStore* store_;
  PipelineMetrics* metrics_;
  StateStore* state_;
};

// The stateful detection options a config asks for.
detect::StatefulOptions StatefulOptionsFrom(const Config& config);

// Merges `f` into `into` (same id): widens first/last seen, adds new evidence (bounded), and adds
// f.count unless every evidence id of `f` is already in `into` (the same event again), so
// re-reading an event never inflates the count. `into` keeps its own status, severity and
// message (the first occurrence describes it).
void MergeFinding(const Finding& f, Finding* into);

}  // namespace vigil::app

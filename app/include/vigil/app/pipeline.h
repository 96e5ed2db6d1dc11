// The replay pipeline: files -> ingest (envelopes, parser) -> detector -> findings, aggregated by
// id and written to the finding store in batches.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "vigil/app/config.h"
#include "vigil/core/finding.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/metrics.h"
#include "vigil/core/status.h"
#include "vigil/detect/detector.h"

namespace vigil::app {

struct ReplayReport {
  uint64_t records = 0;         // top-level records read (lines, array elements, documents)
  uint64_t events = 0;          // audit events parsed and evaluated
  uint64_t malformed = 0;       // rejected records/events (each reported in `errors`)
  uint64_t skipped = 0;         // well-formed records that are not audit events
  uint64_t fields_dropped = 0;  // wrong-typed fields ignored inside good events
  uint64_t bytes = 0;           // bytes read after decompression
  double seconds = 0;           // wall time of the replay
  std::vector<std::string> errors;  // "file:line: reason", at most Config::max_errors_printed
  uint64_t errors_total = 0;
  std::vector<Finding> findings;    // aggregated by id, ordered by first_seen; at most
                                    // Config::max_findings_shown
  uint64_t findings_not_shown = 0;  // raised after that cap (stored with a store, not kept)
};

class ReplayPipeline {
 public:
  // `detector` may be null: a parse-only run (for measuring ingest alone). `store` may be null
  // (findings are only returned). `metrics` may be null.
  ReplayPipeline(const Config& config, detect::DetectorPtr detector, FindingStore* store,
                 PipelineMetrics* metrics);

  // Reads every path (files, .gz, directories) in order. Fails only when a path does not exist
  // or the store cannot be written; bad records are counted and reported, never fatal.
  // `cancel` (optional): set it to stop early; Run then returns Unavailable.
  Result<ReplayReport> Run(const std::vector<std::string>& paths,
                           const std::atomic<bool>* cancel = nullptr);

 private:
  // Writes `pending` (emptied) to the store, merged with what is stored under the same ids.
  Status Flush(std::unordered_map<std::string, Finding>* pending);

  Config config_;
  detect::DetectorPtr detector_;
  FindingStore* store_;
  PipelineMetrics* metrics_;
};

// Merges `f` into `into` (same id): widens first/last seen, adds new evidence (bounded), and
// counts only evidence not seen before, so re-reading an event never inflates the count.
// `into` keeps its own status, severity and message (the first occurrence describes it).
void MergeFinding(const Finding& f, Finding* into);

}  // namespace vigil::app

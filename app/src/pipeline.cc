// The replay pipeline. Single-threaded: FileSource -> Detector -> aggregation -> store.
#include "vigil/app/pipeline.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "vigil/ingest/file_source.h"

namespace vigil::app {
namespace {

// Findings buffered before a store write. Findings are rare next to events, so this bounds
// memory and the work lost to a crash without costing throughput.
constexpr size_t kFlushEvery = 1000;

}  // namespace

void MergeFinding(const Finding& f, Finding* into) {
  into->first_seen_us = std::min(into->first_seen_us, f.first_seen_us);
  into->last_seen_us = std::max(into->last_seen_us, f.last_seen_us);
  for (const std::string& e : f.evidence) {
    if (std::find(into->evidence.begin(), into->evidence.end(), e) != into->evidence.end()) {
      continue;  // the same event again (another stage, a redelivery): not a new occurrence
    }
    ++into->count;
    if (into->evidence.size() < Finding::kMaxEvidence) into->evidence.push_back(e);
  }
}

ReplayPipeline::ReplayPipeline(const Config& config, detect::DetectorPtr detector,
                               FindingStore* store, PipelineMetrics* metrics)
    : config_(config), detector_(std::move(detector)), store_(store), metrics_(metrics) {}

Status ReplayPipeline::Flush(std::vector<Finding>* pending) {
  if (store_ == nullptr || pending->empty()) return Status::Ok();
  Status s = store_->Put(*pending);
  pending->clear();
  return s.WithContext("writing findings");
}

Result<ReplayReport> ReplayPipeline::Run(const std::vector<std::string>& paths,
                                         const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  ReplayReport report;

  ingest::FileSourceOptions options;
  options.envelope.cluster = config_.cluster;
  options.cancel = cancel;
  options.envelope.parser.max_event_bytes = config_.max_event_bytes;
  options.envelope.max_record_bytes = config_.max_record_bytes;
  ingest::FileSource source(options);

  std::unordered_map<std::string, size_t> index;  // finding id -> position in report.findings
  std::vector<Finding> fresh;                     // detector output for one event
  std::vector<Finding> pending;                   // changed findings not yet in the store
  std::vector<size_t> dirty;                      // report.findings positions changed
  Status store_status;

  auto on_event = [&](const AuditEvent& event, const ingest::SourcePosition&) {
    fresh.clear();
    detector_->Evaluate(event, &fresh);
    for (Finding& f : fresh) {
      auto [it, inserted] = index.try_emplace(f.id, report.findings.size());
      if (inserted) {
        if (metrics_) PipelineMetrics::Inc(metrics_->findings);
        report.findings.push_back(std::move(f));
      } else {
        MergeFinding(f, &report.findings[it->second]);
      }
      dirty.push_back(it->second);
    }
    if (dirty.size() >= kFlushEvery && store_status.ok()) {
      for (size_t i : dirty) pending.push_back(report.findings[i]);
      dirty.clear();
      store_status = Flush(&pending);
    }
  };
  auto on_error = [&](const ingest::IngestError& e) {
    ++report.errors_total;
    if (report.errors.size() < config_.max_errors_printed) {
      report.errors.push_back(e.status.message());
    }
  };

  Status s = source.ReadPaths(paths, on_event, on_error);
  const ingest::FileSourceStats& st = source.stats();
  report.records = st.records;
  report.events = st.events;
  report.malformed = st.malformed + st.oversize;
  report.skipped = st.skipped;
  report.fields_dropped = st.dropped_fields;
  report.bytes = st.bytes_read;
  if (metrics_) {
    PipelineMetrics::Inc(metrics_->events_read, st.records);
    PipelineMetrics::Inc(metrics_->events_parsed, st.events);
    PipelineMetrics::Inc(metrics_->events_malformed, st.malformed + st.oversize);
    PipelineMetrics::Inc(metrics_->events_skipped, st.skipped);
    PipelineMetrics::Inc(metrics_->bytes_read, st.bytes_read);
    PipelineMetrics::Inc(metrics_->fields_dropped, st.dropped_fields);
  }
  if (!s.ok()) return s;

  if (store_status.ok()) {
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    for (size_t i : dirty) pending.push_back(report.findings[i]);
    store_status = Flush(&pending);
  }
  if (!store_status.ok()) return store_status;

  std::sort(report.findings.begin(), report.findings.end(), [](const Finding& a, const Finding& b) {
    return a.first_seen_us != b.first_seen_us ? a.first_seen_us < b.first_seen_us : a.id < b.id;
  });
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace vigil::app

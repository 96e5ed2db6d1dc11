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
// Events between two updates of the live metrics.
constexpr uint64_t kPublishEvery = 1024;

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

Status ReplayPipeline::Flush(std::unordered_map<std::string, Finding>* pending) {
  if (store_ == nullptr || pending->empty()) {
    pending->clear();
    return Status::Ok();
  }
  // Read-modify-write against what is stored: a finding already known (an earlier run, another
  // file) keeps its status and first_seen and only gains new evidence, so replaying the same
  // log twice changes nothing.
  std::vector<Finding> batch;
  batch.reserve(pending->size());
  for (auto& [id, f] : *pending) {
    auto stored = store_->Get(id);
    if (stored.ok()) {
      Finding merged = std::move(stored).value();
      MergeFinding(f, &merged);
      batch.push_back(std::move(merged));
    } else if (stored.status().code() == StatusCode::kNotFound ||
               stored.status().code() == StatusCode::kCorruption) {
      batch.push_back(std::move(f));  // new, or a corrupt value that this write repairs
    } else {
      return stored.status().WithContext("reading finding " + id);
    }
  }
  pending->clear();
  return store_->Put(batch).WithContext("writing findings");
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

  std::unordered_map<std::string, size_t> shown;  // id -> position in report.findings
  std::unordered_map<std::string, Finding> pending;  // changed, not yet in the store
  std::vector<Finding> fresh;                        // detector output for one event
  Status store_status;

  // Live metrics: publish the source's counters as deltas, so /metrics moves during a replay.
  ingest::FileSourceStats published;
  auto publish = [&] {
    if (metrics_ == nullptr) return;
    const ingest::FileSourceStats& st = source.stats();
    PipelineMetrics::Inc(metrics_->events_read, st.records - published.records);
    PipelineMetrics::Inc(metrics_->events_parsed, st.events - published.events);
    PipelineMetrics::Inc(metrics_->events_malformed, (st.malformed + st.oversize) -
                                                         (published.malformed + published.oversize));
    PipelineMetrics::Inc(metrics_->events_skipped, st.skipped - published.skipped);
    PipelineMetrics::Inc(metrics_->bytes_read, st.bytes_read - published.bytes_read);
    PipelineMetrics::Inc(metrics_->fields_dropped, st.dropped_fields - published.dropped_fields);
    published = st;
  };

  uint64_t seen_events = 0;
  auto on_event = [&](const AuditEvent& event, const ingest::SourcePosition&) {
    if (++seen_events % kPublishEvery == 0) publish();
    if (!detector_) return;  // parse-only run
    fresh.clear();
    detector_->Evaluate(event, &fresh);
    for (Finding& f : fresh) {
      auto it = shown.find(f.id);
      if (metrics_ && it == shown.end() && !pending.count(f.id)) {
        PipelineMetrics::Inc(metrics_->findings);
      }
      if (store_ != nullptr) {
        auto [p, inserted] = pending.try_emplace(f.id, f);
        if (!inserted) MergeFinding(f, &p->second);
      }
      if (it != shown.end()) {
        MergeFinding(f, &report.findings[it->second]);
        continue;
      }
      if (report.findings.size() < config_.max_findings_shown) {
        shown.emplace(f.id, report.findings.size());
        report.findings.push_back(std::move(f));
      } else {
        ++report.findings_not_shown;  // still stored (with --db), not kept in memory
      }
    }
    if (pending.size() >= kFlushEvery && store_status.ok()) store_status = Flush(&pending);
  };
  auto on_error = [&](const ingest::IngestError& e) {
    ++report.errors_total;
    if (report.errors.size() < config_.max_errors_printed) {
      report.errors.push_back(e.status.message());
    }
  };

  Status s = source.ReadPaths(paths, on_event, on_error);
  publish();
  const ingest::FileSourceStats& st = source.stats();
  report.records = st.records;
  report.events = st.events;
  report.malformed = st.malformed + st.oversize;
  report.skipped = st.skipped;
  report.fields_dropped = st.dropped_fields;
  report.bytes = st.bytes_read;

  // Whatever was detected is stored, even when reading was cancelled or a path was missing.
  if (store_status.ok()) store_status = Flush(&pending);
  if (!s.ok()) return s;
  if (!store_status.ok()) return store_status;

  std::sort(report.findings.begin(), report.findings.end(), [](const Finding& a, const Finding& b) {
    return a.first_seen_us != b.first_seen_us ? a.first_seen_us < b.first_seen_us : a.id < b.id;
  });
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace vigil::app

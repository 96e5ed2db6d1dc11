// The replay pipeline. Single-threaded: FileSource -> Detector -> aggregation -> store.
#include "vigil/app/pipeline.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "vigil/ingest/file_source.h"

namespace vigil::app {
namespace {

// Findings buffered before a checkpoint. Findings are rare next to events, so this bounds
// memory and the work lost to a crash without costing throughput.
constexpr size_t kFlushEvery = 1000;
// Events between two updates of the live metrics.
constexpr uint64_t kPublishEvery = 1024;
// Meta key prefix of file positions: "pos" SEP absolute path.
constexpr char kPositionPrefix[] = "pos\x1f";

// "<fingerprint> <byte offset> <line>"
std::string EncodePosition(std::string_view fingerprint, const ingest::ResumePoint& rp) {
  return std::string(fingerprint) + " " + std::to_string(rp.byte_offset) + " " +
         std::to_string(rp.line);
}

bool DecodePosition(std::string_view text, std::string* fingerprint, ingest::ResumePoint* rp) {
  size_t a = text.find(' ');
  size_t b = a == std::string_view::npos ? a : text.find(' ', a + 1);
  if (b == std::string_view::npos) return false;
  fingerprint->assign(text.substr(0, a));
  auto num = [](std::string_view s, uint64_t* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  return num(text.substr(a + 1, b - a - 1), &rp->byte_offset) && num(text.substr(b + 1), &rp->line);
}

}  // namespace

// Runs StateStore::Commit on its own thread, one checkpoint at a time, so that RocksDB's WAL
// and memtable work overlaps with parsing and detecting the next events (it was a third of the
// time of a stateful replay when done inline).
class Committer {
 public:
  explicit Committer(StateStore* store) : store_(store), thread_([this] { Loop(); }) {}
  ~Committer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();  // finishes a commit in flight first
  }

  // Waits until no commit is in flight; returns the status of the last one.
  Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    return last_;
  }
  // Requires Wait() to have returned since the last Submit.
  void Submit(StateCheckpoint cp) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cp_ = std::move(cp);
      busy_ = true;
    }
    cv_.notify_all();
  }

 private:
  void Loop() {
    pthread_setname_np(pthread_self(), "vigil-commit");
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || busy_; });
      if (busy_) {
        StateCheckpoint cp = std::move(cp_);
        lock.unlock();
        Status s = store_->Commit(cp);
        lock.lock();
        last_ = std::move(s);
        busy_ = false;
        cv_.notify_all();
        continue;
      }
      return;  // stop_ and nothing in flight
    }
  }

  StateStore* store_;
  std::mutex mu_;
  std::condition_variable cv_;
  StateCheckpoint cp_;  // guarded by mu_
  bool busy_ = false;   // guarded by mu_
  bool stop_ = false;   // guarded by mu_
  Status last_;         // guarded by mu_
  std::thread thread_;  // last: starts after the members it uses
};

detect::StatefulOptions StatefulOptionsFrom(const Config& config) {
  detect::StatefulOptions o;
  o.allowed_lateness_us = config.allowed_lateness_us;
  o.dedup_retention_us = config.dedup_retention_us;
  o.learning_override_us = config.learning_override_us;
  o.cache_bytes = config.state_cache_bytes;
  return o;
}

void MergeFinding(const Finding& f, Finding* into) {
  into->first_seen_us = std::min(into->first_seen_us, f.first_seen_us);
  into->last_seen_us = std::max(into->last_seen_us, f.last_seen_us);
  bool any_new = f.evidence.empty();
  for (const std::string& e : f.evidence) {
    if (std::find(into->evidence.begin(), into->evidence.end(), e) != into->evidence.end()) {
      continue;  // the same event again (another stage, a redelivery): not a new occurrence
    }
    any_new = true;
    if (into->evidence.size() < Finding::kMaxEvidence) into->evidence.push_back(e);
  }
  if (any_new) into->count += f.count;
}

ReplayPipeline::ReplayPipeline(const Config& config, detect::DetectorPtr detector,
                               FindingStore* store, PipelineMetrics* metrics, StateStore* state)
    : config_(config),
      detector_(std::move(detector)),
      stateful_(detector_ ? detector_->stateful() : nullptr),
      store_(store),
      metrics_(metrics),
      state_(state) {}

Status ReplayPipeline::Checkpoint(std::unordered_map<std::string, Finding>* pending,
                                  std::vector<std::pair<std::string, std::string>>* positions,
                                  Committer* committer) {
  if (committer != nullptr) {
    // The previous checkpoint must be in the store before findings are merged with it and
    // before the detector may evict what it wrote.
    RETURN_IF_ERROR(committer->Wait().WithContext("writing checkpoint"));
    if (stateful_ != nullptr) stateful_->Committed();
  }
  if (stateful_ != nullptr && state_ != nullptr) {
    RETURN_IF_ERROR(stateful_->status());  // never checkpoint state built on a failed read
  }
  StateCheckpoint cp;
  if (store_ != nullptr) {
    RETURN_IF_ERROR(MergeWithStored(pending, &cp.findings));
  }
  pending->clear();
  if (state_ == nullptr) {
    return store_ == nullptr ? Status::Ok() : store_->Put(cp.findings).WithContext("writing findings");
  }
  if (store_ != nullptr &&
      dynamic_cast<const void*>(store_) != dynamic_cast<const void*>(state_)) {
    // Separate finding and state stores: the findings cannot share the state's write.
    RETURN_IF_ERROR(store_->Put(cp.findings).WithContext("writing findings"));
    cp.findings.clear();
  }
  if (stateful_ != nullptr) stateful_->Checkpoint(&cp);
  for (auto& p : *positions) cp.meta.push_back(std::move(p));
  positions->clear();
  if (committer != nullptr) {
    committer->Submit(std::move(cp));
    return Status::Ok();
  }
  Status s = state_->Commit(cp).WithContext("writing checkpoint");
  if (s.ok() && stateful_ != nullptr) stateful_->Committed();
  return s;
}

Status ReplayPipeline::MergeWithStored(std::unordered_map<std::string, Finding>* pending,
                                       std::vector<Finding>* batch) {
  // Read-modify-write against what is stored: a finding already known (an earlier run, another
  // file) keeps its status and first_seen and only gains new evidence, so replaying the same
  // log twice changes nothing.
  batch->reserve(pending->size());
  for (auto& [id, f] : *pending) {
    auto stored = store_->Get(id);
    if (stored.ok()) {
      Finding merged = std::move(stored).value();
      MergeFinding(f, &merged);
      batch->push_back(std::move(merged));
    } else if (stored.status().code() == StatusCode::kNotFound ||
               stored.status().code() == StatusCode::kCorruption) {
      if (metrics_ != nullptr && stored.status().code() == StatusCode::kNotFound) {
        PipelineMetrics::Inc(metrics_->findings);
      }
      batch->push_back(std::move(f));  // new, or a corrupt value that this write repairs
    } else {
      return stored.status().WithContext("reading finding " + id);
    }
  }
  return Status::Ok();
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
  // Files are resumed where the last checkpoint left them (same content: same fingerprint).
  // Events re-read at that record are recognised by the dedup set.
  auto position_key = [](std::string_view path) {
    std::error_code ec;
    std::string abs = std::filesystem::absolute(std::string(path), ec).lexically_normal().string();
    return std::string(kPositionPrefix) + (ec ? std::string(path) : abs);
  };
  if (state_ != nullptr && config_.resume) {
    options.resume = [&](std::string_view path,
                         std::string_view fingerprint) -> std::optional<ingest::ResumePoint> {
      auto stored = state_->GetMeta(position_key(path));
      if (!stored.ok() || !stored->has_value()) return std::nullopt;
      ingest::ResumePoint rp;
      std::string fp;
      if (!DecodePosition(**stored, &fp, &rp) || fp != fingerprint) return std::nullopt;
      return rp;
    };
  }
  ingest::FileSource source(options);

  std::unordered_map<std::string, size_t> shown;  // id -> position in report.findings
  std::unordered_map<std::string, Finding> pending;  // changed, not yet in the store
  std::vector<Finding> fresh;                        // detector output for one event
  std::vector<std::pair<std::string, std::string>> positions;  // for the next checkpoint
  Status store_status;
  uint64_t since_checkpoint = 0;
  std::unique_ptr<Committer> committer;
  if (state_ != nullptr) committer = std::make_unique<Committer>(state_);
  auto checkpoint = [&] {
    if (!store_status.ok()) return;
    store_status = Checkpoint(&pending, &positions, committer.get());
    ++report.checkpoints;
    since_checkpoint = 0;
  };

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
  std::string last_file;
  ingest::SourcePosition last_pos;
  std::string last_fingerprint;
  auto note_position = [&] {
    if (last_file.empty() || state_ == nullptr) return;
    ingest::ResumePoint rp{last_pos.byte_offset, last_pos.line};
    positions.emplace_back(position_key(last_file), EncodePosition(last_fingerprint, rp));
  };
  auto on_event = [&](const AuditEvent& event, const ingest::SourcePosition& pos) {
    if (state_ != nullptr) {
      if (pos.file != last_file) {
        note_position();  // the file before is done up to its last record
        last_file.assign(pos.file);
        last_fingerprint.assign(pos.fingerprint);
      }
      last_pos = pos;
    }
    if (++seen_events % kPublishEvery == 0) publish();
    if (seen_events == config_.test_kill_after_events) raise(SIGKILL);
    if (!detector_) return;  // parse-only run
    fresh.clear();
    detector_->Evaluate(event, &fresh);
    for (Finding& f : fresh) {
      auto it = shown.find(f.id);
      // Distinct findings: with a store they are counted when first written (MergeWithStored).
      if (metrics_ && store_ == nullptr && it == shown.end()) {
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
    ++since_checkpoint;
    if (pending.size() >= kFlushEvery || since_checkpoint >= config_.checkpoint_events ||
        (stateful_ != nullptr && stateful_->checkpoint_due())) {
      note_position();
      checkpoint();
    }
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
  note_position();
  checkpoint();
  if (committer != nullptr) {
    Status last = committer->Wait().WithContext("writing checkpoint");
    if (store_status.ok()) store_status = last;
    if (last.ok() && stateful_ != nullptr) stateful_->Committed();
  }
  report.resumed_files = source.stats().resumed_files;
  if (stateful_ != nullptr) {
    report.duplicates = stateful_->stats().duplicates;
    report.late = stateful_->stats().late;
    report.state = stateful_->stats();
  }
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

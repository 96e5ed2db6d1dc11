// The replay pipeline: FileSource -> Detector -> aggregation -> store. With one worker, one
// thread does it all; with more, workers decode and evaluate batches of records while the
// calling thread reads, and applies their results in input order (see RunParallel).
#include "vigil/app/pipeline.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "vigil/ingest/file_source.h"
#include "vigil/ingest/padded_buffer.h"

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

ingest::EnvelopeOptions EnvelopeOptionsFrom(const Config& config) {
  ingest::EnvelopeOptions o;
  o.cluster = config.cluster;
  o.parser.max_event_bytes = config.max_event_bytes;
  o.max_record_bytes = config.max_record_bytes;
  return o;
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
    return store_ == nullptr ? Status::Ok()
                             : store_->Put(cp.findings).WithContext("writing findings");
  }
  if (store_ != nullptr && dynamic_cast<const void*>(store_) != dynamic_cast<const void*>(state_)) {
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

// One run's aggregation, on the thread that sees events in input order: file positions, the
// findings (shown and pending for the store), checkpoints, live metrics and errors.
class ReplayPipeline::Session {
 public:
  Session(ReplayPipeline* p, ReplayReport* report) : p_(p), report_(report) {
    if (p_->state_ != nullptr) committer_ = std::make_unique<Committer>(p_->state_);
  }

  // The record of the next event (positions are kept only with a state store).
  void At(std::string_view file, std::string_view fingerprint, uint64_t line, uint64_t offset) {
    if (p_->state_ == nullptr) return;
    if (file != last_file_) {
      NotePosition();  // the file before is done up to its last record
      last_file_.assign(file);
      last_fingerprint_.assign(fingerprint);
    }
    last_line_ = line;
    last_offset_ = offset;
  }
  // Every event, before its findings; `stats` are the ingest counters so far.
  void CountEvent(const ingest::FileSourceStats& stats) {
    if (++seen_events_ % kPublishEvery == 0) Publish(stats);
    if (seen_events_ == p_->config_.test_kill_after_events) raise(SIGKILL);
  }
  // An evaluated event's findings (emptied).
  void Take(std::vector<Finding>* fresh) {
    const Config& config = p_->config_;
    for (Finding& f : *fresh) {
      auto it = shown_.find(f.id);
      // Distinct findings: with a store they are counted when first written (MergeWithStored).
      if (p_->metrics_ && p_->store_ == nullptr && it == shown_.end()) {
        PipelineMetrics::Inc(p_->metrics_->findings);
      }
      if (p_->store_ != nullptr) {
        auto [pos, inserted] = pending_.try_emplace(f.id, f);
        if (!inserted) MergeFinding(f, &pos->second);
      }
      if (it != shown_.end()) {
        MergeFinding(f, &report_->findings[it->second]);
        continue;
      }
      if (report_->findings.size() < config.max_findings_shown) {
        shown_.emplace(f.id, report_->findings.size());
        report_->findings.push_back(std::move(f));
      } else {
        ++report_->findings_not_shown;  // still stored (with --db), not kept in memory
      }
    }
    fresh->clear();
  }
  // After each evaluated event: checkpoints when one is due.
  void AfterEvent() {
    ++since_checkpoint_;
    if (pending_.size() >= kFlushEvery || since_checkpoint_ >= p_->config_.checkpoint_events ||
        (p_->stateful_ != nullptr && p_->stateful_->checkpoint_due())) {
      NotePosition();
      Checkpoint();
    }
  }
  void Error(const std::string& message) {
    ++report_->errors_total;
    if (report_->errors.size() < p_->config_.max_errors_printed) {
      report_->errors.push_back(message);
    }
  }
  // Live metrics: the ingest counters as deltas, so /metrics moves during a replay.
  void Publish(const ingest::FileSourceStats& st) {
    PipelineMetrics* m = p_->metrics_;
    if (m == nullptr) return;
    const ingest::FileSourceStats& was = published_;
    PipelineMetrics::Inc(m->events_read, st.records - was.records);
    PipelineMetrics::Inc(m->events_parsed, st.events - was.events);
    PipelineMetrics::Inc(m->events_malformed,
                         (st.malformed + st.oversize) - (was.malformed + was.oversize));
    PipelineMetrics::Inc(m->events_skipped, st.skipped - was.skipped);
    PipelineMetrics::Inc(m->bytes_read, st.bytes_read - was.bytes_read);
    PipelineMetrics::Inc(m->fields_dropped, st.dropped_fields - was.dropped_fields);
    published_ = st;
  }
  // The last checkpoint, then waits for it. Whatever was detected is stored, even when reading
  // was cancelled or a path was missing.
  Status Finish() {
    NotePosition();
    Checkpoint();
    if (committer_ != nullptr) {
      Status last = committer_->Wait().WithContext("writing checkpoint");
      if (store_status_.ok()) store_status_ = last;
      if (last.ok() && p_->stateful_ != nullptr) p_->stateful_->Committed();
    }
    return store_status_;
  }

 private:
  void NotePosition() {
    if (last_file_.empty() || p_->state_ == nullptr) return;
    positions_.emplace_back(
        p_->PositionKey(last_file_),
        EncodePosition(last_fingerprint_, ingest::ResumePoint{last_offset_, last_line_}));
  }
  void Checkpoint() {
    if (!store_status_.ok()) return;
    store_status_ = p_->Checkpoint(&pending_, &positions_, committer_.get());
    ++report_->checkpoints;
    since_checkpoint_ = 0;
  }

  ReplayPipeline* p_;
  ReplayReport* report_;
  std::unordered_map<std::string, size_t> shown_;               // id -> position in report.findings
  std::unordered_map<std::string, Finding> pending_;            // changed, not yet in the store
  std::vector<std::pair<std::string, std::string>> positions_;  // for the next checkpoint
  Status store_status_;
  uint64_t since_checkpoint_ = 0;
  uint64_t seen_events_ = 0;
  std::unique_ptr<Committer> committer_;
  ingest::FileSourceStats published_;
  std::string last_file_;
  std::string last_fingerprint_;
  uint64_t last_line_ = 0;
  uint64_t last_offset_ = 0;
};

std::string ReplayPipeline::PositionKey(std::string_view path) const {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(std::string(path), ec).lexically_normal().string();
  return std::string(kPositionPrefix) + (ec ? std::string(path) : abs);
}

Result<ReplayReport> ReplayPipeline::Run(const std::vector<std::string>& paths,
                                         const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  ReplayReport report;

  ingest::FileSourceOptions options;
  options.envelope = EnvelopeOptionsFrom(config_);
  options.cancel = cancel;
  // Files are resumed where the last checkpoint left them (same content: same fingerprint).
  // Events re-read at that record are recognised by the dedup set.
  if (state_ != nullptr && config_.resume) {
    options.resume = [&](std::string_view path,
                         std::string_view fingerprint) -> std::optional<ingest::ResumePoint> {
      auto stored = state_->GetMeta(PositionKey(path));
      if (!stored.ok() || !stored->has_value()) return std::nullopt;
      ingest::ResumePoint rp;
      std::string fp;
      if (!DecodePosition(**stored, &fp, &rp) || fp != fingerprint) return std::nullopt;
      return rp;
    };
  }
  ingest::FileSource source(options);
  Session session(this, &report);

  // Worker engines, when the detector can be split and more than one worker is asked for: all
  // clones of one engine, so that every worker runs the same rules (a reload may come between).
  // One more clone remakes, on this thread, the findings of the stateful hits that raise one.
  std::vector<std::unique_ptr<detect::RuleEngine>> engines;
  const int workers = EffectiveWorkers(config_.workers);
  if (detector_ && workers > 1) {
    if (auto first = detector_->NewWorkerEngine()) {
      for (int i = 0; i < workers; ++i) engines.push_back(first->Clone());
      engines.push_back(std::move(first));
    }
  }
  report.workers = engines.empty() ? 1 : static_cast<int>(engines.size()) - 1;

  ingest::FileSourceStats stats;  // the source's counters plus the workers' decoding counters
  Status s;
  if (!engines.empty()) {
    s = RunParallel(paths, &source, &engines, &session, &stats);
  } else {
    std::vector<Finding> fresh;  // detector output for one event
    auto on_event = [&](const AuditEvent& event, const ingest::SourcePosition& pos) {
      session.At(pos.file, pos.fingerprint, pos.line, pos.byte_offset);
      session.CountEvent(source.stats());
      if (!detector_) return;  // parse-only run
      detector_->Evaluate(event, &fresh);
      session.Take(&fresh);
      session.AfterEvent();
    };
    auto on_error = [&](const ingest::IngestError& e) { session.Error(e.status.message()); };
    s = source.ReadPaths(paths, on_event, on_error);
    stats = source.stats();
  }
  session.Publish(stats);
  report.records = stats.records;
  report.events = stats.events;
  report.malformed = stats.malformed + stats.oversize;
  report.skipped = stats.skipped;
  report.fields_dropped = stats.dropped_fields;
  report.bytes = stats.bytes_read;

  Status store_status = session.Finish();
  report.resumed_files = stats.resumed_files;
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
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

// ---- worker threads ---------------------------------------------------------------------------

namespace {

// Records go to the workers in batches of at most Config::batch_bytes (a bigger record goes
// alone) and batch_records records, at most 2 batches per worker in flight: memory stays
// bounded by that many batches (and a buffer that grew for a big record is not kept).

// A batch of records, read in order, and what a worker made of them.
struct Batch {
  struct Item {
    uint32_t file = 0;  // index into files
    uint64_t line = 0;
    uint64_t byte_offset = 0;
    size_t offset = 0;  // in bytes
    size_t len = 0;
    bool is_error = false;      // an error of the source (oversize record, bad file): message
    std::string message;        // the error of this item (source's, or the worker's decoding)
    uint32_t events_begin = 0;  // its events in `events`
    uint32_t events_end = 0;
  };
  struct Event {
    size_t cluster = 0, cluster_len = 0;    // in arena
    size_t audit_id = 0, audit_id_len = 0;  // in arena
    AuditStage stage = AuditStage::kUnknown;
    int64_t t = 0;
    uint32_t findings_begin = 0, findings_end = 0;
    uint32_t hits_begin = 0, hits_end = 0;
  };

  // Ready to be filled again. The worker output is cleared by the next worker to take the
  // batch (ClearOutput): freeing a batch's findings and hits is not left to the thread that
  // applies batches in order, which every batch waits for.
  void ClearInput(size_t max_bytes) {
    if (bytes.capacity() > 2 * max_bytes) bytes = ingest::PaddedBuffer();  // a big record's
    bytes.clear();
    files.clear();
    items.clear();
    failure.clear();
    done = false;
  }
  void ClearOutput() {
    events.clear();
    arena.clear();
    findings.clear();
    hits.clear();
    decoded = ingest::FileSourceStats();
  }

  ingest::PaddedBuffer bytes;                              // the records, back to back
  std::vector<std::pair<std::string, std::string>> files;  // path, fingerprint
  std::vector<Item> items;
  // Worker output.
  std::vector<Event> events;
  std::string arena;
  std::vector<Finding> findings;
  std::vector<detect::DeferredHit> hits;
  ingest::FileSourceStats decoded;  // events, malformed, skipped, dropped_fields
  std::string failure;              // what a worker threw (the batch is then not applied)
  bool done = false;                // guarded by the pool's mutex
};

// Makes the finding of a deferred hit by decoding its event again (the nth event of its record)
// and asking the engine for it: the finding the worker would have made, made only for the few
// hits that raise one.
class RemadeFinding final : public detect::DeferredFindingMaker {
 public:
  RemadeFinding(ingest::EnvelopeDecoder* decoder, detect::RuleEngine* engine, const Batch& batch,
                const Batch::Item& item, uint32_t nth)
      : decoder_(decoder), engine_(engine), batch_(batch), item_(item), nth_(nth) {}

  Finding Make(const detect::DeferredHit& hit) const override {
    Finding f;
    uint32_t i = 0;
    decoder_->Decode(batch_.bytes.data() + item_.offset, item_.len,
                     batch_.bytes.capacity() - item_.offset, [&](const AuditEvent& event) {
                       if (i++ == nth_) f = engine_->MakeFinding(hit.unit, event);
                     });
    return f;
  }

 private:
  ingest::EnvelopeDecoder* decoder_;
  detect::RuleEngine* engine_;
  const Batch& batch_;
  const Batch::Item& item_;
  uint32_t nth_;
};

}  // namespace

Status ReplayPipeline::RunParallel(const std::vector<std::string>& paths,
                                   ingest::FileSource* source,
                                   std::vector<std::unique_ptr<detect::RuleEngine>>* engines,
                                   Session* session, ingest::FileSourceStats* stats) {
  detect::RuleEngine& remaker = *engines->back();  // the last engine is this thread's
  const size_t workers = engines->size() - 1;
  const size_t max_in_flight = 2 * workers;
  const size_t batch_bytes = std::max<size_t>(config_.batch_bytes, 1);
  const size_t batch_records = std::max<size_t>(config_.batch_records, 1);
  std::mutex mu;
  std::condition_variable work_cv;  // a batch to work on, or stop
  std::condition_variable done_cv;  // a batch done
  std::deque<Batch*> todo;          // guarded by mu
  bool stop = false;                // guarded by mu
  const bool collect = stateful_ != nullptr;

  // Decodes and evaluates one batch (on a worker thread).
  auto process = [&](Batch* b, detect::RuleEngine* engine, ingest::EnvelopeDecoder& decoder) {
    b->ClearOutput();
    detect::HitCollector collector(*engine, &b->hits, &b->arena);
    for (Batch::Item& item : b->items) {
      item.events_begin = item.events_end = static_cast<uint32_t>(b->events.size());
      if (item.is_error) continue;
      const auto& [file, fingerprint] = b->files[item.file];
      ingest::SourcePosition pos{file, item.line, item.byte_offset, fingerprint};
      auto on_event = [&](const AuditEvent& event, const ingest::SourcePosition&) {
        Batch::Event& ev = b->events.emplace_back();
        ev.cluster = b->arena.size();
        ev.cluster_len = event.cluster.size();
        b->arena.append(event.cluster);
        ev.audit_id = b->arena.size();
        ev.audit_id_len = event.audit_id.size();
        b->arena.append(event.audit_id);
        ev.stage = event.stage;
        ev.t = event.EventTimeMicros();
        ev.findings_begin = static_cast<uint32_t>(b->findings.size());
        ev.hits_begin = static_cast<uint32_t>(b->hits.size());
        const bool feeds = collect && detect::StatefulDetector::FinalStage(event.stage);
        engine->Evaluate(event, &b->findings, feeds ? &collector : nullptr);
        ev.findings_end = static_cast<uint32_t>(b->findings.size());
        ev.hits_end = static_cast<uint32_t>(b->hits.size());
      };
      auto on_error = [&](const ingest::IngestError& e) { item.message = e.status.message(); };
      ingest::DecodeRecord(decoder, b->bytes.data() + item.offset, item.len,
                           b->bytes.capacity() - item.offset, pos, &b->decoded, on_event, on_error);
      item.events_end = static_cast<uint32_t>(b->events.size());
    }
  };
  auto work = [&](detect::RuleEngine* engine) {
    pthread_setname_np(pthread_self(), "vigil-worker");
    ingest::EnvelopeDecoder decoder(EnvelopeOptionsFrom(config_));
    while (true) {
      Batch* b = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu);
        work_cv.wait(lock, [&] { return stop || !todo.empty(); });
        if (todo.empty()) return;
        b = todo.front();
        todo.pop_front();
      }
      try {
        process(b, engine, decoder);
      } catch (const std::exception& e) {
        b->failure = e.what();
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        b->done = true;
      }
      done_cv.notify_all();
    }
  };
  std::deque<std::unique_ptr<Batch>> in_flight;  // in input order
  std::vector<std::unique_ptr<Batch>> spare;
  std::unique_ptr<Batch> filling = std::make_unique<Batch>();
  // The workers; stopped and joined on every way out, before the batches they may hold go.
  struct Pool {
    std::vector<std::thread> threads;
    std::function<void()> stop;
    ~Pool() {
      stop();
      for (std::thread& t : threads) t.join();
    }
  } pool;
  pool.stop = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    work_cv.notify_all();
  };
  pool.threads.reserve(workers);
  for (size_t i = 0; i < workers; ++i) pool.threads.emplace_back(work, (*engines)[i].get());
  ingest::EnvelopeDecoder redecoder(EnvelopeOptionsFrom(config_));
  Status failed;                    // a worker threw: nothing after that batch is applied
  ingest::FileSourceStats decoded;  // of the batches applied
  std::vector<Finding> fresh;
  auto combined = [&] {
    ingest::FileSourceStats st = source->stats();
    st.events += decoded.events;
    st.malformed += decoded.malformed;
    st.skipped += decoded.skipped;
    st.dropped_fields += decoded.dropped_fields;
    return st;
  };
  // Applies the oldest batch in flight, once done: in input order, as one thread would have.
  auto apply_oldest = [&] {
    std::unique_ptr<Batch> b = std::move(in_flight.front());
    in_flight.pop_front();
    {
      std::unique_lock<std::mutex> lock(mu);
      done_cv.wait(lock, [&] { return b->done; });
    }
    if (failed.ok() && !b->failure.empty()) {
      failed = Status::Internal("worker thread: " + b->failure);
    }
    if (!failed.ok()) {  // the events after a hole must not be applied (nor their positions)
      b->ClearInput(batch_bytes);
      spare.push_back(std::move(b));
      return;
    }
    decoded.events += b->decoded.events;
    decoded.malformed += b->decoded.malformed;
    decoded.skipped += b->decoded.skipped;
    decoded.dropped_fields += b->decoded.dropped_fields;
    const ingest::FileSourceStats st = combined();
    for (const Batch::Item& item : b->items) {
      const auto& [file, fingerprint] = b->files[item.file];
      for (uint32_t i = item.events_begin; i < item.events_end; ++i) {
        const Batch::Event& ev = b->events[i];
        session->At(file, fingerprint, item.line, item.byte_offset);
        session->CountEvent(st);
        const std::string_view cluster(b->arena.data() + ev.cluster, ev.cluster_len);
        const std::string_view audit_id(b->arena.data() + ev.audit_id, ev.audit_id_len);
        using Admission = detect::StatefulDetector::Admission;
        Admission admission = Admission::kLive;
        if (stateful_ != nullptr) admission = stateful_->Admit(cluster, audit_id, ev.stage, ev.t);
        if (admission != Admission::kDuplicate) {
          for (uint32_t f = ev.findings_begin; f < ev.findings_end; ++f) {
            fresh.push_back(std::move(b->findings[f]));
          }
          if (stateful_ != nullptr && stateful_->FeedsStateful(admission, ev.stage)) {
            const RemadeFinding remade(&redecoder, &remaker, *b, item, i - item.events_begin);
            stateful_->ApplyHits(
                cluster, audit_id, ev.t,
                std::span(b->hits).subspan(ev.hits_begin, ev.hits_end - ev.hits_begin), b->arena,
                remade, &fresh);
          }
          session->Take(&fresh);
        }
        session->AfterEvent();
      }
      if (!item.message.empty()) session->Error(item.message);
    }
    b->ClearInput(batch_bytes);
    spare.push_back(std::move(b));
  };
  auto submit = [&] {
    if (filling->items.empty()) return;
    while (in_flight.size() >= max_in_flight) apply_oldest();
    {
      std::lock_guard<std::mutex> lock(mu);
      todo.push_back(filling.get());
    }
    work_cv.notify_one();
    in_flight.push_back(std::move(filling));
    if (spare.empty()) {
      filling = std::make_unique<Batch>();
    } else {
      filling = std::move(spare.back());
      spare.pop_back();
    }
  };
  auto file_index = [&](std::string_view file, std::string_view fingerprint) {
    if (filling->files.empty() || filling->files.back().first != file) {
      filling->files.emplace_back(std::string(file), std::string(fingerprint));
    }
    return static_cast<uint32_t>(filling->files.size() - 1);
  };
  auto on_record = [&](const char* data, size_t len, size_t, const ingest::SourcePosition& pos) {
    if (!failed.ok()) return;
    if (!filling->items.empty() && filling->bytes.size() + len > batch_bytes) submit();
    Batch::Item& item = filling->items.emplace_back();
    item.file = file_index(pos.file, pos.fingerprint);
    item.line = pos.line;
    item.byte_offset = pos.byte_offset;
    item.offset = filling->bytes.size();
    item.len = len;
    filling->bytes.Append(data, len);
    if (filling->bytes.size() >= batch_bytes || filling->items.size() >= batch_records) submit();
  };
  auto on_error = [&](const ingest::IngestError& e) {
    if (!failed.ok()) return;
    Batch::Item& item = filling->items.emplace_back();
    item.file = file_index(e.position.file, e.position.fingerprint);
    item.is_error = true;
    item.message = e.status.message();
  };
  Status s = source->ReadRecords(paths, on_record, on_error);
  submit();
  while (!in_flight.empty()) apply_oldest();
  *stats = combined();
  return failed.ok() ? s : failed;
}

}  // namespace vigil::app

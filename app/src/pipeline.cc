// The pipeline: RecordSource -> workers (decode, evaluate) -> the applying thread (dedup,
// stateful state, aggregation, checkpoints) -> store. With one worker the calling thread decodes
// and evaluates each batch itself; with more, worker threads do it while the calling thread
// polls the source and applies their results in input order. Either way every batch goes
// through the same Process and Apply, so the outcome does not depend on the number of workers.
#include "vigil/app/pipeline.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "vigil/app/output.h"
#include "vigil/ingest/file_record_source.h"
#include "vigil/ingest/state_changelog.h"

namespace vigil::app {
namespace {

using Clock = std::chrono::steady_clock;

// Findings buffered before a checkpoint. Findings are rare next to events, so this bounds
// memory and the work lost to a crash without costing throughput.
constexpr size_t kFlushEvery = 1000;
// Dead letters buffered before a checkpoint.
constexpr size_t kDeadLettersEvery = 1000;
// The longest a Poll waits, so that a cancel or a due checkpoint is seen soon.
constexpr std::chrono::milliseconds kMaxPollWait(100);

ingest::EnvelopeOptions EnvelopeOptionsFrom(const Config& config) {
  ingest::EnvelopeOptions o;
  o.cluster = config.cluster;
  o.parser.max_event_bytes = config.max_event_bytes;
  o.max_record_bytes = config.max_record_bytes;
  return o;
}

// What decoding counted (on a worker, per batch) and what the pipeline counted in all.
struct Counters {
  uint64_t records = 0, events = 0, malformed = 0, skipped = 0, dropped = 0, bytes = 0;
  void Add(const Counters& o) {
    records += o.records;
    events += o.events;
    malformed += o.malformed;
    skipped += o.skipped;
    dropped += o.dropped;
    bytes += o.bytes;
  }
};

// A batch of records from the source and what a worker made of them.
struct Batch {
  struct Item {                                 // one per input record
    uint32_t events_begin = 0, events_end = 0;  // its events in `events`
    uint32_t malformed = 0;                     // items of it rejected
    std::string message;                        // why (with its position), when malformed
  };
  struct Event {
    size_t cluster = 0, cluster_len = 0;    // in arena
    size_t audit_id = 0, audit_id_len = 0;  // in arena
    AuditStage stage = AuditStage::kUnknown;
    int64_t t = 0;
    uint32_t findings_begin = 0, findings_end = 0;
    uint32_t hits_begin = 0, hits_end = 0;
  };

  // The worker output is cleared by the worker that fills it again (ClearOutput): freeing a
  // batch's findings and hits is not left to the applying thread, which every batch waits for.
  void ClearOutput() {
    items.clear();
    events.clear();
    arena.clear();
    findings.clear();
    hits.clear();
    decoded = Counters();
    failure.clear();
  }

  ingest::RecordBatch input;
  std::vector<Item> items;
  std::vector<Event> events;
  std::string arena;
  std::vector<Finding> findings;
  std::vector<detect::DeferredHit> hits;
  Counters decoded;     // events, malformed, skipped, dropped
  std::string failure;  // what a worker threw (the batch is then not applied)
  bool done = false;    // guarded by the pool's mutex
};

ingest::DecodeHints HintsFor(const ingest::RecordOrigin& origin) {
  ingest::DecodeHints hints;
  hints.cluster = origin.cluster;
  hints.envelope = origin.envelope;
  return hints;
}

// Makes the finding of a deferred hit by decoding its event again (the nth event of its record)
// and asking the engine for it: the finding the worker would have made, made only for the few
// hits that raise one.
class RemadeFinding final : public detect::DeferredFindingMaker {
 public:
  RemadeFinding(ingest::EnvelopeDecoder* decoder, detect::RuleEngine* engine, const Batch& batch,
                const ingest::RawRecord& record, uint32_t nth)
      : decoder_(decoder), engine_(engine), batch_(batch), record_(record), nth_(nth) {}

  Finding Make(const detect::DeferredHit& hit) const override {
    Finding f;
    uint32_t i = 0;
    const ingest::PaddedBuffer& bytes = batch_.input.bytes;
    decoder_->Decode(
        bytes.data() + record_.offset, record_.len, bytes.capacity() - record_.offset,
        [&](const AuditEvent& event) {
          if (i++ == nth_) f = engine_->MakeFinding(hit.unit, event);
        },
        HintsFor(batch_.input.origins[record_.origin]));
    return f;
  }

 private:
  ingest::EnvelopeDecoder* decoder_;
  detect::RuleEngine* engine_;
  const Batch& batch_;
  const ingest::RawRecord& record_;
  uint32_t nth_;
};

// Decodes and evaluates one batch: with `engine` (a worker's), stateful hits are collected for
// the applying thread; without (a detector that cannot be split), `detector` evaluates whole
// events here (then this runs on the applying thread); with neither, it only parses.
void Process(Batch* b, detect::RuleEngine* engine, detect::Detector* detector,
             ingest::EnvelopeDecoder& decoder, bool collect) {
  b->ClearOutput();
  b->items.resize(b->input.records.size());
  std::optional<detect::HitCollector> collector;
  if (engine != nullptr && collect) collector.emplace(*engine, &b->hits, &b->arena);
  const ingest::PaddedBuffer& bytes = b->input.bytes;
  for (size_t r = 0; r < b->input.records.size(); ++r) {
    const ingest::RawRecord& rec = b->input.records[r];
    Batch::Item& item = b->items[r];
    item.events_begin = item.events_end = static_cast<uint32_t>(b->events.size());
    if (rec.kind != ingest::RawRecord::Kind::kRecord) continue;
    const ingest::RecordOrigin& origin = b->input.origins[rec.origin];
    auto on_event = [&](const AuditEvent& event) {
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
      if (engine != nullptr) {
        const bool feeds = collector && detect::StatefulDetector::FinalStage(event.stage);
        engine->Evaluate(event, &b->findings, feeds ? &*collector : nullptr);
      } else if (detector != nullptr) {
        detector->Evaluate(event, &b->findings);
      }
      ev.findings_end = static_cast<uint32_t>(b->findings.size());
      ev.hits_end = static_cast<uint32_t>(b->hits.size());
    };
    static const char kEmpty[simdjson::SIMDJSON_PADDING + 1] = {};
    const char* data = bytes.data() != nullptr ? bytes.data() + rec.offset : kEmpty;
    const size_t capacity = bytes.data() != nullptr ? bytes.capacity() - rec.offset : 0;
    ingest::DecodeResult d = decoder.Decode(data, rec.len, capacity, on_event, HintsFor(origin));
    b->decoded.events += d.events;
    b->decoded.malformed += d.malformed;
    b->decoded.skipped += d.skipped;
    b->decoded.dropped += d.report.dropped_fields;
    item.events_end = static_cast<uint32_t>(b->events.size());
    item.malformed = d.malformed;
    if (d.malformed > 0) {
      std::string reason = d.first_error.message();
      if (d.malformed > 1) {
        reason += " (and " + std::to_string(d.malformed - 1) + " more items)";
      }
      item.message = ingest::RecordWhere(origin, rec) + ": " + reason;
    }
  }
}

}  // namespace

// Runs StateStore::Commit on its own thread, one checkpoint at a time, so that RocksDB's WAL
// and memtable work overlaps with parsing and detecting the next events (it was a third of the
// time of a stateful replay when done inline).
class Committer {
 public:
  // `metrics` (may be null) gets the duration of each commit. With `changelog`, each
  // checkpoint's changelog batch is sent and acknowledged before the store commits it.
  Committer(StateStore* store, PipelineMetrics* metrics, ingest::KafkaStateChangelog* changelog)
      : store_(store), metrics_(metrics), changelog_(changelog), thread_([this] { Loop(); }) {}
  ~Committer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();  // finishes a commit in flight first
  }

  // Whether a checkpoint was submitted and not taken back with Wait yet.
  bool Submitted() const { return submitted_; }
  // Whether the submitted checkpoint is written (Wait would not block).
  bool Finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return !busy_;
  }
  // Waits until the submitted checkpoint is written; gives it back with its token and returns
  // the status of its commit. Requires Submitted().
  Status Wait(StateCheckpoint* cp, uint64_t* token) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    submitted_ = false;
    *cp = std::move(cp_);
    *token = token_;
    return last_;
  }
  // Requires !Submitted().
  void Submit(StateCheckpoint cp, uint64_t token, ingest::ChangelogBatch* batch = nullptr) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (batch != nullptr) std::swap(batch_, *batch);
      cp_ = std::move(cp);
      token_ = token;
      busy_ = true;
    }
    submitted_ = true;
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
        const auto started = Clock::now();
        Status s;
        if (changelog_ != nullptr) {
          s = changelog_->Write(batch_, &cp).WithContext("writing the state changelog");
          batch_.clear();
        }
        if (s.ok()) s = store_->Commit(cp);
        if (metrics_ != nullptr)
          metrics_->ObserveStage(PipelineStage::kCommit, Clock::now() - started);
        lock.lock();
        cp_ = std::move(cp);  // back to the pipeline thread (its findings, for listeners)
        last_ = std::move(s);
        busy_ = false;
        cv_.notify_all();
        continue;
      }
      return;  // stop_ and nothing in flight
    }
  }

  StateStore* store_;
  PipelineMetrics* metrics_;
  ingest::KafkaStateChangelog* changelog_;
  ingest::ChangelogBatch batch_;  // guarded by mu_ (the commit thread's while busy_)
  std::mutex mu_;
  std::condition_variable cv_;
  StateCheckpoint cp_;      // guarded by mu_
  uint64_t token_ = 0;      // guarded by mu_
  bool busy_ = false;       // guarded by mu_
  bool stop_ = false;       // guarded by mu_
  bool submitted_ = false;  // the pipeline thread's
  Status last_;             // guarded by mu_
  std::thread thread_;      // last: starts after the members it uses
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
  // The latest event's output fields, and the rule's tags as loaded now.
  if (!f.fields.empty()) into->fields = f.fields;
  if (!f.tags.empty()) into->tags = f.tags;
}

Pipeline::Pipeline(const Config& config, detect::DetectorPtr detector, FindingStore* store,
                   PipelineMetrics* metrics, StateStore* state)
    : config_(config),
      detector_(std::move(detector)),
      stateful_(detector_ ? detector_->stateful() : nullptr),
      store_(store),
      metrics_(metrics),
      state_(state) {}

Pipeline::~Pipeline() = default;

// One run: the worker pool, the batches in flight, and everything done on the applying thread
// (which sees events in input order): dedup and stateful state, findings, positions, dead
// letters, checkpoints, live metrics and the report.
class Pipeline::Runner {
 public:
  Runner(Pipeline* p, ingest::RecordSource* source, ReplayReport* report)
      : p_(p), source_(source), report_(report), redecoder_(EnvelopeOptionsFrom(p->config_)) {
    if (p_->state_ != nullptr) {
      committer_ = std::make_unique<Committer>(p_->state_, p_->metrics_, p_->changelog_);
    }
    limits_.max_records = std::max<size_t>(p_->config_.batch_records, 1);
    limits_.max_bytes = std::max<size_t>(p_->config_.batch_bytes, 1);
    interval_ = std::chrono::milliseconds(std::max<int64_t>(p_->config_.checkpoint_interval_ms, 1));
  }
  ~Runner() { StopWorkers(); }

  Status Run(const std::atomic<bool>* cancel);

 private:
  // ---- workers
  void MakeEngines();
  void StartWorkers();
  void StopWorkers();
  void Work(size_t index);
  // Hands `b` to a worker (or processes it here with one worker) and applies what is done.
  void Submit(std::unique_ptr<Batch> b);
  // Applies the oldest batch in flight, waiting for it when `wait`; false when it is not done.
  bool ApplyOldest(bool wait);
  void ApplyAll() {
    while (!in_flight_.empty()) ApplyOldest(true);
  }
  std::unique_ptr<Batch> TakeSpare();
  // ---- the applying thread
  void Apply(Batch* b);
  void Take(std::vector<Finding>* fresh);
  void AfterEvent();
  // After a whole record: a checkpoint when one is due. Never in the middle of a record: its
  // position is covered only once all its events are applied, and a record replayed from the
  // middle would count its first events twice where the dedup set is not there (a partition
  // that moved to another instance).
  void AfterRecord();
  void Error(const std::string& message);
  void KeepDeadLetter(const ingest::RecordOrigin& origin, const ingest::RawRecord& rec,
                      const Batch& b, const std::string& error);
  void Publish();
  void Checkpoint();
  Status CheckpointNow();
  // After a kRestored poll: forgets the restored clusters' cached state, sets the guards.
  void TakeRestored();
  // Takes back the checkpoint in flight once written (waiting for it when `wait`): tells the
  // detector and the source, and the findings listener.
  void Reap(bool wait);
  Status MergeWithStored(std::vector<Finding>* batch);
  // The time since `started` into the stage's histogram (any thread; lock-free).
  void ObserveStage(PipelineStage stage, Clock::time_point started) const {
    if (p_->metrics_ != nullptr) p_->metrics_->ObserveStage(stage, Clock::now() - started);
  }

  Pipeline* p_;
  ingest::RecordSource* source_;
  ReplayReport* report_;
  ingest::BatchLimits limits_;
  std::chrono::milliseconds interval_;

  // Workers: engines_[i] is worker i's; remaker_ remakes deferred findings on this thread.
  std::vector<std::unique_ptr<detect::RuleEngine>> engines_;
  std::unique_ptr<detect::RuleEngine> remaker_;
  uint64_t engines_generation_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_cv_;               // a batch to work on, or stop
  std::condition_variable done_cv_;               // a batch done
  std::deque<Batch*> todo_;                       // guarded by mu_
  bool stop_ = false;                             // guarded by mu_
  std::deque<std::unique_ptr<Batch>> in_flight_;  // in input order
  std::vector<std::unique_ptr<Batch>> spare_;
  std::unique_ptr<ingest::EnvelopeDecoder> inline_decoder_;  // with one worker
  ingest::EnvelopeDecoder redecoder_;
  Status failed_;  // a worker threw: nothing after that batch is applied
  std::vector<Finding> fresh_;
  std::vector<uint64_t> origin_events_;  // Apply: events per origin of the batch
  ingest::ChangelogBatch changelog_batch_;
  // Restored findings that already include the events of their stream before a position.
  std::unordered_map<std::string, uint64_t> finding_guards_;
  uint64_t position_ = 0;  // of the record being applied

  // Applying thread.
  Counters counters_, published_;
  std::unordered_map<std::string, size_t> shown_;     // id -> position in report.findings
  std::unordered_map<std::string, Finding> pending_;  // changed, not yet in the store
  std::vector<vigil::DeadLetter> dead_letters_;       // for the next checkpoint
  Status store_status_;
  uint64_t since_checkpoint_ = 0;
  bool changed_ = false;  // anything applied since the last checkpoint
  Clock::time_point last_checkpoint_ = Clock::now();
  uint64_t durable_checkpoints_ = 0;  // for Config::test_kill_after_checkpoints
  uint64_t seen_events_ = 0;
  std::unique_ptr<Committer> committer_;
};

std::unique_ptr<Batch> Pipeline::Runner::TakeSpare() {
  if (spare_.empty()) return std::make_unique<Batch>();
  std::unique_ptr<Batch> b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

void Pipeline::Runner::MakeEngines() {
  engines_.clear();
  remaker_.reset();
  detect::Detector* detector = p_->detector_.get();
  if (detector == nullptr) return;
  engines_generation_ = detector->generation();
  const int workers = EffectiveWorkers(p_->config_.workers);
  // All clones of one engine, so that every worker runs the same rules (a reload may come
  // between). One more clone remakes, on this thread, the findings of the stateful hits that
  // raise one.
  if (auto first = detector->NewWorkerEngine()) {
    for (int i = 0; i < workers; ++i) engines_.push_back(first->Clone());
    remaker_ = std::move(first);
  }
}

void Pipeline::Runner::StartWorkers() {
  if (engines_.size() <= 1) return;  // one worker: the calling thread
  threads_.reserve(engines_.size());
  for (size_t i = 0; i < engines_.size(); ++i) threads_.emplace_back([this, i] { Work(i); });
}

void Pipeline::Runner::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
}

void Pipeline::Runner::Work(size_t index) {
  pthread_setname_np(pthread_self(), "vigil-worker");
  ingest::EnvelopeDecoder decoder(EnvelopeOptionsFrom(p_->config_));
  const bool collect = p_->stateful_ != nullptr;
  while (true) {
    Batch* b = nullptr;
    detect::RuleEngine* engine = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !todo_.empty(); });
      if (todo_.empty()) return;
      b = todo_.front();
      todo_.pop_front();
      engine = engines_[index].get();  // replaced only while no batch is in flight
    }
    const auto started = Clock::now();
    try {
      Process(b, engine, nullptr, decoder, collect);
    } catch (const std::exception& e) {
      b->failure = e.what();
    }
    ObserveStage(PipelineStage::kDecodeDetect, started);
    {
      std::lock_guard<std::mutex> lock(mu_);
      b->done = true;
    }
    done_cv_.notify_all();
  }
}

void Pipeline::Runner::Submit(std::unique_ptr<Batch> b) {
  if (!threads_.empty()) {
    const size_t max_in_flight = 2 * threads_.size();
    while (in_flight_.size() >= max_in_flight) ApplyOldest(true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      b->done = false;
      todo_.push_back(b.get());
    }
    work_cv_.notify_one();
    in_flight_.push_back(std::move(b));
    while (!in_flight_.empty() && ApplyOldest(false)) {
    }
    return;
  }
  // One worker: decode and evaluate here, then apply (the same steps as with a pool).
  if (!inline_decoder_) {
    inline_decoder_ = std::make_unique<ingest::EnvelopeDecoder>(EnvelopeOptionsFrom(p_->config_));
  }
  detect::RuleEngine* engine = engines_.empty() ? nullptr : engines_[0].get();
  const auto started = Clock::now();
  try {
    Process(b.get(), engine, engine ? nullptr : p_->detector_.get(), *inline_decoder_,
            p_->stateful_ != nullptr);
  } catch (const std::exception& e) {
    b->failure = e.what();
  }
  ObserveStage(PipelineStage::kDecodeDetect, started);
  b->done = true;
  in_flight_.push_back(std::move(b));
  ApplyOldest(true);
}

bool Pipeline::Runner::ApplyOldest(bool wait) {
  Batch* b = in_flight_.front().get();
  if (!threads_.empty()) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!wait && !b->done) return false;
    done_cv_.wait(lock, [&] { return b->done; });
  }
  std::unique_ptr<Batch> owned = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (failed_.ok() && !b->failure.empty()) {
    failed_ = Status::Internal("worker thread: " + b->failure);
  }
  // The events after a hole must not be applied (nor their positions).
  if (failed_.ok()) Apply(b);
  b->input.clear(limits_.max_bytes);
  spare_.push_back(std::move(owned));
  return true;
}

void Pipeline::Runner::Apply(Batch* b) {
  const auto started = Clock::now();
  detect::StatefulDetector* stateful = p_->stateful_;
  const ingest::RecordBatch& in = b->input;
  origin_events_.assign(in.origins.size(), 0);
  for (size_t r = 0; r < in.records.size(); ++r) {
    const ingest::RawRecord& rec = in.records[r];
    const ingest::RecordOrigin& origin = in.origins[rec.origin];
    const Batch::Item& item = b->items[r];
    using Kind = ingest::RawRecord::Kind;
    if (rec.kind != Kind::kRecord) {
      if (rec.kind != Kind::kOversize) ++counters_.records;
      if (rec.kind != Kind::kNotice) {
        ++counters_.malformed;
        KeepDeadLetter(origin, rec, *b, rec.message);
      }
      Error(rec.message);
      source_->Applied(origin, rec);
      if (p_->changelog_ != nullptr) p_->changelog_->Applied(origin, rec);
      changed_ = true;
      continue;
    }
    position_ = rec.position;
    if (stateful != nullptr && stateful->guarded()) stateful->SetPosition(rec.position);
    // Its cluster's state goes to the changelog from its first event on.
    if (p_->changelog_ != nullptr) p_->changelog_->Seen(origin);
    ++counters_.records;
    origin_events_[rec.origin] += item.events_end - item.events_begin;
    for (uint32_t i = item.events_begin; i < item.events_end; ++i) {
      const Batch::Event& ev = b->events[i];
      if (++seen_events_ == p_->config_.test_kill_after_events) raise(SIGKILL);
      if (seen_events_ == p_->config_.test_throw_after_events) {
        static std::atomic<uint64_t> thrown{0};
        if (thrown.fetch_add(1) < p_->config_.test_throw_runs)
          throw std::runtime_error("test failure (VIGIL_TEST_THROW_AFTER_EVENTS)");
      }
      const std::string_view cluster(b->arena.data() + ev.cluster, ev.cluster_len);
      const std::string_view audit_id(b->arena.data() + ev.audit_id, ev.audit_id_len);
      using Admission = detect::StatefulDetector::Admission;
      Admission admission = Admission::kLive;
      if (stateful != nullptr && remaker_) {
        admission = stateful->Admit(cluster, audit_id, ev.stage, ev.t);
      }
      if (admission != Admission::kDuplicate) {
        for (uint32_t f = ev.findings_begin; f < ev.findings_end; ++f) {
          fresh_.push_back(std::move(b->findings[f]));
        }
        if (stateful != nullptr && remaker_ && stateful->FeedsStateful(admission, ev.stage)) {
          const RemadeFinding remade(&redecoder_, remaker_.get(), *b, rec, i - item.events_begin);
          stateful->ApplyHits(
              cluster, audit_id, ev.t,
              std::span(b->hits).subspan(ev.hits_begin, ev.hits_end - ev.hits_begin), b->arena,
              remade, &fresh_);
        }
        Take(&fresh_);
      }
      AfterEvent();
    }
    if (!item.message.empty()) {
      Error(item.message);
      KeepDeadLetter(origin, rec, *b, item.message);
    }
    source_->Applied(origin, rec);
    if (p_->changelog_ != nullptr) p_->changelog_->Applied(origin, rec);
    changed_ = true;
    AfterRecord();
  }
  counters_.Add(b->decoded);
  counters_.bytes += in.source_bytes;
  if (p_->metrics_ != nullptr) {
    // Once per origin of the batch (a few), not per event: EventCounts takes a lock.
    for (size_t o = 0; o < in.origins.size(); ++o) {
      p_->metrics_->events_by_origin.Add(in.origins[o].cluster, source_->KindOf(in.origins[o]),
                                         origin_events_[o]);
    }
  }
  Publish();
  ObserveStage(PipelineStage::kApply, started);  // before a checkpoint it may start
  if (dead_letters_.size() >= kDeadLettersEvery) Checkpoint();
}

void Pipeline::Runner::Take(std::vector<Finding>* fresh) {
  const Config& config = p_->config_;
  if (!finding_guards_.empty()) {
    // Restored from an incomplete checkpoint: these events are in them already.
    std::erase_if(*fresh, [&](const Finding& f) {
      auto g = finding_guards_.find(f.id);
      if (g == finding_guards_.end()) return false;
      if (position_ < g->second) return true;
      finding_guards_.erase(g);
      return false;
    });
  }
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
    if (config.max_findings_shown == 0) continue;  // a server keeps them only in the store
    if (report_->findings.size() < config.max_findings_shown) {
      shown_.emplace(f.id, report_->findings.size());
      report_->findings.push_back(std::move(f));
    } else {
      ++report_->findings_not_shown;  // still stored (with --db), not kept in memory
    }
  }
  fresh->clear();
}

void Pipeline::Runner::AfterEvent() { ++since_checkpoint_; }

void Pipeline::Runner::AfterRecord() {
  if (pending_.size() >= kFlushEvery || since_checkpoint_ >= p_->config_.checkpoint_events ||
      (p_->stateful_ != nullptr && p_->stateful_->checkpoint_due())) {
    Checkpoint();
  }
}

void Pipeline::Runner::Error(const std::string& message) {
  ++report_->errors_total;
  if (report_->errors.size() < p_->config_.max_errors_printed) {
    report_->errors.push_back(message);
  }
}

void Pipeline::Runner::KeepDeadLetter(const ingest::RecordOrigin& origin,
                                      const ingest::RawRecord& rec, const Batch& b,
                                      const std::string& error) {
  ++report_->dead_letters;
  if (p_->metrics_ != nullptr) PipelineMetrics::Inc(p_->metrics_->dead_letters);
  if (p_->state_ == nullptr) return;  // nowhere to keep it: reported and counted only
  vigil::DeadLetter& d = dead_letters_.emplace_back();
  d.received_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  d.source = std::string(source_->kind());
  d.origin = origin.name;
  d.partition = origin.lines ? -1 : static_cast<int32_t>(origin.stream);
  d.offset = static_cast<int64_t>(rec.position);
  d.line = rec.line;
  d.cluster = origin.cluster;
  d.error = error;
  d.size = rec.kind == ingest::RawRecord::Kind::kRecord ? rec.len : rec.size;
  if (rec.len > 0 && b.input.bytes.data() != nullptr) {
    d.head.assign(b.input.bytes.data() + rec.offset, std::min(rec.len, kDeadLetterHeadBytes));
  }
}

// Live metrics: the counters as deltas, so /metrics moves during a run.
void Pipeline::Runner::Publish() {
  PipelineMetrics* m = p_->metrics_;
  if (m == nullptr) return;
  const Counters& was = published_;
  PipelineMetrics::Inc(m->events_read, counters_.records - was.records);
  PipelineMetrics::Inc(m->events_parsed, counters_.events - was.events);
  PipelineMetrics::Inc(m->events_malformed, counters_.malformed - was.malformed);
  PipelineMetrics::Inc(m->events_skipped, counters_.skipped - was.skipped);
  PipelineMetrics::Inc(m->bytes_read, counters_.bytes - was.bytes);
  PipelineMetrics::Inc(m->fields_dropped, counters_.dropped - was.dropped);
  published_ = counters_;
}

void Pipeline::Runner::Checkpoint() {
  if (!store_status_.ok()) return;
  store_status_ = CheckpointNow();
  ++report_->checkpoints;
  since_checkpoint_ = 0;
  changed_ = false;
  last_checkpoint_ = Clock::now();
}

Status Pipeline::Runner::CheckpointNow() {
  // The previous checkpoint must be in the store before findings are merged with it and
  // before the detector may evict what it wrote.
  Reap(true);
  RETURN_IF_ERROR(store_status_);
  detect::StatefulDetector* stateful = p_->stateful_;
  if (stateful != nullptr && p_->state_ != nullptr) {
    RETURN_IF_ERROR(stateful->status());  // never checkpoint state built on a failed read
  }
  StateCheckpoint cp;
  if (p_->store_ != nullptr) {
    const auto started = Clock::now();
    RETURN_IF_ERROR(MergeWithStored(&cp.findings));
    ObserveStage(PipelineStage::kMerge, started);
  }
  pending_.clear();
  if (p_->state_ == nullptr) {
    std::vector<std::pair<std::string, std::string>> positions;  // nowhere to keep them
    const uint64_t token = source_->TakePositions(&positions);
    if (p_->store_ != nullptr) {
      const auto started = Clock::now();
      RETURN_IF_ERROR(p_->store_->Put(cp.findings).WithContext("writing findings"));
      ObserveStage(PipelineStage::kCommit, started);
    }
    if (p_->metrics_ != nullptr) PipelineMetrics::Inc(p_->metrics_->checkpoints);
    source_->OnDurable(token);
    return Status::Ok();
  }
  if (p_->store_ != nullptr &&
      dynamic_cast<const void*>(p_->store_) != dynamic_cast<const void*>(p_->state_)) {
    // Separate finding and state stores: the findings cannot share the state's write.
    RETURN_IF_ERROR(p_->store_->Put(cp.findings).WithContext("writing findings"));
    cp.findings.clear();
  }
  if (stateful != nullptr) stateful->Checkpoint(&cp);
  const uint64_t token = source_->TakePositions(&cp.meta);
  cp.dead_letters = std::move(dead_letters_);
  dead_letters_.clear();
  if (p_->outbox_.findings) {
    for (const Finding& f : cp.findings) {
      cp.outbox.push_back({std::string(kOutboxFindings), f.id, FindingToJson(f)});
    }
  }
  if (p_->outbox_.falco) {
    for (const Finding& f : cp.findings) {
      if (f.severity < p_->outbox_.falco_min_severity) continue;
      if (f.status == FindingStatus::kSuppressed) continue;
      cp.outbox.push_back(
          {std::string(kOutboxFalco), f.id, FindingToFalcoJson(f, p_->outbox_.hostname)});
    }
  }
  if (p_->outbox_.dead_letters) {
    for (const DeadLetter& d : cp.dead_letters) {
      cp.outbox.push_back({std::string(kOutboxDeadLetters), d.origin, DeadLetterToJson(d)});
    }
  }
  if (p_->changelog_ != nullptr) {
    RETURN_IF_ERROR(p_->changelog_->Prepare(cp, *p_->state_, &changelog_batch_));
  }
  committer_->Submit(std::move(cp), token, &changelog_batch_);
  return Status::Ok();
}

void Pipeline::Runner::TakeRestored() {
  for (ingest::RestoredState& r : source_->TakeRestored()) {
    if (p_->stateful_ != nullptr) {
      p_->stateful_->Forget(r.clusters);
      for (auto& [key, position] : r.state_guards) p_->stateful_->Guard(key, position);
    }
    for (auto& [id, position] : r.finding_guards) finding_guards_[id] = position;
    if (p_->changelog_ != nullptr) p_->changelog_->Restored(r);
  }
}

void Pipeline::Runner::Reap(bool wait) {
  if (committer_ == nullptr || !committer_->Submitted()) return;
  if (!wait && !committer_->Finished()) return;
  StateCheckpoint cp;
  uint64_t token = 0;
  Status s = committer_->Wait(&cp, &token).WithContext("writing checkpoint");
  if (!s.ok()) {
    if (store_status_.ok()) store_status_ = std::move(s);
    return;
  }
  if (p_->stateful_ != nullptr) p_->stateful_->Committed();
  if (p_->metrics_ != nullptr) PipelineMetrics::Inc(p_->metrics_->checkpoints);
  source_->OnDurable(token);
  if (++durable_checkpoints_ == p_->config_.test_kill_after_checkpoints) raise(SIGKILL);
  if (p_->outbox_durable_ && !cp.outbox.empty()) p_->outbox_durable_();
}

Status Pipeline::Runner::MergeWithStored(std::vector<Finding>* batch) {
  // Read-modify-write against what is stored: a finding already known (an earlier run, another
  // file) keeps its status and first_seen and only gains new evidence, so replaying the same
  // log twice changes nothing.
  batch->reserve(pending_.size());
  for (auto& [id, f] : pending_) {
    auto stored = p_->store_->Get(id);
    if (stored.ok()) {
      Finding merged = std::move(stored).value();
      MergeFinding(f, &merged);
      batch->push_back(std::move(merged));
    } else if (stored.status().code() == StatusCode::kNotFound ||
               stored.status().code() == StatusCode::kCorruption) {
      if (p_->metrics_ != nullptr && stored.status().code() == StatusCode::kNotFound) {
        PipelineMetrics::Inc(p_->metrics_->findings);
      }
      batch->push_back(std::move(f));  // new, or a corrupt value that this write repairs
    } else {
      return stored.status().WithContext("reading finding " + id);
    }
  }
  return Status::Ok();
}

Status Pipeline::Runner::Run(const std::atomic<bool>* cancel) {
  RETURN_IF_ERROR(source_->Restore(p_->state_).WithContext("restoring source positions"));
  if (p_->changelog_ != nullptr) p_->changelog_->Reset();  // a restart: positions from the store
  MakeEngines();
  StartWorkers();
  report_->workers = engines_.size() <= 1 ? 1 : static_cast<int>(engines_.size());
  Status source_status;
  bool cancelled = false;
  while (failed_.ok() && store_status_.ok()) {
    if (cancel != nullptr && cancel->load() && !cancelled) {
      cancelled = true;
      source_->Stop();  // what it handed over is still applied
    }
    Reap(false);
    // Rules reloaded: the workers take the new engines once the batches they hold are applied.
    if (p_->detector_ && p_->detector_->generation() != engines_generation_) {
      ApplyAll();
      std::lock_guard<std::mutex> lock(mu_);
      MakeEngines();
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(last_checkpoint_ + interval_ -
                                                                      Clock::now());
    wait = std::clamp(wait, std::chrono::milliseconds(1), kMaxPollWait);
    // Batches on the workers wait for this Poll to return before they are applied: keep it
    // short then, or a quiet source holds their progress (counts, the next checkpoint, offsets).
    if (!in_flight_.empty()) wait = std::min(wait, std::chrono::milliseconds(2));
    std::unique_ptr<Batch> b = TakeSpare();
    auto polled = source_->Poll(&b->input, limits_, wait);
    if (!polled.ok()) {
      source_status = polled.status();
      spare_.push_back(std::move(b));
      break;
    }
    const auto result = *polled;
    if (!b->input.empty()) {
      Submit(std::move(b));
    } else {
      spare_.push_back(std::move(b));
    }
    using PollResult = ingest::RecordSource::PollResult;
    if (result == PollResult::kEnd) break;
    if (result == PollResult::kIdle) ApplyAll();  // nothing else to do: finish what is in flight
    if (result == PollResult::kBarrier || result == PollResult::kRestored) {
      // Everything polled so far is applied and durable before the source goes on.
      ApplyAll();
      Checkpoint();
      Reap(true);
      if (result == PollResult::kRestored) TakeRestored();
      continue;
    }
    if (changed_ && Clock::now() - last_checkpoint_ >= interval_) Checkpoint();
  }
  ApplyAll();
  StopWorkers();
  // The last checkpoint, then waits for it. Whatever was detected is stored, even when reading
  // was cancelled or failed.
  Checkpoint();
  Reap(true);
  Publish();
  report_->records = counters_.records;
  report_->events = counters_.events;
  report_->malformed = counters_.malformed;
  report_->skipped = counters_.skipped;
  report_->fields_dropped = counters_.dropped;
  report_->bytes = counters_.bytes;
  if (!failed_.ok()) return failed_;
  if (!source_status.ok()) return source_status;
  if (!store_status_.ok()) return store_status_;
  if (cancelled) return Status::Unavailable("cancelled");
  return Status::Ok();
}

Result<ReplayReport> Pipeline::Run(ingest::RecordSource* source, const std::atomic<bool>* cancel) {
  if ((outbox_.findings || outbox_.dead_letters || outbox_.falco) &&
      (state_ == nullptr || store_ == nullptr ||
       dynamic_cast<const void*>(store_) != dynamic_cast<const void*>(state_))) {
    return Status::FailedPrecondition(
        "pipeline: the outbox needs the findings and the state in one store");
  }
  const auto start = Clock::now();
  ReplayReport report;
  Status s;
  {
    Runner runner(this, source, &report);
    try {
      s = runner.Run(cancel);
    } catch (const std::exception& e) {
      s = Status::Internal(std::string("pipeline: ") + e.what());
    }
  }
  if (stateful_ != nullptr) {
    report.duplicates = stateful_->stats().duplicates;
    report.late = stateful_->stats().late;
    report.state = stateful_->stats();
  }
  if (!s.ok()) return s;
  std::sort(report.findings.begin(), report.findings.end(), [](const Finding& a, const Finding& b) {
    return a.first_seen_us != b.first_seen_us ? a.first_seen_us < b.first_seen_us : a.id < b.id;
  });
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

Result<ReplayReport> Pipeline::Run(const std::vector<std::string>& paths,
                                   const std::atomic<bool>* cancel) {
  ingest::FileRecordSourceOptions options;
  options.paths = paths;
  options.cluster = config_.cluster;
  options.max_record_bytes = config_.max_record_bytes;
  options.resume = config_.resume;
  ingest::FileRecordSource source(options);
  auto report = Run(&source, cancel);
  if (report.ok()) report->resumed_files = source.stats().resumed_files;
  return report;
}

}  // namespace vigil::app

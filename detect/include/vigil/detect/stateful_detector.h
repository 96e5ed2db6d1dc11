// StatefulDetector: the Detector that runs a RuleEngine with its stateful rules (threshold,
// distinct, new_terms, sequence) over state kept in a StateStore, in event time. It also owns
// the dedup set of events already processed and the per-cluster watermarks.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "vigil/core/state_store.h"
#include "vigil/core/status.h"
#include "vigil/detect/detector.h"
#include "vigil/detect/rule_engine.h"

namespace vigil::detect {
namespace internal {
class FingerprintSet;
}

struct StatefulOptions {
  // Events older than (the newest event time seen in their cluster - allowed_lateness) are late:
  // counted, still evaluated by single-event rules, not fed to stateful operators.
  int64_t allowed_lateness_us = int64_t{5} * 60 * 1'000'000;
  // How long (event time) an event's (cluster, auditID, stage) is remembered for dedup. At least
  // allowed_lateness_us: a redelivery later than that is late anyway.
  int64_t dedup_retention_us = int64_t{60} * 60 * 1'000'000;
  // Memory for cached operator state. Over it, clean entries are evicted (least recently used)
  // as new ones come in; when changed entries (not evictable before they are written) reach half
  // of it, or the cache 1.5 times it, checkpoint_due() asks for a checkpoint.
  size_t cache_bytes = size_t{64} << 20;
  // Events remembered for dedup between two checkpoints before checkpoint_due() turns true.
  size_t max_pending_events = 100'000;
  // Overrides every new_terms rule's learning period when > 0 (e.g. for short logs).
  int64_t learning_override_us = 0;
  // Defaults for rules that do not set them.
  uint32_t default_max_values = 1000;                                  // terms / values per key
  int64_t default_new_terms_ttl_us = int64_t{90} * 86400 * 1'000'000;  // a baseline's memory
};

// How long (event time) a stateful rule's state lives after its last update: its ttl, else a
// new_terms baseline's default memory, else its window.
int64_t StateTtlUs(const Rule& rule, const StatefulOptions& options);
// The longest of the stateful rules among `rules` (0 when none is stateful): state written now
// is dead by then, so a copy of it (the scale-out changelog) may be deleted after that.
int64_t MaxStateTtlUs(const std::vector<Rule>& rules, const StatefulOptions& options);

struct StatefulStats {
  uint64_t events = 0;
  uint64_t duplicates = 0;  // (cluster, auditID, stage) seen before: skipped entirely
  uint64_t late = 0;        // behind the watermark: single-event rules only
  uint64_t hits = 0;        // stateful rule conditions that held
  uint64_t findings = 0;    // findings (or finding updates) raised by stateful rules
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;    // state read from the store (or found absent)
  uint64_t evictions = 0;       // clean cache entries dropped to stay under cache_bytes
  uint64_t values_evicted = 0;  // terms/values dropped from a key over max_values
  uint64_t corrupt_state = 0;   // stored values that could not be decoded (started afresh)
  uint64_t state_writes = 0;    // state entries written (or deleted) by checkpoints
  uint64_t checkpoints = 0;
  uint64_t guarded = 0;  // hits skipped by Guard (replayed events a restored entry includes)
  size_t cache_bytes = 0;  // current estimate
  size_t cache_entries = 0;
  size_t dirty_bytes = 0;  // of it, changed since the last checkpoint
};

// A stateful hit that a worker's engine collected (HitCollector), to be applied later, in input
// order, by StatefulDetector::ApplyHits on the one thread that owns the state. Its key and value
// are in the collector's arena. Its finding is not made here: most hits only update state, and
// a DeferredFindingMaker makes the few that are raised.
struct DeferredHit {
  const Rule* rule = nullptr;  // in the collecting engine's rule_defs(): lives as long as it
  uint32_t unit = 0;           // StatefulHit::unit, for RuleEngine::MakeFinding
  uint32_t step = 0;
  uint32_t include_mask = 0;
  bool learnable = true;
  uint32_t key = 0, key_len = 0;      // in the arena
  uint32_t value = 0, value_len = 0;  // in the arena
};

// The HitSink of a worker: RuleEngine::Evaluate(event, out, &collector) appends the event's
// stateful hits to *hits, their keys and values to *arena.
class HitCollector final : public HitSink {
 public:
  HitCollector(const RuleEngine& engine, std::vector<DeferredHit>* hits, std::string* arena);
  void OnHit(const StatefulHit& hit, const FindingMaker& maker) override;

 private:
  const std::vector<Rule>& rules_;
  std::vector<DeferredHit>* out_;
  std::string* arena_;
};

// Makes the finding a deferred hit's rule raises for its event (what the hit's FindingMaker
// would have made), e.g. by decoding the event again and calling RuleEngine::MakeFinding.
class DeferredFindingMaker {
 public:
  virtual Finding Make(const DeferredHit& hit) const = 0;

 protected:
  ~DeferredFindingMaker() = default;
};

// Not thread-safe: one per worker, like every Detector. `store` must outlive it. Evaluate never
// fails; a store read error is kept (status()) and the pipeline must stop and not checkpoint.
class StatefulDetector final : public Detector, private HitSink {
 public:
  StatefulDetector(std::unique_ptr<RuleEngine> engine, StateStore* store,
                   StatefulOptions options = {});
  ~StatefulDetector() override;

  // Dedup, watermark, then the engine: single-event findings and stateful findings go to *out.
  // A stateful finding's id is MakeFindingId(rule, cluster, key, episode start) (threshold,
  // distinct, sequence) or MakeFindingId(rule, cluster, key + term) (new_terms); its count is
  // the number of events it adds, so MergeFinding aggregates repeats into one finding.
  void Evaluate(const AuditEvent& event, std::vector<Finding>* out) override;
  const std::vector<RuleInfo>& rules() const override { return engine_->rules(); }
  StatefulDetector* stateful() override { return this; }
  std::unique_ptr<RuleEngine> NewWorkerEngine() override { return engine_->Clone(); }

  // Evaluate in two halves, for a pipeline whose workers run the engine (NewWorkerEngine, with a
  // HitCollector) while this detector, on one thread, sees every event in input order:
  //   Admit: the dedup set and the cluster's watermark. A duplicate is dropped whole; a late
  //     event keeps its single-event findings only.
  //   ApplyHits: the hits collected for an event (keys and values in `arena`) when
  //     FeedsStateful(its admission, its stage), applied as Evaluate would have; the findings
  //     raised (made by `findings`) to *out.
  // Evaluate(e) is Admit then the engine; the findings are the same, except that a worker's
  // stateful findings come after its single-event ones.
  enum class Admission : uint8_t { kDuplicate, kLate, kLive };
  Admission Admit(std::string_view cluster, std::string_view audit_id, AuditStage stage, int64_t t);
  bool FeedsStateful(Admission admission, AuditStage stage) const;
  // Whether events of `stage` feed stateful rules at all (one stage per request: the last).
  static bool FinalStage(AuditStage stage);
  void ApplyHits(std::string_view cluster, std::string_view audit_id, int64_t t,
                 std::span<const DeferredHit> hits, std::string_view arena,
                 const DeferredFindingMaker& findings, std::vector<Finding>* out);

  // Runs `engine` from the next event on (rules reloaded). State is keyed by rule id, so a rule
  // that stays keeps its state; a removed rule's state expires.
  void ReplaceEngine(std::unique_ptr<RuleEngine> engine) { engine_ = std::move(engine); }

  // Moves everything changed since the last checkpoint (dirty state, dedup entries, cluster
  // watermarks) into *cp, to be committed in one write with the findings and source positions.
  // Evaluate may go on while the commit runs (on another thread); once StateStore::Commit(*cp)
  // has succeeded, call Committed(). If it fails, discard this detector (its cache is ahead of
  // the store). At most one checkpoint may be in flight.
  void Checkpoint(StateCheckpoint* cp);
  // The last checkpoint is in the store: forgets its dedup keys and evicts clean entries over
  // the cache budget (an entry is only evicted once the store has it).
  void Committed();
  // True when a checkpoint should be taken now to keep memory bounded.
  bool checkpoint_due() const;

  // The store's state of these clusters was replaced (restored from a state changelog when their
  // stream moved to this instance): forgets what is cached of them, watermarks included, so that
  // it is read again. Call right after Committed(), with nothing applied since (a barrier).
  void Forget(const std::vector<std::string>& clusters);
  // A restored state entry already includes the events of its stream before `position` (a
  // changelog record newer than its stream's last complete checkpoint): hits on `state_key` from
  // events at earlier positions are skipped, so that replaying from that checkpoint counts
  // nothing twice. SetPosition tells the position of the record the next events come from.
  void Guard(std::string state_key, uint64_t position);
  void SetPosition(uint64_t position) { position_ = position; }
  bool guarded() const { return !guards_.empty(); }

  // The first store read error, if any.
  const Status& status() const { return status_; }
  const StatefulStats& stats() const;
  RuleEngine& engine() { return *engine_; }

 private:
  struct Slot;
  struct ClusterState;
  struct OpState;

  void OnHit(const StatefulHit& hit, const FindingMaker& maker) override;
  void Apply(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker);
  Slot& LoadSlot(const std::string& key, int64_t t);
  ClusterState& LoadCluster(std::string_view cluster);
  ClusterState& CurrentCluster(std::string_view cluster);  // cached: the last event's
  void Touch(Slot& slot);
  void Account(Slot& slot);
  void EvictOverBudget(const Slot* keep);
  void Emit(Finding f);

  bool ContinueEpisode(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker,
                       OpState& st);
  void Threshold(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker, Slot& slot);
  void Distinct(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker, Slot& slot);
  void NewTerms(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker, Slot& slot);
  void Sequence(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker, Slot& slot);

  std::unique_ptr<RuleEngine> engine_;
  StateStore* store_;
  StatefulOptions options_;
  Status status_;
  mutable StatefulStats stats_;

  std::unordered_map<std::string, std::unique_ptr<Slot>> cache_;
  std::list<Slot*> lru_;  // front = most recently used
  size_t cache_bytes_ = 0;
  size_t dirty_bytes_ = 0;
  std::vector<Slot*> dirty_slots_;   // changed since the last checkpoint
  std::vector<Slot*> pinned_slots_;  // written by the checkpoint in flight
  std::unordered_map<std::string, std::unique_ptr<ClusterState>> clusters_;
  std::unordered_map<std::string, uint64_t> guards_;  // Guard()
  uint64_t position_ = 0;
  ClusterState* cluster_cache_ = nullptr;  // the last event's cluster
  std::string cluster_cache_name_;
  // Events seen since the last committed checkpoint. pending_keys_ (dedup key, event time) go
  // into the next checkpoint; the fingerprint sets answer "seen?" for them and for the events of
  // the checkpoint in flight (committing_), which the store does not have yet.
  std::vector<std::pair<std::string, int64_t>> pending_keys_;
  std::unique_ptr<internal::FingerprintSet> pending_;
  std::unique_ptr<internal::FingerprintSet> committing_;

  // The event being evaluated (valid during Evaluate and ApplyHits).
  std::string_view event_cluster_;
  std::string_view event_audit_id_;
  ClusterState* cluster_ = nullptr;
  int64_t event_time_ = 0;
  std::vector<Finding>* out_ = nullptr;
};

// Runs one stateful inline test of `rule` (one of engine.rule_defs()): the events, already parsed
// with their cluster set, go through a fresh StatefulDetector over an in-memory store. Returns
// an empty string when the test passes, else what went wrong.
std::string RunStatefulTest(const RuleEngine& engine, size_t rule_index, const StatefulTest& test,
                            const std::vector<const AuditEvent*>& events);

}  // namespace vigil::detect

// StatefulDetector: dedup, watermarks, the write-behind state cache and the four stateful
// operators. The encoding of operator state is in state_codec.h.
#include "vigil/detect/stateful_detector.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "fingerprint_set.h"
#include "state_codec.h"
#include "vigil/core/memory_state_store.h"
#include "vigil/core/time_util.h"

namespace vigil::detect {

using internal::OpStateData;
using internal::Partial;
using internal::Stamp;
using internal::Term;

struct StatefulDetector::OpState : OpStateData {};

struct StatefulDetector::Slot {
  std::string key;
  OpState state;
  int64_t expires_us = 0;  // event time after which the state is dead (0: never written)
  bool dirty = false;      // changed since the last checkpoint
  bool listed = false;     // in dirty_slots_
  bool pinned = false;     // written by the checkpoint in flight: not evictable until Committed()
  bool in_lru = false;     // clean and not pinned: in lru_, evictable
  size_t bytes = 0;
  std::list<Slot*>::iterator lru;
};

struct StatefulDetector::ClusterState {
  int64_t max_us = 0;    // newest event time seen (0: none yet)
  int64_t first_us = 0;  // first event time seen: the start of new_terms learning
  bool dirty = false;
  // max_us as of the last checkpoint taken / committed. Every event in the store's dedup set
  // has a time <= committed_max_us (they were committed together), so a newer event needs no
  // store lookup.
  int64_t checkpoint_max_us = 0;
  int64_t committed_max_us = 0;
};

namespace {

constexpr size_t kSlotOverhead = 160;  // map node, list node, Slot, allocator slack

bool IsFinalStage(AuditStage s) {
  return s == AuditStage::kResponseComplete || s == AuditStage::kPanic || s == AuditStage::kUnknown;
}

// The key as people read it: parts separated by ", ".
std::string Readable(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == kKeySep) {
      out += ", ";
    } else {
      out.push_back(c);
    }
  }
  return out.empty() ? "<cluster>" : out;
}

std::string FormatWindow(int64_t us) {
  if (us % (86400LL * 1'000'000) == 0) return std::to_string(us / (86400LL * 1'000'000)) + "d";
  if (us % (3600LL * 1'000'000) == 0) return std::to_string(us / (3600LL * 1'000'000)) + "h";
  if (us % (60LL * 1'000'000) == 0) return std::to_string(us / (60LL * 1'000'000)) + "m";
  return std::to_string(us / 1'000'000) + "s";
}

int64_t TtlOf(const StatefulSpec& spec, const StatefulOptions& o) {
  if (spec.ttl_us > 0) return spec.ttl_us;
  if (spec.kind == StatefulSpec::Kind::kNewTerms) return o.default_new_terms_ttl_us;
  return spec.window_us;
}

void KeepLast(std::vector<std::string>* ids, size_t n) {
  if (ids->size() > n) ids->erase(ids->begin(), ids->end() - static_cast<ptrdiff_t>(n));
}

}  // namespace

int64_t StateTtlUs(const Rule& rule, const StatefulOptions& options) {
  if (!rule.stateful) return 0;
  return TtlOf(*rule.stateful, options);
}

int64_t MaxStateTtlUs(const std::vector<Rule>& rules, const StatefulOptions& options) {
  int64_t out = 0;
  for (const Rule& r : rules) out = std::max(out, StateTtlUs(r, options));
  return out;
}

StatefulDetector::StatefulDetector(std::unique_ptr<RuleEngine> engine, StateStore* store,
                                   StatefulOptions options)
    : engine_(std::move(engine)),
      store_(store),
      options_(options),
      pending_(std::make_unique<internal::FingerprintSet>()),
      committing_(std::make_unique<internal::FingerprintSet>()) {
  options_.dedup_retention_us = std::max(options_.dedup_retention_us, options_.allowed_lateness_us);
}

StatefulDetector::~StatefulDetector() = default;

const StatefulStats& StatefulDetector::stats() const {
  stats_.cache_bytes = cache_bytes_;
  stats_.cache_entries = cache_.size();
  stats_.dirty_bytes = dirty_bytes_;
  return stats_;
}

StatefulDetector::ClusterState& StatefulDetector::LoadCluster(std::string_view cluster) {
  auto it = clusters_.find(std::string(cluster));
  if (it != clusters_.end()) return *it->second;
  auto cs = std::make_unique<ClusterState>();
  auto stored = store_->GetMeta(WatermarkMetaKey(cluster));
  if (!stored.ok()) {
    if (status_.ok())
      status_ = stored.status().WithContext("reading watermark of " + std::string(cluster));
    cs->committed_max_us = std::numeric_limits<int64_t>::max();  // unknown: always look up
  } else if (stored->has_value()) {
    if (!internal::DecodeWatermark(**stored, &cs->max_us, &cs->first_us)) {
      ++stats_.corrupt_state;
      cs->max_us = 0;
      cs->committed_max_us = std::numeric_limits<int64_t>::max();
    } else {
      cs->committed_max_us = cs->max_us;
    }
  }
  cs->checkpoint_max_us = cs->committed_max_us;
  return *clusters_.emplace(std::string(cluster), std::move(cs)).first->second;
}

StatefulDetector::ClusterState& StatefulDetector::CurrentCluster(std::string_view cluster) {
  if (cluster_cache_ == nullptr || cluster != cluster_cache_name_) {
    cluster_cache_ = &LoadCluster(cluster);
    cluster_cache_name_.assign(cluster);
  }
  return *cluster_cache_;
}

StatefulDetector::Admission StatefulDetector::Admit(std::string_view cluster,
                                                    std::string_view audit_id, AuditStage stage,
                                                    int64_t t) {
  ++stats_.events;
  ClusterState& cs = CurrentCluster(cluster);
  if (!audit_id.empty()) {
    std::string dk = MakeDedupKey(cluster, audit_id, AuditStageName(stage));
    const internal::Fingerprint fp = internal::FingerprintOf(dk);
    if (committing_->Contains(fp) || !pending_->Insert(fp)) {
      ++stats_.duplicates;
      return Admission::kDuplicate;
    }
    if (t <= cs.committed_max_us) {  // else it cannot be in the store
      auto seen = store_->ContainsEvent(dk);
      if (!seen.ok()) {
        if (status_.ok()) status_ = seen.status().WithContext("reading the dedup set");
      } else if (*seen) {
        pending_->Erase(fp);
        ++stats_.duplicates;
        return Admission::kDuplicate;
      }
    }
    pending_keys_.emplace_back(std::move(dk), t);
  }

  if (cs.max_us != 0 && t < cs.max_us - options_.allowed_lateness_us) {
    ++stats_.late;
    return Admission::kLate;
  }
  if (cs.first_us == 0) {
    cs.first_us = t;
    cs.dirty = true;
  }
  if (t > cs.max_us) {
    cs.max_us = t;
    cs.dirty = true;
  }
  return Admission::kLive;
}

bool StatefulDetector::FinalStage(AuditStage stage) { return IsFinalStage(stage); }

bool StatefulDetector::FeedsStateful(Admission admission, AuditStage stage) const {
  return admission == Admission::kLive && IsFinalStage(stage) && status_.ok();
}

void StatefulDetector::Evaluate(const AuditEvent& event, std::vector<Finding>* out) {
  const int64_t t = event.EventTimeMicros();
  const Admission admission = Admit(event.cluster, event.audit_id, event.stage, t);
  if (admission == Admission::kDuplicate) return;
  const bool stateful = FeedsStateful(admission, event.stage);
  event_cluster_ = event.cluster;
  event_audit_id_ = event.audit_id;
  cluster_ = cluster_cache_;  // Admit loaded it
  event_time_ = t;
  out_ = out;
  engine_->Evaluate(event, out, stateful ? this : nullptr);
  out_ = nullptr;
  cluster_ = nullptr;
  event_cluster_ = event_audit_id_ = {};
}

namespace {

// The FindingMaker of a deferred hit: its finding, made on demand.
class DeferredMaker final : public FindingMaker {
 public:
  DeferredMaker(const DeferredFindingMaker& findings, const DeferredHit& hit)
      : findings_(findings), hit_(hit) {}
  Finding Make() const override { return findings_.Make(hit_); }

 private:
  const DeferredFindingMaker& findings_;
  const DeferredHit& hit_;
};

}  // namespace

void StatefulDetector::ApplyHits(std::string_view cluster, std::string_view audit_id, int64_t t,
                                 std::span<const DeferredHit> hits, std::string_view arena,
                                 const DeferredFindingMaker& findings, std::vector<Finding>* out) {
  event_cluster_ = cluster;
  event_audit_id_ = audit_id;
  cluster_ = &CurrentCluster(cluster);
  event_time_ = t;
  out_ = out;
  for (const DeferredHit& d : hits) {
    StatefulHit hit;
    hit.unit = d.unit;
    hit.step = d.step;
    hit.key = arena.substr(d.key, d.key_len);
    hit.value = arena.substr(d.value, d.value_len);
    hit.include_mask = d.include_mask;
    hit.learnable = d.learnable;
    Apply(*d.rule, hit, DeferredMaker(findings, d));
  }
  out_ = nullptr;
  cluster_ = nullptr;
  event_cluster_ = event_audit_id_ = {};
}

HitCollector::HitCollector(const RuleEngine& engine, std::vector<DeferredHit>* hits,
                           std::string* arena)
    : rules_(engine.rule_defs()), out_(hits), arena_(arena) {}

void HitCollector::OnHit(const StatefulHit& hit, const FindingMaker&) {
  DeferredHit& d = out_->emplace_back();
  d.rule = &rules_[hit.rule];
  d.unit = hit.unit;
  d.step = hit.step;
  d.include_mask = hit.include_mask;
  d.learnable = hit.learnable;
  d.key = static_cast<uint32_t>(arena_->size());
  d.key_len = static_cast<uint32_t>(hit.key.size());
  arena_->append(hit.key);
  d.value = static_cast<uint32_t>(arena_->size());
  d.value_len = static_cast<uint32_t>(hit.value.size());
  arena_->append(hit.value);
}

void StatefulDetector::Touch(Slot& slot) {
  if (slot.in_lru) lru_.splice(lru_.begin(), lru_, slot.lru);
}

void StatefulDetector::Account(Slot& slot) {
  size_t b = kSlotOverhead + slot.key.size() * 2 + internal::EstimateBytes(slot.state);
  cache_bytes_ = cache_bytes_ - slot.bytes + b;
  if (slot.listed) dirty_bytes_ = dirty_bytes_ - slot.bytes + b;
  slot.bytes = b;
  if (slot.dirty && !slot.listed) {
    slot.listed = true;
    dirty_slots_.push_back(&slot);
    dirty_bytes_ += slot.bytes;
    if (slot.in_lru) {  // not evictable until written: out of the eviction order
      lru_.erase(slot.lru);
      slot.in_lru = false;
    }
  }
}

StatefulDetector::Slot& StatefulDetector::LoadSlot(const std::string& key, int64_t t) {
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    ++stats_.cache_hits;
    Slot& slot = *it->second;
    Touch(slot);
    if (slot.expires_us != 0 && slot.expires_us < t) {
      slot.state = OpState{};  // dead state: start afresh (the write replaces it)
      slot.expires_us = 0;
      slot.dirty = true;
      Account(slot);
    }
    return slot;
  }
  ++stats_.cache_misses;
  auto slot = std::make_unique<Slot>();
  slot->key = key;
  auto stored = store_->GetState(key);
  if (!stored.ok()) {
    if (status_.ok()) status_ = stored.status().WithContext("reading detector state");
  } else if (stored->has_value()) {
    const std::string& v = **stored;
    int64_t expires = GetExpiry(v);
    if (expires >= t) {
      if (internal::DecodeState(std::string_view(v).substr(kStateExpiryBytes), &slot->state)) {
        slot->expires_us = expires;
      } else {
        ++stats_.corrupt_state;
        slot->state = OpState{};
      }
    }
  }
  Slot* raw = slot.get();
  lru_.push_front(raw);
  raw->lru = lru_.begin();
  raw->in_lru = true;
  cache_.emplace(key, std::move(slot));
  Account(*raw);
  if (cache_bytes_ > options_.cache_bytes) EvictOverBudget(raw);
  return *raw;
}

void StatefulDetector::Emit(Finding f) {
  ++stats_.findings;
  out_->push_back(std::move(f));
}

void StatefulDetector::OnHit(const StatefulHit& hit, const FindingMaker& maker) {
  Apply(engine_->rule_defs()[hit.rule], hit, maker);
}

void StatefulDetector::Apply(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker) {
  ++stats_.hits;
  const StatefulSpec& spec = *rule.stateful;
  std::string key = MakeStateKey(rule.id, event_cluster_, hit.key);
  if (!guards_.empty()) {
    auto g = guards_.find(key);
    if (g != guards_.end()) {
      if (position_ < g->second) {
        ++stats_.guarded;
        return;
      }
      guards_.erase(g);
    }
  }
  Slot& slot = LoadSlot(key, event_time_);
  switch (spec.kind) {
    case StatefulSpec::Kind::kThreshold:
      Threshold(rule, hit, maker, slot);
      break;
    case StatefulSpec::Kind::kDistinct:
      Distinct(rule, hit, maker, slot);
      break;
    case StatefulSpec::Kind::kNewTerms:
      NewTerms(rule, hit, maker, slot);
      break;
    case StatefulSpec::Kind::kSequence:
      Sequence(rule, hit, maker, slot);
      break;
  }
  if (slot.dirty) {
    slot.expires_us = std::max(slot.expires_us, event_time_ + TtlOf(spec, options_));
    Account(slot);
  }
}

// ---- operators ------------------------------------------------------------------------------

// A threshold/distinct finding covers an episode: while matching events keep coming within the
// window of the last one, each adds 1 to the episode's finding.
bool StatefulDetector::ContinueEpisode(const Rule& rule, const StatefulHit& hit,
                                       const FindingMaker& maker, OpState& st) {
  const int64_t t = event_time_;
  if (st.episode_start == 0 || t < st.episode_start ||
      t - st.episode_last > rule.stateful->window_us) {
    return false;
  }
  Finding f = maker.Make();
  f.id = MakeFindingId(rule.id, event_cluster_, hit.key, st.episode_start);
  f.first_seen_us = f.last_seen_us = t;
  f.count = 1;
  Emit(std::move(f));
  st.episode_last = std::max(st.episode_last, t);
  return true;
}

void StatefulDetector::Threshold(const Rule& rule, const StatefulHit& hit,
                                 const FindingMaker& maker, Slot& slot) {
  const StatefulSpec& spec = *rule.stateful;
  OpState& st = slot.state;
  const int64_t t = event_time_;
  std::string id(event_audit_id_);
  // Keep the newest `count` stamps inside the window, sorted by time.
  auto pos = std::upper_bound(st.stamps.begin(), st.stamps.end(), t,
                              [](int64_t v, const Stamp& s) { return v < s.t; });
  st.stamps.insert(pos, Stamp{t, id});
  const int64_t newest = st.stamps.back().t;
  while (!st.stamps.empty() && st.stamps.front().t < newest - spec.window_us) {
    st.stamps.erase(st.stamps.begin());
  }
  while (st.stamps.size() > spec.count) st.stamps.erase(st.stamps.begin());
  slot.dirty = true;

  if (ContinueEpisode(rule, hit, maker, st)) return;
  if (st.stamps.size() < spec.count) return;
  st.episode_start = st.stamps.front().t;
  st.episode_last = newest;
  Finding f = maker.Make();
  f.id = MakeFindingId(rule.id, event_cluster_, hit.key, st.episode_start);
  f.first_seen_us = st.episode_start;
  f.last_seen_us = newest;
  f.count = st.stamps.size();
  f.evidence.clear();
  for (const Stamp& s : st.stamps) {
    if (!s.id.empty()) f.evidence.push_back(s.id);
  }
  KeepLast(&f.evidence, Finding::kMaxEvidence);
  f.message += " [" + std::to_string(st.stamps.size()) + " events within " +
               FormatWindow(spec.window_us) + " for " + Readable(hit.key) + "]";
  Emit(std::move(f));
}

void StatefulDetector::Distinct(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker,
                                Slot& slot) {
  if (hit.value.empty()) return;  // no value to count
  const StatefulSpec& spec = *rule.stateful;
  OpState& st = slot.state;
  const int64_t t = event_time_;
  const uint32_t max_values = spec.max_values ? spec.max_values : options_.default_max_values;
  auto it = std::find_if(st.terms.begin(), st.terms.end(),
                         [&](const Term& x) { return x.value == hit.value; });
  if (it != st.terms.end()) {
    it->t = std::max(it->t, t);
    it->mask |= hit.include_mask;
  } else {
    st.terms.push_back(Term{std::string(hit.value), t, hit.include_mask});
    if (st.terms.size() > max_values) {
      auto oldest = std::min_element(st.terms.begin(), st.terms.end(),
                                     [](const Term& a, const Term& b) { return a.t < b.t; });
      st.terms.erase(oldest);
      ++stats_.values_evicted;
    }
  }
  st.stamps.push_back(Stamp{t, std::string(event_audit_id_)});
  if (st.stamps.size() > Finding::kMaxEvidence) st.stamps.erase(st.stamps.begin());
  slot.dirty = true;

  int64_t newest = 0;
  for (const Term& x : st.terms) newest = std::max(newest, x.t);
  // Values that fell out of the window are forgotten.
  st.terms.erase(std::remove_if(st.terms.begin(), st.terms.end(),
                                [&](const Term& x) { return x.t < newest - spec.window_us; }),
                 st.terms.end());

  if (ContinueEpisode(rule, hit, maker, st)) return;
  uint32_t mask = 0;
  int64_t start = newest;
  for (const Term& x : st.terms) {
    mask |= x.mask;
    start = std::min(start, x.t);
  }
  const uint32_t required =
      (spec.must_include.empty() ? 0u : ((1u << spec.must_include.size()) - 1));
  if (st.terms.size() < spec.count || (mask & required) != required) return;
  st.episode_start = start;
  st.episode_last = newest;
  Finding f = maker.Make();
  f.id = MakeFindingId(rule.id, event_cluster_, hit.key, start);
  f.first_seen_us = start;
  f.last_seen_us = newest;
  f.count = st.terms.size();
  f.evidence.clear();
  for (const Stamp& s : st.stamps) {
    if (!s.id.empty() && s.t >= start) f.evidence.push_back(s.id);
  }
  std::vector<const Term*> sorted;
  for (const Term& x : st.terms) sorted.push_back(&x);
  std::sort(sorted.begin(), sorted.end(), [](const Term* a, const Term* b) {
    return a->t != b->t ? a->t < b->t : a->value < b->value;
  });
  std::string values;
  for (size_t i = 0; i < sorted.size() && i < 10; ++i) {
    values += (i ? ", " : "") + sorted[i]->value.substr(0, 64);
  }
  if (sorted.size() > 10) values += ", ...";
  f.message += " [" + std::to_string(st.terms.size()) + " distinct " +
               (spec.field.empty() ? std::string("values") : spec.field[0].text) + " within " +
               FormatWindow(spec.window_us) + " for " + Readable(hit.key) + ": " + values + "]";
  Emit(std::move(f));
}

void StatefulDetector::NewTerms(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker,
                                Slot& slot) {
  const StatefulSpec& spec = *rule.stateful;
  OpState& st = slot.state;
  const int64_t t = event_time_;
  const int64_t ttl = TtlOf(spec, options_);
  // Refreshing a term's last-seen time is a write; do it at most this often per term.
  const int64_t refresh = std::min<int64_t>(ttl / 64, int64_t{3600} * 1'000'000);
  const uint32_t max_values = spec.max_values ? spec.max_values : options_.default_max_values;
  auto it = std::find_if(st.terms.begin(), st.terms.end(),
                         [&](const Term& x) { return x.value == hit.value; });
  if (it != st.terms.end() && t - it->t <= ttl) {
    if (hit.learnable && t - it->t > refresh) {
      it->t = t;
      slot.dirty = true;
    }
    return;
  }
  auto learn = [&] {
    if (!hit.learnable) return;
    if (it != st.terms.end()) {
      it->t = t;
    } else {
      st.terms.push_back(Term{std::string(hit.value), t, 0});
      if (st.terms.size() > max_values) {
        auto oldest = std::min_element(st.terms.begin(), st.terms.end(),
                                       [](const Term& a, const Term& b) { return a.t < b.t; });
        st.terms.erase(oldest);
        ++stats_.values_evicted;
      }
    }
    slot.dirty = true;
  };
  const int64_t learning =
      options_.learning_override_us > 0 ? options_.learning_override_us : spec.learning_us;
  if (t < cluster_->first_us + learning) {
    learn();
    return;
  }
  Finding f = maker.Make();
  std::string subject(hit.key);
  subject.push_back(kKeySep);
  subject.append(hit.value);
  f.id = MakeFindingId(rule.id, event_cluster_, subject, 0);
  f.message += hit.value.empty()
                   ? " [first time for " + Readable(hit.key) + "]"
                   : " [new for " + Readable(hit.key) + ": " + Readable(hit.value) + "]";
  Emit(std::move(f));
  learn();
}

void StatefulDetector::Sequence(const Rule& rule, const StatefulHit& hit, const FindingMaker& maker,
                                Slot& slot) {
  const StatefulSpec& spec = *rule.stateful;
  OpState& st = slot.state;
  const int64_t t = event_time_;
  const size_t steps = spec.steps.size();
  std::string id(event_audit_id_);
  if (st.partials.size() < steps - 1) st.partials.resize(steps - 1);
  const size_t j = hit.step;
  if (j == 0) {
    st.partials[0] = Partial{t, t, {id}};
    slot.dirty = true;
    return;
  }
  const Partial& p = st.partials[j - 1];
  if (p.start == 0 || t < p.last || t - p.start > spec.window_us ||
      (!p.ids.empty() && p.ids.back() == id)) {
    return;
  }
  Partial next{p.start, t, p.ids};
  next.ids.push_back(id);
  KeepLast(&next.ids, Finding::kMaxEvidence);
  if (j + 1 < steps) {
    st.partials[j] = std::move(next);
    slot.dirty = true;
    return;
  }
  Finding f = maker.Make();
  f.id = MakeFindingId(rule.id, event_cluster_, hit.key, next.start);
  f.first_seen_us = next.start;
  f.last_seen_us = t;
  f.count = 1;
  f.evidence = next.ids;
  std::string names;
  for (size_t k = 0; k < steps; ++k) {
    names += (k ? " -> " : "") +
             (spec.steps[k].name.empty() ? "step " + std::to_string(k + 1) : spec.steps[k].name);
  }
  f.message += " [sequence " + names + " within " + FormatWindow(spec.window_us) + " for " +
               Readable(hit.key) + "]";
  Emit(std::move(f));
}

// ---- checkpoints ------------------------------------------------------------------------------

void StatefulDetector::Checkpoint(StateCheckpoint* cp) {
  ++stats_.checkpoints;
  for (Slot* slot : dirty_slots_) {
    ++stats_.state_writes;
    if (internal::IsEmpty(slot->state)) {
      cp->state_deletes.push_back(slot->key);
    } else {
      std::string v;
      PutExpiry(slot->expires_us, &v);
      internal::EncodeState(slot->state, &v);
      cp->state.emplace_back(slot->key, std::move(v));
    }
    slot->dirty = false;
    slot->listed = false;
    slot->pinned = true;
  }
  pinned_slots_.insert(pinned_slots_.end(), dirty_slots_.begin(), dirty_slots_.end());
  dirty_slots_.clear();
  dirty_bytes_ = 0;
  // Until the commit is done the store does not know these events: their fingerprints move to
  // committing_ until Committed().
  cp->dedup.reserve(cp->dedup.size() + pending_keys_.size());
  for (auto& [key, t] : pending_keys_) {
    std::string v;
    PutExpiry(t + options_.dedup_retention_us, &v);
    cp->dedup.emplace_back(std::move(key), std::move(v));
  }
  pending_keys_.clear();
  committing_->Clear();
  std::swap(pending_, committing_);
  for (auto& [name, cs] : clusters_) {
    if (!cs->dirty) continue;
    cp->meta.emplace_back(WatermarkMetaKey(name),
                          internal::EncodeWatermark(cs->max_us, cs->first_us));
    cs->checkpoint_max_us = cs->max_us;
    store_->AdvanceWatermark(name, cs->max_us - options_.allowed_lateness_us);
    cs->dirty = false;
  }
}

void StatefulDetector::Committed() {
  for (Slot* slot : pinned_slots_) {
    slot->pinned = false;
    if (!slot->dirty && !slot->in_lru) {  // evictable again, as recently used
      lru_.push_front(slot);
      slot->lru = lru_.begin();
      slot->in_lru = true;
    }
  }
  pinned_slots_.clear();
  for (auto& [name, cs] : clusters_) cs->committed_max_us = cs->checkpoint_max_us;
  committing_->Clear();
  EvictOverBudget(nullptr);
}

void StatefulDetector::Forget(const std::vector<std::string>& clusters) {
  if (clusters.empty()) return;
  const std::unordered_set<std::string_view> names(clusters.begin(), clusters.end());
  for (auto it = cache_.begin(); it != cache_.end();) {
    Slot* s = it->second.get();
    if (s->dirty || s->pinned || names.count(StateKeyCluster(s->key)) == 0) {
      ++it;
      continue;
    }
    if (s->in_lru) lru_.erase(s->lru);
    cache_bytes_ -= s->bytes;
    it = cache_.erase(it);
  }
  for (const std::string& c : clusters) clusters_.erase(c);
  cluster_cache_ = nullptr;
  cluster_cache_name_.clear();
}

void StatefulDetector::Guard(std::string state_key, uint64_t position) {
  guards_[std::move(state_key)] = position;
}

void StatefulDetector::EvictOverBudget(const Slot* keep) {
  // Least recently used first; an entry is evictable when the store has its current value:
  // not dirty, and not written by a checkpoint still in flight.
  // lru_ holds only evictable entries, so this is O(1) per eviction.
  while (cache_bytes_ > options_.cache_bytes && !lru_.empty()) {
    Slot* s = lru_.back();
    if (s == keep) {
      if (lru_.size() == 1) break;
      lru_.splice(lru_.begin(), lru_, s->lru);  // the entry being loaded stays
      continue;
    }
    cache_bytes_ -= s->bytes;
    lru_.pop_back();
    std::string key = std::move(s->key);
    cache_.erase(key);  // destroys *s
    ++stats_.evictions;
  }
}

bool StatefulDetector::checkpoint_due() const {
  // Clean entries are evicted as new ones come in; a checkpoint is needed when changed state
  // (which cannot be evicted before it is written) takes half the budget, or when nothing more
  // can be evicted.
  return dirty_bytes_ > options_.cache_bytes / 2 ||
         cache_bytes_ > options_.cache_bytes + options_.cache_bytes / 2 ||
         pending_keys_.size() >= options_.max_pending_events;
}

// ---- inline tests -----------------------------------------------------------------------------

std::string RunStatefulTest(const RuleEngine& engine, size_t rule_index, const StatefulTest& test,
                            const std::vector<const AuditEvent*>& events) {
  const auto& defs = engine.rule_defs();
  if (rule_index >= defs.size()) return "no such rule";
  RuleSet one;
  one.rules.push_back(defs[rule_index]);
  one.rules.back().tests.clear();
  auto compiled = RuleEngine::Compile(one);
  if (!compiled.ok()) return compiled.status().message();
  MemoryStateStore store;
  StatefulDetector detector(std::move(compiled).value(), &store);
  std::map<std::string, uint64_t> counts;
  std::vector<Finding> out;
  for (const AuditEvent* e : events) {
    out.clear();
    detector.Evaluate(*e, &out);
    for (const Finding& f : out) {
      if (f.rule_id == defs[rule_index].id) counts[f.id] += f.count;
    }
  }
  uint64_t total = 0;
  for (const auto& [id, c] : counts) total += c;
  if (counts.size() != test.expect_findings) {
    return "expected " + std::to_string(test.expect_findings) + " finding(s), got " +
           std::to_string(counts.size());
  }
  if (test.expect_count != 0 && total != test.expect_count) {
    return "expected a total count of " + std::to_string(test.expect_count) + ", got " +
           std::to_string(total);
  }
  return "";
}

}  // namespace vigil::detect

// RuleEngine: the Detector that runs a RuleSet. Every rule is compiled once into an evaluator at
// load; rules are indexed by (verb, resource) so an event only meets its candidate rules, and
// requestObject/responseObject are decoded at most once per event, only when a candidate rule
// reads them.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "vigil/core/audit_event.h"
#include "vigil/core/finding.h"
#include "vigil/core/status.h"
#include "vigil/detect/detector.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

// A stateful rule's condition (or one sequence step's) held for an event. Views are valid only
// during HitSink::OnHit.
struct StatefulHit {
  uint32_t rule = 0;          // index into RuleEngine::rule_defs()
  uint32_t step = 0;          // sequence step; 0 for the other operators
  uint32_t unit = 0;          // the compiled condition that held (RuleEngine::MakeFinding)
  std::string_view key;       // group_by (or the step's `by`) rendered, parts joined by '\x1f'
  std::string_view value;     // distinct: the field; new_terms: the terms joined by '\x1f'
  uint32_t include_mask = 0;  // distinct: bit i set when must_include[i] holds for the event
  bool learnable = true;      // new_terms: learn_from holds (or there is none)
};

// Builds the finding a rule raises for the event being evaluated (id per event, count 1,
// message from the rule's output). Valid only during HitSink::OnHit.
class FindingMaker {
 public:
  virtual Finding Make() const = 0;

 protected:
  ~FindingMaker() = default;
};

// Receives the stateful hits of RuleEngine::Evaluate, synchronously, in rule order (sequence
// steps of one rule in step order).
class HitSink {
 public:
  virtual ~HitSink() = default;
  virtual void OnHit(const StatefulHit& hit, const FindingMaker& finding) = 0;
};

struct EngineOptions {
  size_t max_body_bytes = size_t{8} << 20;  // larger request/response bodies are not decoded
};

// Not thread-safe (one per worker), like every Detector. Compiled rules are immutable and may be
// shared: Clone() makes another engine over the same compiled rules for another worker.
class RuleEngine final : public Detector {
 public:
  // Compiles every enabled rule. InvalidArgument "file:line:col: rule 'id': reason" for a bad
  // regex, a bad CIDR, a syntactically broken field path, an op without the values it needs,
  // or duplicate rule ids. Unknown-but-well-formed fields compile to "no value" (the linter
  // reports them).
  static Result<std::unique_ptr<RuleEngine>> Compile(const RuleSet& rules,
                                                     const EngineOptions& options = {});
  ~RuleEngine() override;

  std::unique_ptr<RuleEngine> Clone() const;
  std::unique_ptr<RuleEngine> NewWorkerEngine() override { return Clone(); }

  // Findings: id = MakeFindingId(rule.id, event.cluster, event.audit_id); message = the rule's
  // output template rendered against the event; rule_name = Rule::name; severity, attack_ids
  // from the rule.
  // Stateful rules are skipped (a stateless-only run).
  void Evaluate(const AuditEvent& event, std::vector<Finding>* out) override;
  // Single-event rules append findings to *out; stateful rules (when `sink` is not null) report
  // their hits to it instead.
  void Evaluate(const AuditEvent& event, std::vector<Finding>* out, HitSink* sink);
  const std::vector<RuleInfo>& rules() const override;

  // The finding that a hit's FindingMaker makes, made again later from the same event (for
  // hits collected on another thread; `unit` is StatefulHit::unit).
  Finding MakeFinding(uint32_t unit, const AuditEvent& event);

  // The compiled rules, in load order (for `vigil rules test`).
  const std::vector<Rule>& rule_defs() const;
  // Whether rule `index` raises on `event` (condition true and no exception matches). For a
  // stateful rule: whether the event is in scope (for a sequence: its first step).
  bool Matches(size_t index, const AuditEvent& event);
  // How many rule conditions Evaluate has run on this engine (the index skips the others); for
  // tests and metrics.
  uint64_t evaluated_rule_count() const;

 private:
  struct Compiled;
  explicit RuleEngine(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;  // per-engine reusable buffers (lazy bodies, values)
};

}  // namespace vigil::detect

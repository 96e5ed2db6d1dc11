// RuleEngine: the Detector that runs a RuleSet. Every rule is compiled once into an evaluator at
// load; rules are indexed by (verb, resource) so an event only meets its candidate rules, and
// requestObject/responseObject are decoded at most once per event, only when a candidate rule
// reads them.
#pragma once

#include <memory>
#include <vector>

#include "vigil/core/audit_event.h"
#include "vigil/core/finding.h"
#include "vigil/core/status.h"
#include "vigil/detect/detector.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

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

  // Findings: id = MakeFindingId(rule.id, event.cluster, event.audit_id); message = the rule's
  // output template rendered against the event; rule_name = Rule::name; severity, attack_ids
  // from the rule.
  void Evaluate(const AuditEvent& event, std::vector<Finding>* out) override;
  const std::vector<RuleInfo>& rules() const override;

  // The compiled rules, in load order (for `vigil rules test`).
  const std::vector<Rule>& rule_defs() const;
  // Whether rule `index` raises on `event` (condition true and no exception matches).
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

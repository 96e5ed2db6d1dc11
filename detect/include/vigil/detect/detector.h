// Detector: the interface between the pipeline and detection logic. The RuleEngine
// (rule_engine.h) implements it; stateful detectors will too.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vigil/core/audit_event.h"
#include "vigil/core/finding.h"

namespace vigil::detect {

// What a rule is, for listing (API, CLI). Copied into every Finding the rule produces.
struct RuleInfo {
  std::string id;  // stable, dotted: "k8s.exec_into_pod"
  std::string name;
  Severity severity = Severity::kInfo;
  std::vector<std::string> attack_ids;  // MITRE ATT&CK technique ids
  std::string description;
};

// A Detector evaluates audit events one at a time and reports findings.
// Not thread-safe: each worker owns its own Detector (it keeps reusable parse buffers).
class Detector {
 public:
  virtual ~Detector() = default;

  // Evaluates one event (a view, valid only during the call) and appends zero or more findings
  // to *out; findings own their data. Never throws and never fails: event content that is
  // missing, malformed or of an unexpected type simply does not match.
  virtual void Evaluate(const AuditEvent& event, std::vector<Finding>* out) = 0;

  // The rules this detector runs, in a stable order. Valid as long as the detector.
  virtual const std::vector<RuleInfo>& rules() const = 0;

  // The StatefulDetector doing the work, when there is one (it or a wrapper of it), so that the
  // pipeline can checkpoint its state; null for a stateless detector.
  virtual class StatefulDetector* stateful() { return nullptr; }

  // For a pipeline with worker threads: another engine over the same compiled rules, to
  // evaluate events on another thread (a StatefulDetector's stateful hits are then collected
  // there and applied by it in input order). Null when this detector cannot be split so.
  virtual std::unique_ptr<class RuleEngine> NewWorkerEngine();  // default: null

  // Changes when the rules change (a reload): a pipeline then asks for new worker engines.
  virtual uint64_t generation() const { return 0; }
};
using DetectorPtr = std::unique_ptr<Detector>;

// The built-in pack compiled into a RuleEngine (see rule_files.h: LoadBuiltinPack), for callers
// that just want Vigil's default detections. A finding's id is
// MakeFindingId(rule_id, event.cluster, event.audit_id), so all stages of one request and any
// redelivery of it give the same id. Aborts only if the embedded pack is broken (a build bug
// that the pack tests catch).
DetectorPtr MakeBuiltinDetector();

}  // namespace vigil::detect

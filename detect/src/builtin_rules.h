// The built-in single-event rules as a table: each entry is the rule's description plus one match
// function. Internal to detect/; the public face is MakeBuiltinDetector().
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "json_body.h"
#include "vigil/core/audit_event.h"
#include "vigil/detect/detector.h"

namespace vigil::detect {

// What a match function reports besides "yes".
struct RuleHit {
  std::string message;      // names user, verb, object and cluster
  std::string object_name;  // set when objectRef.name is empty but the body names the object
  std::optional<Severity> severity;  // overrides the rule's severity (a denied attempt: low)
};

// Returns true when the event matches. Must do the cheap checks (verb, resource) before asking
// `body` for the decoded requestObject, and must treat any unexpected content as no match.
using MatchFn = bool (*)(const AuditEvent& event, LazyBody& body, RuleHit* hit);

struct BuiltinRule {
  RuleInfo info;
  MatchFn match;
};

// The rule table, in listing order.
std::vector<BuiltinRule> MakeBuiltinRules();

}  // namespace vigil::detect

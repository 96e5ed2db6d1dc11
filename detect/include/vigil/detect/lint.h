// The rule linter behind `vigil rules lint`: finds rules that can never work as written —
// fields no raw audit event has, number fields compared with text, conditions that can never be
// true — without running any event.
#pragma once

#include <string>
#include <vector>

#include "vigil/detect/rule.h"

namespace vigil::detect {

struct LintIssue {
  enum Severity { kError, kWarning };
  Severity severity = kError;
  std::string rule_id;
  RuleSource source;
  std::string message;
};

// Lints every rule (enabled or not) in load order. Errors:
//   - a field that never exists in a raw audit event ("field 'hostPath' never exists in a raw
//     audit event (did you mean requestObject.spec.volumes[*].hostPath.path?)");
//   - a number field (responseStatus.code, |count) compared with a non-numeric literal, or a
//     text operator (contains, startswith, glob, regex, cidr, ...) on a number field;
//   - a condition that can never be true (false, contradictory equalities on one single-valued
//     field such as verb = get and verb = list, or a required predicate on a field that never
//     exists);
//   - a broken field path, a bad regex or CIDR, an operator without its values, a duplicate id.
// Warnings: an exception that can never match (it reads a field that never exists).
std::vector<LintIssue> LintRuleSet(const RuleSet& rules);

// "file:line:col: error: rule 'id': message".
std::string FormatLintIssue(const LintIssue& issue);

}  // namespace vigil::detect

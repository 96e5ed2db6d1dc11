// The rule IR: what every rule front end (native YAML, Falco k8s_audit, Sigma kubernetes/audit)
// produces and what the RuleEngine compiles into evaluators. Plain data, no behaviour: front
// ends build it, the engine compiles it once at load time, the linter inspects it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/finding.h"

namespace vigil::detect {

// A field path in Vigil's canonical syntax (documented in detect/README.md):
//   verb  stage  level  auditID  requestURI  userAgent  sourceIPs[*]  sourceIPs[0]
//   user.username  user.uid  user.groups[*]  user.extra["iam.gke.io/user-assertion"][*]
//   impersonatedUser.username  impersonatedUser.groups[*]
//   objectRef.resource  .namespace  .name  .uid  .apiGroup  .apiVersion  .resourceVersion
//   objectRef.subresource
//   responseStatus.code (number)  responseStatus.status  .reason  .message
//   annotations["authorization.k8s.io/decision"]
//   requestReceivedTimestamp  stageTimestamp (RFC 3339 text)
//   requestURI.path  requestURI.query["command"][*] (URL-decoded, one value per occurrence)
//   requestObject.<p>  responseObject.<p>, where <p> is a chain of .key, ["key with dots"],
//   [N] and [*], e.g. requestObject.spec.containers[*].securityContext.privileged
//   cluster (the cluster the event was authenticated as)
// A path that crosses [*] (or names an array, like user.groups) yields one value per element;
// Predicate::quantifier says whether any or all of them must satisfy the predicate.
// A path may end with one transform, applied to each value:
//   |repository  container image without tag or digest ("docker.io/nginx:1.2" -> "docker.io/nginx")
//   |json        the value re-serialised as compact JSON text (objects and arrays included)
//   |lower       ASCII lower-case
//   |count       the number of values the path yields (a number; 0 when absent)
struct FieldRef {
  std::string path;
};

enum class Op : uint8_t {
  kEq,          // == (numbers compare as numbers, booleans as booleans, else as strings)
  kNe,          // !=
  kLt,          // <  (numbers; strings compare lexicographically)
  kLe,          // <=
  kGt,          // >
  kGe,          // >=
  kIn,          // value equals one of `values`
  kContains,    // substring, case-sensitive
  kIContains,   // substring, ASCII case-insensitive
  kStartsWith,  // prefix
  kEndsWith,    // suffix
  kGlob,        // shell glob: * ? [abc]; whole value
  kRegex,       // RE2 partial match (use ^...$ to anchor)
  kCidr,        // the value is an IP inside one of the CIDRs in `values`
  kPrivateIp,   // the value is an IP in a private, loopback or link-local range (no values)
  kPublicIp,    // the value is a routable public IP (no values)
  kExists,      // the field yields at least one value, of any type, null included (no values)
};

// The operator as the condition language writes it ("=", "in", "is_private_ip", ...).
std::string_view OpName(Op op);

enum class Quantifier : uint8_t {
  kAny,  // true when at least one value of the field satisfies the predicate
  kAll,  // true when the field has values and every one satisfies the predicate
};

// A literal the field is compared with. `text` is the literal as written; the engine derives the
// number/bool forms when the field's values are numbers/bools.
struct Literal {
  std::string text;
};

// field <op> values. A field with no value (absent, or of another JSON type for string
// operators) never satisfies a predicate, whatever the op: `!=` on an absent field is false, as
// in Falco. `not (f = x)` is how "absent or different" is written.
struct Predicate {
  FieldRef field;
  Op op = Op::kEq;
  std::vector<Literal> values;  // one for most ops, several for in / cidr / contains-any
  Quantifier quantifier = Quantifier::kAny;
  bool case_insensitive = false;  // for eq / in / startswith / endswith / glob (Sigma's default)
};

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind : uint8_t { kPredicate, kAnd, kOr, kNot, kTrue, kFalse };
  Kind kind = Kind::kTrue;
  Predicate predicate;            // kPredicate
  std::vector<ExprPtr> children;  // kAnd / kOr (any number), kNot (exactly one)

  static ExprPtr Pred(Predicate p);
  static ExprPtr And(std::vector<ExprPtr> children);
  static ExprPtr Or(std::vector<ExprPtr> children);
  static ExprPtr Not(ExprPtr child);
  static ExprPtr True();
  static ExprPtr False();
};

// Where a rule came from, for error messages, lint output and docs.
struct RuleSource {
  std::string file;
  int line = 0;
  int column = 0;
};

enum class RuleOrigin : uint8_t { kNative, kFalco, kSigma };

// An inline test case: an audit Event (JSON) and whether the rule must match it.
struct RuleTest {
  std::string name;
  std::string event_json;
  bool expect_match = true;
  RuleSource source;
};

struct Rule {
  std::string id;    // stable, unique in a rule set: "k8s.exec_into_pod", "falco.attach_exec_pod"
  std::string name;  // human name; for Falco rules the Falco rule name (rule_name)
  std::string description;
  Severity severity = Severity::kMedium;
  std::vector<std::string> attack_ids;  // "T1609", "T1552.007"
  std::vector<std::string> tags;
  bool enabled = true;
  ExprPtr condition;
  // Allow-lists: an event matching any exception does not raise the rule.
  std::vector<ExprPtr> exceptions;
  // Message template: text with {field.path} placeholders (canonical syntax), e.g.
  // "{user.username} ran {verb} on {objectRef.resource} {objectRef.namespace}/{objectRef.name}
  //  on cluster {cluster}". Multi-valued fields render comma-separated; absent ones as "<none>".
  std::string output;
  std::vector<RuleTest> tests;
  RuleOrigin origin = RuleOrigin::kNative;
  RuleSource source;
  // Correspondences with other tools' rules, for docs/rules.md: "falco:Attach/Exec Pod",
  // "sigma:Potential Sidecar Injection Into Running Deployment", "panther:Kubernetes.Pod.Exec".
  std::vector<std::string> references;
};

// The output of loading one or more rule files.
struct RuleSet {
  std::vector<Rule> rules;
  // Front-end bookkeeping, for `vigil rules` and logs.
  uint64_t skipped_other_source = 0;  // Falco rules of another source (syscall, ...)
  uint64_t disabled = 0;              // rules loaded with enabled: false
  std::vector<std::string> warnings;  // "file:line:col: ..." non-fatal notes
};

}  // namespace vigil::detect

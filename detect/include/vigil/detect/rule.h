// The rule IR: what every rule front end (native YAML, Falco k8s_audit, Sigma kubernetes/audit)
// produces and what the RuleEngine compiles into evaluators. Plain data, no behaviour: front
// ends build it, the engine compiles it once at load time, the linter inspects it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
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
//   |uafamily    a user agent's product: the text before the first '/', lower-cased
//                ("kubectl/v1.29.3 (linux/amd64) kubernetes/6813625" -> "kubectl")
// and, for the k8saudit plugin's computed fields (the Falco front end uses them):
//   |unixnano           a timestamp as nanoseconds since the epoch, as text
//   |typekeys           each key of an object value but "name" (a pod volume's type)
//   |effective:KEY      on container objects: the container's securityContext.KEY, else the
//                       pod's requestObject.spec.securityContext.KEY, else 0
//   |subject:KIND       on RBAC subject objects: the name of each subject of kind KIND
//   |subjectns:KIND     the same as "namespace:name", for subjects that have a namespace
//   |pathmatch:PATH     on volume objects: "true" when a hostPath.path is PATH (starts with
//                       it, when PATH ends with '*'), else "false"; absent without volumes
//   |podtarget          the values only when the event targets a pod (objectRef.resource
//                       pods, no subresource)
// `event` (alone) is the whole event as its JSON text (AuditEvent::raw).
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

// A key or value a stateful operator computes from an event. Either a field path, with
// fallbacks tried in order ("objectRef.name ?? requestObject.metadata.name": the first that yields
// a value), or a template with {field} placeholders ("system:serviceaccount:{objectRef.namespace}:
// {objectRef.name}"). Multi-valued fields render comma-separated; an absent one renders empty.
struct KeyExpr {
  std::string text;  // as written
  RuleSource source;
};

// One step of a `sequence`: its own condition (ANDed with the rule's) and, optionally, its own
// key expressions (default: the rule's group_by); every step's key must render the same text
// for the same entity.
struct SequenceStep {
  std::string name;
  ExprPtr condition;
  std::vector<KeyExpr> by;
};

// A stateful operator (detect/README.md, "Stateful rules"). The rule's condition selects the
// events it sees; state is kept per (rule, cluster, rendered group_by), in event time.
struct StatefulSpec {
  enum class Kind : uint8_t {
    kThreshold,  // >= count matching events per key within window
    kDistinct,   // >= count distinct values of `field` per key within window
    kNewTerms,   // a `terms` combination never seen for the key, after the learning period
    kSequence,   // steps in order, same key, within window
  };
  Kind kind = Kind::kThreshold;
  std::vector<KeyExpr> group_by;  // empty: one key per cluster
  int64_t window_us = 0;          // threshold / distinct window; sequence span
  uint64_t count = 0;             // threshold / distinct
  std::vector<KeyExpr> field;     // distinct: the value counted (one expression)
  std::vector<KeyExpr> terms;     // new_terms: the combination (empty: the key itself is new)
  // distinct: each condition must hold for at least one event inside the window.
  std::vector<ExprPtr> must_include;
  int64_t learning_us = 0;  // new_terms: nothing fires this long after a cluster's first event
  ExprPtr learn_from;       // new_terms: events whose terms are learned (null: all in scope)
  int64_t ttl_us = 0;       // state lives this long after its last update (0: derived)
  uint32_t max_values = 0;  // per key: distinct values / terms kept (0: engine default)
  std::vector<SequenceStep> steps;  // sequence, at least 2
};
std::string_view StatefulKindName(StatefulSpec::Kind kind);  // "threshold", ...

// A stateful rule's inline test: events fed in order to a fresh state; the rule must raise
// exactly `expect_findings` distinct findings (ids), whose counts add up to `expect_count` (when
// set). An item `{repeat: N, every: D, event: E}` stands for N copies of E (see detect/README.md).
struct StatefulTest {
  std::string name;
  std::vector<std::string> events_json;
  uint64_t expect_findings = 0;
  uint64_t expect_count = 0;  // 0: not checked
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
  //  on cluster {cluster}". Multi-valued fields render comma-separated; absent ones as "<none>"
  // ("<NA>" for rules of Falco origin, as Falco prints them). An optional part "{? ...}" is
  // left out when one of its fields has no value: "exec'd into {objectRef.name}{? in
  // {objectRef.namespace}}" (no nesting; '}' closes it, "{{" is a literal '{').
  std::string output;
  // The names findings report the output's fields under (Finding::fields), by canonical path:
  // the Falco loader maps "user.username" to "ka.user.name" as the rule wrote it. A field not
  // named here is reported under its canonical path.
  std::vector<std::pair<std::string, std::string>> output_names;
  std::vector<RuleTest> tests;
  RuleOrigin origin = RuleOrigin::kNative;
  RuleSource source;
  // Correspondences with other tools' rules, for docs/rules.md: "falco:Attach/Exec Pod",
  // "sigma:Potential Sidecar Injection Into Running Deployment", "panther:Kubernetes.Pod.Exec".
  std::vector<std::string> references;
  // Set for stateful rules; null for single-event rules.
  std::shared_ptr<const StatefulSpec> stateful;
  // Inline tests of a stateful rule: a sequence of events and the findings it must raise.
  std::vector<StatefulTest> stateful_tests;
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

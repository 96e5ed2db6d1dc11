// The built-in single-event rules: one match function per rule, and the table that names them.
#include "builtin_rules.h"

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>

#include "vigil/detect/query_params.h"

namespace vigil::detect {
namespace {

using simdjson::SUCCESS;
using simdjson::dom::array;
using simdjson::dom::element;

// Event content is attacker-controlled: every piece quoted into a message is bounded.
constexpr size_t kMaxDetail = 512;
constexpr size_t kMaxName = 253;  // the longest Kubernetes object name

bool OneOf(std::string_view value, std::initializer_list<std::string_view> set) {
  for (std::string_view s : set) {
    if (value == s) return true;
  }
  return false;
}

void AppendBounded(std::string* out, std::string_view text, size_t max = kMaxDetail) {
  if (text.size() <= max) {
    out->append(text);
  } else {
    out->append(text.substr(0, max));
    out->append("...");
  }
}

// The string at `r`, or empty when it is missing or not a string.
std::string_view StringAt(simdjson::simdjson_result<element> r) {
  std::string_view s;
  if (r.get_string().get(s) != SUCCESS) return {};
  return s;
}

// "alice", or "alice (as bob)" when the request impersonated bob.
std::string Actor(const AuditEvent& e) {
  std::string s;
  AppendBounded(&s, e.user.username.empty() ? "<unknown user>" : e.user.username, kMaxName);
  if (!e.impersonated_user.username.empty()) {
    s += " (as ";
    AppendBounded(&s, e.impersonated_user.username, kMaxName);
    s += ")";
  }
  return s;
}

// "ns/name", "name" when cluster-scoped; "<unnamed>" stands in for a missing name.
std::string NamespacedName(std::string_view ns, std::string_view name) {
  std::string s;
  if (!ns.empty()) {
    AppendBounded(&s, ns, kMaxName);
    s += '/';
  }
  AppendBounded(&s, name.empty() ? "<unnamed>" : name, kMaxName);
  return s;
}

std::string OnCluster(const AuditEvent& e) {
  std::string s = " on cluster ";
  AppendBounded(&s, e.cluster.empty() ? "<unknown>" : e.cluster, kMaxName);
  return s;
}

std::string Join(const std::vector<std::string_view>& parts, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) s += sep;
    s += parts[i];
  }
  return s;
}

// metadata.name from a decoded body, used when objectRef carries no name (create).
std::string_view BodyName(const element& root) { return StringAt(root["metadata"]["name"]); }

// --- outcome ---------------------------------------------------------------------------------

// Why the request did not succeed, when the event says so: "code 403" (any code >= 400) or, with
// no code, "decision forbid". Empty when it succeeded or the outcome is unknown.
std::string Denial(const AuditEvent& e) {
  if (e.response_status.has_code) {
    if (e.response_status.code >= 400) return "code " + std::to_string(e.response_status.code);
    return {};
  }
  if (e.Annotation("authorization.k8s.io/decision") == "forbid") return "decision forbid";
  return {};
}

// For the rules that report an attempt whatever its outcome: a denied request is still a
// finding, but at low severity. Returns what goes after the cluster in the message: "" or
// " (denied, code 403)".
std::string MarkDenied(const AuditEvent& e, RuleHit* hit) {
  std::string denial = Denial(e);
  if (denial.empty()) return {};
  hit->severity = Severity::kLow;
  return " (denied, " + denial + ")";
}

// RequestReceived carries no outcome. All stages of a request share one finding id and the first
// finding seen wins, so the rules that grade by outcome wait for ResponseStarted/Complete (exec
// and attach are long-running and have ResponseStarted). An absent stage is evaluated.
bool OutcomeUnknownYet(const AuditEvent& e) { return e.stage == AuditStage::kRequestReceived; }

// "alice ran <verb> <what>" or, when denied, "alice tried to <verb> <what>".
std::string Did(const AuditEvent& e, std::string_view verb, std::string_view denied,
                std::string_view ran_joiner) {
  std::string s = Actor(e);
  s += denied.empty() ? " ran " : " tried to ";
  s += verb;
  s += denied.empty() ? ran_joiner : " ";
  return s;
}

// --- exec / attach ---------------------------------------------------------------------------

bool IsPodSubresource(const AuditEvent& e, std::string_view subresource) {
  return e.object_ref.resource == "pods" && e.object_ref.subresource == subresource &&
         OneOf(e.verb, {"create", "get"});  // POST (SPDY) or GET (websocket upgrade)
}

bool MatchExec(const AuditEvent& e, LazyBody& /*body*/, RuleHit* hit) {
  if (OutcomeUnknownYet(e) || !IsPodSubresource(e, "exec")) return false;
  std::string denied = MarkDenied(e, hit);
  hit->message = Did(e, "exec", denied, " ") + "in pod " +
                 NamespacedName(e.object_ref.namespace_, e.object_ref.name) + OnCluster(e) + denied;
  std::vector<std::string> command = QueryParams(e.request_uri, "command");
  if (!command.empty()) {
    std::vector<std::string_view> parts(command.begin(), command.end());
    hit->message += ": command=";
    AppendBounded(&hit->message, Join(parts, " "));
  }
  std::vector<std::string> container = QueryParams(e.request_uri, "container");
  if (!container.empty()) {
    hit->message += " (container=";
    AppendBounded(&hit->message, container.front(), kMaxName);
    hit->message += ")";
  }
  return true;
}

bool MatchAttach(const AuditEvent& e, LazyBody& /*body*/, RuleHit* hit) {
  if (OutcomeUnknownYet(e) || !IsPodSubresource(e, "attach")) return false;
  std::string denied = MarkDenied(e, hit);
  hit->message = Did(e, "attach", denied, " ") + "in pod " +
                 NamespacedName(e.object_ref.namespace_, e.object_ref.name) + OnCluster(e) + denied;
  return true;
}

// --- cluster-wide secrets list ---------------------------------------------------------------

bool MatchSecretsListAllNamespaces(const AuditEvent& e, LazyBody& /*body*/, RuleHit* hit) {
  if (e.object_ref.resource != "secrets" || !e.object_ref.subresource.empty() ||
      !e.object_ref.namespace_.empty() || !OneOf(e.verb, {"list", "watch"})) {
    return false;
  }
  hit->message =
      Actor(e) + " ran " + std::string(e.verb) + " on secrets in all namespaces" + OnCluster(e);
  return true;
}

// --- privileged container --------------------------------------------------------------------

// Where each workload kind keeps its pod spec.
struct WorkloadKind {
  std::string_view resource;
  std::string_view group;
  bool legacy_extensions;                         // also served by extensions/v1beta1 long ago
  std::array<std::string_view, 5> pod_spec_path;  // keys from the body root; "" ends it
};

constexpr WorkloadKind kWorkloads[] = {
    {"pods", "", false, {"spec"}},
    {"replicationcontrollers", "", false, {"spec", "template", "spec"}},
    {"podtemplates", "", false, {"template", "spec"}},
    {"deployments", "apps", true, {"spec", "template", "spec"}},
    {"daemonsets", "apps", true, {"spec", "template", "spec"}},
    {"replicasets", "apps", true, {"spec", "template", "spec"}},
    {"statefulsets", "apps", false, {"spec", "template", "spec"}},
    {"jobs", "batch", false, {"spec", "template", "spec"}},
    {"cronjobs", "batch", false, {"spec", "jobTemplate", "spec", "template", "spec"}},
};

const WorkloadKind* FindWorkload(const ObjectRef& ref) {
  for (const WorkloadKind& w : kWorkloads) {
    if (ref.resource == w.resource &&
        (ref.api_group == w.group || (w.legacy_extensions && ref.api_group == "extensions"))) {
      return &w;
    }
  }
  return nullptr;
}

// Appends the names of containers whose securityContext.privileged is JSON `true`. Anything
// else -- false, the string "true", a list that is an object instead of an array, a container
// that is not an object -- is not privileged: the apiserver rejects such bodies, so they cannot
// have produced a privileged container.
void PrivilegedContainers(const element& pod_spec, std::vector<std::string_view>* names) {
  for (std::string_view list : {"containers", "initContainers", "ephemeralContainers"}) {
    array containers;
    if (pod_spec[list].get_array().get(containers) != SUCCESS) continue;
    for (element c : containers) {
      bool privileged = false;
      if (c["securityContext"]["privileged"].get_bool().get(privileged) == SUCCESS && privileged) {
        std::string_view name = StringAt(c["name"]);
        names->push_back(name.empty() ? "<unnamed>" : name);
      }
    }
  }
}

bool MatchPrivileged(const AuditEvent& e, LazyBody& body, RuleHit* hit) {
  if (OutcomeUnknownYet(e) || !OneOf(e.verb, {"create", "update", "patch"})) return false;
  const WorkloadKind* kind = FindWorkload(e.object_ref);
  if (kind == nullptr) return false;
  // pods/ephemeralcontainers carries a whole Pod; every other subresource has another body.
  if (!e.object_ref.subresource.empty() &&
      !(kind->resource == "pods" && e.object_ref.subresource == "ephemeralcontainers")) {
    return false;
  }
  const element* root = body.Get();
  if (root == nullptr) return false;
  // A JSON-patch (array) body fails at the first key and is not inspected.
  simdjson::simdjson_result<element> at{element(*root)};
  for (std::string_view key : kind->pod_spec_path) {
    if (key.empty()) break;
    at = at[key];
  }
  element pod_spec;
  if (at.get(pod_spec) != SUCCESS) return false;
  std::vector<std::string_view> names;
  PrivilegedContainers(pod_spec, &names);
  if (names.empty()) return false;

  std::string_view name = e.object_ref.name;
  if (name.empty()) {
    name = BodyName(*root);
    hit->object_name.assign(name.substr(0, kMaxName));
  }
  std::string denied = MarkDenied(e, hit);
  hit->message = Did(e, e.verb, denied, " on ") + std::string(kind->resource) + " " +
                 NamespacedName(e.object_ref.namespace_, name) + OnCluster(e) + denied +
                 " with privileged container(s): ";
  AppendBounded(&hit->message, Join(names, ", "));
  return true;
}

// --- binding to cluster-admin / system:masters -----------------------------------------------

bool MatchClusterAdminBinding(const AuditEvent& e, LazyBody& body, RuleHit* hit) {
  if (OutcomeUnknownYet(e) || !OneOf(e.verb, {"create", "update", "patch"}) ||
      !OneOf(e.object_ref.resource, {"clusterrolebindings", "rolebindings"}) ||
      e.object_ref.api_group != "rbac.authorization.k8s.io" || !e.object_ref.subresource.empty()) {
    return false;
  }
  const element* root = body.Get();
  if (root == nullptr) return false;

  std::vector<std::string_view> reasons;
  // A namespaced Role may also be called cluster-admin; only the ClusterRole is the real one.
  std::string_view role_kind = StringAt((*root)["roleRef"]["kind"]);
  if (StringAt((*root)["roleRef"]["name"]) == "cluster-admin" &&
      (role_kind.empty() || role_kind == "ClusterRole")) {
    reasons.push_back("roleRef ClusterRole/cluster-admin");
  }
  array subjects;
  if ((*root)["subjects"].get_array().get(subjects) == SUCCESS) {
    for (element s : subjects) {
      if (StringAt(s["kind"]) == "Group" && StringAt(s["name"]) == "system:masters") {
        reasons.push_back("subject Group system:masters");
        break;
      }
    }
  }
  if (reasons.empty()) return false;

  std::string_view name = e.object_ref.name;
  if (name.empty()) {
    name = BodyName(*root);
    hit->object_name.assign(name.substr(0, kMaxName));
  }
  std::string denied = MarkDenied(e, hit);
  hit->message = Did(e, e.verb, denied, " on ") + std::string(e.object_ref.resource) + " " +
                 NamespacedName(e.object_ref.namespace_, name) + OnCluster(e) + denied + ": " +
                 Join(reasons, "; ");
  return true;
}

// --- anonymous request allowed ---------------------------------------------------------------

// Probes that clusters commonly open to anonymous users on purpose.
bool IsHealthEndpoint(std::string_view uri) {
  std::string_view path = uri.substr(0, uri.find('?'));
  for (std::string_view h : {"/healthz", "/livez", "/readyz", "/version",
                             "/.well-known/openid-configuration", "/openid/v1/jwks"}) {
    if (path == h) return true;
    if (path.size() > h.size() && path.substr(0, h.size()) == h && path[h.size()] == '/') {
      return true;  // /healthz/etcd, /readyz/ping, ...
    }
  }
  return false;
}

bool IsAnonymous(const UserInfo& user) {
  if (user.username == "system:anonymous") return true;
  for (std::string_view g : user.groups) {
    if (g == "system:unauthenticated") return true;
  }
  return false;
}

bool MatchAnonymousAllowed(const AuditEvent& e, LazyBody& /*body*/, RuleHit* hit) {
  // The outcome is unknown before the response.
  if (e.stage == AuditStage::kRequestReceived) return false;
  if (!IsAnonymous(e.user) || IsHealthEndpoint(e.request_uri)) return false;
  std::string outcome;
  if (e.response_status.has_code) {
    if (e.response_status.code < 200 || e.response_status.code > 299) return false;
    outcome = "code " + std::to_string(e.response_status.code);
  } else {
    if (e.Annotation("authorization.k8s.io/decision") != "allow") return false;
    outcome = "decision allow";
  }
  hit->message = Actor(e) + " ran " + std::string(e.verb) + " on ";
  AppendBounded(&hit->message, e.request_uri.empty() ? "<no uri>" : e.request_uri);
  hit->message += OnCluster(e) + " and was allowed (" + outcome + ")";
  return true;
}

}  // namespace

std::vector<BuiltinRule> MakeBuiltinRules() {
  return {
      {{"k8s.exec_into_pod",
        "Exec into pod",
        Severity::kMedium,
        {"T1609"},
        "A command was run in a container through pods/exec (verb create or get). The message "
        "carries the decoded command. A denied attempt is reported at low severity."},
       &MatchExec},
      {{"k8s.attach_to_pod",
        "Attach to pod",
        Severity::kMedium,
        {"T1609"},
        "A user attached to a running container's console through pods/attach. A denied attempt "
        "is reported at low severity."},
       &MatchAttach},
      {{"k8s.secrets_list_all_namespaces",
        "Secrets listed across all namespaces",
        Severity::kHigh,
        {"T1552.007", "T1613"},
        "Secrets were listed or watched cluster-wide (no namespace, e.g. /api/v1/secrets)."},
       &MatchSecretsListAllNamespaces},
      {{"k8s.privileged_pod",
        "Privileged container",
        Severity::kHigh,
        {"T1611", "T1610"},
        "A pod or workload (deployment, daemonset, statefulset, replicaset, job, cronjob, "
        "replicationcontroller, podtemplate) was created, updated or merge-patched with a "
        "container, init container or ephemeral container whose securityContext.privileged is "
        "true. A denied attempt is reported at low severity."},
       &MatchPrivileged},
      {{"k8s.cluster_admin_binding",
        "Binding to cluster-admin",
        Severity::kCritical,
        {"T1098"},
        "A RoleBinding or ClusterRoleBinding was created, updated or patched so that it grants "
        "the cluster-admin ClusterRole or names the system:masters group as a subject. A denied "
        "attempt is reported at low severity."},
       &MatchClusterAdminBinding},
      {{"k8s.anonymous_request_allowed",
        "Anonymous request allowed",
        Severity::kHigh,
        {"T1190", "T1078"},
        "An unauthenticated request (system:anonymous or group system:unauthenticated) was "
        "allowed (2xx, or decision allow without a code); health and discovery endpoints "
        "(/healthz, /livez, /readyz, /version, OIDC discovery) are excluded."},
       &MatchAnonymousAllowed},
  };
}

}  // namespace vigil::detect

// Tests for the Falco front end: the corpus k8s_audit rules file (and the syscall file beside
// it), per-rule Falco-style events that must / must not fire, and the loader's semantics
// (lists, macros, append/override, exceptions, priorities, outputs, errors).
#include "vigil/detect/falco_loader.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "event_fixture.h"
#include "falco_fields.h"
#include "vigil/core/finding.h"
#include "vigil/detect/rule_engine.h"

namespace vigil::detect {
namespace {

namespace fs = std::filesystem;
using testing::EventFixture;

// ---------------------------------------------------------------------------------------------
// Helpers

std::string CorpusDir() {
  if (const char* env = std::getenv("VIGIL_CORPUS")) return env;
  return std::string(VIGIL_SOURCE_DIR) + "/../shared/corpus";
}

std::string K8sRulesPath() { return CorpusDir() + "/falco/k8s_audit_rules.yaml"; }
std::string SyscallRulesPath() { return CorpusDir() + "/falco/falco_rules.yaml"; }

#define SKIP_WITHOUT_CORPUS()                                                       \
  do {                                                                              \
    if (!fs::exists(K8sRulesPath())) {                                              \
      GTEST_SKIP() << "corpus absent: " << K8sRulesPath() << " (set VIGIL_CORPUS)"; \
    }                                                                               \
  } while (0)

// A compact Lisp-like rendering of an Expr, for exact assertions.
std::string Dump(const ExprPtr& e) {
  if (!e) return "null";
  switch (e->kind) {
    case Expr::Kind::kTrue:
      return "true";
    case Expr::Kind::kFalse:
      return "false";
    case Expr::Kind::kPredicate: {
      const Predicate& p = e->predicate;
      std::string s = p.field.path + " " + std::string(OpName(p.op));
      for (size_t i = 0; i < p.values.size(); ++i) s += (i ? "," : " ") + p.values[i].text;
      if (p.quantifier == Quantifier::kAll) s += " [all]";
      return s;
    }
    case Expr::Kind::kNot:
      return "(not " + Dump(e->children[0]) + ")";
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      std::string s = e->kind == Expr::Kind::kAnd ? "(and" : "(or";
      for (const ExprPtr& c : e->children) s += " " + Dump(c);
      return s + ")";
    }
  }
  return "?";
}

Result<RuleSet> Load(std::string yaml) {
  return LoadFalcoRulesFromStrings({FalcoRulesFile{"t.yaml", std::move(yaml)}});
}

const Rule* Find(const RuleSet& set, std::string_view name) {
  for (const Rule& r : set.rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// A minimal k8s_audit rule around `condition`.
std::string RuleYaml(std::string_view name, std::string_view condition,
                     std::string_view extra = "") {
  return "- rule: " + std::string(name) + "\n  desc: d\n  condition: " + std::string(condition) +
         "\n  output: o\n  priority: WARNING\n  source: k8s_audit\n" + std::string(extra);
}

// ---------------------------------------------------------------------------------------------
// Falco-style audit events

struct Ev {
  std::string verb = "create";
  std::string resource = "";
  std::string subresource = "";
  std::string ns = "default";
  std::string name = "x";
  std::string user = "alice";
  int code = 201;
  std::string stage = "ResponseComplete";
  std::string uri = "";
  std::string decision = "allow";
  std::string req = "";  // requestObject JSON, or empty
};

std::string Q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string ToJson(const Ev& e) {
  std::string uri = e.uri;
  if (uri.empty()) {
    uri = "/api/v1/" + (e.ns.empty() ? "" : "namespaces/" + e.ns + "/") + e.resource;
    if (e.verb != "create" && e.verb != "list") uri += "/" + e.name;
    if (!e.subresource.empty()) uri += "/" + e.subresource;
  }
  std::string j = R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",)";
  j += R"("auditID":"id-1","stage":)" + Q(e.stage) + R"(,"verb":)" + Q(e.verb) +
       R"(,"requestURI":)" + Q(uri) + R"(,"user":{"username":)" + Q(e.user) +
       R"(,"groups":["system:authenticated"]},"sourceIPs":["203.0.113.9"],)" +
       R"("userAgent":"kubectl/v1.29.0",)";
  if (!e.resource.empty()) {
    j += R"("objectRef":{"resource":)" + Q(e.resource);
    if (!e.ns.empty()) j += R"(,"namespace":)" + Q(e.ns);
    if (!e.name.empty()) j += R"(,"name":)" + Q(e.name);
    if (!e.subresource.empty()) j += R"(,"subresource":)" + Q(e.subresource);
    j += R"(,"apiVersion":"v1"},)";
  }
  if (e.code != 0)
    j += R"("responseStatus":{"metadata":{},"code":)" + std::to_string(e.code) + "},";
  if (!e.req.empty()) j += R"("requestObject":)" + e.req + ",";
  j += R"("requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z",)"
       R"("stageTimestamp":"2024-05-01T10:00:00.100000Z",)"
       R"("annotations":{"authorization.k8s.io/decision":)" +
       Q(e.decision) + R"(,"authorization.k8s.io/reason":"RBAC: allowed"}})";
  return j;
}

std::string PodSpec(std::string_view image, std::string_view container_extra = "",
                    std::string_view spec_extra = "") {
  std::string s = R"({"kind":"Pod","spec":{"containers":[{"name":"c","image":)" + Q(image);
  if (!container_extra.empty()) s += "," + std::string(container_extra);
  s += "}]";
  if (!spec_extra.empty()) s += "," + std::string(spec_extra);
  return s + "}}";
}

constexpr char kPrivileged[] = R"("securityContext":{"privileged":true})";

// Tuning that turns on the rules Falco ships switched off by a never-true / always-true macro.
constexpr char kTuning[] = R"(
- macro: allowed_k8s_containers
  condition: (ka.req.pod.containers.image.repository in (my-repo/my-image))
  override:
    condition: replace
- macro: consider_all_events
  condition: (k8s_audit_always_true)
  override:
    condition: replace
- macro: allowed_full_admin_users
  condition: (k8s_audit_never_true)
  override:
    condition: replace
- macro: allow_all_k8s_nodes
  condition: (k8s_audit_never_true)
  override:
    condition: replace
- list: allowed_k8s_nodes
  items: [node-ok]
  append: true
)";

// Which published k8saudit release a case is written for: the latest (the corpus file, 0.18.0)
// and the oldest (0.1.0) share most rule names; a case checks every release that has its rule
// unless the two releases' conditions differ.
enum class Release { kAll, kLatest, kOldest };

struct Case {
  const char* rule;
  Ev event;
  bool fires;
  bool tuned = false;  // evaluate with kTuning loaded after the corpus file
  Release release = Release::kAll;
};

// For EACH Falco k8s_audit rule: an event that must fire it and one that must not. The five
// rules Falco ships disabled through a macro are exercised with kTuning (and checked never to
// fire without it).
std::vector<Case> Cases() {
  const std::string kRole =
      R"({"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]})";
  return {
      {"Disallowed K8s User", {.verb = "get", .resource = "pods", .code = 200}, true},
      {"Disallowed K8s User",
       {.verb = "get", .resource = "pods", .user = "minikube", .code = 200},
       false},
      {"Disallowed K8s User",
       {.verb = "get", .resource = "pods", .user = "eks:node-manager", .code = 200},
       false},
      {"Create Disallowed Pod", {.resource = "pods", .req = PodSpec("nginx:1.25")}, true, true},
      {"Create Disallowed Pod",
       {.resource = "pods", .req = PodSpec("my-repo/my-image:1.0")},
       false,
       true},
      {"Create Disallowed Pod", {.resource = "pods", .req = PodSpec("nginx:1.25")}, false},
      {"Create Privileged Pod",
       {.resource = "pods", .req = PodSpec("nginx:1.25", kPrivileged)},
       true},
      // Init containers count since the plugin's initContainers fields (not in 0.1.0).
      {"Create Privileged Pod",
       {.resource = "pods",
        .req = PodSpec("nginx", "",
                       R"("initContainers":[{"name":"i","image":"busybox",)" +
                           std::string(kPrivileged) + "}]")},
       true,
       false,
       Release::kLatest},
      {"Create Privileged Pod",
       {.resource = "pods",
        .req = PodSpec("nginx", "",
                       R"("initContainers":[{"name":"i","image":"busybox",)" +
                           std::string(kPrivileged) + "}]")},
       false,
       false,
       Release::kOldest},
      {"Create Privileged Pod",
       {.resource = "pods", .req = PodSpec("docker.io/calico/node:v3.26", kPrivileged)},
       false},
      {"Create Privileged Pod",
       {.resource = "pods", .req = PodSpec("nginx", R"("securityContext":{"privileged":false})")},
       false},
      {"Create Sensitive Mount Pod",
       {.resource = "pods",
        .req = PodSpec("nginx", "", R"("volumes":[{"name":"v","hostPath":{"path":"/etc"}}])")},
       true},
      {"Create Sensitive Mount Pod",
       {.resource = "pods",
        .req = PodSpec("nginx", "", R"("volumes":[{"name":"v","hostPath":{"path":"/data"}}])")},
       false},
      {"Create HostNetwork Pod",
       {.resource = "pods", .req = PodSpec("nginx", "", R"("hostNetwork":true)")},
       true},
      {"Create HostNetwork Pod",
       {.resource = "pods",
        .req = PodSpec("gke.gcr.io/kube-proxy:v1", "", R"("hostNetwork":true)")},
       false},
      {"Create HostPid Pod",
       {.resource = "pods", .req = PodSpec("nginx", "", R"("hostPID":true)")},
       true},
      {"Create HostPid Pod",
       {.resource = "pods", .req = PodSpec("nginx", "", R"("hostPID":false)")},
       false},
      {"Create HostIPC Pod",
       {.resource = "pods", .req = PodSpec("nginx", "", R"("hostIPC":true)")},
       true},
      {"Create HostIPC Pod", {.resource = "pods", .req = PodSpec("nginx")}, false},
      {"Create NodePort Service",
       {.resource = "services", .req = R"({"spec":{"type":"NodePort","ports":[{"port":80}]}})"},
       true},
      {"Create NodePort Service",
       {.resource = "services", .req = R"({"spec":{"type":"ClusterIP","ports":[{"port":80}]}})"},
       false},
      {"Create/Modify Configmap With Private Credentials",
       {.verb = "update",
        .resource = "configmaps",
        .code = 200,
        .req = R"({"data":{"aws_access_key_id":"AKIAEXAMPLE"}})"},
       true},
      {"Create/Modify Configmap With Private Credentials",
       {.verb = "update",
        .resource = "configmaps",
        .code = 200,
        .req = R"({"data":{"color":"blue"}})"},
       false},
      {"Anonymous Request Allowed",
       {.verb = "get", .user = "system:anonymous", .code = 200, .uri = "/api/v1/secrets"},
       true},
      // Health endpoints: 0.1.0 matches the exact URI, later releases any query string.
      {"Anonymous Request Allowed",
       {.verb = "get", .user = "system:anonymous", .code = 200, .uri = "/healthz?verbose"},
       false,
       false,
       Release::kLatest},
      {"Anonymous Request Allowed",
       {.verb = "get", .user = "system:anonymous", .code = 200, .uri = "/healthz?verbose"},
       true,
       false,
       Release::kOldest},
      {"Anonymous Request Allowed",
       {.verb = "get", .user = "system:anonymous", .code = 200, .uri = "/readyz"},
       false},
      {"Attach/Exec Pod",
       {.resource = "pods",
        .subresource = "exec",
        .name = "web-0",
        .code = 0,
        .stage = "ResponseStarted",
        .uri = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&container=c"},
       true},
      {"Attach/Exec Pod",
       {.resource = "pods",
        .subresource = "exec",
        .name = "web-0",
        .code = 101,
        .stage = "ResponseComplete"},
       false},
      {"Attach/Exec Pod",
       {.verb = "get", .resource = "pods", .subresource = "log", .stage = "ResponseStarted"},
       false},
      {"port-forward", {.resource = "pods", .subresource = "portforward", .code = 0}, true},
      {"port-forward", {.resource = "pods", .subresource = "exec", .code = 0}, false},
      {"EphemeralContainers Created",
       {.verb = "patch", .resource = "pods", .subresource = "ephemeralcontainers", .code = 200},
       true},
      {"EphemeralContainers Created",
       {.verb = "patch", .resource = "pods", .subresource = "status", .code = 200},
       false},
      {"Create Disallowed Namespace", {.resource = "namespaces", .ns = "", .name = "evil"}, true},
      {"Create Disallowed Namespace",
       {.resource = "namespaces", .ns = "", .name = "kube-public"},
       false},
      {"Pod Created in Kube Namespace",
       {.resource = "pods", .ns = "kube-system", .req = PodSpec("nginx")},
       true},
      {"Pod Created in Kube Namespace",
       {.resource = "pods",
        .ns = "kube-system",
        .req = PodSpec("registry.k8s.io/kube-apiserver:v1.28.0")},
       false,
       false,
       Release::kLatest},
      {"Pod Created in Kube Namespace",  // 0.1.0's list of trusted kube-system images
       {.resource = "pods",
        .ns = "kube-system",
        .req = PodSpec("gcr.io/projectcalico-org/node:v3.1")},
       false,
       false,
       Release::kOldest},
      {"Service Account Created in Kube Namespace",
       {.resource = "serviceaccounts", .ns = "kube-system", .name = "backdoor"},
       true},
      {"Service Account Created in Kube Namespace",
       {.resource = "serviceaccounts", .ns = "kube-system", .name = "coredns"},
       false},
      {"System ClusterRole Modified/Deleted",
       {.verb = "update", .resource = "clusterroles", .ns = "", .name = "system:node", .code = 200},
       true},
      {"System ClusterRole Modified/Deleted",
       {.verb = "update",
        .resource = "clusterroles",
        .ns = "",
        .name = "system:coredns",
        .code = 200},
       false},
      {"Attach to cluster-admin Role",
       {.resource = "clusterrolebindings",
        .ns = "",
        .req = R"({"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},)"
               R"("subjects":[{"kind":"User","name":"mallory"}]})"},
       true},
      {"Attach to cluster-admin Role",
       {.resource = "clusterrolebindings",
        .ns = "",
        .req = R"({"roleRef":{"kind":"ClusterRole","name":"view"},)"
               R"("subjects":[{"kind":"User","name":"mallory"}]})"},
       false},
      {"ClusterRole With Wildcard Created",
       {.resource = "clusterroles",
        .ns = "",
        .req = R"({"rules":[{"apiGroups":[""],"resources":["*"],"verbs":["get"]}]})"},
       true},
      {"ClusterRole With Wildcard Created",
       {.resource = "clusterroles", .ns = "", .req = kRole},
       false},
      {"ClusterRole With Write Privileges Created",
       {.resource = "roles",
        .req = R"({"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","create"]}]})"},
       true},
      {"ClusterRole With Write Privileges Created", {.resource = "roles", .req = kRole}, false},
      {"ClusterRole With Pod Exec Created",
       {.resource = "clusterroles",
        .ns = "",
        .req = R"({"rules":[{"apiGroups":[""],"resources":["pods/exec"],"verbs":["create"]}]})"},
       true},
      {"ClusterRole With Pod Exec Created",
       {.resource = "clusterroles", .ns = "", .req = kRole},
       false},
      {"K8s Deployment Created", {.resource = "deployments"}, true},
      {"K8s Deployment Created", {.resource = "deployments", .code = 403}, false},
      {"K8s Deployment Deleted", {.verb = "delete", .resource = "deployments", .code = 200}, true},
      {"K8s Deployment Deleted", {.verb = "delete", .resource = "deployments", .code = 404}, false},
      {"K8s Service Created", {.resource = "services"}, true},
      {"K8s Service Created", {.resource = "services", .code = 409}, false},
      {"K8s Service Deleted", {.verb = "delete", .resource = "services", .code = 200}, true},
      {"K8s Service Deleted", {.verb = "get", .resource = "services", .code = 200}, false},
      {"K8s ConfigMap Created", {.resource = "configmaps"}, true},
      {"K8s ConfigMap Created", {.resource = "configmaps", .code = 403}, false},
      {"K8s ConfigMap Deleted", {.verb = "delete", .resource = "configmaps", .code = 200}, true},
      {"K8s ConfigMap Deleted",
       {.verb = "delete", .resource = "configmaps", .code = 200, .stage = "ResponseStarted"},
       false},
      {"K8s Namespace Created", {.resource = "namespaces", .ns = "", .name = "team-a"}, true},
      {"K8s Namespace Created", {.resource = "namespaces", .ns = "", .code = 403}, false},
      {"K8s Namespace Deleted",
       {.verb = "delete", .resource = "namespaces", .ns = "", .code = 200},
       true},
      {"K8s Namespace Deleted",
       {.verb = "delete",
        .resource = "namespaces",
        .ns = "",
        .user = "system:serviceaccount:kube-system:namespace-controller",
        .code = 200},
       false},
      {"K8s Serviceaccount Created", {.resource = "serviceaccounts"}, true},
      {"K8s Serviceaccount Created", {.resource = "serviceaccounts", .code = 403}, false},
      {"K8s Serviceaccount Deleted",
       {.verb = "delete", .resource = "serviceaccounts", .code = 200},
       true},
      {"K8s Serviceaccount Deleted", {.verb = "delete", .resource = "secrets", .code = 200}, false},
      {"K8s Role Created", {.resource = "roles", .req = kRole}, true},
      {"K8s Role Created", {.resource = "roles", .code = 422, .req = kRole}, false},
      {"K8s Role Deleted", {.verb = "delete", .resource = "roles", .code = 200}, true},
      {"K8s Role Deleted", {.verb = "delete", .resource = "roles", .code = 403}, false},
      {"K8s ClusterRole Created", {.resource = "clusterroles", .ns = "", .req = kRole}, true},
      {"K8s ClusterRole Created", {.resource = "roles", .req = kRole}, false},
      {"K8s ClusterRole Deleted",
       {.verb = "delete", .resource = "clusterroles", .ns = "", .code = 200},
       true},
      {"K8s ClusterRole Deleted",
       {.verb = "delete", .resource = "clusterroles", .ns = "", .code = 403},
       false},
      {"K8s RoleBinding Created", {.resource = "rolebindings"}, true},
      {"K8s RoleBinding Created", {.resource = "rolebindings", .code = 403}, false},
      {"K8s RoleBinding Deleted",
       {.verb = "delete", .resource = "rolebindings", .code = 200},
       true},
      {"K8s RoleBinding Deleted",
       {.verb = "delete", .resource = "rolebindings", .code = 403},
       false},
      {"K8s ClusterRoleBinding Created", {.resource = "clusterrolebindings", .ns = ""}, true},
      {"K8s ClusterRoleBinding Created",
       {.resource = "clusterrolebindings", .ns = "", .code = 403},
       false},
      {"K8s ClusterRoleBinding Deleted",
       {.verb = "delete", .resource = "clusterrolebindings", .ns = "", .code = 200},
       true},
      {"K8s ClusterRoleBinding Deleted",
       {.verb = "delete", .resource = "clusterrolebindings", .ns = "", .code = 403},
       false},
      {"K8s Secret Created", {.resource = "secrets"}, true},
      {"K8s Secret Created", {.resource = "secrets", .ns = "kube-system"}, false},
      {"K8s Secret Deleted", {.verb = "delete", .resource = "secrets", .code = 200}, true},
      {"K8s Secret Deleted",
       {.verb = "delete",
        .resource = "secrets",
        .user = "system:serviceaccount:ci:deployer",
        .code = 200},
       false},
      {"K8s Secret Get Successfully", {.verb = "get", .resource = "secrets", .code = 200}, true},
      {"K8s Secret Get Successfully", {.verb = "get", .resource = "secrets", .code = 403}, false},
      {"K8s Secret Get Unsuccessfully Tried",
       {.verb = "get", .resource = "secrets", .code = 403},
       true},
      {"K8s Secret Get Unsuccessfully Tried",
       {.verb = "get", .resource = "secrets", .code = 200},
       false},
      {"All K8s Audit Events", {.verb = "get", .resource = "pods", .code = 200}, true, true},
      {"All K8s Audit Events",
       {.verb = "get", .resource = "pods", .code = 200, .stage = "ResponseStarted"},
       false,
       true},
      {"All K8s Audit Events", {.verb = "get", .resource = "pods", .code = 200}, false},
      {"Full K8s Administrative Access",
       {.verb = "get", .resource = "pods", .user = "kubernetes-admin", .code = 200},
       true,
       true},
      {"Full K8s Administrative Access",
       {.verb = "get", .resource = "pods", .code = 200},
       false,
       true},
      {"Full K8s Administrative Access",
       {.verb = "get", .resource = "pods", .user = "kubernetes-admin", .code = 200},
       false},
      {"Ingress Object without TLS Certificate Created",
       {.resource = "ingresses", .req = R"({"spec":{"rules":[{"host":"a.example.com"}]}})"},
       true},
      {"Ingress Object without TLS Certificate Created",
       {.resource = "ingresses",
        .req = R"({"spec":{"tls":[{"hosts":["a.example.com"]}],"rules":[]}})"},
       false},
      {"Untrusted Node Successfully Joined the Cluster",
       {.resource = "nodes", .ns = "", .name = "node-evil"},
       true,
       true},
      {"Untrusted Node Successfully Joined the Cluster",
       {.resource = "nodes", .ns = "", .name = "node-ok"},
       false,
       true},
      {"Untrusted Node Successfully Joined the Cluster",
       {.resource = "nodes", .ns = "", .name = "node-evil"},
       false},
      {"Untrusted Node Unsuccessfully Tried to Join the Cluster",
       {.resource = "nodes", .ns = "", .name = "node-evil", .code = 403},
       true,
       true},
      {"Untrusted Node Unsuccessfully Tried to Join the Cluster",
       {.resource = "nodes", .ns = "", .name = "node-evil", .code = 201},
       false,
       true},
      // Release 0.1.0 had one rule for roles and cluster roles, and one for bindings that
      // only looks at cluster role bindings.
      {"K8s Role/Clusterrole Created",
       {.resource = "roles", .req = kRole},
       true,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrole Created",
       {.resource = "clusterroles", .ns = "", .req = kRole},
       true,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrole Created",
       {.resource = "rolebindings"},
       false,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrole Deleted",
       {.verb = "delete", .resource = "clusterroles", .ns = "", .code = 200},
       true,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrole Deleted",
       {.verb = "delete", .resource = "roles", .code = 404},
       false,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrolebinding Created",
       {.resource = "clusterrolebindings", .ns = ""},
       true,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrolebinding Created",
       {.resource = "rolebindings"},
       false,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrolebinding Deleted",
       {.verb = "delete", .resource = "clusterrolebindings", .ns = "", .code = 200},
       true,
       false,
       Release::kOldest},
      {"K8s Role/Clusterrolebinding Deleted",
       {.verb = "update", .resource = "clusterrolebindings", .ns = "", .code = 200},
       false,
       false,
       Release::kOldest},
      {"Untrusted Node Unsuccessfully Tried to Join the Cluster",
       {.resource = "nodes", .ns = "", .name = "node-evil", .code = 403},
       false},
  };
}

// ---------------------------------------------------------------------------------------------
// The corpus

TEST(FalcoCorpusTest, K8sAuditRulesLoadUnmodified) {
  SKIP_WITHOUT_CORPUS();
  FalcoLoadInfo info;
  auto set = LoadFalcoRules({K8sRulesPath()}, &info);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->rules.size(), 48u);
  EXPECT_EQ(set->skipped_other_source, 0u);
  EXPECT_EQ(set->disabled, 0u);
  EXPECT_TRUE(set->warnings.empty()) << set->warnings.front();
  ASSERT_EQ(info.required_engine_versions.size(), 1u);
  EXPECT_NE(info.required_engine_versions[0].find(": 15"), std::string::npos);
  ASSERT_FALSE(info.required_plugin_versions.empty());
  EXPECT_EQ(info.required_plugin_versions[0], "k8saudit 0.18.0");

  for (const Rule& r : set->rules) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(r.origin, RuleOrigin::kFalco);
    EXPECT_EQ(r.id.rfind("falco.", 0), 0u);
    ASSERT_NE(r.condition, nullptr);
    EXPECT_EQ(r.references, std::vector<std::string>{"falco:" + r.name});
    // Every %field is converted, jevt.obj (the whole event) included.
    EXPECT_EQ(r.output.find('%'), std::string::npos) << r.output;
    EXPECT_GT(r.source.line, 0);
  }
  const Rule* exec = Find(*set, "Attach/Exec Pod");
  ASSERT_NE(exec, nullptr);
  EXPECT_EQ(exec->id, "falco.attach_exec_pod");
  EXPECT_EQ(exec->severity, Severity::kLow);  // NOTICE
  EXPECT_NE(exec->output.find("command={requestURI.query[\"command\"][*]}"), std::string::npos)
      << exec->output;
  EXPECT_EQ(Find(*set, "K8s Secret Get Successfully")->severity, Severity::kHigh);  // ERROR
  EXPECT_EQ(Find(*set, "All K8s Audit Events")->severity, Severity::kInfo);         // DEBUG
  EXPECT_EQ(Find(*set, "port-forward")->id, "falco.port_forward");

  // Falco ships these switched off by a macro: they fold to a never-true condition.
  for (const char* off :
       {"Create Disallowed Pod", "All K8s Audit Events", "Full K8s Administrative Access",
        "Untrusted Node Successfully Joined the Cluster",
        "Untrusted Node Unsuccessfully Tried to Join the Cluster"}) {
    EXPECT_EQ(Dump(Find(*set, off)->condition), "false") << off;
  }
  // List-valued fields: `in` needs all values in the set, `intersects` one.
  std::string priv = Dump(Find(*set, "Create Privileged Pod")->condition);
  EXPECT_NE(priv.find("requestObject.spec.containers[*].securityContext.privileged in true"),
            std::string::npos)
      << priv;
  EXPECT_NE(priv.find("requestObject.spec.containers[*].image|repository in falcosecurity/falco,"),
            std::string::npos);
  EXPECT_NE(priv.find("registry.k8s.io/dns/k8s-dns-node-cache,"
                      "mcr.microsoft.com/oss/kubernetes/kube-proxy [all]"),
            std::string::npos)
      << priv;
  // `ka.response.code startswith 2` reads the code as text.
  EXPECT_NE(Dump(Find(*set, "K8s Deployment Created")->condition)
                .find("responseStatus.code|json startswith 2"),
            std::string::npos);
}

TEST(FalcoCorpusTest, EveryRuleCompiles) {
  SKIP_WITHOUT_CORPUS();
  auto set = LoadFalcoRules({K8sRulesPath()});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto engine = RuleEngine::Compile(*set);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->rules().size(), 48u);
  // One by one too, so a failure names its rule.
  for (const Rule& r : set->rules) {
    RuleSet one;
    one.rules.push_back(r);
    auto e = RuleEngine::Compile(one);
    EXPECT_TRUE(e.ok()) << r.name << ": " << e.status().ToString();
  }
}

TEST(FalcoCorpusTest, SyscallRulesAlongsideAreSkippedAndCounted) {
  SKIP_WITHOUT_CORPUS();
  if (!fs::exists(SyscallRulesPath())) GTEST_SKIP() << "absent: " << SyscallRulesPath();
  for (const auto& order : {std::vector<std::string>{SyscallRulesPath(), K8sRulesPath()},
                            std::vector<std::string>{K8sRulesPath(), SyscallRulesPath()}}) {
    auto set = LoadFalcoRules(order);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->rules.size(), 48u);
    EXPECT_EQ(set->skipped_other_source, 25u);
    auto engine = RuleEngine::Compile(*set);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  }
}

// Every published release of the k8saudit plugin's rules (0.1.0 to 0.18.0) loads unchanged
// after falco-rules 1.0.1's syscall file (whose lists and macros the older releases use) and
// compiles; the releases up to 0.7 hold a bare "-" item, which Falco skips.
TEST(FalcoCorpusTest, EveryK8sAuditReleaseLoadsAndCompiles) {
  SKIP_WITHOUT_CORPUS();
  const fs::path dir = fs::path(CorpusDir()) / "falco" / "k8saudit-versions";
  const std::string base = CorpusDir() + "/falco/falco-rules-1.0.1/falco_rules.yaml";
  if (!fs::exists(dir) || !fs::exists(base)) GTEST_SKIP() << "absent: " << dir << ", " << base;
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    ++files;
    auto set = LoadFalcoRules({base, e.path().string()});
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_GE(set->rules.size(), 43u) << e.path();
    EXPECT_GT(set->skipped_other_source, 0u) << e.path();
    auto engine = RuleEngine::Compile(*set);
    EXPECT_TRUE(engine.ok()) << e.path() << ": " << engine.status().ToString();
  }
  EXPECT_EQ(files, 15u);
}

// Falco's own view of a list of rules files, read here independently of the loader: each rule
// by name with its source (syscall when unset) and enabled flag, as later items (append,
// override, redefinition) leave them.
struct FalcoView {
  size_t k8s = 0, k8s_disabled = 0, other_source = 0;
};
FalcoView ViewOf(const std::vector<std::string>& files) {
  std::map<std::string, std::pair<std::string, bool>> rules;  // name -> (source, enabled)
  for (const std::string& file : files) {
    for (const YAML::Node& item : YAML::LoadFile(file)) {
      if (!item.IsMap() || !item["rule"]) continue;
      const std::string name = item["rule"].as<std::string>();
      const bool modifies = (item["append"] && item["append"].as<bool>()) || item["override"];
      auto it = rules.find(name);
      if (modifies || (it != rules.end() && !item["condition"])) {
        if (it != rules.end() && item["enabled"]) it->second.second = item["enabled"].as<bool>();
        continue;
      }
      rules[name] = {item["source"] ? item["source"].as<std::string>() : "syscall",
                     item["enabled"] ? item["enabled"].as<bool>() : true};
    }
  }
  FalcoView v;
  for (const auto& [name, r] : rules) {
    if (r.first != "k8s_audit") {
      ++v.other_source;
    } else {
      ++v.k8s;
      if (!r.second) ++v.k8s_disabled;
    }
  }
  return v;
}

// Every pair of rules files of Falco releases 0.24 to 0.31.1 (falco_rules.yaml, then
// k8s_audit_rules.yaml) loads unchanged; every k8s_audit rule compiles; the counts of rules
// loaded, disabled and skipped (other sources) are Falco's own view of the files.
TEST(FalcoCorpusTest, EveryFalcoReleasePairLoadsWithFalcosCounts) {
  SKIP_WITHOUT_CORPUS();
  const fs::path dir = fs::path(CorpusDir()) / "falco" / "falco-releases";
  if (!fs::exists(dir)) GTEST_SKIP() << "absent: " << dir;
  size_t releases = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::vector<std::string> files = {(e.path() / "falco_rules.yaml").string(),
                                            (e.path() / "k8s_audit_rules.yaml").string()};
    if (!fs::exists(files[0]) || !fs::exists(files[1])) continue;
    SCOPED_TRACE(e.path().filename().string());
    ++releases;
    auto set = LoadFalcoRules(files);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    const FalcoView view = ViewOf(files);
    EXPECT_EQ(set->rules.size(), view.k8s);
    EXPECT_EQ(set->disabled, view.k8s_disabled);
    EXPECT_EQ(set->skipped_other_source, view.other_source);
    EXPECT_GE(view.k8s, 30u);
    auto engine = RuleEngine::Compile(*set);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  }
  EXPECT_EQ(releases, 8u);
}

// The same count for every k8saudit plugin release, after falco-rules 1.0.1's syscall file.
TEST(FalcoCorpusTest, EveryK8sAuditReleaseCountsAsFalcoDoes) {
  SKIP_WITHOUT_CORPUS();
  const fs::path dir = fs::path(CorpusDir()) / "falco" / "k8saudit-versions";
  const std::string base = CorpusDir() + "/falco/falco-rules-1.0.1/falco_rules.yaml";
  if (!fs::exists(dir) || !fs::exists(base)) GTEST_SKIP() << "absent: " << dir << ", " << base;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().filename().string());
    const std::vector<std::string> files = {base, e.path().string()};
    auto set = LoadFalcoRules(files);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    const FalcoView view = ViewOf(files);
    EXPECT_EQ(set->rules.size(), view.k8s);
    EXPECT_EQ(set->disabled, view.k8s_disabled);
    EXPECT_EQ(set->skipped_other_source, view.other_source);
  }
}

TEST(FalcoCorpusTest, SyscallListsServeK8sRules) {
  SKIP_WITHOUT_CORPUS();
  if (!fs::exists(SyscallRulesPath())) GTEST_SKIP() << "absent: " << SyscallRulesPath();
  // A local k8s_audit rule may use the syscall file's lists, as in Falco.
  const std::string path = ::testing::TempDir() + "/falco_local_rules_test.yaml";
  {
    std::ofstream out(path);
    out << RuleYaml("Uses syscall list", "ka.user.name in (shell_binaries)");
  }
  auto set = LoadFalcoRules({SyscallRulesPath(), path});
  std::remove(path.c_str());
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 1u);
  EXPECT_EQ(set->skipped_other_source, 25u);
  std::string dump = Dump(set->rules[0].condition);
  EXPECT_EQ(dump.rfind("user.username in ash,bash,csh", 0), 0u) << dump;
}

class FalcoRuleEventsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(K8sRulesPath())) return;
    auto plain = LoadFalcoRules({K8sRulesPath()});
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    std::string content;
    {
      std::ifstream in(K8sRulesPath());
      std::stringstream ss;
      ss << in.rdbuf();
      content = ss.str();
    }
    auto tuned = LoadFalcoRulesFromStrings({{K8sRulesPath(), content}, {"tuning.yaml", kTuning}});
    ASSERT_TRUE(tuned.ok()) << tuned.status().ToString();
    auto e1 = RuleEngine::Compile(*plain);
    ASSERT_TRUE(e1.ok()) << e1.status().ToString();
    auto e2 = RuleEngine::Compile(*tuned);
    ASSERT_TRUE(e2.ok()) << e2.status().ToString();
    plain_ = std::move(e1).value().release();
    tuned_ = std::move(e2).value().release();

    // The oldest published release, after the syscall rules file it was published with.
    const std::string base = CorpusDir() + "/falco/falco-rules-1.0.1/falco_rules.yaml";
    const std::string oldest = CorpusDir() + "/falco/k8saudit-versions/k8s_audit_rules-0.1.0.yaml";
    if (!fs::exists(base) || !fs::exists(oldest)) return;
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    };
    auto old_plain = LoadFalcoRules({base, oldest});
    ASSERT_TRUE(old_plain.ok()) << old_plain.status().ToString();
    auto old_tuned = LoadFalcoRulesFromStrings(
        {{base, read(base)}, {oldest, read(oldest)}, {"tuning.yaml", kTuning}});
    ASSERT_TRUE(old_tuned.ok()) << old_tuned.status().ToString();
    auto e3 = RuleEngine::Compile(*old_plain);
    ASSERT_TRUE(e3.ok()) << e3.status().ToString();
    auto e4 = RuleEngine::Compile(*old_tuned);
    ASSERT_TRUE(e4.ok()) << e4.status().ToString();
    oldest_plain_ = std::move(e3).value().release();
    oldest_tuned_ = std::move(e4).value().release();
  }
  static void TearDownTestSuite() {
    delete plain_;
    delete tuned_;
    delete oldest_plain_;
    delete oldest_tuned_;
    plain_ = tuned_ = oldest_plain_ = oldest_tuned_ = nullptr;
  }
  // Runs every case written for `release` whose rule the engines have; checks that each of
  // their rules has a firing and a quiet case. Returns the number of cases run.
  static size_t CheckRelease(RuleEngine& plain, RuleEngine& tuned, Release release) {
    std::map<std::string, std::pair<int, int>> seen;  // rule -> (fire cases, quiet cases)
    size_t run = 0;
    for (const Case& c : Cases()) {
      if (c.release != Release::kAll && c.release != release) continue;
      RuleEngine& engine = c.tuned ? tuned : plain;
      size_t index = IndexOf(engine, c.rule);
      if (index == engine.rule_defs().size()) {
        EXPECT_EQ(c.release, Release::kAll) << "no rule named " << c.rule;
        continue;  // a rule of the other release
      }
      const std::string json = ToJson(c.event);
      SCOPED_TRACE(std::string(c.rule) + (c.tuned ? " [tuned]" : "") + "\n" + json);
      EventFixture fx(json, "prod-eu");
      EXPECT_TRUE(fx.ok()) << fx.error();
      EXPECT_EQ(engine.Matches(index, fx.event()), c.fires);
      auto& counts = seen[c.rule];
      (c.fires ? counts.first : counts.second)++;
      ++run;
    }
    for (const Rule& r : plain.rule_defs()) {
      EXPECT_GT(seen[r.name].first, 0) << "no firing event for " << r.name;
      EXPECT_GT(seen[r.name].second, 0) << "no quiet event for " << r.name;
    }
    EXPECT_EQ(seen.size(), plain.rule_defs().size());
    return run;
  }
  static size_t IndexOf(const RuleEngine& engine, std::string_view name) {
    const auto& defs = engine.rule_defs();
    for (size_t i = 0; i < defs.size(); ++i) {
      if (defs[i].name == name) return i;
    }
    return defs.size();
  }
  static RuleEngine* plain_;
  static RuleEngine* tuned_;
  static RuleEngine* oldest_plain_;
  static RuleEngine* oldest_tuned_;
};
RuleEngine* FalcoRuleEventsTest::plain_ = nullptr;
RuleEngine* FalcoRuleEventsTest::tuned_ = nullptr;
RuleEngine* FalcoRuleEventsTest::oldest_plain_ = nullptr;
RuleEngine* FalcoRuleEventsTest::oldest_tuned_ = nullptr;

// The latest release (the corpus file): every one of its 48 rules fires on one event and stays
// quiet on another.
TEST_F(FalcoRuleEventsTest, EachRuleHasAFiringAndAQuietEvent) {
  SKIP_WITHOUT_CORPUS();
  ASSERT_NE(plain_, nullptr);
  EXPECT_EQ(plain_->rule_defs().size(), 48u);
  EXPECT_GE(CheckRelease(*plain_, *tuned_, Release::kLatest), 96u);
}

// The oldest release (0.1.0, 43 rules), the same way.
TEST_F(FalcoRuleEventsTest, EachRuleOfTheOldestReleaseHasAFiringAndAQuietEvent) {
  SKIP_WITHOUT_CORPUS();
  if (oldest_plain_ == nullptr) GTEST_SKIP() << "the corpus has no k8saudit-versions";
  EXPECT_EQ(oldest_plain_->rule_defs().size(), 43u);
  EXPECT_GE(CheckRelease(*oldest_plain_, *oldest_tuned_, Release::kOldest), 86u);
}

TEST_F(FalcoRuleEventsTest, FindingCarriesRuleNameAndPriority) {
  SKIP_WITHOUT_CORPUS();
  ASSERT_NE(plain_, nullptr);
  Ev ev{.resource = "pods",
        .subresource = "exec",
        .name = "web-0",
        .code = 0,
        .stage = "ResponseStarted",
        .uri = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&container=c"};
  EventFixture fx(ToJson(ev), "prod-eu");
  ASSERT_TRUE(fx.ok()) << fx.error();
  std::unique_ptr<RuleEngine> engine = plain_->Clone();
  std::vector<Finding> findings;
  engine->Evaluate(fx.event(), &findings);
  const Finding* exec = nullptr;
  for (const Finding& f : findings) {
    if (f.rule_name == "Attach/Exec Pod") exec = &f;
  }
  ASSERT_NE(exec, nullptr);
  EXPECT_EQ(exec->rule_id, "falco.attach_exec_pod");
  EXPECT_EQ(exec->severity, Severity::kLow);
  EXPECT_NE(exec->message.find("Attach/Exec to pod (user=alice pod=web-0"), std::string::npos)
      << exec->message;
  EXPECT_NE(exec->message.find("command=sh"), std::string::npos) << exec->message;
}

// ---------------------------------------------------------------------------------------------
// Loader semantics

TEST(FalcoLoaderTest, PriorityMapping) {
  std::string yaml;
  const std::vector<std::pair<std::string, Severity>> want = {
      {"EMERGENCY", Severity::kCritical}, {"alert", Severity::kCritical},
      {"Critical", Severity::kCritical},  {"ERROR", Severity::kHigh},
      {"WARNING", Severity::kMedium},     {"NOTICE", Severity::kLow},
      {"INFORMATIONAL", Severity::kInfo}, {"INFO", Severity::kInfo},
      {"DEBUG", Severity::kInfo}};
  for (const auto& [p, s] : want) {
    yaml += "- rule: R " + p +
            "\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: " + p +
            "\n  source: k8s_audit\n";
  }
  auto set = Load(yaml);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(set->rules[i].severity, want[i].second) << want[i].first;
  }
  auto bad = Load(RuleYaml("R", "ka.verb=get")
                      .replace(RuleYaml("R", "ka.verb=get").find("WARNING"), 7, "LOUD"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.yaml:5:13: rule 'R': unknown priority 'LOUD'"),
            std::string::npos)
      << bad.status().message();
}

TEST(FalcoLoaderTest, OutputConversion) {
  EXPECT_EQ(ConvertFalcoOutput("user=%ka.user.name target=%ka.target.name/%ka.target.resource"),
            "user={user.username} target={objectRef.name}/{objectRef.resource}");
  EXPECT_EQ(ConvertFalcoOutput("cmd=%ka.uri.param[command] v=%jevt.value[/requestObject/spec/"
                               "volumes] c=%ka.response.code"),
            "cmd={requestURI.query[\"command\"][*]} v={requestObject.spec.volumes} "
            "c={responseStatus.code}");
  EXPECT_EQ(ConvertFalcoOutput("d=%ka.auth.decision img=%ka.req.pod.containers.image[0]."),
            "d={annotations[\"authorization.k8s.io/decision\"]} "
            "img={requestObject.spec.containers[0].image}.");
  // Unknown fields, a lone '%', and literal braces survive.
  EXPECT_EQ(ConvertFalcoOutput("p=%proc.name obj=%jevt.obj 50% {x} %"),
            "p=%proc.name obj={event} 50% {{x} %");
  EXPECT_EQ(
      ConvertFalcoOutput("t=%jevt.time rt=%jevt.rawtime h=%ka.req.binding.subject.has_name[x]"),
      "t={requestReceivedTimestamp} rt={stageTimestamp|unixnano} h=true");
}

TEST(FalcoLoaderTest, FieldTable) {
  auto f = [](std::string_view token) {
    auto r = ResolveFalcoField(token);
    return r.ok() ? r->field.path + (r->in_quantifier == Quantifier::kAll ? " [all]" : "")
                  : "ERR " + r.status().message();
  };
  EXPECT_EQ(f("ka.user.groups"), "user.groups[*] [all]");
  EXPECT_EQ(f("ka.req.pod.initContainers.privileged"),
            "requestObject.spec.initContainers[*].securityContext.privileged [all]");
  EXPECT_EQ(f("ka.req.pod.ephemeralContainers.image.repository"),
            "requestObject.spec.ephemeralContainers[*].image|repository [all]");
  EXPECT_EQ(f("ka.req.pod.containers.image[1]"), "requestObject.spec.containers[1].image");
  EXPECT_EQ(f("ka.req.role.rules.verbs"), "requestObject.rules[*].verbs[*] [all]");
  EXPECT_EQ(f("ka.req.binding.subjects"), "requestObject.subjects[*]|json [all]");
  EXPECT_EQ(f("ka.req.configmap.obj"), "requestObject.data|json");
  EXPECT_EQ(f("ka.sourceips"), "sourceIPs[*] [all]");
  EXPECT_EQ(f("ka.cluster.name"), "cluster");
  EXPECT_EQ(f("jevt.value[/stage]"), "stage");
  EXPECT_EQ(f("json.value[/requestObject/spec/tls]"), "requestObject.spec.tls");
  EXPECT_EQ(f("json.rawtime"), f("jevt.rawtime"));
  EXPECT_EQ(f("json.obj"), "event");
  EXPECT_EQ(f("jevt.obj"), "event");
  EXPECT_EQ(f("ka.auth.openshift.decision"),
            "annotations[\"authentication.openshift.io/decision\"]");
  EXPECT_EQ(f("ka.auth.openshift.username"),
            "annotations[\"authentication.openshift.io/username\"]");
  EXPECT_EQ(f("ka.validations.admission.policy.failure"),
            "annotations[\"validation.policy.admission.k8s.io/validation_failure\"]");
  EXPECT_EQ(f("ka.security.pod.violations"),
            "annotations[\"pod-security.kubernetes.io/audit-violations\"]");
  EXPECT_EQ(f("jevt.value[/requestObject/ephemeralContainers/0/name]"),
            "requestObject.ephemeralContainers[0].name");
  EXPECT_EQ(f("jevt.value[/annotations/authorization.k8s.io~1decision]"),
            "annotations[\"authorization.k8s.io/decision\"]");
  EXPECT_EQ(f("ka.uri.param[command]"), "requestURI.query[\"command\"][*]");
  EXPECT_EQ(f("proc.name"), "ERR unknown field 'proc.name' (not a k8s_audit field)");
  EXPECT_NE(f("ka.uri.param").find("needs a [key]"), std::string::npos);
  EXPECT_EQ(f("ka.req.pod.containers.eff_run_as_user"),
            "requestObject.spec.containers[*]|effective:runAsUser [all]");
  EXPECT_EQ(f("ka.req.pod.initContainers.eff_run_as_group[1]"),
            "requestObject.spec.initContainers[1]|effective:runAsGroup");
  EXPECT_EQ(f("ka.req.volume.hostpath[/var/run/docker.sock]"),
            "requestObject.spec.volumes[*]|pathmatch:/var/run/docker.sock");
  EXPECT_EQ(f("ka.req.pod.volumes.volume_type"), "requestObject.spec.volumes[*]|typekeys [all]");
  EXPECT_EQ(f("ka.req.binding.subjects.serviceaccount_ns_names"),
            "requestObject.subjects[*]|subjectns:ServiceAccount [all]");
  EXPECT_EQ(f("ka.target.pod.name"), "responseObject.metadata.name|podtarget");
  EXPECT_NE(f("ka.req.volume.hostpath").find("needs a [key]"), std::string::npos);
  EXPECT_NE(f("jevt.value[stage]").find("JSON pointer"), std::string::npos);
  // RFC 6901 escapes in any segment, the first included: a top-level key no audit event has
  // ("a/b", "x~y", "") is a path that is always absent.
  EXPECT_EQ(f("jevt.value[/a~1b/c]"), "jevt[\"a/b\"].c");
  EXPECT_EQ(f("jevt.value[/x~0y]"), "jevt[\"x~y\"]");
  EXPECT_EQ(f("jevt.value[/]"), "jevt[\"\"]");
  EXPECT_EQ(f("jevt.value[/requestObject/metadata/labels/a~1b~0c]"),
            "requestObject.metadata.labels[\"a/b~c\"]");
  EXPECT_NE(f("ka.verb[1]").find("takes no argument"), std::string::npos);
}

// Every field of the plugins' own tables (k8saudit and json, deprecated fields included)
// resolves, works in a condition and converts in an output.
TEST(FalcoCorpusTest, EveryFieldOfThePluginTablesResolves) {
  SKIP_WITHOUT_CORPUS();
  size_t counted = 0;
  for (const char* table : {"k8saudit_fields.md", "json_fields.md"}) {
    const std::string path = CorpusDir() + "/falco/" + table;
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    std::string line;
    size_t rows = 0;
    while (std::getline(in, line)) {
      // | `name` | `type` | Arg | description |
      if (line.rfind("| `", 0) != 0) continue;
      std::vector<std::string> cells;
      std::stringstream ss(line.substr(1));
      std::string cell;
      while (std::getline(ss, cell, '|')) {
        size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
        cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
      }
      ASSERT_GE(cells.size(), 3u) << line;
      const std::string name = cells[0].substr(1, cells[0].size() - 2);  // strip backquotes
      const std::string& arg = cells[2];
      std::vector<std::string> tokens;
      if (arg.find("Key") != std::string::npos) {
        tokens.push_back(name + (name.find(".value") != std::string::npos ? "[/verb]" : "[x]"));
      } else if (arg.find("Index") != std::string::npos) {
        tokens = {name, name + "[0]"};
      } else {
        tokens = {name};
      }
      for (const std::string& token : tokens) {
        SCOPED_TRACE(token);
        auto rf = ResolveFalcoField(token);
        ASSERT_TRUE(rf.ok()) << rf.status().ToString();
        auto set = Load("- rule: R\n  desc: d\n  condition: " + token + " exists\n  output: v=%" +
                        token + "\n  priority: INFO\n  source: k8s_audit\n");
        ASSERT_TRUE(set.ok()) << set.status().ToString();
        EXPECT_EQ(set->rules[0].output.find('%'), std::string::npos) << set->rules[0].output;
        auto engine = RuleEngine::Compile(*set);
        EXPECT_TRUE(engine.ok()) << engine.status().ToString();
      }
      ++rows;
    }
    EXPECT_GT(rows, 0u) << path;
    counted += rows;
  }
  EXPECT_EQ(counted, 100u + 6u);  // the two tables' rows
}

// What the computed fields yield, as the plugin documents them. Rendered through a rule's
// output: a field without a value prints <NA>, as in Falco.
TEST(FalcoLoaderTest, ComputedFieldsYieldWhatThePluginDocuments) {
  auto render = [](std::string_view field, const std::string& json) -> std::string {
    auto set = Load("- rule: R\n  desc: d\n  condition: ka.auditid exists\n  output: v=%" +
                    std::string(field) + "\n  priority: INFO\n  source: k8s_audit\n");
    if (!set.ok()) return "LOAD " + set.status().ToString();
    auto engine = RuleEngine::Compile(*set);
    if (!engine.ok()) return "COMPILE " + engine.status().ToString();
    EventFixture fx(json, "c1");
    if (!fx.ok()) return "EVENT " + fx.error();
    std::vector<Finding> findings;
    (*engine)->Evaluate(fx.event(), &findings);
    if (findings.size() != 1) return "FINDINGS " + std::to_string(findings.size());
    return findings[0].message.substr(2);
  };
  const std::string pod = ToJson(
      {.resource = "pods",
       .name = "",
       .req = R"({"kind":"Pod","spec":{"securityContext":{"runAsUser":1000},)"
              R"("containers":[{"name":"a","image":"x"},)"
              R"({"name":"b","image":"y","securityContext":{"runAsUser":0,"runAsGroup":5}}],)"
              R"("initContainers":[{"name":"i","image":"z"}],)"
              R"("volumes":[{"name":"v1","hostPath":{"path":"/var/run/docker.sock"}},)"
              R"({"name":"v2","emptyDir":{}},{"name":"v3","hostPath":{"path":"/etc/ssl"}}]}})"});
  // The container's value, else the pod's, else 0.
  EXPECT_EQ(render("ka.req.pod.containers.eff_run_as_user", pod), "1000,0");
  EXPECT_EQ(render("ka.req.pod.containers.eff_run_as_group", pod), "0,5");
  EXPECT_EQ(render("ka.req.pod.containers.eff_run_as_user[1]", pod), "0");
  EXPECT_EQ(render("ka.req.pod.initContainers.eff_run_as_user", pod), "1000");
  EXPECT_EQ(render("ka.req.pod.ephemeralContainers.eff_run_as_user", pod), "<NA>");
  EXPECT_EQ(render("ka.req.pod.volumes.volume_type", pod), "hostPath,emptyDir,hostPath");
  EXPECT_EQ(render("ka.req.pod.volumes.volume_type[1]", pod), "emptyDir");
  // ka.req.volume.hostpath[P]: exact, or a prefix when P ends with '*'; any volume.
  EXPECT_EQ(render("ka.req.volume.hostpath[/var/run/docker.sock]", pod), "true");
  EXPECT_EQ(render("ka.req.volume.hostpath[/etc/ssl]", pod), "true");
  EXPECT_EQ(render("ka.req.volume.hostpath[/etc]", pod), "false");
  EXPECT_EQ(render("ka.req.volume.hostpath[/etc*]", pod), "true");
  EXPECT_EQ(render("ka.req.volume.hostpath[/proc*]", pod), "false");
  const std::string no_volumes = ToJson({.resource = "pods", .req = PodSpec("nginx")});
  EXPECT_EQ(render("ka.req.volume.hostpath[/etc*]", no_volumes), "<NA>");

  const std::string binding =
      ToJson({.resource = "clusterrolebindings",
              .ns = "",
              .req = R"({"roleRef":{"kind":"ClusterRole","name":"admin"},"subjects":[)"
                     R"({"kind":"User","name":"alice"},{"kind":"Group","name":"devs"},)"
                     R"({"kind":"ServiceAccount","name":"ci","namespace":"build"},)"
                     R"({"kind":"ServiceAccount","name":"nons"},{"kind":"User","name":"bob"}]})"});
  EXPECT_EQ(render("ka.req.binding.subjects.user_names", binding), "alice,bob");
  EXPECT_EQ(render("ka.req.binding.subjects.group_names", binding), "devs");
  EXPECT_EQ(render("ka.req.binding.subjects.serviceaccount_names", binding), "ci,nons");
  EXPECT_EQ(render("ka.req.binding.subjects.serviceaccount_ns_names", binding), "build:ci");
  EXPECT_EQ(render("ka.req.binding.role", binding), "admin");
  EXPECT_EQ(render("ka.req.binding.subject.has_name[alice]", binding), "true");
  EXPECT_EQ(render("ka.req.binding.subjects.user_names", pod), "<NA>");

  // ka.target.pod.name: the pod's name from the response, for a pod (not a subresource).
  std::string created = pod;
  created.insert(created.size() - 1, R"(,"responseObject":{"metadata":{"name":"web-7f9c"}})");
  EXPECT_EQ(render("ka.target.pod.name", created), "web-7f9c");
  std::string exec = ToJson({.resource = "pods", .subresource = "exec", .name = "web-0"});
  exec.insert(exec.size() - 1, R"(,"responseObject":{"metadata":{"name":"web-0"}})");
  EXPECT_EQ(render("ka.target.pod.name", exec), "<NA>");

  // jevt.obj is the event as received; jevt.rawtime its stageTimestamp in nanoseconds.
  // (A message bounds each value at 512 bytes.)
  const std::string obj = render("jevt.obj", no_volumes);
  EXPECT_EQ(obj.substr(0, 500), no_volumes.substr(0, 500));
  EXPECT_TRUE(obj.ends_with("...")) << obj;
  EXPECT_EQ(render("json.rawtime", no_volumes), "1714557600100000000");
  EXPECT_EQ(render("jevt.value[/requestObject/spec/containers/0/image]", no_volumes), "nginx");
  EXPECT_EQ(render("jevt.value[/requestObject/nothing]", no_volumes), "<NA>");
}

// Falco's operators on one event, each both ways: numbers compare as numbers, strings as
// strings, list fields per Falco (`in` all values, `intersects` one), pmatch on path boundaries.
TEST(FalcoLoaderTest, OperatorsEvaluateAsFalcoDoes) {
  const std::string ev =
      ToJson({.verb = "get",
              .resource = "pods",
              .name = "web-0",
              .user = "Alice",
              .code = 200,
              .uri = "/api/v1/namespaces/default/pods/web-0?pretty=true",
              .req = R"({"spec":{"volumes":[{"name":"v","hostPath":{"path":"/etc/ssl"}}]}})"});
  const std::vector<std::pair<std::string, bool>> cases = {
      {"ka.verb = get", true},
      {"ka.verb = GET", false},
      {"ka.verb != get", false},
      {"ka.verb != list", true},
      {"ka.response.code = 200", true},
      {"ka.response.code < 300", true},
      {"ka.response.code <= 199", false},
      {"ka.response.code > 199", true},
      {"ka.response.code >= 201", false},
      {"ka.target.name < web-1", true},  // strings compare as strings
      {"ka.target.name > web-1", false},
      {"ka.verb in (list, get)", true},
      {"ka.verb in (list, watch)", false},
      {"ka.user.groups in (system:authenticated)", true},  // every group in the set
      {"ka.user.groups in (system:masters)", false},
      {"ka.user.groups intersects (system:masters, system:authenticated)", true},
      {"ka.user.groups intersects (system:masters)", false},
      {"ka.req.pod.volumes.hostpath pmatch (/etc)", true},
      {"ka.req.pod.volumes.hostpath pmatch (/etc/ssl)", true},
      {"ka.req.pod.volumes.hostpath pmatch (/et)", false},
      {"ka.req.pod.volumes.hostpath pmatch (/etc/ssl/certs)", false},
      {"ka.uri glob '/api/v1/*/web-?*'", true},
      {"ka.uri glob '/apis/*'", false},
      {"ka.uri contains pretty", true},
      {"ka.uri contains PRETTY", false},
      {"ka.uri icontains PRETTY", true},
      {"ka.uri startswith /api/v1/", true},
      {"ka.uri startswith /apis/", false},
      {"ka.uri endswith =true", true},
      {"ka.uri endswith =false", false},
      {"ka.user.name exists", true},
      {"ka.impuser.name exists", false},
      {"ka.impuser.name != bob", false},  // an absent field satisfies nothing, as in Falco
      {"not ka.impuser.name exists", true},
  };
  std::string yaml;
  for (size_t i = 0; i < cases.size(); ++i) {
    yaml += RuleYaml("R" + std::to_string(i), cases[i].first);
  }
  auto set = Load(yaml);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto engine = RuleEngine::Compile(*set);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EventFixture fx(ev, "c1");
  ASSERT_TRUE(fx.ok()) << fx.error();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ((*engine)->Matches(i, fx.event()), cases[i].second) << cases[i].first;
  }
}

// The computed fields in conditions, with Falco's operators.
TEST(FalcoLoaderTest, ComputedFieldsInConditions) {
  auto set = Load(RuleYaml("Root", "ka.req.pod.containers.eff_run_as_user intersects (0)") +
                  RuleYaml("Sock", "ka.req.volume.hostpath[/var/run/docker.sock] = true") +
                  RuleYaml("NoSock", "ka.req.volume.hostpath[/var/run/docker.sock] = false") +
                  RuleYaml("Admin", "ka.req.binding.subjects.group_names in (system:masters)") +
                  RuleYaml("HasName", "ka.req.binding.subject.has_name[x] = true") +
                  RuleYaml("Never", "ka.req.binding.subject.has_name[x] = false"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(Dump(set->rules[4].condition), "true");
  EXPECT_EQ(Dump(set->rules[5].condition), "false");
  auto engine = RuleEngine::Compile(*set);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto fires = [&](size_t rule, const std::string& json) {
    EventFixture fx(json, "c1");
    EXPECT_TRUE(fx.ok()) << fx.error();
    return (*engine)->Matches(rule, fx.event());
  };
  const std::string root_by_default = ToJson({.resource = "pods", .req = PodSpec("nginx")});
  const std::string non_root = ToJson(
      {.resource = "pods", .req = PodSpec("nginx", "", R"("securityContext":{"runAsUser":1000})")});
  EXPECT_TRUE(fires(0, root_by_default));  // no runAsUser anywhere: 0
  EXPECT_FALSE(fires(0, non_root));
  const std::string sock = ToJson(
      {.resource = "pods",
       .req = PodSpec("nginx", "",
                      R"("volumes":[{"name":"s","hostPath":{"path":"/var/run/docker.sock"}}])")});
  EXPECT_TRUE(fires(1, sock));
  EXPECT_FALSE(fires(2, sock));
  EXPECT_FALSE(fires(1, root_by_default));  // no volumes: absent, neither true nor false
  EXPECT_FALSE(fires(2, root_by_default));
  const std::string masters =
      ToJson({.resource = "clusterrolebindings",
              .ns = "",
              .req = R"({"subjects":[{"kind":"Group","name":"system:masters"}]})"});
  EXPECT_TRUE(fires(3, masters));
  EXPECT_FALSE(fires(3, sock));
}

TEST(FalcoLoaderTest, InVersusIntersectsOnListFields) {
  auto set = Load(RuleYaml("A", "ka.req.pod.containers.image.repository in (a, b)") +
                  RuleYaml("B", "ka.req.pod.containers.image.repository intersects (a, b)") +
                  RuleYaml("C", "ka.user.name in (a, b)"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(Dump(set->rules[0].condition),
            "requestObject.spec.containers[*].image|repository in a,b [all]");
  EXPECT_EQ(Dump(set->rules[1].condition),
            "requestObject.spec.containers[*].image|repository in a,b");
  EXPECT_EQ(Dump(set->rules[2].condition), "user.username in a,b");
}

TEST(FalcoLoaderTest, RawTimeAndResponseCodeRewrites) {
  auto set = Load(
      "- macro: always\n  condition: (jevt.rawtime exists)\n"
      "- macro: never\n  condition: (jevt.rawtime=0)\n" +
      RuleYaml("A", "ka.verb=get and always and not never") +
      RuleYaml("B", "ka.verb=get and never") +
      RuleYaml("C", "ka.response.code startswith 2 or ka.response.code >= 500"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(Dump(set->rules[0].condition), "verb = get");
  EXPECT_EQ(Dump(set->rules[1].condition), "false");
  EXPECT_EQ(Dump(set->rules[2].condition),
            "(or responseStatus.code|json startswith 2 responseStatus.code >= 500)");
  // Other comparisons read the time in nanoseconds.
  auto other = Load(RuleYaml("D", "jevt.rawtime startswith 17"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(Dump(other->rules[0].condition), "stageTimestamp|unixnano startswith 17");
}

TEST(FalcoLoaderTest, MacrosAndListsResolvedAfterAllFiles) {
  // Used before definition, and defined in a later file.
  auto set =
      LoadFalcoRulesFromStrings({{"a.yaml", RuleYaml("R", "kget and ka.user.name in (admins)")},
                                 {"b.yaml",
                                  "- macro: kget\n  condition: ka.verb=get\n"
                                  "- list: admins\n  items: [root, more_admins]\n"
                                  "- list: more_admins\n  items: [\"kube admin\"]\n"}});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(Dump(set->rules[0].condition), "(and verb = get user.username in root,kube admin)");
}

TEST(FalcoLoaderTest, AppendAndOverride) {
  const std::string base =
      "- list: users\n  items: [a]\n"
      "- macro: m\n  condition: ka.verb=get\n" +
      RuleYaml("R", "m and ka.user.name in (users)", "  tags: [k8s]\n");
  auto set = LoadFalcoRulesFromStrings(
      {{"base.yaml", base},
       {"local.yaml",
        "- list: users\n  items: [b]\n  append: true\n"
        "- macro: m\n  condition: or ka.verb=list\n  append: true\n"
        "- rule: R\n  condition: and ka.target.namespace=prod\n  append: true\n"
        "- rule: R\n  output: more\n  priority: ERROR\n  tags: [T1609, mitre_execution]\n"
        "  override:\n    output: append\n    priority: replace\n    tags: append\n"}});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 1u);
  const Rule& r = set->rules[0];
  // Falco concatenates appended conditions as text: `m` expands to "ka.verb=get or
  // ka.verb=list" and the rule text becomes "m and ... and ka.target.namespace=prod".
  EXPECT_EQ(Dump(r.condition),
            "(and (or verb = get verb = list) user.username in a,b objectRef.namespace = prod)");
  EXPECT_EQ(r.output, "o more");
  EXPECT_EQ(r.severity, Severity::kHigh);
  EXPECT_EQ(r.tags, (std::vector<std::string>{"k8s", "T1609", "mitre_execution"}));
  EXPECT_EQ(r.attack_ids, std::vector<std::string>{"T1609"});

  // Replace.
  auto replaced = LoadFalcoRulesFromStrings(
      {{"base.yaml", base},
       {"local.yaml",
        "- list: users\n  items: [z]\n  override:\n    items: replace\n"
        "- macro: m\n  condition: ka.verb=delete\n  override:\n    condition: replace\n"
        "- rule: R\n  enabled: false\n"}});
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(Dump(replaced->rules[0].condition), "(and verb = delete user.username in z)");
  EXPECT_FALSE(replaced->rules[0].enabled);
  EXPECT_EQ(replaced->disabled, 1u);

  // Redefinition replaces (lists, macros and rules), keeping the rule's place.
  auto redefined = Load(base + RuleYaml("S", "ka.verb=get") + "- list: users\n  items: [c]\n" +
                        RuleYaml("R", "ka.user.name in (users)"));
  ASSERT_TRUE(redefined.ok()) << redefined.status().ToString();
  ASSERT_EQ(redefined->rules.size(), 2u);
  EXPECT_EQ(redefined->rules[0].name, "R");
  EXPECT_EQ(Dump(redefined->rules[0].condition), "user.username in c");
}

TEST(FalcoLoaderTest, AppendAndOverrideErrors) {
  auto undefined = Load("- list: nope\n  items: [a]\n  append: true\n");
  ASSERT_FALSE(undefined.ok());
  EXPECT_EQ(undefined.status().message(),
            "t.yaml:1:3: list 'nope' appends to or overrides a list that is not defined");
  auto rule = Load("- rule: Nope\n  condition: and x\n  override:\n    condition: append\n");
  ASSERT_FALSE(rule.ok());
  EXPECT_EQ(rule.status().message(),
            "t.yaml:1:3: rule 'Nope': appends to or overrides a rule that is not defined");
  auto both =
      Load("- macro: m\n  condition: x\n  append: true\n  override:\n    condition: append\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("'append' and 'override' cannot be used together"),
            std::string::npos);
  auto missing_key =
      Load(RuleYaml("R", "ka.verb=get") + "- rule: R\n  override:\n    output: replace\n");
  ASSERT_FALSE(missing_key.ok());
  EXPECT_NE(missing_key.status().message().find("override of 'output' but the item has no"),
            std::string::npos);
  auto bad_mode = Load(RuleYaml("R", "ka.verb=get") +
                       "- rule: R\n  priority: ERROR\n  override:\n    priority: append\n");
  ASSERT_FALSE(bad_mode.ok());
  EXPECT_NE(bad_mode.status().message().find("key 'priority' cannot be appended"),
            std::string::npos);
  auto missing = Load("- rule: R\n  desc: d\n  condition: ka.verb=get\n  priority: INFO\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "t.yaml:1:3: rule 'R': missing 'output'");
}

TEST(FalcoLoaderTest, Exceptions) {
  const std::string yaml =
      "- list: ops\n  items: [ops1, ops2]\n" +
      RuleYaml("R", "ka.verb=create",
               "  exceptions:\n"
               "    - name: known\n"
               "      fields: [ka.user.name, ka.target.namespace]\n"
               "      comps: [=, startswith]\n"
               "      values:\n"
               "        - [alice, dev-]\n"
               "        - [bob, test-]\n"
               "    - name: by_list\n"
               "      fields: [ka.user.name, ka.req.pod.containers.image.repository]\n"
               "      comps: [in, intersects]\n"
               "      values:\n"
               "        - [ops, [nginx, redis]]\n"
               "    - name: single\n"
               "      fields: ka.target.name\n"
               "      values: [a, ops]\n"
               "    - name: empty_for_now\n"
               "      fields: [ka.verb]\n");
  auto set = Load(yaml +
                  "- rule: R\n  exceptions:\n    - name: empty_for_now\n      values: [[get]]\n"
                  "  override:\n    exceptions: append\n");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  const Rule& r = set->rules[0];
  EXPECT_EQ(Dump(r.condition), "verb = create");
  ASSERT_EQ(r.exceptions.size(), 4u);
  EXPECT_EQ(Dump(r.exceptions[0]),
            "(or (and user.username = alice objectRef.namespace startswith dev-) "
            "(and user.username = bob objectRef.namespace startswith test-))");
  EXPECT_EQ(Dump(r.exceptions[1]),
            "(and user.username in ops1,ops2 "
            "requestObject.spec.containers[*].image|repository in nginx,redis)");
  EXPECT_EQ(Dump(r.exceptions[2]), "objectRef.name in a,ops1,ops2");
  EXPECT_EQ(Dump(r.exceptions[3]), "verb = get");

  auto mismatch = Load(RuleYaml("R", "ka.verb=create",
                                "  exceptions:\n    - name: x\n      fields: [ka.verb, ka.uri]\n"
                                "      values: [[get]]\n"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().message(),
            "t.yaml:8:7: exception 'x': a value has 1 items for 2 fields");
  auto bad_field = Load(RuleYaml("R", "ka.verb=create",
                                 "  exceptions:\n    - name: x\n      fields: [proc.name]\n"
                                 "      values: [[bash]]\n"));
  ASSERT_FALSE(bad_field.ok());
  EXPECT_NE(bad_field.status().message().find("exception 'x': unknown field 'proc.name'"),
            std::string::npos);
}

TEST(FalcoLoaderTest, ExceptionsSuppressFindings) {
  auto set = Load(RuleYaml("R", "ka.verb=create and ka.target.resource=pods",
                           "  exceptions:\n    - name: ci\n      fields: [ka.user.name]\n"
                           "      values: [[ci-bot]]\n"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto engine = RuleEngine::Compile(*set);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EventFixture alice(ToJson({.resource = "pods"}));
  EventFixture bot(ToJson({.resource = "pods", .user = "ci-bot"}));
  EXPECT_TRUE((*engine)->Matches(0, alice.event()));
  EXPECT_FALSE((*engine)->Matches(0, bot.event()));
}

// A JSON pointer to something absent is absent, as in Falco: "exists" is false, "not ... exists"
// true, a comparison false; in an output it stays as written.
TEST(FalcoLoaderTest, APointerToSomethingAbsentIsAbsent) {
  auto set = Load(RuleYaml("Exists", "jevt.value[/a~1b] exists") +
                  RuleYaml("Missing", "not jevt.value[/a~1b/c] exists and ka.verb=create") +
                  RuleYaml("Equals", "jevt.value[/x~0y]=1") +
                  RuleYaml("Escaped label",
                           "jevt.value[/requestObject/metadata/labels/app.kubernetes.io~1name]"
                           "=web"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  auto engine = RuleEngine::Compile(*set);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EventFixture ev(ToJson({.resource = "pods"}));
  ASSERT_TRUE(ev.ok()) << ev.error();
  EXPECT_FALSE((*engine)->Matches(0, ev.event()));
  EXPECT_TRUE((*engine)->Matches(1, ev.event()));
  EXPECT_FALSE((*engine)->Matches(2, ev.event()));
  EXPECT_EQ(ConvertFalcoOutput("v=%jevt.value[/a~1b] u=%ka.user.name"),
            "v=%jevt.value[/a~1b] u={user.username}");
  const std::string labelled = ToJson(
      {.resource = "pods", .req = R"({"metadata":{"labels":{"app.kubernetes.io/name":"web"}}})"});
  EventFixture with_label(labelled);
  ASSERT_TRUE(with_label.ok()) << with_label.error();
  EXPECT_TRUE((*engine)->Matches(3, with_label.event()));
  EXPECT_FALSE((*engine)->Matches(3, ev.event()));
}

TEST(FalcoLoaderTest, UnknownFieldIsAnErrorWithPlace) {
  auto set = Load(RuleYaml("Bad", "ka.verb=get and proc.name=bash"));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(),
            "t.yaml:3:30: rule 'Bad': unknown field 'proc.name' (not a k8s_audit field)");

  // In a folded block scalar, on its second line.
  auto block = Load(
      "- rule: Block\n  desc: d\n  condition: >\n    ka.verb=get\n    and ka.bogus exists\n"
      "  output: o\n  priority: INFO\n  source: k8s_audit\n");
  ASSERT_FALSE(block.ok());
  EXPECT_EQ(block.status().message(),
            "t.yaml:5:9: rule 'Block': unknown field 'ka.bogus' (not a k8s_audit field)");

  // In a macro: the macro's place, and the rule that used it.
  auto macro = Load("- macro: m\n  condition: (fd.name=/etc)\n" + RuleYaml("User", "m"));
  ASSERT_FALSE(macro.ok());
  EXPECT_EQ(macro.status().message(),
            "t.yaml:2:15: macro 'm': unknown field 'fd.name' (not a k8s_audit field) "
            "(used by rule 'User')");

  // skip-if-unknown-filter: the rule is left out with a warning.
  auto skipped = Load(RuleYaml("Skip", "proc.name=bash", "  skip-if-unknown-filter: true\n") +
                      RuleYaml("Keep", "ka.verb=get"));
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  ASSERT_EQ(skipped->rules.size(), 1u);
  EXPECT_EQ(skipped->rules[0].name, "Keep");
  ASSERT_EQ(skipped->warnings.size(), 1u);
  EXPECT_NE(skipped->warnings[0].find("skip-if-unknown-filter"), std::string::npos);
}

TEST(FalcoLoaderTest, OtherSourcesSkippedButTheirMacrosAndListsServe) {
  const std::string syscall =
      "- list: shells\n  items: [bash, sh]\n"
      "- macro: spawned\n  condition: evt.type=execve and proc.name in (shells)\n"
      "- macro: kexec\n  condition: ka.target.subresource=exec\n"
      "- rule: Shell\n  desc: d\n  condition: spawned and fd.name=/x\n  output: o\n"
      "  priority: WARNING\n"
      "- rule: Net\n  desc: d\n  condition: evt.type=connect\n  output: o\n  priority: NOTICE\n"
      "  source: syscall\n";
  auto set = LoadFalcoRulesFromStrings(
      {{"sys.yaml", syscall},
       {"k8s.yaml", RuleYaml("Exec shell", "kexec and ka.uri.param[command] in (shells)")}});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->skipped_other_source, 2u);
  ASSERT_EQ(set->rules.size(), 1u);
  EXPECT_EQ(Dump(set->rules[0].condition),
            "(and objectRef.subresource = exec requestURI.query[\"command\"][*] in bash,sh)");
}

TEST(FalcoLoaderTest, IdsTagsReferencesAndPlaces) {
  auto set = Load(RuleYaml("Create/Modify  Thing!", "ka.verb=get",
                           "  tags: [k8s, T1609, T1552.007, mitre_execution, T12]\n") +
                  RuleYaml("Create Modify Thing", "ka.verb=get"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 2u);
  EXPECT_EQ(set->rules[0].id, "falco.create_modify_thing");
  EXPECT_EQ(set->rules[1].id, "falco.create_modify_thing_2");
  EXPECT_EQ(set->warnings.size(), 1u);
  EXPECT_EQ(set->rules[0].attack_ids, (std::vector<std::string>{"T1609", "T1552.007"}));
  EXPECT_EQ(set->rules[0].tags.size(), 5u);
  EXPECT_EQ(set->rules[0].references, std::vector<std::string>{"falco:Create/Modify  Thing!"});
  EXPECT_EQ(set->rules[0].source.file, "t.yaml");
  EXPECT_EQ(set->rules[0].source.line, 1);
  EXPECT_EQ(set->rules[0].source.column, 3);
  EXPECT_EQ(set->rules[1].source.line, 8);
}

TEST(FalcoLoaderTest, FileErrors) {
  auto yaml = Load("- rule: R\n  desc: [unclosed\n");
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().message().rfind("t.yaml:", 0), 0u) << yaml.status().message();
  EXPECT_NE(yaml.status().message().find("invalid YAML"), std::string::npos);

  auto not_list = Load("rule: R\n");
  ASSERT_FALSE(not_list.ok());
  EXPECT_EQ(not_list.status().message(), "t.yaml:1:1: a Falco rules file must be a list of items");

  auto missing = LoadFalcoRules({::testing::TempDir() + "/no_such_falco_rules.yaml"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);

  // A bad second file rejects the whole load.
  auto second = LoadFalcoRulesFromStrings(
      {{"good.yaml", RuleYaml("R", "ka.verb=get")}, {"bad.yaml", "- macro: m\n"}});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(), "bad.yaml:1:3: macro 'm' has no condition");

  // A null item (a bare "-") is skipped, as Falco does; another scalar is not an item.
  auto null_item = Load("-\n" + RuleYaml("R", "ka.verb=get") + "- \n");
  ASSERT_TRUE(null_item.ok()) << null_item.status().ToString();
  EXPECT_EQ(null_item->rules.size(), 1u);
  auto scalar = Load("- 42\n");
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.status().message(), "t.yaml:1:3: an item must be a map");

  // Unknown top-level items are warnings, as in Falco; empty files are fine.
  auto unknown = LoadFalcoRulesFromStrings({{"a.yaml", "- frobnicate: 1\n"}, {"b.yaml", ""}});
  ASSERT_TRUE(unknown.ok()) << unknown.status().ToString();
  EXPECT_EQ(unknown->warnings, std::vector<std::string>{"a.yaml:1:3: unknown item skipped"});
}

TEST(FalcoLoaderTest, DisabledRuleWithBadConditionIsAWarning) {
  auto set = Load(RuleYaml("Off", "proc.name=bash", "  enabled: false\n"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 1u);
  EXPECT_FALSE(set->rules[0].enabled);
  EXPECT_EQ(Dump(set->rules[0].condition), "false");
  EXPECT_EQ(set->disabled, 1u);
  EXPECT_EQ(set->warnings.size(), 1u);
}

TEST(FalcoLoaderTest, MacroCycleIsAnError) {
  auto set = Load("- macro: a\n  condition: b\n- macro: b\n  condition: a\n" + RuleYaml("R", "a"));
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("uses itself"), std::string::npos)
      << set.status().message();
}

}  // namespace
}  // namespace vigil::detect

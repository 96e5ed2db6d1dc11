// Tests for the built-in rules. Events are built directly (string_views into literals and strings
// the test owns), so detect is tested without ingest.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "vigil/core/audit_event.h"
#include "vigil/core/finding.h"
#include "vigil/detect/detector.h"

namespace vigil::detect {
namespace {

constexpr int64_t kReceivedUs = 1741069338819232;

AuditEvent BaseEvent() {
  AuditEvent e;
  e.api_version = "audit.k8s.io/v1";
  e.kind = "Event";
  e.level = AuditLevel::kRequestResponse;
  e.audit_id = "6f2c1d3e-0000-4000-8000-000000000001";
  e.stage = AuditStage::kResponseComplete;
  e.user.present = true;
  e.user.username = "alice";
  e.user.groups = {"system:authenticated", "devs"};
  e.source_ips = {"203.0.113.9", "10.0.0.7"};
  e.user_agent = "kubectl/v1.29.0 (linux/amd64)";
  e.object_ref.present = true;
  e.response_status.present = true;
  e.response_status.has_code = true;
  e.response_status.code = 201;
  e.request_received_us = kReceivedUs;
  e.stage_us = kReceivedUs + 5000;
  e.cluster = "prod-eu";
  return e;
}

AuditEvent ExecEvent() {
  AuditEvent e = BaseEvent();
  e.verb = "create";
  e.request_uri =
      "/api/v1/namespaces/default/pods/web-0/"
      "exec?command=sh&command=-c&command=cat%20%2Fetc%2Fshadow"
      "&container=web&stdin=true&stdout=true";
  e.object_ref.resource = "pods";
  e.object_ref.namespace_ = "default";
  e.object_ref.name = "web-0";
  e.object_ref.api_version = "v1";
  e.object_ref.subresource = "exec";
  e.response_status.code = 101;
  return e;
}

AuditEvent PodCreate(std::string_view body) {
  AuditEvent e = BaseEvent();
  e.verb = "create";
  e.request_uri = "/api/v1/namespaces/default/pods";
  e.object_ref.resource = "pods";
  e.object_ref.namespace_ = "default";
  e.object_ref.api_version = "v1";
  e.request_object = body;
  return e;
}

AuditEvent BindingEvent(std::string_view resource, std::string_view body) {
  AuditEvent e = BaseEvent();
  e.verb = "create";
  e.request_uri = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
  e.object_ref.resource = resource;
  e.object_ref.api_group = "rbac.authorization.k8s.io";
  e.object_ref.api_version = "v1";
  if (resource == "rolebindings") e.object_ref.namespace_ = "team-a";
  e.request_object = body;
  return e;
}

AuditEvent AnonymousEvent(std::string_view uri, int32_t code) {
  AuditEvent e = BaseEvent();
  e.verb = "get";
  e.request_uri = uri;
  e.user.username = "system:anonymous";
  e.user.groups = {"system:unauthenticated"};
  e.object_ref.present = false;
  e.response_status.code = code;
  return e;
}

constexpr std::string_view kPrivilegedPod = R"({"kind":"Pod","apiVersion":"v1",
  "metadata":{"name":"pwn","namespace":"default"},
  "spec":{"containers":[{"name":"app","image":"nginx"},
    {"name":"root","image":"alpine","securityContext":{"privileged":true}}]}})";

constexpr std::string_view kAdminBinding = R"({"kind":"ClusterRoleBinding",
  "metadata":{"name":"backdoor"},
  "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
  "subjects":[{"kind":"ServiceAccount","name":"default","namespace":"default"}]})";

class BuiltinDetectorTest : public ::testing::Test {
 protected:
  std::vector<Finding> Run(const AuditEvent& e) {
    std::vector<Finding> out;
    detector_->Evaluate(e, &out);
    return out;
  }
  // The findings of rule `rule_id` for `e` (at most one is expected).
  std::vector<Finding> RunRule(const AuditEvent& e, std::string_view rule_id) {
    std::vector<Finding> hits;
    for (Finding& f : Run(e)) {
      if (f.rule_id == rule_id) hits.push_back(std::move(f));
    }
    EXPECT_LE(hits.size(), 1u) << rule_id;
    return hits;
  }
  bool Fires(const AuditEvent& e, std::string_view rule_id) { return !RunRule(e, rule_id).empty(); }

  DetectorPtr detector_ = MakeBuiltinDetector();
};

TEST_F(BuiltinDetectorTest, ListsRules) {
  const std::vector<RuleInfo>& rules = detector_->rules();
  ASSERT_EQ(rules.size(), 6u);
  std::set<std::string> ids;
  for (const RuleInfo& r : rules) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    EXPECT_EQ(r.id.rfind("k8s.", 0), 0u) << r.id;
    EXPECT_FALSE(r.name.empty()) << r.id;
    EXPECT_FALSE(r.description.empty()) << r.id;
    EXPECT_FALSE(r.attack_ids.empty()) << r.id;
  }
  EXPECT_EQ(ids,
            (std::set<std::string>{"k8s.exec_into_pod", "k8s.attach_to_pod",
                                   "k8s.secrets_list_all_namespaces", "k8s.privileged_pod",
                                   "k8s.cluster_admin_binding", "k8s.anonymous_request_allowed"}));
}

TEST_F(BuiltinDetectorTest, EmptyEventMatchesNothing) {
  EXPECT_TRUE(Run(AuditEvent()).empty());
  EXPECT_TRUE(Run(BaseEvent()).empty());
}

// --- exec / attach ---------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, ExecFillsEveryFindingField) {
  AuditEvent e = ExecEvent();
  e.impersonated_user.present = true;
  e.impersonated_user.username = "bob";
  std::vector<Finding> all = Run(e);
  ASSERT_EQ(all.size(), 1u);
  const Finding& f = all[0];
  EXPECT_EQ(f.rule_id, "k8s.exec_into_pod");
  EXPECT_EQ(f.rule_name, "Exec into pod");
  EXPECT_EQ(f.severity, Severity::kMedium);
  EXPECT_EQ(f.attack_ids, std::vector<std::string>{"T1609"});
  EXPECT_EQ(f.id, MakeFindingId("k8s.exec_into_pod", "prod-eu", e.audit_id));
  EXPECT_EQ(f.cluster, "prod-eu");
  EXPECT_EQ(f.user, "alice");
  EXPECT_EQ(f.groups, (std::vector<std::string>{"system:authenticated", "devs"}));
  EXPECT_EQ(f.impersonated_user, "bob");
  EXPECT_EQ(f.source_ips, (std::vector<std::string>{"203.0.113.9", "10.0.0.7"}));
  EXPECT_EQ(f.user_agent, "kubectl/v1.29.0 (linux/amd64)");
  EXPECT_EQ(f.verb, "create");
  EXPECT_EQ(f.object.api_group, "");
  EXPECT_EQ(f.object.resource, "pods");
  EXPECT_EQ(f.object.namespace_, "default");
  EXPECT_EQ(f.object.name, "web-0");
  EXPECT_EQ(f.object.subresource, "exec");
  EXPECT_EQ(f.first_seen_us, kReceivedUs);
  EXPECT_EQ(f.last_seen_us, kReceivedUs);
  EXPECT_EQ(f.count, 1u);
  EXPECT_EQ(f.evidence, std::vector<std::string>{std::string(e.audit_id)});
  EXPECT_EQ(f.status, FindingStatus::kOpen);
  EXPECT_EQ(f.message,
            "alice (as bob) ran exec in pod default/web-0 on cluster prod-eu: "
            "command=sh -c cat /etc/shadow (container=web)");
}

TEST_F(BuiltinDetectorTest, ExecMessageMatchesTheDocumentedForm) {
  AuditEvent e = ExecEvent();
  e.request_uri = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=id";
  auto hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message,
            "alice ran exec in pod default/web-0 on cluster prod-eu: command=sh -c id");

  e.request_uri = "/api/v1/namespaces/default/pods/web-0/exec";  // no command parameter
  hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message, "alice ran exec in pod default/web-0 on cluster prod-eu");
}

TEST_F(BuiltinDetectorTest, ExecViaWebsocketGetFiresOnceTheOutcomeIsKnown) {
  AuditEvent e = ExecEvent();
  e.verb = "get";
  for (AuditStage stage :
       {AuditStage::kResponseStarted, AuditStage::kResponseComplete, AuditStage::kUnknown}) {
    e.stage = stage;
    EXPECT_TRUE(Fires(e, "k8s.exec_into_pod")) << AuditStageName(stage);
  }
  // RequestReceived carries no outcome; the later stage of the same request gives the finding.
  e.stage = AuditStage::kRequestReceived;
  e.response_status = ResponseStatus();
  EXPECT_FALSE(Fires(e, "k8s.exec_into_pod"));
}

TEST_F(BuiltinDetectorTest, ExecNeedsTheExecSubresourceAndVerb) {
  AuditEvent e = ExecEvent();
  e.verb = "delete";
  EXPECT_TRUE(Run(e).empty());
  e.verb = "list";
  EXPECT_TRUE(Run(e).empty());
  e = ExecEvent();
  e.object_ref.subresource = "log";
  EXPECT_TRUE(Run(e).empty());
  e = ExecEvent();
  e.object_ref.subresource = "";
  EXPECT_FALSE(Fires(e, "k8s.exec_into_pod"));
  e = ExecEvent();
  e.object_ref.resource = "deployments";
  EXPECT_TRUE(Run(e).empty());
}

TEST_F(BuiltinDetectorTest, AttachIsItsOwnRule) {
  AuditEvent e = ExecEvent();
  e.object_ref.subresource = "attach";
  e.request_uri = "/api/v1/namespaces/default/pods/web-0/attach?container=web&stdin=true";
  std::vector<Finding> all = Run(e);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].rule_id, "k8s.attach_to_pod");
  EXPECT_EQ(all[0].message, "alice ran attach in pod default/web-0 on cluster prod-eu");
  EXPECT_NE(all[0].id, MakeFindingId("k8s.exec_into_pod", "prod-eu", e.audit_id));
}

// --- denied attempts -------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, DeniedExecIsALowSeverityAttempt) {
  AuditEvent e = ExecEvent();
  e.request_uri = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=id";
  e.response_status.code = 403;
  auto hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kLow);
  EXPECT_EQ(hits[0].message,
            "alice tried to exec in pod default/web-0 on cluster prod-eu (denied, code 403): "
            "command=sh -c id");
  // Same request, same finding id as an allowed one would have.
  EXPECT_EQ(hits[0].id, MakeFindingId("k8s.exec_into_pod", "prod-eu", e.audit_id));

  // No code, but the authorizer said forbid.
  e.response_status = ResponseStatus();
  e.annotations = {{"authorization.k8s.io/decision", "forbid"}};
  hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kLow);
  EXPECT_EQ(hits[0].message,
            "alice tried to exec in pod default/web-0 on cluster prod-eu "
            "(denied, decision forbid): command=sh -c id");

  // Neither a code nor a decision: the attempt keeps the rule's severity and wording.
  e.annotations.clear();
  hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kMedium);
  EXPECT_EQ(hits[0].message,
            "alice ran exec in pod default/web-0 on cluster prod-eu: command=sh -c id");

  // 101 (upgrade) with decision allow is a real exec.
  e = ExecEvent();
  e.annotations = {{"authorization.k8s.io/decision", "allow"}};
  hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kMedium);
  EXPECT_EQ(hits[0].message.rfind("alice ran exec", 0), 0u) << hits[0].message;
}

TEST_F(BuiltinDetectorTest, DeniedAttachPrivilegedAndBindingAreLowSeverityAttempts) {
  AuditEvent attach = ExecEvent();
  attach.object_ref.subresource = "attach";
  attach.response_status.code = 401;
  auto hits = RunRule(attach, "k8s.attach_to_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kLow);
  EXPECT_EQ(hits[0].message,
            "alice tried to attach in pod default/web-0 on cluster prod-eu (denied, code 401)");

  AuditEvent pod = PodCreate(kPrivilegedPod);
  pod.response_status.code = 403;
  hits = RunRule(pod, "k8s.privileged_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kLow);
  EXPECT_EQ(hits[0].message,
            "alice tried to create pods default/pwn on cluster prod-eu (denied, code 403) with "
            "privileged container(s): root");

  AuditEvent binding = BindingEvent("clusterrolebindings", kAdminBinding);
  binding.response_status = ResponseStatus();
  binding.annotations = {{"authorization.k8s.io/decision", "forbid"}};
  hits = RunRule(binding, "k8s.cluster_admin_binding");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kLow);
  EXPECT_EQ(hits[0].message,
            "alice tried to create clusterrolebindings backdoor on cluster prod-eu "
            "(denied, decision forbid): roleRef ClusterRole/cluster-admin");

  // A failure for another reason (admission webhook 500, conflict 409) is also not a success.
  binding = BindingEvent("clusterrolebindings", kAdminBinding);
  binding.response_status.code = 409;
  hits = RunRule(binding, "k8s.cluster_admin_binding");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kLow);
  EXPECT_NE(hits[0].message.find("(denied, code 409)"), std::string::npos) << hits[0].message;
}

TEST_F(BuiltinDetectorTest, OutcomeRulesSkipRequestReceived) {
  // Every stage of a request shares one finding id and the first one seen wins, so the stage
  // without an outcome must not produce the finding.
  AuditEvent exec = ExecEvent();
  AuditEvent attach = ExecEvent();
  attach.object_ref.subresource = "attach";
  AuditEvent pod = PodCreate(kPrivilegedPod);
  AuditEvent binding = BindingEvent("clusterrolebindings", kAdminBinding);
  for (AuditEvent* e : {&exec, &attach, &pod, &binding}) {
    EXPECT_EQ(Run(*e).size(), 1u) << e->object_ref.resource << "/" << e->object_ref.subresource;
    e->stage = AuditStage::kRequestReceived;
    e->response_status = ResponseStatus();
    EXPECT_TRUE(Run(*e).empty()) << e->object_ref.resource << "/" << e->object_ref.subresource;
    e->stage = AuditStage::kUnknown;  // stage absent: evaluated, outcome unknown
    std::vector<Finding> all = Run(*e);
    ASSERT_EQ(all.size(), 1u) << e->object_ref.resource << "/" << e->object_ref.subresource;
    EXPECT_NE(all[0].severity, Severity::kLow);
    EXPECT_EQ(all[0].message.find("tried to"), std::string::npos) << all[0].message;
  }
}

// --- finding ids -------------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, IdIsStableAcrossStagesAndDistinctAcrossClusters) {
  AuditEvent started = ExecEvent();
  started.stage = AuditStage::kResponseStarted;
  started.stage_us = started.request_received_us + 1000;
  AuditEvent complete = ExecEvent();
  auto a = RunRule(started, "k8s.exec_into_pod");
  auto b = RunRule(complete, "k8s.exec_into_pod");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].id, b[0].id);
  EXPECT_EQ(a[0].first_seen_us, b[0].first_seen_us);
  EXPECT_EQ(a[0].message, b[0].message);

  AuditEvent other_cluster = ExecEvent();
  other_cluster.cluster = "prod-us";
  auto c = RunRule(other_cluster, "k8s.exec_into_pod");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NE(c[0].id, b[0].id);
  EXPECT_NE(c[0].message.find("on cluster prod-us"), std::string::npos);

  AuditEvent other_request = ExecEvent();
  other_request.audit_id = "6f2c1d3e-0000-4000-8000-000000000002";
  EXPECT_NE(RunRule(other_request, "k8s.exec_into_pod").at(0).id, b[0].id);
}

TEST_F(BuiltinDetectorTest, EventsWithoutAuditIdDoNotCollapseIntoOneFinding) {
  AuditEvent a = ExecEvent();
  a.audit_id = "";
  AuditEvent b = a;
  b.request_received_us += 1;
  auto fa = RunRule(a, "k8s.exec_into_pod");
  auto fb = RunRule(b, "k8s.exec_into_pod");
  ASSERT_EQ(fa.size(), 1u);
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_NE(fa[0].id, fb[0].id);
  EXPECT_TRUE(fa[0].evidence.empty());
}

// --- secrets ---------------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, ClusterWideSecretsListFires) {
  AuditEvent e = BaseEvent();
  e.verb = "list";
  e.request_uri = "/api/v1/secrets?limit=500";
  e.object_ref.resource = "secrets";
  e.object_ref.api_version = "v1";
  e.response_status.code = 200;
  auto hits = RunRule(e, "k8s.secrets_list_all_namespaces");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message, "alice ran list on secrets in all namespaces on cluster prod-eu");
  EXPECT_EQ(hits[0].severity, Severity::kHigh);
  EXPECT_EQ(hits[0].attack_ids, (std::vector<std::string>{"T1552.007", "T1613"}));

  e.verb = "watch";
  EXPECT_TRUE(Fires(e, "k8s.secrets_list_all_namespaces"));
}

TEST_F(BuiltinDetectorTest, NamespacedOrSingleSecretReadsDoNotFire) {
  AuditEvent e = BaseEvent();
  e.verb = "list";
  e.request_uri = "/api/v1/namespaces/kube-system/secrets";
  e.object_ref.resource = "secrets";
  e.object_ref.namespace_ = "kube-system";
  EXPECT_TRUE(Run(e).empty());

  e.object_ref.namespace_ = "";
  e.verb = "get";  // wrong verb
  EXPECT_TRUE(Run(e).empty());
  e.verb = "delete";
  EXPECT_TRUE(Run(e).empty());

  e.verb = "list";
  e.object_ref.resource = "configmaps";
  EXPECT_TRUE(Run(e).empty());
}

// --- privileged ------------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, PrivilegedPodFiresAndTakesTheNameFromTheBody) {
  AuditEvent e = PodCreate(kPrivilegedPod);
  auto hits = RunRule(e, "k8s.privileged_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].object.name, "pwn");
  EXPECT_EQ(hits[0].object.resource, "pods");
  EXPECT_EQ(hits[0].attack_ids, (std::vector<std::string>{"T1611", "T1610"}));
  EXPECT_EQ(hits[0].message,
            "alice ran create on pods default/pwn on cluster prod-eu with privileged "
            "container(s): root");
}

TEST_F(BuiltinDetectorTest, PrivilegedInitAndEphemeralContainers) {
  std::string init = R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}],
    "initContainers":[{"name":"setup","securityContext":{"privileged":true}}]}})";
  auto hits = RunRule(PodCreate(init), "k8s.privileged_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].message.find("container(s): setup"), std::string::npos);

  std::string eph = R"({"metadata":{"name":"web-0"},"spec":{"containers":[{"name":"a"}],
    "ephemeralContainers":[{"name":"debugger","securityContext":{"privileged":true}}]}})";
  AuditEvent e = PodCreate(eph);
  e.verb = "patch";
  e.object_ref.name = "web-0";
  e.object_ref.subresource = "ephemeralcontainers";
  hits = RunRule(e, "k8s.privileged_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].object.subresource, "ephemeralcontainers");
  EXPECT_NE(hits[0].message.find("debugger"), std::string::npos);
}

TEST_F(BuiltinDetectorTest, PrivilegedWorkloads) {
  std::string deploy = R"({"kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,
    "template":{"spec":{"containers":[{"name":"c","securityContext":{"privileged":true}}]}}}})";
  AuditEvent e = PodCreate(deploy);
  e.object_ref.resource = "deployments";
  e.object_ref.api_group = "apps";
  auto hits = RunRule(e, "k8s.privileged_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].message,
            "alice ran create on deployments default/web on cluster prod-eu with privileged "
            "container(s): c");

  e.object_ref.resource = "daemonsets";
  EXPECT_TRUE(Fires(e, "k8s.privileged_pod"));
  e.object_ref.api_group = "extensions";  // old clusters
  EXPECT_TRUE(Fires(e, "k8s.privileged_pod"));
  e.object_ref.api_group = "evil.example.com";  // a CRD that only shares the name
  EXPECT_FALSE(Fires(e, "k8s.privileged_pod"));
  e.object_ref.api_group = "apps";
  e.verb = "update";
  EXPECT_TRUE(Fires(e, "k8s.privileged_pod"));

  std::string cron = R"({"metadata":{"name":"nightly"},"spec":{"schedule":"* * * * *",
    "jobTemplate":{"spec":{"template":{"spec":{"containers":[
      {"name":"j","securityContext":{"privileged":true}}]}}}}}})";
  AuditEvent c = PodCreate(cron);
  c.object_ref.resource = "cronjobs";
  c.object_ref.api_group = "batch";
  EXPECT_TRUE(Fires(c, "k8s.privileged_pod"));
  // A cronjob body shaped like a job (pod spec at the wrong depth) is not matched.
  c.request_object = deploy;
  EXPECT_FALSE(Fires(c, "k8s.privileged_pod"));
}

TEST_F(BuiltinDetectorTest, MergePatchWithPrivilegedFires) {
  AuditEvent e = PodCreate(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"c","securityContext":{"privileged":true}}]}}}})");
  e.verb = "patch";
  e.object_ref.resource = "deployments";
  e.object_ref.api_group = "apps";
  e.object_ref.name = "web";
  auto hits = RunRule(e, "k8s.privileged_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].object.name, "web");
}

TEST_F(BuiltinDetectorTest, NonPrivilegedAndWrongTypesDoNotFire) {
  const std::vector<std::string> bodies = {
      // not privileged
      R"({"spec":{"containers":[{"name":"a","securityContext":{"privileged":false}}]}})",
      R"({"spec":{"containers":[{"name":"a","securityContext":{"runAsNonRoot":true}}]}})",
      // privileged given as a string: only JSON true counts
      R"({"spec":{"containers":[{"name":"a","securityContext":{"privileged":"true"}}]}})",
      R"({"spec":{"containers":[{"name":"a","securityContext":{"privileged":1}}]}})",
      // containers given as an object instead of an array
      R"({"spec":{"containers":{"name":"a","securityContext":{"privileged":true}}}})",
      // wrong shapes on the way down
      R"({"spec":{"containers":[null,1,"x",[],{"securityContext":5},{"securityContext":[true]}]}})",
      R"({"spec":"privileged"})",
      R"({"spec":null})",
      R"({"containers":[{"securityContext":{"privileged":true}}]})",
      R"(null)",
      R"(true)",
      R"("{\"spec\":{}}")",
  };
  for (const std::string& body : bodies) {
    EXPECT_TRUE(Run(PodCreate(body)).empty()) << body;
  }
}

TEST_F(BuiltinDetectorTest, JsonPatchArrayBodyDoesNotFire) {
  AuditEvent e = PodCreate(
      R"([{"op":"add","path":"/spec/containers/0/securityContext","value":{"privileged":true}}])");
  e.verb = "patch";
  e.object_ref.name = "web-0";
  EXPECT_TRUE(Run(e).empty());
}

TEST_F(BuiltinDetectorTest, PrivilegedNeedsAWriteVerbAndABody) {
  AuditEvent e = PodCreate(kPrivilegedPod);
  e.verb = "get";
  EXPECT_TRUE(Run(e).empty());
  e.verb = "delete";
  EXPECT_TRUE(Run(e).empty());
  e = PodCreate("");  // Metadata level: no requestObject
  EXPECT_TRUE(Run(e).empty());
  e = PodCreate(kPrivilegedPod);
  e.object_ref.subresource = "status";
  EXPECT_TRUE(Run(e).empty());
  e.object_ref.subresource = "exec";  // PodExecOptions body, handled by the exec rule
  EXPECT_FALSE(Fires(e, "k8s.privileged_pod"));
}

// --- cluster-admin binding -------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, ClusterAdminBindingFires) {
  AuditEvent e = BindingEvent("clusterrolebindings", kAdminBinding);
  auto hits = RunRule(e, "k8s.cluster_admin_binding");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].severity, Severity::kCritical);
  EXPECT_EQ(hits[0].attack_ids, std::vector<std::string>{"T1098"});
  EXPECT_EQ(hits[0].object.name, "backdoor");
  EXPECT_EQ(hits[0].object.api_group, "rbac.authorization.k8s.io");
  EXPECT_EQ(hits[0].message,
            "alice ran create on clusterrolebindings backdoor on cluster prod-eu: "
            "roleRef ClusterRole/cluster-admin");

  AuditEvent rb = BindingEvent("rolebindings", kAdminBinding);
  rb.verb = "update";
  rb.object_ref.name = "local-admin";
  hits = RunRule(rb, "k8s.cluster_admin_binding");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].message.find("rolebindings team-a/local-admin"), std::string::npos);
}

TEST_F(BuiltinDetectorTest, SystemMastersSubjectFires) {
  std::string body = R"({"metadata":{"name":"m"},
    "roleRef":{"kind":"ClusterRole","name":"view"},
    "subjects":[{"kind":"User","name":"x"},{"kind":"Group","name":"system:masters"}]})";
  AuditEvent e = BindingEvent("clusterrolebindings", body);
  auto hits = RunRule(e, "k8s.cluster_admin_binding");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].message.find("subject Group system:masters"), std::string::npos);

  // A merge patch that only adds subjects still carries them.
  e.verb = "patch";
  e.request_object = R"({"subjects":[{"kind":"Group","name":"system:masters"}]})";
  EXPECT_TRUE(Fires(e, "k8s.cluster_admin_binding"));
}

TEST_F(BuiltinDetectorTest, OtherBindingsDoNotFire) {
  std::string view = R"({"metadata":{"name":"v"},"roleRef":{"kind":"ClusterRole","name":"view"},
    "subjects":[{"kind":"Group","name":"devs"},{"kind":"User","name":"system:masters"}]})";
  EXPECT_TRUE(Run(BindingEvent("clusterrolebindings", view)).empty());
  // A namespaced Role that happens to be called cluster-admin is not the ClusterRole.
  std::string role = R"({"roleRef":{"kind":"Role","name":"cluster-admin"},"subjects":[]})";
  EXPECT_TRUE(Run(BindingEvent("rolebindings", role)).empty());
  // Wrong verb, wrong group, JSON-patch array body, wrong types.
  AuditEvent e = BindingEvent("clusterrolebindings", kAdminBinding);
  e.verb = "delete";
  EXPECT_TRUE(Run(e).empty());
  e = BindingEvent("clusterrolebindings", kAdminBinding);
  e.object_ref.api_group = "example.com";
  EXPECT_TRUE(Run(e).empty());
  e = BindingEvent("clusterrolebindings",
                   R"([{"op":"replace","path":"/roleRef/name","value":"cluster-admin"}])");
  e.verb = "patch";
  EXPECT_TRUE(Run(e).empty());
  e = BindingEvent(
      "clusterrolebindings",
      R"({"roleRef":"cluster-admin","subjects":{"kind":"Group","name":"system:masters"}})");
  EXPECT_TRUE(Run(e).empty());
}

// --- anonymous -------------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, AnonymousAllowedFires) {
  AuditEvent e = AnonymousEvent("/api/v1/namespaces/kube-system/pods", 200);
  e.object_ref.present = true;
  e.object_ref.resource = "pods";
  e.object_ref.namespace_ = "kube-system";
  e.verb = "list";
  auto hits = RunRule(e, "k8s.anonymous_request_allowed");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].user, "system:anonymous");
  EXPECT_EQ(hits[0].attack_ids, (std::vector<std::string>{"T1190", "T1078"}));
  EXPECT_EQ(hits[0].message,
            "system:anonymous ran list on /api/v1/namespaces/kube-system/pods on cluster prod-eu "
            "and was allowed (code 200)");

  // Group membership alone is enough; so is an allow decision when there is no code.
  AuditEvent g = AnonymousEvent("/api", 200);
  g.user.username = "weird";
  EXPECT_TRUE(Fires(g, "k8s.anonymous_request_allowed"));
  AuditEvent d = AnonymousEvent("/api", 0);
  d.response_status = ResponseStatus();
  d.annotations = {{"authorization.k8s.io/decision", "allow"},
                   {"authorization.k8s.io/reason", "RBAC: allowed"}};
  hits = RunRule(d, "k8s.anonymous_request_allowed");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].message.find("(decision allow)"), std::string::npos);
  // A path that only starts like a health endpoint is not one.
  EXPECT_TRUE(Fires(AnonymousEvent("/healthzz", 200), "k8s.anonymous_request_allowed"));
}

TEST_F(BuiltinDetectorTest, AnonymousDeniedOrHealthDoesNotFire) {
  EXPECT_TRUE(Run(AnonymousEvent("/api/v1/secrets", 401)).empty());
  EXPECT_TRUE(Run(AnonymousEvent("/api/v1/secrets", 403)).empty());
  EXPECT_TRUE(Run(AnonymousEvent("/api/v1/secrets", 500)).empty());
  for (std::string_view uri :
       {"/healthz", "/livez", "/readyz?verbose", "/healthz/etcd", "/readyz/ping", "/version",
        "/version/", "/.well-known/openid-configuration", "/openid/v1/jwks"}) {
    EXPECT_TRUE(Run(AnonymousEvent(uri, 200)).empty()) << uri;
  }
  AuditEvent d = AnonymousEvent("/api", 0);
  d.response_status = ResponseStatus();
  d.annotations = {{"authorization.k8s.io/decision", "forbid"}};
  EXPECT_TRUE(Run(d).empty());
  d.annotations.clear();  // no outcome at all
  EXPECT_TRUE(Run(d).empty());
  // The outcome is unknown at RequestReceived.
  AuditEvent r = AnonymousEvent("/api/v1/pods", 200);
  r.stage = AuditStage::kRequestReceived;
  EXPECT_TRUE(Run(r).empty());
  // An authenticated user is not anonymous.
  AuditEvent a = AnonymousEvent("/api/v1/pods", 200);
  a.user.username = "alice";
  a.user.groups = {"system:authenticated"};
  EXPECT_TRUE(Run(a).empty());
}

// --- hostile input ---------------------------------------------------------------------------

TEST_F(BuiltinDetectorTest, MalformedAndDeeplyNestedBodiesDoNotCrash) {
  std::string deep_array(100000, '[');
  std::string deep_object;
  for (int i = 0; i < 5000; ++i) deep_object += R"({"spec":)";
  deep_object += "1";
  deep_object += std::string(5000, '}');
  std::string deep_valid = R"({"spec":{"containers":[{"securityContext":)";
  for (int i = 0; i < 3000; ++i) deep_valid += R"({"a":)";
  deep_valid += "1" + std::string(3000, '}') + "}]}}";
  const std::vector<std::string> bodies = {
      deep_array,
      deep_object,
      deep_valid,
      R"({"spec":{"containers":[{"securityContext":{"privileged":true})",  // truncated
      std::string("{\"spec\":\"\xff\xfe\"}"),                              // invalid UTF-8
      std::string("{\"spec\":\0}", 11),
      R"({"spec":{"containers":[{"securityContext":{"privileged":tru}}]}})",
      "garbage",
      "{",
      "]",
      R"({"metadata":{"name":1e999999}})",
      std::string(1 << 16, ' '),
  };
  for (const std::string& body : bodies) {
    EXPECT_TRUE(Run(PodCreate(body)).empty()) << body.substr(0, 80);
    EXPECT_TRUE(Run(BindingEvent("clusterrolebindings", body)).empty()) << body.substr(0, 80);
  }
  // The reused parser still works after all of that, for bigger and smaller bodies.
  std::string big =
      R"({"metadata":{"name":"big","annotations":{"pad":")" + std::string(1 << 20, 'x') +
      R"("}},"spec":{"containers":[{"name":"c","securityContext":{"privileged":true}}]}})";
  EXPECT_TRUE(Fires(PodCreate(big), "k8s.privileged_pod"));
  EXPECT_TRUE(Fires(PodCreate(kPrivilegedPod), "k8s.privileged_pod"));
}

TEST_F(BuiltinDetectorTest, HostileTextInMessagesIsBounded) {
  std::string uri =
      "/api/v1/namespaces/default/pods/web-0/exec?command=" + std::string(100000, 'A');
  AuditEvent e = ExecEvent();
  e.request_uri = uri;
  auto hits = RunRule(e, "k8s.exec_into_pod");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_LT(hits[0].message.size(), 1000u);
  EXPECT_NE(hits[0].message.find("..."), std::string::npos);
}

}  // namespace
}  // namespace vigil::detect

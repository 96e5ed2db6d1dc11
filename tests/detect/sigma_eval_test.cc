// Verdicts of Sigma rules run by the RuleEngine: the corpus rules on events that must and must
// not fire them (the five defective rules never fire), and Sigma value semantics end to end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "event_fixture.h"
#include "vigil/core/finding.h"
#include "vigil/detect/rule_engine.h"
#include "vigil/detect/sigma_loader.h"

namespace vigil::detect {
namespace {

using testing::EventFixture;

std::string CorpusDir() {
  if (const char* env = std::getenv("VIGIL_CORPUS")) return std::string(env) + "/sigma";
  return std::string(VIGIL_SOURCE_DIR) + "/../shared/corpus/sigma";
}

// An audit Event with the given verb and objectRef; `extra` is spliced into the top-level object
// (",\"key\":value" ...).
std::string Event(const std::string& verb, const std::string& object_ref,
                  const std::string& extra = "", int code = 200) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",)"
         R"("auditID":"id-1","stage":"ResponseComplete","verb":")" +
         verb +
         R"(","requestURI":"/apis/x","user":{"username":"mallory","groups":["devs"]},)"
         R"("sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.30.0",)"
         R"("objectRef":)" +
         object_ref + R"(,"responseStatus":{"code":)" + std::to_string(code) + "}" + extra + "}";
}

class SigmaCorpusEvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(CorpusDir())) {
      GTEST_SKIP() << "Sigma corpus not found at " << CorpusDir()
                   << " (set VIGIL_CORPUS to the corpus directory)";
    }
    auto set = LoadSigmaRules({CorpusDir()});
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    ASSERT_EQ(set->rules.size(), 16u);
    auto engine = RuleEngine::Compile(*set);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }

  // Whether the rule loaded from `file` (kubernetes_audit_<file>.yml) raises on `json`.
  bool Fires(const std::string& file, const std::string& json) {
    EventFixture fx(json, "prod-eu");
    EXPECT_TRUE(fx.ok()) << fx.error();
    const std::string path = CorpusDir() + "/kubernetes_audit_" + file + ".yml";
    const auto& defs = engine_->rule_defs();
    for (size_t i = 0; i < defs.size(); ++i) {
      if (defs[i].source.file == path) return engine_->Matches(i, fx.event());
    }
    ADD_FAILURE() << "no rule loaded from " << path;
    return false;
  }

  std::unique_ptr<RuleEngine> engine_;
};

TEST_F(SigmaCorpusEvalTest, ExecIntoContainer) {
  const std::string pod = R"({"resource":"pods","namespace":"default","name":"web-0",)"
                          R"("apiVersion":"v1","subresource":"exec"})";
  EXPECT_TRUE(Fires("exec_into_container", Event("create", pod)));
  EXPECT_TRUE(Fires("exec_into_container", Event("CREATE", pod)));  // Sigma: case-insensitive
  EXPECT_FALSE(Fires("exec_into_container", Event("get", pod)));
  EXPECT_FALSE(
      Fires("exec_into_container", Event("create", R"({"resource":"pods","subresource":"log"})")));
  EXPECT_FALSE(Fires("exec_into_container", Event("create", R"({"resource":"pods"})")));
}

TEST_F(SigmaCorpusEvalTest, SecretsEnumeration) {
  EXPECT_TRUE(Fires("secrets_enumeration", Event("list", R"({"resource":"secrets"})")));
  EXPECT_FALSE(Fires("secrets_enumeration", Event("get", R"({"resource":"secrets"})")));
  EXPECT_FALSE(Fires("secrets_enumeration", Event("list", R"({"resource":"configmaps"})")));
}

TEST_F(SigmaCorpusEvalTest, RolebindingModification) {
  const std::string rb =
      R"({"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io","name":"x"})";
  EXPECT_TRUE(Fires("rolebinding_modification", Event("create", rb)));
  EXPECT_TRUE(Fires("rolebinding_modification", Event("patch", rb)));
  EXPECT_FALSE(Fires("rolebinding_modification", Event("get", rb)));
  EXPECT_FALSE(Fires("rolebinding_modification",
                     Event("create", R"({"resource":"rolebindings","apiGroup":"example.com"})")));
}

TEST_F(SigmaCorpusEvalTest, CronjobModification) {
  EXPECT_TRUE(Fires("cronjob_modification",
                    Event("update", R"({"resource":"cronjobs","apiGroup":"batch"})")));
  EXPECT_TRUE(
      Fires("cronjob_modification", Event("delete", R"({"resource":"jobs","apiGroup":"batch"})")));
  EXPECT_FALSE(
      Fires("cronjob_modification", Event("list", R"({"resource":"jobs","apiGroup":"batch"})")));
  // No apiGroup: Sigma's equality needs the field.
  EXPECT_FALSE(Fires("cronjob_modification", Event("create", R"({"resource":"cronjobs"})")));
}

TEST_F(SigmaCorpusEvalTest, EventsDeletedAndDeploymentDeleted) {
  EXPECT_TRUE(Fires("events_deleted", Event("delete", R"({"resource":"events"})")));
  EXPECT_FALSE(Fires("events_deleted", Event("deletecollection", R"({"resource":"events"})")));
  EXPECT_TRUE(Fires("deployment_deleted",
                    Event("delete", R"({"resource":"deployments","apiGroup":"apps"})")));
  EXPECT_FALSE(Fires("deployment_deleted", Event("delete", R"({"resource":"daemonsets"})")));
}

TEST_F(SigmaCorpusEvalTest, ServiceAccountCreationAndSystemNamespace) {
  EXPECT_TRUE(
      Fires("serviceaccount_creation", Event("create", R"({"resource":"serviceaccounts"})")));
  EXPECT_FALSE(
      Fires("serviceaccount_creation", Event("delete", R"({"resource":"serviceaccounts"})")));
  EXPECT_TRUE(Fires("pod_in_system_namespace",
                    Event("create", R"({"resource":"pods","namespace":"kube-system"})")));
  EXPECT_FALSE(Fires("pod_in_system_namespace",
                     Event("create", R"({"resource":"pods","namespace":"default"})")));
}

TEST_F(SigmaCorpusEvalTest, AdmissionControllerAndSecretsModified) {
  const std::string hook = R"({"resource":"mutatingwebhookconfigurations",)"
                           R"("apiGroup":"admissionregistration.k8s.io"})";
  EXPECT_TRUE(Fires("change_admission_controller", Event("create", hook)));
  EXPECT_FALSE(Fires("change_admission_controller", Event("watch", hook)));
  EXPECT_TRUE(Fires("secrets_modified_or_deleted", Event("delete", R"({"resource":"secrets"})")));
  EXPECT_FALSE(Fires("secrets_modified_or_deleted", Event("list", R"({"resource":"secrets"})")));
}

TEST_F(SigmaCorpusEvalTest, UnauthorizedNumbers) {
  const std::string obj = R"({"resource":"pods"})";
  EXPECT_TRUE(Fires("unauthorized_unauthenticated_actions", Event("get", obj, "", 403)));
  EXPECT_TRUE(Fires("unauthorized_unauthenticated_actions", Event("get", obj, "", 401)));
  EXPECT_FALSE(Fires("unauthorized_unauthenticated_actions", Event("get", obj, "", 404)));
}

// The five rules whose fields never exist in a raw audit event (hostPath, capabilities,
// top-level apiGroup) or compare the numeric responseStatus.code with 'ALLOW' load and compile
// but never fire, even on events that are what they mean to catch.
TEST_F(SigmaCorpusEvalTest, DefectiveRulesNeverFire) {
  const std::string pod_body =
      R"(,"requestObject":{"kind":"Pod","spec":{"containers":[{"name":"a","image":"x",)"
      R"("securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN"]}}}],)"
      R"("volumes":[{"name":"h","hostPath":{"path":"/"}}]}})";
  const std::string pods = R"({"resource":"pods","namespace":"default"})";
  EXPECT_FALSE(Fires("hostpath_mount", Event("create", pods, pod_body)));
  EXPECT_FALSE(Fires("privileged_pod_creation", Event("create", pods, pod_body)));
  EXPECT_FALSE(
      Fires("rbac_permisions_listing", Event("create", R"({"resource":"selfsubjectrulesreviews",)"
                                                       R"("apiGroup":"authorization.k8s.io"})")));
  EXPECT_FALSE(Fires("sidecar_injection",
                     Event("patch", R"({"resource":"deployments","apiGroup":"apps"})")));
  std::string exec = Event("create", R"({"resource":"pods","subresource":"exec"})",
                           R"(,"annotations":{"authorization.k8s.io/decision":"allow"})");
  exec.replace(exec.find("/apis/x"), 7, "/api/v1/namespaces/d/pods/p/exec?command=%2Fbin%2Fsh");
  EXPECT_FALSE(Fires("potential_enumeration_activity", exec));
}

TEST_F(SigmaCorpusEvalTest, FindingCarriesTitleAndMessage) {
  EventFixture fx(Event("list", R"({"resource":"secrets","namespace":"prod"})"), "prod-eu");
  ASSERT_TRUE(fx.ok()) << fx.error();
  std::vector<Finding> findings;
  engine_->Evaluate(fx.event(), &findings);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].rule_id, "sigma.eeb3e9e1-b685-44e4-9232-6bb701f925b5");
  EXPECT_EQ(findings[0].rule_name, "Kubernetes Secrets Enumeration");
  EXPECT_EQ(findings[0].severity, Severity::kLow);
  EXPECT_EQ(findings[0].attack_ids, std::vector<std::string>{"T1552.007"});
  EXPECT_EQ(findings[0].message,
            "mallory list secrets prod/<none> on cluster prod-eu (Sigma: Kubernetes Secrets "
            "Enumeration)");
}

// Sigma value semantics, end to end through the engine.
class SigmaSemanticsTest : public ::testing::Test {
 protected:
  bool Fires(const std::string& detection, const std::string& json) {
    auto set = LoadSigmaRuleFromString(
        "title: T\nid: t\nlogsource: {product: kubernetes, service: audit}\nlevel: low\n" +
            detection,
        "t.yml");
    EXPECT_TRUE(set.ok()) << set.status().ToString();
    if (!set.ok()) return false;
    auto engine = RuleEngine::Compile(*set);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    if (!engine.ok()) return false;
    EventFixture fx(json);
    EXPECT_TRUE(fx.ok()) << fx.error();
    return (*engine)->Matches(0, fx.event());
  }
  const std::string ev_ = Event("get", R"({"resource":"pods","namespace":"kube-system"})",
                                R"(,"annotations":{"authorization.k8s.io/decision":"allow"})");
};

TEST_F(SigmaSemanticsTest, EqualityWildcardsAndNull) {
  EXPECT_TRUE(Fires("detection: {s: {user.username: MALLORY}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {user.username: 'mal*'}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {user.username: 'MAL?ORY'}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {user.username: 'mal?'}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {objectRef.name: null}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {objectRef.namespace: null}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {user.groups: [admins, DEVS]}, condition: s}", ev_));
  EXPECT_TRUE(Fires(
      "detection: {s: {annotations.authorization.k8s.io/decision: allow}, condition: s}", ev_));
}

TEST_F(SigmaSemanticsTest, Modifiers) {
  EXPECT_TRUE(Fires("detection: {s: {userAgent|startswith: KUBECTL/}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {userAgent|startswith|cased: KUBECTL/}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {userAgent|endswith: ['.0', x]}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {userAgent|contains|all: [kube, '1.30']}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {userAgent|contains|all: [kube, curl]}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {userAgent|re: '^kubectl/v1\\.3'}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {userAgent|re: '^KUBECTL'}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {userAgent|re|i: '^KUBECTL'}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {sourceIPs|cidr: 10.0.0.0/8}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {sourceIPs|cidr: 192.168.0.0/16}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {objectRef.namespace|exists: true}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {objectRef.subresource|exists: false}, condition: s}", ev_));
  EXPECT_TRUE(Fires("detection: {s: {responseStatus.code|gte: 200}, condition: s}", ev_));
  EXPECT_FALSE(Fires("detection: {s: {responseStatus.code|gt: 200}, condition: s}", ev_));
}

TEST_F(SigmaSemanticsTest, Conditions) {
  const std::string d =
      "detection: {sel_a: {verb: get}, sel_b: {verb: list}, f: {user.username: "
      "mallory}, condition: ";
  EXPECT_TRUE(Fires(d + "1 of sel_*}", ev_));
  EXPECT_FALSE(Fires(d + "all of sel_*}", ev_));
  EXPECT_FALSE(Fires(d + "sel_a and not f}", ev_));
  EXPECT_TRUE(Fires(d + "(sel_b or sel_a) and f}", ev_));
  EXPECT_TRUE(Fires(d + "1 of them}", ev_));
}

}  // namespace
}  // namespace vigil::detect

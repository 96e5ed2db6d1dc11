// Tests for the RuleEngine: every operator, quantifiers, transforms, body paths, absent-field
// semantics, indexing, output rendering, exceptions, compile errors and Clone.
#include "vigil/detect/rule_engine.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "event_fixture.h"
#include "vigil/core/finding.h"

namespace vigil::detect {
namespace {

using testing::EventFixture;

ExprPtr P(std::string field, Op op, std::vector<std::string> values = {},
          Quantifier q = Quantifier::kAny, bool ci = false) {
  Predicate p;
  p.field.path = std::move(field);
  p.op = op;
  for (std::string& v : values) p.values.push_back({std::move(v)});
  p.quantifier = q;
  p.case_insensitive = ci;
  return Expr::Pred(std::move(p));
}

Rule MakeRule(std::string id, ExprPtr cond, std::string output = "") {
  Rule r;
  r.id = std::move(id);
  r.name = r.id + " name";
  r.severity = Severity::kHigh;
  r.attack_ids = {"T1609"};
  r.condition = std::move(cond);
  r.output = std::move(output);
  r.source = {"rules.yaml", 3, 5};
  return r;
}

std::unique_ptr<RuleEngine> CompileOne(Rule r) {
  RuleSet set;
  set.rules.push_back(std::move(r));
  auto e = RuleEngine::Compile(set);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

constexpr char kPodCreate[] = R"json({
  "kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
  "auditID":"a-1","stage":"ResponseComplete","verb":"create",
  "requestURI":"/api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply",
  "user":{"username":"Alice","uid":"u1","groups":["system:authenticated","devs"],
          "extra":{"iam.gke.io/user-assertion":["x1","x2"]}},
  "sourceIPs":["203.0.113.9","10.0.0.7"],
  "userAgent":"kubectl/v1.29.0 (linux/amd64)",
  "objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},
  "responseStatus":{"metadata":{},"code":201},
  "requestObject":{"kind":"Pod","metadata":{"name":"web","labels":{"app.kubernetes.io/name":"web"}},
    "spec":{"hostNetwork":true,"replicas":3,
      "containers":[
        {"name":"a","image":"registry.local:5000/team/nginx:1.25","securityContext":{"privileged":true}},
        {"name":"b","image":"docker.io/library/busybox@sha256:abcd","securityContext":{"privileged":false}}],
      "initContainers":[{"name":"init","image":"alpine"}],
      "volumes":[{"name":"h","hostPath":{"path":"/etc"}}]}},
  "requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z",
  "stageTimestamp":"2024-05-01T10:00:00.100000Z",
  "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}
})json";

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : pod_(kPodCreate, "prod-eu") {}
  bool M(ExprPtr cond) { return M(std::move(cond), pod_); }
  bool M(ExprPtr cond, const EventFixture& fx) {
    EXPECT_TRUE(fx.ok()) << fx.error();
    auto engine = CompileOne(MakeRule("t.rule", std::move(cond)));
    return engine != nullptr && engine->Matches(0, fx.event());
  }
  EventFixture pod_;
};

TEST_F(EngineTest, FixtureFillsEvent) {
  ASSERT_TRUE(pod_.ok()) << pod_.error();
  const AuditEvent& e = pod_.event();
  EXPECT_EQ(e.verb, "create");
  EXPECT_EQ(e.user.groups.size(), 2u);
  EXPECT_EQ(e.cluster, "prod-eu");
  EXPECT_TRUE(e.response_status.has_code);
  EXPECT_EQ(e.response_status.code, 201);
  EXPECT_EQ(e.Annotation("authorization.k8s.io/decision"), "allow");
  EXPECT_NE(e.request_object.find("\"hostNetwork\":true"), std::string_view::npos);
  EXPECT_GT(e.request_received_us, 0);
}

TEST_F(EngineTest, EqualityAndCase) {
  EXPECT_TRUE(M(P("verb", Op::kEq, {"create"})));
  EXPECT_FALSE(M(P("verb", Op::kEq, {"CREATE"})));
  EXPECT_TRUE(M(P("verb", Op::kEq, {"CREATE"}, Quantifier::kAny, true)));
  EXPECT_TRUE(M(P("verb", Op::kNe, {"get"})));
  EXPECT_FALSE(M(P("verb", Op::kNe, {"create"})));
  EXPECT_TRUE(M(P("verb", Op::kIn, {"get", "create"})));
  EXPECT_FALSE(M(P("verb", Op::kIn, {"get", "list"})));
  EXPECT_TRUE(M(P("user.username", Op::kIn, {"bob", "alice"}, Quantifier::kAny, true)));
  EXPECT_TRUE(M(P("stage", Op::kEq, {"ResponseComplete"})));
  EXPECT_TRUE(M(P("level", Op::kEq, {"RequestResponse"})));
  EXPECT_TRUE(M(P("cluster", Op::kEq, {"prod-eu"})));
}

TEST_F(EngineTest, StringOperators) {
  EXPECT_TRUE(M(P("userAgent", Op::kContains, {"linux"})));
  EXPECT_FALSE(M(P("userAgent", Op::kContains, {"LINUX"})));
  EXPECT_TRUE(M(P("userAgent", Op::kIContains, {"LINUX"})));
  EXPECT_TRUE(M(P("userAgent", Op::kContains, {"nope", "amd64"})));  // any literal
  EXPECT_TRUE(M(P("userAgent", Op::kStartsWith, {"kubectl/"})));
  EXPECT_TRUE(M(P("userAgent", Op::kStartsWith, {"KUBECTL/"}, Quantifier::kAny, true)));
  EXPECT_FALSE(M(P("userAgent", Op::kStartsWith, {"curl"})));
  EXPECT_TRUE(M(P("userAgent", Op::kEndsWith, {"(linux/amd64)"})));
  EXPECT_TRUE(M(P("userAgent", Op::kEndsWith, {"AMD64)"}, Quantifier::kAny, true)));
  EXPECT_TRUE(M(P("userAgent", Op::kGlob, {"kubectl/v1.*"})));
  EXPECT_TRUE(M(P("userAgent", Op::kGlob, {"kube?tl/v[0-9].*"})));
  EXPECT_FALSE(M(P("userAgent", Op::kGlob, {"kubectl"})));  // whole value
  EXPECT_TRUE(M(P("userAgent", Op::kGlob, {"KUBECTL*"}, Quantifier::kAny, true)));
  EXPECT_FALSE(M(P("userAgent", Op::kGlob, {"[!k]*"})));
  EXPECT_TRUE(M(P("userAgent", Op::kRegex, {R"(v1\.\d+\.\d+)"})));
  EXPECT_FALSE(M(P("userAgent", Op::kRegex, {"^v1"})));
  EXPECT_TRUE(M(P("userAgent", Op::kRegex, {"^KUBECTL"}, Quantifier::kAny, true)));
}

TEST_F(EngineTest, OrderingOperators) {
  EXPECT_TRUE(M(P("responseStatus.code", Op::kGe, {"200"})));
  EXPECT_TRUE(M(P("responseStatus.code", Op::kLt, {"300"})));
  EXPECT_FALSE(M(P("responseStatus.code", Op::kGt, {"201"})));
  EXPECT_TRUE(M(P("responseStatus.code", Op::kLe, {"201"})));
  EXPECT_TRUE(M(P("responseStatus.code", Op::kEq, {"201"})));
  EXPECT_TRUE(M(P("responseStatus.code", Op::kIn, {"200", "201"})));
  EXPECT_FALSE(M(P("responseStatus.code", Op::kEq, {"ALLOW"})));
  EXPECT_FALSE(M(P("responseStatus.code", Op::kContains, {"20"})));  // number: no text ops
  EXPECT_TRUE(M(P("requestObject.spec.replicas", Op::kGt, {"2"})));
  EXPECT_FALSE(M(P("requestObject.spec.replicas", Op::kGt, {"3"})));
  EXPECT_TRUE(M(P("verb", Op::kLt, {"delete"})));  // strings: lexicographic
  EXPECT_TRUE(M(P("stageTimestamp", Op::kGt, {"2024-05-01T10:00:00Z"})));
  EXPECT_FALSE(M(P("stageTimestamp", Op::kGt, {"2024-05-01T12:00:00+01:00"})));
  EXPECT_TRUE(M(P("requestReceivedTimestamp", Op::kEq, {"2024-05-01T10:00:00Z"})));
  EXPECT_TRUE(M(P("stageTimestamp", Op::kStartsWith, {"2024-05-01T10:00:00.1"})));
}

TEST_F(EngineTest, IpOperators) {
  EXPECT_TRUE(M(P("sourceIPs", Op::kCidr, {"10.0.0.0/8"})));
  EXPECT_TRUE(M(P("sourceIPs[0]", Op::kCidr, {"203.0.113.0/24"})));
  EXPECT_FALSE(M(P("sourceIPs[0]", Op::kCidr, {"10.0.0.0/8", "192.168.0.0/16"})));
  EXPECT_TRUE(M(P("sourceIPs", Op::kCidr, {"10.0.0.0/8"}, Quantifier::kAny)));
  EXPECT_FALSE(M(P("sourceIPs", Op::kCidr, {"10.0.0.0/8"}, Quantifier::kAll)));
  EXPECT_TRUE(M(P("sourceIPs[0]", Op::kPublicIp)));
  EXPECT_FALSE(M(P("sourceIPs[0]", Op::kPrivateIp)));
  EXPECT_TRUE(M(P("sourceIPs[1]", Op::kPrivateIp)));
  EXPECT_TRUE(M(P("sourceIPs", Op::kPrivateIp)));
  EXPECT_FALSE(M(P("sourceIPs", Op::kPrivateIp, {}, Quantifier::kAll)));

  EventFixture v6(R"({"verb":"get","sourceIPs":["2001:db8::1","fd12::5","::1","fe80::1",
                      "::ffff:10.1.2.3","not-an-ip","8.8.8.8"]})");
  EXPECT_TRUE(M(P("sourceIPs[0]", Op::kCidr, {"2001:db8::/32"}), v6));
  EXPECT_FALSE(M(P("sourceIPs[0]", Op::kCidr, {"2001:db9::/32"}), v6));
  EXPECT_FALSE(M(P("sourceIPs[0]", Op::kCidr, {"0.0.0.0/0"}), v6));
  EXPECT_TRUE(M(P("sourceIPs[0]", Op::kCidr, {"::/0"}), v6));
  EXPECT_TRUE(M(P("sourceIPs[0]", Op::kPublicIp), v6));
  EXPECT_TRUE(M(P("sourceIPs[1]", Op::kPrivateIp), v6));
  EXPECT_TRUE(M(P("sourceIPs[2]", Op::kPrivateIp), v6));
  EXPECT_TRUE(M(P("sourceIPs[3]", Op::kPrivateIp), v6));
  EXPECT_TRUE(M(P("sourceIPs[4]", Op::kCidr, {"10.0.0.0/8"}), v6));  // v4-mapped
  EXPECT_FALSE(M(P("sourceIPs[5]", Op::kPrivateIp), v6));
  EXPECT_FALSE(M(P("sourceIPs[5]", Op::kPublicIp), v6));
  EXPECT_TRUE(M(P("sourceIPs[6]", Op::kPublicIp), v6));
  EXPECT_TRUE(M(P("sourceIPs[6]", Op::kCidr, {"8.8.8.8"}), v6));
}

TEST_F(EngineTest, Exists) {
  EXPECT_TRUE(M(P("objectRef.namespace", Op::kExists)));
  EXPECT_FALSE(M(P("objectRef.name", Op::kExists)));
  EXPECT_FALSE(M(P("impersonatedUser", Op::kExists)));
  EXPECT_TRUE(M(P("user", Op::kExists)));
  EXPECT_TRUE(M(P("requestObject.spec.volumes[*].hostPath", Op::kExists)));
  EXPECT_TRUE(M(P("requestObject.spec.volumes[*].hostPath.path", Op::kExists)));
  EXPECT_FALSE(M(P("requestObject.spec.volumes[*].emptyDir", Op::kExists)));
  EXPECT_TRUE(M(P("annotations[\"authorization.k8s.io/reason\"]", Op::kExists)));  // empty value
  EXPECT_FALSE(M(P("annotations[\"nope\"]", Op::kExists)));
  EXPECT_FALSE(M(P("hostPath", Op::kExists)));  // unknown field: never a value
  EventFixture nulls(R"({"verb":"create","requestObject":{"spec":{"nodeName":null}}})");
  EXPECT_TRUE(M(P("requestObject.spec.nodeName", Op::kExists), nulls));
  EXPECT_FALSE(M(P("requestObject.spec.nodeName", Op::kEq, {"null"}), nulls));
}

TEST_F(EngineTest, AbsentFieldSemantics) {
  // != on an absent field is false; not (f = x) is "absent or different".
  EXPECT_FALSE(M(P("objectRef.name", Op::kNe, {"x"})));
  EXPECT_TRUE(M(Expr::Not(P("objectRef.name", Op::kEq, {"x"}))));
  EXPECT_FALSE(M(P("impersonatedUser.groups", Op::kNe, {"x"}, Quantifier::kAll)));
  EXPECT_FALSE(M(P("requestObject.spec.nope", Op::kEq, {"x"})));
  EXPECT_FALSE(M(P("responseObject.metadata.name", Op::kExists)));  // no response body
  EXPECT_FALSE(M(P("user.groups", Op::kEq, {"x"}, Quantifier::kAll)));
}

TEST_F(EngineTest, QuantifiersOnGroupsAndContainers) {
  EXPECT_TRUE(M(P("user.groups", Op::kEq, {"devs"})));
  EXPECT_TRUE(M(P("user.groups[*]", Op::kEq, {"devs"})));
  EXPECT_FALSE(M(P("user.groups", Op::kEq, {"devs"}, Quantifier::kAll)));
  EXPECT_TRUE(M(P("user.groups", Op::kIn, {"devs", "system:authenticated"}, Quantifier::kAll)));
  EXPECT_TRUE(M(P("user.groups[1]", Op::kEq, {"devs"})));
  EXPECT_FALSE(M(P("user.groups[7]", Op::kExists)));
  EXPECT_TRUE(M(P("user.extra[\"iam.gke.io/user-assertion\"]", Op::kEq, {"x2"})));
  EXPECT_TRUE(M(P("user.extra[\"iam.gke.io/user-assertion\"][0]", Op::kEq, {"x1"})));
  const std::string priv = "requestObject.spec.containers[*].securityContext.privileged";
  EXPECT_TRUE(M(P(priv, Op::kEq, {"true"})));
  EXPECT_FALSE(M(P(priv, Op::kEq, {"true"}, Quantifier::kAll)));
  EXPECT_TRUE(M(P(priv, Op::kIn, {"true", "false"}, Quantifier::kAll)));
  EXPECT_TRUE(
      M(P("requestObject.spec.containers[0].securityContext.privileged", Op::kEq, {"true"})));
  EXPECT_FALSE(
      M(P("requestObject.spec.containers[1].securityContext.privileged", Op::kEq, {"true"})));
  EXPECT_TRUE(M(P("requestObject.spec.initContainers[*].image", Op::kEq, {"alpine"})));
  EXPECT_TRUE(M(P("requestObject.spec.hostNetwork", Op::kEq, {"true"})));
  EXPECT_FALSE(M(P("requestObject.spec.hostNetwork", Op::kEq, {"false"})));
  EXPECT_FALSE(
      M(P("requestObject.spec.hostNetwork", Op::kContains, {"true"})));  // bool: no text op
  EXPECT_TRUE(M(P("requestObject.metadata.labels[\"app.kubernetes.io/name\"]", Op::kEq, {"web"})));
  // A final array yields its elements.
  EXPECT_TRUE(M(P("requestObject.spec.containers[*].name", Op::kEq, {"b"})));
}

TEST_F(EngineTest, BodyWithWrongTypes) {
  EventFixture fx(R"({"verb":"create","objectRef":{"resource":"pods"},
    "requestObject":{"spec":{"containers":{"name":"a","securityContext":{"privileged":true}},
                             "initContainers":"nope",
                             "ephemeralContainers":[{"securityContext":{"privileged":"true"}}],
                             "hostNetwork":"true"}}})");
  const std::string priv = "requestObject.spec.containers[*].securityContext.privileged";
  EXPECT_FALSE(M(P(priv, Op::kEq, {"true"}), fx));  // [*] over an object: nothing
  EXPECT_FALSE(M(P(priv, Op::kExists), fx));
  EXPECT_FALSE(M(P("requestObject.spec.initContainers[*].image", Op::kExists), fx));
  EXPECT_FALSE(M(P("requestObject.spec.initContainers[0]", Op::kExists), fx));
  // A JSON string "true" equals the text "true" (Falco compares text); bools stay bools.
  EXPECT_TRUE(M(
      P("requestObject.spec.ephemeralContainers[*].securityContext.privileged", Op::kEq, {"true"}),
      fx));
  EXPECT_TRUE(M(P("requestObject.spec.hostNetwork", Op::kContains, {"tru"}), fx));
  // A malformed body is "no value", never a crash.
  EventFixture bad(R"({"verb":"create"})");
  bad.mutable_event().request_object = bad.Own("{\"spec\": [1, 2");
  EXPECT_FALSE(M(P("requestObject.spec", Op::kExists), bad));
  EXPECT_TRUE(M(P("verb", Op::kEq, {"create"}), bad));
}

TEST_F(EngineTest, Transforms) {
  const std::string img = "requestObject.spec.containers[*].image";
  EXPECT_TRUE(M(P(img + "|repository", Op::kEq, {"registry.local:5000/team/nginx"})));
  EXPECT_TRUE(M(P(img + "|repository", Op::kEq, {"docker.io/library/busybox"})));
  EXPECT_TRUE(M(P("requestObject.spec.initContainers[*].image|repository", Op::kEq, {"alpine"})));
  EXPECT_FALSE(M(P(img + "|repository", Op::kContains, {"1.25"})));
  EXPECT_TRUE(M(P("user.username|lower", Op::kEq, {"alice"})));
  EXPECT_FALSE(M(P("user.username", Op::kEq, {"alice"})));
  EXPECT_TRUE(M(P("requestObject.spec.containers|count", Op::kEq, {"2"})));
  EXPECT_TRUE(M(P("requestObject.spec.containers[*]|count", Op::kEq, {"2"})));
  EXPECT_TRUE(M(P("user.groups|count", Op::kGe, {"2"})));
  EXPECT_TRUE(M(P("requestObject.spec.ephemeralContainers|count", Op::kEq, {"0"})));
  EXPECT_TRUE(M(P("requestObject.spec.volumes[0].hostPath|json", Op::kEq, {R"({"path":"/etc"})"})));
  EXPECT_TRUE(M(P("requestObject.spec.initContainers|json", Op::kEq,
                  {R"([{"name":"init","image":"alpine"}])"})));
  EXPECT_TRUE(M(P("requestObject.spec|json", Op::kContains, {R"("hostNetwork":true)"})));
  EXPECT_TRUE(M(P("verb|json", Op::kEq, {R"("create")"})));
}

TEST_F(EngineTest, QueryParamsAndUriPath) {
  EventFixture exec(R"({"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},
    "requestURI":"/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c&command=cat%20%2Fetc%2Fshadow&container=web&stdin=true"})");
  EXPECT_TRUE(M(P("requestURI.query[\"command\"]", Op::kEq, {"cat /etc/shadow"}), exec));
  EXPECT_TRUE(M(P("requestURI.query[\"command\"][0]", Op::kEq, {"sh"}), exec));
  EXPECT_FALSE(M(P("requestURI.query[\"command\"][0]", Op::kEq, {"-c"}), exec));
  EXPECT_TRUE(M(P("requestURI.query[\"command\"][1]", Op::kEq, {"-c"}), exec));
  EXPECT_TRUE(M(P("requestURI.query[\"container\"]", Op::kEq, {"web"}), exec));
  EXPECT_FALSE(M(P("requestURI.query[\"tty\"]", Op::kExists), exec));
  EXPECT_TRUE(M(P("requestURI.query[\"command\"]|count", Op::kEq, {"3"}), exec));
  EXPECT_TRUE(
      M(P("requestURI.path", Op::kEq, {"/api/v1/namespaces/default/pods/web-0/exec"}), exec));
  EXPECT_TRUE(M(P("requestURI", Op::kContains, {"%2Fetc%2Fshadow"}), exec));
}

TEST_F(EngineTest, AnnotationsWithDottedKeys) {
  EXPECT_TRUE(M(P("annotations[\"authorization.k8s.io/decision\"]", Op::kEq, {"allow"})));
  EXPECT_FALSE(M(P("annotations[\"authorization.k8s.io/decision\"]", Op::kEq, {"forbid"})));
  EXPECT_TRUE(M(P("annotations", Op::kExists)));
}

TEST_F(EngineTest, BooleanStructure) {
  EXPECT_TRUE(
      M(Expr::And({P("verb", Op::kEq, {"create"}), P("objectRef.resource", Op::kEq, {"pods"})})));
  EXPECT_FALSE(
      M(Expr::And({P("verb", Op::kEq, {"create"}), P("objectRef.resource", Op::kEq, {"x"})})));
  EXPECT_TRUE(
      M(Expr::Or({P("verb", Op::kEq, {"get"}), P("objectRef.resource", Op::kEq, {"pods"})})));
  EXPECT_FALSE(M(Expr::Not(P("verb", Op::kEq, {"create"}))));
  EXPECT_TRUE(M(Expr::True()));
  EXPECT_FALSE(M(Expr::False()));
}

TEST_F(EngineTest, FindingFieldsAndOutput) {
  auto engine = CompileOne(MakeRule(
      "k8s.test", P("verb", Op::kEq, {"create"}),
      "{user.username} {verb} {objectRef.resource} {objectRef.namespace}/{objectRef.name} on "
      "{cluster}; groups={user.groups} code={responseStatus.code} priv="
      "{requestObject.spec.containers[*].securityContext.privileged} {{literal} "
      "imp={impersonatedUser.username} d={annotations[\"authorization.k8s.io/decision\"]}"));
  ASSERT_NE(engine, nullptr);
  std::vector<Finding> out;
  engine->Evaluate(pod_.event(), &out);
  ASSERT_EQ(out.size(), 1u);
  const Finding& f = out[0];
  EXPECT_EQ(f.id, MakeFindingId("k8s.test", "prod-eu", "a-1"));
  EXPECT_EQ(f.rule_id, "k8s.test");
  EXPECT_EQ(f.rule_name, "k8s.test name");
  EXPECT_EQ(f.severity, Severity::kHigh);
  EXPECT_EQ(f.attack_ids, std::vector<std::string>{"T1609"});
  EXPECT_EQ(f.cluster, "prod-eu");
  EXPECT_EQ(f.user, "Alice");
  EXPECT_EQ(f.groups.size(), 2u);
  EXPECT_EQ(f.source_ips.size(), 2u);
  EXPECT_EQ(f.verb, "create");
  EXPECT_EQ(f.object.resource, "pods");
  EXPECT_EQ(f.object.name, "web");  // from the body of a create
  EXPECT_EQ(f.first_seen_us, pod_.event().request_received_us);
  EXPECT_EQ(f.evidence, std::vector<std::string>{"a-1"});
  EXPECT_EQ(f.message,
            "Alice create pods default/<none> on prod-eu; groups=system:authenticated,devs "
            "code=201 priv=true,false {literal} imp=<none> d=allow");
}

// An optional part {? ...} is kept when all its fields have values, else left out whole.
TEST_F(EngineTest, OptionalPartsOfTheOutput) {
  auto engine = CompileOne(MakeRule(
      "k8s.test", P("verb", Op::kEq, {"create"}),
      "{user.username} created {objectRef.resource}{? {objectRef.namespace}/{objectRef.name}}"
      "{? in {objectRef.namespace}}{? as {impersonatedUser.username}} on {cluster}{? {{x}} done"));
  ASSERT_NE(engine, nullptr);
  std::vector<Finding> out;
  engine->Evaluate(pod_.event(), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].message, "Alice created pods in default on prod-eu {x} done");
  for (const char* bad : {"a {? b {? c} d}", "a {? b", "a {? {nope.x}}"}) {
    RuleSet set;
    set.rules.push_back(MakeRule("k8s.bad", Expr::True(), bad));
    EXPECT_FALSE(RuleEngine::Compile(set).ok()) << bad;
  }
}

TEST_F(EngineTest, DefaultOutputAndBoundedMessage) {
  auto engine = CompileOne(MakeRule("k8s.x", Expr::True()));
  std::vector<Finding> out;
  engine->Evaluate(pod_.event(), &out);
  ASSERT_EQ(out.size(), 1u);
  // Absent parts are left out, never printed as <none>.
  EXPECT_EQ(out[0].message, "k8s.x name: Alice create pods in default on cluster prod-eu");

  std::string big(5000, 'a');
  EventFixture fx(R"({"verb":"get","userAgent":")" + big + R"("})");
  auto long_engine = CompileOne(MakeRule(
      "k8s.long", Expr::True(), "{userAgent}{userAgent}{userAgent}{userAgent}{userAgent}"));
  out.clear();
  long_engine->Evaluate(fx.event(), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LE(out[0].message.size(), 2048u);
}

TEST_F(EngineTest, FindingIdWithoutAuditId) {
  EventFixture fx(R"({"verb":"get","user":{"username":"bob"},"requestURI":"/x"})", "c1");
  auto engine = CompileOne(MakeRule("k8s.y", Expr::True()));
  std::vector<Finding> out;
  engine->Evaluate(fx.event(), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, MakeFindingId("k8s.y", "c1", "no-audit-id|0|bob|/x"));
  EXPECT_TRUE(out[0].evidence.empty());
}

TEST_F(EngineTest, ExceptionsSuppress) {
  Rule r = MakeRule("k8s.exc", P("verb", Op::kEq, {"create"}));
  r.exceptions.push_back(P("user.username", Op::kEq, {"Alice"}));
  auto engine = CompileOne(r);
  EXPECT_FALSE(engine->Matches(0, pod_.event()));
  std::vector<Finding> out;
  engine->Evaluate(pod_.event(), &out);
  EXPECT_TRUE(out.empty());
  Rule r2 = MakeRule("k8s.exc2", P("verb", Op::kEq, {"create"}));
  r2.exceptions.push_back(P("user.username", Op::kEq, {"bob"}));
  EXPECT_TRUE(CompileOne(r2)->Matches(0, pod_.event()));
}

TEST_F(EngineTest, IndexSkipsRulesThatCannotMatch) {
  RuleSet set;
  set.rules.push_back(MakeRule(
      "r.create_pods", Expr::And({P("verb", Op::kEq, {"create"}),
                                  P("objectRef.resource", Op::kIn, {"pods", "deployments"})})));
  set.rules.push_back(MakeRule("r.get_or_list", P("verb", Op::kIn, {"get", "list"})));
  set.rules.push_back(MakeRule("r.any", P("user.username", Op::kExists)));
  set.rules.push_back(MakeRule(
      "r.or_verbs", Expr::Or({P("verb", Op::kEq, {"delete"}), P("verb", Op::kEq, {"get"})})));
  set.rules.push_back(MakeRule("r.secrets", P("objectRef.resource", Op::kEq, {"secrets"})));
  auto compiled = RuleEngine::Compile(set);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  auto& engine = *compiled;
  std::vector<Finding> out;
  EventFixture get(R"({"verb":"get","user":{"username":"u"},"objectRef":{"resource":"pods"}})");
  engine->Evaluate(get.event(), &out);
  // Candidates: r.get_or_list, r.any, r.or_verbs (not r.create_pods, not r.secrets).
  EXPECT_EQ(engine->evaluated_rule_count(), 3u);
  EXPECT_EQ(out.size(), 3u);
  out.clear();
  engine->Evaluate(pod_.event(), &out);  // create pods: r.create_pods and r.any
  EXPECT_EQ(engine->evaluated_rule_count(), 5u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rule_id, "r.create_pods");
  EXPECT_EQ(out[1].rule_id, "r.any");
  out.clear();
  EventFixture other(
      R"({"verb":"patch","user":{"username":"u"},"objectRef":{"resource":"secrets"}})");
  engine->Evaluate(other.event(), &out);  // r.any, r.secrets
  EXPECT_EQ(engine->evaluated_rule_count(), 7u);
  EXPECT_EQ(out.size(), 2u);
  // The index never changes verdicts: Matches runs the rule regardless.
  EXPECT_FALSE(engine->Matches(0, get.event()));
}

TEST_F(EngineTest, CompileErrors) {
  auto err = [](Rule r) {
    RuleSet set;
    set.rules.push_back(std::move(r));
    auto e = RuleEngine::Compile(set);
    EXPECT_FALSE(e.ok());
    return e.ok() ? std::string() : e.status().message();
  };
  std::string m = err(MakeRule("bad.regex", P("verb", Op::kRegex, {"(unclosed"})));
  EXPECT_NE(m.find("rules.yaml:3:5: rule 'bad.regex'"), std::string::npos) << m;
  EXPECT_NE(m.find("regex"), std::string::npos) << m;
  m = err(MakeRule("bad.cidr", P("sourceIPs", Op::kCidr, {"10.0.0.0/33"})));
  EXPECT_NE(m.find("CIDR"), std::string::npos) << m;
  err(MakeRule("bad.cidr2", P("sourceIPs", Op::kCidr, {"nope"})));
  m = err(MakeRule("bad.out", Expr::True(), "{user.nope} did it"));
  EXPECT_NE(m.find("user.nope"), std::string::npos) << m;
  err(MakeRule("bad.out2", Expr::True(), "unterminated {verb"));
  err(MakeRule("bad.path", P("requestObject.spec[", Op::kExists)));
  err(MakeRule("bad.values", P("verb", Op::kEq)));
  err(MakeRule("bad.values2", P("verb", Op::kContains)));
  // An empty `in` list (a Falco list with no items) is valid and matches nothing.
  auto empty_in = CompileOne(MakeRule("ok.empty_in", P("verb", Op::kIn)));
  ASSERT_NE(empty_in, nullptr);
  EXPECT_FALSE(empty_in->Matches(0, pod_.event()));
  RuleSet dup;
  dup.rules.push_back(MakeRule("same", Expr::True()));
  dup.rules.push_back(MakeRule("same", Expr::False()));
  auto d = RuleEngine::Compile(dup);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("duplicate"), std::string::npos);
  // Unknown but well-formed fields compile (the linter reports them).
  EXPECT_NE(CompileOne(MakeRule("ok.unknown", P("hostPath", Op::kGlob, {"*"}))), nullptr);
}

TEST_F(EngineTest, DisabledRulesAreNotCompiled) {
  RuleSet set;
  set.rules.push_back(MakeRule("on", Expr::True()));
  Rule off = MakeRule("off", P("verb", Op::kRegex, {"(bad"}));
  off.enabled = false;
  set.rules.push_back(off);
  auto e = RuleEngine::Compile(set);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ((*e)->rules().size(), 1u);
  EXPECT_EQ((*e)->rules()[0].id, "on");
  EXPECT_EQ((*e)->rule_defs().size(), 1u);
}

TEST_F(EngineTest, CloneSharesRules) {
  auto engine = CompileOne(MakeRule("k8s.c", P("verb", Op::kEq, {"create"})));
  auto clone = engine->Clone();
  EXPECT_EQ(&engine->rules(), &clone->rules());
  EXPECT_EQ(&engine->rule_defs(), &clone->rule_defs());
  std::vector<Finding> a, b;
  engine->Evaluate(pod_.event(), &a);
  clone->Evaluate(pod_.event(), &b);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].id, b[0].id);
  EXPECT_EQ(clone->evaluated_rule_count(), 1u);
}

TEST_F(EngineTest, BodyDecodedOnlyWhenNeededAndMaxBytes) {
  RuleSet set;
  set.rules.push_back(MakeRule("r.body", P("requestObject.spec.hostNetwork", Op::kEq, {"true"})));
  EngineOptions opts;
  opts.max_body_bytes = 16;  // too small for the fixture's body
  auto e = RuleEngine::Compile(set, opts);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE((*e)->Matches(0, pod_.event()));
  auto big = RuleEngine::Compile(set);
  EXPECT_TRUE((*big)->Matches(0, pod_.event()));
}

TEST_F(EngineTest, ResponseObjectPaths) {
  EventFixture fx(
      R"({"verb":"create","responseObject":{"status":{"allowed":true},"items":[1,2,3]}})");
  EXPECT_TRUE(M(P("responseObject.status.allowed", Op::kEq, {"true"}), fx));
  EXPECT_TRUE(M(P("responseObject.items", Op::kEq, {"2"}), fx));
  EXPECT_TRUE(M(P("responseObject.items|count", Op::kEq, {"3"}), fx));
  EXPECT_FALSE(M(P("requestObject.status.allowed", Op::kExists), fx));
}

// Lists of 4+ literals take the engine's set fast paths; results must equal the one-by-one tests.
TEST_F(EngineTest, ManyLiteralListsMatchLikeSingleLiterals) {
  const std::vector<std::string> users = {"bob", "carol", "alice", "dave", "erin"};
  EXPECT_FALSE(M(P("user.username", Op::kIn, users)));  // "Alice"
  EXPECT_TRUE(M(P("user.username", Op::kIn, users, Quantifier::kAny, /*ci=*/true)));
  EXPECT_TRUE(M(P("user.username", Op::kNe, users)));
  EXPECT_FALSE(M(P("user.username", Op::kNe, users, Quantifier::kAny, /*ci=*/true)));
  EXPECT_TRUE(M(P("user.groups[*]", Op::kIn, {"a", "b", "c", "devs"})));
  EXPECT_FALSE(M(P("user.groups[*]", Op::kIn, {"a", "b", "c", "dev"})));
  EXPECT_TRUE(M(P("responseStatus.code", Op::kIn, {"200", "201", "202", "204"})));
  EXPECT_TRUE(M(P("requestObject.spec.hostNetwork", Op::kIn, {"x", "y", "z", "true"})));
  EXPECT_TRUE(M(P("requestReceivedTimestamp", Op::kIn, {"a", "b", "c", "2024-05-01T10:00:00Z"})));
  const std::vector<std::string> agents = {"curl/", "python-", "(LINUX", "kubectl/v9"};
  EXPECT_FALSE(M(P("userAgent", Op::kContains, agents)));
  EXPECT_TRUE(M(P("userAgent", Op::kContains, agents, Quantifier::kAny, /*ci=*/true)));
  EXPECT_TRUE(M(P("userAgent", Op::kIContains, agents)));
  EXPECT_TRUE(M(P("userAgent|lower", Op::kContains, {"zz", "yy", "xx", "d64)"})));
  EXPECT_TRUE(M(P("userAgent", Op::kContains, {"zz", "yy", "xx", "/"})));
  EXPECT_FALSE(M(P("userAgent", Op::kContains, {"zz", "yy", "xx", "#"})));
  EXPECT_TRUE(M(P("userAgent", Op::kContains, {"zz", "yy", "xx", ""})));
}

// Rules share predicates, subtrees and body prefixes; per-event memos must not leak between
// events or between rules with different bodies.
TEST_F(EngineTest, SharedSubtreesAndBodyPrefixesAcrossEvents) {
  auto privileged = [] {
    return Expr::Or(
        {P("requestObject.spec.containers[*].securityContext.privileged", Op::kEq, {"true"}),
         P("requestObject.spec.template.spec.containers[*].securityContext.privileged", Op::kEq,
           {"true"})});
  };
  RuleSet set;
  set.rules.push_back(MakeRule("r.a", Expr::And({P("verb", Op::kEq, {"create"}), privileged()})));
  set.rules.push_back(MakeRule(
      "r.b", Expr::And({privileged(), Expr::Not(P("user.username", Op::kEq, {"Alice"}))})));
  set.rules.push_back(MakeRule("r.c", P("requestObject.spec.hostNetwork", Op::kEq, {"true"})));
  auto e = RuleEngine::Compile(set);
  ASSERT_TRUE(e.ok());
  RuleEngine& engine = **e;
  EventFixture deploy(
      R"({"verb":"create","user":{"username":"bob"},"requestObject":{"spec":{"template":{"spec":
          {"containers":[{"securityContext":{"privileged":true}}]}}}}})");
  EventFixture plain(R"({"verb":"create","user":{"username":"bob"},"requestObject":{"spec":1}})");
  for (int round = 0; round < 2; ++round) {
    std::vector<Finding> out;
    engine.Evaluate(pod_.event(), &out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].rule_id, "r.a");
    EXPECT_EQ(out[1].rule_id, "r.c");
    out.clear();
    engine.Evaluate(deploy.event(), &out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].rule_id, "r.a");
    EXPECT_EQ(out[1].rule_id, "r.b");
    out.clear();
    engine.Evaluate(plain.event(), &out);
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(engine.Matches(1, deploy.event()));
    EXPECT_FALSE(engine.Matches(1, pod_.event()));
  }
}

}  // namespace
}  // namespace vigil::detect

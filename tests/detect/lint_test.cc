// Tests for the rule linter: unknown fields, number/string mismatches, never-true conditions.
#include "vigil/detect/lint.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "vigil/detect/sigma_loader.h"

namespace vigil::detect {
namespace {

ExprPtr P(std::string field, Op op, std::vector<std::string> values = {}) {
  Predicate p;
  p.field.path = std::move(field);
  p.op = op;
  for (std::string& v : values) p.values.push_back({std::move(v)});
  return Expr::Pred(std::move(p));
}

Rule MakeRule(std::string id, ExprPtr cond) {
  Rule r;
  r.id = std::move(id);
  r.condition = std::move(cond);
  r.source = {"sigma/x.yml", 21, 5};
  return r;
}

std::vector<LintIssue> Lint(Rule r) {
  RuleSet set;
  set.rules.push_back(std::move(r));
  return LintRuleSet(set);
}

bool HasIssue(const std::vector<LintIssue>& issues, std::string_view needle,
              LintIssue::Severity sev = LintIssue::kError) {
  for (const LintIssue& i : issues) {
    if (i.severity == sev && i.message.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string Dump(const std::vector<LintIssue>& issues) {
  std::string out;
  for (const LintIssue& i : issues) out += FormatLintIssue(i) + "\n";
  return out;
}

ExprPtr VerbResource(std::string verb, std::string resource) {
  return Expr::And({P("verb", Op::kEq, {std::move(verb)}),
                    P("objectRef.resource", Op::kEq, {std::move(resource)})});
}

TEST(LintTest, CleanRuleHasNoIssues) {
  auto issues = Lint(
      MakeRule("ok", Expr::And({VerbResource("create", "pods"),
                                P("requestObject.spec.containers[*].securityContext.privileged",
                                  Op::kEq, {"true"}),
                                P("responseStatus.code", Op::kIn, {"401", "403"}),
                                Expr::Not(P("user.username", Op::kStartsWith, {"system:"}))})));
  EXPECT_TRUE(issues.empty()) << Dump(issues);
}

TEST(LintTest, UnknownTopLevelFieldsWithSuggestions) {
  auto hostpath =
      Lint(MakeRule("sigma.hostpath",
                    Expr::And({VerbResource("create", "pods"), P("hostPath", Op::kGlob, {"*"})})));
  EXPECT_TRUE(HasIssue(hostpath,
                       "field 'hostPath' never exists in a raw audit event (did you mean "
                       "requestObject.spec.volumes[*].hostPath.path?)"))
      << Dump(hostpath);
  EXPECT_TRUE(HasIssue(hostpath, "condition can never be true")) << Dump(hostpath);
  EXPECT_EQ(hostpath[0].rule_id, "sigma.hostpath");
  EXPECT_EQ(hostpath[0].source.line, 21);
  EXPECT_NE(FormatLintIssue(hostpath[0]).find("sigma/x.yml:21:5: error: rule 'sigma.hostpath'"),
            std::string::npos);

  auto caps = Lint(MakeRule("sigma.caps", Expr::And({VerbResource("create", "pods"),
                                                     P("capabilities", Op::kGlob, {"*"})})));
  EXPECT_TRUE(HasIssue(caps, "'capabilities' never exists")) << Dump(caps);
  EXPECT_TRUE(HasIssue(caps, "securityContext.capabilities")) << Dump(caps);

  auto group = Lint(MakeRule("sigma.apigroup", Expr::And({VerbResource("patch", "deployments"),
                                                          P("apiGroup", Op::kEq, {"apps"})})));
  EXPECT_TRUE(HasIssue(group, "did you mean objectRef.apiGroup?")) << Dump(group);
  auto nested = Lint(MakeRule("n", P("objectRef.apiGroups", Op::kEq, {"apps"})));
  EXPECT_TRUE(HasIssue(nested, "'objectRef.apiGroups' never exists")) << Dump(nested);
}

TEST(LintTest, NumberFieldComparedWithText) {
  auto allow =
      Lint(MakeRule("sigma.enum", Expr::And({P("responseStatus.code", Op::kEq, {"ALLOW"}),
                                             P("requestURI", Op::kContains, {"%2fbin%2fsh"})})));
  EXPECT_TRUE(HasIssue(allow,
                       "number field 'responseStatus.code' compared with non-numeric "
                       "value 'ALLOW'"))
      << Dump(allow);
  EXPECT_TRUE(HasIssue(allow, "condition can never be true")) << Dump(allow);
  auto text_op = Lint(MakeRule("t", P("responseStatus.code", Op::kStartsWith, {"4"})));
  EXPECT_TRUE(HasIssue(text_op, "text operator on number field")) << Dump(text_op);
  auto count = Lint(MakeRule("c", P("user.groups|count", Op::kGt, {"many"})));
  EXPECT_TRUE(HasIssue(count, "number field 'user.groups|count'")) << Dump(count);
  EXPECT_TRUE(Lint(MakeRule("ok", P("responseStatus.code", Op::kGe, {"400"}))).empty());
}

TEST(LintTest, NeverTrueConditions) {
  EXPECT_TRUE(HasIssue(Lint(MakeRule("f", Expr::False())), "can never be true"));
  auto verbs =
      Lint(MakeRule("v", Expr::And({P("verb", Op::kEq, {"get"}), P("verb", Op::kEq, {"list"})})));
  EXPECT_TRUE(HasIssue(verbs, "'verb' cannot be both get and list")) << Dump(verbs);
  auto in_sets = Lint(MakeRule("v2", Expr::And({P("verb", Op::kIn, {"get", "list"}),
                                                P("verb", Op::kIn, {"list", "watch"})})));
  EXPECT_TRUE(in_sets.empty()) << Dump(in_sets);
  auto negated =
      Lint(MakeRule("n", Expr::And({P("objectRef.resource", Op::kEq, {"pods"}),
                                    Expr::Not(P("objectRef.resource", Op::kEq, {"pods"}))})));
  EXPECT_TRUE(HasIssue(negated, "can never be true")) << Dump(negated);
  auto or_never = Lint(MakeRule("o", Expr::Or({Expr::False(), P("hostPID", Op::kEq, {"true"})})));
  EXPECT_TRUE(HasIssue(or_never, "can never be true")) << Dump(or_never);
  auto not_true = Lint(MakeRule("nt", Expr::Not(Expr::True())));
  EXPECT_TRUE(HasIssue(not_true, "can never be true")) << Dump(not_true);
  // Multi-valued fields may hold both values: no contradiction.
  auto groups = Lint(MakeRule(
      "g", Expr::And({P("user.groups", Op::kEq, {"a"}), P("user.groups", Op::kEq, {"b"})})));
  EXPECT_TRUE(groups.empty()) << Dump(groups);
  // An unknown field under `not` is always "absent": fine as a condition, only the field is named.
  auto not_unknown = Lint(MakeRule(
      "nu", Expr::And({P("verb", Op::kEq, {"get"}), Expr::Not(P("hostPath", Op::kExists))})));
  EXPECT_FALSE(HasIssue(not_unknown, "can never be true")) << Dump(not_unknown);
  EXPECT_TRUE(HasIssue(not_unknown, "never exists")) << Dump(not_unknown);
}

TEST(LintTest, BrokenThingsAndExceptions) {
  auto bad = Lint(MakeRule(
      "b", Expr::And({P("verb", Op::kRegex, {"(x"}), P("sourceIPs", Op::kCidr, {"1.2.3.4/40"}),
                      P("requestObject.spec[", Op::kExists)})));
  EXPECT_TRUE(HasIssue(bad, "bad regex")) << Dump(bad);
  EXPECT_TRUE(HasIssue(bad, "bad CIDR")) << Dump(bad);
  EXPECT_TRUE(HasIssue(bad, "bad field path")) << Dump(bad);
  Rule r = MakeRule("e", P("verb", Op::kEq, {"get"}));
  r.exceptions.push_back(P("usrname", Op::kEq, {"bob"}));
  auto exc = Lint(r);
  EXPECT_TRUE(HasIssue(exc, "this exception never applies", LintIssue::kWarning)) << Dump(exc);
  RuleSet dup;
  dup.rules.push_back(MakeRule("same", Expr::True()));
  dup.rules.push_back(MakeRule("same", Expr::True()));
  EXPECT_TRUE(HasIssue(LintRuleSet(dup), "duplicate rule id"));
}

TEST(LintTest, StatefulKeysAndStepsAreChecked) {
  Rule r = MakeRule("s", P("verb", Op::kEq, {"get"}));
  auto st = std::make_shared<StatefulSpec>();
  st->kind = StatefulSpec::Kind::kSequence;
  st->group_by = {KeyExpr{"usr.name", {}}, KeyExpr{"objectRef.name ?? requestObject.metadata.name", {}}};
  SequenceStep a;
  a.name = "first";
  a.condition = Expr::And({P("verb", Op::kEq, {"get"}), P("verb", Op::kEq, {"list"})});
  a.by = {KeyExpr{"sa:{objectRef.namespace}:{objRef.name}", {}}};
  st->steps = {a, a};
  r.stateful = st;
  auto issues = Lint(r);
  EXPECT_TRUE(HasIssue(issues, "key field 'usr.name' never exists")) << Dump(issues);
  EXPECT_TRUE(HasIssue(issues, "key field 'objRef.name' never exists")) << Dump(issues);
  EXPECT_FALSE(HasIssue(issues, "key field 'objectRef.name")) << Dump(issues);
  EXPECT_TRUE(HasIssue(issues, "sequence step 'first' can never be true")) << Dump(issues);
}

std::filesystem::path CorpusDir() {
  if (const char* env = std::getenv("VIGIL_CORPUS")) return env;
  return std::filesystem::path(VIGIL_SOURCE_DIR) / ".." / "shared" / "corpus";
}

// The corpus note: 5 of the 16 Sigma kubernetes/audit rules reference fields that never exist
// in a raw audit event (top-level hostPath, capabilities, apiGroup) or compare
// responseStatus.code with 'ALLOW'. The linter must name exactly those.
TEST(LintTest, NamesTheFiveDefectiveSigmaRules) {
  const std::filesystem::path dir = CorpusDir() / "sigma";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "corpus not found at " << dir;
  auto rules = LoadSigmaRules({dir.string()});
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ(rules->rules.size(), 16u);
  auto issues = LintRuleSet(*rules);
  std::set<std::string> files;
  for (const LintIssue& i : issues) {
    if (i.severity == LintIssue::kError) {
      files.insert(std::filesystem::path(i.source.file).filename().string());
    }
  }
  EXPECT_EQ(files, (std::set<std::string>{"kubernetes_audit_hostpath_mount.yml",
                                          "kubernetes_audit_privileged_pod_creation.yml",
                                          "kubernetes_audit_rbac_permisions_listing.yml",
                                          "kubernetes_audit_sidecar_injection.yml",
                                          "kubernetes_audit_potential_enumeration_activity.yml"}))
      << Dump(issues);
}

}  // namespace
}  // namespace vigil::detect

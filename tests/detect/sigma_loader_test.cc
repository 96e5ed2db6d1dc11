// Tests of the Sigma front end: the IR built for each modifier and condition form, errors with
// positions, the 16 kubernetes/audit rules of the corpus, and their verdicts through RuleEngine.
#include "vigil/detect/sigma_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace vigil::detect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Short operator names used in this file's expected IR dumps ("eq", "private", ...).
std::string ShortOpName(Op op) {
  switch (op) {
    case Op::kEq:
      return "eq";
    case Op::kNe:
      return "ne";
    case Op::kLt:
      return "lt";
    case Op::kLe:
      return "le";
    case Op::kGt:
      return "gt";
    case Op::kGe:
      return "ge";
    case Op::kIn:
      return "in";
    case Op::kContains:
      return "contains";
    case Op::kIContains:
      return "icontains";
    case Op::kStartsWith:
      return "startswith";
    case Op::kEndsWith:
      return "endswith";
    case Op::kGlob:
      return "glob";
    case Op::kRegex:
      return "regex";
    case Op::kCidr:
      return "cidr";
    case Op::kPrivateIp:
      return "private";
    case Op::kPublicIp:
      return "public";
    case Op::kExists:
      return "exists";
  }
  return "?";
}

// A compact text form of an expression: "(a AND b)", "(a OR b)", "NOT a",
// "field op/i [v1|v2]" (/i when case-insensitive).
std::string Dump(const ExprPtr& e) {
  if (!e) return "<null>";
  switch (e->kind) {
    case Expr::Kind::kTrue:
      return "TRUE";
    case Expr::Kind::kFalse:
      return "FALSE";
    case Expr::Kind::kNot:
      return "NOT " + Dump(e->children.at(0));
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      std::string s = "(";
      for (size_t i = 0; i < e->children.size(); ++i) {
        if (i) s += e->kind == Expr::Kind::kAnd ? " AND " : " OR ";
        s += Dump(e->children[i]);
      }
      return s + ")";
    }
    case Expr::Kind::kPredicate: {
      const Predicate& p = e->predicate;
      std::string s = p.field.path + " " + ShortOpName(p.op);
      if (p.case_insensitive) s += "/i";
      if (p.quantifier == Quantifier::kAll) s += " all";
      if (!p.values.empty()) {
        s += " [";
        for (size_t i = 0; i < p.values.size(); ++i) {
          if (i) s += "|";
          s += p.values[i].text;
        }
        s += "]";
      }
      return s;
    }
  }
  return "?";
}

const char* kHeader = R"(title: Test Rule
id: 11111111-2222-3333-4444-555555555555
status: test
description: A test.
logsource:
  product: kubernetes
  service: audit
level: high
)";

// Loads kHeader + `detection` and returns the single rule's condition dump.
std::string Cond(const std::string& detection) {
  auto set = LoadSigmaRuleFromString(std::string(kHeader) + detection, "t.yml");
  if (!set.ok()) return "ERROR " + set.status().message();
  if (set->rules.size() != 1) return "ERROR rules=" + std::to_string(set->rules.size());
  return Dump(set->rules[0].condition);
}

// Loads kHeader + `detection` and returns the error message ("" when it loaded).
std::string Err(const std::string& detection) {
  auto set = LoadSigmaRuleFromString(std::string(kHeader) + detection, "t.yml");
  return set.ok() ? "" : set.status().message();
}

TEST(SigmaLoaderTest, Metadata) {
  auto set = LoadSigmaRuleFromString(R"(title: Meta {x}
id: 0d933542-1f1f-420d-97d4-21b2c3c492d9
status: experimental
description: |
  Two
  lines.
references:
  - https://example.com
author: someone
tags:
  - attack.execution
  - attack.t1609
  - attack.T1552.007
  - attack.discovery
  - cve.2024-1234
logsource:
  product: kubernetes
  service: audit
detection:
  selection:
    verb: create
  condition: selection
falsepositives:
  - none
level: informational
)",
                                     "meta.yml");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 1u);
  const Rule& r = set->rules[0];
  EXPECT_EQ(r.id, "sigma.0d933542-1f1f-420d-97d4-21b2c3c492d9");
  EXPECT_EQ(r.name, "Meta {x}");
  EXPECT_EQ(r.description, "Two\nlines.");
  EXPECT_EQ(r.severity, Severity::kInfo);
  EXPECT_THAT(r.attack_ids, ElementsAre("T1609", "T1552.007"));
  EXPECT_THAT(r.tags, ElementsAre("attack.execution", "attack.discovery", "cve.2024-1234",
                                  "sigma.status.experimental"));
  EXPECT_THAT(r.references, ElementsAre("sigma:Meta {x}"));
  EXPECT_EQ(r.output,
            "{user.username} {verb} {objectRef.resource} {objectRef.namespace}/{objectRef.name} "
            "on cluster {cluster} (Sigma: Meta {{x})");
  EXPECT_EQ(r.origin, RuleOrigin::kSigma);
  EXPECT_TRUE(r.enabled);
  EXPECT_EQ(r.source.file, "meta.yml");
  EXPECT_EQ(r.source.line, 1);
  EXPECT_EQ(Dump(r.condition), "verb eq/i [create]");
}

TEST(SigmaLoaderTest, Levels) {
  for (auto [level, sev] :
       std::vector<std::pair<std::string, Severity>>{{"informational", Severity::kInfo},
                                                     {"low", Severity::kLow},
                                                     {"medium", Severity::kMedium},
                                                     {"high", Severity::kHigh},
                                                     {"critical", Severity::kCritical}}) {
    auto set = LoadSigmaRuleFromString(
        "title: L\nid: x\nlogsource: {product: kubernetes, service: audit}\n"
        "detection: {s: {verb: get}, condition: s}\nlevel: " +
            level + "\n",
        "l.yml");
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->rules.at(0).severity, sev) << level;
  }
  EXPECT_THAT(
      LoadSigmaRuleFromString("title: L\nid: x\nlogsource: {product: kubernetes, service: audit}\n"
                              "detection: {s: {verb: get}, condition: s}\nlevel: urgent\n",
                              "l.yml")
          .status()
          .message(),
      HasSubstr("l.yml:5:8: unknown level"));
}

TEST(SigmaLoaderTest, OtherLogsourceIsSkippedAndCounted) {
  auto set = LoadSigmaRuleFromString(R"(title: Windows thing
id: abc
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 4688
  condition: selection
level: high
)",
                                     "win.yml");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_THAT(set->rules, IsEmpty());
  EXPECT_EQ(set->skipped_other_source, 1u);
  ASSERT_EQ(set->warnings.size(), 1u);
  EXPECT_THAT(set->warnings[0], HasSubstr("win.yml:4:3: skipped Sigma rule 'Windows thing'"));
}

TEST(SigmaLoaderTest, DeprecatedRuleLoadsDisabled) {
  auto set = LoadSigmaRuleFromString(
      "title: D\nid: d\nstatus: deprecated\nlogsource: {product: kubernetes, service: audit}\n"
      "detection: {s: {verb: get}, condition: s}\nlevel: low\n",
      "d.yml");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 1u);
  EXPECT_FALSE(set->rules[0].enabled);
  EXPECT_EQ(set->disabled, 1u);
}

TEST(SigmaLoaderTest, PlainValuesAreCaseInsensitiveEquality) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    verb: create\n    objectRef.resource: pods\n"
                 "  condition: sel\n"),
            "(verb eq/i [create] AND objectRef.resource eq/i [pods])");
}

TEST(SigmaLoaderTest, ValueListIsInAndNumbersAreTyped) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    verb: [create, delete]\n  condition: sel\n"),
            "verb in/i [create|delete]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    responseStatus.code:\n      - 401\n      - 403\n"
                 "  condition: sel\n"),
            "responseStatus.code in [401|403]");
  // A quoted number stays text (and case-insensitive), as Sigma wrote it.
  EXPECT_EQ(Cond("detection:\n  sel:\n    responseStatus.code: 'ALLOW'\n  condition: sel\n"),
            "responseStatus.code eq/i [ALLOW]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    responseStatus.code: 200\n  condition: sel\n"),
            "responseStatus.code eq [200]");
}

TEST(SigmaLoaderTest, Wildcards) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    user.username: 'system:serviceaccount:*'\n"
                 "  condition: sel\n"),
            "user.username glob/i [system:serviceaccount:*]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.name: 'kube-proxy-?-?'\n"
                 "  condition: sel\n"),
            "objectRef.name glob/i [kube-proxy-?-?]");
  // Mixed list: literals in one `in`, globs apart, OR of them.
  EXPECT_EQ(Cond("detection:\n  sel:\n    verb: [get, 'li*', watch, 'w?']\n  condition: sel\n"),
            "(verb in/i [get|watch] OR verb glob/i [li*|w?])");
  EXPECT_EQ(Cond("detection:\n  sel:\n    verb|all: ['*a*', '*b*']\n  condition: sel\n"),
            "(verb glob/i [*a*] AND verb glob/i [*b*])");
  // Escaped wildcards are literal characters.
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI: 'a\\*b'\n  condition: sel\n"),
            "requestURI eq/i [a*b]");
  // A literal star next to a wildcard is bracketed in the glob.
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI: 'a\\**'\n  condition: sel\n"),
            "requestURI glob/i [a[*]*]");
}

TEST(SigmaLoaderTest, NullMeansAbsent) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.namespace: null\n  condition: sel\n"),
            "NOT objectRef.namespace exists");
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.namespace:\n  condition: sel\n"),
            "NOT objectRef.namespace exists");
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.namespace: ''\n  condition: sel\n"),
            "objectRef.namespace eq/i []");
}

TEST(SigmaLoaderTest, ContainsStartsWithEndsWith) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|contains: exec\n  condition: sel\n"),
            "requestURI icontains/i [exec]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|contains: [exec, attach]\n"
                 "  condition: sel\n"),
            "requestURI icontains/i [exec|attach]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    userAgent|startswith: [kubectl/, curl/]\n"
                 "  condition: sel\n"),
            "userAgent startswith/i [kubectl/|curl/]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    userAgent|startswith: [kubectl/, 'a*b', curl/, 'c?']\n"
                 "  condition: sel\n"),
            "(userAgent startswith/i [kubectl/|curl/] OR userAgent glob/i [a*b*|c?*])");
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.name|endswith: -admin\n  condition: sel\n"),
            "objectRef.name endswith/i [-admin]");
  // Wildcards inside contains/startswith/endswith become globs.
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|contains: 'a*b'\n  condition: sel\n"),
            "requestURI glob/i [*a*b*]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|startswith: 'a?'\n  condition: sel\n"),
            "requestURI glob/i [a?*]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|endswith: '?b'\n  condition: sel\n"),
            "requestURI glob/i [*?b]");
  // |cased: case-sensitive.
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|contains|cased: Exec\n  condition: sel\n"),
            "requestURI contains [Exec]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    verb|cased: Create\n  condition: sel\n"),
            "verb eq [Create]");
}

TEST(SigmaLoaderTest, AllModifier) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|contains|all: [exec, 'command=sh']\n"
                 "  condition: sel\n"),
            "(requestURI icontains/i [exec] AND requestURI icontains/i [command=sh])");
  EXPECT_EQ(Cond("detection:\n  sel:\n    user.groups|all: [a, b]\n  condition: sel\n"),
            "(user.groups eq/i [a] AND user.groups eq/i [b])");
}

TEST(SigmaLoaderTest, RegexCidrExistsAndNumbers) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    requestURI|re: '^/api/v1/.*/exec'\n  condition: sel\n"),
            "requestURI regex [^/api/v1/.*/exec]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    userAgent|re|i: '^curl'\n  condition: sel\n"),
            "userAgent regex [(?i)^curl]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    userAgent|re: [a, b]\n  condition: sel\n"),
            "userAgent regex [a|b]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    userAgent|re|all: [a, b]\n  condition: sel\n"),
            "(userAgent regex [a] AND userAgent regex [b])");
  EXPECT_EQ(Cond("detection:\n  sel:\n    sourceIPs|cidr: [10.0.0.0/8, 192.168.0.0/16]\n"
                 "  condition: sel\n"),
            "sourceIPs cidr [10.0.0.0/8|192.168.0.0/16]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.subresource|exists: true\n"
                 "  condition: sel\n"),
            "objectRef.subresource exists");
  EXPECT_EQ(Cond("detection:\n  sel:\n    objectRef.subresource|exists: false\n"
                 "  condition: sel\n"),
            "NOT objectRef.subresource exists");
  EXPECT_EQ(Cond("detection:\n  sel:\n    responseStatus.code|gte: 400\n  condition: sel\n"),
            "responseStatus.code ge [400]");
  EXPECT_EQ(Cond("detection:\n  sel:\n    responseStatus.code|lt: 300\n  condition: sel\n"),
            "responseStatus.code lt [300]");
}

TEST(SigmaLoaderTest, AnnotationsAndUnknownFields) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    annotations.authorization.k8s.io/decision: allow\n"
                 "  condition: sel\n"),
            "annotations[\"authorization.k8s.io/decision\"] eq/i [allow]");
  // Unknown top-level fields load as written (the linter reports them).
  EXPECT_EQ(Cond("detection:\n  sel:\n    hostPath: '*'\n    apiGroup: apps\n  condition: sel\n"),
            "(hostPath glob/i [*] AND apiGroup eq/i [apps])");
}

TEST(SigmaLoaderTest, ListOfMapsIsOr) {
  EXPECT_EQ(Cond("detection:\n  sel:\n    - verb: create\n      objectRef.resource: pods\n"
                 "    - verb: delete\n  condition: sel\n"),
            "((verb eq/i [create] AND objectRef.resource eq/i [pods]) OR verb eq/i [delete])");
}

const char* kThree =
    "detection:\n"
    "  selection_a:\n    verb: a\n"
    "  selection_b:\n    verb: b\n"
    "  filter:\n    verb: f\n"
    "  _hidden:\n    verb: h\n";

TEST(SigmaConditionTest, BooleanOperatorsAndPrecedence) {
  std::string d = kThree;
  EXPECT_EQ(Cond(d + "  condition: selection_a and not filter\n"),
            "(verb eq/i [a] AND NOT verb eq/i [f])");
  EXPECT_EQ(Cond(d + "  condition: selection_a or selection_b and filter\n"),
            "(verb eq/i [a] OR (verb eq/i [b] AND verb eq/i [f]))");
  EXPECT_EQ(Cond(d + "  condition: (selection_a or selection_b) and filter\n"),
            "((verb eq/i [a] OR verb eq/i [b]) AND verb eq/i [f])");
  EXPECT_EQ(Cond(d + "  condition: not (selection_a or filter)\n"),
            "NOT (verb eq/i [a] OR verb eq/i [f])");
  EXPECT_EQ(Cond(d + "  condition: not not selection_a\n"), "NOT NOT verb eq/i [a]");
  EXPECT_EQ(Cond(d + "  condition: selection_a AND NOT filter\n"),
            "(verb eq/i [a] AND NOT verb eq/i [f])");
}

TEST(SigmaConditionTest, OfForms) {
  std::string d = kThree;
  EXPECT_EQ(Cond(d + "  condition: 1 of selection_*\n"), "(verb eq/i [a] OR verb eq/i [b])");
  EXPECT_EQ(Cond(d + "  condition: all of selection_*\n"), "(verb eq/i [a] AND verb eq/i [b])");
  EXPECT_EQ(Cond(d + "  condition: 1 of them\n"),
            "(verb eq/i [a] OR verb eq/i [b] OR verb eq/i [f])");
  EXPECT_EQ(Cond(d + "  condition: all of them\n"),
            "(verb eq/i [a] AND verb eq/i [b] AND verb eq/i [f])");
  EXPECT_EQ(Cond(d + "  condition: 1 of selection_* and not 1 of filter*\n"),
            "((verb eq/i [a] OR verb eq/i [b]) AND NOT verb eq/i [f])");
  EXPECT_EQ(Cond(d + "  condition: all of selection_? or _hidden\n"),
            "((verb eq/i [a] AND verb eq/i [b]) OR verb eq/i [h])");
}

TEST(SigmaConditionTest, ListOfConditionsIsOr) {
  EXPECT_EQ(Cond(std::string(kThree) + "  condition:\n    - selection_a\n    - filter\n"),
            "(verb eq/i [a] OR verb eq/i [f])");
}

TEST(SigmaErrorTest, UnknownModifier) {
  EXPECT_EQ(Err("detection:\n  sel:\n    requestURI|base64offset|contains: x\n"
                "  condition: sel\n"),
            "t.yml:11:5: unknown or unsupported Sigma modifier 'base64offset' (supported: "
            "contains, startswith, endswith, re, re|i|m|s, cidr, exists, all, cased, gt, gte, lt, "
            "lte)");
  EXPECT_THAT(Err("detection:\n  sel:\n    requestURI|contains|endswith: x\n  condition: sel\n"),
              HasSubstr("t.yml:11:5: modifier 'endswith' conflicts"));
  EXPECT_THAT(Err("detection:\n  sel:\n    requestURI|exists: maybe\n  condition: sel\n"),
              HasSubstr("t.yml:11:24: 'exists' takes a single true or false"));
  EXPECT_THAT(Err("detection:\n  sel:\n    responseStatus.code|gt: big\n  condition: sel\n"),
              HasSubstr("numeric comparison modifiers need a number"));
}

TEST(SigmaErrorTest, ConditionErrorsPointIntoTheCondition) {
  const std::string d = "detection:\n  sel:\n    verb: get\n";
  EXPECT_EQ(Err(d + "  condition: sel and missing\n"),
            "t.yml:12:22: condition: selection 'missing' is not defined in detection");
  EXPECT_EQ(Err(d + "  condition: 'sel and missing'\n"),
            "t.yml:12:23: condition: selection 'missing' is not defined in detection");
  EXPECT_THAT(Err(d + "  condition: sel | count() by user.username > 5\n"),
              HasSubstr("t.yml:12:18: condition: Sigma aggregations"));
  EXPECT_THAT(Err(d + "  condition: 1 of nothing_*\n"),
              HasSubstr("t.yml:12:19: condition: 'nothing_*' matches no selection"));
  EXPECT_THAT(Err(d + "  condition: 2 of sel\n"),
              HasSubstr("t.yml:12:14: condition: only '1 of' and 'all of'"));
  EXPECT_THAT(Err(d + "  condition: (sel\n"), HasSubstr("t.yml:12:18: condition: expected ')'"));
  EXPECT_THAT(Err(d + "  condition: sel and\n"), HasSubstr("unexpected end of condition"));
  EXPECT_THAT(Err(d + "  condition: sel sel\n"), HasSubstr("t.yml:12:18: condition: unexpected"));
  EXPECT_THAT(Err(d + "  condition: sel_*\n"), HasSubstr("must follow '1 of' or 'all of'"));
  EXPECT_THAT(Err(d + "  condition: sel near sel\n"), HasSubstr("unexpected 'near'"));
  EXPECT_THAT(Err(d), HasSubstr("has no detection.condition"));
}

TEST(SigmaErrorTest, MalformedDetection) {
  EXPECT_THAT(Err("detection:\n  keywords:\n    - evil\n  condition: keywords\n"),
              HasSubstr("t.yml:11:7: keyword (full-text) selections are not supported"));
  EXPECT_THAT(Err("detection:\n  sel: just-text\n  condition: sel\n"),
              HasSubstr("t.yml:10:8: a selection must be a map"));
  EXPECT_THAT(Err("detection:\n  sel:\n    verb: {a: b}\n  condition: sel\n"),
              HasSubstr("t.yml:11:11: the value of field 'verb' must be a scalar"));
  EXPECT_THAT(Err("detection:\n  sel:\n    verb: []\n  condition: sel\n"),
              HasSubstr("empty list of values"));
  EXPECT_THAT(Err("detection:\n  sel:\n    '|contains': x\n  condition: sel\n"),
              HasSubstr("keyword (full-text) searches without a field"));
  EXPECT_THAT(Err("detection:\n  sel:\n    verb: [a, [b]]\n  condition: sel\n"),
              HasSubstr("must be a scalar, not a map or list"));
  EXPECT_THAT(Err("detection:\n  sel:\n    verb|contains: null\n  condition: sel\n"),
              HasSubstr("null is only allowed without modifiers"));
}

TEST(SigmaErrorTest, MalformedRule) {
  EXPECT_THAT(LoadSigmaRuleFromString("title: [unclosed\n", "bad.yml").status().message(),
              HasSubstr("bad.yml:"));
  EXPECT_THAT(LoadSigmaRuleFromString("- a\n- b\n", "bad.yml").status().message(),
              HasSubstr("bad.yml:1:1: a Sigma rule must be a YAML map"));
  EXPECT_THAT(LoadSigmaRuleFromString("id: x\n", "bad.yml").status().message(),
              HasSubstr("needs a 'title'"));
  EXPECT_THAT(LoadSigmaRuleFromString("title: x\n", "bad.yml").status().message(),
              HasSubstr("has no 'logsource' map"));
  EXPECT_THAT(LoadSigmaRuleFromString(
                  "title: x\nlogsource: {product: kubernetes, service: audit}\n", "bad.yml")
                  .status()
                  .message(),
              HasSubstr("has no 'detection' map"));
  EXPECT_THAT(LoadSigmaRuleFromString("action: global\ntitle: x\n", "bad.yml").status().message(),
              HasSubstr("bad.yml:1:9: Sigma rule collections"));
}

TEST(SigmaLoaderTest, MultipleDocumentsAndDuplicateIds) {
  const std::string one =
      "title: A\nid: same\nlogsource: {product: kubernetes, service: audit}\n"
      "detection: {s: {verb: get}, condition: s}\n";
  auto two = LoadSigmaRuleFromString(one + "---\n" + one, "dup.yml");
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(
      two.status().message(),
      HasSubstr("dup.yml:6:1: duplicate rule id 'sigma.same' (first defined at dup.yml:1:1)"));
  std::string other = one;
  other.replace(other.find("same"), 4, "other");
  auto ok = LoadSigmaRuleFromString(one + "---\n" + other, "two.yml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->rules.size(), 2u);
}

TEST(SigmaLoaderTest, MissingIdUsesFileStem) {
  auto set = LoadSigmaRuleFromString(
      "title: A\nlogsource: {product: kubernetes, service: audit}\n"
      "detection: {s: {verb: get}, condition: s}\n",
      "dir/my_rule.yml");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->rules.at(0).id, "sigma.my_rule");
  EXPECT_EQ(set->rules.at(0).severity, Severity::kMedium);
  EXPECT_EQ(set->warnings.size(), 2u);  // no id, no level
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sigma_test_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ + "/" + name) << text;
  }

 private:
  std::string path_;
};

TEST(SigmaLoaderTest, DirectoryLoadsYamlFilesSorted) {
  TempDir dir;
  auto rule = [](const std::string& id) {
    return "title: " + id + "\nid: " + id +
           "\nlogsource: {product: kubernetes, service: audit}\n"
           "detection: {s: {verb: get}, condition: s}\nlevel: low\n";
  };
  dir.Write("b.yaml", rule("b"));
  dir.Write("a.yml", rule("a"));
  dir.Write("c.txt", rule("c"));
  auto set = LoadSigmaRules({dir.path()});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), 2u);
  EXPECT_EQ(set->rules[0].id, "sigma.a");
  EXPECT_EQ(set->rules[1].id, "sigma.b");
  EXPECT_EQ(set->rules[0].source.file, dir.path() + "/a.yml");

  dir.Write("d.yml",
            "title: d\nid: d\nlogsource: {product: kubernetes, service: audit}\n"
            "detection: {s: {verb|nope: get}, condition: s}\n");
  auto bad = LoadSigmaRules({dir.path()});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(dir.path() + "/d.yml:4:17: unknown"));

  auto missing = LoadSigmaRules({dir.path() + "/nope.yml"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
}

// ---- The corpus: ../shared/corpus/sigma ----

std::string CorpusDir() {
  if (const char* env = std::getenv("VIGIL_CORPUS")) return std::string(env) + "/sigma";
  return std::string(VIGIL_SOURCE_DIR) + "/../shared/corpus/sigma";
}

struct Expected {
  std::string file;
  std::string id;
  std::string title;
  Severity severity;
  std::vector<std::string> attack_ids;
};

const std::vector<Expected>& CorpusExpectations() {
  static const std::vector<Expected> kAll = {
      {"kubernetes_audit_change_admission_controller.yml",
       "eed82177-38f5-4299-8a76-098d50d225ab",
       "Kubernetes Admission Controller Modification",
       Severity::kMedium,
       {"T1078", "T1552", "T1552.007"}},
      {"kubernetes_audit_cronjob_modification.yml",
       "0c9b3bda-41a6-4442-9345-356ae86343dc",
       "Kubernetes CronJob/Job Modification",
       Severity::kMedium,
       {}},
      {"kubernetes_audit_deployment_deleted.yml",
       "40967487-139b-4811-81d9-c9767a92aa5a",
       "Deployment Deleted From Kubernetes Cluster",
       Severity::kLow,
       {"T1498"}},
      {"kubernetes_audit_events_deleted.yml",
       "3132570d-cab2-4561-9ea6-1743644b2290",
       "Kubernetes Events Deleted",
       Severity::kMedium,
       {"T1070"}},
      {"kubernetes_audit_exec_into_container.yml",
       "a1b0ca4e-7835-413e-8471-3ff2b8a66be6",
       "Potential Remote Command Execution In Pod Container",
       Severity::kMedium,
       {"T1609"}},
      {"kubernetes_audit_hostpath_mount.yml",
       "402b955c-8fe0-4a8c-b635-622b4ac5f902",
       "Container With A hostPath Mount Created",
       Severity::kLow,
       {"T1611"}},
      {"kubernetes_audit_pod_in_system_namespace.yml",
       "a80d927d-ac6e-443f-a867-e8d6e3897318",
       "Creation Of Pod In System Namespace",
       Severity::kMedium,
       {"T1036.005"}},
      {"kubernetes_audit_potential_enumeration_activity.yml",
       "597a7e84-187d-458b-9e4f-2f5a0e676711",
       "Kubernetes Potential Enumeration Activity",
       Severity::kMedium,
       {"T1609", "T1613"}},
      {"kubernetes_audit_privileged_pod_creation.yml",
       "c5cd1b20-36bb-488d-8c05-486be3d0cb97",
       "Privileged Container Deployed",
       Severity::kLow,
       {"T1611"}},
      {"kubernetes_audit_rbac_permisions_listing.yml",
       "84b777bd-c946-4d17-aa2e-c39f5a454325",
       "RBAC Permission Enumeration Attempt",
       Severity::kLow,
       {"T1069.003", "T1087.004"}},
      {"kubernetes_audit_rolebinding_modification.yml",
       "10b97915-ec8d-455f-a815-9a78926585f6",
       "Kubernetes Rolebinding Modification",
       Severity::kMedium,
       {}},
      {"kubernetes_audit_secrets_enumeration.yml",
       "eeb3e9e1-b685-44e4-9232-6bb701f925b5",
       "Kubernetes Secrets Enumeration",
       Severity::kLow,
       {"T1552.007"}},
      {"kubernetes_audit_secrets_modified_or_deleted.yml",
       "58d31a75-a4f8-4c40-985b-373d58162ca2",
       "Kubernetes Secrets Modified or Deleted",
       Severity::kMedium,
       {}},
      {"kubernetes_audit_serviceaccount_creation.yml",
       "e31bae15-83ed-473e-bf31-faf4f8a17d36",
       "New Kubernetes Service Account Created",
       Severity::kLow,
       {"T1136"}},
      {"kubernetes_audit_sidecar_injection.yml",
       "ad9012a6-e518-4432-9890-f3b82b8fc71f",
       "Potential Sidecar Injection Into Running Deployment",
       Severity::kMedium,
       {"T1609"}},
      {"kubernetes_audit_unauthorized_unauthenticated_actions.yml",
       "0d933542-1f1f-420d-97d4-21b2c3c492d9",
       "Kubernetes Unauthorized or Unauthenticated Access",
       Severity::kLow,
       {}},
  };
  return kAll;
}

#define SKIP_WITHOUT_CORPUS()                                      \
  if (!std::filesystem::is_directory(CorpusDir())) {               \
    GTEST_SKIP() << "Sigma corpus not found at " << CorpusDir()    \
                 << " (set VIGIL_CORPUS to the corpus directory)"; \
  }

TEST(SigmaCorpusTest, EachFileGivesOneRule) {
  SKIP_WITHOUT_CORPUS();
  for (const Expected& x : CorpusExpectations()) {
    SCOPED_TRACE(x.file);
    auto set = LoadSigmaRules({CorpusDir() + "/" + x.file});
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    ASSERT_EQ(set->rules.size(), 1u);
    const Rule& r = set->rules[0];
    EXPECT_EQ(r.id, "sigma." + x.id);
    EXPECT_EQ(r.name, x.title);
    EXPECT_EQ(r.severity, x.severity);
    EXPECT_EQ(r.attack_ids, x.attack_ids);
    EXPECT_EQ(r.origin, RuleOrigin::kSigma);
    EXPECT_THAT(r.references, ElementsAre("sigma:" + x.title));
    EXPECT_EQ(set->skipped_other_source, 0u);
  }
}

TEST(SigmaCorpusTest, WholeDirectoryLoads) {
  SKIP_WITHOUT_CORPUS();
  auto set = LoadSigmaRules({CorpusDir()});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->rules.size(), CorpusExpectations().size());
  for (size_t i = 0; i < set->rules.size(); ++i) {
    EXPECT_EQ(set->rules[i].id, "sigma." + CorpusExpectations()[i].id);  // sorted by file name
  }
  EXPECT_THAT(set->warnings, IsEmpty());
}

std::string CorpusCondition(const std::string& file) {
  auto set = LoadSigmaRules({CorpusDir() + "/" + file});
  if (!set.ok()) return "ERROR " + set.status().ToString();
  return Dump(set->rules.at(0).condition);
}

TEST(SigmaCorpusTest, IntermediateRepresentation) {
  SKIP_WITHOUT_CORPUS();
  EXPECT_EQ(CorpusCondition("kubernetes_audit_potential_enumeration_activity.yml"),
            "(responseStatus.code eq/i [ALLOW] AND "
            "(requestURI icontains/i [%2fbin%2fash|%2fbin%2fbash|%2fbin%2fbusybox|%2fbin%2fdash|"
            "%2fbin%2fsh|%2fbin%2fzsh|/bin/ash|/bin/bash|/bin/busybox|/bin/dash|/bin/sh|/bin/zsh|"
            "%2fusr%2fbin%2fcurl|%2fusr%2fbin%2fkubectl|%2fusr%2fbin%2fperl|%2fusr%2fbin%2fpython|"
            "%2fusr%2fbin%2fwget|/usr/bin/curl|/usr/bin/kubectl|/usr/bin/perl|/usr/bin/python|"
            "/usr/bin/wget] OR "
            "userAgent icontains/i [access_matrix|trufflehog|azurehound|micro-scanner]))");
  EXPECT_EQ(CorpusCondition("kubernetes_audit_change_admission_controller.yml"),
            "(objectRef.apiGroup eq/i [admissionregistration.k8s.io] AND "
            "objectRef.resource in/i [mutatingwebhookconfigurations|"
            "validatingwebhookconfigurations] AND "
            "verb in/i [create|delete|patch|replace|update])");
  EXPECT_EQ(CorpusCondition("kubernetes_audit_exec_into_container.yml"),
            "(verb eq/i [create] AND objectRef.resource eq/i [pods] AND "
            "objectRef.subresource eq/i [exec])");
  EXPECT_EQ(CorpusCondition("kubernetes_audit_unauthorized_unauthenticated_actions.yml"),
            "responseStatus.code in [401|403]");
  EXPECT_EQ(CorpusCondition("kubernetes_audit_hostpath_mount.yml"),
            "(verb eq/i [create] AND objectRef.resource eq/i [pods] AND hostPath glob/i [*])");
  EXPECT_EQ(CorpusCondition("kubernetes_audit_sidecar_injection.yml"),
            "(verb eq/i [patch] AND apiGroup eq/i [apps] AND "
            "objectRef.resource eq/i [deployments])");
}

}  // namespace
}  // namespace vigil::detect

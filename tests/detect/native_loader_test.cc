// Tests of the native rule format loader: every key, macros and lists, and precise errors.
#include "vigil/detect/native_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace vigil::detect {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The error message of loading `yaml` as "t.yaml" (empty when it loads).
std::string LoadError(std::string_view yaml) {
  Result<RuleSet> r = LoadNativeRulesFromString(yaml, "t.yaml");
  return r.ok() ? std::string() : r.status().message();
}

constexpr std::string_view kFullRule = R"(# a full rule
- list: shells
  items: [sh, bash]
- macro: is_exec
  condition: objectRef.subresource = exec
- rule: k8s.exec_shell
  name: Exec with a shell
  description: Someone ran a shell in a pod.
  severity: high
  attack: [T1609, T1059.004]
  tags: [exec, k8s]
  enabled: true
  references: ["falco:Attach/Exec Pod", "panther:Kubernetes.Pod.Exec"]
  condition: >
    is_exec and verb in (create, get)
    and requestURI.query["command"][*] in (shells, zsh)
  exceptions:
    - name: ci
      condition: user.username = "system:serviceaccount:ci:runner"
  output: "{user.username} ran {requestURI.query[\"command\"][*]} in {objectRef.namespace}/{objectRef.name} on {cluster}"
  tests:
    - name: yaml event
      match: true
      event:
        verb: create
        stage: ResponseStarted
        objectRef: {resource: pods, subresource: exec, name: "web-0"}
        responseStatus: {code: 101}
        annotations: {"authorization.k8s.io/decision": allow}
        user: {username: alice, groups: ["system:authenticated"]}
        requestObject: {port: "8080", replicas: 3, ratio: 0.5, flag: false, none: null, t: ~, e: 1e3}
    - name: json event
      match: false
      event: '{"verb":"get","objectRef":{"resource":"pods"}}'
)";

TEST(NativeLoaderTest, FullRuleWithEveryKey) {
  Result<RuleSet> r = LoadNativeRulesFromString(kFullRule, "full.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rules.size(), 1u);
  const Rule& rule = r->rules[0];
  EXPECT_EQ(rule.id, "k8s.exec_shell");
  EXPECT_EQ(rule.name, "Exec with a shell");
  EXPECT_EQ(rule.description, "Someone ran a shell in a pod.");
  EXPECT_EQ(rule.severity, Severity::kHigh);
  EXPECT_EQ(rule.attack_ids, (std::vector<std::string>{"T1609", "T1059.004"}));
  EXPECT_EQ(rule.tags, (std::vector<std::string>{"exec", "k8s"}));
  EXPECT_TRUE(rule.enabled);
  EXPECT_EQ(rule.references,
            (std::vector<std::string>{"falco:Attach/Exec Pod", "panther:Kubernetes.Pod.Exec"}));
  EXPECT_EQ(rule.origin, RuleOrigin::kNative);
  EXPECT_EQ(rule.source.file, "full.yaml");
  EXPECT_EQ(rule.source.line, 6);
  EXPECT_EQ(rule.source.column, 3);
  EXPECT_THAT(rule.output, StartsWith("{user.username} ran {requestURI.query"));

  // condition: (and <macro: subresource = exec> verb in (create, get) command in (sh,bash,zsh))
  ASSERT_TRUE(rule.condition);
  ASSERT_EQ(rule.condition->kind, Expr::Kind::kAnd);
  ASSERT_EQ(rule.condition->children.size(), 3u);
  const Predicate& macro = rule.condition->children[0]->predicate;
  EXPECT_EQ(macro.field.path, "objectRef.subresource");
  EXPECT_EQ(macro.op, Op::kEq);
  const Predicate& verb = rule.condition->children[1]->predicate;
  EXPECT_EQ(verb.op, Op::kIn);
  ASSERT_EQ(verb.values.size(), 2u);
  EXPECT_EQ(verb.values[1].text, "get");
  const Predicate& cmd = rule.condition->children[2]->predicate;
  EXPECT_EQ(cmd.op, Op::kIn);
  ASSERT_EQ(cmd.values.size(), 3u);
  EXPECT_EQ(cmd.values[0].text, "sh");
  EXPECT_EQ(cmd.values[1].text, "bash");
  EXPECT_EQ(cmd.values[2].text, "zsh");

  ASSERT_EQ(rule.exceptions.size(), 1u);
  EXPECT_EQ(rule.exceptions[0]->predicate.values[0].text, "system:serviceaccount:ci:runner");

  ASSERT_EQ(rule.tests.size(), 2u);
  EXPECT_EQ(rule.tests[0].name, "yaml event");
  EXPECT_TRUE(rule.tests[0].expect_match);
  EXPECT_EQ(rule.tests[0].source.line, 22);
  EXPECT_EQ(rule.tests[1].name, "json event");
  EXPECT_FALSE(rule.tests[1].expect_match);
  EXPECT_EQ(rule.tests[1].event_json, R"({"verb":"get","objectRef":{"resource":"pods"}})");

  // The YAML event became JSON with its types kept.
  const std::string& json = rule.tests[0].event_json;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(padded).get(root), simdjson::SUCCESS) << json;
  int64_t code = 0;
  EXPECT_EQ(root["responseStatus"]["code"].get_int64().get(code), simdjson::SUCCESS);
  EXPECT_EQ(code, 101);
  std::string_view s;
  EXPECT_EQ(root["objectRef"]["name"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "web-0");
  EXPECT_EQ(root["annotations"]["authorization.k8s.io/decision"].get_string().get(s),
            simdjson::SUCCESS);
  EXPECT_EQ(s, "allow");
  EXPECT_EQ(root["requestObject"]["port"].get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "8080");
  EXPECT_TRUE(root["requestObject"]["replicas"].is_int64());
  EXPECT_TRUE(root["requestObject"]["ratio"].is_double());
  EXPECT_TRUE(root["requestObject"]["flag"].is_bool());
  EXPECT_TRUE(root["requestObject"]["none"].is_null());
  EXPECT_TRUE(root["requestObject"]["t"].is_null());
  EXPECT_TRUE(root["requestObject"]["e"].is_number());
  EXPECT_EQ(root["user"]["groups"].at(0).get_string().get(s), simdjson::SUCCESS);
  EXPECT_EQ(s, "system:authenticated");
}

TEST(NativeLoaderTest, Defaults) {
  Result<RuleSet> r = LoadNativeRulesFromString(R"(
- rule: a
  condition: verb = get
- rule: b
  enabled: false
  condition: verb = list
)",
                                                "d.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rules.size(), 2u);
  EXPECT_EQ(r->rules[0].name, "a");
  EXPECT_EQ(r->rules[0].severity, Severity::kMedium);
  EXPECT_TRUE(r->rules[0].enabled);
  EXPECT_FALSE(r->rules[1].enabled);
  EXPECT_EQ(r->disabled, 1u);
}

TEST(NativeLoaderTest, EmptyFileHasNoRules) {
  Result<RuleSet> r = LoadNativeRulesFromString("# nothing\n", "e.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->rules.empty());
}

TEST(NativeLoaderTest, NestedListsAndMacros) {
  Result<RuleSet> r = LoadNativeRulesFromString(R"(
- list: a
  items: [x, y]
- list: b
  items: [a, z]
- macro: m1
  condition: verb in (b)
- macro: m2
  condition: m1 and not objectRef.resource = secrets
- rule: r
  condition: m2 or (m1)
)",
                                                "m.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ExprPtr& c = r->rules[0].condition;
  ASSERT_EQ(c->kind, Expr::Kind::kOr);
  const ExprPtr& m2 = c->children[0];
  ASSERT_EQ(m2->kind, Expr::Kind::kAnd);
  const Predicate& in = m2->children[0]->predicate;
  ASSERT_EQ(in.values.size(), 3u);
  EXPECT_EQ(in.values[0].text, "x");
  EXPECT_EQ(in.values[1].text, "y");
  EXPECT_EQ(in.values[2].text, "z");
}

TEST(NativeLoaderTest, ErrorsCarryFileLineColumn) {
  // Unknown key.
  EXPECT_THAT(LoadError("- rule: a\n  condition: verb = get\n  sevrity: high\n"),
              StartsWith("t.yaml:3:3: unknown key 'sevrity' in a rule"));
  // Bad severity, attack id, enabled, reference.
  EXPECT_EQ(LoadError("- rule: a\n  severity: urgent\n  condition: verb = get\n"),
            "t.yaml:2:13: bad severity 'urgent' (info, low, medium, high or critical)");
  EXPECT_EQ(LoadError("- rule: a\n  attack: [T1609, T16]\n  condition: verb = get\n"),
            "t.yaml:2:19: bad ATT&CK id 'T16' (T1234 or T1234.001)");
  EXPECT_EQ(LoadError("- rule: a\n  enabled: yes please\n  condition: verb = get\n"),
            "t.yaml:2:12: 'enabled' must be true or false");
  EXPECT_THAT(LoadError("- rule: a\n  references: [Attach]\n  condition: verb = get\n"),
              StartsWith("t.yaml:2:16: bad reference 'Attach'"));
  EXPECT_EQ(LoadError("- rule: a\n  tags: tag\n  condition: verb = get\n"),
            "t.yaml:2:9: 'tags' must be a list of strings");
  // Missing condition.
  EXPECT_EQ(LoadError("- rule: a\n  name: A\n"), "t.yaml:1:3: rule 'a' has no 'condition'");
  // Not an item.
  EXPECT_EQ(LoadError("- name: a\n"),
            "t.yaml:1:3: expected a mapping with 'rule', 'macro' or 'list'");
  EXPECT_EQ(LoadError("rule: a\n"),
            "t.yaml:1:1: expected a sequence of rule, macro and list items");
  EXPECT_THAT(LoadError("- rule: a\n  macro: b\n  condition: verb = get\n"),
              StartsWith("t.yaml:2:3: an item has one of"));
  // Bad rule id, duplicate key.
  EXPECT_THAT(LoadError("- rule: a b\n  condition: verb = get\n"),
              StartsWith("t.yaml:1:9: bad rule id 'a b'"));
  EXPECT_EQ(LoadError("- rule: a\n  condition: verb = get\n  condition: verb = list\n"),
            "t.yaml:3:3: duplicate key 'condition'");
}

TEST(NativeLoaderTest, ConditionErrorsPointInsideTheCondition) {
  // Plain scalar: the unknown field 'bogus' is at column 29 of line 2.
  EXPECT_EQ(LoadError("- rule: a\n  condition: verb = get and bogus = 1\n"),
            "t.yaml:2:29: unknown field 'bogus'");
  // Quoted scalar.
  EXPECT_EQ(LoadError("- rule: a\n  condition: \"verb = get and (\"\n"),
            "t.yaml:2:31: unexpected end of condition");
  // Folded block scalar: the error is on the third line of the block.
  EXPECT_EQ(LoadError("- rule: a\n  condition: >\n    verb = get\n    and\n      nomacro\n"),
            "t.yaml:5:7: unknown macro or field 'nomacro'");
  // Literal block scalar.
  EXPECT_EQ(LoadError("- rule: a\n  condition: |\n    verb = get and\n    verb in (a b)\n"),
            "t.yaml:4:16: expected ',' or ')' in the value list, found 'b)'");
  // Multi-line plain scalar.
  EXPECT_EQ(LoadError("- rule: a\n  condition:\n    verb = get and\n    (verb = list\n"),
            "t.yaml:4:17: expected ')' after expression, to close '(' at column 16");
  // Macro conditions, exceptions.
  EXPECT_EQ(LoadError("- macro: m\n  condition: verb ==\n"),
            "t.yaml:2:21: expected a value after '=='");
  EXPECT_EQ(LoadError("- rule: a\n  condition: verb = get\n  exceptions:\n"
                      "    - name: x\n      condition: nope\n"),
            "t.yaml:5:18: unknown macro or field 'nope'");
  // A macro used before it is defined.
  EXPECT_EQ(LoadError("- rule: a\n  condition: later\n- macro: later\n  condition: verb = get\n"),
            "t.yaml:2:14: unknown macro or field 'later'");
  // A syntactically broken field path.
  EXPECT_THAT(LoadError("- rule: a\n  condition: requestObject..x = 1\n"),
              StartsWith("t.yaml:2:14: "));
}

TEST(NativeLoaderTest, OutputPlaceholdersAreChecked) {
  EXPECT_EQ(
      LoadError("- rule: a\n  condition: verb = get\n  output: \"by {user.username} {nope}\"\n"),
      "t.yaml:3:32: unknown field 'nope' in output");
  EXPECT_EQ(LoadError("- rule: a\n  condition: verb = get\n  output: \"{{literal} {verb}\"\n"), "");
  EXPECT_EQ(LoadError("- rule: a\n  condition: verb = get\n  output: by {user.username\n"),
            "t.yaml:3:14: unterminated '{' in output");
}

TEST(NativeLoaderTest, MacroAndListErrors) {
  EXPECT_EQ(LoadError("- macro: and\n  condition: verb = get\n"),
            "t.yaml:1:10: bad macro name 'and' (letters, digits and '_', not a keyword)");
  EXPECT_EQ(LoadError("- list: l\n  items: [a]\n- macro: l\n  condition: verb = get\n"),
            "t.yaml:3:10: 'l' is already defined at t.yaml:1:9");
  EXPECT_EQ(LoadError("- list: l\n  items: [[a]]\n"),
            "t.yaml:2:11: 'items' must be a list of strings");
  EXPECT_EQ(LoadError("- list: l\n"), "t.yaml:1:3: list 'l' has no 'items'");
  EXPECT_THAT(LoadError("- list: l\n  items: []\n  foo: 1\n"),
              StartsWith("t.yaml:3:3: unknown key 'foo' in a list"));
}

TEST(NativeLoaderTest, TestCaseErrors) {
  const std::string head = "- rule: a\n  condition: verb = get\n  tests:\n";
  EXPECT_EQ(LoadError(head + "    - name: t\n      match: true\n      event: '{\"verb\":'\n"),
            "t.yaml:6:14: 'event' is not valid JSON: The JSON document has an improper structure: "
            "missing or superfluous commas, braces, missing keys, etc.");
  EXPECT_EQ(LoadError(head + "    - name: t\n      match: true\n      event: '[1]'\n"),
            "t.yaml:6:14: 'event' must be a JSON object");
  EXPECT_EQ(LoadError(head + "    - name: t\n      match: maybe\n      event: {}\n"),
            "t.yaml:5:14: 'match' must be true or false");
  EXPECT_EQ(LoadError(head + "    - name: t\n      event: {}\n"),
            "t.yaml:4:7: test 't' has no 'match'");
  EXPECT_EQ(LoadError(head + "    - name: t\n      match: true\n      event: {verb: get}\n"
                             "      expect: 1\n"),
            "t.yaml:7:7: unknown key 'expect' in a test (known: event, match, name)");
  EXPECT_EQ(LoadError(head + "    - name: t\n      match: true\n      event: {a: 1, a: 2}\n"),
            "t.yaml:6:21: duplicate key 'a'");
}

TEST(NativeLoaderTest, YamlSyntaxError) {
  EXPECT_THAT(LoadError("- rule: a\n  tags: [a, b\n  condition: verb = get\n"),
              StartsWith("t.yaml:3:"));
  EXPECT_THAT(LoadError("- rule: a\n  tags: [a, b\n  condition: verb = get\n"),
              HasSubstr("YAML syntax error"));
  EXPECT_THAT(LoadError("- {rule: a, condition: x\n"), HasSubstr("YAML syntax error"));
}

TEST(NativeLoaderTest, DuplicateRuleIdsNameBothLocations) {
  EXPECT_EQ(LoadError("- rule: a\n  condition: verb = get\n- rule: a\n  condition: verb = list\n"),
            "t.yaml:3:9: duplicate rule id 'a' (first defined at t.yaml:1:9)");
}

class NativeLoaderFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("vigil_native_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, std::string_view text) {
    std::filesystem::path p = dir_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(NativeLoaderFilesTest, MacrosAndListsCrossFilesInOrder) {
  std::string a = Write("a.yaml",
                        "- list: verbs\n  items: [get, list]\n"
                        "- macro: reads\n  condition: verb in (verbs)\n");
  std::string b =
      Write("b.yaml", "- rule: r1\n  condition: reads and objectRef.resource = secrets\n");
  Result<RuleSet> r = LoadNativeRules({a, b});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rules.size(), 1u);
  EXPECT_EQ(r->rules[0].source.file, b);

  // In the other order the macro is not yet defined.
  r = LoadNativeRules({b, a});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), b + ":2:14: unknown macro or field 'reads'");
}

TEST_F(NativeLoaderFilesTest, DirectoryLoadsYamlFilesSorted) {
  Write("rules/20_rules.yml", "- rule: r\n  condition: common\n");
  Write("rules/10_common.yaml", "- macro: common\n  condition: verb = get\n");
  Write("rules/notes.txt", "not yaml: [");
  Result<RuleSet> r = LoadNativeRules({(dir_ / "rules").string()});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rules.size(), 1u);
  EXPECT_EQ(r->rules[0].id, "r");
}

TEST_F(NativeLoaderFilesTest, DuplicateIdsAcrossFiles) {
  std::string a = Write("a.yaml", "- rule: same\n  condition: verb = get\n");
  std::string b = Write("b.yaml", "\n- rule: same\n  condition: verb = list\n");
  Result<RuleSet> r = LoadNativeRules({a, b});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            b + ":2:9: duplicate rule id 'same' (first defined at " + a + ":1:9)");
}

TEST_F(NativeLoaderFilesTest, BadFileRejectsTheWholeLoad) {
  std::string good = Write("good.yaml", "- rule: g\n  condition: verb = get\n");
  std::string bad = Write("bad.yaml", "- rule: b\n  condition: verb = get and\n");
  Result<RuleSet> r = LoadNativeRules({good, bad});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), StartsWith(bad + ":2:"));
}

TEST_F(NativeLoaderFilesTest, MissingPathIsAnIoError) {
  Result<RuleSet> r = LoadNativeRules({(dir_ / "absent.yaml").string()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_THAT(r.status().message(), HasSubstr("absent.yaml"));
}

TEST(NativeLoaderTest, EmbeddedFilesLoadTogether) {
  const EmbeddedFile files[] = {
      {"00.yaml", "- macro: m\n  condition: verb = get\n"},
      {"10.yaml", "- rule: r\n  condition: m\n"},
  };
  Result<RuleSet> r = LoadNativeRulesFromFiles(files);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rules.size(), 1u);
  EXPECT_EQ(r->rules[0].source.file, "10.yaml");
}

TEST(NativeLoaderTest, HostileInputDoesNotCrash) {
  std::string deep = "- rule: a\n  condition: " + std::string(5000, '(') + "verb = get\n";
  EXPECT_THAT(LoadError(deep), HasSubstr("nested too deeply"));
  std::string event =
      "- rule: a\n  condition: verb = get\n  tests:\n    - name: t\n"
      "      match: true\n      event: " +
      std::string(100, '[') + std::string(100, ']') + "\n";
  EXPECT_THAT(LoadError(event), HasSubstr("'event' must be a mapping"));
  std::string deep_map =
      "- rule: a\n  condition: verb = get\n  tests:\n    - name: t\n"
      "      match: true\n      event: ";
  for (int i = 0; i < 100; ++i) deep_map += "{a: ";
  deep_map += "1" + std::string(100, '}') + "\n";
  EXPECT_THAT(LoadError(deep_map), HasSubstr("nested too deeply"));
}

}  // namespace
}  // namespace vigil::detect

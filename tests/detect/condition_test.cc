// Tests of the condition language parser: precedence, operators, values, lists, macros, errors.
#include "vigil/detect/condition.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace vigil::detect {
namespace {

// A compact S-expression of an Expr: (and a b), (not x), [all f = v1|v2].
std::string Show(const ExprPtr& e) {
  switch (e->kind) {
    case Expr::Kind::kTrue:
      return "true";
    case Expr::Kind::kFalse:
      return "false";
    case Expr::Kind::kNot:
      return "(not " + Show(e->children[0]) + ")";
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      std::string s = e->kind == Expr::Kind::kAnd ? "(and" : "(or";
      for (const ExprPtr& c : e->children) s += " " + Show(c);
      return s + ")";
    }
    case Expr::Kind::kPredicate: {
      const Predicate& p = e->predicate;
      std::string s = "[";
      if (p.quantifier == Quantifier::kAll) s += "all ";
      s += p.field.path + " " + std::string(OpName(p.op));
      for (size_t i = 0; i < p.values.size(); ++i) s += (i == 0 ? " " : "|") + p.values[i].text;
      return s + "]";
    }
  }
  return "?";
}

class ConditionTest : public ::testing::Test {
 protected:
  ConditionTest() {
    context_.resolve_field = [this](std::string_view token) -> Result<ResolvedField> {
      if (token.substr(0, 3) == "bad") {
        return Status::InvalidArgument("unknown field '" + std::string(token) + "'");
      }
      ResolvedField r;
      r.field.path = std::string(token);
      if (token == "multi") r.in_quantifier = Quantifier::kAll;
      return r;
    };
    context_.resolve_macro = [this](std::string_view name) -> ExprPtr {
      auto it = macros_.find(std::string(name));
      return it == macros_.end() ? nullptr : it->second;
    };
    context_.resolve_list = [this](std::string_view name) -> const std::vector<std::string>* {
      auto it = lists_.find(std::string(name));
      return it == lists_.end() ? nullptr : &it->second;
    };
  }

  std::string P(std::string_view text) {
    Result<ExprPtr> r = ParseCondition(text, context_);
    if (!r.ok()) return "ERROR " + r.status().message();
    return Show(*r);
  }

  ConditionContext context_;
  std::map<std::string, ExprPtr> macros_;
  std::map<std::string, std::vector<std::string>> lists_;
};

TEST_F(ConditionTest, Precedence) {
  EXPECT_EQ(P("a=1 or b=2 and c=3"), "(or [a = 1] (and [b = 2] [c = 3]))");
  EXPECT_EQ(P("not a=1 and b=2"), "(and (not [a = 1]) [b = 2])");
  EXPECT_EQ(P("not not a=1"), "(not (not [a = 1]))");
  EXPECT_EQ(P("a=1 and b=2 and c=3 or d=4"), "(or (and [a = 1] [b = 2] [c = 3]) [d = 4])");
}

TEST_F(ConditionTest, Parentheses) {
  EXPECT_EQ(P("(a=1 or b=2) and c=3"), "(and (or [a = 1] [b = 2]) [c = 3])");
  EXPECT_EQ(P("not (a=1 or b=2)"), "(not (or [a = 1] [b = 2]))");
  EXPECT_EQ(P("not(a=1)and(b=2)"), "(and (not [a = 1]) [b = 2])");
  EXPECT_EQ(P("((((a = 1))))"), "[a = 1]");
}

TEST_F(ConditionTest, EveryOperator) {
  EXPECT_EQ(P("f = x"), "[f = x]");
  EXPECT_EQ(P("f == x"), "[f = x]");
  EXPECT_EQ(P("f != x"), "[f != x]");
  EXPECT_EQ(P("f < 1"), "[f < 1]");
  EXPECT_EQ(P("f <= 1"), "[f <= 1]");
  EXPECT_EQ(P("f > 1"), "[f > 1]");
  EXPECT_EQ(P("f >= 1"), "[f >= 1]");
  EXPECT_EQ(P("f in (a, b)"), "[f in a|b]");
  EXPECT_EQ(P("f intersects (a, b)"), "[f in a|b]");
  EXPECT_EQ(P("f contains x"), "[f contains x]");
  EXPECT_EQ(P("f icontains x"), "[f icontains x]");
  EXPECT_EQ(P("f startswith x"), "[f startswith x]");
  EXPECT_EQ(P("f endswith x"), "[f endswith x]");
  EXPECT_EQ(P("f glob 'a*'"), "[f glob a*]");
  EXPECT_EQ(P("f regex \"^a\\.b$\""), "[f regex ^a\\.b$]");
  EXPECT_EQ(P("f cidr (10.0.0.0/8, 192.168.0.0/16)"), "[f cidr 10.0.0.0/8|192.168.0.0/16]");
  EXPECT_EQ(P("f is_private_ip"), "[f is_private_ip]");
  EXPECT_EQ(P("f is_public_ip and g exists"), "(and [f is_public_ip] [g exists])");
  // Falco's path match: equal to a path or below it (/etc matches /etc/passwd, not /etcd).
  EXPECT_EQ(P("f pmatch (/etc, /proc/)"), "(or [f in /etc|/proc] [f startswith /etc/|/proc/])");
}

TEST_F(ConditionTest, OperatorWordsAreCaseSensitive) {
  EXPECT_EQ(P("f IN (a)"), "ERROR column 3: expected an operator after 'f', found 'IN'");
  EXPECT_EQ(P("a=1 AND b=2"),
            "ERROR column 5: expected 'and', 'or' or the end of the condition, "
            "found 'AND'");
}

TEST_F(ConditionTest, Quantifiers) {
  EXPECT_EQ(P("all f = x"), "[all f = x]");
  EXPECT_EQ(P("any f = x"), "[f = x]");
  EXPECT_EQ(P("multi in (a)"), "[all multi in a]");
  EXPECT_EQ(P("any multi in (a)"), "[multi in a]");
  EXPECT_EQ(P("multi intersects (a)"), "[multi in a]");
  EXPECT_EQ(P("multi = a"), "[multi = a]");
  // A macro named `all` still works.
  macros_["all"] = Expr::True();
  EXPECT_EQ(P("all and f = 1"), "(and true [f = 1])");
}

TEST_F(ConditionTest, FalcoTokens) {
  EXPECT_EQ(P("ka.user.name=system:anonymous"), "[ka.user.name = system:anonymous]");
  EXPECT_EQ(P("jevt.value[/stage]=ResponseStarted"), "[jevt.value[/stage] = ResponseStarted]");
  EXPECT_EQ(P("(jevt.rawtime=0)"), "[jevt.rawtime = 0]");
  EXPECT_EQ(P("ka.uri.param[command]=ls"), "[ka.uri.param[command] = ls]");
  EXPECT_EQ(P("jevt.value[/requestObject/spec/tls] exists"),
            "[jevt.value[/requestObject/spec/tls] exists]");
  EXPECT_EQ(P("ka.target.namespace!=kube-system"), "[ka.target.namespace != kube-system]");
  EXPECT_EQ(P("ka.uri startswith /healthz?"), "[ka.uri startswith /healthz?]");
  EXPECT_EQ(P("ka.req.role.rules.resources intersects (\"*\")"),
            "[ka.req.role.rules.resources in *]");
  EXPECT_EQ(P("ka.verb in (create,update,patch)"), "[ka.verb in create|update|patch]");
  EXPECT_EQ(P("f = a@b.c"), "[f = a@b.c]");
  EXPECT_EQ(P("f=a=b"), "[f = a=b]");
  EXPECT_EQ(P("evt.dir = <"), "[evt.dir = <]");
}

TEST_F(ConditionTest, CanonicalTokens) {
  EXPECT_EQ(P("annotations[\"authorization.k8s.io/decision\"] = allow"),
            "[annotations[\"authorization.k8s.io/decision\"] = allow]");
  EXPECT_EQ(P("requestObject.spec.containers[*].image|repository in (nginx)"),
            "[requestObject.spec.containers[*].image|repository in nginx]");
  EXPECT_EQ(P("user.extra[\"a.b/c\"][*] = x"), "[user.extra[\"a.b/c\"][*] = x]");
  EXPECT_EQ(P("f[\"a]b\"]=1"), "[f[\"a]b\"] = 1]");
}

TEST_F(ConditionTest, FoldedWhitespace) {
  EXPECT_EQ(P("\n  (a = 1 or\n   b = 2)\n  and c = 3\n"), "(and (or [a = 1] [b = 2]) [c = 3])");
  EXPECT_EQ(P("a\t=\t1"), "[a = 1]");
}

TEST_F(ConditionTest, QuotedValues) {
  EXPECT_EQ(P("f = \"a b\""), "[f = a b]");
  EXPECT_EQ(P("f = 'it''s'"),
            "ERROR column 9: expected 'and', 'or' or the end of the condition, "
            "found ''s''");
  EXPECT_EQ(P("f = \"say \\\"hi\\\"\""), "[f = say \"hi\"]");
  EXPECT_EQ(P("f = 'a\\'b'"), "[f = a'b]");
  EXPECT_EQ(P("f = \"a\\\\b\""), "[f = a\\b]");
  EXPECT_EQ(P("f = \"\""), "[f = ]");
  EXPECT_EQ(P("f in (\"a, b\", 'c)')"), "[f in a, b|c)]");
  EXPECT_EQ(P("f = \"unterminated"), "ERROR column 5: unterminated string");
}

TEST_F(ConditionTest, ListsExpand) {
  lists_["stages"] = {"ResponseComplete"};
  lists_["outer"] = {"x", "stages", "y"};
  lists_["empty"] = {};
  EXPECT_EQ(P("f in (stages)"), "[f in ResponseComplete]");
  EXPECT_EQ(P("f in (a, outer, b)"), "[f in a|x|ResponseComplete|y|b]");
  EXPECT_EQ(P("f in (empty)"), "[f in]");
  EXPECT_EQ(P("f in ()"), "[f in]");
  // A quoted list name is a literal.
  EXPECT_EQ(P("f in (\"stages\")"), "[f in stages]");
  // Cycles terminate.
  lists_["c1"] = {"c2"};
  lists_["c2"] = {"c1", "z"};
  std::string cyc = P("f in (c1)");
  EXPECT_EQ(cyc.substr(0, 6), "[f in ");
  EXPECT_NE(cyc.find('z'), std::string::npos);
}

TEST_F(ConditionTest, Macros) {
  macros_["kevt"] = Expr::Pred(Predicate{FieldRef{"stage"}, Op::kEq, {Literal{"x"}}});
  macros_["never"] = Expr::False();
  EXPECT_EQ(P("kevt and not never"), "(and [stage = x] (not false))");
  EXPECT_EQ(P("(kevt)"), "[stage = x]");
  EXPECT_EQ(P("kevt and foo"), "ERROR column 10: unknown macro or field 'foo'");
}

TEST_F(ConditionTest, Errors) {
  EXPECT_EQ(P(""), "ERROR column 1: empty condition");
  EXPECT_EQ(P("   \n "), "ERROR column 1: empty condition");
  EXPECT_EQ(P("(a = 1"), "ERROR column 7: expected ')' after expression, to close '(' at column 1");
  EXPECT_EQ(P("a = 1)"), "ERROR column 6: unbalanced ')'");
  EXPECT_EQ(P("a = 1 b"),
            "ERROR column 7: expected 'and', 'or' or the end of the condition, "
            "found 'b'");
  EXPECT_EQ(P("a = 1 and"), "ERROR column 10: unexpected end of condition");
  EXPECT_EQ(P("a = 1 and or b = 2"), "ERROR column 11: unexpected 'or'");
  EXPECT_EQ(P("a = 1 and bad.x = 2"), "ERROR column 11: unknown field 'bad.x'");
  EXPECT_EQ(P("a ="), "ERROR column 4: expected a value after '='");
  EXPECT_EQ(P("a = )"), "ERROR column 5: expected a value, found ')'");
  EXPECT_EQ(P("a in (x y)"), "ERROR column 9: expected ',' or ')' in the value list, found 'y)'");
  EXPECT_EQ(P("a in (x,"),
            "ERROR column 9: expected ')' to close the value list opened at "
            "column 6");
  EXPECT_EQ(P("a = (x, y)"), "ERROR column 3: operator '=' takes exactly one value");
  EXPECT_EQ(P("= x"), "ERROR column 1: expected a field, macro or '(', found '='");
  EXPECT_EQ(P("f[abc = 1"), "ERROR column 2: unterminated '[' in field");
  EXPECT_EQ(P("all f"), "ERROR column 5: expected an operator after 'all', found 'f'");
  EXPECT_EQ(P("all f ="), "ERROR column 8: expected a value after '='");
  EXPECT_EQ(P("all f and"), "ERROR column 5: expected an operator after 'all', found 'f'");
  EXPECT_EQ(P("f and g = 1"), "ERROR column 1: unknown macro or field 'f'");
  EXPECT_EQ(P("()"), "ERROR column 2: unexpected ')'");
}

TEST_F(ConditionTest, DeepNestingRejected) {
  std::string deep(10000, '(');
  deep += "a = 1";
  deep += std::string(10000, ')');
  std::string r = P(deep);
  EXPECT_NE(r.find("nested too deeply"), std::string::npos) << r;

  std::string nots;
  for (int i = 0; i < 10000; ++i) nots += "not ";
  nots += "a = 1";
  r = P(nots);
  EXPECT_NE(r.find("nested too deeply"), std::string::npos) << r;

  std::string ok(150, '(');
  ok += "a = 1";
  ok += std::string(150, ')');
  EXPECT_EQ(P(ok), "[a = 1]");
}

TEST(IsIdentifierTest, Basics) {
  EXPECT_TRUE(IsIdentifier("kevt"));
  EXPECT_TRUE(IsIdentifier("requestObject.spec.containers[*].image"));
  EXPECT_FALSE(IsIdentifier(""));
  EXPECT_FALSE(IsIdentifier("1abc"));
  EXPECT_FALSE(IsIdentifier("a b"));
}

}  // namespace
}  // namespace vigil::detect

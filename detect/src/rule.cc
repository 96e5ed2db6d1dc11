// Constructors of the rule IR's expression nodes, and operator names.
#include "vigil/detect/rule.h"

namespace vigil::detect {

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kEq: return "=";
    case Op::kNe: return "!=";
    case Op::kLt: return "<";
    case Op::kLe: return "<=";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kIn: return "in";
    case Op::kContains: return "contains";
    case Op::kIContains: return "icontains";
    case Op::kStartsWith: return "startswith";
    case Op::kEndsWith: return "endswith";
    case Op::kGlob: return "glob";
    case Op::kRegex: return "regex";
    case Op::kCidr: return "cidr";
    case Op::kPrivateIp: return "is_private_ip";
    case Op::kPublicIp: return "is_public_ip";
    case Op::kExists: return "exists";
  }
  return "?";
}

ExprPtr Expr::Pred(Predicate p) {
  auto e = std::make_shared<Expr>();
  e->kind = Kind::kPredicate;
  e->predicate = std::move(p);
  return e;
}

ExprPtr Expr::And(std::vector<ExprPtr> children) {
  if (children.size() == 1) return children.front();
  auto e = std::make_shared<Expr>();
  e->kind = children.empty() ? Kind::kTrue : Kind::kAnd;
  e->children = std::move(children);
  return e;
}

ExprPtr Expr::Or(std::vector<ExprPtr> children) {
  if (children.size() == 1) return children.front();
  auto e = std::make_shared<Expr>();
  e->kind = children.empty() ? Kind::kFalse : Kind::kOr;
  e->children = std::move(children);
  return e;
}

ExprPtr Expr::Not(ExprPtr child) {
  auto e = std::make_shared<Expr>();
  e->kind = Kind::kNot;
  e->children.push_back(std::move(child));
  return e;
}

ExprPtr Expr::True() {
  static const ExprPtr t = [] {
    auto e = std::make_shared<Expr>();
    e->kind = Kind::kTrue;
    return e;
  }();
  return t;
}

ExprPtr Expr::False() {
  static const ExprPtr f = [] {
    auto e = std::make_shared<Expr>();
    e->kind = Kind::kFalse;
    return e;
  }();
  return f;
}

}  // namespace vigil::detect

namespace vigil::detect {

std::string_view StatefulKindName(StatefulSpec::Kind kind) {
  switch (kind) {
    case StatefulSpec::Kind::kThreshold:
      return "threshold";
    case StatefulSpec::Kind::kDistinct:
      return "distinct";
    case StatefulSpec::Kind::kNewTerms:
      return "new_terms";
    case StatefulSpec::Kind::kSequence:
      return "sequence";
  }
  return "?";
}

}  // namespace vigil::detect

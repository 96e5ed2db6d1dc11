// Constructors of the rule IR's expression nodes.
#include "vigil/detect/rule.h"

namespace vigil::detect {

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

// The rule linter (see lint.h): static checks over the rule IR, using the field schema.
#include "vigil/detect/lint.h"

#include <re2/re2.h>

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine_field.h"
#include "engine_match.h"

namespace vigil::detect {
namespace {

using internal::ParsedField;
using internal::Transform;

bool IsNumber(std::string_view text, double* out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size();
}

bool IsTextOp(Op op) {
  switch (op) {
    case Op::kContains:
    case Op::kIContains:
    case Op::kStartsWith:
    case Op::kEndsWith:
    case Op::kGlob:
    case Op::kRegex:
    case Op::kCidr:
    case Op::kPrivateIp:
    case Op::kPublicIp:
      return true;
    default:
      return false;
  }
}

bool TakesValues(Op op) { return op != Op::kExists && op != Op::kPrivateIp && op != Op::kPublicIp; }

// Where a field someone wrote at the top level most likely lives.
std::string Suggest(const FieldSpec& spec) {
  static const std::map<std::string, std::string, std::less<>> kByName = {
      {"hostPath", "requestObject.spec.volumes[*].hostPath.path"},
      {"capabilities", "requestObject.spec.containers[*].securityContext.capabilities.add"},
      {"privileged", "requestObject.spec.containers[*].securityContext.privileged"},
      {"securityContext", "requestObject.spec.containers[*].securityContext"},
      {"hostNetwork", "requestObject.spec.hostNetwork"},
      {"hostPID", "requestObject.spec.hostPID"},
      {"hostIPC", "requestObject.spec.hostIPC"},
      {"image", "requestObject.spec.containers[*].image"},
      {"containers", "requestObject.spec.containers"},
      {"volumes", "requestObject.spec.volumes"},
      {"apiGroup", "objectRef.apiGroup"},
      {"resource", "objectRef.resource"},
      {"subresource", "objectRef.subresource"},
      {"namespace", "objectRef.namespace"},
      {"name", "objectRef.name"},
      {"code", "responseStatus.code"},
      {"status", "responseStatus.status"},
      {"reason", "responseStatus.reason"},
      {"username", "user.username"},
      {"groups", "user.groups"},
      {"sourceIP", "sourceIPs"},
      {"decision", "annotations[\"authorization.k8s.io/decision\"]"},
  };
  if (spec.steps.empty()) return "";
  // The last key names the thing (objectRef.apiGroups -> ..., hostPath -> ...).
  for (size_t i = spec.steps.size(); i-- > 0;) {
    if (spec.steps[i].kind != PathStep::Kind::kKey) continue;
    auto it = kByName.find(spec.steps[i].key);
    if (it != kByName.end() && it->second != spec.canonical) return it->second;
    break;
  }
  return "";
}

enum class Tri { kUnknown, kNever, kAlways };

struct Fold {
  Tri value = Tri::kUnknown;
  std::string reason;
};

class RuleLinter {
 public:
  RuleLinter(const Rule& rule, std::vector<LintIssue>* out) : rule_(rule), out_(out) {}

  void Run() {
    if (rule_.condition) CheckExpr(*rule_.condition, false);
    for (const ExprPtr& ex : rule_.exceptions) {
      if (ex) CheckExpr(*ex, true);
    }
    if (rule_.condition) {
      Fold f = FoldExpr(*rule_.condition);
      if (f.value == Tri::kNever)
        Report(LintIssue::kError, "condition can never be true: " + f.reason);
    }
    if (const StatefulSpec* st = rule_.stateful.get()) {
      for (const auto* keys : {&st->group_by, &st->field, &st->terms}) {
        for (const KeyExpr& k : *keys) CheckKey(k);
      }
      for (const SequenceStep& step : st->steps) {
        if (step.condition) {
          CheckExpr(*step.condition, false);
          Fold f = FoldExpr(*step.condition);
          if (f.value == Tri::kNever) {
            Report(LintIssue::kError, "sequence step '" + step.name +
                                          "' can never be true: " + f.reason);
          }
        }
        for (const KeyExpr& k : step.by) CheckKey(k);
      }
      for (const ExprPtr& e : st->must_include) {
        if (e) CheckExpr(*e, false);
      }
      if (st->learn_from) CheckExpr(*st->learn_from, false);
    }
  }

 private:
  void Report(LintIssue::Severity sev, std::string message) {
    LintIssue issue;
    issue.severity = sev;
    issue.rule_id = rule_.id;
    issue.source = rule_.source;
    issue.message = std::move(message);
    out_->push_back(std::move(issue));
  }

  void CheckExpr(const Expr& e, bool in_exception) {
    if (e.kind == Expr::Kind::kPredicate) {
      CheckPredicate(e.predicate, in_exception);
      return;
    }
    for (const ExprPtr& ch : e.children) {
      if (ch) CheckExpr(*ch, in_exception);
    }
  }

  // A stateful key expression: every field it names (fallbacks, template placeholders) must be
  // one a raw audit event can have, or the key is always empty.
  void CheckKey(const KeyExpr& k) {
    std::vector<std::string> paths;
    if (k.text.find('{') != std::string::npos) {
      for (size_t p = k.text.find('{'); p != std::string::npos; p = k.text.find('{', p + 1)) {
        if (k.text.compare(p, 2, "{{") == 0) {
          ++p;
          continue;
        }
        size_t close = k.text.find('}', p);
        if (close == std::string::npos) break;
        paths.push_back(k.text.substr(p + 1, close - p - 1));
      }
    } else {
      std::string_view rest = k.text;
      while (true) {
        size_t q = rest.find("??");
        paths.emplace_back(rest.substr(0, q));
        if (q == std::string_view::npos) break;
        rest.remove_prefix(q + 2);
      }
    }
    for (const std::string& path : paths) {
      auto parsed = internal::ParseField(path);
      if (!parsed.ok()) {
        Report(LintIssue::kError, parsed.status().message());
      } else if (!parsed->spec.known) {
        Report(LintIssue::kError, "key field '" + path + "' never exists in a raw audit event");
      }
    }
  }

  void CheckPredicate(const Predicate& p, bool in_exception) {
    auto parsed = internal::ParseField(p.field.path);
    if (!parsed.ok()) {
      Report(LintIssue::kError, parsed.status().message());
      return;
    }
    const ParsedField& f = *parsed;
    if (!f.spec.known && reported_unknown_.insert(f.spec.canonical).second) {
      std::string msg = "field '" + p.field.path + "' never exists in a raw audit event";
      std::string hint = Suggest(f.spec);
      if (!hint.empty()) msg += " (did you mean " + hint + "?)";
      if (in_exception) {
        Report(LintIssue::kWarning, msg + "; this exception never applies");
      } else {
        Report(LintIssue::kError, msg);
      }
    }
    if (TakesValues(p.op) && p.op != Op::kIn && p.values.empty()) {
      Report(LintIssue::kError, "operator on '" + p.field.path + "' has no value to compare with");
    }
    if (f.spec.type == FieldType::kNumber) {
      if (IsTextOp(p.op)) {
        Report(LintIssue::kError, "text operator on number field '" + f.spec.canonical + "'");
      } else if (TakesValues(p.op)) {
        for (const Literal& l : p.values) {
          double d = 0;
          if (!IsNumber(l.text, &d)) {
            Report(LintIssue::kError, "number field '" + f.spec.canonical +
                                          "' compared with non-numeric value '" + l.text + "'");
          }
        }
      }
    }
    if (p.op == Op::kRegex) {
      for (const Literal& l : p.values) {
        RE2::Options opts;
        opts.set_log_errors(false);
        RE2 re(l.text, opts);
        if (!re.ok()) Report(LintIssue::kError, "bad regex '" + l.text + "': " + re.error());
      }
    }
    if (p.op == Op::kCidr) {
      for (const Literal& l : p.values) {
        internal::Cidr c;
        if (!internal::ParseCidr(l.text, &c))
          Report(LintIssue::kError, "bad CIDR '" + l.text + "'");
      }
    }
  }

  // Equality constraint a predicate puts on a single-valued field, for contradiction checks.
  struct EqConstraint {
    std::string field;
    std::set<std::string> values;
  };

  static std::optional<EqConstraint> EqOf(const Expr& e) {
    if (e.kind != Expr::Kind::kPredicate) return std::nullopt;
    const Predicate& p = e.predicate;
    if ((p.op != Op::kEq && p.op != Op::kIn) || p.case_insensitive) return std::nullopt;
    auto f = internal::ParseField(p.field.path);
    if (!f.ok() || !f->spec.known || f->spec.multi || f->spec.type == FieldType::kJson ||
        f->transform != Transform::kNone) {
      return std::nullopt;
    }
    EqConstraint c;
    c.field = f->spec.canonical;
    for (const Literal& l : p.values) {
      if (f->spec.type == FieldType::kNumber) {
        double d = 0;
        if (!IsNumber(l.text, &d)) continue;
        c.values.insert(std::to_string(d));
      } else {
        c.values.insert(l.text);
      }
    }
    return c;
  }

  static std::string Join(const std::set<std::string>& s) {
    std::string out;
    for (const std::string& x : s) {
      if (!out.empty()) out += ", ";
      out += x;
    }
    return out;
  }

  Fold FoldExpr(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kTrue:
        return {Tri::kAlways, ""};
      case Expr::Kind::kFalse:
        return {Tri::kNever, "the condition is 'false'"};
      case Expr::Kind::kPredicate:
        return FoldPredicate(e.predicate);
      case Expr::Kind::kNot: {
        if (e.children.empty() || !e.children[0]) return {};
        Fold f = FoldExpr(*e.children[0]);
        if (f.value == Tri::kAlways)
          return {Tri::kNever, "it negates a condition that is always true"};
        if (f.value == Tri::kNever) return {Tri::kAlways, ""};
        return {};
      }
      case Expr::Kind::kOr: {
        bool all_never = !e.children.empty();
        std::string reason;
        for (const ExprPtr& ch : e.children) {
          Fold f = ch ? FoldExpr(*ch) : Fold{};
          if (f.value == Tri::kAlways) return {Tri::kAlways, ""};
          if (f.value != Tri::kNever) {
            all_never = false;
          } else if (reason.empty()) {
            reason = f.reason;
          }
        }
        if (all_never) return {Tri::kNever, "every alternative is impossible (" + reason + ")"};
        return {};
      }
      case Expr::Kind::kAnd: {
        bool all_always = true;
        for (const ExprPtr& ch : e.children) {
          Fold f = ch ? FoldExpr(*ch) : Fold{};
          if (f.value == Tri::kNever) return f;
          if (f.value != Tri::kAlways) all_always = false;
        }
        // Contradictory equalities on one single-valued field.
        std::map<std::string, std::set<std::string>> allowed, excluded;
        for (const ExprPtr& ch : e.children) {
          if (!ch) continue;
          if (auto c = EqOf(*ch)) {
            auto it = allowed.find(c->field);
            if (it == allowed.end()) {
              allowed.emplace(c->field, c->values);
              continue;
            }
            std::set<std::string> both;
            for (const std::string& v : it->second) {
              if (c->values.count(v)) both.insert(v);
            }
            if (both.empty()) {
              return {Tri::kNever, "'" + c->field + "' cannot be both " + Join(it->second) +
                                       " and " + Join(c->values)};
            }
            it->second = std::move(both);
          } else if (ch->kind == Expr::Kind::kNot && !ch->children.empty() && ch->children[0]) {
            if (auto n = EqOf(*ch->children[0])) {
              excluded[n->field].insert(n->values.begin(), n->values.end());
            }
          }
        }
        for (const auto& [field, values] : allowed) {
          auto ex = excluded.find(field);
          if (ex == excluded.end()) continue;
          bool all_excluded = true;
          for (const std::string& v : values) {
            if (!ex->second.count(v)) all_excluded = false;
          }
          if (all_excluded) {
            return {Tri::kNever, "'" + field + "' must be " + Join(values) + " and must not be " +
                                     Join(ex->second)};
          }
        }
        if (all_always) return {Tri::kAlways, ""};
        return {};
      }
    }
    return {};
  }

  Fold FoldPredicate(const Predicate& p) {
    auto f = internal::ParseField(p.field.path);
    if (!f.ok()) return {};
    if (!f->spec.known && f->transform != Transform::kCount) {
      return {Tri::kNever, "it requires field '" + p.field.path + "', which never exists"};
    }
    if (p.op == Op::kIn && p.values.empty()) {
      return {Tri::kNever, "'" + f->spec.canonical + " in ()' has an empty list"};
    }
    if (f->spec.type == FieldType::kNumber && (p.op == Op::kEq || p.op == Op::kIn) &&
        !p.values.empty()) {
      bool any_numeric = false;
      for (const Literal& l : p.values) {
        double d = 0;
        if (IsNumber(l.text, &d)) any_numeric = true;
      }
      if (!any_numeric) {
        return {Tri::kNever, "number field '" + f->spec.canonical + "' never equals '" +
                                 p.values.front().text + "'"};
      }
    }
    if (f->spec.type == FieldType::kNumber && IsTextOp(p.op)) {
      return {Tri::kNever,
              "a text operator never matches number field '" + f->spec.canonical + "'"};
    }
    return {};
  }

  const Rule& rule_;
  std::vector<LintIssue>* out_;
  std::set<std::string> reported_unknown_;
};

}  // namespace

std::vector<LintIssue> LintRuleSet(const RuleSet& rules) {
  std::vector<LintIssue> out;
  std::set<std::string> ids;
  for (const Rule& r : rules.rules) {
    if (!ids.insert(r.id).second) {
      LintIssue issue;
      issue.rule_id = r.id;
      issue.source = r.source;
      issue.message = "duplicate rule id";
      out.push_back(std::move(issue));
    }
    RuleLinter(r, &out).Run();
  }
  return out;
}

std::string FormatLintIssue(const LintIssue& issue) {
  return issue.source.file + ":" + std::to_string(issue.source.line) + ":" +
         std::to_string(issue.source.column) + ": " +
         (issue.severity == LintIssue::kError ? "error" : "warning") + ": rule '" + issue.rule_id +
         "': " + issue.message;
}

}  // namespace vigil::detect

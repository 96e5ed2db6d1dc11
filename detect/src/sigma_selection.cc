// Translates one Sigma detection selection (field|modifier: value(s)) into the rule IR, with
// Sigma's semantics: case-insensitive string matching, * and ? wildcards, lists as OR (AND with
// |all), null as "field absent".
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "sigma_internal.h"

namespace vigil::detect::sigma_internal {
namespace {

enum class Base {
  kEq,
  kContains,
  kStartsWith,
  kEndsWith,
  kRe,
  kCidr,
  kExists,
  kGt,
  kGte,
  kLt,
  kLte
};

struct Modifiers {
  Base base = Base::kEq;
  bool all = false;
  bool cased = false;
  std::string re_flags;  // "i", "m", "s" for |re
};

// One scalar value of a field condition.
struct Value {
  bool null = false;
  bool wildcard = false;  // has an unescaped * or ?
  bool plain_number_or_bool = false;
  std::string literal;  // Sigma escapes (\* \? \\) resolved; wildcards kept as text
  std::string glob;     // glob form: literal characters escaped with [..], wildcards kept
  std::string raw;      // as written (for |re)
  YAML::Mark mark;
};

// A plain YAML scalar that reads as a decimal number (or a boolean): compared as typed.
bool IsNumberOrBool(std::string_view s) {
  if (s == "true" || s == "false") return true;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size();
}

// Resolves Sigma escaping: "\*" "\?" "\\" are literal characters; any other backslash stays.
Value ParseValue(const YAML::Node& node) {
  Value v;
  v.mark = node.Mark();
  if (node.IsNull()) {
    v.null = true;
    return v;
  }
  v.raw = node.Scalar();
  const bool plain = node.Tag() == "?";  // yaml-cpp: "?" untagged plain, "!" quoted
  v.plain_number_or_bool = plain && IsNumberOrBool(v.raw);
  const std::string& s = v.raw;
  auto add_literal = [&v](char c) {
    v.literal.push_back(c);
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
      v.glob += '[';
      v.glob += c;
      v.glob += ']';
    } else {
      v.glob.push_back(c);
    }
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\')) {
      add_literal(s[++i]);
    } else if (c == '*' || c == '?') {
      v.wildcard = true;
      v.literal.push_back(c);
      v.glob.push_back(c);
    } else {
      add_literal(c);
    }
  }
  return v;
}

Result<Modifiers> ParseModifiers(const std::vector<std::string>& names, const std::string& file,
                                 const YAML::Mark& mark) {
  Modifiers m;
  bool have_base = false;
  auto set_base = [&](Base b, const std::string& name) -> Status {
    if (have_base) {
      return ErrorAt(file, mark, "modifier '" + name + "' conflicts with an earlier modifier");
    }
    have_base = true;
    m.base = b;
    return Status::Ok();
  };
  for (const std::string& n : names) {
    if (n == "contains") {
      RETURN_IF_ERROR(set_base(Base::kContains, n));
    } else if (n == "startswith") {
      RETURN_IF_ERROR(set_base(Base::kStartsWith, n));
    } else if (n == "endswith") {
      RETURN_IF_ERROR(set_base(Base::kEndsWith, n));
    } else if (n == "re") {
      RETURN_IF_ERROR(set_base(Base::kRe, n));
    } else if (n == "cidr") {
      RETURN_IF_ERROR(set_base(Base::kCidr, n));
    } else if (n == "exists") {
      RETURN_IF_ERROR(set_base(Base::kExists, n));
    } else if (n == "gt") {
      RETURN_IF_ERROR(set_base(Base::kGt, n));
    } else if (n == "gte") {
      RETURN_IF_ERROR(set_base(Base::kGte, n));
    } else if (n == "lt") {
      RETURN_IF_ERROR(set_base(Base::kLt, n));
    } else if (n == "lte") {
      RETURN_IF_ERROR(set_base(Base::kLte, n));
    } else if (n == "all") {
      m.all = true;
    } else if (n == "cased") {
      m.cased = true;
    } else if (n == "i" || n == "m" || n == "s" || n == "ignorecase" || n == "multiline" ||
               n == "dotall") {
      m.re_flags += n[0];
    } else {
      return ErrorAt(file, mark,
                     "unknown or unsupported Sigma modifier '" + n +
                         "' (supported: contains, startswith, endswith, re, re|i|m|s, cidr, "
                         "exists, all, cased, gt, gte, lt, lte)");
    }
  }
  if (!m.re_flags.empty() && m.base != Base::kRe) {
    return ErrorAt(file, mark, "the regex flag modifiers i, m, s need the 're' modifier");
  }
  return m;
}

Predicate MakePred(const std::string& field, Op op, std::vector<std::string> values, bool ci) {
  Predicate p;
  p.field.path = field;
  p.op = op;
  for (std::string& v : values) p.values.push_back(Literal{std::move(v)});
  p.case_insensitive = ci;
  return p;
}

// Combines per-value expressions: OR normally, AND with |all.
ExprPtr Combine(std::vector<ExprPtr> parts, bool all) {
  return all ? Expr::And(std::move(parts)) : Expr::Or(std::move(parts));
}

// field names are canonical paths, except "annotations.<key>" which Sigma writes flat.
std::string CanonicalField(const std::string& name) {
  constexpr std::string_view kAnnotations = "annotations.";
  if (name.size() > kAnnotations.size() &&
      name.compare(0, kAnnotations.size(), kAnnotations) == 0) {
    return "annotations[\"" + name.substr(kAnnotations.size()) + "\"]";
  }
  return name;
}

Result<ExprPtr> FieldToExpr(const YAML::Node& key, const YAML::Node& value_node,
                            const std::string& file) {
  const std::string& spec = key.Scalar();
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t bar = spec.find('|', start);
    parts.push_back(spec.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  const std::string field = CanonicalField(parts[0]);
  if (field.empty()) {
    return ErrorAt(
        file, key.Mark(),
        "keyword (full-text) searches without a field are not supported: '" + spec + "'");
  }
  ASSIGN_OR_RETURN(
      Modifiers mods,
      ParseModifiers(std::vector<std::string>(parts.begin() + 1, parts.end()), file, key.Mark()));

  std::vector<Value> values;
  if (value_node.IsSequence()) {
    if (value_node.size() == 0) {
      return ErrorAt(file, value_node.Mark(), "field '" + spec + "' has an empty list of values");
    }
    for (const YAML::Node& item : value_node) {
      if (!item.IsScalar() && !item.IsNull()) {
        return ErrorAt(file, item.Mark(),
                       "a value of field '" + spec + "' must be a scalar, not a map or list");
      }
      values.push_back(ParseValue(item));
    }
  } else if (value_node.IsScalar() || value_node.IsNull()) {
    values.push_back(ParseValue(value_node));
  } else {
    return ErrorAt(file, value_node.Mark(),
                   "the value of field '" + spec + "' must be a scalar or a list of scalars");
  }

  if (mods.base != Base::kEq) {
    for (const Value& v : values) {
      if (v.null) return ErrorAt(file, v.mark, "null is only allowed without modifiers");
    }
  }
  const bool ci = !mods.cased;

  switch (mods.base) {
    case Base::kExists: {
      if (values.size() != 1 || (values[0].raw != "true" && values[0].raw != "false")) {
        return ErrorAt(file, values[0].mark, "'exists' takes a single true or false");
      }
      ExprPtr exists = Expr::Pred(MakePred(field, Op::kExists, {}, false));
      return values[0].raw == "true" ? exists : Expr::Not(exists);
    }
    case Base::kEq: {
      // Without |all: nulls, one `in` of the literals and one glob of the wildcard values, OR'ed.
      std::vector<ExprPtr> out;
      std::vector<std::string> literals, globs;
      bool all_typed = true;
      for (const Value& v : values) {
        if (v.null) {
          out.push_back(Expr::Not(Expr::Pred(MakePred(field, Op::kExists, {}, false))));
        } else if (v.wildcard) {
          if (mods.all) {
            out.push_back(Expr::Pred(MakePred(field, Op::kGlob, {v.glob}, ci)));
          } else {
            globs.push_back(v.glob);
          }
        } else if (mods.all) {
          out.push_back(
              Expr::Pred(MakePred(field, Op::kEq, {v.literal}, ci && !v.plain_number_or_bool)));
        } else {
          literals.push_back(v.literal);
          all_typed = all_typed && v.plain_number_or_bool;
        }
      }
      if (!globs.empty()) {
        out.insert(out.begin(), Expr::Pred(MakePred(field, Op::kGlob, std::move(globs), ci)));
      }
      if (!literals.empty()) {
        Op op = literals.size() == 1 ? Op::kEq : Op::kIn;
        out.insert(out.begin(),
                   Expr::Pred(MakePred(field, op, std::move(literals), ci && !all_typed)));
      }
      return Combine(std::move(out), mods.all);
    }
    case Base::kContains:
    case Base::kStartsWith:
    case Base::kEndsWith: {
      // A multi-valued predicate is true when any value matches: one per op without |all, one
      // per value with it.
      const Op op = mods.base == Base::kContains
                        ? (ci ? Op::kIContains : Op::kContains)
                        : (mods.base == Base::kStartsWith ? Op::kStartsWith : Op::kEndsWith);
      std::vector<std::string> literals, globs;
      for (const Value& v : values) {
        if (v.wildcard) {
          std::string g = v.glob;
          if (mods.base != Base::kStartsWith) g.insert(0, "*");
          if (mods.base != Base::kEndsWith) g += '*';
          globs.push_back(std::move(g));
        } else {
          literals.push_back(v.literal);
        }
      }
      std::vector<ExprPtr> out;
      auto emit = [&](Op o, std::vector<std::string> vals) {
        if (vals.empty()) return;
        if (!mods.all) {
          out.push_back(Expr::Pred(MakePred(field, o, std::move(vals), ci)));
          return;
        }
        for (std::string& x : vals) out.push_back(Expr::Pred(MakePred(field, o, {x}, ci)));
      };
      emit(op, std::move(literals));
      emit(Op::kGlob, std::move(globs));
      return Combine(std::move(out), mods.all);
    }
    case Base::kRe: {
      std::string prefix = mods.re_flags.empty() ? "" : "(?" + mods.re_flags + ")";
      std::vector<std::string> regexes;
      for (const Value& v : values) regexes.push_back(prefix + v.raw);
      if (!mods.all) return Expr::Pred(MakePred(field, Op::kRegex, std::move(regexes), false));
      std::vector<ExprPtr> out;
      for (std::string& r : regexes) {
        out.push_back(Expr::Pred(MakePred(field, Op::kRegex, {r}, false)));
      }
      return Expr::And(std::move(out));
    }
    case Base::kCidr: {
      std::vector<std::string> cidrs;
      for (const Value& v : values) cidrs.push_back(v.raw);
      if (!mods.all) return Expr::Pred(MakePred(field, Op::kCidr, std::move(cidrs), false));
      std::vector<ExprPtr> out;
      for (std::string& c : cidrs)
        out.push_back(Expr::Pred(MakePred(field, Op::kCidr, {c}, false)));
      return Expr::And(std::move(out));
    }
    case Base::kGt:
    case Base::kGte:
    case Base::kLt:
    case Base::kLte: {
      Op op = mods.base == Base::kGt    ? Op::kGt
              : mods.base == Base::kGte ? Op::kGe
              : mods.base == Base::kLt  ? Op::kLt
                                        : Op::kLe;
      std::vector<ExprPtr> out;
      for (const Value& v : values) {
        if (!v.plain_number_or_bool || v.raw == "true" || v.raw == "false") {
          return ErrorAt(file, v.mark,
                         "numeric comparison modifiers need a number, not '" + v.raw + "'");
        }
        out.push_back(Expr::Pred(MakePred(field, op, {v.raw}, false)));
      }
      return Combine(std::move(out), mods.all);
    }
  }
  return ErrorAt(file, key.Mark(), "internal: unhandled modifier");
}

Result<ExprPtr> MapToExpr(const YAML::Node& map, const std::string& file) {
  std::vector<ExprPtr> terms;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      return ErrorAt(file, it->first.Mark(), "a selection key must be a field name");
    }
    ASSIGN_OR_RETURN(ExprPtr e, FieldToExpr(it->first, it->second, file));
    terms.push_back(std::move(e));
  }
  if (terms.empty()) return ErrorAt(file, map.Mark(), "empty selection");
  return Expr::And(std::move(terms));
}

}  // namespace

std::string Where(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Status ErrorAt(const std::string& file, const YAML::Mark& mark, std::string_view reason) {
  return Status::InvalidArgument(Where(file, mark) + ": " + std::string(reason));
}

Result<ExprPtr> SelectionToExpr(const YAML::Node& node, const std::string& file) {
  if (node.IsMap()) return MapToExpr(node, file);
  if (node.IsSequence()) {
    if (node.size() == 0) return ErrorAt(file, node.Mark(), "empty selection list");
    std::vector<ExprPtr> alternatives;
    for (const YAML::Node& item : node) {
      if (!item.IsMap()) {
        return ErrorAt(file, item.Mark(),
                       "keyword (full-text) selections are not supported; a selection list must "
                       "hold maps of field: value");
      }
      ASSIGN_OR_RETURN(ExprPtr e, MapToExpr(item, file));
      alternatives.push_back(std::move(e));
    }
    return Expr::Or(std::move(alternatives));
  }
  return ErrorAt(file, node.Mark(),
                 "a selection must be a map of field conditions or a list of such maps");
}

}  // namespace vigil::detect::sigma_internal

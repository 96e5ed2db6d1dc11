// The Falco front end, compiling half: lazily parsed macros, expanded lists, exceptions, the
// jevt.rawtime / ka.response.code rewrites and output conversion (see falco_loader.h).
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <utility>

#include "falco_fields.h"
#include "falco_internal.h"
#include "vigil/detect/fields.h"

namespace vigil::detect {
namespace falco_internal {
namespace {

bool IsAttackId(std::string_view tag) {
  if (tag.size() != 5 && tag.size() != 9) return false;
  if (tag[0] != 'T') return false;
  for (size_t i = 1; i < 5; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(tag[i]))) return false;
  }
  if (tag.size() == 9) {
    if (tag[5] != '.') return false;
    for (size_t i = 6; i < 9; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(tag[i]))) return false;
    }
  }
  return true;
}

std::string Slug(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "rule" : out;
}

}  // namespace

Result<ExprPtr> Rewrite(const ExprPtr& e) {
  switch (e->kind) {
    case Expr::Kind::kTrue:
    case Expr::Kind::kFalse:
      return e;
    case Expr::Kind::kPredicate: {
      const Predicate& p = e->predicate;
      if (p.field.path == kFalcoRawTimePath) {
        bool all_zero = !p.values.empty();
        for (const Literal& v : p.values) all_zero = all_zero && Trim(v.text) == "0";
        if (p.op == Op::kExists) return Expr::True();
        if ((p.op == Op::kEq || p.op == Op::kIn) && all_zero) return Expr::False();
        if (p.op == Op::kNe && all_zero) return Expr::True();
        Predicate q = p;
        q.field.path = std::string(kFalcoRawTimeValue);
        return Expr::Pred(std::move(q));
      }
      if (p.field.path == kFalcoTruePath) {
        // The field always yields "true": the predicate is decided here.
        auto any = [&](auto test) {
          for (const Literal& v : p.values) {
            if (test(std::string_view(v.text))) return Expr::True();
          }
          return Expr::False();
        };
        switch (p.op) {
          case Op::kExists:
            return Expr::True();
          case Op::kEq:
          case Op::kIn:
            return any([](std::string_view v) { return v == "true"; });
          case Op::kNe:
            return any([](std::string_view v) { return v != "true"; });
          case Op::kContains:
            return any([](std::string_view v) {
              return std::string_view("true").find(v) != std::string_view::npos;
            });
          case Op::kStartsWith:
            return any([](std::string_view v) { return std::string_view("true").starts_with(v); });
          case Op::kEndsWith:
            return any([](std::string_view v) { return std::string_view("true").ends_with(v); });
          default:
            return Status::InvalidArgument(
                "ka.req.binding.subject.has_name (always \"true\") supports =, !=, in, exists, "
                "contains, startswith, endswith");
        }
      }
      if (p.field.path == "responseStatus.code") {
        switch (p.op) {
          case Op::kContains:
          case Op::kIContains:
          case Op::kStartsWith:
          case Op::kEndsWith:
          case Op::kGlob:
          case Op::kRegex: {
            Predicate q = p;
            q.field.path = "responseStatus.code|json";
            return Expr::Pred(std::move(q));
          }
          default:
            break;
        }
      }
      return e;
    }
    case Expr::Kind::kNot: {
      if (e->children.size() != 1) return Status::Internal("'not' without exactly one child");
      ASSIGN_OR_RETURN(ExprPtr c, Rewrite(e->children[0]));
      if (c->kind == Expr::Kind::kTrue) return Expr::False();
      if (c->kind == Expr::Kind::kFalse) return Expr::True();
      if (c == e->children[0]) return e;
      return Expr::Not(std::move(c));
    }
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      const bool is_and = e->kind == Expr::Kind::kAnd;
      const Expr::Kind absorbing = is_and ? Expr::Kind::kFalse : Expr::Kind::kTrue;
      const Expr::Kind neutral = is_and ? Expr::Kind::kTrue : Expr::Kind::kFalse;
      std::vector<ExprPtr> kids;
      bool changed = false;
      for (const ExprPtr& child : e->children) {
        ASSIGN_OR_RETURN(ExprPtr c, Rewrite(child));
        changed = changed || c != child;
        if (c->kind == absorbing) return is_and ? Expr::False() : Expr::True();
        if (c->kind == neutral) {
          changed = true;
          continue;
        }
        kids.push_back(std::move(c));
      }
      if (!changed) return e;
      if (kids.empty()) return is_and ? Expr::True() : Expr::False();
      return is_and ? Expr::And(std::move(kids)) : Expr::Or(std::move(kids));
    }
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Compiling

void Loader::ExpandLists() {
  // Falco splices a list named inside another list's items. Resolved after every file is read;
  // a cycle stops the expansion (the name stays a literal item).
  std::set<std::string> stack;
  std::function<void(const std::string&)> expand = [&](const std::string& name) {
    if (expanded_.count(name)) return;
    stack.insert(name);
    std::vector<std::string> out;
    for (const std::string& item : lists_.at(name).items) {
      if (lists_.count(item) && !stack.count(item)) {
        expand(item);
        const auto& sub = expanded_.at(item);
        out.insert(out.end(), sub.begin(), sub.end());
      } else {
        out.push_back(item);
      }
    }
    stack.erase(name);
    expanded_[name] = std::move(out);
  };
  for (const std::string& name : list_order_) expand(name);
}

const std::vector<std::string>* Loader::FindList(std::string_view name) const {
  auto it = expanded_.find(name);
  return it == expanded_.end() ? nullptr : &it->second;
}

ExprPtr Loader::ResolveMacro(std::string_view name) {
  auto def = macros_.find(name);
  if (def == macros_.end()) return nullptr;
  if (auto hit = macro_cache_.find(name); hit != macro_cache_.end()) return hit->second;
  if (macros_in_progress_.count(name)) {
    if (!macro_error_) {
      macro_error_ = Where(def->second.loc) + ": macro '" + std::string(name) + "' uses itself";
    }
    return nullptr;
  }
  macros_in_progress_.insert(std::string(name));
  LocError err;
  ExprPtr expr = ParsePieces(def->second.condition, &err);
  macros_in_progress_.erase(macros_in_progress_.find(name));
  if (!expr) {
    if (!macro_error_) {
      macro_error_ = Where(err.loc) + ": macro '" + std::string(name) + "': " + err.reason;
    }
    return nullptr;
  }
  macro_cache_.emplace(std::string(name), expr);
  return expr;
}

Loc Loader::LocateInPiece(const Piece& piece, size_t offset) const {
  // Maps an offset in a scalar's value to the file: YAML folding and quoting only change
  // whitespace (and escapes), so the k-th non-blank character of the value is the k-th
  // non-blank character of the scalar's source text.
  const Loc& start = piece.loc;
  if (start.file < 0) return start;
  const std::string& raw = contents_[static_cast<size_t>(start.file)];
  size_t p = start.pos;
  if (p < raw.size()) {
    if (raw[p] == '"' || raw[p] == '\'') {
      ++p;
    } else if (raw[p] == '>' || raw[p] == '|') {
      p = raw.find('\n', p);
      p = p == std::string::npos ? raw.size() : p + 1;
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < offset && i < piece.text.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(piece.text[i]))) ++k;
  }
  for (; p < raw.size(); ++p) {
    if (std::isspace(static_cast<unsigned char>(raw[p]))) continue;
    if (k == 0) break;
    --k;
  }
  Loc loc = start;
  loc.pos = p;
  loc.line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < p && i < raw.size(); ++i) {
    if (raw[i] == '\n') {
      ++loc.line;
      line_start = i + 1;
    }
  }
  loc.col = static_cast<int>(p - line_start) + 1;
  return loc;
}

ExprPtr Loader::ParsePieces(const std::vector<Piece>& pieces, LocError* err) {
  std::string text;
  std::vector<size_t> starts;
  for (const Piece& piece : pieces) {
    if (!text.empty()) text += ' ';
    starts.push_back(text.size());
    text += piece.text;
  }
  auto parsed = ParseCondition(text, context_);
  if (parsed.ok()) return *parsed;
  if (pieces.empty()) {
    err->reason = "empty condition";
    return nullptr;
  }
  // "column N: reason" -> the place in the file.
  std::string_view msg = parsed.status().message();
  size_t offset = 0;
  if (msg.substr(0, 7) == "column ") {
    size_t colon = msg.find(": ");
    if (colon != std::string_view::npos) {
      offset = static_cast<size_t>(std::max(0L, std::atol(std::string(msg.substr(7)).c_str()) - 1));
      msg.remove_prefix(colon + 2);
    }
  }
  size_t i = pieces.size() - 1;
  while (i > 0 && starts[i] > offset) --i;
  err->loc = LocateInPiece(pieces[i], offset - starts[i]);
  err->reason = std::string(msg);
  return nullptr;
}

std::vector<std::string> Loader::ExpandValue(const ExValue& value) const {
  std::vector<std::string> out;
  auto add = [&](const std::string& item) {
    if (const auto* list = FindList(item)) {
      out.insert(out.end(), list->begin(), list->end());
    } else {
      out.push_back(item);
    }
  };
  if (value.is_list) {
    for (const std::string& item : value.list) add(item);
  } else {
    add(value.scalar);
  }
  return out;
}

Result<ExprPtr> Loader::BuildPredicate(const ResolvedField& field, std::string_view comp,
                                       std::vector<std::string> values) {
  Predicate p;
  p.field = field.field;
  const bool set_op = comp == "in" || comp == "intersects" || comp == "pmatch";
  if (!set_op && values.size() != 1) {
    return Status::InvalidArgument("operator '" + std::string(comp) + "' needs one value, got " +
                                   std::to_string(values.size()));
  }
  if (comp == "pmatch") {
    // Path prefix match against a set: equal, or below one of the directories.
    std::vector<ExprPtr> any;
    for (std::string& v : values) {
      Predicate eq = p;
      eq.op = Op::kEq;
      eq.values = {Literal{v}};
      any.push_back(Expr::Pred(std::move(eq)));
      Predicate below = p;
      below.op = Op::kStartsWith;
      below.values = {Literal{v.empty() || v.back() != '/' ? v + "/" : v}};
      any.push_back(Expr::Pred(std::move(below)));
    }
    return Expr::Or(std::move(any));
  }
  static const std::map<std::string, Op, std::less<>> kOps = {
      {"=", Op::kEq},
      {"==", Op::kEq},
      {"!=", Op::kNe},
      {"<", Op::kLt},
      {"<=", Op::kLe},
      {">", Op::kGt},
      {">=", Op::kGe},
      {"in", Op::kIn},
      {"intersects", Op::kIn},
      {"contains", Op::kContains},
      {"icontains", Op::kIContains},
      {"startswith", Op::kStartsWith},
      {"endswith", Op::kEndsWith},
      {"glob", Op::kGlob},
      {"regex", Op::kRegex},
  };
  auto op = kOps.find(comp);
  if (op == kOps.end()) {
    return Status::InvalidArgument("unsupported exception operator '" + std::string(comp) + "'");
  }
  p.op = op->second;
  if (comp == "in") p.quantifier = field.in_quantifier;
  for (std::string& v : values) p.values.push_back(Literal{std::move(v)});
  return Expr::Pred(std::move(p));
}

Result<ExprPtr> Loader::CompileException(const ExceptionDef& ex) {
  auto fail = [&](std::string_view reason) {
    return Error(ex.loc, "exception '" + ex.name + "': " + std::string(reason));
  };
  if (ex.fields.empty()) return fail("no fields");
  std::vector<ResolvedField> fields;
  for (const std::string& f : ex.fields) {
    auto rf = ResolveFalcoField(f);
    if (!rf.ok()) return fail(rf.status().message());
    fields.push_back(*rf);
  }
  if (ex.values.empty()) return ExprPtr(nullptr);
  if (ex.single_field) {
    const std::string comp = ex.comps.empty() ? "in" : ex.comps[0];
    std::vector<std::string> all;
    for (const auto& tuple : ex.values) {
      for (const ExValue& v : tuple) {
        auto items = ExpandValue(v);
        all.insert(all.end(), items.begin(), items.end());
      }
    }
    if (comp == "in" || comp == "intersects" || comp == "pmatch") {
      auto pred = BuildPredicate(fields[0], comp, std::move(all));
      if (!pred.ok()) return fail(pred.status().message());
      return *pred;
    }
    std::vector<ExprPtr> any;
    for (std::string& v : all) {
      auto pred = BuildPredicate(fields[0], comp, {std::move(v)});
      if (!pred.ok()) return fail(pred.status().message());
      any.push_back(*pred);
    }
    return Expr::Or(std::move(any));
  }
  std::vector<std::string> comps = ex.comps;
  if (comps.empty()) comps.assign(fields.size(), "=");
  if (comps.size() != fields.size()) {
    return fail("has " + std::to_string(fields.size()) + " fields but " +
                std::to_string(comps.size()) + " comps");
  }
  std::vector<ExprPtr> any;
  for (const auto& tuple : ex.values) {
    if (tuple.size() != fields.size()) {
      return fail("a value has " + std::to_string(tuple.size()) + " items for " +
                  std::to_string(fields.size()) + " fields");
    }
    std::vector<ExprPtr> all;
    for (size_t i = 0; i < fields.size(); ++i) {
      const bool set_op = comps[i] == "in" || comps[i] == "intersects" || comps[i] == "pmatch";
      std::vector<std::string> values =
          set_op ? ExpandValue(tuple[i])
                 : (tuple[i].is_list ? tuple[i].list : std::vector<std::string>{tuple[i].scalar});
      auto pred = BuildPredicate(fields[i], comps[i], std::move(values));
      if (!pred.ok()) return fail(pred.status().message());
      all.push_back(*pred);
    }
    any.push_back(Expr::And(std::move(all)));
  }
  return Expr::Or(std::move(any));
}

Status Loader::CompileRule(const RuleDef& def, RuleSet* out, std::set<std::string>* ids) {
  auto fail = [&](const Loc& loc, std::string_view reason) {
    return Error(loc, "rule '" + def.name + "': " + std::string(reason));
  };
  Rule rule;
  rule.name = def.name;
  rule.description = def.desc;
  rule.severity = def.severity;
  rule.tags = def.tags;
  for (const std::string& t : def.tags) {
    if (IsAttackId(t)) rule.attack_ids.push_back(t);
  }
  rule.enabled = def.enabled;
  rule.output = ConvertFalcoOutput(def.output, &rule.output_names);
  rule.origin = RuleOrigin::kFalco;
  rule.source = RuleSource{def.loc.file >= 0 ? names_[static_cast<size_t>(def.loc.file)] : "",
                           def.loc.line, def.loc.col};
  rule.references = {"falco:" + def.name};

  std::string id = "falco." + Slug(def.name);
  if (ids->count(id)) {
    std::string base = id;
    for (int n = 2; ids->count(id); ++n) id = base + "_" + std::to_string(n);
    warnings_.push_back(Where(def.loc) + ": rule '" + def.name + "' gets id '" + id +
                        "' (its name's slug is taken)");
  }

  // Soft failures (a disabled rule, skip-if-unknown-filter) keep the rule out of action
  // instead of failing the load.
  auto soft_fail = [&](const std::string& message) -> bool {
    if (!def.enabled) {
      warnings_.push_back(message + " (rule is disabled; kept with a never-true condition)");
      rule.condition = Expr::False();
      return true;
    }
    return false;
  };

  macro_error_.reset();
  last_field_error_ = Status::Ok();
  LocError err;
  ExprPtr cond = ParsePieces(def.condition, &err);
  if (!cond) {
    std::string message = macro_error_
                              ? *macro_error_ + " (used by rule '" + def.name + "')"
                              : Where(err.loc) + ": rule '" + def.name + "': " + err.reason;
    if (def.skip_if_unknown_filter && IsUnknownFalcoFieldError(last_field_error_)) {
      warnings_.push_back(message + " (skipped: skip-if-unknown-filter)");
      return Status::Ok();
    }
    if (!soft_fail(message)) return Status::InvalidArgument(message);
  } else {
    auto rewritten = Rewrite(cond);
    if (!rewritten.ok()) return fail(def.loc, rewritten.status().message());
    rule.condition = *rewritten;
  }
  for (const ExceptionDef& ex : def.exceptions) {
    ASSIGN_OR_RETURN(ExprPtr e, CompileException(ex));
    if (!e) continue;
    auto rewritten = Rewrite(e);
    if (!rewritten.ok()) return fail(ex.loc, rewritten.status().message());
    if ((*rewritten)->kind == Expr::Kind::kFalse) continue;
    rule.exceptions.push_back(*rewritten);
  }
  ids->insert(id);
  rule.id = std::move(id);
  if (!rule.enabled) ++out->disabled;
  out->rules.push_back(std::move(rule));
  return Status::Ok();
}

Result<RuleSet> Loader::Finish(FalcoLoadInfo* info) {
  ExpandLists();
  context_.resolve_field = [this](std::string_view token) -> Result<ResolvedField> {
    auto r = ResolveFalcoField(token);
    if (!r.ok()) last_field_error_ = r.status();
    return r;
  };
  context_.resolve_macro = [this](std::string_view name) { return ResolveMacro(name); };
  context_.resolve_list = [this](std::string_view name) { return FindList(name); };

  RuleSet out;
  std::set<std::string> ids;
  for (const RuleDef& def : rules_) {
    if (def.source != kK8sAuditSource) {
      ++out.skipped_other_source;
      continue;
    }
    RETURN_IF_ERROR(CompileRule(def, &out, &ids));
  }
  out.warnings = std::move(warnings_);
  if (info) *info = std::move(info_);
  return out;
}

}  // namespace falco_internal

std::string ConvertFalcoOutput(std::string_view output,
                               std::vector<std::pair<std::string, std::string>>* names) {
  std::string out;
  size_t i = 0;
  while (i < output.size()) {
    if (output[i] != '%') {
      if (output[i] == '{') out += '{';  // the template's escape for a literal '{'
      out += output[i++];
      continue;
    }
    size_t j = i + 1;
    while (j < output.size() && (std::isalnum(static_cast<unsigned char>(output[j])) ||
                                 output[j] == '_' || output[j] == '.')) {
      ++j;
    }
    size_t end = j;
    if (j < output.size() && output[j] == '[') {
      size_t close = output.find(']', j);
      if (close != std::string_view::npos) end = close + 1;
    } else {
      while (end > i + 1 && output[end - 1] == '.') --end;  // "%ka.verb." ends a sentence
    }
    if (end == i + 1) {  // a lone '%'
      out += output[i++];
      continue;
    }
    auto rf = ResolveFalcoField(output.substr(i + 1, end - i - 1));
    std::string path = rf.ok() ? rf->field.path : "";
    if (path == kFalcoRawTimePath) path = kFalcoRawTimeValue;
    if (path == kFalcoTruePath) {
      out += "true";
      i = end;
      continue;
    }
    auto spec = path.empty() ? Result<FieldSpec>(Status::NotFound("")) : DescribeField(path);
    if (spec.ok() && spec->known) {
      out += "{" + path + "}";
      const std::string& canonical = spec->canonical;  // what the engine reports it as
      if (names != nullptr && std::none_of(names->begin(), names->end(),
                                           [&](const auto& n) { return n.first == canonical; })) {
        names->emplace_back(canonical, std::string(output.substr(i + 1, end - i - 1)));
      }
    } else {
      for (char c : output.substr(i, end - i)) {
        if (c == '{') out += '{';
        out += c;
      }
    }
    i = end;
  }
  return out;
}

}  // namespace vigil::detect

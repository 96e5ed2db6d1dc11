// The condition language parser (grammar in condition.h): a scanner-driven recursive descent,
// because field tokens (brackets, glued '=') and bare values (':', '/', '*', '=') lex differently.
#include "vigil/detect/condition.h"

#include <optional>
#include <string>
#include <utility>

namespace vigil::detect {
namespace {

// Hostile input must not blow the stack: parentheses and `not` nest at most this deep.
constexpr int kMaxDepth = 200;
// Lists naming lists: expansion stops at this depth (also breaks cycles).
constexpr int kMaxListDepth = 32;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsFieldStart(char c) { return IsAlpha(c) || c == '_'; }
// Characters of a field or macro token outside brackets.
bool IsFieldChar(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '_' || c == '.' || c == '-' || c == '|' || c == '[';
}

struct OpInfo {
  Op op;
  enum class Values : uint8_t { kNone, kOne, kMany } values;
  enum class Quant : uint8_t { kDefault, kAny, kInField } quant;
};

std::optional<OpInfo> WordOperator(std::string_view w) {
  using V = OpInfo::Values;
  using Q = OpInfo::Quant;
  if (w == "in") return OpInfo{Op::kIn, V::kMany, Q::kInField};
  if (w == "intersects") return OpInfo{Op::kIn, V::kMany, Q::kAny};
  if (w == "contains") return OpInfo{Op::kContains, V::kMany, Q::kDefault};
  if (w == "icontains") return OpInfo{Op::kIContains, V::kMany, Q::kDefault};
  if (w == "startswith") return OpInfo{Op::kStartsWith, V::kMany, Q::kDefault};
  if (w == "endswith") return OpInfo{Op::kEndsWith, V::kMany, Q::kDefault};
  if (w == "glob") return OpInfo{Op::kGlob, V::kMany, Q::kDefault};
  if (w == "regex") return OpInfo{Op::kRegex, V::kMany, Q::kDefault};
  if (w == "cidr") return OpInfo{Op::kCidr, V::kMany, Q::kDefault};
  // Falco's path match: the value is one of the paths or below one (built in Parse below).
  if (w == "pmatch") return OpInfo{Op::kStartsWith, V::kMany, Q::kAny};
  if (w == "is_private_ip") return OpInfo{Op::kPrivateIp, V::kNone, Q::kDefault};
  if (w == "is_public_ip") return OpInfo{Op::kPublicIp, V::kNone, Q::kDefault};
  if (w == "exists") return OpInfo{Op::kExists, V::kNone, Q::kDefault};
  return std::nullopt;
}

class Parser {
 public:
  Parser(std::string_view text, const ConditionContext& context) : text_(text), ctx_(context) {}

  Result<ExprPtr> Parse() {
    SkipSpace();
    if (AtEnd()) return Error(0, "empty condition");
    ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
    SkipSpace();
    if (!AtEnd()) {
      if (text_[pos_] == ')') return Error(pos_, "unbalanced ')'");
      return Error(pos_, "expected 'and', 'or' or the end of the condition, found '" +
                             std::string(Snippet(pos_)) + "'");
    }
    return e;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
  }

  static Status Error(size_t offset, std::string_view what) {
    return Status::InvalidArgument("column " + std::to_string(offset + 1) + ": " +
                                   std::string(what));
  }

  // A short piece of text at `offset`, for messages.
  std::string_view Snippet(size_t offset) const {
    size_t end = offset;
    while (end < text_.size() && !IsSpace(text_[end]) && end - offset < 40) ++end;
    if (end == offset && offset < text_.size()) end = offset + 1;
    return text_.substr(offset, end - offset);
  }

  // The field or macro token starting at pos_ (pos_ must be at a field-start char). Brackets
  // may hold anything, quoted strings included; `|transform` is part of the token.
  Result<std::string_view> ReadFieldToken() {
    size_t start = pos_;
    while (!AtEnd() && IsFieldChar(text_[pos_])) {
      if (text_[pos_] != '[') {
        ++pos_;
        continue;
      }
      size_t open = pos_++;
      char quote = 0;
      while (true) {
        if (AtEnd()) return Error(open, "unterminated '[' in field");
        char c = text_[pos_++];
        if (quote != 0) {
          if (c == '\\' && !AtEnd()) {
            ++pos_;
          } else if (c == quote) {
            quote = 0;
          }
        } else if (c == '"' || c == '\'') {
          quote = c;
        } else if (c == ']') {
          break;
        }
      }
    }
    return text_.substr(start, pos_ - start);
  }

  // The word at pos_ if it is exactly `kw` followed by a token boundary. Does not consume.
  bool PeekKeyword(std::string_view kw) {
    SkipSpace();
    if (text_.substr(pos_, kw.size()) != kw) return false;
    size_t after = pos_ + kw.size();
    return after >= text_.size() || !IsFieldChar(text_[after]);
  }

  Result<ExprPtr> ParseOr() {
    std::vector<ExprPtr> children;
    ASSIGN_OR_RETURN(ExprPtr first, ParseAnd());
    children.push_back(std::move(first));
    while (PeekKeyword("or")) {
      pos_ += 2;
      ASSIGN_OR_RETURN(ExprPtr next, ParseAnd());
      children.push_back(std::move(next));
    }
    return Expr::Or(std::move(children));
  }

  Result<ExprPtr> ParseAnd() {
    std::vector<ExprPtr> children;
    ASSIGN_OR_RETURN(ExprPtr first, ParseNot());
    children.push_back(std::move(first));
    while (PeekKeyword("and")) {
      pos_ += 3;
      ASSIGN_OR_RETURN(ExprPtr next, ParseNot());
      children.push_back(std::move(next));
    }
    return Expr::And(std::move(children));
  }

  Result<ExprPtr> ParseNot() {
    if (!PeekKeyword("not")) return ParsePrimary();
    size_t at = pos_;
    pos_ += 3;
    if (++depth_ > kMaxDepth) return Error(at, "condition nested too deeply");
    ASSIGN_OR_RETURN(ExprPtr child, ParseNot());
    --depth_;
    return Expr::Not(std::move(child));
  }

  Result<ExprPtr> ParsePrimary() {
    SkipSpace();
    if (AtEnd()) return Error(pos_, "unexpected end of condition");
    char c = text_[pos_];
    if (c == '(') {
      size_t open = pos_++;
      if (++depth_ > kMaxDepth) return Error(open, "condition nested too deeply");
      ASSIGN_OR_RETURN(ExprPtr inner, ParseOr());
      --depth_;
      SkipSpace();
      if (AtEnd() || text_[pos_] != ')') {
        return Error(pos_, "expected ')' after expression, to close '(' at column " +
                               std::to_string(open + 1));
      }
      ++pos_;
      return inner;
    }
    if (c == ')') return Error(pos_, "unexpected ')'");
    if (!IsFieldStart(c)) {
      return Error(pos_,
                   "expected a field, macro or '(', found '" + std::string(Snippet(pos_)) + "'");
    }
    size_t start = pos_;
    ASSIGN_OR_RETURN(std::string_view word, ReadFieldToken());
    if (word == "and" || word == "or") {
      return Error(start, "unexpected '" + std::string(word) + "'");
    }

    std::optional<Quantifier> quantifier;
    if ((word == "any" || word == "all") && LooksLikeQuantifiedField()) {
      quantifier = word == "any" ? Quantifier::kAny : Quantifier::kAll;
      SkipSpace();
      start = pos_;
      ASSIGN_OR_RETURN(word, ReadFieldToken());
    }

    SkipSpace();
    size_t op_at = pos_;
    std::optional<OpInfo> op = ReadOperator();
    std::string_view op_text = text_.substr(op_at, pos_ - op_at);
    if (!op) {
      if (!quantifier) {
        if (ExprPtr macro = ctx_.resolve_macro ? ctx_.resolve_macro(word) : nullptr) return macro;
      }
      // A field followed by something that is not an operator: say what was expected. A word
      // followed by the end, `and`, `or` or ')' was meant as a macro.
      bool ends = AtEnd() || text_[pos_] == ')' || PeekKeyword("and") || PeekKeyword("or");
      if (quantifier || (!ends && ctx_.resolve_field && ctx_.resolve_field(word).ok())) {
        if (AtEnd()) return Error(pos_, "expected an operator after '" + std::string(word) + "'");
        return Error(pos_, "expected an operator after '" + std::string(word) + "', found '" +
                               std::string(Snippet(pos_)) + "'");
      }
      return Error(start, "unknown macro or field '" + std::string(word) + "'");
    }

    if (!ctx_.resolve_field) return Error(start, "no fields are defined");
    Result<ResolvedField> resolved = ctx_.resolve_field(word);
    if (!resolved.ok()) return Error(start, resolved.status().message());

    Predicate p;
    p.field = std::move(resolved->field);
    p.op = op->op;
    switch (op->quant) {
      case OpInfo::Quant::kDefault:
        p.quantifier = quantifier.value_or(Quantifier::kAny);
        break;
      case OpInfo::Quant::kAny:
        p.quantifier = quantifier.value_or(Quantifier::kAny);
        break;
      case OpInfo::Quant::kInField:
        p.quantifier = quantifier.value_or(resolved->in_quantifier);
        break;
    }
    if (op->values != OpInfo::Values::kNone) {
      RETURN_IF_ERROR(ParseValues(op_text, &p.values));
      if (op->values == OpInfo::Values::kOne && p.values.size() != 1) {
        return Error(op_at, "operator '" + std::string(op_text) + "' takes exactly one value");
      }
    }
    if (op_text == "pmatch") {
      if (quantifier) return Error(op_at, "'any'/'all' cannot be used with pmatch");
      // "/etc" matches /etc and /etc/passwd, not /etcd: equal to a path, or starting with it
      // and a '/'.
      Predicate below = p;
      p.op = Op::kIn;
      for (Literal& v : p.values) {
        while (v.text.size() > 1 && v.text.back() == '/') v.text.pop_back();
      }
      for (Literal& v : below.values) {
        if (v.text.empty() || v.text.back() != '/') v.text.push_back('/');
      }
      return Expr::Or({Expr::Pred(std::move(p)), Expr::Pred(std::move(below))});
    }
    return Expr::Pred(std::move(p));
  }

  // After `any`/`all`: true when a field token follows and an operator follows that, so a macro
  // named `any` or `all` still works.
  bool LooksLikeQuantifiedField() {
    size_t saved = pos_;
    SkipSpace();
    bool result = false;
    if (!AtEnd() && IsFieldStart(text_[pos_])) {
      Result<std::string_view> next = ReadFieldToken();
      if (next.ok() && *next != "and" && *next != "or" && !WordOperator(*next)) {
        SkipSpace();
        result = ReadOperator().has_value();
      }
    }
    pos_ = saved;
    return result;
  }

  // Consumes an operator at pos_ and returns it; consumes nothing when there is none.
  std::optional<OpInfo> ReadOperator() {
    using V = OpInfo::Values;
    using Q = OpInfo::Quant;
    if (AtEnd()) return std::nullopt;
    std::string_view rest = text_.substr(pos_);
    struct Sym {
      std::string_view text;
      Op op;
    };
    static constexpr Sym kSymbols[] = {{"==", Op::kEq}, {"!=", Op::kNe}, {"<=", Op::kLe},
                                       {">=", Op::kGe}, {"=", Op::kEq},  {"<", Op::kLt},
                                       {">", Op::kGt}};
    for (const Sym& s : kSymbols) {
      if (rest.substr(0, s.text.size()) == s.text) {
        pos_ += s.text.size();
        return OpInfo{s.op, V::kOne, Q::kDefault};
      }
    }
    if (!IsFieldStart(rest[0])) return std::nullopt;
    size_t n = 0;
    while (n < rest.size() && (IsAlpha(rest[n]) || rest[n] == '_')) ++n;
    if (n < rest.size() && IsFieldChar(rest[n])) return std::nullopt;
    std::optional<OpInfo> op = WordOperator(rest.substr(0, n));
    if (op) pos_ += n;
    return op;
  }

  // values := value | "(" [value ("," value)*] ")"
  Status ParseValues(std::string_view op_text, std::vector<Literal>* out) {
    SkipSpace();
    if (AtEnd()) return Error(pos_, "expected a value after '" + std::string(op_text) + "'");
    if (text_[pos_] != '(') {
      size_t at = pos_;
      ASSIGN_OR_RETURN(std::string value, ReadValue(/*in_list=*/false));
      if (pos_ == at)
        return Error(at, "expected a value, found '" + std::string(Snippet(at)) + "'");
      out->push_back(Literal{std::move(value)});
      return Status::Ok();
    }
    size_t open = pos_++;
    SkipSpace();
    if (!AtEnd() && text_[pos_] == ')') {
      ++pos_;
      return Status::Ok();
    }
    while (true) {
      SkipSpace();
      if (AtEnd()) {
        return Error(pos_, "expected ')' to close the value list opened at column " +
                               std::to_string(open + 1));
      }
      size_t at = pos_;
      bool quoted = text_[pos_] == '"' || text_[pos_] == '\'';
      ASSIGN_OR_RETURN(std::string value, ReadValue(/*in_list=*/true));
      if (pos_ == at)
        return Error(at, "expected a value, found '" + std::string(Snippet(at)) + "'");
      const std::vector<std::string>* list =
          !quoted && ctx_.resolve_list ? ctx_.resolve_list(value) : nullptr;
      if (list != nullptr) {
        ExpandList(*list, 1, out);
      } else {
        out->push_back(Literal{std::move(value)});
      }
      SkipSpace();
      if (AtEnd()) {
        return Error(pos_, "expected ')' to close the value list opened at column " +
                               std::to_string(open + 1));
      }
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ')') {
        ++pos_;
        return Status::Ok();
      }
      return Error(pos_, "expected ',' or ')' in the value list, found '" +
                             std::string(Snippet(pos_)) + "'");
    }
  }

  void ExpandList(const std::vector<std::string>& items, int depth,
                  std::vector<Literal>* out) const {
    for (const std::string& item : items) {
      const std::vector<std::string>* nested =
          depth < kMaxListDepth && ctx_.resolve_list ? ctx_.resolve_list(item) : nullptr;
      if (nested != nullptr && nested != &items) {
        ExpandList(*nested, depth + 1, out);
      } else {
        out->push_back(Literal{item});
      }
    }
  }

  // A quoted string (escapes \" \' \\ \n \t \r; any other backslash is kept with its character,
  // so regexes read naturally) or a bare word. A bare word ends at white space, ',' or ')' in a
  // list; outside a list it ends at white space, ',' or a ')' that closes nothing in the word.
  Result<std::string> ReadValue(bool in_list) {
    std::string value;
    char c = text_[pos_];
    if (c == '"' || c == '\'') {
      size_t open = pos_++;
      while (true) {
        if (AtEnd()) return Error(open, "unterminated string");
        char d = text_[pos_++];
        if (d == c) break;
        if (d == '\\' && !AtEnd()) {
          char e = text_[pos_++];
          switch (e) {
            case 'n':
              value += '\n';
              break;
            case 't':
              value += '\t';
              break;
            case 'r':
              value += '\r';
              break;
            case '"':
            case '\'':
            case '\\':
              value += e;
              break;
            default:
              value += '\\';
              value += e;
              break;
          }
          continue;
        }
        value += d;
      }
      return value;
    }
    int parens = 0;
    while (!AtEnd()) {
      char d = text_[pos_];
      if (IsSpace(d) || d == ',') break;
      if (d == '(') {
        if (in_list) break;
        ++parens;
      } else if (d == ')') {
        if (in_list || parens == 0) break;
        --parens;
      }
      value += d;
      ++pos_;
    }
    return value;
  }

  std::string_view text_;
  const ConditionContext& ctx_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<ExprPtr> ParseCondition(std::string_view text, const ConditionContext& context) {
  return Parser(text, context).Parse();
}

bool IsIdentifier(std::string_view token) {
  if (token.empty() || !IsAlpha(token[0])) return false;
  for (char c : token) {
    if (IsSpace(c)) return false;
  }
  return true;
}

}  // namespace vigil::detect

// The Sigma condition parser: and/or/not, parentheses, `1 of` / `all of` over selection-name
// patterns and `them`. Builds the rule IR from the already translated selections.
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "sigma_internal.h"

namespace vigil::detect::sigma_internal {
namespace {

struct Token {
  enum class Kind { kWord, kLParen, kRParen, kPipe, kEnd };
  Kind kind = Kind::kEnd;
  std::string_view text;
  size_t column = 0;  // 1-based
};

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::vector<Token> Tokenize(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.column = i + 1;
    if (c == '(' || c == ')' || c == '|') {
      t.kind =
          c == '(' ? Token::Kind::kLParen : (c == ')' ? Token::Kind::kRParen : Token::Kind::kPipe);
      t.text = text.substr(i, 1);
      ++i;
    } else {
      size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) &&
             text[i] != '(' && text[i] != ')' && text[i] != '|') {
        ++i;
      }
      t.kind = Token::Kind::kWord;
      t.text = text.substr(start, i - start);
    }
    tokens.push_back(t);
  }
  Token end;
  end.column = text.size() + 1;
  tokens.push_back(end);
  return tokens;
}

class Parser {
 public:
  Parser(std::string_view text, const std::vector<NamedSelection>& selections)
      : tokens_(Tokenize(text)), selections_(selections) {}

  Result<ExprPtr> Parse() {
    ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
    const Token& t = Peek();
    if (t.kind != Token::Kind::kEnd) {
      if (t.kind == Token::Kind::kPipe) return Aggregation(t);
      return Error(t, "unexpected '" + std::string(t.text) + "', expected 'and', 'or' or the end");
    }
    return e;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool IsKeyword(const Token& t, std::string_view kw) const {
    return t.kind == Token::Kind::kWord && EqualsNoCase(t.text, kw);
  }
  static Status Error(const Token& t, std::string_view reason) {
    return Status::InvalidArgument("column " + std::to_string(t.column) + ": " +
                                   std::string(reason));
  }
  static Status Aggregation(const Token& t) {
    return Error(t,
                 "Sigma aggregations ('| count() ...', '| min(...)', ...) are not supported; "
                 "single-event conditions only");
  }

  Result<ExprPtr> ParseOr() {
    std::vector<ExprPtr> terms;
    ASSIGN_OR_RETURN(ExprPtr first, ParseAnd());
    terms.push_back(std::move(first));
    while (IsKeyword(Peek(), "or")) {
      Next();
      ASSIGN_OR_RETURN(ExprPtr next, ParseAnd());
      terms.push_back(std::move(next));
    }
    return Expr::Or(std::move(terms));
  }

  Result<ExprPtr> ParseAnd() {
    std::vector<ExprPtr> terms;
    ASSIGN_OR_RETURN(ExprPtr first, ParseNot());
    terms.push_back(std::move(first));
    while (IsKeyword(Peek(), "and")) {
      Next();
      ASSIGN_OR_RETURN(ExprPtr next, ParseNot());
      terms.push_back(std::move(next));
    }
    return Expr::And(std::move(terms));
  }

  Result<ExprPtr> ParseNot() {
    if (IsKeyword(Peek(), "not")) {
      Next();
      ASSIGN_OR_RETURN(ExprPtr inner, ParseNot());
      return Expr::Not(std::move(inner));
    }
    return ParsePrimary();
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Token::Kind::kEnd:
        return Error(t, "unexpected end of condition, expected a selection name");
      case Token::Kind::kRParen:
        return Error(t, "unexpected ')', expected a selection name");
      case Token::Kind::kPipe:
        return Aggregation(t);
      case Token::Kind::kLParen: {
        Next();
        ASSIGN_OR_RETURN(ExprPtr inner, ParseOr());
        const Token& close = Peek();
        if (close.kind != Token::Kind::kRParen) {
          if (close.kind == Token::Kind::kPipe) return Aggregation(close);
          return Error(close,
                       "expected ')' to close the '(' at column " + std::to_string(t.column));
        }
        Next();
        return inner;
      }
      case Token::Kind::kWord:
        break;
    }
    if (IsKeyword(Peek(1), "of")) return ParseQuantified();
    for (std::string_view kw : {"and", "or", "of", "them"}) {
      if (IsKeyword(t, kw)) {
        return Error(t, "unexpected '" + std::string(t.text) + "', expected a selection name");
      }
    }
    if (IsKeyword(t, "near")) {
      return Error(t, "the 'near' operator (temporal correlation) is not supported");
    }
    if (t.text.find_first_of("*?") != std::string_view::npos) {
      return Error(t, "a selection pattern like '" + std::string(t.text) +
                          "' must follow '1 of' or 'all of'");
    }
    for (const NamedSelection& s : selections_) {
      if (s.name == t.text) {
        Next();
        return s.expr;
      }
    }
    return Error(t, "selection '" + std::string(t.text) + "' is not defined in detection");
  }

  Result<ExprPtr> ParseQuantified() {
    const Token quantity = Next();
    bool all = false;
    if (IsKeyword(quantity, "all")) {
      all = true;
    } else if (quantity.text != "1" && !IsKeyword(quantity, "any")) {
      return Error(quantity, "only '1 of' and 'all of' are supported, not '" +
                                 std::string(quantity.text) + " of'");
    }
    Next();  // "of"
    const Token target = Peek();
    if (target.kind != Token::Kind::kWord) {
      return Error(target, "expected 'them' or a selection name pattern after 'of'");
    }
    Next();
    std::vector<ExprPtr> members;
    bool them = IsKeyword(target, "them");
    for (const NamedSelection& s : selections_) {
      bool match = them ? (s.name.empty() || s.name[0] != '_') : WildcardMatch(target.text, s.name);
      if (match) members.push_back(s.expr);
    }
    if (members.empty()) {
      return Error(target, them ? std::string("'them' matches no selection")
                                : "'" + std::string(target.text) + "' matches no selection");
    }
    return all ? Expr::And(std::move(members)) : Expr::Or(std::move(members));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  const std::vector<NamedSelection>& selections_;
};

}  // namespace

bool WildcardMatch(std::string_view pattern, std::string_view text) {
  // Iterative glob with backtracking to the last '*'.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<ExprPtr> ParseSigmaCondition(std::string_view text,
                                    const std::vector<NamedSelection>& selections) {
  return Parser(text, selections).Parse();
}

}  // namespace vigil::detect::sigma_internal

// Loads native rule files (YAML) into the rule IR: strict about keys and types, every error at
// file:line:column. yaml-cpp throws; its exceptions are caught here and become a Status.
#include "vigil/detect/native_loader.h"

#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"
#include "vigil/detect/condition.h"
#include "vigil/detect/fields.h"

namespace vigil::detect {
namespace {

// Keeps hostile files from exhausting the stack while converting test events to JSON.
constexpr int kMaxEventDepth = 64;

struct Position {
  int line = 0;
  int column = 0;
};

bool IsSpaceChar(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsNameChar(char c, bool first) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return first ? alpha : alpha || (c >= '0' && c <= '9');
}

// Names of macros and lists: [A-Za-z_][A-Za-z0-9_]*, and not a word of the language.
bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0)) return false;
  }
  static const std::set<std::string_view> kReserved = {
      "and",        "or",       "not",       "any",        "all",           "in",
      "intersects", "contains", "icontains", "startswith", "endswith",      "glob",
      "regex",      "cidr",     "pmatch",    "exists",     "is_private_ip", "is_public_ip"};
  return kReserved.count(name) == 0;
}

// Rule ids: letters, digits, '_', '.', '-'.
bool IsValidRuleId(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!IsNameChar(c, false) && c != '.' && c != '-') return false;
  }
  return true;
}

// T1234 or T1234.001
bool IsAttackId(std::string_view id) {
  auto digits = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      if (id[i] < '0' || id[i] > '9') return false;
    }
    return true;
  };
  if (id.size() == 5) return id[0] == 'T' && digits(1, 4);
  if (id.size() == 9) return id[0] == 'T' && digits(1, 4) && id[5] == '.' && digits(6, 3);
  return false;
}

// The JSON number grammar, which is what a plain YAML scalar must match to become a number.
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == s.size();
}

// One file being loaded: its name and text (for positions inside multi-line scalars).
struct File {
  std::string name;
  std::string_view text;
};

class NativeLoader {
 public:
  NativeLoader() {
    context_.resolve_field = [](std::string_view token) -> Result<ResolvedField> {
      Result<FieldSpec> spec = DescribeField(token);
      if (!spec.ok()) return spec.status();
      if (!spec->known)
        return Status::InvalidArgument("unknown field '" + std::string(token) + "'");
      ResolvedField r;
      r.field.path = spec->canonical;
      return r;
    };
    context_.resolve_macro = [this](std::string_view name) -> ExprPtr {
      auto it = macros_.find(name);
      return it == macros_.end() ? nullptr : it->second;
    };
    context_.resolve_list = [this](std::string_view name) -> const std::vector<std::string>* {
      auto it = lists_.find(name);
      return it == lists_.end() ? nullptr : &it->second;
    };
  }

  Status LoadPath(const std::string& path) {
    std::error_code ec;
    std::filesystem::file_status st = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(st)) {
      return Status::IoError(path + ": no such file or directory");
    }
    if (!std::filesystem::is_directory(st)) return LoadFile(path);
    std::vector<std::string> files;
    for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::string ext = it->path().extension().string();
      if ((ext == ".yaml" || ext == ".yml") && it->is_regular_file(ec)) {
        files.push_back(it->path().string());
      }
    }
    if (ec) return Status::IoError(path + ": cannot list directory: " + ec.message());
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) RETURN_IF_ERROR(LoadFile(file));
    return Status::Ok();
  }

  Status LoadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IoError(path + ": cannot open file");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) return Status::IoError(path + ": read error");
    return LoadText(buffer.str(), path);
  }

  Status LoadText(std::string_view text, std::string_view name) {
    File file{std::string(name), text};
    try {
      YAML::Node root;
      try {
        root = YAML::Load(std::string(text));
      } catch (const YAML::ParserException& e) {
        return Error(file, Position{e.mark.line + 1, e.mark.column + 1},
                     "YAML syntax error: " + e.msg);
      }
      if (root.IsNull()) return Status::Ok();
      if (!root.IsSequence()) {
        return Error(file, root, "expected a sequence of rule, macro and list items");
      }
      for (const YAML::Node& item : root) RETURN_IF_ERROR(LoadItem(file, item));
      return Status::Ok();
    } catch (const YAML::Exception& e) {
      // A backstop: every conversion below checks the node type first.
      return Error(file, Position{e.mark.line + 1, e.mark.column + 1}, e.msg);
    }
  }

  RuleSet Take() { return std::move(set_); }

 private:
  static Position PositionOf(const YAML::Node& node) {
    YAML::Mark m = node.Mark();
    return Position{m.line + 1, m.column + 1};
  }

  static std::string Where(const File& file, Position pos) {
    return file.name + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
  }

  static Status Error(const File& file, Position pos, std::string_view reason) {
    return Status::InvalidArgument(Where(file, pos) + ": " + std::string(reason));
  }
  static Status Error(const File& file, const YAML::Node& node, std::string_view reason) {
    return Error(file, PositionOf(node), reason);
  }

  // The position in the file of byte `offset` of the scalar `node`'s value. Exact for plain and
  // quoted scalars and for block scalars (| >) without escapes or blank-line folding; close
  // otherwise.
  static Position PositionIn(const File& file, const YAML::Node& node, std::string_view value,
                             size_t offset) {
    YAML::Mark m = node.Mark();
    std::string_view src = file.text;
    if (m.pos < 0 || static_cast<size_t>(m.pos) >= src.size()) return PositionOf(node);
    size_t p = static_cast<size_t>(m.pos);
    char c0 = src[p];
    if (c0 == '|' || c0 == '>') {
      while (p < src.size() && src[p] != '\n') ++p;
      while (p < src.size() && IsSpaceChar(src[p])) ++p;
    } else if (c0 == '"' || c0 == '\'') {
      ++p;
    }
    for (size_t i = 0; i < offset && i < value.size() && p < src.size(); ++i) {
      char c = value[i];
      if (c == '\n' || c == ' ' || c == '\t') {
        if (src[p] == '\n' || src[p] == '\r') {
          while (p < src.size() && IsSpaceChar(src[p])) ++p;
        } else if (src[p] == ' ' || src[p] == '\t') {
          ++p;
        } else if (src[p] == '\\') {
          p += 2;
        }
        continue;
      }
      if (src[p] == c) {
        ++p;
        continue;
      }
      if (IsSpaceChar(src[p])) {
        while (p < src.size() && IsSpaceChar(src[p])) ++p;
        if (p < src.size() && src[p] == c) ++p;
      } else if (src[p] == '\\' || (c == '\'' && src[p] == '\'')) {
        p += 2;
      } else {
        ++p;
      }
    }
    p = std::min(p, src.size());
    int line = 1;
    size_t line_start = 0;
    for (size_t k = 0; k < p; ++k) {
      if (src[k] == '\n') {
        ++line;
        line_start = k + 1;
      }
    }
    return Position{line, static_cast<int>(p - line_start) + 1};
  }

  // Checks the keys of a mapping: each must be a scalar in `allowed`, none repeated.
  static Status CheckKeys(const File& file, const YAML::Node& map,
                          const std::set<std::string_view>& allowed, std::string_view what) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) return Error(file, it->first, "expected a scalar key");
      const std::string& key = it->first.Scalar();
      if (allowed.count(key) == 0) {
        std::string known;
        for (std::string_view k : allowed) known += (known.empty() ? "" : ", ") + std::string(k);
        return Error(
            file, it->first,
            "unknown key '" + key + "' in " + std::string(what) + " (known: " + known + ")");
      }
      if (!seen.insert(key).second) return Error(file, it->first, "duplicate key '" + key + "'");
    }
    return Status::Ok();
  }

  static Result<std::string> Text(const File& file, const YAML::Node& node, std::string_view key) {
    if (!node.IsScalar()) return Error(file, node, "'" + std::string(key) + "' must be a string");
    return node.Scalar();
  }

  static Result<std::vector<std::string>> TextList(const File& file, const YAML::Node& node,
                                                   std::string_view key) {
    std::vector<std::string> out;
    if (node.IsNull()) return out;
    if (!node.IsSequence()) {
      return Error(file, node, "'" + std::string(key) + "' must be a list of strings");
    }
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) {
        return Error(file, item, "'" + std::string(key) + "' must be a list of strings");
      }
      out.push_back(item.Scalar());
    }
    return out;
  }

  static Result<bool> Bool(const File& file, const YAML::Node& node, std::string_view key) {
    if (node.IsScalar() && node.Tag() != "!") {
      const std::string& s = node.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    return Error(file, node, "'" + std::string(key) + "' must be true or false");
  }

  Result<ExprPtr> Condition(const File& file, const YAML::Node& node) const {
    ASSIGN_OR_RETURN(std::string text, Text(file, node, "condition"));
    Result<ExprPtr> expr = ParseCondition(text, context_);
    if (expr.ok()) return expr;
    // "column N: reason" -> "file:line:col: reason"
    const std::string& msg = expr.status().message();
    size_t offset = 0;
    std::string_view reason = msg;
    if (msg.rfind("column ", 0) == 0) {
      size_t colon = msg.find(": ");
      if (colon != std::string::npos) {
        offset = static_cast<size_t>(std::max(0L, std::atol(msg.c_str() + 7) - 1));
        reason = std::string_view(msg).substr(colon + 2);
      }
    }
    return Error(file, PositionIn(file, node, text, offset), reason);
  }

  // Checks the {field.path} placeholders of an output template ({{ is a literal '{'; "{? ...}"
  // an optional part, left out when one of its fields has no value).
  static Status CheckOutput(const File& file, const YAML::Node& node, std::string_view text) {
    size_t pos = 0;
    while ((pos = text.find('{', pos)) != std::string_view::npos) {
      if (text.substr(pos, 2) == "{{") {  // a literal '{'
        pos += 2;
        continue;
      }
      if (text.substr(pos, 2) == "{?") {  // an optional part: check the fields inside it
        pos += 2;
        continue;
      }
      size_t close = text.find('}', pos);
      if (close == std::string_view::npos) {
        return Error(file, PositionIn(file, node, text, pos), "unterminated '{' in output");
      }
      std::string_view path = text.substr(pos + 1, close - pos - 1);
      Result<FieldSpec> spec = DescribeField(path);
      if (!spec.ok()) {
        return Error(file, PositionIn(file, node, text, pos + 1),
                     "bad field in output: " + spec.status().message());
      }
      if (!spec->known) {
        return Error(file, PositionIn(file, node, text, pos + 1),
                     "unknown field '" + std::string(path) + "' in output");
      }
      pos = close + 1;
    }
    return Status::Ok();
  }

  // A YAML node as JSON text: quoted scalars are strings, plain scalars that read as JSON
  // numbers, booleans or null are those.
  static Status ToJson(const File& file, const YAML::Node& node, int depth, std::string* out) {
    if (depth > kMaxEventDepth) return Error(file, node, "test event nested too deeply");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        *out += "null";
        return Status::Ok();
      case YAML::NodeType::Scalar: {
        const std::string& s = node.Scalar();
        if (node.Tag() == "?") {
          if (IsJsonNumber(s)) {
            *out += s;
            return Status::Ok();
          }
          if (s == "true" || s == "True" || s == "TRUE") {
            *out += "true";
            return Status::Ok();
          }
          if (s == "false" || s == "False" || s == "FALSE") {
            *out += "false";
            return Status::Ok();
          }
          if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
            *out += "null";
            return Status::Ok();
          }
        }
        AppendJsonString(s, out);
        return Status::Ok();
      }
      case YAML::NodeType::Sequence: {
        *out += '[';
        bool first = true;
        for (const YAML::Node& item : node) {
          if (!first) *out += ',';
          first = false;
          RETURN_IF_ERROR(ToJson(file, item, depth + 1, out));
        }
        *out += ']';
        return Status::Ok();
      }
      case YAML::NodeType::Map: {
        *out += '{';
        bool first = true;
        std::set<std::string> seen;
        for (auto it = node.begin(); it != node.end(); ++it) {
          if (!it->first.IsScalar()) return Error(file, it->first, "expected a scalar key");
          if (!seen.insert(it->first.Scalar()).second) {
            return Error(file, it->first, "duplicate key '" + it->first.Scalar() + "'");
          }
          if (!first) *out += ',';
          first = false;
          AppendJsonString(it->first.Scalar(), out);
          *out += ':';
          RETURN_IF_ERROR(ToJson(file, it->second, depth + 1, out));
        }
        *out += '}';
        return Status::Ok();
      }
    }
    return Error(file, node, "unsupported YAML node");
  }

  static Result<std::string> TestEvent(const File& file, const YAML::Node& node) {
    std::string json;
    if (node.IsMap()) {
      RETURN_IF_ERROR(ToJson(file, node, 0, &json));
      return json;
    }
    if (!node.IsScalar()) {
      return Error(file, node, "'event' must be a mapping or a JSON object in a string");
    }
    json = node.Scalar();
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    simdjson::error_code err = parser.parse(padded).get(root);
    if (err != simdjson::SUCCESS) {
      return Error(file, node,
                   std::string("'event' is not valid JSON: ") + simdjson::error_message(err));
    }
    if (!root.is_object()) return Error(file, node, "'event' must be a JSON object");
    return json;
  }

  Status LoadItem(const File& file, const YAML::Node& item) {
    if (!item.IsMap())
      return Error(file, item, "expected a mapping with 'rule', 'macro' or 'list'");
    const char* kind = nullptr;
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& key = it->first.Scalar();
      if (key == "rule" || key == "macro" || key == "list") {
        if (kind != nullptr) {
          return Error(file, it->first,
                       "an item has one of 'rule', 'macro' or 'list', this one also has '" +
                           std::string(kind) + "'");
        }
        kind = key == "rule" ? "rule" : key == "macro" ? "macro" : "list";
      }
    }
    if (kind == nullptr)
      return Error(file, item, "expected a mapping with 'rule', 'macro' or 'list'");
    if (std::string_view(kind) == "rule") return LoadRule(file, item);
    if (std::string_view(kind) == "macro") return LoadMacro(file, item);
    return LoadList(file, item);
  }

  Status LoadMacro(const File& file, const YAML::Node& item) {
    RETURN_IF_ERROR(CheckKeys(file, item, {"macro", "condition", "description"}, "a macro"));
    ASSIGN_OR_RETURN(std::string name, Text(file, item["macro"], "macro"));
    if (!IsValidName(name)) {
      return Error(file, item["macro"],
                   "bad macro name '" + name + "' (letters, digits and '_', not a keyword)");
    }
    RETURN_IF_ERROR(CheckNewName(file, item["macro"], name));
    if (!item["condition"]) return Error(file, item, "macro '" + name + "' has no 'condition'");
    ASSIGN_OR_RETURN(ExprPtr expr, Condition(file, item["condition"]));
    macros_.emplace(name, std::move(expr));
    names_.emplace(name, Where(file, PositionOf(item["macro"])));
    return Status::Ok();
  }

  Status LoadList(const File& file, const YAML::Node& item) {
    RETURN_IF_ERROR(CheckKeys(file, item, {"list", "items", "description"}, "a list"));
    ASSIGN_OR_RETURN(std::string name, Text(file, item["list"], "list"));
    if (!IsValidName(name)) {
      return Error(file, item["list"],
                   "bad list name '" + name + "' (letters, digits and '_', not a keyword)");
    }
    RETURN_IF_ERROR(CheckNewName(file, item["list"], name));
    if (!item["items"]) return Error(file, item, "list '" + name + "' has no 'items'");
    ASSIGN_OR_RETURN(std::vector<std::string> items, TextList(file, item["items"], "items"));
    lists_.emplace(name, std::move(items));
    names_.emplace(name, Where(file, PositionOf(item["list"])));
    return Status::Ok();
  }

  // Macros and lists share one namespace; a name is defined once.
  Status CheckNewName(const File& file, const YAML::Node& node, const std::string& name) const {
    auto it = names_.find(name);
    if (it == names_.end()) return Status::Ok();
    return Error(file, node, "'" + name + "' is already defined at " + it->second);
  }

  static Result<int64_t> Duration(const File& file, const YAML::Node& node, std::string_view key) {
    ASSIGN_OR_RETURN(std::string text, Text(file, node, key));
    std::optional<int64_t> us = ParseDurationMicros(text);
    if (!us) {
      return Error(file, node,
                   "bad duration '" + text + "' for '" + std::string(key) +
                       "' (e.g. 300s, 15m, 1h30m, 7d)");
    }
    return *us;
  }

  static Result<uint64_t> Count(const File& file, const YAML::Node& node, std::string_view key,
                                uint64_t max) {
    ASSIGN_OR_RETURN(std::string text, Text(file, node, key));
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > max) {
      return Error(file, node,
                   "'" + std::string(key) + "' must be an integer 1.." + std::to_string(max));
    }
    return v;
  }

  // Key expressions: a field path with optional "?? fallback" paths, or a {field} template.
  static Result<std::vector<KeyExpr>> Keys(const File& file, const YAML::Node& node,
                                           std::string_view key) {
    std::vector<KeyExpr> out;
    std::vector<YAML::Node> items;
    if (node.IsScalar()) {
      items.push_back(node);
    } else if (node.IsSequence()) {
      for (const YAML::Node& item : node) items.push_back(item);
    } else {
      return Error(file, node, "'" + std::string(key) + "' must be a field path or a list of them");
    }
    for (const YAML::Node& item : items) {
      ASSIGN_OR_RETURN(std::string text, Text(file, item, key));
      Position pos = PositionOf(item);
      if (text.find('{') != std::string::npos) {
        RETURN_IF_ERROR(CheckOutput(file, item, text));
      } else {
        size_t start = 0;
        while (true) {
          size_t q = text.find("??", start);
          std::string part = Trim(text.substr(start, q == std::string::npos ? q : q - start));
          auto spec = DescribeField(part);
          if (part.empty() || !spec.ok()) {
            return Error(file, item,
                         "bad field path '" + part + "' in '" + std::string(key) + "'" +
                             (spec.ok() ? "" : ": " + spec.status().message()));
          }
          if (q == std::string::npos) break;
          start = q + 2;
        }
      }
      out.push_back(KeyExpr{text, RuleSource{file.name, pos.line, pos.column}});
    }
    return out;
  }

  static std::string Trim(std::string_view s) {
    while (!s.empty() && IsSpaceChar(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsSpaceChar(s.back())) s.remove_suffix(1);
    return std::string(s);
  }

  // threshold / distinct / new_terms / sequence: at most one per rule.
  Status LoadStateful(const File& file, const YAML::Node& item, Rule* rule) const {
    static constexpr std::pair<const char*, StatefulSpec::Kind> kKinds[] = {
        {"threshold", StatefulSpec::Kind::kThreshold},
        {"distinct", StatefulSpec::Kind::kDistinct},
        {"new_terms", StatefulSpec::Kind::kNewTerms},
        {"sequence", StatefulSpec::Kind::kSequence}};
    const char* found = nullptr;
    for (const auto& entry : kKinds) {
      const char* const name = entry.first;  // not a structured binding: lambdas below use it
      const StatefulSpec::Kind kind = entry.second;
      YAML::Node n = item[name];
      if (!n) continue;
      if (found) {
        return Error(file, n,
                     "rule '" + rule->id + "' has both '" + found + "' and '" + name +
                         "' (one stateful operator per rule)");
      }
      found = name;
      if (!n.IsMap()) return Error(file, n, "'" + std::string(name) + "' must be a mapping");
      auto spec = std::make_shared<StatefulSpec>();
      spec->kind = kind;
      switch (kind) {
        case StatefulSpec::Kind::kThreshold:
          RETURN_IF_ERROR(CheckKeys(file, n, {"count", "window", "group_by", "ttl"}, "threshold"));
          break;
        case StatefulSpec::Kind::kDistinct:
          RETURN_IF_ERROR(CheckKeys(
              file, n,
              {"count", "window", "group_by", "field", "must_include", "max_values", "ttl"},
              "distinct"));
          break;
        case StatefulSpec::Kind::kNewTerms:
          RETURN_IF_ERROR(CheckKeys(
              file, n, {"group_by", "terms", "learning", "learn_from", "max_values", "ttl"},
              "new_terms"));
          break;
        case StatefulSpec::Kind::kSequence:
          RETURN_IF_ERROR(CheckKeys(file, n, {"group_by", "within", "steps", "ttl"}, "sequence"));
          break;
      }
      auto need = [&](const char* key) -> Status {
        if (n[key]) return Status::Ok();
        return Error(file, n, "'" + std::string(name) + "' needs '" + key + "'");
      };
      if (YAML::Node g = n["group_by"]) {
        ASSIGN_OR_RETURN(spec->group_by, Keys(file, g, "group_by"));
      }
      if (YAML::Node t = n["ttl"]) {
        ASSIGN_OR_RETURN(spec->ttl_us, Duration(file, t, "ttl"));
      }
      if (YAML::Node m = n["max_values"]) {
        ASSIGN_OR_RETURN(uint64_t v, Count(file, m, "max_values", 100'000));
        spec->max_values = static_cast<uint32_t>(v);
      }
      if (kind == StatefulSpec::Kind::kThreshold || kind == StatefulSpec::Kind::kDistinct) {
        RETURN_IF_ERROR(need("count"));
        RETURN_IF_ERROR(need("window"));
        ASSIGN_OR_RETURN(spec->count, Count(file, n["count"], "count", 10'000));
        ASSIGN_OR_RETURN(spec->window_us, Duration(file, n["window"], "window"));
      }
      if (kind == StatefulSpec::Kind::kDistinct) {
        RETURN_IF_ERROR(need("field"));
        ASSIGN_OR_RETURN(spec->field, Keys(file, n["field"], "field"));
        if (spec->field.size() != 1) return Error(file, n["field"], "'field' takes one field");
        if (YAML::Node mi = n["must_include"]) {
          if (!mi.IsSequence() || mi.size() > 8) {
            return Error(file, mi, "'must_include' must be a list of at most 8 conditions");
          }
          for (const YAML::Node& c : mi) {
            ASSIGN_OR_RETURN(ExprPtr e, Condition(file, c));
            spec->must_include.push_back(std::move(e));
          }
        }
      }
      if (kind == StatefulSpec::Kind::kNewTerms) {
        RETURN_IF_ERROR(need("learning"));
        ASSIGN_OR_RETURN(spec->learning_us, Duration(file, n["learning"], "learning"));
        if (YAML::Node t = n["terms"]) {
          ASSIGN_OR_RETURN(spec->terms, Keys(file, t, "terms"));
        }
        if (YAML::Node lf = n["learn_from"]) {
          ASSIGN_OR_RETURN(std::string text, Text(file, lf, "learn_from"));
          if (text != "all") {
            ASSIGN_OR_RETURN(spec->learn_from, Condition(file, lf));
          }
        } else {
          // Default: learn only from requests the apiserver allowed.
          ASSIGN_OR_RETURN(spec->learn_from, ParseCondition("responseStatus.code < 400", context_));
        }
      }
      if (kind == StatefulSpec::Kind::kSequence) {
        RETURN_IF_ERROR(need("within"));
        RETURN_IF_ERROR(need("steps"));
        ASSIGN_OR_RETURN(spec->window_us, Duration(file, n["within"], "within"));
        YAML::Node steps = n["steps"];
        if (!steps.IsSequence() || steps.size() < 2 || steps.size() > 8) {
          return Error(file, steps, "'steps' must be a list of 2 to 8 {name, condition, by}");
        }
        for (const YAML::Node& st : steps) {
          if (!st.IsMap()) return Error(file, st, "a step must be a mapping {name, condition, by}");
          RETURN_IF_ERROR(CheckKeys(file, st, {"name", "condition", "by"}, "a step"));
          SequenceStep step;
          if (st["name"]) {
            ASSIGN_OR_RETURN(step.name, Text(file, st["name"], "name"));
          }
          if (!st["condition"]) return Error(file, st, "step has no 'condition'");
          ASSIGN_OR_RETURN(step.condition, Condition(file, st["condition"]));
          if (YAML::Node b = st["by"]) {
            ASSIGN_OR_RETURN(step.by, Keys(file, b, "by"));
          }
          if (step.by.empty() && spec->group_by.empty()) {
            return Error(file, st, "step needs 'by' when the sequence has no 'group_by'");
          }
          if (!step.by.empty() && !spec->group_by.empty() &&
              step.by.size() != spec->group_by.size()) {
            return Error(file, st["by"], "'by' must have as many parts as 'group_by'");
          }
          spec->steps.push_back(std::move(step));
        }
      }
      rule->stateful = std::move(spec);
    }
    return Status::Ok();
  }

  // {repeat: N, every: D, event: {...}}: N copies of the event, the i-th (from 0) with "{i}" in
  // its strings replaced by i, "-i" appended to its auditID (unless it has "{i}") and both
  // timestamps moved i*D later.
  static Status ExpandRepeat(const File& file, const YAML::Node& spec,
                             std::vector<std::string>* out) {
    RETURN_IF_ERROR(CheckKeys(file, spec, {"repeat", "every", "event"}, "a repeated event"));
    ASSIGN_OR_RETURN(uint64_t n, Count(file, spec["repeat"], "repeat", 1000));
    int64_t every = 0;
    if (spec["every"]) {
      ASSIGN_OR_RETURN(every, Duration(file, spec["every"], "every"));
    }
    if (!spec["event"] || !spec["event"].IsMap()) {
      return Error(file, spec, "a repeated event needs 'event': a mapping");
    }
    for (uint64_t i = 0; i < n; ++i) {
      YAML::Node ev = YAML::Clone(spec["event"]);
      const std::string idx = std::to_string(i);
      ReplaceIndex(ev, idx);
      if (ev["auditID"] && ev["auditID"].IsScalar() &&
          spec["event"]["auditID"].Scalar().find("{i}") == std::string::npos) {
        ev["auditID"] = ev["auditID"].Scalar() + "-" + idx;
      }
      for (const char* key : {"requestReceivedTimestamp", "stageTimestamp"}) {
        if (!ev[key] || !ev[key].IsScalar()) continue;
        std::optional<int64_t> t = ParseTimestampMicros(ev[key].Scalar());
        if (!t) return Error(file, spec["event"][key], std::string("bad ") + key);
        ev[key] = FormatTimestampMicros(*t + static_cast<int64_t>(i) * every);
      }
      ASSIGN_OR_RETURN(std::string json, TestEvent(file, ev));
      out->push_back(std::move(json));
    }
    return Status::Ok();
  }

  static void ReplaceIndex(YAML::Node node, const std::string& idx) {
    if (node.IsScalar()) {
      std::string v = node.Scalar();
      size_t p = 0;
      bool changed = false;
      while ((p = v.find("{i}", p)) != std::string::npos) {
        v.replace(p, 3, idx);
        p += idx.size();
        changed = true;
      }
      if (changed) node = v;
      return;
    }
    if (node.IsSequence()) {
      for (size_t k = 0; k < node.size(); ++k) ReplaceIndex(node[k], idx);
    } else if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) ReplaceIndex(it->second, idx);
    }
  }

  // A stateful rule's test: {name, events: [...], findings: N, count: M}.
  Status LoadStatefulTest(const File& file, const YAML::Node& t, Rule* rule) const {
    RETURN_IF_ERROR(CheckKeys(file, t, {"name", "events", "findings", "count"}, "a stateful test"));
    StatefulTest test;
    Position tp = PositionOf(t);
    test.source = RuleSource{file.name, tp.line, tp.column};
    if (!t["name"]) return Error(file, t, "test has no 'name'");
    ASSIGN_OR_RETURN(test.name, Text(file, t["name"], "name"));
    YAML::Node events = t["events"];
    if (!events || !events.IsSequence() || events.size() == 0) {
      return Error(file, events ? events : t,
                   "test '" + test.name + "' needs 'events': a list of 1 to 1000 events");
    }
    for (const YAML::Node& e : events) {
      if (e.IsMap() && e["repeat"]) {
        RETURN_IF_ERROR(ExpandRepeat(file, e, &test.events_json));
        continue;
      }
      ASSIGN_OR_RETURN(std::string json, TestEvent(file, e));
      test.events_json.push_back(std::move(json));
    }
    if (test.events_json.size() > 1000) {
      return Error(file, events, "test '" + test.name + "' has more than 1000 events");
    }
    if (!t["findings"]) return Error(file, t, "test '" + test.name + "' has no 'findings'");
    ASSIGN_OR_RETURN(std::string f, Text(file, t["findings"], "findings"));
    if (f == "0") {
      test.expect_findings = 0;
    } else {
      ASSIGN_OR_RETURN(test.expect_findings, Count(file, t["findings"], "findings", 1000));
    }
    if (YAML::Node c = t["count"]) {
      ASSIGN_OR_RETURN(test.expect_count, Count(file, c, "count", 1'000'000));
    }
    rule->stateful_tests.push_back(std::move(test));
    return Status::Ok();
  }

  Status LoadRule(const File& file, const YAML::Node& item) {
    RETURN_IF_ERROR(
        CheckKeys(file, item,
                  {"rule", "name", "description", "severity", "attack", "tags", "enabled",
                   "references", "condition", "exceptions", "output", "tests", "threshold",
                   "distinct", "new_terms", "sequence"},
                  "a rule"));
    Rule rule;
    rule.origin = RuleOrigin::kNative;
    Position pos = PositionOf(item);
    rule.source = RuleSource{file.name, pos.line, pos.column};

    ASSIGN_OR_RETURN(rule.id, Text(file, item["rule"], "rule"));
    if (!IsValidRuleId(rule.id)) {
      return Error(file, item["rule"],
                   "bad rule id '" + rule.id + "' (letters, digits, '_', '.' and '-')");
    }
    std::string here = Where(file, PositionOf(item["rule"]));
    if (auto it = rule_sources_.find(rule.id); it != rule_sources_.end()) {
      return Error(file, item["rule"],
                   "duplicate rule id '" + rule.id + "' (first defined at " + it->second + ")");
    }

    rule.name = rule.id;
    if (YAML::Node n = item["name"]) {
      ASSIGN_OR_RETURN(rule.name, Text(file, n, "name"));
    }
    if (YAML::Node n = item["description"]) {
      ASSIGN_OR_RETURN(rule.description, Text(file, n, "description"));
    }
    if (YAML::Node n = item["severity"]) {
      ASSIGN_OR_RETURN(std::string text, Text(file, n, "severity"));
      std::optional<Severity> severity = ParseSeverity(text);
      if (!severity) {
        return Error(file, n, "bad severity '" + text + "' (info, low, medium, high or critical)");
      }
      rule.severity = *severity;
    }
    if (YAML::Node n = item["attack"]) {
      ASSIGN_OR_RETURN(rule.attack_ids, TextList(file, n, "attack"));
      size_t i = 0;
      for (const YAML::Node& id : n) {
        if (!IsAttackId(rule.attack_ids[i])) {
          return Error(file, id, "bad ATT&CK id '" + rule.attack_ids[i] + "' (T1234 or T1234.001)");
        }
        ++i;
      }
    }
    if (YAML::Node n = item["tags"]) {
      ASSIGN_OR_RETURN(rule.tags, TextList(file, n, "tags"));
    }
    if (YAML::Node n = item["enabled"]) {
      ASSIGN_OR_RETURN(rule.enabled, Bool(file, n, "enabled"));
    }
    if (YAML::Node n = item["references"]) {
      ASSIGN_OR_RETURN(rule.references, TextList(file, n, "references"));
      size_t i = 0;
      for (const YAML::Node& ref : n) {
        const std::string& r = rule.references[i++];
        size_t colon = r.find(':');
        bool ok = colon != std::string::npos && colon > 0 && colon + 1 < r.size();
        for (size_t k = 0; ok && k < colon; ++k) ok = r[k] >= 'a' && r[k] <= 'z';
        if (!ok) {
          return Error(file, ref,
                       "bad reference '" + r + "' (tool:rule name, e.g. 'falco:Attach/Exec Pod')");
        }
      }
    }
    RETURN_IF_ERROR(LoadStateful(file, item, &rule));
    if (item["condition"]) {
      ASSIGN_OR_RETURN(rule.condition, Condition(file, item["condition"]));
    } else if (rule.stateful && rule.stateful->kind == StatefulSpec::Kind::kSequence) {
      rule.condition = Expr::True();  // the steps carry the conditions
    } else {
      return Error(file, item, "rule '" + rule.id + "' has no 'condition'");
    }

    if (YAML::Node n = item["exceptions"]) {
      if (!n.IsSequence())
        return Error(file, n, "'exceptions' must be a list of {name, condition}");
      for (const YAML::Node& ex : n) {
        if (!ex.IsMap()) return Error(file, ex, "an exception must be a mapping {name, condition}");
        RETURN_IF_ERROR(CheckKeys(file, ex, {"name", "condition"}, "an exception"));
        if (!ex["name"]) return Error(file, ex, "exception has no 'name'");
        RETURN_IF_ERROR(Text(file, ex["name"], "name").status());
        if (!ex["condition"]) return Error(file, ex, "exception has no 'condition'");
        ASSIGN_OR_RETURN(ExprPtr expr, Condition(file, ex["condition"]));
        rule.exceptions.push_back(std::move(expr));
      }
    }
    if (YAML::Node n = item["output"]) {
      ASSIGN_OR_RETURN(rule.output, Text(file, n, "output"));
      RETURN_IF_ERROR(CheckOutput(file, n, rule.output));
    }
    if (YAML::Node n = item["tests"]) {
      if (!n.IsSequence()) return Error(file, n, "'tests' must be a list of {name, match, event}");
      for (const YAML::Node& t : n) {
        if (!t.IsMap()) return Error(file, t, "a test must be a mapping {name, match, event}");
        if (rule.stateful) {
          RETURN_IF_ERROR(LoadStatefulTest(file, t, &rule));
          continue;
        }
        RETURN_IF_ERROR(CheckKeys(file, t, {"name", "match", "event"}, "a test"));
        RuleTest test;
        Position tp = PositionOf(t);
        test.source = RuleSource{file.name, tp.line, tp.column};
        if (!t["name"]) return Error(file, t, "test has no 'name'");
        ASSIGN_OR_RETURN(test.name, Text(file, t["name"], "name"));
        if (!t["match"]) return Error(file, t, "test '" + test.name + "' has no 'match'");
        ASSIGN_OR_RETURN(test.expect_match, Bool(file, t["match"], "match"));
        if (!t["event"]) return Error(file, t, "test '" + test.name + "' has no 'event'");
        ASSIGN_OR_RETURN(test.event_json, TestEvent(file, t["event"]));
        rule.tests.push_back(std::move(test));
      }
    }

    rule_sources_.emplace(rule.id, here);
    if (!rule.enabled) ++set_.disabled;
    set_.rules.push_back(std::move(rule));
    return Status::Ok();
  }

  ConditionContext context_;
  std::map<std::string, ExprPtr, std::less<>> macros_;
  std::map<std::string, std::vector<std::string>, std::less<>> lists_;
  std::map<std::string, std::string, std::less<>> names_;         // macro/list -> file:line:col
  std::map<std::string, std::string, std::less<>> rule_sources_;  // rule id -> file:line:col
  RuleSet set_;
};

}  // namespace

Result<RuleSet> LoadNativeRulesFromFiles(std::span<const EmbeddedFile> files) {
  NativeLoader loader;
  for (const EmbeddedFile& f : files) RETURN_IF_ERROR(loader.LoadText(f.text, f.name));
  return loader.Take();
}

Result<RuleSet> LoadNativeRules(const std::vector<std::string>& paths) {
  NativeLoader loader;
  for (const std::string& path : paths) RETURN_IF_ERROR(loader.LoadPath(path));
  return loader.Take();
}

Result<RuleSet> LoadNativeRulesFromString(std::string_view yaml, std::string_view name) {
  NativeLoader loader;
  RETURN_IF_ERROR(loader.LoadText(yaml, name));
  return loader.Take();
}

}  // namespace vigil::detect

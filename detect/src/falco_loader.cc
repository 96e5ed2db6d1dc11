// The Falco front end, reading half: YAML rules files into collected lists, macros and rules,
// with append/override applied in file order (see falco_loader.h).
#include "vigil/detect/falco_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <utility>

#include "falco_internal.h"

namespace vigil::detect {
namespace falco_internal {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<Severity> ParsePriority(std::string_view text) {
  std::string p = Lower(Trim(text));
  if (p == "emergency" || p == "alert" || p == "critical") return Severity::kCritical;
  if (p == "error") return Severity::kHigh;
  if (p == "warning") return Severity::kMedium;
  if (p == "notice") return Severity::kLow;
  if (p == "informational" || p == "info" || p == "debug") return Severity::kInfo;
  return Status::InvalidArgument("unknown priority '" + std::string(text) +
                                 "' (want emergency, alert, critical, error, warning, notice, "
                                 "informational or debug)");
}

void MergeExceptions(std::vector<ExceptionDef> extra, std::vector<ExceptionDef>* into) {
  for (ExceptionDef& ex : extra) {
    auto same = std::find_if(into->begin(), into->end(),
                             [&](const ExceptionDef& e) { return e.name == ex.name; });
    if (same == into->end()) {
      into->push_back(std::move(ex));
    } else {
      same->values.insert(same->values.end(), std::make_move_iterator(ex.values.begin()),
                          std::make_move_iterator(ex.values.end()));
    }
  }
}

}  // namespace

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// ---------------------------------------------------------------------------------------------
// Reading

Loc Loader::LocOf(const YAML::Node& node, int file) const {
  Loc loc;
  loc.file = file;
  YAML::Mark m = node.Mark();
  if (m.pos >= 0) loc.pos = static_cast<size_t>(m.pos);
  loc.line = m.line >= 0 ? m.line + 1 : 0;
  loc.col = m.column >= 0 ? m.column + 1 : 0;
  return loc;
}

std::string Loader::Where(const Loc& loc) const {
  std::string file = loc.file >= 0 ? names_[static_cast<size_t>(loc.file)] : "<unknown>";
  return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
}

Status Loader::Error(const Loc& loc, std::string_view reason) const {
  return Status::InvalidArgument(Where(loc) + ": " + std::string(reason));
}

Result<std::string> Loader::Scalar(const YAML::Node& node, int file, std::string_view what) const {
  if (!node.IsScalar()) {
    return Error(LocOf(node, file), std::string(what) + " must be a string");
  }
  return node.Scalar();
}

Result<std::vector<std::string>> Loader::ScalarList(const YAML::Node& node, int file,
                                                    std::string_view what) const {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) {
    return Error(LocOf(node, file), std::string(what) + " must be a list");
  }
  for (const YAML::Node& item : node) {
    if (item.IsNull()) continue;
    if (!item.IsScalar()) {
      return Error(LocOf(item, file), std::string(what) + " items must be strings");
    }
    out.push_back(item.Scalar());
  }
  return out;
}

Result<bool> Loader::Bool(const YAML::Node& node, int file, std::string_view what) const {
  if (node.IsScalar()) {
    std::string v = Lower(node.Scalar());
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
  }
  return Error(LocOf(node, file), std::string(what) + " must be true or false");
}

Status Loader::AddFile(std::string name, std::string content) {
  const int file = static_cast<int>(names_.size());
  names_.push_back(std::move(name));
  contents_.push_back(std::move(content));
  YAML::Node root;
  try {
    root = YAML::Load(contents_.back());
  } catch (const YAML::Exception& e) {
    Loc loc{file, 0, e.mark.line + 1, e.mark.column + 1};
    return Error(loc, "invalid YAML: " + e.msg);
  }
  if (!root || root.IsNull()) return Status::Ok();
  if (!root.IsSequence()) {
    return Error(LocOf(root, file), "a Falco rules file must be a list of items");
  }
  try {
    for (const YAML::Node& item : root) RETURN_IF_ERROR(AddItem(item, file));
  } catch (const YAML::Exception& e) {
    Loc loc{file, 0, e.mark.line + 1, e.mark.column + 1};
    return Error(loc, e.msg);
  }
  return Status::Ok();
}

Status Loader::AddItem(const YAML::Node& item, int file) {
  // A bare "-" (a null item), as in the k8saudit rules of plugin releases 0.1 to 0.7: Falco
  // skips it.
  if (item.IsNull()) return Status::Ok();
  if (!item.IsMap()) return Error(LocOf(item, file), "an item must be a map");
  if (item["rule"]) return AddRule(item, file);
  if (item["macro"]) return AddMacro(item, file);
  if (item["list"]) return AddList(item, file);
  if (const YAML::Node v = item["required_engine_version"]) {
    if (!v.IsScalar()) return Error(LocOf(v, file), "required_engine_version must be a scalar");
    info_.required_engine_versions.push_back(names_[static_cast<size_t>(file)] + ": " + v.Scalar());
    return Status::Ok();
  }
  if (const YAML::Node v = item["required_plugin_versions"]) {
    if (!v.IsSequence()) {
      return Error(LocOf(v, file), "required_plugin_versions must be a list");
    }
    for (const YAML::Node& p : v) {
      if (!p.IsMap() || !p["name"] || !p["name"].IsScalar()) {
        return Error(LocOf(p, file), "a required plugin needs a name");
      }
      std::string entry = p["name"].Scalar();
      if (p["version"] && p["version"].IsScalar()) entry += " " + p["version"].Scalar();
      info_.required_plugin_versions.push_back(std::move(entry));
    }
    return Status::Ok();
  }
  // Falco warns about and skips unknown top-level objects (newer files may add kinds).
  warnings_.push_back(Where(LocOf(item, file)) + ": unknown item skipped");
  return Status::Ok();
}

Status Loader::ReadModes(const YAML::Node& item, int file, const std::set<std::string>& appendable,
                         const std::set<std::string>& replaceable, bool* append,
                         std::map<std::string, std::string>* mode_of) {
  *append = false;
  if (const YAML::Node a = item["append"]) {
    ASSIGN_OR_RETURN(*append, Bool(a, file, "append"));
  }
  const YAML::Node o = item["override"];
  if (!o) return Status::Ok();
  if (*append) return Error(LocOf(o, file), "'append' and 'override' cannot be used together");
  if (!o.IsMap()) return Error(LocOf(o, file), "override must be a map of key: append|replace");
  for (const auto& kv : o) {
    ASSIGN_OR_RETURN(std::string key, Scalar(kv.first, file, "override key"));
    ASSIGN_OR_RETURN(std::string mode, Scalar(kv.second, file, "override mode"));
    const Loc loc = LocOf(kv.second, file);
    if (mode == "append") {
      if (!appendable.count(key)) return Error(loc, "key '" + key + "' cannot be appended");
    } else if (mode == "replace") {
      if (!replaceable.count(key)) return Error(loc, "key '" + key + "' cannot be replaced");
    } else {
      return Error(loc, "override mode must be append or replace, got '" + mode + "'");
    }
    if (!item[key]) {
      return Error(LocOf(kv.first, file),
                   "override of '" + key + "' but the item has no '" + key + "' key");
    }
    (*mode_of)[key] = mode;
  }
  return Status::Ok();
}

Status Loader::AddList(const YAML::Node& item, int file) {
  ASSIGN_OR_RETURN(std::string name, Scalar(item["list"], file, "list"));
  const Loc loc = LocOf(item, file);
  bool append = false;
  std::map<std::string, std::string> modes;
  RETURN_IF_ERROR(ReadModes(item, file, {"items"}, {"items"}, &append, &modes));
  if (!item["items"]) return Error(loc, "list '" + name + "' has no items");
  ASSIGN_OR_RETURN(std::vector<std::string> items, ScalarList(item["items"], file, "items"));
  auto it = lists_.find(name);
  if (append || !modes.empty()) {
    if (it == lists_.end()) {
      return Error(loc, "list '" + name + "' appends to or overrides a list that is not defined");
    }
    if (append || modes["items"] == "append") {
      it->second.items.insert(it->second.items.end(), items.begin(), items.end());
    } else {
      it->second.items = std::move(items);
    }
    return Status::Ok();
  }
  if (it == lists_.end()) list_order_.push_back(name);
  lists_[name] = ListDef{std::move(items), loc};
  return Status::Ok();
}

Status Loader::AddMacro(const YAML::Node& item, int file) {
  ASSIGN_OR_RETURN(std::string name, Scalar(item["macro"], file, "macro"));
  const Loc loc = LocOf(item, file);
  bool append = false;
  std::map<std::string, std::string> modes;
  RETURN_IF_ERROR(ReadModes(item, file, {"condition"}, {"condition"}, &append, &modes));
  const YAML::Node cond = item["condition"];
  if (!cond) return Error(loc, "macro '" + name + "' has no condition");
  ASSIGN_OR_RETURN(std::string text, Scalar(cond, file, "condition"));
  Piece piece{std::move(text), LocOf(cond, file)};
  auto it = macros_.find(name);
  if (append || !modes.empty()) {
    if (it == macros_.end()) {
      return Error(loc, "macro '" + name + "' appends to or overrides a macro that is not defined");
    }
    if (append || modes["condition"] == "append") {
      it->second.condition.push_back(std::move(piece));
    } else {
      it->second.condition = {std::move(piece)};
    }
    return Status::Ok();
  }
  macros_[name] = MacroDef{{std::move(piece)}, loc};
  return Status::Ok();
}

Result<ExceptionDef> Loader::ReadException(const YAML::Node& node, int file) {
  ExceptionDef ex;
  ex.loc = LocOf(node, file);
  if (!node.IsMap()) return Error(ex.loc, "an exception must be a map");
  if (!node["name"]) return Error(ex.loc, "an exception needs a name");
  ASSIGN_OR_RETURN(ex.name, Scalar(node["name"], file, "exception name"));
  if (const YAML::Node f = node["fields"]) {
    if (f.IsScalar()) {
      ex.single_field = true;
      ex.fields = {f.Scalar()};
    } else {
      ASSIGN_OR_RETURN(ex.fields, ScalarList(f, file, "exception fields"));
    }
  }
  if (const YAML::Node c = node["comps"]) {
    if (c.IsScalar()) {
      ex.comps = {c.Scalar()};
    } else {
      ASSIGN_OR_RETURN(ex.comps, ScalarList(c, file, "exception comps"));
    }
  }
  if (const YAML::Node v = node["values"]) {
    if (!v.IsNull() && !v.IsSequence()) {
      return Error(LocOf(v, file), "exception values must be a list");
    }
    auto read_value = [&](const YAML::Node& n) -> Result<ExValue> {
      ExValue value;
      if (n.IsSequence()) {
        value.is_list = true;
        ASSIGN_OR_RETURN(value.list, ScalarList(n, file, "exception value"));
      } else if (n.IsScalar()) {
        value.scalar = n.Scalar();
      } else {
        return Error(LocOf(n, file), "an exception value must be a string or a list");
      }
      return value;
    };
    for (const YAML::Node& tuple : v) {
      std::vector<ExValue> values;
      if (tuple.IsSequence() && !ex.single_field) {
        for (const YAML::Node& n : tuple) {
          ASSIGN_OR_RETURN(ExValue value, read_value(n));
          values.push_back(std::move(value));
        }
      } else {
        ASSIGN_OR_RETURN(ExValue value, read_value(tuple));
        values.push_back(std::move(value));
      }
      ex.values.push_back(std::move(values));
    }
  }
  return ex;
}

Result<std::vector<ExceptionDef>> Loader::ReadExceptions(const YAML::Node& node, int file) {
  std::vector<ExceptionDef> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) return Error(LocOf(node, file), "exceptions must be a list");
  for (const YAML::Node& n : node) {
    ASSIGN_OR_RETURN(ExceptionDef ex, ReadException(n, file));
    out.push_back(std::move(ex));
  }
  return out;
}

Status Loader::AddRule(const YAML::Node& item, int file) {
  ASSIGN_OR_RETURN(std::string name, Scalar(item["rule"], file, "rule"));
  const Loc loc = LocOf(item, file);
  auto fail = [&](const Loc& at, std::string_view reason) {
    return Error(at, "rule '" + name + "': " + std::string(reason));
  };
  bool append = false;
  std::map<std::string, std::string> modes;
  RETURN_IF_ERROR(
      ReadModes(item, file, {"condition", "output", "desc", "tags", "exceptions"},
                {"condition", "output", "desc", "priority", "tags", "exceptions", "enabled",
                 "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"},
                &append, &modes));

  // Everything the item says, read once.
  RuleDef d;
  d.name = name;
  d.loc = loc;
  if (const YAML::Node n = item["desc"]) {
    ASSIGN_OR_RETURN(std::string v, Scalar(n, file, "desc"));
    d.desc = Trim(v);
  }
  if (const YAML::Node n = item["condition"]) {
    ASSIGN_OR_RETURN(std::string v, Scalar(n, file, "condition"));
    d.condition.push_back(Piece{std::move(v), LocOf(n, file)});
  }
  if (const YAML::Node n = item["output"]) {
    ASSIGN_OR_RETURN(std::string v, Scalar(n, file, "output"));
    d.output = Trim(v);
  }
  if (const YAML::Node n = item["priority"]) {
    ASSIGN_OR_RETURN(std::string v, Scalar(n, file, "priority"));
    auto sev = ParsePriority(v);
    if (!sev.ok()) return fail(LocOf(n, file), sev.status().message());
    d.severity = *sev;
  }
  if (const YAML::Node n = item["source"]) {
    ASSIGN_OR_RETURN(d.source, Scalar(n, file, "source"));
  }
  if (const YAML::Node n = item["tags"]) {
    ASSIGN_OR_RETURN(d.tags, ScalarList(n, file, "tags"));
  }
  if (const YAML::Node n = item["enabled"]) {
    ASSIGN_OR_RETURN(d.enabled, Bool(n, file, "enabled"));
  }
  if (const YAML::Node n = item["skip-if-unknown-filter"]) {
    ASSIGN_OR_RETURN(d.skip_if_unknown_filter, Bool(n, file, "skip-if-unknown-filter"));
  }
  if (const YAML::Node n = item["exceptions"]) {
    ASSIGN_OR_RETURN(d.exceptions, ReadExceptions(n, file));
  }

  auto existing = rule_index_.find(name);
  const bool only_enabled = item.size() == 2 && item["enabled"];
  if (append || !modes.empty() || (only_enabled && existing != rule_index_.end())) {
    if (existing == rule_index_.end()) {
      return fail(loc, "appends to or overrides a rule that is not defined");
    }
    RuleDef& r = rules_[existing->second];
    if (append) {
      // Legacy append: the condition is concatenated, exceptions are merged.
      r.condition.insert(r.condition.end(), d.condition.begin(), d.condition.end());
      MergeExceptions(std::move(d.exceptions), &r.exceptions);
      return Status::Ok();
    }
    if (only_enabled) {
      r.enabled = d.enabled;
      return Status::Ok();
    }
    for (const auto& [key, mode] : modes) {
      const bool add = mode == "append";
      if (key == "condition") {
        if (!add) r.condition.clear();
        r.condition.insert(r.condition.end(), d.condition.begin(), d.condition.end());
      } else if (key == "output") {
        r.output = add ? r.output + " " + d.output : d.output;
      } else if (key == "desc") {
        r.desc = add ? r.desc + " " + d.desc : d.desc;
      } else if (key == "tags") {
        if (!add) r.tags.clear();
        for (const std::string& t : d.tags) {
          if (std::find(r.tags.begin(), r.tags.end(), t) == r.tags.end()) r.tags.push_back(t);
        }
      } else if (key == "exceptions") {
        if (!add) r.exceptions.clear();
        MergeExceptions(std::move(d.exceptions), &r.exceptions);
      } else if (key == "priority") {
        r.severity = d.severity;
      } else if (key == "enabled") {
        r.enabled = d.enabled;
      } else if (key == "skip-if-unknown-filter") {
        r.skip_if_unknown_filter = d.skip_if_unknown_filter;
      }
      // warn_evttypes, capture, capture_duration: accepted, no meaning for audit events.
    }
    return Status::Ok();
  }

  for (const char* key : {"condition", "output", "desc", "priority"}) {
    if (!item[key]) return fail(loc, std::string("missing '") + key + "'");
  }
  if (existing != rule_index_.end()) {
    // Falco replaces a redefined rule (it keeps its place in the order).
    rules_[existing->second] = std::move(d);
  } else {
    rule_index_[name] = rules_.size();
    rules_.push_back(std::move(d));
  }
  return Status::Ok();
}

}  // namespace falco_internal

namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open Falco rules file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read Falco rules file '" + path + "'");
  return ss.str();
}

}  // namespace

Result<RuleSet> LoadFalcoRulesFromStrings(const std::vector<FalcoRulesFile>& files,
                                          FalcoLoadInfo* info) {
  falco_internal::Loader loader;
  for (const FalcoRulesFile& f : files) RETURN_IF_ERROR(loader.AddFile(f.name, f.content));
  return loader.Finish(info);
}

Result<RuleSet> LoadFalcoRules(const std::vector<std::string>& paths, FalcoLoadInfo* info) {
  falco_internal::Loader loader;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(std::string content, ReadFile(path));
    RETURN_IF_ERROR(loader.AddFile(path, std::move(content)));
  }
  return loader.Finish(info);
}

}  // namespace vigil::detect

// The Sigma front end: reads Sigma rule files (yaml-cpp), keeps kubernetes/audit rules and turns
// each into a Rule of the IR (metadata, selections, condition). Loading happens at start or on
// reload, never on the event path; yaml-cpp exceptions are converted to Status here.
#include "vigil/detect/sigma_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "sigma_internal.h"

namespace vigil::detect {
namespace {

using sigma_internal::ErrorAt;
using sigma_internal::NamedSelection;
using sigma_internal::Where;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The scalar text of map[key], or "" when absent or not a scalar.
std::string ScalarOf(const YAML::Node& map, const char* key) {
  YAML::Node n = map[key];
  return n && n.IsScalar() ? n.Scalar() : std::string();
}

std::optional<Severity> SeverityOfLevel(const std::string& level) {
  std::string l = Lower(level);
  if (l == "informational") return Severity::kInfo;
  if (l == "low") return Severity::kLow;
  if (l == "medium") return Severity::kMedium;
  if (l == "high") return Severity::kHigh;
  if (l == "critical") return Severity::kCritical;
  return std::nullopt;
}

// "attack.t1552.007" -> "T1552.007"; empty when the tag is not an ATT&CK technique.
std::string AttackIdOfTag(std::string_view tag) {
  constexpr std::string_view kPrefix = "attack.";
  if (tag.size() <= kPrefix.size() ||
      Lower(std::string(tag.substr(0, kPrefix.size()))) != kPrefix) {
    return {};
  }
  std::string_view t = tag.substr(kPrefix.size());
  auto digits = [](std::string_view s, size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
             return std::isdigit(static_cast<unsigned char>(c));
           });
  };
  if (t.empty() || (t[0] != 't' && t[0] != 'T')) return {};
  std::string_view main = t.substr(1, 4);
  if (!digits(main, 4)) return {};
  std::string_view rest = t.substr(5);
  if (!rest.empty() && (rest[0] != '.' || !digits(rest.substr(1), 3))) return {};
  return "T" + std::string(t.substr(1));
}

// The message: who did what to which object, and which Sigma rule said so. A '{' in the title
// is doubled ("{{" is a literal brace in templates).
std::string OutputTemplate(const std::string& title) {
  std::string escaped;
  for (char c : title) {
    escaped += c;
    if (c == '{') escaped += '{';
  }
  return "{user.username} {verb} {objectRef.resource} {objectRef.namespace}/{objectRef.name} on "
         "cluster {cluster} (Sigma: " +
         escaped + ")";
}

// The offset of the first character of a scalar's text from its mark: 1 for quoted scalars.
int ScalarTextOffset(const YAML::Node& n) { return n.Tag() == "!" ? 1 : 0; }

// Re-anchors a condition parser error ("column N: reason") at the condition scalar's position.
Status ConditionError(const std::string& file, const YAML::Node& cond, const Status& s) {
  const std::string& m = s.message();
  YAML::Mark mark = cond.Mark();
  std::string reason = m;
  constexpr std::string_view kColumn = "column ";
  if (m.compare(0, kColumn.size(), kColumn) == 0) {
    size_t colon = m.find(": ");
    if (colon != std::string::npos) {
      int column = std::atoi(m.c_str() + kColumn.size());
      reason = m.substr(colon + 2);
      // Single-line scalars only: a block scalar's text starts on the next line.
      if (cond.Scalar().find('\n') == std::string::npos) {
        mark.column += ScalarTextOffset(cond) + column - 1;
      }
    }
  }
  return ErrorAt(file, mark, "condition: " + reason);
}

Result<ExprPtr> ConditionOf(const YAML::Node& detection, const YAML::Node& cond,
                            const std::vector<NamedSelection>& selections,
                            const std::string& file) {
  if (cond.IsScalar()) {
    auto parsed = sigma_internal::ParseSigmaCondition(cond.Scalar(), selections);
    if (!parsed.ok()) return ConditionError(file, cond, parsed.status());
    return parsed;
  }
  if (cond.IsSequence() && cond.size() > 0) {
    std::vector<ExprPtr> any;
    for (const YAML::Node& c : cond) {
      if (!c.IsScalar()) return ErrorAt(file, c.Mark(), "a condition must be text");
      ASSIGN_OR_RETURN(ExprPtr e, ConditionOf(detection, c, selections, file));
      any.push_back(std::move(e));
    }
    return Expr::Or(std::move(any));
  }
  return ErrorAt(file, cond.Mark(), "detection.condition must be text or a list of texts");
}

// Converts one YAML document. Appends the rule, or counts it as skipped.
Status LoadDocument(const YAML::Node& doc, const std::string& file, size_t doc_index,
                    size_t doc_count, RuleSet* out) {
  if (!doc.IsMap()) return ErrorAt(file, doc.Mark(), "a Sigma rule must be a YAML map");
  if (doc["action"]) {
    return ErrorAt(file, doc["action"].Mark(),
                   "Sigma rule collections ('action: global/reset/repeat') are not supported");
  }
  if (doc["correlation"]) {
    return ErrorAt(file, doc["correlation"].Mark(), "Sigma correlation rules are not supported");
  }
  const std::string title = ScalarOf(doc, "title");
  if (title.empty()) return ErrorAt(file, doc.Mark(), "a Sigma rule needs a 'title'");

  YAML::Node logsource = doc["logsource"];
  if (!logsource || !logsource.IsMap()) {
    return ErrorAt(file, doc.Mark(), "rule '" + title + "' has no 'logsource' map");
  }
  const std::string product = Lower(ScalarOf(logsource, "product"));
  const std::string service = Lower(ScalarOf(logsource, "service"));
  if (product != "kubernetes" || service != "audit") {
    ++out->skipped_other_source;
    out->warnings.push_back(Where(file, logsource.Mark()) + ": skipped Sigma rule '" + title +
                            "': logsource product=" + product + " service=" + service +
                            " is not kubernetes/audit");
    return Status::Ok();
  }

  Rule rule;
  rule.origin = RuleOrigin::kSigma;
  rule.name = title;
  rule.source.file = file;
  rule.source.line = doc.Mark().line + 1;
  rule.source.column = doc.Mark().column + 1;
  std::string id = ScalarOf(doc, "id");
  if (id.empty()) {
    std::string stem = std::filesystem::path(file).stem().string();
    id = doc_count > 1 ? stem + "." + std::to_string(doc_index) : stem;
    out->warnings.push_back(Where(file, doc.Mark()) + ": Sigma rule '" + title +
                            "' has no id; using 'sigma." + id + "'");
  }
  rule.id = "sigma." + id;
  rule.description = ScalarOf(doc, "description");
  while (!rule.description.empty() && rule.description.back() == '\n') rule.description.pop_back();

  if (YAML::Node level = doc["level"]) {
    auto sev = level.IsScalar() ? SeverityOfLevel(level.Scalar()) : std::nullopt;
    if (!sev) {
      return ErrorAt(file, level.Mark(),
                     "unknown level (expected informational, low, medium, high or critical)");
    }
    rule.severity = *sev;
  } else {
    out->warnings.push_back(Where(file, doc.Mark()) + ": Sigma rule '" + title +
                            "' has no level; using medium");
  }

  if (YAML::Node tags = doc["tags"]) {
    if (!tags.IsSequence()) return ErrorAt(file, tags.Mark(), "'tags' must be a list");
    for (const YAML::Node& t : tags) {
      if (!t.IsScalar()) return ErrorAt(file, t.Mark(), "a tag must be text");
      std::string attack = AttackIdOfTag(t.Scalar());
      if (!attack.empty()) {
        if (std::find(rule.attack_ids.begin(), rule.attack_ids.end(), attack) ==
            rule.attack_ids.end()) {
          rule.attack_ids.push_back(std::move(attack));
        }
      } else {
        rule.tags.push_back(t.Scalar());
      }
    }
  }
  const std::string status = Lower(ScalarOf(doc, "status"));
  if (!status.empty()) {
    rule.tags.push_back("sigma.status." + status);
    if (status == "deprecated" || status == "unsupported") {
      rule.enabled = false;
      ++out->disabled;
      out->warnings.push_back(Where(file, doc.Mark()) + ": Sigma rule '" + title + "' is " +
                              status + "; loaded disabled");
    }
  }
  rule.references.push_back("sigma:" + title);
  rule.output = OutputTemplate(title);

  YAML::Node detection = doc["detection"];
  if (!detection || !detection.IsMap()) {
    return ErrorAt(file, doc.Mark(), "rule '" + title + "' has no 'detection' map");
  }
  std::vector<NamedSelection> selections;
  YAML::Node condition;
  bool has_condition = false;
  for (auto it = detection.begin(); it != detection.end(); ++it) {
    if (!it->first.IsScalar()) {
      return ErrorAt(file, it->first.Mark(), "a detection key must be a name");
    }
    const std::string& name = it->first.Scalar();
    if (name == "condition") {
      condition = it->second;
      has_condition = true;
      continue;
    }
    if (name == "timeframe") {
      out->warnings.push_back(Where(file, it->first.Mark()) +
                              ": 'timeframe' ignored (aggregations are not supported)");
      continue;
    }
    ASSIGN_OR_RETURN(ExprPtr e, sigma_internal::SelectionToExpr(it->second, file));
    selections.push_back(NamedSelection{name, std::move(e)});
  }
  if (!has_condition) {
    return ErrorAt(file, detection.Mark(), "rule '" + title + "' has no detection.condition");
  }
  ASSIGN_OR_RETURN(rule.condition, ConditionOf(detection, condition, selections, file));
  out->rules.push_back(std::move(rule));
  return Status::Ok();
}

Status LoadText(std::string_view text, const std::string& file, RuleSet* out) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return ErrorAt(file, e.mark, "YAML: " + e.msg);
  }
  size_t count = 0;
  for (const YAML::Node& d : docs) count += d.IsNull() ? 0 : 1;
  size_t index = 0;
  for (const YAML::Node& d : docs) {
    if (d.IsNull()) continue;
    try {
      RETURN_IF_ERROR(LoadDocument(d, file, index++, count, out));
    } catch (const YAML::Exception& e) {
      return ErrorAt(file, e.mark, "YAML: " + e.msg);
    }
  }
  return Status::Ok();
}

Status CheckUniqueIds(const RuleSet& set) {
  std::map<std::string_view, const Rule*> seen;
  for (const Rule& r : set.rules) {
    auto [it, inserted] = seen.emplace(r.id, &r);
    if (!inserted) {
      const RuleSource& s = r.source;
      const RuleSource& f = it->second->source;
      return Status::InvalidArgument(s.file + ":" + std::to_string(s.line) + ":" +
                                     std::to_string(s.column) + ": duplicate rule id '" + r.id +
                                     "' (first defined at " + f.file + ":" +
                                     std::to_string(f.line) + ":" + std::to_string(f.column) + ")");
    }
  }
  return Status::Ok();
}

Status LoadFile(const std::string& path, RuleSet* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open Sigma rule file");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::IoError(path + ": cannot read Sigma rule file");
  return LoadText(buf.str(), path, out);
}

bool IsYamlFile(const std::filesystem::path& p) {
  std::string ext = Lower(p.extension().string());
  return ext == ".yml" || ext == ".yaml";
}

}  // namespace

Result<RuleSet> LoadSigmaRules(const std::vector<std::string>& paths) {
  RuleSet set;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::string> files;
      for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end;
           it.increment(ec)) {
        std::error_code fec;
        if (it->is_regular_file(fec) && IsYamlFile(it->path())) {
          files.push_back(it->path().string());
        }
      }
      if (ec) return Status::IoError(path + ": cannot list directory: " + ec.message());
      std::sort(files.begin(), files.end());
      for (const std::string& f : files) RETURN_IF_ERROR(LoadFile(f, &set));
    } else {
      RETURN_IF_ERROR(LoadFile(path, &set));
    }
  }
  RETURN_IF_ERROR(CheckUniqueIds(set));
  return set;
}

Result<RuleSet> LoadSigmaRuleFromString(std::string_view yaml, std::string_view name) {
  RuleSet set;
  RETURN_IF_ERROR(LoadText(yaml, std::string(name), &set));
  RETURN_IF_ERROR(CheckUniqueIds(set));
  return set;
}

}  // namespace vigil::detect

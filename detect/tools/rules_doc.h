// Renders docs/rules.md (the table of the built-in rule pack) from a loaded RuleSet. Shared by the
// vigil_rules_doc tool, which writes the file, and the pack test, which checks it is up to date.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/finding.h"
#include "vigil/detect/rule.h"

namespace vigil::detect::tools {

// Markdown table cells: no line breaks, and '|' escaped.
inline std::string MdCell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// The references of `rule` whose tool prefix is `tool` ("falco"), without the prefix, joined.
inline std::string RefsOf(const Rule& rule, std::string_view tool) {
  std::string out;
  for (const std::string& ref : rule.references) {
    if (ref.size() <= tool.size() + 1 || ref.compare(0, tool.size(), tool) != 0 ||
        ref[tool.size()] != ':') {
      continue;
    }
    if (!out.empty()) out += "; ";
    out += ref.substr(tool.size() + 1);
  }
  return out;
}

// References of tools without a column of their own (splunk, datadog, azure, ...).
inline std::string OtherRefs(const Rule& rule) {
  std::string out;
  for (const std::string& ref : rule.references) {
    std::string_view tool = std::string_view(ref).substr(0, ref.find(':'));
    if (tool == "falco" || tool == "sigma" || tool == "elastic" || tool == "panther") continue;
    if (!out.empty()) out += "; ";
    out += ref;
  }
  return out;
}

inline std::string Keys(const std::vector<KeyExpr>& keys) {
  std::string out;
  for (const KeyExpr& k : keys) out += (out.empty() ? "" : ", ") + k.text;
  return out;
}

inline std::string Duration(int64_t us) {
  const int64_t s = us / 1'000'000;
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// "threshold: 10 within 30m per sourceIPs[0]" and the like.
inline std::string StatefulSummary(const StatefulSpec& st) {
  std::string per = st.group_by.empty() ? "per cluster" : "per " + Keys(st.group_by);
  switch (st.kind) {
    case StatefulSpec::Kind::kThreshold:
      return "threshold: " + std::to_string(st.count) + " events within " +
             Duration(st.window_us) + " " + per;
    case StatefulSpec::Kind::kDistinct:
      return "distinct: " + std::to_string(st.count) + " " + Keys(st.field) + " within " +
             Duration(st.window_us) + " " + per;
    case StatefulSpec::Kind::kNewTerms:
      return "new_terms: " + (st.terms.empty() ? std::string("first seen") : Keys(st.terms)) +
             " " + per + ", after " + Duration(st.learning_us) + " of learning";
    case StatefulSpec::Kind::kSequence:
      return "sequence of " + std::to_string(st.steps.size()) + " steps within " +
             Duration(st.window_us) + (st.group_by.empty() ? "" : " " + per);
  }
  return "";
}

inline std::string RenderRulesMarkdown(const RuleSet& set) {
  std::string md =
      "# Built-in rule pack\n\n"
      "Generated from `detect/rules/*.yaml` by `vigil_rules_doc` (see detect/README.md, \"Built-in "
      "rule pack\"); do not edit by hand. Rules marked *opt-in* ship disabled.\n\n";
  size_t enabled = 0;
  for (const Rule& r : set.rules) enabled += r.enabled ? 1 : 0;
  md += std::to_string(set.rules.size()) + " rules, " + std::to_string(enabled) + " enabled.\n\n";
  md += "| id | severity | ATT&CK | detects | Falco | Sigma | Elastic | Panther | other |\n";
  md += "|---|---|---|---|---|---|---|---|---|\n";
  for (const Rule& r : set.rules) {
    std::string attack;
    for (const std::string& a : r.attack_ids) {
      if (!attack.empty()) attack += ", ";
      attack += a;
    }
    std::string detects =
        "**" + r.name + "**" + (r.enabled ? "" : " *(opt-in)*") +
        (r.stateful ? " *(" + StatefulSummary(*r.stateful) + ")*" : "") + ": " + r.description;
    md += "| `" + MdCell(r.id) + "` | " + std::string(SeverityName(r.severity)) + " | " +
          MdCell(attack) + " | " + MdCell(detects) + " | " + MdCell(RefsOf(r, "falco")) + " | " +
          MdCell(RefsOf(r, "sigma")) + " | " + MdCell(RefsOf(r, "elastic")) + " | " +
          MdCell(RefsOf(r, "panther")) + " | " + MdCell(OtherRefs(r)) + " |\n";
  }
  return md;
}

}  // namespace vigil::detect::tools

// `vigil rules` subcommands.
#include "vigil/app/rules_cli.h"

#include <algorithm>

#include "vigil/app/output.h"
#include "vigil/app/rules.h"
#include "vigil/core/json_writer.h"
#include "vigil/detect/lint.h"
#include "vigil/detect/rule_engine.h"
#include "vigil/detect/stateful_detector.h"
#include "vigil/ingest/audit_event_parser.h"

namespace vigil::app {
namespace {

std::string Where(const detect::RuleSource& s) {
  std::string w = s.file.empty() ? "<builtin>" : s.file;
  if (s.line > 0) w += ":" + std::to_string(s.line) + ":" + std::to_string(s.column);
  return w;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// Markdown table cell: pipes escaped, newlines folded.
std::string Cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

int RunRulesTest(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  auto rules = LoadRules(paths);
  if (!rules.ok()) {
    err << "vigil: " << rules.status().message() << '\n';
    return 2;
  }
  auto engine = detect::RuleEngine::Compile(*rules);
  if (!engine.ok()) {
    err << "vigil: " << engine.status().message() << '\n';
    return 2;
  }
  ingest::AuditEventParser parser;
  AuditEvent event;
  ingest::ParseReport report;
  const auto& defs = (*engine)->rule_defs();
  size_t rules_failed = 0, cases = 0, cases_failed = 0, untested = 0;
  for (size_t i = 0; i < defs.size(); ++i) {
    const detect::Rule& rule = defs[i];
    if (rule.tests.empty() && rule.stateful_tests.empty()) {
      ++untested;
      continue;
    }
    std::vector<std::string> failures;
    for (const detect::StatefulTest& t : rule.stateful_tests) {
      ++cases;
      // Parsed events view their text: keep every event's parser alive until the run.
      std::vector<std::unique_ptr<ingest::AuditEventParser>> parsers;
      std::vector<std::unique_ptr<AuditEvent>> parsed;
      std::vector<const AuditEvent*> events;
      std::string bad;
      for (size_t k = 0; k < t.events_json.size() && bad.empty(); ++k) {
        parsers.push_back(std::make_unique<ingest::AuditEventParser>());
        parsed.push_back(std::make_unique<AuditEvent>());
        ingest::ParseReport r;
        Status s = parsers.back()->Parse(t.events_json[k], parsed.back().get(), &r);
        if (!s.ok()) {
          bad = "event " + std::to_string(k + 1) + " is not a valid audit Event: " + s.message();
        }
        parsed.back()->cluster = "test";
        events.push_back(parsed.back().get());
      }
      if (bad.empty()) bad = detect::RunStatefulTest(**engine, i, t, events);
      if (!bad.empty()) failures.push_back(Where(t.source) + ": test '" + t.name + "': " + bad);
    }
    for (const detect::RuleTest& t : rule.tests) {
      ++cases;
      Status s = parser.Parse(t.event_json, &event, &report);
      if (!s.ok()) {
        failures.push_back(Where(t.source) + ": test '" + t.name +
                           "': the test event is not a valid audit Event: " + s.message());
        continue;
      }
      event.cluster = "test";
      const bool matched = (*engine)->Matches(i, event);
      if (matched != t.expect_match) {
        failures.push_back(Where(t.source) + ": test '" + t.name + "': expected " +
                           (t.expect_match ? "a match" : "no match") + ", got " +
                           (matched ? "a match" : "no match"));
      }
    }
    cases_failed += failures.size();
    if (failures.empty()) {
      out << "PASS " << rule.id << " (" << rule.tests.size() + rule.stateful_tests.size()
          << " tests)\n";
    } else {
      ++rules_failed;
      out << "FAIL " << rule.id << '\n';
      for (const std::string& f : failures) out << "     " << SanitizeForTerminal(f) << '\n';
    }
  }
  out << defs.size() << " rules, " << cases << " tests: " << (cases - cases_failed)
      << " passed, " << cases_failed << " failed";
  if (untested) out << "; " << untested << " rules have no tests";
  out << '\n';
  return rules_failed == 0 ? 0 : 1;
}

int RunRulesLint(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  auto rules = LoadRules(paths);
  if (!rules.ok()) {
    err << "vigil: " << rules.status().message() << '\n';
    return 2;
  }
  size_t errors = 0, warnings = 0;
  for (const detect::LintIssue& issue : detect::LintRuleSet(*rules)) {
    const bool is_error = issue.severity == detect::LintIssue::kError;
    (is_error ? errors : warnings)++;
    out << Where(issue.source) << ": " << (is_error ? "error" : "warning") << ": rule '"
        << issue.rule_id << "': " << SanitizeForTerminal(issue.message) << '\n';
  }
  out << rules->rules.size() << " rules: " << errors << " errors, " << warnings << " warnings\n";
  return errors == 0 ? 0 : 1;
}

int RunRulesList(const std::vector<std::string>& paths, const std::string& format,
                 std::ostream& out, std::ostream& err) {
  auto loaded = LoadRules(paths);
  if (!loaded.ok()) {
    err << "vigil: " << loaded.status().message() << '\n';
    return 2;
  }
  std::vector<detect::Rule> rules = loaded->rules;
  std::sort(rules.begin(), rules.end(),
            [](const detect::Rule& a, const detect::Rule& b) { return a.id < b.id; });
  if (format == "json") {
    for (const detect::Rule& r : rules) {
      std::string line = "{\"id\":";
      AppendJsonString(r.id, &line);
      line += ",\"name\":";
      AppendJsonString(r.name, &line);
      line += ",\"severity\":";
      AppendJsonString(SeverityName(r.severity), &line);
      line += ",\"enabled\":";
      line += r.enabled ? "true" : "false";
      line += ",\"attack_ids\":[";
      for (size_t i = 0; i < r.attack_ids.size(); ++i) {
        if (i) line += ',';
        AppendJsonString(r.attack_ids[i], &line);
      }
      line += "],\"references\":[";
      for (size_t i = 0; i < r.references.size(); ++i) {
        if (i) line += ',';
        AppendJsonString(r.references[i], &line);
      }
      line += "],\"description\":";
      AppendJsonString(r.description, &line);
      line += "}";
      out << line << '\n';
    }
    return 0;
  }
  if (format == "md") {
    out << "| id | severity | ATT&CK | what it detects | corresponds to |\n"
        << "|---|---|---|---|---|\n";
    for (const detect::Rule& r : rules) {
      out << "| `" << r.id << "` | " << SeverityName(r.severity) << " | "
          << Join(r.attack_ids, ", ") << " | " << Cell(r.name) << ": "
          << Cell(r.description) << " | " << Cell(Join(r.references, "; ")) << " |\n";
    }
    return 0;
  }
  for (const detect::Rule& r : rules) {
    std::string id = r.id;
    id.resize(std::max<size_t>(id.size(), 44), ' ');
    std::string sev(SeverityName(r.severity));
    sev.resize(9, ' ');
    out << id << "  " << sev << Join(r.attack_ids, ",") << (r.enabled ? "" : "  (disabled)")
        << '\n';
  }
  out << rules.size() << " rules\n";
  return 0;
}

}  // namespace vigil::app

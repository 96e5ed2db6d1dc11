// `vigil rules test|lint|list`: checking rule files before they go live.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace vigil::app {

// Runs every rule's inline tests (event -> expected match). Prints PASS/FAIL per rule and the
// reason of each failed case. Returns 0 when all pass, 1 when any fails, 2 when the files
// cannot be loaded. Empty `paths`: the built-in pack.
int RunRulesTest(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

// Reports fields that never exist in a raw audit event, number/string type mismatches and
// conditions that can never be true, as "file:line:col: error|warning: rule 'id': message".
// Returns 0 when there is no error, 1 otherwise, 2 when the files cannot be loaded.
int RunRulesLint(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

// Lists the rules: "table", "json" (one object per rule) or "md" (the docs/rules.md table).
int RunRulesList(const std::vector<std::string>& paths, const std::string& format,
                 std::ostream& out, std::ostream& err);

}  // namespace vigil::app

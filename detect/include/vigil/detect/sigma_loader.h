// The Sigma front end: loads Sigma rules for `logsource: {product: kubernetes, service: audit}`
// and builds the rule IR (rule.h) directly. Rules of other log sources are skipped and counted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

// Loads Sigma rule files in order. A path that names a directory loads its *.yml and *.yaml
// files (not recursive), sorted by name. Each YAML document of a file is one rule.
// Returns InvalidArgument "file:line:column: reason" for the first bad rule (unknown modifier,
// a selection the condition names but the detection lacks, an aggregation such as
// `| count() by x > 5`, a malformed field value, duplicate ids ...): a bad file fails the whole
// load. IoError when a path cannot be read. Rules of another logsource are not returned; they
// are counted in RuleSet::skipped_other_source with a warning.
Result<RuleSet> LoadSigmaRules(const std::vector<std::string>& paths);

// Loads the Sigma rule(s) in `yaml`; `name` stands for the file name in errors and
// Rule::source. Same contract as LoadSigmaRules.
Result<RuleSet> LoadSigmaRuleFromString(std::string_view yaml, std::string_view name);

}  // namespace vigil::detect

// The loader of Vigil's native rule format (YAML; documented in detect/README.md, "Native rule
// format"): rules, macros and lists, turned into the rule IR.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/embedded_file.h"
#include "vigil/core/status.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

// Loads the native rule files in `paths`, in order. A path that is a directory stands for its
// *.yaml and *.yml files, sorted by name. Macros and lists are visible to every item after their
// definition, in the same file or a later one. All or nothing: on the first error nothing is
// returned, and the Status message is "file:line:column: reason" (InvalidArgument), or an
// IoError naming the path when a file cannot be read. Rules with `enabled: false` are returned
// (enabled = false) and counted in RuleSet::disabled. Loading only reads files; it is
// thread-compatible and may throw nothing.
Result<RuleSet> LoadNativeRules(const std::vector<std::string>& paths);

// Loads one rule file held in memory; `name` stands for the file in error messages and in
// RuleSource::file.
Result<RuleSet> LoadNativeRulesFromString(std::string_view yaml, std::string_view name);

// Loads files held in memory (e.g. the embedded built-in pack) together, in order, as
// LoadNativeRules does with paths; EmbeddedFile::name stands for each file in messages.
Result<RuleSet> LoadNativeRulesFromFiles(std::span<const EmbeddedFile> files);

}  // namespace vigil::detect

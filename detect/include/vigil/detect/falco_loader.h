// The Falco front end: loads Falco rules files (k8s_audit source) into Vigil's rule IR, with
// Falco's semantics for lists, macros, append/override, exceptions, priorities and outputs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

// A rules file given by content (tests, fuzzers, rules received over the API).
struct FalcoRulesFile {
  std::string name;  // used in error messages as the file name
  std::string content;
};

// What a load saw besides rules: the files' version requirements (accepted, never enforced).
struct FalcoLoadInfo {
  std::vector<std::string> required_engine_versions;  // "file: 15"
  std::vector<std::string> required_plugin_versions;  // "k8saudit 0.18.0"
};

// Loads the files in order, as Falco's repeated `-r`: a later file may append to or override
// the lists, macros and rules of an earlier one, and macros/lists may be used before they are
// defined (they are resolved once every file is read). Only `source: k8s_audit` rules become
// Rules (id "falco.<slug of name>", name = the Falco rule name, origin kFalco); rules of other
// sources are counted in skipped_other_source and never compiled, while their files' lists and
// macros stay usable by k8s_audit rules. A macro is parsed only when a k8s_audit rule uses it.
//
// Errors: InvalidArgument "file:line:col: reason" (YAML syntax, a bad item, an unknown field in
// a k8s_audit rule or in a macro it uses, append to something undefined, ...). One bad file
// fails the whole load. IoError when a file cannot be read.
Result<RuleSet> LoadFalcoRules(const std::vector<std::string>& paths,
                               FalcoLoadInfo* info = nullptr);
Result<RuleSet> LoadFalcoRulesFromStrings(const std::vector<FalcoRulesFile>& files,
                                          FalcoLoadInfo* info = nullptr);

// Converts a Falco output into a Rule::output template: "%ka.user.name" -> "{user.username}",
// "%jevt.value[/x/y]" -> "{x.y}". A %token that is not a supported k8s_audit field (or maps to
// a path no audit event has) keeps its literal text; a literal '{' is escaped as "{{".
// `names`, when given, receives (canonical path, Falco field as written) for each converted
// field, once per path (Rule::output_names).
std::string ConvertFalcoOutput(std::string_view output,
                               std::vector<std::pair<std::string, std::string>>* names = nullptr);

}  // namespace vigil::detect

// Internals of the Sigma front end (sigma_loader.cc): the condition parser and the translation
// of one detection selection into the rule IR. Not a public interface.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/rule.h"

namespace vigil::detect::sigma_internal {

struct NamedSelection {
  std::string name;
  ExprPtr expr;
};

// Parses a Sigma condition over the selection names:
//   or := and ("or" and)*   and := not ("and" not)*   not := "not" not | primary
//   primary := "(" or ")" | ("1" | "all") "of" (them | PATTERN) | NAME
// PATTERN may use * and ?; `them` means every selection whose name does not start with "_".
// Keywords are case-insensitive. Errors are InvalidArgument "column N: reason" (1-based in
// `text`): unknown selection, a pattern that matches nothing, aggregations (`| count()`),
// `near`, other quantities than 1/all, syntax errors.
Result<ExprPtr> ParseSigmaCondition(std::string_view text,
                                    const std::vector<NamedSelection>& selections);

// Translates one selection (a map: AND of field conditions; a list of maps: OR) into an
// expression. Errors are InvalidArgument "file:line:column: reason".
Result<ExprPtr> SelectionToExpr(const YAML::Node& node, const std::string& file);

// "file:line:column: reason" at a YAML mark (yaml-cpp marks are 0-based).
Status ErrorAt(const std::string& file, const YAML::Mark& mark, std::string_view reason);
std::string Where(const std::string& file, const YAML::Mark& mark);

// True when `pattern` (with * and ? wildcards) matches all of `text`.
bool WildcardMatch(std::string_view pattern, std::string_view text);

}  // namespace vigil::detect::sigma_internal

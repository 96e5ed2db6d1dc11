// The condition language shared by the native rule format and the Falco front end:
//
//   expr      := or
//   or        := and ("or" and)*
//   and       := not ("and" not)*
//   not       := "not" not | primary
//   primary   := "(" expr ")" | predicate | MACRO
//   predicate := ["any" | "all"] FIELD OP values | FIELD "exists"
//   OP        := = == != < <= > >= in intersects contains icontains startswith endswith
//                glob regex cidr | "is_private_ip" | "is_public_ip"  (the last two take no values)
//   values    := value | "(" [value ("," value)*] ")"     a LIST name inside (...) expands
//   value     := "double quoted" | 'single quoted' | bare word (anything up to space , ) )
//
// Keywords are case-sensitive and lower-case. A bare identifier where a predicate is expected
// is a macro. The front end decides what a FIELD token means (canonical paths for native rules,
// ka.* / jevt.value[...] for Falco) through ConditionContext.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

struct ResolvedField {
  FieldRef field;
  // Quantifier applied to `in` (Falco: a list-valued field is "in" a set when all its values
  // are, while `intersects` needs any). Everything else uses kAny unless "all" is written.
  Quantifier in_quantifier = Quantifier::kAny;
};

struct ConditionContext {
  // Maps a field token as written to a canonical field. InvalidArgument for an unknown field.
  std::function<Result<ResolvedField>(std::string_view token)> resolve_field;
  // A macro's expression, or nullptr when `name` is not a macro.
  std::function<ExprPtr(std::string_view name)> resolve_macro;
  // A list's items, or nullptr when `name` is not a list.
  std::function<const std::vector<std::string>*(std::string_view name)> resolve_list;
};

// Parses `text`. On error: InvalidArgument whose message starts with "column N: " (1-based,
// counted in `text`) so the caller can turn it into file:line:column.
Result<ExprPtr> ParseCondition(std::string_view text, const ConditionContext& context);

// True when `token` looks like a field token of the native syntax (starts with a letter and has
// no spaces) — helpers for front ends that need to tell fields from macros.
bool IsIdentifier(std::string_view token);

}  // namespace vigil::detect

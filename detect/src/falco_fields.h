// The Falco k8s_audit field table: maps the k8saudit plugin's ka.* fields and the json plugin's
// jevt.* fields, as written in Falco rules, to Vigil's canonical field paths (rule.h).
#pragma once

#include <string>
#include <string_view>

#include "vigil/core/status.h"
#include "vigil/detect/condition.h"

namespace vigil::detect {

// A private path that jevt.rawtime resolves to in conditions. It never reaches the engine: the
// Falco loader folds `exists` (always true, as every Falco event has a time), `= 0` (never) and
// `!= 0`, and reads other comparisons on kFalcoRawTimeValue. Outputs print kFalcoRawTimeValue.
inline constexpr std::string_view kFalcoRawTimePath = "@jevt.rawtime";
// The event time as Falco has it (the plugin's is stageTimestamp), nanoseconds since the epoch.
inline constexpr std::string_view kFalcoRawTimeValue = "stageTimestamp|unixnano";

// A private path for a field that always yields "true" (ka.req.binding.subject.has_name). It
// never reaches the engine: the Falco loader folds predicates on it, outputs print "true".
inline constexpr std::string_view kFalcoTruePath = "@true";

// Resolves a field token as written in a Falco condition or output: "ka.user.name",
// "ka.uri.param[command]", "ka.req.pod.containers.image[0]", "jevt.value[/requestObject/spec]".
// List fields (ka.user.groups, ka.req.pod.containers.*, ...) get in_quantifier = kAll: Falco's
// `in` on a list field needs every value in the set (`intersects` needs one).
// Errors (InvalidArgument): "unknown field 'x'" for a field that is not a k8s_audit field;
// "field 'x' is not supported: why" for a plugin field Vigil cannot express; a missing or
// malformed [argument].
Result<ResolvedField> ResolveFalcoField(std::string_view token);

// True when the error status came from a field that is unknown (as opposed to unsupported),
// i.e. ResolveFalcoField's message starts with "unknown field".
bool IsUnknownFalcoFieldError(const Status& status);

// "/requestObject/spec/containers/0/image" -> "requestObject.spec.containers[0].image";
// "~1" and "~0" are unescaped; keys that are not plain identifiers use ["key"].
// InvalidArgument for an empty pointer or one that does not start with '/'.
Result<std::string> JsonPointerToPath(std::string_view pointer);

}  // namespace vigil::detect

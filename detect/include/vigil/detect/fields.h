// The schema of the fields rules can read: which canonical paths exist in a raw audit event,
// and their types. Used by the engine (to compile field accessors) and by the linter.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"

namespace vigil::detect {

enum class FieldType : uint8_t {
  kString,     // text
  kNumber,     // responseStatus.code
  kTimestamp,  // RFC 3339 text, compares as time
  kJson,       // inside requestObject/responseObject: any JSON type, decided per event
};

// One parsed step of a path: .key / ["key"] / [N] / [*].
struct PathStep {
  enum class Kind : uint8_t { kKey, kIndex, kAnyIndex };
  Kind kind = Kind::kKey;
  std::string key;
  size_t index = 0;
};

struct FieldSpec {
  std::string canonical;         // normalised text of the path
  bool known = false;            // false: no raw audit event ever has this field (lint error)
  bool multi = false;            // may yield several values (arrays, [*])
  FieldType type = FieldType::kString;
  std::vector<PathStep> steps;   // all steps of the path, top-level name first
};

// Parses and classifies a canonical path. InvalidArgument only for a syntactically broken path
// ("requestObject.spec[", "a..b"); an unknown but well-formed path gives known = false.
Result<FieldSpec> DescribeField(std::string_view path);

}  // namespace vigil::detect

// Internal: a canonical field path parsed into what the engine needs to read it (which
// AuditEvent member, which key, which JSON steps, which transform). Shared by fields.cc
// (DescribeField), the rule engine and the linter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/fields.h"

namespace vigil::detect::internal {

enum class Transform : uint8_t { kNone, kRepository, kJson, kLower, kCount, kUaFamily };

// The AuditEvent member a path reads. kUnknown: a well-formed path no raw event has.
enum class TopField : uint8_t {
  kUnknown,
  kApiVersion,
  kKind,
  kLevel,
  kAuditId,
  kStage,
  kRequestUri,
  kUriPath,
  kUriQuery,  // key = parameter name
  kVerb,
  kUserAgent,
  kCluster,
  kSourceIps,
  kUser,  // the whole object (exists)
  kUserUsername,
  kUserUid,
  kUserGroups,
  kUserExtra,  // key = extra key
  kImpUser,
  kImpUsername,
  kImpUid,
  kImpGroups,
  kImpExtra,
  kObjectRef,
  kObjResource,
  kObjNamespace,
  kObjName,
  kObjUid,
  kObjApiGroup,
  kObjApiVersion,
  kObjResourceVersion,
  kObjSubresource,
  kResponseStatus,
  kRespCode,
  kRespStatus,
  kRespReason,
  kRespMessage,
  kAnnotations,  // the whole map (exists)
  kAnnotation,   // key = annotation key
  kRequestReceivedTs,
  kStageTs,
  kRequestObject,   // json_steps = steps below requestObject
  kResponseObject,  // json_steps = steps below responseObject
};

struct ParsedField {
  FieldSpec spec;
  Transform transform = Transform::kNone;
  TopField top = TopField::kUnknown;
  std::string key;  // annotation / extra key, query parameter name
  // For list-valued members (groups, sourceIPs, extra values, query values): [N] selects one.
  bool has_index = false;
  size_t index = 0;
  std::vector<PathStep> json_steps;  // for kRequestObject / kResponseObject
};

// Parses and classifies `path` (see rule.h for the syntax). InvalidArgument for a broken path.
Result<ParsedField> ParseField(std::string_view path);

std::string_view TransformName(Transform t);

}  // namespace vigil::detect::internal

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

enum class Transform : uint8_t {
  kNone,
  kRepository,
  kJson,
  kLower,
  kCount,
  kUaFamily,
  // The k8saudit plugin's computed fields, on the object values of a path (see rule.h).
  kUnixNano,   // a timestamp as nanoseconds since the epoch, as text
  kTypeKeys,   // each key of an object but "name" (a volume's type)
  kEffective,  // a container's securityContext.<arg>, else the pod's, else 0
  kSubject,    // the name of each RBAC subject of kind <arg>
  kSubjectNs,  // "namespace:name" of each RBAC subject of kind <arg> that has a namespace
  kPathMatch,  // "true" when a volume's hostPath.path is <arg> (or starts with it, arg ending
               // in '*'), "false" when none is; absent without volumes
  kPodTarget,  // the values only when the event targets a pod (resource pods, no subresource)
};

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
  kRawEvent,        // "event": the whole event as its JSON text
  kRequestObject,   // json_steps = steps below requestObject
  kResponseObject,  // json_steps = steps below responseObject
};

struct ParsedField {
  FieldSpec spec;
  Transform transform = Transform::kNone;
  std::string transform_arg;  // kEffective, kSubject, kSubjectNs, kPathMatch: after the ':'
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

// AuditEvent: the parsed view of one Kubernetes audit.k8s.io Event (v1 and v1beta1).
//
// Ownership: every string_view points into buffers owned by the parser that filled the event
// (its input buffer or its string buffer). The event is valid until that parser parses again;
// whoever needs a field longer (a Finding, the store) copies it. requestObject/responseObject are
// kept as raw JSON slices and are only decoded when a rule asks for them.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil {

enum class AuditLevel : uint8_t { kUnknown, kNone, kMetadata, kRequest, kRequestResponse };
enum class AuditStage : uint8_t {
  kUnknown,
  kRequestReceived,
  kResponseStarted,
  kResponseComplete,
  kPanic
};

std::string_view AuditLevelName(AuditLevel level);
std::string_view AuditStageName(AuditStage stage);
AuditLevel ParseAuditLevel(std::string_view text);  // kUnknown when not recognised
AuditStage ParseAuditStage(std::string_view text);  // kUnknown when not recognised

// user and impersonatedUser (authentication.k8s.io UserInfo).
struct UserInfo {
  struct Extra {
    std::string_view key;  // may contain dots and slashes
    std::vector<std::string_view> values;
  };
  bool present = false;
  std::string_view username;
  std::string_view uid;
  std::vector<std::string_view> groups;
  std::vector<Extra> extra;

  void Clear();
};

struct ObjectRef {
  bool present = false;
  std::string_view resource;
  std::string_view namespace_;
  std::string_view name;
  std::string_view uid;
  std::string_view api_group;
  std::string_view api_version;
  std::string_view resource_version;
  std::string_view subresource;

  void Clear() { *this = ObjectRef(); }
};

// responseStatus (metav1.Status). On success it often carries only `code`.
struct ResponseStatus {
  bool present = false;
  bool has_code = false;
  int32_t code = 0;
  std::string_view status;
  std::string_view reason;
  std::string_view message;

  void Clear() { *this = ResponseStatus(); }
};

struct AuditEvent {
  std::string_view api_version;  // "audit.k8s.io/v1", "audit.k8s.io/v1beta1"
  std::string_view kind;         // "Event"
  AuditLevel level = AuditLevel::kUnknown;
  std::string_view audit_id;
  AuditStage stage = AuditStage::kUnknown;
  std::string_view request_uri;
  std::string_view verb;
  UserInfo user;
  UserInfo impersonated_user;
  std::vector<std::string_view> source_ips;
  std::string_view user_agent;
  ObjectRef object_ref;
  ResponseStatus response_status;
  std::string_view request_object;   // raw JSON, empty when absent
  std::string_view response_object;  // raw JSON, empty when absent
  int64_t request_received_us = 0;   // 0 when absent
  int64_t stage_us = 0;              // 0 when absent
  std::vector<std::pair<std::string_view, std::string_view>> annotations;

  // Set by the source from the authenticated channel, never from the event body (invariant 6).
  std::string_view cluster;

  // The event's JSON text as it was read (the record, an EventList item, a shipper's nested
  // event), for rules that print the whole event; empty for GKE LogEntries (rebuilt, not read).
  std::string_view raw;

  // Event time (invariant 1): requestReceivedTimestamp, falling back to stageTimestamp.
  int64_t EventTimeMicros() const { return request_received_us ? request_received_us : stage_us; }

  // Value of annotation `key` (keys contain dots: "authorization.k8s.io/decision"); empty if
  // absent.
  std::string_view Annotation(std::string_view key) const;

  // Resets every field but keeps vector capacity, so a reused event does not allocate.
  void Clear();
};

}  // namespace vigil

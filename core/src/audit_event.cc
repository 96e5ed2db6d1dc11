// AuditEvent helpers.
#include "vigil/core/audit_event.h"

namespace vigil {

std::string_view AuditLevelName(AuditLevel level) {
  switch (level) {
    case AuditLevel::kNone: return "None";
    case AuditLevel::kMetadata: return "Metadata";
    case AuditLevel::kRequest: return "Request";
    case AuditLevel::kRequestResponse: return "RequestResponse";
    case AuditLevel::kUnknown: break;
  }
  return "";
}

std::string_view AuditStageName(AuditStage stage) {
  switch (stage) {
    case AuditStage::kRequestReceived: return "RequestReceived";
    case AuditStage::kResponseStarted: return "ResponseStarted";
    case AuditStage::kResponseComplete: return "ResponseComplete";
    case AuditStage::kPanic: return "Panic";
    case AuditStage::kUnknown: break;
  }
  return "";
}

AuditLevel ParseAuditLevel(std::string_view t) {
  if (t == "Metadata") return AuditLevel::kMetadata;
  if (t == "Request") return AuditLevel::kRequest;
  if (t == "RequestResponse") return AuditLevel::kRequestResponse;
  if (t == "None") return AuditLevel::kNone;
  return AuditLevel::kUnknown;
}

AuditStage ParseAuditStage(std::string_view t) {
  if (t == "ResponseComplete") return AuditStage::kResponseComplete;
  if (t == "RequestReceived") return AuditStage::kRequestReceived;
  if (t == "ResponseStarted") return AuditStage::kResponseStarted;
  if (t == "Panic") return AuditStage::kPanic;
  return AuditStage::kUnknown;
}

void UserInfo::Clear() {
  present = false;
  username = {};
  uid = {};
  groups.clear();
  extra.clear();
}

std::string_view AuditEvent::Annotation(std::string_view key) const {
  for (const auto& [k, v] : annotations) {
    if (k == key) return v;
  }
  return {};
}

void AuditEvent::Clear() {
  api_version = {};
  kind = {};
  level = AuditLevel::kUnknown;
  audit_id = {};
  stage = AuditStage::kUnknown;
  request_uri = {};
  verb = {};
  user.Clear();
  impersonated_user.Clear();
  source_ips.clear();
  user_agent = {};
  object_ref.Clear();
  response_status.Clear();
  request_object = {};
  response_object = {};
  request_received_us = 0;
  stage_us = 0;
  annotations.clear();
  cluster = {};
  raw = {};
}

}  // namespace vigil

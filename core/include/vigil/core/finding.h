// Finding: what a detector reports. Unlike AuditEvent it owns its strings: it outlives the batch
// that produced it and is what the store keeps and the API serves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/core/status.h"

namespace vigil {

enum class Severity : uint8_t { kInfo = 0, kLow, kMedium, kHigh, kCritical };
std::string_view SeverityName(Severity s);                     // "info" .. "critical"
std::optional<Severity> ParseSeverity(std::string_view text);  // case-insensitive

enum class FindingStatus : uint8_t { kOpen = 0, kAcknowledged, kSuppressed, kResolved };
std::string_view FindingStatusName(FindingStatus s);  // "open" ...
std::optional<FindingStatus> ParseFindingStatus(std::string_view text);

struct FindingObject {
  std::string api_group;
  std::string resource;
  std::string namespace_;
  std::string name;
  std::string subresource;
};

struct Finding {
  static constexpr size_t kMaxEvidence = 32;     // evidence auditIDs kept per finding
  static constexpr size_t kMaxNoteBytes = 4096;  // an analyst's note (PATCH /v1/findings/{id})

  std::string id;  // deterministic, see MakeFindingId
  std::string rule_id;
  std::string rule_name;
  Severity severity = Severity::kInfo;
  std::vector<std::string> attack_ids;  // MITRE ATT&CK technique ids
  std::string cluster;
  std::string user;
  std::vector<std::string> groups;
  std::string impersonated_user;
  std::vector<std::string> source_ips;
  std::string user_agent;
  std::string verb;
  FindingObject object;
  int64_t first_seen_us = 0;  // event time
  int64_t last_seen_us = 0;   // event time
  uint64_t count = 1;
  std::vector<std::string> evidence;  // auditIDs, at most kMaxEvidence
  std::string message;
  // The rule's tags, and the values of the fields its output names, as (name, value) in
  // template order: what Falco calls output_fields (names are Falco's ka.* for Falco rules,
  // canonical paths otherwise). A value is bounded like the message; an absent one is "<NA>"
  // for Falco rules, "" otherwise. Empty for stateful findings.
  std::vector<std::string> tags;
  std::vector<std::pair<std::string, std::string>> fields;
  FindingStatus status = FindingStatus::kOpen;

  // Triage. Detectors never set these; the store keeps the stored ones across the pipeline's
  // updates (FindingStore::Put), so what an analyst set is never overwritten by a later event.
  // `status_by` non-empty means an analyst set `status` (FindingStore::UpdateTriage); such a
  // status wins over suppressions.
  std::string status_by;      // who set `status` ("" : the pipeline or a suppression)
  int64_t status_at_us = 0;   // wall clock when status_by set it; 0 when never
  std::string note;           // at most kMaxNoteBytes
  std::string note_by;        // who wrote `note`
  int64_t note_at_us = 0;     // wall clock; 0 when never
  std::string suppressed_by;  // id of the suppression that made status kSuppressed, else ""
};

// A finding's id is derived from what it is about (invariant 2): the same rule, cluster, key and
// window always give the same id, so processing an event twice never makes two findings.
// 32 lowercase hex characters.
std::string MakeFindingId(std::string_view rule_id, std::string_view cluster, std::string_view key,
                          int64_t window_start_us = 0);

// JSON encoding used by the store (values) and the API (responses). Stable field names:
// id, rule_id, rule_name, severity, attack_ids, cluster, user{username, groups, impersonated},
// source_ips, user_agent, verb, object{api_group, resource, namespace, name, subresource},
// first_seen, last_seen (RFC 3339), count, evidence, message, tags, fields {name: value},
// status, then the triage fields
// status_by, status_at (RFC 3339 or null), note, note_by, note_at (RFC 3339 or null),
// suppressed_by. FindingFromJson accepts values without tags, fields and the triage fields
// (written before they existed) and leaves them empty.
std::string FindingToJson(const Finding& f);
void AppendFindingJson(const Finding& f, std::string* out);
Result<Finding> FindingFromJson(std::string_view json);

}  // namespace vigil

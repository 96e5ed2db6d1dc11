// Internal: reads the fields of an audit Event from a simdjson On-Demand object, and the
// helpers shared by AuditEventParser and EnvelopeDecoder (depth check, raw value slices).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string_view>

#include "vigil/core/audit_event.h"
#include "vigil/core/status.h"
#include "vigil/ingest/audit_event_parser.h"

namespace vigil::ingest::internal {

// What the top-level pass saw besides the Event fields: enough to validate an Event and to tell
// an envelope from an event without a second pass.
struct TopLevelHints {
  enum Key : uint32_t {
    kItems = 1u << 0,
    kRecords = 1u << 1,
    kProperties = 1u << 2,
    kLogEvents = 1u << 3,
    kMessage = 1u << 4,
    kProtoPayload = 1u << 5,
  };
  uint32_t keys = 0;
  bool has_kind = false;
  bool kind_not_string = false;
  bool has_audit_id_key = false;
  bool audit_id_not_string = false;
  bool has_legacy_timestamp = false;
  int64_t legacy_timestamp_us = 0;  // v1beta1 `timestamp`
  std::string_view message_type;    // CloudWatch messageType

  bool Has(Key k) const { return (keys & k) != 0; }
};

// Reads every known field of `obj` into `out` (which must be cleared by the caller). Wrong types
// are dropped into `report`. Returns a non-OK Status only for JSON-level errors.
Status ReadEventFields(simdjson::ondemand::object& obj, AuditEvent* out, ParseReport* report,
                       TopLevelHints* hints);

// The whole-record checks after ReadEventFields: auditID, timestamps, kind.
Status ValidateEvent(AuditEvent* out, const TopLevelHints& hints);

// InvalidArgument when the JSON text nests deeper than max_depth (strings are skipped).
Status CheckDepth(const char* data, size_t len, uint32_t max_depth);

// CheckDepth's first pass: the '{' and '[' of data[0, len), or any number over `limit` once the
// count passes it. kBest is AVX2 or SSE2 by CPU on x86-64; kSse2 and kAvx2 (on a CPU with AVX2)
// are for tests; elsewhere every choice is the scalar loop.
enum class CountImpl : uint8_t { kBest, kScalar, kSse2, kAvx2 };
size_t CountOpens(const char* data, size_t len, size_t limit, CountImpl impl = CountImpl::kBest);

// The raw JSON text of `value`, of any type, without trailing whitespace.
simdjson::error_code RawValue(simdjson::ondemand::value& value, std::string_view* out);

// "invalid JSON: <simdjson message>".
Status JsonError(simdjson::error_code code);

Status SizeError(std::string_view what, size_t size, size_t limit);

}  // namespace vigil::ingest::internal

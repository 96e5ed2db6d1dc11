// AuditEventParser: turns one audit.k8s.io Event JSON object into an AuditEvent view, with
// simdjson On-Demand. Untrusted input is handled field by field (see "Error policy" below).
#pragma once

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/core/audit_event.h"
#include "vigil/core/status.h"
#include "vigil/ingest/padded_buffer.h"

namespace vigil::ingest {

struct ParserOptions {
  size_t max_event_bytes = size_t{1} << 20;  // one Event; larger is rejected whole
  uint32_t max_depth = 64;                   // JSON nesting of one Event
};

// What Parse() had to tolerate in an accepted event. Names are static strings ("objectRef",
// "user.groups"), so recording them never allocates.
struct ParseReport {
  static constexpr size_t kMaxListed = 8;

  uint32_t dropped_fields = 0;  // fields of the wrong type, left empty
  uint32_t coerced_fields = 0;  // e.g. responseStatus.code given as "201"
  uint32_t listed = 0;          // entries used in dropped_names
  std::array<std::string_view, kMaxListed> dropped_names{};

  void Clear() { *this = ParseReport(); }
  void Drop(std::string_view name) {
    ++dropped_fields;
    if (listed < kMaxListed) dropped_names[listed++] = name;
  }
  // Adds the counts and names of `other` (names bounded as above).
  void Merge(const ParseReport& other);
  // "objectRef, verb" (the listed names, comma separated).
  std::string DroppedFieldsToString() const;
};

// One parser per worker; not thread-safe. Its buffers are reused and only grow.
//
// Ownership: every string_view in the AuditEvent filled by Parse() points into this parser's
// padded input buffer, its simdjson string buffer, or (for the padded overloads) the caller's
// buffer. They stay valid until the next Parse() call on this parser (and, for the padded
// overloads, while the caller's buffer is unchanged). Copy what must live longer.
//
// Error policy (invariant 5). Parse() returns InvalidArgument, and the event must not be used,
// when the record as a whole is unusable: invalid or truncated JSON, invalid UTF-8, a top-level
// value that is not an object, nesting deeper than max_depth, more than max_event_bytes, a
// missing or non-string auditID, no parseable timestamp (requestReceivedTimestamp,
// stageTimestamp, or v1beta1 `timestamp`), or a present `kind` other than "Event". A field of
// the wrong type is dropped (left empty) and counted in the ParseReport; responseStatus.code
// given as a numeric string is coerced. requestObject/responseObject of any JSON type are kept
// as raw JSON text, never decoded.
class AuditEventParser {
 public:
  explicit AuditEventParser(ParserOptions options = {});
  AuditEventParser(const AuditEventParser&) = delete;
  AuditEventParser& operator=(const AuditEventParser&) = delete;

  // Copies `json` into the parser's padded buffer, then parses it.
  Status Parse(std::string_view json, AuditEvent* out, ParseReport* report);
  // No copy: the caller promises SIMDJSON_PADDING readable bytes after the text.
  Status Parse(simdjson::padded_string_view json, AuditEvent* out, ParseReport* report);
  // No copy when capacity >= len + SIMDJSON_PADDING (bytes [data, data+capacity) readable);
  // otherwise copies.
  Status Parse(const char* data, size_t len, size_t capacity, AuditEvent* out, ParseReport* report);

  const ParserOptions& options() const { return options_; }

 private:
  friend class EnvelopeDecoder;
  Status ParseImpl(const char* data, size_t len, size_t capacity, bool depth_checked,
                   AuditEvent* out, ParseReport* report);

  ParserOptions options_;
  simdjson::ondemand::parser parser_;
  PaddedBuffer buffer_;
};

}  // namespace vigil::ingest

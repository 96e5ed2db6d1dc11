// EnvelopeDecoder: one top-level JSON record -> zero or more AuditEvents. Unwraps the shapes
// audit events arrive in: a plain Event, an EventList, a JSON array of Events, AKS diagnostic
// records, CloudWatch Logs entries/subscription payloads, and GKE Cloud Audit LogEntries.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/core/audit_event.h"
#include "vigil/core/status.h"
#include "vigil/ingest/audit_event_parser.h"
#include "vigil/ingest/function_ref.h"
#include "vigil/ingest/padded_buffer.h"

namespace vigil::ingest {

struct EnvelopeOptions {
  ParserOptions parser;                        // per-event limits
  size_t max_record_bytes = size_t{64} << 20;  // one record (an EventList may be large)
  // Cluster stamped on every event (AuditEvent::cluster). It comes from the channel the caller
  // authenticated (a file named on the command line, a token, a Kafka topic), never from the
  // record itself (invariant 6).
  std::string cluster = "default";
};

enum class EnvelopeKind : uint8_t {
  kUnknown,     // not recognised (skipped) or not decodable (malformed)
  kEvent,       // a plain audit.k8s.io Event
  kEventList,   // {"kind":"EventList","items":[...]}
  kArray,       // [Event, ...]
  kAks,         // {"properties":{"log": Event | "<Event JSON>"}} or {"records":[...]}
  kCloudWatch,  // {"logEvents":[{"message":"<Event JSON>"}]} or {"message":"<Event JSON>"}
  kGke,         // Cloud Audit LogEntry with protoPayload.serviceName "k8s.io"
};
std::string_view EnvelopeKindName(EnvelopeKind kind);

// What became of one record: events delivered, items rejected as malformed (bad JSON, missing
// auditID or timestamp...), and items skipped (well-formed but not audit events: a GKE entry of
// another service, an AKS record of another category, an unrelated object). An EventList can
// have all three.
struct DecodeResult {
  EnvelopeKind envelope = EnvelopeKind::kUnknown;
  uint32_t events = 0;           // delivered to the callback
  uint32_t malformed = 0;        // events or items rejected
  uint32_t skipped = 0;          // records or items that are not audit events
  Status first_error;            // why the first malformed item was rejected; OK if none
  std::string_view skip_reason;  // static text, why the first item was skipped; empty if none
  ParseReport report;            // dropped/coerced fields, summed over the delivered events

  // The whole record was well-formed but held no audit event.
  bool SkippedWhole() const { return skipped > 0 && events == 0 && malformed == 0; }
};

// Not thread-safe; one per worker. The AuditEvent passed to the callback is valid only during the
// callback (its views point into this decoder's buffers, or into the caller's padded buffer).
class EnvelopeDecoder {
 public:
  using EventFn = FunctionRef<void(const AuditEvent&)>;

  explicit EnvelopeDecoder(EnvelopeOptions options = {});
  EnvelopeDecoder(const EnvelopeDecoder&) = delete;
  EnvelopeDecoder& operator=(const EnvelopeDecoder&) = delete;

  // Copies the record into a padded buffer, then decodes it.
  DecodeResult Decode(std::string_view record, EventFn on_event);
  // No copy when capacity >= len + SIMDJSON_PADDING (bytes [data, data+capacity) readable).
  DecodeResult Decode(const char* data, size_t len, size_t capacity, EventFn on_event);

  const EnvelopeOptions& options() const { return options_; }

 private:
  void DecodeEventList(simdjson::ondemand::document& doc, DecodeResult* r, EventFn on_event);
  void DecodeArray(simdjson::ondemand::document& doc, DecodeResult* r, EventFn on_event);
  void DecodeAks(simdjson::ondemand::document& doc, bool records, DecodeResult* r,
                 EventFn on_event);
  void DecodeAksRecord(simdjson::ondemand::object& record, DecodeResult* r, EventFn on_event);
  void DecodeCloudWatch(simdjson::ondemand::document& doc, bool log_events, DecodeResult* r,
                        EventFn on_event);
  void DecodeCloudWatchMessage(simdjson::ondemand::value& message, DecodeResult* r,
                               EventFn on_event);
  void DecodeGke(simdjson::ondemand::document& doc, DecodeResult* r, EventFn on_event);

  // Parses one nested Event (object slice of the outer record, or an unescaped string) with the
  // inner parser and delivers it or counts it malformed.
  void ParseNestedObject(simdjson::ondemand::value& value, DecodeResult* r, EventFn on_event);
  void ParseNestedString(std::string_view json, DecodeResult* r, EventFn on_event);
  void Deliver(const Status& status, const AuditEvent& event, const ParseReport& report,
               DecodeResult* r, EventFn on_event);
  static void Malformed(Status status, DecodeResult* r);
  static void Skip(std::string_view reason, DecodeResult* r);

  EnvelopeOptions options_;
  simdjson::ondemand::parser outer_parser_;
  PaddedBuffer buffer_;
  // Bounds of the outer record, so nested slices can be passed as padded views.
  const char* outer_data_ = nullptr;
  const char* outer_limit_ = nullptr;  // data + capacity
  size_t outer_len_ = 0;
  // The outer document while Decode runs. simdjson abandons it (parser gone) on some errors
  // inside nested values; nothing may read it after that (DocumentAlive).
  simdjson::ondemand::document* doc_ = nullptr;
  bool DocumentAlive() const { return doc_ != nullptr && doc_->is_alive(); }
  AuditEvent event_;
  ParseReport report_;
  AuditEventParser inner_;
  std::string scratch_;  // derived strings of converted events (GKE auditID, requestURI)
};

}  // namespace vigil::ingest

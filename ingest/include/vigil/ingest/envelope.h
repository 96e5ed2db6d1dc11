// EnvelopeDecoder: one record (a file record or a Kafka message) -> zero or more AuditEvents.
// Unwraps the shapes audit events arrive in: a plain Event, an EventList, a JSON array of Events,
// AKS diagnostic records, CloudWatch Logs entries and (gzip or base64-gzip) subscription payloads,
// GKE Cloud Audit LogEntries, the wrappers of Vector, Fluent Bit and Logstash, and several JSON
// lines batched into one record.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <memory>
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
  kVector,      // {"message":"<Event|EventList JSON>","source_type":"file",...} (file source, json)
  kFluentBit,   // {"@timestamp":1714557600.1,"log":"<Event JSON>"} (tail input, no parser)
  kLogstash,    // {"@version":"1","event":{Event}} or {"@timestamp":"...","message":"<Event>"}
  kJsonLines,   // several newline-separated JSON values in one record, each decoded on its own
};
std::string_view EnvelopeKindName(EnvelopeKind kind);

// Which shape a source's records have. kAuto (the default) recognises every shape above; the
// others decode a record only as that shape, and a record of another shape is malformed with a
// message naming the expected one ("expected a Vector record with a string 'message' ...").
// A shipper choice (kVector, kFluentBit, kLogstash) also accepts an Event or EventList at the top
// level, which is what the shipper sends when it parsed the JSON itself (Fluent Bit's
// `Parser json`, Vector's http_server source). Gzip and base64-gzip records are inflated in
// kAuto and kCloudWatch only.
enum class EnvelopeChoice : uint8_t {
  kAuto,
  kEvent,
  kEventList,
  kJsonLines,
  kCloudWatch,
  kAks,
  kGke,
  kVector,
  kFluentBit,
  kLogstash,
};
// "auto", "event", "eventlist", "jsonl", "cloudwatch", "aks", "gke", "vector", "fluentbit" (also
// "fluentd"), "logstash"; InvalidArgument naming the allowed values otherwise.
Result<EnvelopeChoice> ParseEnvelopeChoice(std::string_view name);
// The name ParseEnvelopeChoice accepts for `choice` ("fluentbit" for kFluentBit).
std::string_view EnvelopeChoiceName(EnvelopeChoice choice);

// Per-call facts about where a record came from (a Kafka topic's configuration, say).
struct DecodeHints {
  // Stamped on every delivered event instead of EnvelopeOptions::cluster when not empty. Must
  // come from the channel (topic, key, header, credential), never the record (invariant 6).
  // Viewed, not copied: it must outlive the Decode call.
  std::string_view cluster;
  EnvelopeChoice envelope = EnvelopeChoice::kAuto;
};

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
  bool compressed = false;       // the record was gzip or base64 gzip, and was inflated first

  // The whole record was well-formed but held no audit event.
  bool SkippedWhole() const { return skipped > 0 && events == 0 && malformed == 0; }
};

// Not thread-safe; one per worker. The AuditEvent passed to the callback is valid only during the
// callback (its views point into this decoder's buffers, or into the caller's padded buffer).
//
// Bounds (untrusted input never costs more): a record over max_record_bytes is one malformed
// record; a gzip record that inflates past max_record_bytes, is truncated or corrupt, or is bad
// base64, is one malformed record; a string holding an Event inside a wrapper (Vector message,
// Fluent Bit log, Logstash message) is decoded within max_record_bytes, each Event within
// max_event_bytes. A wrapper field of the wrong type is a malformed item, and a wrapper string
// that is not JSON text is a skipped item.
class EnvelopeDecoder {
 public:
  using EventFn = FunctionRef<void(const AuditEvent&)>;

  explicit EnvelopeDecoder(EnvelopeOptions options = {});
  ~EnvelopeDecoder();
  EnvelopeDecoder(const EnvelopeDecoder&) = delete;
  EnvelopeDecoder& operator=(const EnvelopeDecoder&) = delete;

  // Copies the record into a padded buffer, then decodes it. Same as hints {} (the cluster of
  // options(), EnvelopeChoice::kAuto).
  DecodeResult Decode(std::string_view record, EventFn on_event);
  // No copy when capacity >= len + SIMDJSON_PADDING (bytes [data, data+capacity) readable).
  DecodeResult Decode(const char* data, size_t len, size_t capacity, EventFn on_event);
  // As above, with the cluster and the expected shape of this record's channel.
  DecodeResult Decode(std::string_view record, EventFn on_event, const DecodeHints& hints);
  DecodeResult Decode(const char* data, size_t len, size_t capacity, EventFn on_event,
                      const DecodeHints& hints);

  const EnvelopeOptions& options() const { return options_; }

 private:
  // What a layer of the record may still unwrap: gzip only at the top, JSON lines only once, and
  // a wrapper's inner string only an Event, EventList or array.
  enum class Layer : uint8_t { kRecord, kInflated, kLine, kInner };

  void DecodeRecord(const char* data, size_t len, size_t capacity, EnvelopeChoice choice,
                    DecodeResult* r, EventFn on_event);
  // Decodes one padded JSON text. Returns true, having counted nothing, when `layer` allows JSON
  // lines, `choice` is kAuto and the text is not one value but looks like several lines.
  bool DecodeJson(const char* data, size_t len, size_t capacity, EnvelopeChoice choice, Layer layer,
                  DecodeResult* r, EventFn on_event);
  // Decodes each non-blank line as a record of its own (Layer::kLine: never split again).
  void DecodeLines(const char* data, size_t len, size_t capacity, DecodeResult* r,
                   EventFn on_event);
  void DecodeCompressed(const char* data, size_t len, bool base64, EnvelopeChoice choice,
                        DecodeResult* r, EventFn on_event);
  // The decoder of wrapper strings, built on first use.
  DecodeResult DecodeInner(std::string_view json, std::string_view cluster, EventFn on_event);

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
  // The shipper wrappers (envelope_shippers.cc). FindWrapper, a pass over the keys, sets *kind
  // to kUnknown when the object is none of them; DecodeWrapper decodes `kind`'s field (when
  // forced, a record without it is malformed).
  simdjson::error_code FindWrapper(simdjson::ondemand::document& doc, EnvelopeKind* kind);
  void DecodeWrapper(simdjson::ondemand::document& doc, EnvelopeKind kind, DecodeResult* r,
                     EventFn on_event);
  void DecodeWrappedString(std::string_view s, EnvelopeKind kind, DecodeResult* r,
                           EventFn on_event);

  // Parses one nested Event (object slice of the outer record, or an unescaped string) with the
  // inner parser and delivers it or counts it malformed.
  void ParseNestedObject(simdjson::ondemand::value& value, DecodeResult* r, EventFn on_event);
  void ParseNestedString(std::string_view json, DecodeResult* r, EventFn on_event);
  void Deliver(const Status& status, const AuditEvent& event, const ParseReport& report,
               DecodeResult* r, EventFn on_event);
  static void Malformed(Status status, DecodeResult* r);
  static void Skip(std::string_view reason, DecodeResult* r);
  // Adds the counts of `in` to `out`; the first error and skip reason stay the earliest.
  static void Merge(const DecodeResult& in, DecodeResult* out);

  EnvelopeOptions options_;
  std::string_view cluster_;  // stamped by Deliver: the hints' cluster, or options_.cluster
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
  std::string scratch_;    // derived strings of converted events (GKE auditID, requestURI)
  PaddedBuffer inflated_;  // an inflated gzip record
  std::string base64_;     // a base64 record, decoded
  std::unique_ptr<EnvelopeDecoder> nested_;  // decodes wrapper strings (Layer::kInner)
};

}  // namespace vigil::ingest

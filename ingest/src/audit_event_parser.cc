// AuditEventParser: one Event JSON object -> AuditEvent view (see audit_event_parser.h).
#include "vigil/ingest/audit_event_parser.h"

#include <string>

#include "event_reader.h"

namespace vigil::ingest {

void ParseReport::Merge(const ParseReport& other) {
  coerced_fields += other.coerced_fields;
  dropped_fields += other.dropped_fields - other.listed;
  for (uint32_t i = 0; i < other.listed; ++i) Drop(other.dropped_names[i]);
}

std::string ParseReport::DroppedFieldsToString() const {
  std::string s;
  for (uint32_t i = 0; i < listed; ++i) {
    if (i) s += ", ";
    s += dropped_names[i];
  }
  if (dropped_fields > listed) s += ", ...";
  return s;
}

AuditEventParser::AuditEventParser(ParserOptions options) : options_(options) {}

Status AuditEventParser::Parse(std::string_view json, AuditEvent* out, ParseReport* report) {
  return ParseImpl(json.data(), json.size(), 0, false, out, report);
}

Status AuditEventParser::Parse(simdjson::padded_string_view json, AuditEvent* out,
                               ParseReport* report) {
  return ParseImpl(json.data(), json.length(), json.capacity(), false, out, report);
}

Status AuditEventParser::Parse(const char* data, size_t len, size_t capacity, AuditEvent* out,
                               ParseReport* report) {
  return ParseImpl(data, len, capacity, false, out, report);
}

Status AuditEventParser::ParseImpl(const char* data, size_t len, size_t capacity,
                                   bool depth_checked, AuditEvent* out, ParseReport* report) {
  out->Clear();
  report->Clear();
  if (len > options_.max_event_bytes) {
    return internal::SizeError("event", len, options_.max_event_bytes);
  }
  if (!depth_checked) RETURN_IF_ERROR(internal::CheckDepth(data, len, options_.max_depth));
  if (capacity < len + simdjson::SIMDJSON_PADDING) {
    buffer_.Assign(data, len);
    data = buffer_.data();
    capacity = buffer_.capacity();
  }
  simdjson::ondemand::document doc;
  auto err = parser_.iterate(data, len, capacity).get(doc);
  if (err) return internal::JsonError(err);
  simdjson::ondemand::json_type type;
  if ((err = doc.type().get(type))) return internal::JsonError(err);
  if (type != simdjson::ondemand::json_type::object) {
    return Status::InvalidArgument("top-level JSON value is not an object");
  }
  simdjson::ondemand::object obj;
  if ((err = doc.get_object().get(obj))) return internal::JsonError(err);
  internal::TopLevelHints hints;
  RETURN_IF_ERROR(internal::ReadEventFields(obj, out, report, &hints));
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    return Status::InvalidArgument("invalid JSON: trailing content after the object");
  }
  RETURN_IF_ERROR(internal::ValidateEvent(out, hints));
  out->raw = std::string_view(data, len);
  return Status::Ok();
}

}  // namespace vigil::ingest

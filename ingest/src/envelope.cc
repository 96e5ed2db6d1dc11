// EnvelopeDecoder: unwraps EventList / array / AKS / CloudWatch envelopes; GKE conversion lives
// in gke_log_entry.cc.
#include "vigil/ingest/envelope.h"

#include <cassert>
#include <string>

#include "compressed_record.h"
#include "envelope_internal.h"
#include "event_reader.h"

namespace vigil::ingest {

using simdjson::SUCCESS;
using simdjson::ondemand::json_type;

std::string_view EnvelopeKindName(EnvelopeKind kind) {
  switch (kind) {
    case EnvelopeKind::kEvent:
      return "Event";
    case EnvelopeKind::kEventList:
      return "EventList";
    case EnvelopeKind::kArray:
      return "array";
    case EnvelopeKind::kAks:
      return "AKS";
    case EnvelopeKind::kCloudWatch:
      return "CloudWatch";
    case EnvelopeKind::kGke:
      return "GKE";
    case EnvelopeKind::kVector:
      return "Vector";
    case EnvelopeKind::kFluentBit:
      return "FluentBit";
    case EnvelopeKind::kLogstash:
      return "Logstash";
    case EnvelopeKind::kJsonLines:
      return "JSONLines";
    case EnvelopeKind::kUnknown:
      break;
  }
  return "unknown";
}

EnvelopeDecoder::EnvelopeDecoder(EnvelopeOptions options)
    : options_(options), inner_(options.parser) {}

EnvelopeDecoder::~EnvelopeDecoder() = default;

DecodeResult EnvelopeDecoder::Decode(std::string_view record, EventFn on_event) {
  return Decode(record.data(), record.size(), 0, on_event, DecodeHints{});
}

DecodeResult EnvelopeDecoder::Decode(const char* data, size_t len, size_t capacity,
                                     EventFn on_event) {
  return Decode(data, len, capacity, on_event, DecodeHints{});
}

DecodeResult EnvelopeDecoder::Decode(std::string_view record, EventFn on_event,
                                     const DecodeHints& hints) {
  return Decode(record.data(), record.size(), 0, on_event, hints);
}

DecodeResult EnvelopeDecoder::Decode(const char* data, size_t len, size_t capacity,
                                     EventFn on_event, const DecodeHints& hints) {
  DecodeResult r;
  cluster_ = hints.cluster.empty() ? std::string_view(options_.cluster) : hints.cluster;
  DecodeRecord(data, len, capacity, hints.envelope, &r, on_event);
  return r;
}

void EnvelopeDecoder::Malformed(Status status, DecodeResult* r) {
  ++r->malformed;
  if (r->first_error.ok()) r->first_error = std::move(status);
}

void EnvelopeDecoder::Skip(std::string_view reason, DecodeResult* r) {
  if (r->skipped++ == 0) r->skip_reason = reason;
}

void EnvelopeDecoder::Merge(const DecodeResult& in, DecodeResult* out) {
  out->events += in.events;
  if (in.malformed > 0 && out->first_error.ok()) out->first_error = in.first_error;
  out->malformed += in.malformed;
  if (in.skipped > 0 && out->skipped == 0) out->skip_reason = in.skip_reason;
  out->skipped += in.skipped;
  out->report.Merge(in.report);
  out->compressed = out->compressed || in.compressed;
}

void EnvelopeDecoder::Deliver(const Status& status, const AuditEvent& event,
                              const ParseReport& report, DecodeResult* r, EventFn on_event) {
  if (!status.ok()) {
    Malformed(status, r);
    return;
  }
  ++r->events;
  r->report.Merge(report);
  // Every delivered event is event_ (the decoder's own); stamp the channel's cluster on it.
  assert(&event == &event_);
  event_.cluster = cluster_;
  on_event(event);
}

void EnvelopeDecoder::DecodeRecord(const char* data, size_t len, size_t capacity,
                                   EnvelopeChoice choice, DecodeResult* r, EventFn on_event) {
  if (len > options_.max_record_bytes) {
    Malformed(internal::SizeError("record", len, options_.max_record_bytes), r);
    return;
  }
  if (choice == EnvelopeChoice::kAuto || choice == EnvelopeChoice::kCloudWatch) {
    const bool gzip = internal::IsGzip(data, len);
    if (gzip || internal::IsBase64Gzip(data, len)) {
      DecodeCompressed(data, len, !gzip, choice, r, on_event);
      return;
    }
  }
  if (capacity < len + simdjson::SIMDJSON_PADDING) {
    buffer_.Assign(data, len);
    data = buffer_.data();
    capacity = buffer_.capacity();
  }
  if (choice == EnvelopeChoice::kJsonLines ||
      DecodeJson(data, len, capacity, choice, Layer::kRecord, r, on_event)) {
    DecodeLines(data, len, capacity, r, on_event);
  }
}

void EnvelopeDecoder::DecodeCompressed(const char* data, size_t len, bool base64,
                                       EnvelopeChoice choice, DecodeResult* r, EventFn on_event) {
  r->compressed = true;
  if (choice == EnvelopeChoice::kCloudWatch) r->envelope = EnvelopeKind::kCloudWatch;
  Status st;
  if (base64) {
    st = internal::Base64Decode(std::string_view(data, len), &base64_);
    if (st.ok()) {
      data = base64_.data();
      len = base64_.size();
      if (!internal::IsGzip(data, len)) st = Status::InvalidArgument("base64 record is not gzip");
    }
  }
  if (st.ok()) st = internal::Gunzip(data, len, options_.max_record_bytes, &inflated_);
  if (!st.ok()) {
    if (base64) st = st.WithContext("record starting \"H4sI\" (base64 gzip)");
    Malformed(std::move(st), r);
    return;
  }
  if (DecodeJson(inflated_.data(), inflated_.size(), inflated_.capacity(), choice, Layer::kInflated,
                 r, on_event)) {
    DecodeLines(inflated_.data(), inflated_.size(), inflated_.capacity(), r, on_event);
  }
}

using internal::ExpectedShapeError;

bool EnvelopeDecoder::DecodeJson(const char* data, size_t len, size_t capacity,
                                 EnvelopeChoice choice, Layer layer, DecodeResult* rp,
                                 EventFn on_event) {
  DecodeResult& r = *rp;
  assert(capacity >= len + simdjson::SIMDJSON_PADDING);
  const bool auto_mode = choice == EnvelopeChoice::kAuto;
  const bool lines_allowed = auto_mode && (layer == Layer::kRecord || layer == Layer::kInflated);
  outer_data_ = data;
  outer_limit_ = data + capacity;
  outer_len_ = len;

  simdjson::ondemand::document doc;
  auto err = outer_parser_.iterate(data, len, capacity).get(doc);
  doc_ = &doc;
  struct Forget {  // doc_ never outlives doc
    simdjson::ondemand::document** doc;
    ~Forget() { *doc = nullptr; }
  } forget{&doc_};
  json_type type;
  if (!err) err = doc.type().get(type);
  if (err) {
    if (lines_allowed && internal::LooksLikeJsonLines(data, len)) return true;
    Malformed(internal::JsonError(err), &r);
    return false;
  }
  if (type == json_type::array) {
    if (auto_mode) {
      r.envelope = EnvelopeKind::kArray;
      DecodeArray(doc, &r, on_event);
    } else {
      Malformed(ExpectedShapeError(choice, "a JSON array"), &r);
    }
    return false;
  }
  if (type != json_type::object) {
    Malformed(Status::InvalidArgument("top-level JSON value is not an object"), &r);
    return false;
  }
  // One pass reads the Event fields and notes envelope keys: a plain Event (the common case) is
  // parsed exactly once; only envelopes rewind.
  simdjson::ondemand::object obj;
  event_.Clear();
  report_.Clear();
  internal::TopLevelHints hints;
  Status status;
  if ((err = doc.get_object().get(obj))) {
    status = internal::JsonError(err);
  } else {
    status = internal::ReadEventFields(obj, &event_, &report_, &hints);
  }
  const char* trailing = nullptr;
  if (status.ok() && doc.current_location().get(trailing) == SUCCESS) {
    status = Status::InvalidArgument("invalid JSON: trailing content after the object");
  }
  if (!status.ok()) {
    if (lines_allowed && internal::LooksLikeJsonLines(data, len)) return true;
    Malformed(std::move(status), &r);
    return false;
  }

  const bool kind_event = hints.has_kind && event_.kind == "Event";
  const bool audit_api = event_.api_version.starts_with("audit.k8s.io");
  const bool is_list = hints.has_kind && event_.kind == "EventList";
  const bool is_event = !is_list && (hints.has_audit_id_key || kind_event || audit_api);
  // A core/v1 or events.k8s.io Event object: kind "Event", but not an audit event.
  const bool core_event =
      kind_event && !hints.has_audit_id_key && !event_.api_version.empty() && !audit_api;
  const bool shipper = internal::ShipperKind(choice) != EnvelopeKind::kUnknown;

  if (is_list && (auto_mode || shipper || choice == EnvelopeChoice::kEventList)) {
    r.envelope = EnvelopeKind::kEventList;
    doc.rewind();
    DecodeEventList(doc, &r, on_event);
    return false;
  }
  if (core_event && (auto_mode || shipper)) {
    r.envelope = EnvelopeKind::kUnknown;
    Skip("a Kubernetes Event object (not audit.k8s.io)", &r);
    return false;
  }
  if (choice == EnvelopeChoice::kEvent && !is_event) {
    Malformed(ExpectedShapeError(choice, is_list ? "an EventList" : ""), &r);
    return false;
  }
  if (is_event && (auto_mode || shipper || choice == EnvelopeChoice::kEvent)) {
    r.envelope = EnvelopeKind::kEvent;
    if (len > options_.parser.max_event_bytes) {
      status = internal::SizeError("event", len, options_.parser.max_event_bytes);
    } else {
      status = internal::CheckDepth(data, len, options_.parser.max_depth);
    }
    if (status.ok()) status = internal::ValidateEvent(&event_, hints);
    event_.raw = std::string_view(data, len);
    Deliver(status, event_, report_, &r, on_event);
    return false;
  }
  if (layer == Layer::kInner) {  // a wrapper's string holds only Events
    Skip("a wrapper's string holds JSON that is not an audit Event or EventList", &r);
    return false;
  }
  const bool gke = hints.Has(internal::TopLevelHints::kProtoPayload);
  const bool aks = hints.Has(internal::TopLevelHints::kRecords) ||
                   hints.Has(internal::TopLevelHints::kProperties);
  const bool log_events = hints.Has(internal::TopLevelHints::kLogEvents);
  if (gke && (auto_mode || choice == EnvelopeChoice::kGke)) {
    r.envelope = EnvelopeKind::kGke;
    doc.rewind();
    DecodeGke(doc, &r, on_event);
    return false;
  }
  if (aks && (auto_mode || choice == EnvelopeChoice::kAks)) {
    r.envelope = EnvelopeKind::kAks;
    doc.rewind();
    DecodeAks(doc, hints.Has(internal::TopLevelHints::kRecords), &r, on_event);
    return false;
  }
  // Shipper wrappers: one more pass over the keys, only for records that are none of the above.
  EnvelopeKind wrapper = EnvelopeKind::kUnknown;
  if (shipper) {
    wrapper = internal::ShipperKind(choice);
  } else if (auto_mode && !log_events) {
    doc.rewind();
    if ((err = FindWrapper(doc, &wrapper))) {
      Malformed(internal::JsonError(err), &r);
      return false;
    }
  }
  if (wrapper != EnvelopeKind::kUnknown) {
    r.envelope = wrapper;
    doc.rewind();
    DecodeWrapper(doc, wrapper, &r, on_event);
    return false;
  }
  const bool cloudwatch = log_events || hints.Has(internal::TopLevelHints::kMessage);
  if (cloudwatch && (auto_mode || choice == EnvelopeChoice::kCloudWatch)) {
    r.envelope = EnvelopeKind::kCloudWatch;
    if (hints.message_type == "CONTROL_MESSAGE") {
      Skip("CloudWatch control message", &r);
      return false;
    }
    doc.rewind();
    DecodeCloudWatch(doc, log_events, &r, on_event);
    return false;
  }
  if (!auto_mode) {
    Malformed(ExpectedShapeError(choice), &r);
  } else if (hints.has_kind) {
    Skip("an object of another kind (not an audit Event)", &r);
  } else {
    Skip("not an audit event (no auditID, kind Event, or known envelope)", &r);
  }
  return false;
}

void EnvelopeDecoder::ParseNestedObject(simdjson::ondemand::value& value, DecodeResult* r,
                                        EventFn on_event) {
  json_type type;
  auto err = value.type().get(type);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (type == json_type::string) {
    std::string_view s;
    if ((err = value.get_string().get(s))) {
      Malformed(internal::JsonError(err), r);
      return;
    }
    ParseNestedString(s, r, on_event);
    return;
  }
  if (!DocumentAlive()) {  // an earlier error ended the document: no value can be read
    Malformed(internal::JsonError(simdjson::TAPE_ERROR), r);
    return;
  }
  if (type != json_type::object) {
    // Skip the value so the enclosing iteration can go on.
    std::string_view raw;
    if ((err = internal::RawValue(value, &raw))) {
      Malformed(internal::JsonError(err), r);
      return;
    }
    Malformed(Status::InvalidArgument("nested event is not an object"), r);
    return;
  }
  std::string_view raw;
  if ((err = internal::RawValue(value, &raw))) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  // The slice lies inside the outer padded buffer, so it is parsed in place.
  Status st =
      inner_.ParseImpl(raw.data(), raw.size(), static_cast<size_t>(outer_limit_ - raw.data()),
                       false, &event_, &report_);
  Deliver(st, event_, report_, r, on_event);
}

void EnvelopeDecoder::ParseNestedString(std::string_view json, DecodeResult* r, EventFn on_event) {
  Status st = inner_.Parse(json, &event_, &report_);
  Deliver(st, event_, report_, r, on_event);
}

// Iterates an array of nested events; a JSON error ends the record. So does an element whose
// error ended the whole document (simdjson abandons it): that element was already counted.
template <typename Fn>
static simdjson::error_code ForEachElement(simdjson::ondemand::document& doc,
                                           simdjson::ondemand::array& arr, Fn fn) {
  for (auto elem : arr) {
    simdjson::ondemand::value v;
    auto err = elem.get(v);
    if (err) return err;
    fn(v);
    if (!doc.is_alive()) return SUCCESS;
  }
  return SUCCESS;
}

void EnvelopeDecoder::DecodeEventList(simdjson::ondemand::document& doc, DecodeResult* r,
                                      EventFn on_event) {
  simdjson::ondemand::object obj;
  simdjson::ondemand::value items;
  auto err = doc.get_object().get(obj);
  if (!err) err = obj.find_field_unordered("items").get(items);
  if (err == simdjson::NO_SUCH_FIELD) {
    Malformed(Status::InvalidArgument("EventList without items"), r);
    return;
  }
  json_type type;
  if (!err) err = items.type().get(type);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (type == json_type::null) return;  // an empty list
  if (type != json_type::array) {
    Malformed(Status::InvalidArgument("EventList items is not an array"), r);
    return;
  }
  simdjson::ondemand::array arr;
  err = items.get_array().get(arr);
  if (!err)
    err = ForEachElement(*doc_, arr,
                         [&](simdjson::ondemand::value& v) { ParseNestedObject(v, r, on_event); });
  if (err) Malformed(internal::JsonError(err), r);
}

void EnvelopeDecoder::DecodeArray(simdjson::ondemand::document& doc, DecodeResult* r,
                                  EventFn on_event) {
  simdjson::ondemand::array arr;
  auto err = doc.get_array().get(arr);
  if (!err)
    err = ForEachElement(*doc_, arr,
                         [&](simdjson::ondemand::value& v) { ParseNestedObject(v, r, on_event); });
  if (err) Malformed(internal::JsonError(err), r);
}

void EnvelopeDecoder::DecodeAks(simdjson::ondemand::document& doc, bool records, DecodeResult* r,
                                EventFn on_event) {
  simdjson::ondemand::object obj;
  auto err = doc.get_object().get(obj);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (!records) {
    DecodeAksRecord(obj, r, on_event);
    return;
  }
  simdjson::ondemand::value recs;
  json_type type;
  err = obj.find_field_unordered("records").get(recs);
  if (!err) err = recs.type().get(type);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (type != json_type::array) {
    Malformed(Status::InvalidArgument("records is not an array"), r);
    return;
  }
  simdjson::ondemand::array arr;
  err = recs.get_array().get(arr);
  if (!err)
    err = ForEachElement(*doc_, arr, [&](simdjson::ondemand::value& v) {
      json_type t;
      if (v.type().get(t) == SUCCESS && t == json_type::object) {
        simdjson::ondemand::object rec;
        if (v.get_object().get(rec) == SUCCESS) {
          DecodeAksRecord(rec, r, on_event);
          return;
        }
      }
      ParseNestedObject(v, r, on_event);  // counts the non-object as malformed
    });
  if (err) Malformed(internal::JsonError(err), r);
}

void EnvelopeDecoder::DecodeAksRecord(simdjson::ondemand::object& record, DecodeResult* r,
                                      EventFn on_event) {
  std::string_view category;
  simdjson::ondemand::value cat;
  if (record.find_field_unordered("category").get(cat) == SUCCESS) {
    json_type t;
    if (cat.type().get(t) == SUCCESS && t == json_type::string) {
      if (cat.get_string().get(category) != SUCCESS) category = {};
    }
  }
  if (!DocumentAlive()) {  // the category lookup hit an error that ended the document
    Malformed(internal::JsonError(simdjson::TAPE_ERROR), r);
    return;
  }
  if (!category.empty() && !category.starts_with("kube-audit")) {
    Skip("AKS record of a category other than kube-audit", r);
    return;
  }
  simdjson::ondemand::value props;
  simdjson::ondemand::value log;
  auto err = record.find_field_unordered("properties").get(props);
  json_type t = json_type::null;
  if (!err) err = props.type().get(t);
  if (!err && t == json_type::object) {
    simdjson::ondemand::object pobj;
    err = props.get_object().get(pobj);
    if (!err) err = pobj.find_field_unordered("log").get(log);
  } else if (!err) {
    err = simdjson::NO_SUCH_FIELD;
  }
  if (err == simdjson::NO_SUCH_FIELD) {
    Malformed(Status::InvalidArgument("AKS record without properties.log"), r);
    return;
  }
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  ParseNestedObject(log, r, on_event);
}

void EnvelopeDecoder::DecodeCloudWatchMessage(simdjson::ondemand::value& message, DecodeResult* r,
                                              EventFn on_event) {
  json_type t;
  auto err = message.type().get(t);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (t == json_type::string) {
    std::string_view s;
    if ((err = message.get_string().get(s))) {
      Malformed(internal::JsonError(err), r);
      return;
    }
    size_t i = s.find_first_not_of(" \t\r\n");
    if (i == std::string_view::npos || s[i] != '{') {
      Skip("CloudWatch message is not JSON", r);
      return;
    }
    ParseNestedString(s, r, on_event);
    return;
  }
  ParseNestedObject(message, r, on_event);
}

void EnvelopeDecoder::DecodeCloudWatch(simdjson::ondemand::document& doc, bool log_events,
                                       DecodeResult* r, EventFn on_event) {
  simdjson::ondemand::object obj;
  simdjson::ondemand::value v;
  auto err = doc.get_object().get(obj);
  if (!err) err = obj.find_field_unordered(log_events ? "logEvents" : "message").get(v);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (!log_events) {
    DecodeCloudWatchMessage(v, r, on_event);
    return;
  }
  json_type t;
  if ((err = v.type().get(t))) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  if (t != json_type::array) {
    Malformed(Status::InvalidArgument("logEvents is not an array"), r);
    return;
  }
  simdjson::ondemand::array arr;
  err = v.get_array().get(arr);
  if (!err)
    err = ForEachElement(*doc_, arr, [&](simdjson::ondemand::value& entry) {
      json_type et;
      simdjson::ondemand::object eobj;
      simdjson::ondemand::value msg;
      if (entry.type().get(et) == SUCCESS && et == json_type::object &&
          entry.get_object().get(eobj) == SUCCESS) {
        auto e = eobj.find_field_unordered("message").get(msg);
        if (e == SUCCESS) {
          DecodeCloudWatchMessage(msg, r, on_event);
        } else if (e == simdjson::NO_SUCH_FIELD) {
          Malformed(Status::InvalidArgument("CloudWatch log event without message"), r);
        } else {
          Malformed(internal::JsonError(e), r);
        }
        return;
      }
      ParseNestedObject(entry, r, on_event);  // counts the non-object as malformed
    });
  if (err) Malformed(internal::JsonError(err), r);
}

}  // namespace vigil::ingest

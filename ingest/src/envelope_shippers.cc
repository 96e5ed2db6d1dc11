// EnvelopeDecoder: the shipper wrappers (Vector, Fluent Bit, Logstash) around an Event, JSON lines
// batched into one record, and the names of EnvelopeChoice.
#include <cstring>
#include <memory>
#include <string>

#include "envelope_internal.h"
#include "event_reader.h"
#include "vigil/ingest/envelope.h"

namespace vigil::ingest {

using simdjson::SUCCESS;
using simdjson::ondemand::json_type;

namespace {

struct ChoiceName {
  std::string_view name;
  EnvelopeChoice choice;
};
constexpr ChoiceName kChoiceNames[] = {
    {"auto", EnvelopeChoice::kAuto},
    {"event", EnvelopeChoice::kEvent},
    {"eventlist", EnvelopeChoice::kEventList},
    {"jsonl", EnvelopeChoice::kJsonLines},
    {"cloudwatch", EnvelopeChoice::kCloudWatch},
    {"aks", EnvelopeChoice::kAks},
    {"gke", EnvelopeChoice::kGke},
    {"vector", EnvelopeChoice::kVector},
    {"fluentbit", EnvelopeChoice::kFluentBit},
    {"logstash", EnvelopeChoice::kLogstash},
};

std::string_view ExpectedShape(EnvelopeChoice choice) {
  switch (choice) {
    case EnvelopeChoice::kEvent:
      return "an audit Event";
    case EnvelopeChoice::kEventList:
      return "an EventList ({\"kind\":\"EventList\",\"items\":[...]})";
    case EnvelopeChoice::kCloudWatch:
      return "a CloudWatch Logs record (logEvents[] or message)";
    case EnvelopeChoice::kAks:
      return "an AKS diagnostic record (records[] or properties.log)";
    case EnvelopeChoice::kGke:
      return "a GKE LogEntry with protoPayload";
    case EnvelopeChoice::kVector:
      return "a Vector record with a string 'message' (or an Event or EventList at the top level)";
    case EnvelopeChoice::kFluentBit:
      return "a Fluent Bit record with a string 'log' or 'message' (or an Event or EventList at "
             "the top level)";
    case EnvelopeChoice::kLogstash:
      return "a Logstash record with an object 'event' or a string 'message' (or an Event or "
             "EventList at the top level)";
    case EnvelopeChoice::kAuto:
    case EnvelopeChoice::kJsonLines:
      break;
  }
  return "a JSON object";
}

std::string_view TypeName(json_type t) {
  switch (t) {
    case json_type::array:
      return "an array";
    case json_type::object:
      return "an object";
    case json_type::number:
      return "a number";
    case json_type::string:
      return "a string";
    case json_type::boolean:
      return "a boolean";
    case json_type::null:
      return "null";
    default:
      return "an unknown value";
  }
}

std::string_view KindLabel(EnvelopeKind kind) {
  switch (kind) {
    case EnvelopeKind::kVector:
      return "Vector";
    case EnvelopeKind::kFluentBit:
      return "Fluent Bit";
    default:
      return "Logstash";
  }
}

// Static text (DecodeResult::skip_reason is a view).
std::string_view NotJsonReason(EnvelopeKind kind) {
  switch (kind) {
    case EnvelopeKind::kVector:
      return "Vector message is not JSON";
    case EnvelopeKind::kFluentBit:
      return "Fluent Bit log is not JSON";
    default:
      return "Logstash message is not JSON";
  }
}

EnvelopeChoice ChoiceOf(EnvelopeKind kind) {
  switch (kind) {
    case EnvelopeKind::kVector:
      return EnvelopeChoice::kVector;
    case EnvelopeKind::kFluentBit:
      return EnvelopeChoice::kFluentBit;
    default:
      return EnvelopeChoice::kLogstash;
  }
}

}  // namespace

Result<EnvelopeChoice> ParseEnvelopeChoice(std::string_view name) {
  if (name == "fluentd") return EnvelopeChoice::kFluentBit;  // same shapes
  for (const ChoiceName& c : kChoiceNames) {
    if (c.name == name) return c.choice;
  }
  std::string allowed;
  for (const ChoiceName& c : kChoiceNames) {
    if (!allowed.empty()) allowed += ", ";
    allowed += c.name;
  }
  return Status::InvalidArgument("unknown envelope \"" + std::string(name.substr(0, 64)) +
                                 "\" (allowed: " + allowed + ", fluentd)");
}

std::string_view EnvelopeChoiceName(EnvelopeChoice choice) {
  for (const ChoiceName& c : kChoiceNames) {
    if (c.choice == choice) return c.name;
  }
  return "auto";
}

namespace internal {

bool LooksLikeJsonLines(const char* data, size_t len) {
  std::string_view text(data, len);
  constexpr std::string_view kBlank = " \t\r\n";
  const size_t begin = text.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) return false;
  const size_t nl = text.find('\n', begin);
  if (nl == std::string_view::npos) return false;
  std::string_view first = text.substr(begin, nl - begin);
  first = first.substr(0, first.find_last_not_of(kBlank) + 1);
  if (first.size() < 2) return false;
  const bool whole = (first.front() == '{' && first.back() == '}') ||
                     (first.front() == '[' && first.back() == ']');
  return whole && text.find_first_not_of(kBlank, nl) != std::string_view::npos;
}

Status ExpectedShapeError(EnvelopeChoice choice, std::string_view got) {
  std::string m = "expected ";
  m += ExpectedShape(choice);
  if (!got.empty()) {
    m += ", got ";
    m += got;
  }
  m += " (envelope forced to '";
  m += EnvelopeChoiceName(choice);
  m += "')";
  return Status::InvalidArgument(std::move(m));
}

EnvelopeKind ShipperKind(EnvelopeChoice choice) {
  switch (choice) {
    case EnvelopeChoice::kVector:
      return EnvelopeKind::kVector;
    case EnvelopeChoice::kFluentBit:
      return EnvelopeKind::kFluentBit;
    case EnvelopeChoice::kLogstash:
      return EnvelopeKind::kLogstash;
    default:
      return EnvelopeKind::kUnknown;
  }
}

}  // namespace internal

// Recognises a wrapper by its keys (the shippers' own fields), so that a bare {"message": ...}
// stays a CloudWatch entry:
//   Logstash:   "@version", or "event" holding an object, or "@timestamp" as text + "message";
//   Vector:     "source_type" (every Vector source sets it), or "file" + "host" + "message";
//   Fluent Bit: "log", or "@timestamp" as a number (its default timestamp_format) + "message".
simdjson::error_code EnvelopeDecoder::FindWrapper(simdjson::ondemand::document& doc,
                                                  EnvelopeKind* kind) {
  *kind = EnvelopeKind::kUnknown;
  simdjson::ondemand::object obj;
  if (auto err = doc.get_object().get(obj)) return err;
  bool message = false, log = false, event = false, event_object = false, version = false;
  bool source_type = false, file = false, host = false, ts = false, ts_number = false;
  for (auto field : obj) {
    std::string_view key;
    simdjson::ondemand::value v;
    json_type t;
    if (auto err = field.unescaped_key().get(key)) return err;
    if (auto err = field.value().get(v)) return err;
    if (auto err = v.type().get(t)) return err;
    if (key == "message") {
      message = true;
    } else if (key == "log") {
      log = true;
    } else if (key == "event") {
      event = true;
      event_object = t == json_type::object;
    } else if (key == "@version") {
      version = true;
    } else if (key == "@timestamp") {
      ts = true;
      ts_number = t == json_type::number;
    } else if (key == "source_type") {
      source_type = true;
    } else if (key == "file") {
      file = true;
    } else if (key == "host") {
      host = true;
    }
  }
  if (version && (event || message)) {
    *kind = EnvelopeKind::kLogstash;
  } else if (message && (source_type || (file && host && !ts))) {
    *kind = EnvelopeKind::kVector;
  } else if (log) {
    *kind = EnvelopeKind::kFluentBit;
  } else if (event_object || (ts && event)) {
    *kind = EnvelopeKind::kLogstash;
  } else if (ts && message) {
    *kind = ts_number ? EnvelopeKind::kFluentBit : EnvelopeKind::kLogstash;
  }
  return SUCCESS;
}

void EnvelopeDecoder::DecodeWrapper(simdjson::ondemand::document& doc, EnvelopeKind kind,
                                    DecodeResult* r, EventFn on_event) {
  simdjson::ondemand::object obj;
  auto err = doc.get_object().get(obj);
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  // Which field holds the Event: Vector "message"; Fluent Bit "log", else "message"; Logstash
  // "message" when it is a string (ECS mode keeps event.original beside it), else "event".
  simdjson::ondemand::value v;
  json_type t = json_type::null;
  std::string_view field;
  auto lookup = [&](std::string_view name) {
    err = obj.find_field_unordered(name).get(v);
    if (!err) err = v.type().get(t);
    if (err == SUCCESS) field = name;
    return err == SUCCESS;
  };
  switch (kind) {
    case EnvelopeKind::kVector:
      lookup("message");
      break;
    case EnvelopeKind::kFluentBit:
      if (!lookup("log") && err == simdjson::NO_SUCH_FIELD) lookup("message");
      break;
    default: {
      const bool has_message = lookup("message");
      if (has_message && t == json_type::string) break;
      if (!has_message && err != simdjson::NO_SUCH_FIELD) break;
      // A wrong-typed message is reported as such when there is no event either.
      if (!lookup("event") && err == simdjson::NO_SUCH_FIELD && has_message) lookup("message");
      break;
    }
  }
  if (err == simdjson::NO_SUCH_FIELD) {
    Malformed(internal::ExpectedShapeError(ChoiceOf(kind)), r);
    return;
  }
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  const bool event_field = field == "event";
  if (t == json_type::string && !event_field) {
    std::string_view s;
    if ((err = v.get_string().get(s))) {
      Malformed(internal::JsonError(err), r);
      return;
    }
    DecodeWrappedString(s, kind, r, on_event);
    return;
  }
  if (t == json_type::object) {
    ParseNestedObject(v, r, on_event);  // an Event object (anything else is malformed)
    return;
  }
  std::string m(KindLabel(kind));
  m += " record: '";
  m += field;
  m += "' is ";
  m += TypeName(t);
  m += event_field ? ", not an Event object" : ", not a JSON string or an Event object";
  Malformed(Status::InvalidArgument(std::move(m)), r);
}

void EnvelopeDecoder::DecodeWrappedString(std::string_view s, EnvelopeKind kind, DecodeResult* r,
                                          EventFn on_event) {
  const size_t i = s.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || (s[i] != '{' && s[i] != '[')) {
    Skip(NotJsonReason(kind), r);
    return;
  }
  Merge(DecodeInner(s, cluster_, on_event), r);
}

DecodeResult EnvelopeDecoder::DecodeInner(std::string_view json, std::string_view cluster,
                                          EventFn on_event) {
  DecodeResult nr;
  // The string was unescaped from a record within max_record_bytes, so it is too; checked anyway
  // because the nested decoder copies it.
  if (json.size() > options_.max_record_bytes) {
    Malformed(internal::SizeError("wrapped record", json.size(), options_.max_record_bytes), &nr);
    return nr;
  }
  if (!nested_) nested_ = std::make_unique<EnvelopeDecoder>(options_);
  EnvelopeDecoder& n = *nested_;
  n.cluster_ = cluster;
  n.buffer_.Assign(json.data(), json.size());
  n.DecodeJson(n.buffer_.data(), n.buffer_.size(), n.buffer_.capacity(), EnvelopeChoice::kAuto,
               Layer::kInner, &nr, on_event);
  return nr;
}

void EnvelopeDecoder::DecodeLines(const char* data, size_t len, size_t capacity, DecodeResult* r,
                                  EventFn on_event) {
  r->envelope = EnvelopeKind::kJsonLines;
  const char* end = data + len;
  const char* limit = data + capacity;  // each line is parsed in place, padded by what follows
  for (const char* p = data; p < end;) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    const char* b = p;
    const char* e = line_end;
    while (b < e && (*b == ' ' || *b == '\t' || *b == '\r')) ++b;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) --e;
    if (b < e) {
      DecodeResult lr;
      const size_t n = static_cast<size_t>(e - b);
      DecodeJson(b, n, static_cast<size_t>(limit - b), EnvelopeChoice::kAuto, Layer::kLine, &lr,
                 on_event);
      Merge(lr, r);
    }
    p = nl ? nl + 1 : end;
  }
}

}  // namespace vigil::ingest

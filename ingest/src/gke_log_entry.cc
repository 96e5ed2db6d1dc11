// EnvelopeDecoder::DecodeGke: converts a GKE Cloud Audit Logs LogEntry (protoPayload.serviceName
// "k8s.io") into an AuditEvent. The conversion is lossy (no groups, no real auditID, code inferred
// from the google.rpc status); see AUDIT-FORMAT.md.
#include <array>
#include <cstdio>
#include <string>

#include "event_reader.h"
#include "vigil/core/time_util.h"
#include "vigil/ingest/envelope.h"

namespace vigil::ingest {
namespace {

using simdjson::SUCCESS;
using simdjson::ondemand::json_type;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

// The string value of `v`, or empty when v is not a string (wrong types are ignored here: the
// LogEntry is converted from whatever is usable).
std::string_view StringOf(value& v) {
  json_type t;
  std::string_view s;
  if (v.type().get(t) != SUCCESS || t != json_type::string) return {};
  if (v.get_string().get(s) != SUCCESS) return {};
  return s;
}

// On-Demand checks an atom (true, false, null, a number) only when it is read, so one that is
// ignored could be broken (`tru`, `-`) without an error. Reads it to find out. Strings are read
// by the caller; objects and arrays are left to the iterator.
simdjson::error_code CheckScalar(value& v) {
  json_type t;
  if (auto err = v.type().get(t)) return err;
  switch (t) {
    case json_type::boolean: {
      bool b = false;
      return v.get_bool().get(b);
    }
    case json_type::null: {
      bool is_null = false;
      if (auto err = v.is_null().get(is_null)) return err;
      return is_null ? SUCCESS : simdjson::N_ATOM_ERROR;
    }
    case json_type::number: {
      double d = 0;
      return v.get_double().get(d);
    }
    default:
      return SUCCESS;
  }
}

bool ObjectOf(value& v, object* o) {
  json_type t;
  return v.type().get(t) == SUCCESS && t == json_type::object && v.get_object().get(*o) == SUCCESS;
}

int32_t HttpCodeFromRpc(int64_t rpc) {
  switch (rpc) {
    case 0:
      return 200;
    case 3:
      return 400;
    case 5:
      return 404;
    case 6:
      return 409;
    case 7:
      return 403;
    case 16:
      return 401;
    default:
      return 500;
  }
}

uint64_t Fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

struct GkeFields {
  std::string_view insert_id, timestamp, receive_timestamp;
  std::string_view service, method, resource_name, principal, caller_ip, user_agent;
  std::string_view status_message;
  bool has_status_code = false;
  int64_t status_code = 0;
  bool any_granted = false, any_denied = false;
};

}  // namespace

void EnvelopeDecoder::DecodeGke(simdjson::ondemand::document& doc, DecodeResult* r,
                                EventFn on_event) {
  event_.Clear();
  report_.Clear();
  GkeFields f;
  object entry;
  auto err = doc.get_object().get(entry);
  if (!err)
    for (auto field : entry) {
      std::string_view key;
      value v;
      if ((err = field.unescaped_key().get(key)) || (err = field.value().get(v))) break;
      if (key == "insertId") {
        f.insert_id = StringOf(v);
      } else if (key == "timestamp") {
        f.timestamp = StringOf(v);
      } else if (key == "receiveTimestamp") {
        f.receive_timestamp = StringOf(v);
      } else if (key == "labels") {
        object labels;
        if (!ObjectOf(v, &labels)) continue;
        for (auto lf : labels) {
          std::string_view lk;
          value lv;
          if ((err = lf.unescaped_key().get(lk)) || (err = lf.value().get(lv))) break;
          std::string_view s = StringOf(lv);
          if (!s.empty()) {
            event_.annotations.emplace_back(lk, s);
          } else if ((err = CheckScalar(lv))) {
            break;  // a value of another type is ignored, but must still be valid JSON
          }
        }
        if (err) break;  // the iterator is broken: don't let the next key overwrite err
      } else if (key == "protoPayload") {
        object pp;
        if (!ObjectOf(v, &pp)) continue;
        for (auto pf : pp) {
          std::string_view pk;
          value pv;
          if ((err = pf.unescaped_key().get(pk)) || (err = pf.value().get(pv))) break;
          object o;
          if (pk == "serviceName") {
            f.service = StringOf(pv);
          } else if (pk == "methodName") {
            f.method = StringOf(pv);
          } else if (pk == "resourceName") {
            f.resource_name = StringOf(pv);
          } else if (pk == "authenticationInfo") {
            value pe;
            if (ObjectOf(pv, &o) && o.find_field_unordered("principalEmail").get(pe) == SUCCESS) {
              f.principal = StringOf(pe);
            }
          } else if (pk == "requestMetadata") {
            if (!ObjectOf(pv, &o)) continue;
            for (auto mf : o) {
              std::string_view mk;
              value mv;
              if ((err = mf.unescaped_key().get(mk)) || (err = mf.value().get(mv))) break;
              if (mk == "callerIp") f.caller_ip = StringOf(mv);
              if (mk == "callerSuppliedUserAgent") f.user_agent = StringOf(mv);
            }
          } else if (pk == "authorizationInfo") {
            json_type t;
            simdjson::ondemand::array arr;
            if (pv.type().get(t) != SUCCESS || t != json_type::array ||
                pv.get_array().get(arr) != SUCCESS) {
              continue;
            }
            for (auto elem : arr) {
              value ev;
              object eo;
              value granted;
              bool g = false;
              if ((err = elem.get(ev))) break;
              if (ObjectOf(ev, &eo) && eo.find_field_unordered("granted").get(granted) == SUCCESS &&
                  granted.get_bool().get(g) == SUCCESS) {
                (g ? f.any_granted : f.any_denied) = true;
              }
            }
          } else if (pk == "status") {
            if (!ObjectOf(pv, &o)) continue;
            for (auto sf : o) {
              std::string_view sk;
              value sv;
              if ((err = sf.unescaped_key().get(sk)) || (err = sf.value().get(sv))) break;
              if (sk == "code") f.has_status_code = sv.get_int64().get(f.status_code) == SUCCESS;
              if (sk == "message") f.status_message = StringOf(sv);
            }
          } else if (pk == "request") {
            json_type t;
            if (pv.type().get(t) == SUCCESS && t != json_type::null) {
              err = internal::RawValue(pv, &event_.request_object);
            }
          } else if (pk == "response") {
            json_type t;
            if (pv.type().get(t) == SUCCESS && t != json_type::null) {
              err = internal::RawValue(pv, &event_.response_object);
            }
          }
          if (err) break;
        }
        if (err) break;
      }
    }
  if (err) {
    Malformed(internal::JsonError(err), r);
    return;
  }
  const bool k8s = f.service == "k8s.io" || (f.service.empty() && f.method.starts_with("io.k8s."));
  if (!k8s) {
    Skip("GKE LogEntry of a service other than k8s.io", r);
    return;
  }

  Status status = internal::CheckDepth(outer_data_, outer_len_, options_.parser.max_depth);
  int64_t ts = 0;
  if (auto us = ParseTimestampMicros(f.timestamp)) {
    ts = *us;
  } else if (auto rus = ParseTimestampMicros(f.receive_timestamp)) {
    ts = *rus;
  } else if (status.ok()) {
    status = Status::InvalidArgument("no usable timestamp (timestamp, receiveTimestamp)");
  }
  if (!status.ok()) {
    Malformed(std::move(status), r);
    return;
  }

  event_.api_version = "audit.k8s.io/v1";
  event_.kind = "Event";
  event_.stage = AuditStage::kResponseComplete;
  event_.level = (event_.request_object.empty() && event_.response_object.empty())
                     ? AuditLevel::kMetadata
                     : AuditLevel::kRequestResponse;
  event_.request_received_us = ts;
  event_.stage_us = ts;
  // verb: the last dot-separated part of methodName ("io.k8s.core.v1.pods.create" -> "create").
  size_t dot = f.method.rfind('.');
  event_.verb = dot == std::string_view::npos ? f.method : f.method.substr(dot + 1);
  if (!f.principal.empty()) {
    event_.user.present = true;
    event_.user.username = f.principal;
  }
  if (!f.caller_ip.empty()) event_.source_ips.push_back(f.caller_ip);
  event_.user_agent = f.user_agent;
  event_.response_status.present = true;
  event_.response_status.has_code = true;
  event_.response_status.code = HttpCodeFromRpc(f.has_status_code ? f.status_code : 0);
  event_.response_status.message = f.status_message;
  if (event_.Annotation("authorization.k8s.io/decision").empty() &&
      (f.any_granted || f.any_denied)) {
    event_.annotations.emplace_back("authorization.k8s.io/decision",
                                    f.any_denied ? "forbid" : "allow");
  }

  // objectRef from resourceName: "<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<sub>]]"
  // with group "core" for the legacy API. Anything else is a non-resource path ("readyz").
  std::string_view rn = f.resource_name;
  while (rn.starts_with('/')) rn.remove_prefix(1);
  std::array<std::string_view, 8> seg{};
  size_t nseg = 0;
  for (std::string_view rest = rn; !rest.empty() && nseg < seg.size();) {
    size_t slash = rest.find('/');
    seg[nseg++] = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  const bool resource_path =
      nseg >= 3 && seg[1].size() >= 2 && seg[1][0] == 'v' && seg[1][1] >= '0' && seg[1][1] <= '9';
  // Derived strings live in scratch_; reserve first so the views stay valid.
  scratch_.clear();
  scratch_.reserve(rn.size() + 64);
  size_t id_pos = scratch_.size();
  if (f.insert_id.empty()) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "gke-%016llx",
                  static_cast<unsigned long long>(Fnv1a(outer_data_, outer_len_)));
    scratch_ += hex;
  }
  size_t id_len = scratch_.size() - id_pos;
  size_t uri_pos = scratch_.size();
  if (resource_path) {
    ObjectRef& ref = event_.object_ref;
    ref.present = true;
    ref.api_group = seg[0] == "core" ? std::string_view() : seg[0];
    ref.api_version = seg[1];
    size_t i = 2;
    if (seg[i] == "namespaces" && nseg - i >= 3) {
      ref.namespace_ = seg[i + 1];
      i += 2;
    }
    ref.resource = seg[i];
    if (i + 1 < nseg) ref.name = seg[i + 1];
    if (i + 2 < nseg) ref.subresource = seg[i + 2];
    if (seg[0] == "core") {
      scratch_ += "/api/";
      scratch_ += rn.substr(5);
    } else {
      scratch_ += "/apis/";
      scratch_ += rn;
    }
  } else if (!rn.empty()) {
    scratch_ += '/';
    scratch_ += rn;
  }
  event_.audit_id =
      f.insert_id.empty() ? std::string_view(scratch_).substr(id_pos, id_len) : f.insert_id;
  event_.request_uri = std::string_view(scratch_).substr(uri_pos);
  Deliver(Status::Ok(), event_, report_, r, on_event);
}

}  // namespace vigil::ingest

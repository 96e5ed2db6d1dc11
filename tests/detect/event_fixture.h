// EventFixture: builds a vigil::AuditEvent from an audit Event JSON string for detect tests,
// without depending on ingest. Header-only; the event's string_views point into the fixture.
#pragma once

#include <simdjson.h>

#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "vigil/core/audit_event.h"
#include "vigil/core/time_util.h"

namespace vigil::detect::testing {

// Usage:
//   EventFixture fx(R"({"verb":"create","objectRef":{"resource":"pods"}})");
//   ASSERT_TRUE(fx.ok()) << fx.error();
//   engine->Evaluate(fx.event(), &findings);
// The fixture owns every string the event views; it is movable (views stay valid) but not
// copyable. Fields absent from the JSON stay empty/zero, as the ingest parser leaves them.
class EventFixture {
 public:
  explicit EventFixture(std::string_view json, std::string_view cluster = "") {
    event_.cluster = Own(cluster);
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    auto err = parser.parse(padded).get(root);
    if (err) {
      error_ = std::string("invalid JSON: ") + simdjson::error_message(err);
      return;
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) {
      error_ = "event is not a JSON object";
      return;
    }
    Fill(obj);
    event_.raw = Own(json);
  }
  EventFixture(EventFixture&&) = default;
  EventFixture& operator=(EventFixture&&) = default;
  EventFixture(const EventFixture&) = delete;
  EventFixture& operator=(const EventFixture&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const AuditEvent& event() const { return event_; }
  AuditEvent& mutable_event() { return event_; }
  void set_cluster(std::string_view cluster) { event_.cluster = Own(cluster); }

  // Copies `text` into storage the fixture owns and returns a view of the copy.
  std::string_view Own(std::string_view text) {
    storage_.emplace_back(text);
    return storage_.back();
  }

 private:
  std::string_view Str(simdjson::dom::element e) {
    std::string_view s;
    if (e.get_string().get(s) == simdjson::SUCCESS) return Own(s);
    return {};
  }

  std::string_view Field(simdjson::dom::object o, std::string_view key) {
    simdjson::dom::element e;
    if (o.at_key(key).get(e)) return {};
    return Str(e);
  }

  void StrArray(simdjson::dom::element e, std::vector<std::string_view>* out) {
    simdjson::dom::array arr;
    if (e.get_array().get(arr)) return;
    for (simdjson::dom::element v : arr) out->push_back(Str(v));
  }

  void FillUser(simdjson::dom::element e, UserInfo* u) {
    simdjson::dom::object o;
    if (e.get_object().get(o)) return;
    u->present = true;
    u->username = Field(o, "username");
    u->uid = Field(o, "uid");
    simdjson::dom::element g;
    if (!o.at_key("groups").get(g)) StrArray(g, &u->groups);
    simdjson::dom::object extra;
    if (!o.at_key("extra").get_object().get(extra)) {
      for (auto field : extra) {
        UserInfo::Extra x;
        x.key = Own(field.key);
        StrArray(field.value, &x.values);
        u->extra.push_back(std::move(x));
      }
    }
  }

  void Fill(simdjson::dom::object obj) {
    AuditEvent& e = event_;
    e.api_version = Field(obj, "apiVersion");
    e.kind = Field(obj, "kind");
    e.level = ParseAuditLevel(Field(obj, "level"));
    e.audit_id = Field(obj, "auditID");
    e.stage = ParseAuditStage(Field(obj, "stage"));
    e.request_uri = Field(obj, "requestURI");
    e.verb = Field(obj, "verb");
    e.user_agent = Field(obj, "userAgent");
    simdjson::dom::element v;
    if (!obj.at_key("user").get(v)) FillUser(v, &e.user);
    if (!obj.at_key("impersonatedUser").get(v)) FillUser(v, &e.impersonated_user);
    if (!obj.at_key("sourceIPs").get(v)) StrArray(v, &e.source_ips);
    simdjson::dom::object o;
    if (!obj.at_key("objectRef").get_object().get(o)) {
      ObjectRef& r = e.object_ref;
      r.present = true;
      r.resource = Field(o, "resource");
      r.namespace_ = Field(o, "namespace");
      r.name = Field(o, "name");
      r.uid = Field(o, "uid");
      r.api_group = Field(o, "apiGroup");
      r.api_version = Field(o, "apiVersion");
      r.resource_version = Field(o, "resourceVersion");
      r.subresource = Field(o, "subresource");
    }
    if (!obj.at_key("responseStatus").get_object().get(o)) {
      ResponseStatus& s = e.response_status;
      s.present = true;
      int64_t code = 0;
      if (!o.at_key("code").get_int64().get(code)) {
        s.has_code = true;
        s.code = static_cast<int32_t>(code);
      }
      s.status = Field(o, "status");
      s.reason = Field(o, "reason");
      s.message = Field(o, "message");
    }
    if (!obj.at_key("requestObject").get(v) && !v.is_null()) {
      e.request_object = Own(simdjson::minify(v));
    }
    if (!obj.at_key("responseObject").get(v) && !v.is_null()) {
      e.response_object = Own(simdjson::minify(v));
    }
    if (auto t = ParseTimestampMicros(Field(obj, "requestReceivedTimestamp"))) {
      e.request_received_us = *t;
    }
    if (auto t = ParseTimestampMicros(Field(obj, "stageTimestamp"))) e.stage_us = *t;
    if (!obj.at_key("annotations").get_object().get(o)) {
      for (auto field : o) e.annotations.emplace_back(Own(field.key), Str(field.value));
    }
  }

  std::deque<std::string> storage_;  // deque: growing never moves existing strings
  AuditEvent event_;
  std::string error_;
};

}  // namespace vigil::detect::testing

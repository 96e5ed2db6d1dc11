// Tests for EnvelopeDecoder: Event, EventList, arrays, AKS, CloudWatch, GKE, skipped records.
#include "vigil/ingest/envelope.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vigil/core/time_util.h"

namespace vigil::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A copy of what the decoder delivered (views die after the callback).
struct Seen {
  std::string audit_id, verb, username, resource, ns, name, subresource, api_group, uri, agent;
  std::string request_object, response_object, decision, raw;
  std::vector<std::string> source_ips;
  int32_t code = 0;
  int64_t time_us = 0;
};

struct Collector {
  std::vector<Seen> events;
  DecodeResult Decode(EnvelopeDecoder& d, std::string_view record) {
    return d.Decode(record, [&](const AuditEvent& e) {
      Seen s;
      s.audit_id = e.audit_id;
      s.verb = e.verb;
      s.username = e.user.username;
      s.resource = e.object_ref.resource;
      s.ns = e.object_ref.namespace_;
      s.name = e.object_ref.name;
      s.subresource = e.object_ref.subresource;
      s.api_group = e.object_ref.api_group;
      s.uri = e.request_uri;
      s.agent = e.user_agent;
      s.request_object = e.request_object;
      s.response_object = e.response_object;
      s.raw = e.raw;
      s.decision = e.Annotation("authorization.k8s.io/decision");
      for (auto ip : e.source_ips) s.source_ips.emplace_back(ip);
      s.code = e.response_status.code;
      s.time_us = e.EventTimeMicros();
      events.push_back(std::move(s));
    });
  }
};

std::string Event(std::string_view id, std::string_view extra = "") {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":")" + std::string(id) +
         R"(","verb":"get","stageTimestamp":"2024-05-01T10:00:00Z")" + std::string(extra) + "}";
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

TEST(EnvelopeDecoderTest, PlainEvent) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, Event("e1"));
  EXPECT_EQ(r.envelope, EnvelopeKind::kEvent);
  EXPECT_EQ(r.events, 1u);
  EXPECT_EQ(r.malformed, 0u);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].audit_id, "e1");
  EXPECT_EQ(c.events[0].raw, Event("e1"));  // the record, for rules that print the whole event
}

TEST(EnvelopeDecoderTest, EventMissingAuditIdIsMalformed) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r =
      c.Decode(d, R"({"kind":"Event","verb":"get","stageTimestamp":"2024-05-01T10:00:00Z"})");
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
}

TEST(EnvelopeDecoderTest, UnrelatedObjectsAreSkipped) {
  EnvelopeDecoder d;
  Collector c;
  for (std::string_view rec :
       {R"({"hello":"world"})", R"({"kind":"Pod","apiVersion":"v1","metadata":{}})",
        R"({"kind":"Event","apiVersion":"v1","reason":"Pulled"})",
        R"({"message":"plain text log line"})"}) {
    DecodeResult r = c.Decode(d, rec);
    EXPECT_TRUE(r.SkippedWhole()) << rec;
    EXPECT_FALSE(r.skip_reason.empty()) << rec;
    EXPECT_EQ(r.malformed, 0u) << rec;
  }
  EXPECT_TRUE(c.events.empty());
}

TEST(EnvelopeDecoderTest, NotJsonIsMalformed) {
  EnvelopeDecoder d;
  Collector c;
  for (std::string_view rec : {"{\"a\":", "nope", "42", "{\"auditID\":\"a\"} x"}) {
    DecodeResult r = c.Decode(d, rec);
    EXPECT_EQ(r.malformed, 1u) << rec;
    EXPECT_EQ(r.events, 0u) << rec;
  }
}

TEST(EnvelopeDecoderTest, EventList) {
  EnvelopeDecoder d;
  Collector c;
  std::string list =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[)" +
      Event("a", R"(,"requestObject":{"x":[1,2]})") + "," + R"({"kind":"Event","verb":"get"})" +
      "," + Event("c") + ",17]}";
  DecodeResult r = c.Decode(d, list);
  EXPECT_EQ(r.envelope, EnvelopeKind::kEventList);
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.malformed, 2u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].audit_id, "a");
  EXPECT_EQ(c.events[0].request_object, R"({"x":[1,2]})");
  EXPECT_EQ(c.events[0].raw, Event("a", R"(,"requestObject":{"x":[1,2]})"));  // the item's text
  EXPECT_EQ(c.events[1].audit_id, "c");

  // Items over the per-event limit are rejected one by one; the list itself may be larger.
  EnvelopeOptions opts;
  opts.parser.max_event_bytes = 200;
  EnvelopeDecoder small(opts);
  std::string big = R"({"kind":"EventList","items":[)" + Event("a") + "," +
                    Event("b", R"(,"requestObject":")" + std::string(300, 'x') + "\"") + "," +
                    Event("c") + "]}";
  c.events.clear();
  r = c.Decode(small, big);
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("exceeds the limit of 200 bytes"));

  r = c.Decode(d, R"({"kind":"EventList","items":[]})");
  EXPECT_EQ(r.events + r.malformed + r.skipped, 0u);
}

TEST(EnvelopeDecoderTest, TopLevelArray) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, "[" + Event("a") + ",\n " + Event("b") + "]");
  EXPECT_EQ(r.envelope, EnvelopeKind::kArray);
  EXPECT_EQ(r.events, 2u);
  r = c.Decode(d, "[1]");
  EXPECT_EQ(r.malformed, 1u);
}

TEST(EnvelopeDecoderTest, AksStringAndObjectForms) {
  EnvelopeDecoder d;
  Collector c;
  std::string as_string = R"({"category":"kube-audit","operationName":"x","properties":{"log":)" +
                          Quote(Event("s1")) + R"(,"stream":"stdout"},"time":"2025-01-01"})";
  DecodeResult r = c.Decode(d, as_string);
  EXPECT_EQ(r.envelope, EnvelopeKind::kAks);
  EXPECT_EQ(r.events, 1u);
  std::string as_object =
      R"({"properties":{"pod":"p","log":)" + Event("o1") + R"(},"category":"kube-audit-admin"})";
  r = c.Decode(d, as_object);
  EXPECT_EQ(r.events, 1u);
  std::string records = R"({"records":[)" + as_string + "," + as_object + "," +
                        R"({"category":"kube-apiserver","properties":{"log":"I0101 started"}})" +
                        "," + R"({"category":"kube-audit","properties":{}})" + "]}";
  r = c.Decode(d, records);
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("properties.log"));
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_EQ(c.events[0].audit_id, "s1");
  EXPECT_EQ(c.events[1].audit_id, "o1");
  EXPECT_EQ(c.events[2].audit_id, "s1");
  EXPECT_EQ(c.events[3].audit_id, "o1");
}

TEST(EnvelopeDecoderTest, CloudWatch) {
  EnvelopeDecoder d;
  Collector c;
  std::string sub = R"({"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/eks/c/cluster",)"
                    R"("logEvents":[{"id":"1","timestamp":1,"message":)" +
                    Quote(Event("w1")) + R"(},{"id":"2","message":)" + Quote(Event("w2")) +
                    R"(},{"id":"3","message":"{\"auditID\":\"t\",[Truncated...]"}]})";
  DecodeResult r = c.Decode(d, sub);
  EXPECT_EQ(r.envelope, EnvelopeKind::kCloudWatch);
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.malformed, 1u);
  r = c.Decode(d, R"({"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL"}]})");
  EXPECT_TRUE(r.SkippedWhole());
  r = c.Decode(d, R"({"message":)" + Quote(Event("m1")) + "}");
  EXPECT_EQ(r.events, 1u);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].audit_id, "w1");
  EXPECT_EQ(c.events[1].audit_id, "w2");
  EXPECT_EQ(c.events[2].audit_id, "m1");
}

constexpr std::string_view kGke =
    R"({"insertId":"ins-1","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity",)"
    R"("resource":{"type":"k8s_cluster","labels":{"cluster_name":"c"}},)"
    R"("timestamp":"2024-01-19T13:47:18.279921Z","receiveTimestamp":"2024-01-19T13:47:19Z",)"
    R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",)"
    R"("serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.exec.create",)"
    R"("resourceName":"core/v1/namespaces/prod/pods/db-0/exec",)"
    R"("authenticationInfo":{"principalEmail":"mallory@example.com"},)"
    R"("authorizationInfo":[{"granted":true,"permission":"io.k8s.core.v1.pods.exec.create"}],)"
    R"("requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"kubectl/v1.28"},)"
    R"("status":{"code":7,"message":"denied"},"request":{"command":["sh"]},)"
    R"("response":{"kind":"Status"}}})";

TEST(EnvelopeDecoderTest, GkeConversion) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, kGke);
  EXPECT_EQ(r.envelope, EnvelopeKind::kGke);
  ASSERT_EQ(r.events, 1u) << r.first_error.message();
  const Seen& e = c.events[0];
  EXPECT_EQ(e.audit_id, "ins-1");
  EXPECT_EQ(e.verb, "create");
  EXPECT_EQ(e.username, "mallory@example.com");
  EXPECT_EQ(e.resource, "pods");
  EXPECT_EQ(e.ns, "prod");
  EXPECT_EQ(e.name, "db-0");
  EXPECT_EQ(e.subresource, "exec");
  EXPECT_EQ(e.api_group, "");
  EXPECT_EQ(e.uri, "/api/v1/namespaces/prod/pods/db-0/exec");
  EXPECT_EQ(e.agent, "kubectl/v1.28");
  EXPECT_THAT(e.source_ips, ElementsAre("203.0.113.5"));
  EXPECT_EQ(e.code, 403);
  EXPECT_EQ(e.request_object, R"({"command":["sh"]})");
  EXPECT_EQ(e.response_object, R"({"kind":"Status"})");
  EXPECT_EQ(e.decision, "allow");
  EXPECT_EQ(e.time_us, *ParseTimestampMicros("2024-01-19T13:47:18.279921Z"));
}

TEST(EnvelopeDecoderTest, GkeVariants) {
  EnvelopeDecoder d;
  Collector c;
  // No insertId: a stable id derived from the record.
  std::string no_id =
      R"({"timestamp":"2024-01-19 13:47:18","protoPayload":{"serviceName":"k8s.io",)"
      R"("methodName":"io.k8s.rbac.v1.clusterrolebindings.create",)"
      R"("resourceName":"rbac.authorization.k8s.io/v1/clusterrolebindings/admin-x",)"
      R"("authorizationInfo":[{"granted":false}]}})";
  ASSERT_EQ(c.Decode(d, no_id).events, 1u);
  ASSERT_EQ(c.Decode(d, no_id).events, 1u);
  EXPECT_EQ(c.events[0].audit_id, c.events[1].audit_id);
  EXPECT_THAT(c.events[0].audit_id, ::testing::StartsWith("gke-"));
  EXPECT_EQ(c.events[0].resource, "clusterrolebindings");
  EXPECT_EQ(c.events[0].api_group, "rbac.authorization.k8s.io");
  EXPECT_EQ(c.events[0].name, "admin-x");
  EXPECT_EQ(c.events[0].uri, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/admin-x");
  EXPECT_EQ(c.events[0].decision, "forbid");
  EXPECT_EQ(c.events[0].code, 200);

  // Another service: skipped, not malformed.
  DecodeResult r = c.Decode(
      d,
      R"({"timestamp":"2024-01-19T13:47:18Z","protoPayload":{"serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.insert"}})");
  EXPECT_TRUE(r.SkippedWhole());
  // k8s.io without any timestamp: malformed.
  r = c.Decode(
      d, R"({"protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get"}})");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("no usable timestamp"));
  // Non-resource path.
  c.events.clear();
  r = c.Decode(
      d,
      R"({"insertId":"n","timestamp":"2021-04-23T14:47:07Z","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.get","resourceName":"HNAP1","status":{"code":16}}})");
  ASSERT_EQ(r.events, 1u);
  EXPECT_EQ(c.events[0].verb, "get");
  EXPECT_EQ(c.events[0].uri, "/HNAP1");
  EXPECT_EQ(c.events[0].resource, "");
  EXPECT_EQ(c.events[0].code, 401);
}

TEST(EnvelopeDecoderTest, GkeJsonErrorInsideLabelsIsMalformed) {
  // Bad JSON inside `labels` must not be overwritten by the next key's success: the entry is
  // malformed, never delivered.
  const std::string tail =
      R"("protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get",)"
      R"("resourceName":"core/v1/namespaces/prod/pods/db-0"}})";
  const std::string head = R"({"insertId":"ins-2","timestamp":"2024-01-19T13:47:18Z",)";
  for (std::string_view labels :
       {R"("labels":{"a":tru},)", R"("labels":{"a":"x","b":nul},)", R"("labels":{"a" "x"},)",
        R"("labels":{"a":"x",,"b":"y"},)", R"("labels":{"a":-},)"}) {
    EnvelopeDecoder d;
    Collector c;
    DecodeResult r = c.Decode(d, head + std::string(labels) + tail);
    EXPECT_EQ(r.malformed, 1u) << labels;
    EXPECT_EQ(r.events, 0u) << labels;
    EXPECT_TRUE(c.events.empty()) << labels;
    EXPECT_FALSE(r.first_error.ok()) << labels;
  }
  // The same entry with good labels is delivered, labels as annotations.
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, head + R"("labels":{"a":"x","n":1},)" + tail);
  ASSERT_EQ(r.events, 1u) << r.first_error.message();
  EXPECT_EQ(c.events[0].audit_id, "ins-2");
}

TEST(EnvelopeDecoderTest, RecordLimit) {
  EnvelopeOptions opts;
  opts.max_record_bytes = 100;
  EnvelopeDecoder d(opts);
  Collector c;
  DecodeResult r =
      c.Decode(d, R"({"kind":"EventList","items":[)" + Event("a") + "," + Event("b") + "]}");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("exceeds the limit of 100 bytes"));
}

}  // namespace
}  // namespace vigil::ingest

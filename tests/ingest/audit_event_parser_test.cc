// Tests for AuditEventParser: every schema field, raw bodies, and the bad-input policy.
#include "vigil/ingest/audit_event_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "vigil/core/time_util.h"

namespace vigil::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr std::string_view kRequestObject =
    R"({"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"a","image":"nginx"}]}})";
constexpr std::string_view kResponseObject = R"([ {"op":"add","path":"/x","value":1} ])";

std::string FullEvent() {
  return std::string(
             R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",)"
             R"("auditID":"0a1b2c","stage":"ResponseComplete",)"
             R"("requestURI":"/api/v1/namespaces/default/pods?dryRun=All","verb":"create",)"
             R"("user":{"username":"alice","uid":"u-1","groups":["system:authenticated","dev"],)"
             R"("extra":{"iam.gke.io/user-assertion":["a1","a2"],"authentication.kubernetes.io/pod-name":["p"]}},)"
             R"("impersonatedUser":{"username":"bob","groups":["team"]},)"
             R"("sourceIPs":["10.0.0.1","192.168.1.2"],"userAgent":"kubectl/v1.29.0",)"
             R"("objectRef":{"resource":"pods","namespace":"default","name":"web","uid":"o-1",)"
             R"("apiGroup":"","apiVersion":"v1","resourceVersion":"42","subresource":"exec"},)"
             R"("responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","message":"no","code":403},)"
             R"("requestObject":)") +
         std::string(kRequestObject) + R"(,"responseObject":)" + std::string(kResponseObject) +
         R"(,"requestReceivedTimestamp":"2024-05-01T10:00:00.123456Z",)"
         R"("stageTimestamp":"2024-05-01T10:00:01.000001Z",)"
         R"("annotations":{"authorization.k8s.io/decision":"forbid","pod-security.kubernetes.io/enforce-policy":"restricted:latest"}})";
}

TEST(AuditEventParserTest, ParsesEveryField) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  std::string json = FullEvent();
  ASSERT_TRUE(parser.Parse(json, &ev, &report).ok()) << parser.Parse(json, &ev, &report).message();
  EXPECT_EQ(ev.api_version, "audit.k8s.io/v1");
  EXPECT_EQ(ev.kind, "Event");
  EXPECT_EQ(ev.level, AuditLevel::kRequestResponse);
  EXPECT_EQ(ev.audit_id, "0a1b2c");
  EXPECT_EQ(ev.raw, json);
  EXPECT_EQ(ev.stage, AuditStage::kResponseComplete);
  EXPECT_EQ(ev.request_uri, "/api/v1/namespaces/default/pods?dryRun=All");
  EXPECT_EQ(ev.verb, "create");
  EXPECT_TRUE(ev.user.present);
  EXPECT_EQ(ev.user.username, "alice");
  EXPECT_EQ(ev.user.uid, "u-1");
  EXPECT_THAT(ev.user.groups, ElementsAre("system:authenticated", "dev"));
  ASSERT_EQ(ev.user.extra.size(), 2u);
  EXPECT_EQ(ev.user.extra[0].key, "iam.gke.io/user-assertion");
  EXPECT_THAT(ev.user.extra[0].values, ElementsAre("a1", "a2"));
  EXPECT_EQ(ev.user.extra[1].key, "authentication.kubernetes.io/pod-name");
  EXPECT_THAT(ev.user.extra[1].values, ElementsAre("p"));
  EXPECT_TRUE(ev.impersonated_user.present);
  EXPECT_EQ(ev.impersonated_user.username, "bob");
  EXPECT_THAT(ev.impersonated_user.groups, ElementsAre("team"));
  EXPECT_THAT(ev.source_ips, ElementsAre("10.0.0.1", "192.168.1.2"));
  EXPECT_EQ(ev.user_agent, "kubectl/v1.29.0");
  EXPECT_TRUE(ev.object_ref.present);
  EXPECT_EQ(ev.object_ref.resource, "pods");
  EXPECT_EQ(ev.object_ref.namespace_, "default");
  EXPECT_EQ(ev.object_ref.name, "web");
  EXPECT_EQ(ev.object_ref.uid, "o-1");
  EXPECT_EQ(ev.object_ref.api_group, "");
  EXPECT_EQ(ev.object_ref.api_version, "v1");
  EXPECT_EQ(ev.object_ref.resource_version, "42");
  EXPECT_EQ(ev.object_ref.subresource, "exec");
  EXPECT_TRUE(ev.response_status.present);
  EXPECT_TRUE(ev.response_status.has_code);
  EXPECT_EQ(ev.response_status.code, 403);
  EXPECT_EQ(ev.response_status.status, "Failure");
  EXPECT_EQ(ev.response_status.reason, "Forbidden");
  EXPECT_EQ(ev.response_status.message, "no");
  EXPECT_EQ(ev.request_object, kRequestObject);
  EXPECT_EQ(ev.response_object, kResponseObject);
  EXPECT_EQ(ev.request_received_us, *ParseTimestampMicros("2024-05-01T10:00:00.123456Z"));
  EXPECT_EQ(ev.stage_us, *ParseTimestampMicros("2024-05-01T10:00:01.000001Z"));
  EXPECT_THAT(ev.annotations,
              ElementsAre(Pair("authorization.k8s.io/decision", "forbid"),
                          Pair("pod-security.kubernetes.io/enforce-policy", "restricted:latest")));
  EXPECT_EQ(ev.Annotation("authorization.k8s.io/decision"), "forbid");
  EXPECT_EQ(report.dropped_fields, 0u);
  EXPECT_EQ(report.coerced_fields, 0u);
}

TEST(AuditEventParserTest, ReusedParserClearsPreviousEvent) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser.Parse(FullEvent(), &ev, &report).ok());
  ASSERT_TRUE(
      parser.Parse(R"({"auditID":"x","stageTimestamp":"2024-05-01T10:00:00Z"})", &ev, &report)
          .ok());
  EXPECT_EQ(ev.audit_id, "x");
  EXPECT_TRUE(ev.verb.empty());
  EXPECT_TRUE(ev.user.groups.empty());
  EXPECT_TRUE(ev.annotations.empty());
  EXPECT_EQ(ev.request_received_us, 0);
  EXPECT_EQ(ev.EventTimeMicros(), *ParseTimestampMicros("2024-05-01T10:00:00Z"));
}

TEST(AuditEventParserTest, EscapedStringsAreUnescaped) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a\"b","requestURI":"/x?command=sh\u0026c",)"
                         R"("annotations":{"k8s.io\/deprecated":"true"},)"
                         R"("stageTimestamp":"2024-05-01T10:00:00Z"})",
                         &ev, &report)
                  .ok());
  EXPECT_EQ(ev.audit_id, "a\"b");
  EXPECT_EQ(ev.request_uri, "/x?command=sh&c");
  EXPECT_EQ(ev.Annotation("k8s.io/deprecated"), "true");
}

TEST(AuditEventParserTest, V1beta1TimestampFallback) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"kind":"Event","apiVersion":"audit.k8s.io/v1beta1",)"
                         R"("metadata":{"creationTimestamp":"2017-09-11T19:55:05Z"},)"
                         R"("level":"Metadata","timestamp":"2017-09-11T19:55:05Z",)"
                         R"("auditID":"033d17af","stage":"ResponseComplete","verb":"list"})",
                         &ev, &report)
                  .ok());
  int64_t ts = *ParseTimestampMicros("2017-09-11T19:55:05Z");
  EXPECT_EQ(ev.request_received_us, ts);
  EXPECT_EQ(ev.stage_us, ts);
  EXPECT_EQ(ev.api_version, "audit.k8s.io/v1beta1");

  // `timestamp` only fills what is absent.
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"b","timestamp":"2017-09-11T19:55:05Z",)"
                         R"("stageTimestamp":"2017-09-11T19:55:06Z"})",
                         &ev, &report)
                  .ok());
  EXPECT_EQ(ev.request_received_us, ts);
  EXPECT_EQ(ev.stage_us, *ParseTimestampMicros("2017-09-11T19:55:06Z"));
}

TEST(AuditEventParserTest, PaddedOverloadsParseInPlace) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  std::string json = FullEvent();
  simdjson::padded_string padded(json);
  ASSERT_TRUE(parser.Parse(simdjson::padded_string_view(padded), &ev, &report).ok());
  // The raw body points into the caller's buffer: no copy was made.
  EXPECT_GE(ev.request_object.data(), padded.data());
  EXPECT_LT(ev.request_object.data(), padded.data() + padded.size());
  // Too little capacity: the parser copies.
  ASSERT_TRUE(parser.Parse(json.data(), json.size(), json.size(), &ev, &report).ok());
  EXPECT_FALSE(ev.request_object.data() >= json.data() &&
               ev.request_object.data() < json.data() + json.size());
  EXPECT_EQ(ev.request_object, kRequestObject);
}

Status ParseOne(std::string_view json, ParseReport* report = nullptr, ParserOptions options = {}) {
  AuditEventParser parser(options);
  AuditEvent ev;
  ParseReport local;
  return parser.Parse(json, &ev, report ? report : &local);
}

TEST(AuditEventParserTest, RejectsWholeRecords) {
  const std::string ts = R"("stageTimestamp":"2024-05-01T10:00:00Z")";
  struct Case {
    std::string json;
    std::string want;
  } cases[] = {
      {R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z")", "invalid JSON"},
      {R"({"auditID":"a","verb":)", "invalid JSON"},
      {R"({"auditID":"a" "verb":"get"})", "invalid JSON"},
      {"", "invalid JSON"},
      {"[1]", "not an object"},
      {R"("x")", "not an object"},
      {"42", "not an object"},
      {"{" + ts + "}", "missing auditID"},
      {R"({"auditID":7,)" + ts + "}", "missing auditID"},
      {R"({"auditID":"a"})", "no usable timestamp"},
      {R"({"auditID":"a","stageTimestamp":"yesterday"})", "no usable timestamp"},
      {R"({"auditID":"a","requestReceivedTimestamp":{}})", "no usable timestamp"},
      {R"({"kind":"Pod","auditID":"a",)" + ts + "}", "unknown kind"},
      {R"({"kind":{},"auditID":"a",)" + ts + "}", "kind is not a string"},
      {R"({"auditID":"a",)" + ts + R"(} {"auditID":"b"})", "trailing content"},
      {"{\"auditID\":\"a\xff\xfe\"," + ts + "}", "UTF-8"},
      {std::string(10000, '['), "nesting deeper"},
      {R"({"auditID":"a",)" + ts + R"(,"requestObject":)" + std::string(100, '[') +
           std::string(100, ']') + "}",
       "nesting deeper"},
  };
  for (const Case& c : cases) {
    Status s = ParseOne(c.json);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.json.substr(0, 80);
    EXPECT_THAT(s.message(), HasSubstr(c.want)) << c.json.substr(0, 80);
  }
}

TEST(AuditEventParserTest, DepthWithinLimitIsAccepted) {
  std::string deep = std::string(60, '[') + std::string(60, ']');
  EXPECT_TRUE(
      ParseOne(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z","requestObject":)" + deep +
               "}")
          .ok());
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseOne(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z","userAgent":")" +
                       std::string(200, '[') + "\\\"" + R"("})")
                  .ok());
}

TEST(AuditEventParserTest, RejectsOversizeEvents) {
  std::string big = R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z","requestObject":")" +
                    std::string(2000, 'x') + "\"}";
  ParserOptions small;
  small.max_event_bytes = 1000;
  Status s = ParseOne(big, nullptr, small);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(std::to_string(big.size()) + " bytes"));
  EXPECT_THAT(s.message(), HasSubstr("limit of 1000 bytes"));
  EXPECT_TRUE(ParseOne(big).ok());

  std::string huge = R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z","requestObject":")" +
                     std::string((1 << 20) + 10, 'x') + "\"}";
  s = ParseOne(huge);
  EXPECT_THAT(s.message(), HasSubstr("limit of 1048576 bytes"));
}

TEST(AuditEventParserTest, DropsWrongTypedFields) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                         R"("objectRef":"invalid","verb":{"x":1},"sourceIPs":{"a":"b"},)"
                         R"("annotations":["x"],"user":{"username":["u"],"groups":"g"},)"
                         R"("level":7,"requestURI":null})",
                         &ev, &report)
                  .ok());
  EXPECT_FALSE(ev.object_ref.present);
  EXPECT_TRUE(ev.verb.empty());
  EXPECT_TRUE(ev.source_ips.empty());
  EXPECT_TRUE(ev.annotations.empty());
  EXPECT_TRUE(ev.user.present);
  EXPECT_TRUE(ev.user.username.empty());
  EXPECT_EQ(report.dropped_fields, 7u);  // null is absent, not wrong
  EXPECT_EQ(report.DroppedFieldsToString(),
            "objectRef, verb, sourceIPs, annotations, user.username, user.groups, level");

  ASSERT_TRUE(
      parser
          .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                 R"("objectRef":{"resource":["secrets"],"name":"n"},"sourceIPs":["1.2.3.4",5]})",
                 &ev, &report)
          .ok());
  EXPECT_TRUE(ev.object_ref.present);
  EXPECT_TRUE(ev.object_ref.resource.empty());
  EXPECT_EQ(ev.object_ref.name, "n");
  EXPECT_THAT(ev.source_ips, ElementsAre("1.2.3.4"));
  EXPECT_EQ(report.DroppedFieldsToString(), "objectRef.resource, sourceIPs");
}

TEST(AuditEventParserTest, DroppedNamesAreBounded) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                         R"("verb":1,"requestURI":1,"userAgent":1,"level":1,"stage":1,)"
                         R"("apiVersion":1,"objectRef":1,"responseStatus":1,"user":1,)"
                         R"("impersonatedUser":1,"annotations":1})",
                         &ev, &report)
                  .ok());
  EXPECT_EQ(report.dropped_fields, 11u);
  EXPECT_EQ(report.listed, ParseReport::kMaxListed);
}

TEST(AuditEventParserTest, CoercesNumericStringCode) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                         R"("responseStatus":{"code":"201"}})",
                         &ev, &report)
                  .ok());
  EXPECT_TRUE(ev.response_status.has_code);
  EXPECT_EQ(ev.response_status.code, 201);
  EXPECT_EQ(report.coerced_fields, 1u);
  EXPECT_EQ(report.dropped_fields, 0u);

  for (std::string_view bad : {R"("abc")", R"("20x")", "-5", "1.5", "[200]", R"("")"}) {
    std::string json = R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                       R"("responseStatus":{"code":)" +
                       std::string(bad) + "}}";
    ASSERT_TRUE(parser.Parse(json, &ev, &report).ok()) << json;
    EXPECT_FALSE(ev.response_status.has_code) << json;
    EXPECT_EQ(report.DroppedFieldsToString(), "responseStatus.code") << json;
  }
}

TEST(AuditEventParserTest, RawBodiesOfAnyType) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                         R"("requestObject":"invalid" ,"responseObject":  42  })",
                         &ev, &report)
                  .ok());
  EXPECT_EQ(ev.request_object, R"("invalid")");
  EXPECT_EQ(ev.response_object, "42");
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                         R"("requestObject":null,"responseObject":{}})",
                         &ev, &report)
                  .ok());
  EXPECT_TRUE(ev.request_object.empty());
  EXPECT_EQ(ev.response_object, "{}");
}

TEST(AuditEventParserTest, UserExtraLoneStringIsKept) {
  AuditEventParser parser;
  AuditEvent ev;
  ParseReport report;
  ASSERT_TRUE(parser
                  .Parse(R"({"auditID":"a","stageTimestamp":"2024-05-01T10:00:00Z",)"
                         R"("user":{"username":"u","extra":{"a.b/c":"v","d":{"x":1}}}})",
                         &ev, &report)
                  .ok());
  ASSERT_EQ(ev.user.extra.size(), 2u);
  EXPECT_THAT(ev.user.extra[0].values, ElementsAre("v"));
  EXPECT_TRUE(ev.user.extra[1].values.empty());
  EXPECT_EQ(report.DroppedFieldsToString(), "user.extra");
}

}  // namespace
}  // namespace vigil::ingest

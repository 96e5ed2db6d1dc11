// Tests for the per-record EnvelopeDecoder features a Kafka source needs: DecodeHints (cluster,
// forced envelope), gzip and base64-gzip CloudWatch payloads, the Vector / Fluent Bit / Fluentd /
// Logstash record shapes (from each tool's docs), and JSON lines batched into one record.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "compressed_record.h"
#include "vigil/ingest/envelope.h"

namespace vigil::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Collector {
  std::vector<std::string> ids;
  std::vector<std::string> clusters;
  DecodeResult Decode(EnvelopeDecoder& d, std::string_view record, const DecodeHints& hints = {}) {
    return d.Decode(
        record,
        [&](const AuditEvent& e) {
          ids.emplace_back(e.audit_id);
          clusters.emplace_back(e.cluster);
        },
        hints);
  }
};

std::string Event(std::string_view id, std::string_view extra = "") {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")" +
         std::string(id) +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list",)"
         R"("user":{"username":"alice"},"sourceIPs":["10.0.0.7"],)"
         R"("requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z",)"
         R"("stageTimestamp":"2024-05-01T10:00:00.002000Z")" +
         std::string(extra) + "}";
}

std::string EventList(std::initializer_list<std::string_view> ids) {
  std::string s = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[)";
  bool first = true;
  for (std::string_view id : ids) {
    if (!first) s += ",";
    first = false;
    s += Event(id);
  }
  return s + "]}";
}

// A JSON string literal holding `s`.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string Gzip(std::string_view in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Base64(std::string_view in, size_t wrap = 0) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  if (wrap == 0) return out;
  std::string wrapped;
  for (size_t i = 0; i < out.size(); i += wrap) wrapped += out.substr(i, wrap) + "\r\n";
  return wrapped;
}

// An EKS CloudWatch Logs subscription payload (AWS docs: "Using subscription filters"), before
// compression.
std::string EksSubscription(std::initializer_list<std::string_view> ids) {
  std::string s =
      R"({"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/eks/prod/cluster",)"
      R"("logStream":"kube-apiserver-audit-0b1c2d3e4f","subscriptionFilters":["vigil"],)"
      R"("logEvents":[)";
  size_t n = 0;
  for (std::string_view id : ids) {
    if (n) s += ",";
    s += R"({"id":"3195310660696698337880902507980421114328961542429822156)" + std::to_string(n++) +
         R"(","timestamp":1714557600000,"message":)" + Quote(Event(id)) + "}";
  }
  return s + "]}";
}

DecodeHints Force(EnvelopeChoice choice, std::string_view cluster = {}) {
  DecodeHints h;
  h.envelope = choice;
  h.cluster = cluster;
  return h;
}

// --- names -------------------------------------------------------------------------------------

TEST(EnvelopeChoiceTest, NamesRoundTrip) {
  for (std::string_view name : {"auto", "event", "eventlist", "jsonl", "cloudwatch", "aks", "gke",
                                "vector", "fluentbit", "logstash"}) {
    Result<EnvelopeChoice> c = ParseEnvelopeChoice(name);
    ASSERT_TRUE(c.ok()) << name;
    EXPECT_EQ(EnvelopeChoiceName(*c), name);
  }
  Result<EnvelopeChoice> fluentd = ParseEnvelopeChoice("fluentd");
  ASSERT_TRUE(fluentd.ok());
  EXPECT_EQ(*fluentd, EnvelopeChoice::kFluentBit);
  EXPECT_EQ(*ParseEnvelopeChoice("vector"), EnvelopeChoice::kVector);
  EXPECT_EQ(*ParseEnvelopeChoice("jsonl"), EnvelopeChoice::kJsonLines);
}

TEST(EnvelopeChoiceTest, UnknownNameListsTheAllowedOnes) {
  for (std::string_view bad : {"", "Vector", "json", "avro", "fluent-bit"}) {
    Result<EnvelopeChoice> c = ParseEnvelopeChoice(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(),
                HasSubstr("allowed: auto, event, eventlist, jsonl, cloudwatch, aks, gke, vector, "
                          "fluentbit, logstash, fluentd"));
  }
}

TEST(EnvelopeChoiceTest, KindNames) {
  EXPECT_EQ(EnvelopeKindName(EnvelopeKind::kVector), "Vector");
  EXPECT_EQ(EnvelopeKindName(EnvelopeKind::kFluentBit), "FluentBit");
  EXPECT_EQ(EnvelopeKindName(EnvelopeKind::kLogstash), "Logstash");
  EXPECT_EQ(EnvelopeKindName(EnvelopeKind::kJsonLines), "JSONLines");
}

// --- cluster -----------------------------------------------------------------------------------

TEST(DecodeHintsTest, HintClusterWinsOverOptionsOnEveryPath) {
  EnvelopeOptions opts;
  opts.cluster = "from-options";
  EnvelopeDecoder d(opts);
  const std::string vector_rec = R"({"file":"/var/log/kube-audit.log","host":"cp-1","message":)" +
                                 Quote(Event("v1")) + R"(,"source_type":"file"})";
  const std::string records[] = {
      Event("e1"),                            // plain
      EventList({"l1", "l2"}),                // list
      vector_rec,                             // wrapper (a nested decoder)
      Event("j1") + "\n" + Event("j2"),       // JSON lines
      Gzip(EksSubscription({"g1"})),          // gzip
      Base64(Gzip(EksSubscription({"b1"}))),  // base64 gzip
  };
  for (const std::string& rec : records) {
    Collector c;
    DecodeResult r = c.Decode(d, rec, Force(EnvelopeChoice::kAuto, "prod-eu/topic-audit"));
    ASSERT_GE(r.events, 1u) << r.first_error.message();
    for (const std::string& cl : c.clusters) EXPECT_EQ(cl, "prod-eu/topic-audit");
    // Without a hint (and through the old overloads) the options' cluster is stamped.
    Collector c2;
    c2.Decode(d, rec);
    d.Decode(rec, [&](const AuditEvent& e) { c2.clusters.emplace_back(e.cluster); });
    ASSERT_EQ(c2.clusters.size(), 2 * c.clusters.size());
    for (const std::string& cl : c2.clusters) EXPECT_EQ(cl, "from-options");
  }
}

TEST(DecodeHintsTest, ClusterInTheBodyIsNeverUsed) {
  EnvelopeDecoder d;
  Collector c;
  // GKE carries resource.labels.cluster_name: the channel's cluster still wins.
  const std::string gke =
      R"({"insertId":"i1","timestamp":"2024-05-01T10:00:00Z","resource":{"type":"k8s_cluster",)"
      R"("labels":{"cluster_name":"attacker-chosen"}},"protoPayload":{"serviceName":"k8s.io",)"
      R"("methodName":"io.k8s.core.v1.pods.get","resourceName":"core/v1/namespaces/a/pods/b"}})";
  DecodeResult r = c.Decode(d, gke, Force(EnvelopeChoice::kAuto, "gke-prod"));
  ASSERT_EQ(r.events, 1u);
  EXPECT_THAT(c.clusters, ElementsAre("gke-prod"));
  r = c.Decode(d, gke);
  EXPECT_THAT(c.clusters, ElementsAre("gke-prod", "default"));
}

// --- Vector ------------------------------------------------------------------------------------

// Vector `file` source (website/cue/reference/components/sources/file.cue: file, host, message,
// source_type, timestamp) -> `kafka` sink with `encoding.codec = "json"`.
std::string VectorRecord(std::string_view message_json) {
  return R"({"file":"/var/log/kube-audit.log","host":"cp-1","message":)" +
         std::string(message_json) +
         R"(,"source_type":"file","timestamp":"2024-05-01T10:00:00.123456Z"})";
}

TEST(ShipperTest, VectorFileSourceWithAnEvent) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, VectorRecord(Quote(Event("vec-1"))));
  EXPECT_EQ(r.envelope, EnvelopeKind::kVector);
  EXPECT_EQ(r.events, 1u);
  EXPECT_EQ(r.malformed + r.skipped, 0u);
  EXPECT_THAT(c.ids, ElementsAre("vec-1"));
  // The same under the forced choice.
  r = c.Decode(d, VectorRecord(Quote(Event("vec-2"))), Force(EnvelopeChoice::kVector));
  EXPECT_EQ(r.envelope, EnvelopeKind::kVector);
  EXPECT_EQ(r.events, 1u);
  EXPECT_THAT(c.ids, ElementsAre("vec-1", "vec-2"));
}

TEST(ShipperTest, VectorMessageHoldingAnEventList) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, VectorRecord(Quote(EventList({"a", "b", "c"}))));
  EXPECT_EQ(r.envelope, EnvelopeKind::kVector);
  EXPECT_EQ(r.events, 3u);
  EXPECT_THAT(c.ids, ElementsAre("a", "b", "c"));
}

TEST(ShipperTest, VectorHttpServerSourcePutsTheEventListAtTheTopLevel) {
  EnvelopeDecoder d;
  Collector c;
  std::string list = EventList({"h1", "h2"});
  list.insert(1,
              R"("path":"/audit","source_type":"http_server","timestamp":"2024-05-01T10:00:00Z",)");
  for (EnvelopeChoice choice : {EnvelopeChoice::kAuto, EnvelopeChoice::kVector}) {
    c.ids.clear();
    DecodeResult r = c.Decode(d, list, Force(choice));
    EXPECT_EQ(r.envelope, EnvelopeKind::kEventList);
    EXPECT_EQ(r.events, 2u);
    EXPECT_THAT(c.ids, ElementsAre("h1", "h2"));
  }
}

TEST(ShipperTest, VectorUntrustedMessages) {
  EnvelopeDecoder d;
  Collector c;
  // A plain log line: well-formed, not an audit event.
  DecodeResult r = c.Decode(d, VectorRecord(R"("I0501 10:00:00 apiserver started")"));
  EXPECT_EQ(r.envelope, EnvelopeKind::kVector);
  EXPECT_TRUE(r.SkippedWhole());
  EXPECT_EQ(r.skip_reason, "Vector message is not JSON");
  // Wrong types are malformed, with the field named.
  r = c.Decode(d, VectorRecord("42"));
  EXPECT_EQ(r.envelope, EnvelopeKind::kVector);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("Vector record: 'message' is a number"));
  r = c.Decode(d, VectorRecord("[1,2]"));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("'message' is an array"));
  // An object message (a VRL parse_json) must be an Event.
  r = c.Decode(d, VectorRecord(Event("obj-1")));
  EXPECT_EQ(r.events, 1u);
  r = c.Decode(d, VectorRecord(R"({"level":"info"})"));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
  // JSON text of an Event that fails the checks, and broken JSON text.
  r = c.Decode(d, VectorRecord(Quote(R"({"kind":"Event","verb":"get"})")));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
  r = c.Decode(d, VectorRecord(Quote(R"({"auditID":"x",)")));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("invalid JSON"));
  // JSON text that is another shape: only Events and EventLists are unwrapped from strings.
  r = c.Decode(d, VectorRecord(Quote(R"({"records":[{"properties":{"log":"x"}}]})")));
  EXPECT_TRUE(r.SkippedWhole());
  EXPECT_THAT(std::string(r.skip_reason), HasSubstr("not an audit Event or EventList"));
  EXPECT_THAT(c.ids, ElementsAre("obj-1"));
}

TEST(ShipperTest, WrappedStringsKeepTheEventAndRecordLimits) {
  EnvelopeOptions opts;
  opts.parser.max_event_bytes = 600;
  opts.parser.max_depth = 8;
  EnvelopeDecoder d(opts);
  Collector c;
  const std::string small = Event("ok");
  ASSERT_LT(small.size(), 600u);
  const std::string big = Event("big", R"(,"requestObject":")" + std::string(700, 'x') + "\"");
  DecodeResult r = c.Decode(d, VectorRecord(Quote(small)));
  EXPECT_EQ(r.events, 1u);
  r = c.Decode(d, VectorRecord(Quote(big)));
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("exceeds the limit of 600 bytes"));
  const std::string deep =
      Event("deep", R"(,"requestObject":)" + std::string(20, '[') + std::string(20, ']'));
  r = c.Decode(d, R"({"@timestamp":1.5,"log":)" + Quote(deep) + "}");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("nest"));
  // The whole record is bounded as before, wrapper or not.
  EnvelopeOptions tiny;
  tiny.max_record_bytes = 200;
  EnvelopeDecoder t(tiny);
  r = c.Decode(t, VectorRecord(Quote(Event("z"))));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("exceeds the limit of 200 bytes"));
  EXPECT_THAT(c.ids, ElementsAre("ok"));
}

// --- Fluent Bit / Fluentd ----------------------------------------------------------------------

// Fluent Bit `tail` -> `kafka` (docs.fluentbit.io outputs/kafka: format json, timestamp_key
// "@timestamp", timestamp_format double).
TEST(ShipperTest, FluentBitTailWithoutParser) {
  EnvelopeDecoder d;
  Collector c;
  const std::string rec = R"({"@timestamp":1714557600.123456,"log":)" + Quote(Event("fb-1")) + "}";
  DecodeResult r = c.Decode(d, rec);
  EXPECT_EQ(r.envelope, EnvelopeKind::kFluentBit);
  EXPECT_EQ(r.events, 1u);
  r = c.Decode(d, rec, Force(EnvelopeChoice::kFluentBit));
  EXPECT_EQ(r.envelope, EnvelopeKind::kFluentBit);
  EXPECT_EQ(r.events, 1u);
  // "fluentd" is the same choice.
  r = c.Decode(d, rec, Force(*ParseEnvelopeChoice("fluentd")));
  EXPECT_EQ(r.events, 1u);
  EXPECT_THAT(c.ids, ElementsAre("fb-1", "fb-1", "fb-1"));
}

TEST(ShipperTest, FluentBitWithParserJsonIsAPlainEvent) {
  EnvelopeDecoder d;
  Collector c;
  std::string rec = Event("fbp-1");
  rec.insert(1, R"("@timestamp":1714557600.123456,)");
  for (EnvelopeChoice choice :
       {EnvelopeChoice::kAuto, EnvelopeChoice::kFluentBit, EnvelopeChoice::kEvent}) {
    DecodeResult r = c.Decode(d, rec, Force(choice));
    EXPECT_EQ(r.envelope, EnvelopeKind::kEvent);
    EXPECT_EQ(r.events, 1u) << r.first_error.message();
    EXPECT_EQ(r.report.dropped_fields, 0u);  // the extra key is ignored, not "dropped"
  }
  EXPECT_THAT(c.ids, ElementsAre("fbp-1", "fbp-1", "fbp-1"));
}

TEST(ShipperTest, FluentBitUntrustedLogs) {
  EnvelopeDecoder d;
  Collector c;
  // A docker json-file line: not JSON text inside.
  DecodeResult r = c.Decode(
      d, R"({"log":"GET /healthz 200\n","stream":"stdout","time":"2024-05-01T10:00:00Z"})");
  EXPECT_EQ(r.envelope, EnvelopeKind::kFluentBit);
  EXPECT_TRUE(r.SkippedWhole());
  EXPECT_EQ(r.skip_reason, "Fluent Bit log is not JSON");
  // An object that is not an Event.
  r = c.Decode(d, R"({"@timestamp":1.0,"log":{"kind":"Pod","metadata":{}}})");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("unknown kind \"Pod\""));
  // An object that is an Event.
  r = c.Decode(d, R"({"@timestamp":1.0,"log":)" + Event("fb-obj") + "}");
  EXPECT_EQ(r.events, 1u);
  for (std::string_view bad : {"true", "null", "-3", "[]"}) {
    r = c.Decode(d, R"({"@timestamp":1.0,"log":)" + std::string(bad) + "}");
    EXPECT_EQ(r.envelope, EnvelopeKind::kFluentBit) << bad;
    EXPECT_EQ(r.malformed, 1u) << bad;
    EXPECT_THAT(r.first_error.message(), HasSubstr("Fluent Bit record: 'log' is")) << bad;
  }
  // A numeric @timestamp beside "message" (another input plugin) is Fluent Bit too.
  r = c.Decode(d, R"({"@timestamp":1714557600.5,"message":)" + Quote(Event("fb-msg")) + "}");
  EXPECT_EQ(r.envelope, EnvelopeKind::kFluentBit);
  EXPECT_EQ(r.events, 1u);
  EXPECT_THAT(c.ids, ElementsAre("fb-obj", "fb-msg"));
}

// fluent-plugin-kafka out_kafka2 with `<format> @type json` sends the parsed record: the Event,
// plus tag/time only when `<inject>` adds them.
TEST(ShipperTest, FluentdOutKafka2SendsThePlainEvent) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, Event("fd-1"));
  EXPECT_EQ(r.envelope, EnvelopeKind::kEvent);
  EXPECT_EQ(r.events, 1u);
  std::string injected = Event("fd-2");
  injected.insert(1, R"("tag":"kube.audit","time":"2024-05-01T10:00:00Z",)");
  r = c.Decode(d, injected, Force(*ParseEnvelopeChoice("fluentd")));
  EXPECT_EQ(r.envelope, EnvelopeKind::kEvent);
  EXPECT_EQ(r.events, 1u);
  EXPECT_THAT(c.ids, ElementsAre("fd-1", "fd-2"));
}

// --- Logstash ----------------------------------------------------------------------------------

// The Kubernetes docs' Logstash pipeline (http input, split on items, rename items => event),
// with the kafka output's `codec => json`.
TEST(ShipperTest, LogstashEventObject) {
  EnvelopeDecoder d;
  Collector c;
  const std::string rec =
      R"({"@timestamp":"2024-05-01T10:00:00.123Z","@version":"1","event":)" + Event("ls-1") + "}";
  DecodeResult r = c.Decode(d, rec);
  EXPECT_EQ(r.envelope, EnvelopeKind::kLogstash);
  EXPECT_EQ(r.events, 1u);
  r = c.Decode(d, rec, Force(EnvelopeChoice::kLogstash));
  EXPECT_EQ(r.envelope, EnvelopeKind::kLogstash);
  EXPECT_EQ(r.events, 1u);
  // The docs' filter removes @timestamp and @version: {"event":{...}} alone.
  r = c.Decode(d, R"({"event":)" + Event("ls-2") + "}");
  EXPECT_EQ(r.envelope, EnvelopeKind::kLogstash);
  EXPECT_EQ(r.events, 1u);
  EXPECT_THAT(c.ids, ElementsAre("ls-1", "ls-1", "ls-2"));
}

TEST(ShipperTest, LogstashMessageString) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(
      d, R"({"message":)" + Quote(Event("lm-1")) + R"(,"@timestamp":"2024-05-01T10:00:00Z"})");
  EXPECT_EQ(r.envelope, EnvelopeKind::kLogstash);
  EXPECT_EQ(r.events, 1u);
  // ECS compatibility: event.original beside the message; the message is decoded, once.
  r = c.Decode(d, R"({"@timestamp":"2024-05-01T10:00:00Z","@version":"1","message":)" +
                      Quote(Event("lm-2")) +
                      R"(,"event":{"original":"..."},"host":{"name":"ls"}})");
  EXPECT_EQ(r.envelope, EnvelopeKind::kLogstash);
  EXPECT_EQ(r.events, 1u);
  EXPECT_EQ(r.malformed, 0u);
  EXPECT_THAT(c.ids, ElementsAre("lm-1", "lm-2"));
}

TEST(ShipperTest, LogstashUntrustedFields) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, R"({"@version":"1","event":)" + Quote(Event("s")) + "}");
  EXPECT_EQ(r.envelope, EnvelopeKind::kLogstash);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(),
              HasSubstr("Logstash record: 'event' is a string, not an Event object"));
  r = c.Decode(d, R"({"@version":"1","event":{"original":"hello"}})");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
  r = c.Decode(d, R"({"@version":"1","message":7})");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("'message' is a number"));
  r = c.Decode(d, R"({"@version":"1","@timestamp":"t","message":"plain text"})");
  EXPECT_TRUE(r.SkippedWhole());
  EXPECT_EQ(r.skip_reason, "Logstash message is not JSON");
  EXPECT_TRUE(c.ids.empty());
}

TEST(ShipperTest, UnmarkedRecordsKeepTheirOldMeaning) {
  EnvelopeDecoder d;
  Collector c;
  // A bare message is still a CloudWatch Logs entry.
  DecodeResult r = c.Decode(d, R"({"message":)" + Quote(Event("cw")) + R"(,"timestamp":1})");
  EXPECT_EQ(r.envelope, EnvelopeKind::kCloudWatch);
  EXPECT_EQ(r.events, 1u);
  // An "event" that is not an object and no Logstash marker: an unrelated object.
  r = c.Decode(d, R"({"event":"login","user":"bob"})");
  EXPECT_EQ(r.envelope, EnvelopeKind::kUnknown);
  EXPECT_TRUE(r.SkippedWhole());
  EXPECT_THAT(c.ids, ElementsAre("cw"));
}

// --- JSON lines --------------------------------------------------------------------------------

TEST(JsonLinesTest, AutoSplitsSeveralLinesAndCountsEachLine) {
  EnvelopeDecoder d;
  Collector c;
  const std::string rec = Event("j1") + "\n" + Event("j2") + "\r\n\n  \n" +
                          R"({"kind":"Event","verb":"get"})" + "\n" + "not json\n" +
                          R"({"hello":"world"})" + "\n" + VectorRecord(Quote(Event("j3"))) + "\n" +
                          EventList({"j4", "j5"});
  DecodeResult r = c.Decode(d, rec);
  EXPECT_EQ(r.envelope, EnvelopeKind::kJsonLines);
  EXPECT_EQ(r.events, 5u);
  EXPECT_EQ(r.malformed, 2u);  // no auditID; not JSON
  EXPECT_EQ(r.skipped, 1u);    // an unrelated object
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
  EXPECT_THAT(c.ids, ElementsAre("j1", "j2", "j3", "j4", "j5"));
}

TEST(JsonLinesTest, ForcedJsonLines) {
  EnvelopeDecoder d;
  Collector c;
  DecodeResult r = c.Decode(d, Event("one"), Force(EnvelopeChoice::kJsonLines));
  EXPECT_EQ(r.envelope, EnvelopeKind::kJsonLines);
  EXPECT_EQ(r.events, 1u);
  r = c.Decode(d, Event("a") + "\n{\"auditID\":\n" + Event("b") + "\n",
               Force(EnvelopeChoice::kJsonLines));
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("invalid JSON"));
  EXPECT_THAT(c.ids, ElementsAre("one", "a", "b"));
}

TEST(JsonLinesTest, PrettyPrintedOrGarbageIsNotSplit) {
  EnvelopeDecoder d;
  Collector c;
  // One pretty-printed Event: not lines.
  DecodeResult r =
      c.Decode(d, "{\n  \"auditID\": \"p\",\n  \"stageTimestamp\": \"2024-05-01T10:00:00Z\"\n}\n");
  EXPECT_EQ(r.envelope, EnvelopeKind::kEvent);
  EXPECT_EQ(r.events, 1u);
  // A pretty-printed Event with trailing garbage stays one malformed record.
  r = c.Decode(d, "{\n  \"auditID\": \"p\"\n}\n}}");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.events, 0u);
  // Trailing content on the same line: one malformed record, as before.
  r = c.Decode(d, Event("t") + " x");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_EQ(r.events, 0u);
  EXPECT_THAT(c.ids, ElementsAre("p"));
}

// --- forced envelopes --------------------------------------------------------------------------

struct WrongShape {
  EnvelopeChoice choice;
  std::string record;
  std::string message;  // a part of the error
};

TEST(ForcedEnvelopeTest, ARecordOfAnotherShapeIsMalformedWithTheExpectedShape) {
  const std::string fluentbit = R"({"@timestamp":1714557600.1,"log":)" + Quote(Event("x")) + "}";
  const std::string aks =
      R"({"records":[{"category":"kube-audit","properties":{"log":)" + Quote(Event("x")) + "}}]}";
  const WrongShape cases[] = {
      {EnvelopeChoice::kVector, fluentbit,
       "expected a Vector record with a string 'message' (or an Event or EventList at the top "
       "level) (envelope forced to 'vector')"},
      {EnvelopeChoice::kFluentBit, aks, "expected a Fluent Bit record with a string 'log'"},
      {EnvelopeChoice::kLogstash, fluentbit, "expected a Logstash record with an object 'event'"},
      {EnvelopeChoice::kEvent, EventList({"x"}), "expected an audit Event, got an EventList"},
      {EnvelopeChoice::kEvent, fluentbit, "expected an audit Event (envelope forced to 'event')"},
      {EnvelopeChoice::kEventList, Event("x"), "expected an EventList"},
      {EnvelopeChoice::kEventList, "[" + Event("x") + "]", "got a JSON array"},
      {EnvelopeChoice::kAks, Event("x"), "expected an AKS diagnostic record"},
      {EnvelopeChoice::kGke, aks, "expected a GKE LogEntry with protoPayload"},
      {EnvelopeChoice::kCloudWatch, aks, "expected a CloudWatch Logs record"},
      {EnvelopeChoice::kCloudWatch, Event("x"), "(envelope forced to 'cloudwatch')"},
      {EnvelopeChoice::kVector, Gzip(EksSubscription({"x"})), "invalid JSON"},
  };
  for (const WrongShape& w : cases) {
    EnvelopeDecoder d;
    Collector c;
    DecodeResult r = c.Decode(d, w.record, Force(w.choice));
    EXPECT_EQ(r.events, 0u) << EnvelopeChoiceName(w.choice) << ": " << w.record;
    EXPECT_EQ(r.malformed, 1u) << EnvelopeChoiceName(w.choice) << ": " << w.record;
    EXPECT_THAT(r.first_error.message(), HasSubstr(w.message)) << EnvelopeChoiceName(w.choice);
    EXPECT_TRUE(c.ids.empty());
    // Auto decodes every one of these records: only the forced choice rejected them.
    Collector a;
    DecodeResult ra = a.Decode(d, w.record);
    EXPECT_GE(ra.events, 1u) << EnvelopeChoiceName(w.choice) << ": " << ra.first_error.message();
  }
}

TEST(ForcedEnvelopeTest, ARecordOfTheForcedShapeDecodes) {
  const std::string aks = R"({"records":[{"category":"kube-audit","properties":{"log":)" +
                          Quote(Event("aks-1")) + "}}]}";
  const std::string gke =
      R"({"insertId":"gke-1","timestamp":"2024-05-01T10:00:00Z","protoPayload":{)"
      R"("serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.get"}})";
  struct Case {
    EnvelopeChoice choice;
    std::string record;
    EnvelopeKind kind;
    std::string id;
  } cases[] = {
      {EnvelopeChoice::kEvent, Event("ev-1"), EnvelopeKind::kEvent, "ev-1"},
      {EnvelopeChoice::kEventList, EventList({"el-1"}), EnvelopeKind::kEventList, "el-1"},
      {EnvelopeChoice::kAks, aks, EnvelopeKind::kAks, "aks-1"},
      {EnvelopeChoice::kGke, gke, EnvelopeKind::kGke, "gke-1"},
      {EnvelopeChoice::kCloudWatch, EksSubscription({"cw-1"}), EnvelopeKind::kCloudWatch, "cw-1"},
      {EnvelopeChoice::kFluentBit, R"({"message":)" + Quote(Event("fbm")) + "}",
       EnvelopeKind::kFluentBit, "fbm"},
      {EnvelopeChoice::kLogstash, R"({"event":)" + Event("lse") + "}", EnvelopeKind::kLogstash,
       "lse"},
  };
  for (const Case& k : cases) {
    EnvelopeDecoder d;
    Collector c;
    DecodeResult r = c.Decode(d, k.record, Force(k.choice));
    EXPECT_EQ(r.envelope, k.kind) << EnvelopeChoiceName(k.choice);
    EXPECT_EQ(r.events, 1u) << EnvelopeChoiceName(k.choice) << ": " << r.first_error.message();
    EXPECT_THAT(c.ids, ElementsAre(k.id));
  }
}

TEST(ForcedEnvelopeTest, CoreEventObjectsAreSkippedUnderAShipperButMalformedUnderEvent) {
  const std::string core = R"({"kind":"Event","apiVersion":"v1","reason":"Pulled"})";
  EnvelopeDecoder d;
  Collector c;
  EXPECT_TRUE(c.Decode(d, core, Force(EnvelopeChoice::kFluentBit)).SkippedWhole());
  DecodeResult r = c.Decode(d, core, Force(EnvelopeChoice::kEvent));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("missing auditID"));
}

// --- compressed CloudWatch payloads ------------------------------------------------------------

TEST(CompressedTest, GzipSubscriptionPayload) {
  EnvelopeDecoder d;
  Collector c;
  const std::string gz = Gzip(EksSubscription({"gz-1", "gz-2"}));
  ASSERT_TRUE(internal::IsGzip(gz.data(), gz.size()));
  for (EnvelopeChoice choice : {EnvelopeChoice::kAuto, EnvelopeChoice::kCloudWatch}) {
    DecodeResult r = c.Decode(d, gz, Force(choice));
    EXPECT_TRUE(r.compressed);
    EXPECT_EQ(r.envelope, EnvelopeKind::kCloudWatch);
    EXPECT_EQ(r.events, 2u) << r.first_error.message();
  }
  EXPECT_THAT(c.ids, ElementsAre("gz-1", "gz-2", "gz-1", "gz-2"));
  // A plain record is not marked compressed.
  EXPECT_FALSE(c.Decode(d, Event("p")).compressed);
}

TEST(CompressedTest, Base64GzipSubscriptionPayload) {
  EnvelopeDecoder d;
  Collector c;
  const std::string b64 = Base64(Gzip(EksSubscription({"b-1", "b-2", "b-3"})));
  ASSERT_EQ(b64.substr(0, 4), "H4sI");
  DecodeResult r = c.Decode(d, b64);
  EXPECT_TRUE(r.compressed);
  EXPECT_EQ(r.envelope, EnvelopeKind::kCloudWatch);
  EXPECT_EQ(r.events, 3u) << r.first_error.message();
  // MIME-wrapped lines and a trailing newline (what some bridges add).
  r = c.Decode(d, Base64(Gzip(EksSubscription({"b-4"})), 76) + "\n",
               Force(EnvelopeChoice::kCloudWatch));
  EXPECT_EQ(r.events, 1u) << r.first_error.message();
  EXPECT_THAT(c.ids, ElementsAre("b-1", "b-2", "b-3", "b-4"));
}

TEST(CompressedTest, GzipOfJsonLinesAndConcatenatedMembers) {
  EnvelopeDecoder d;
  Collector c;
  // Two gzip members back to back, as `cat a.gz b.gz` makes: inflated like gzip -d does.
  const std::string rec = Gzip(Event("m-1") + "\n") + Gzip(Event("m-2") + "\n");
  DecodeResult r = c.Decode(d, rec);
  EXPECT_TRUE(r.compressed);
  EXPECT_EQ(r.envelope, EnvelopeKind::kJsonLines);
  EXPECT_EQ(r.events, 2u) << r.first_error.message();
  EXPECT_THAT(c.ids, ElementsAre("m-1", "m-2"));
}

TEST(CompressedTest, GzipBombIsOneMalformedRecord) {
  EnvelopeOptions opts;
  opts.max_record_bytes = 1 << 20;
  EnvelopeDecoder d(opts);
  Collector c;
  // 64 MiB of spaces around an Event compress to ~64 KiB (under the record limit).
  std::string huge = Event("bomb") + std::string(size_t{64} << 20, ' ');
  const std::string gz = Gzip(huge);
  ASSERT_LT(gz.size(), opts.max_record_bytes);
  DecodeResult r = c.Decode(d, gz);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_TRUE(r.compressed);
  EXPECT_THAT(r.first_error.message(),
              HasSubstr("inflates to more than the limit of 1048576 bytes"));
  // Exactly at the limit is fine; one byte more is not.
  std::string exact = Event("edge");
  exact.resize(opts.max_record_bytes, ' ');
  r = c.Decode(d, Gzip(exact));
  EXPECT_EQ(r.events, 1u) << r.first_error.message();
  r = c.Decode(d, Gzip(exact + " "));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("inflates to more than"));
  // The same through base64.
  r = c.Decode(d, Base64(gz));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("inflates to more than"));
  EXPECT_THAT(c.ids, ElementsAre("edge"));
}

TEST(CompressedTest, TruncatedCorruptAndTrailingGzip) {
  EnvelopeDecoder d;
  Collector c;
  const std::string gz = Gzip(EksSubscription({"t-1", "t-2"}));
  for (size_t cut : {size_t{2}, size_t{10}, gz.size() / 2, gz.size() - 4, gz.size() - 1}) {
    DecodeResult r = c.Decode(d, gz.substr(0, cut));
    EXPECT_EQ(r.events, 0u) << cut;
    EXPECT_EQ(r.malformed, 1u) << cut;
    EXPECT_THAT(r.first_error.message(), HasSubstr("truncated gzip record")) << cut;
  }
  std::string corrupt = gz;
  corrupt[gz.size() / 2] = static_cast<char>(corrupt[gz.size() / 2] ^ 0x55);
  corrupt[gz.size() - 6] = static_cast<char>(corrupt[gz.size() - 6] ^ 0x01);  // the CRC
  DecodeResult r = c.Decode(d, corrupt);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("gzip"));
  r = c.Decode(d, gz + "garbage");
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("7 bytes after the end of the gzip stream"));
  // Truncated inside base64 text.
  r = c.Decode(d, Base64(gz.substr(0, gz.size() / 2)));
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("truncated gzip record"));
  EXPECT_TRUE(c.ids.empty());
}

TEST(CompressedTest, BadBase64) {
  EnvelopeDecoder d;
  Collector c;
  const std::string good = Base64(Gzip(EksSubscription({"x"})));
  for (const std::string& bad :
       {std::string("H4sI!!!!"), good.substr(0, 40) + "*" + good.substr(40),
        good + "A",  // one digit alone encodes no byte
        std::string("H4sIAA==AAAA"), std::string("H4sI")}) {
    DecodeResult r = c.Decode(d, bad);
    EXPECT_EQ(r.events, 0u) << bad;
    EXPECT_EQ(r.malformed, 1u) << bad;
    EXPECT_TRUE(r.compressed) << bad;
    EXPECT_THAT(r.first_error.message(), HasSubstr("H4sI")) << bad;
  }
  DecodeResult r = c.Decode(d, "H4sI!!!!");
  EXPECT_THAT(r.first_error.message(), HasSubstr("unexpected byte 0x21 at offset 4"));
  // Only auto and cloudwatch inflate: under 'event' the bytes are just not JSON.
  r = c.Decode(d, good, Force(EnvelopeChoice::kEvent));
  EXPECT_FALSE(r.compressed);
  EXPECT_EQ(r.malformed, 1u);
  EXPECT_THAT(r.first_error.message(), HasSubstr("invalid JSON"));
  EXPECT_TRUE(c.ids.empty());
}

TEST(CompressedTest, Base64DecodeVectors) {
  std::string out;
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {"Zm9vYg", "foob"},
  };
  for (const auto& [text, want] : vectors) {
    ASSERT_TRUE(internal::Base64Decode(text, &out).ok()) << text;
    EXPECT_EQ(out, want) << text;
  }
  ASSERT_TRUE(internal::Base64Decode("Zm9v\r\nYmFy\n", &out).ok());
  EXPECT_EQ(out, "foobar");
  EXPECT_FALSE(internal::Base64Decode("Zm9vY", &out).ok());
  EXPECT_FALSE(internal::Base64Decode("Zg==Zg==", &out).ok());
  EXPECT_FALSE(internal::Base64Decode("Zm9v-_", &out).ok());
}

// --- robustness --------------------------------------------------------------------------------

// Deterministic mutations of every sample above, under every choice: nothing crashes (ASan,
// UBSan), every delivered event has an auditID and the hinted cluster, and every record whose
// outcome is nothing at all is an empty list.
TEST(ShipperRobustnessTest, MutatedRecordsUnderEveryChoice) {
  const std::vector<std::string> seeds = {
      VectorRecord(Quote(Event("s1"))),
      VectorRecord(Quote(EventList({"s2", "s3"}))),
      R"({"@timestamp":1714557600.123456,"log":)" + Quote(Event("s4")) + "}",
      R"({"@timestamp":"2024-05-01T10:00:00Z","@version":"1","event":)" + Event("s5") + "}",
      R"({"message":)" + Quote(Event("s6")) + R"(,"@timestamp":"2024-05-01T10:00:00Z"})",
      Event("s7") + "\n" + Event("s8") + "\n",
      Gzip(EksSubscription({"s9", "s10"})),
      Base64(Gzip(EksSubscription({"s11"}))),
  };
  EnvelopeOptions opts;
  opts.max_record_bytes = 1 << 20;
  EnvelopeDecoder d(opts);
  std::mt19937 rng(20240501);
  size_t events = 0;
  for (int i = 0; i < 6000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0:
        s.resize(rng() % (s.size() + 1));
        break;
      case 1:
        for (int k = 0; k < 3 && !s.empty(); ++k)
          s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 2:
        for (int k = 0; k < 4 && !s.empty(); ++k) s[rng() % s.size()] = "{}[]\":,\\\n"[rng() % 10];
        break;
      default: {
        const std::string& t = seeds[rng() % seeds.size()];
        s = s.substr(0, rng() % (s.size() + 1)) + t.substr(rng() % t.size());
        break;
      }
    }
    const auto choice = static_cast<EnvelopeChoice>(rng() % 10);
    DecodeResult r = d.Decode(
        s,
        [&](const AuditEvent& e) {
          ++events;
          EXPECT_FALSE(e.audit_id.empty());
          EXPECT_EQ(e.cluster, "fuzz-topic");
        },
        Force(choice, "fuzz-topic"));
    if (r.events + r.malformed + r.skipped == 0) {
      EXPECT_TRUE(r.envelope == EnvelopeKind::kEventList || r.envelope == EnvelopeKind::kArray ||
                  r.envelope == EnvelopeKind::kCloudWatch ||
                  r.envelope == EnvelopeKind::kJsonLines || r.envelope == EnvelopeKind::kAks ||
                  r.envelope == EnvelopeKind::kVector || r.envelope == EnvelopeKind::kFluentBit ||
                  r.envelope == EnvelopeKind::kLogstash)
          << EnvelopeKindName(r.envelope) << " " << s;
    }
  }
  EXPECT_GT(events, 0u);
}

}  // namespace
}  // namespace vigil::ingest

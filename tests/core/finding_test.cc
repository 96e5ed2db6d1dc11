#include "vigil/core/finding.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

Finding Sample() {
  Finding f;
  f.rule_id = "exec-into-pod";
  f.rule_name = "Exec into pod";
  f.severity = Severity::kHigh;
  f.attack_ids = {"T1609"};
  f.cluster = "prod-eu";
  f.id = MakeFindingId(f.rule_id, f.cluster, "audit-1");
  f.user = "alice";
  f.groups = {"system:authenticated", "dev\"ops"};
  f.impersonated_user = "bob";
  f.source_ips = {"10.0.0.1"};
  f.user_agent = "kubectl/v1.29.0";
  f.verb = "create";
  f.object = {"", "pods", "default", "web-0", "exec"};
  f.first_seen_us = 1741069338819232;
  f.last_seen_us = 1741069339819232;
  f.count = 3;
  f.evidence = {"audit-1"};
  f.message = "alice exec'd into default/web-0\n";
  f.status = FindingStatus::kAcknowledged;
  return f;
}

TEST(FindingTest, IdIsDeterministicAndDistinct) {
  EXPECT_EQ(MakeFindingId("r", "c", "k"), MakeFindingId("r", "c", "k"));
  EXPECT_EQ(MakeFindingId("r", "c", "k").size(), 32u);
  EXPECT_NE(MakeFindingId("r", "c", "k"), MakeFindingId("r", "c2", "k"));
  EXPECT_NE(MakeFindingId("ab", "c", "k"), MakeFindingId("a", "bc", "k"));
  EXPECT_NE(MakeFindingId("r", "c", "k", 1), MakeFindingId("r", "c", "k", 2));
}

TEST(FindingTest, JsonRoundTrip) {
  Finding f = Sample();
  auto back = FindingFromJson(FindingToJson(f));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, f.id);
  EXPECT_EQ(back->groups, f.groups);
  EXPECT_EQ(back->object.subresource, "exec");
  EXPECT_EQ(back->first_seen_us, f.first_seen_us);
  EXPECT_EQ(back->count, 3u);
  EXPECT_EQ(back->message, f.message);
  EXPECT_EQ(back->status, FindingStatus::kAcknowledged);
  EXPECT_EQ(back->severity, Severity::kHigh);
  EXPECT_TRUE(back->tags.empty());
  EXPECT_TRUE(back->fields.empty());
}

TEST(FindingTest, TagsAndOutputFieldsRoundTrip) {
  Finding f = Sample();
  f.tags = {"k8s", "T1609"};
  f.fields = {{"ka.user.name", "alice"},
              {"ka.uri.param[command]", "sh,-c"},
              {"ka.req.pod.containers.image", "<NA>"},
              {"weird \"key\"", "v\n"}};
  const std::string j = FindingToJson(f);
  EXPECT_NE(j.find(R"("tags":["k8s","T1609"],"fields":{"ka.user.name":"alice",)"),
            std::string::npos)
      << j;
  auto back = FindingFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->tags, f.tags);
  EXPECT_EQ(back->fields, f.fields);  // template order kept
  EXPECT_EQ(FindingToJson(*back), j);
  for (std::string_view bad : {R"("tags":"k8s")", R"("fields":[])", R"("fields":{"a":1})"}) {
    std::string broken = "{" + std::string(bad) + "," + j.substr(1);
    EXPECT_EQ(FindingFromJson(broken).status().code(), StatusCode::kCorruption) << bad;
  }
}

TEST(FindingTest, TriageFieldsRoundTrip) {
  Finding f = Sample();
  f.status_by = "bob";
  f.status_at_us = 1760000000123456;
  f.note = "benign: \"backup\" job\n";
  f.note_by = "carol";
  f.note_at_us = 1760000001000000;
  f.suppressed_by = "0123456789abcdef0123456789abcdef";
  auto back = FindingFromJson(FindingToJson(f));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->status_by, "bob");
  EXPECT_EQ(back->status_at_us, f.status_at_us);
  EXPECT_EQ(back->note, f.note);
  EXPECT_EQ(back->note_by, "carol");
  EXPECT_EQ(back->note_at_us, f.note_at_us);
  EXPECT_EQ(back->suppressed_by, f.suppressed_by);
  EXPECT_EQ(FindingToJson(*back), FindingToJson(f));
}

TEST(FindingTest, UnsetTriageIsEmptyAndNull) {
  std::string j = FindingToJson(Sample());
  EXPECT_NE(j.find(R"("status":"acknowledged","status_by":"","status_at":null,"note":"",)"
                   R"("note_by":"","note_at":null,"suppressed_by":""})"),
            std::string::npos)
      << j;
}

TEST(FindingTest, ValuesWrittenBeforeTriageStillDecode) {
  // A stored value of the schema before the triage fields existed.
  const std::string old =
      R"({"id":"0123456789abcdef0123456789abcdef","rule_id":"r","rule_name":"R",)"
      R"("severity":"high","attack_ids":[],"cluster":"c","user":{"username":"u","groups":[],)"
      R"("impersonated":""},"source_ips":[],"user_agent":"","verb":"get","object":{)"
      R"("api_group":"","resource":"pods","namespace":"ns","name":"p","subresource":""},)"
      R"("first_seen":"2025-03-04T06:22:18.000000Z","last_seen":"2025-03-04T06:22:18.000000Z",)"
      R"("count":2,"evidence":["a1"],"message":"m","status":"open"})";
  auto f = FindingFromJson(old);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->count, 2u);
  EXPECT_EQ(f->status, FindingStatus::kOpen);
  EXPECT_EQ(f->status_by, "");
  EXPECT_EQ(f->status_at_us, 0);
  EXPECT_EQ(f->note, "");
  EXPECT_EQ(f->suppressed_by, "");
  EXPECT_TRUE(f->tags.empty());
  EXPECT_TRUE(f->fields.empty());
}

TEST(FindingTest, TriageFieldsOfTheWrongTypeAreCorrupt) {
  for (std::string_view bad : {R"("status_by":1)", R"("note":null)", R"("status_at":"soon")",
                               R"("note_at":5)", R"("suppressed_by":[])"}) {
    // The bad field first: with duplicate keys the lookup finds the first.
    std::string j = "{" + std::string(bad) + "," + FindingToJson(Sample()).substr(1);
    EXPECT_EQ(FindingFromJson(j).status().code(), StatusCode::kCorruption) << bad;
  }
}

TEST(FindingTest, FromJsonRejectsBadInput) {
  EXPECT_FALSE(FindingFromJson("{").ok());
  EXPECT_FALSE(FindingFromJson("[]").ok());
  EXPECT_FALSE(FindingFromJson("{\"id\":1}").ok());
  std::string j = FindingToJson(Sample());
  j.replace(j.find("\"high\""), 6, "\"huge\"");
  EXPECT_EQ(FindingFromJson(j).status().code(), StatusCode::kCorruption);
}

TEST(FindingTest, SeverityNames) {
  EXPECT_EQ(ParseSeverity("HIGH"), Severity::kHigh);
  EXPECT_EQ(ParseSeverity("nope"), std::nullopt);
  EXPECT_EQ(SeverityName(Severity::kCritical), "critical");
}

}  // namespace
}  // namespace vigil

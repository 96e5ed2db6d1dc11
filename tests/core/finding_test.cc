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

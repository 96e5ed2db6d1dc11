// Suppression matching, validation and JSON.
#include "vigil/core/suppression.h"

#include <gtest/gtest.h>

#include <functional>

namespace vigil {
namespace {

constexpr int64_t kNow = 1760000000000000;
constexpr int64_t kHour = int64_t{3600} * 1000000;

Finding MakeFinding() {
  Finding f;
  f.rule_id = "k8s.exec_into_pod";
  f.cluster = "prod";
  f.user = "alice";
  f.object.namespace_ = "default";
  return f;
}

TEST(SuppressionTest, MatchesOnTheRuleAndEveryGivenField) {
  Suppression s;
  s.rule_id = "k8s.exec_into_pod";
  EXPECT_TRUE(s.Matches(MakeFinding()));  // rule only: the whole rule
  s.user = "alice";
  s.namespace_ = "default";
  s.cluster = "prod";
  EXPECT_TRUE(s.Matches(MakeFinding()));
  Finding other = MakeFinding();
  other.user = "bob";
  EXPECT_FALSE(s.Matches(other));
  other = MakeFinding();
  other.object.namespace_ = "kube-system";
  EXPECT_FALSE(s.Matches(other));
  other = MakeFinding();
  other.cluster = "staging";
  EXPECT_FALSE(s.Matches(other));
  other = MakeFinding();
  other.rule_id = "k8s.other";
  EXPECT_FALSE(s.Matches(other));
}

TEST(SuppressionTest, CheckNamesTheField) {
  Suppression s;
  s.rule_id = "r";
  s.expires_us = kNow + kHour;
  EXPECT_TRUE(CheckSuppression(s, kNow).ok());
  EXPECT_TRUE(s.ActiveAt(kNow));
  EXPECT_FALSE(s.ActiveAt(kNow + kHour));
  struct Case {
    std::function<void(Suppression*)> change;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {[](Suppression* x) { x->rule_id.clear(); }, "'rule' is required"},
      {[](Suppression* x) { x->user = std::string(257, 'u'); }, "'user'"},
      {[](Suppression* x) { x->namespace_ = std::string(257, 'n'); }, "'namespace'"},
      {[](Suppression* x) { x->reason = std::string(1025, 'r'); }, "'reason'"},
      {[](Suppression* x) { x->expires_us = kNow; }, "in the future"},
      {[](Suppression* x) { x->expires_us = kNow + Suppression::kMaxLifetimeUs + 1; },
       "at most 366 days"},
  };
  for (const auto& c : cases) {
    Suppression bad = s;
    c.change(&bad);
    Status st = CheckSuppression(bad, kNow);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.expect;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
  }
}

TEST(SuppressionTest, JsonRoundTrip) {
  Suppression s;
  s.id = "0123456789abcdef0123456789abcdef";
  s.rule_id = "r";
  s.user = "al\"ice";
  s.cluster = "prod";
  s.expires_us = kNow + kHour;
  s.reason = "cron job";
  s.created_by = "bob";
  s.created_at_us = kNow;
  const std::string j = SuppressionToJson(s);
  EXPECT_NE(j.find(R"("expires":"2025-10-09T09:53:20.000000Z")"), std::string::npos) << j;
  auto back = SuppressionFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(SuppressionToJson(*back), j);
  EXPECT_EQ(SuppressionFromJson("{}").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(SuppressionFromJson("nope").status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil

// Tests for ParseFindingFilter: the query parameters of GET /v1/findings.
#include <gtest/gtest.h>

#include "vigil/api/handlers.h"

namespace vigil::api {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

TEST(ParseFindingFilterTest, Defaults) {
  auto f = ParseFindingFilter({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->limit, 100u);
  EXPECT_FALSE(f->cluster);
  EXPECT_FALSE(f->since_us);
  EXPECT_TRUE(f->cursor.empty());
}

TEST(ParseFindingFilterTest, AllParameters) {
  auto f = ParseFindingFilter(Query{{"cluster", "prod"},
                                    {"rule", "exec-into-pod"},
                                    {"severity", "High"},
                                    {"user", "alice"},
                                    {"since", "2024-05-01T10:00:00Z"},
                                    {"until", "1714600000"},
                                    {"limit", "1000"},
                                    {"cursor", "c1"}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->cluster, "prod");
  EXPECT_EQ(f->rule_id, "exec-into-pod");
  EXPECT_EQ(f->min_severity, Severity::kHigh);
  EXPECT_EQ(f->user, "alice");
  EXPECT_EQ(f->since_us, 1714557600000000);
  EXPECT_EQ(f->until_us, 1714600000000000);
  EXPECT_EQ(f->limit, 1000u);
  EXPECT_EQ(f->cursor, "c1");
}

TEST(ParseFindingFilterTest, NamespaceStatusAndText) {
  auto f = ParseFindingFilter(
      Query{{"namespace", "kube-system"}, {"status", "acknowledged"}, {"q", "Exec Into"}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->namespace_, "kube-system");
  EXPECT_EQ(f->status, FindingStatus::kAcknowledged);
  EXPECT_EQ(f->text, "Exec Into");
  EXPECT_TRUE(ParseFindingFilter(Query{{"q", std::string(256, 'q')}}).ok());
}

TEST(ParseFindingFilterTest, EmptyValueIsAbsent) {
  auto f = ParseFindingFilter(Query{{"cluster", ""}, {"limit", ""}});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->cluster);
  EXPECT_EQ(f->limit, 100u);
}

TEST(ParseFindingFilterTest, BadValuesNameTheParameter) {
  struct Case {
    Query query;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{{"since", "yesterday"}}, "invalid 'since'"},
      {{{"until", "2024-13-01T00:00:00Z"}}, "invalid 'until'"},
      {{{"since", "99999999999999999"}}, "invalid 'since'"},
      {{{"limit", "abc"}}, "invalid 'limit'"},
      {{{"limit", "0"}}, "invalid 'limit'"},
      {{{"limit", "5000"}}, "invalid 'limit'"},
      {{{"limit", "-1"}}, "invalid 'limit'"},
      {{{"limit", "10x"}}, "invalid 'limit'"},
      {{{"severity", "urgent"}}, "invalid 'severity'"},
      {{{"color", "red"}}, "unknown parameter 'color'"},
      {{{"cluster", "a"}, {"cluster", "b"}}, "invalid 'cluster': given more than once"},
      {{{"since", "200"}, {"until", "100"}}, "invalid 'until'"},
      {{{"cluster", std::string(2000, 'x')}}, "invalid 'cluster'"},
      {{{"status", "closed"}}, "invalid 'status'"},
      {{{"q", std::string(257, 'q')}}, "invalid 'q'"},
      {{{"namespace", std::string(2000, 'x')}}, "invalid 'namespace'"},
  };
  for (const Case& c : cases) {
    auto f = ParseFindingFilter(c.query);
    ASSERT_FALSE(f.ok()) << c.expect;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(f.status().message().find(c.expect), std::string::npos) << f.status().message();
  }
}

}  // namespace
}  // namespace vigil::api

// The operator endpoints over a real HttpServer on loopback: GET /v1/rules, POST
// /v1/rules/reload (admin role), GET /v1/stats (pipeline counts, a bounded scan of the finding
// store, the journal, source lag), GET /v1/openapi.yaml; Router::Routes/PatternFor; the
// request-duration histogram labelled by route pattern.
#include "vigil/api/admin.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <mutex>

#include "fake_finding_store.h"
#include "test_http_client.h"
#include "vigil/api/http_server.h"

namespace vigil::api {
namespace {

using testing::FakeFindingStore;
using testing::Fetch;
using testing::Get;
using testing::HttpResponse;
namespace http = boost::beast::http;

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

Finding MakeFinding(std::string rule, Severity severity, int64_t t) {
  Finding f;
  f.rule_id = std::move(rule);
  f.severity = severity;
  f.cluster = "prod";
  f.id = MakeFindingId(f.rule_id, f.cluster, std::to_string(t));
  f.first_seen_us = f.last_seen_us = t;
  return f;
}

class FakeJournal final : public IngestJournal {
 public:
  Result<uint64_t> AppendJournal(JournalRecord) override { return Status::Unavailable("not used"); }
  Result<std::vector<JournalEntry>> ReadJournal(uint64_t, size_t, size_t) const override {
    return std::vector<JournalEntry>{};
  }
  bool WaitJournal(uint64_t, std::chrono::milliseconds) const override { return false; }
  Status TrimJournal(uint64_t) override { return Status::Ok(); }
  Status ReserveJournal(uint64_t) override { return Status::Ok(); }
  JournalStats journal_stats() const override {
    JournalStats s;
    s.entries = 3;
    s.bytes = 4096;
    return s;
  }
};

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rules_.generation = 1;
    rules_.rules.push_back(
        {"k8s.z_last", "Last", "high", "native", "rules/a.yaml", 12, true, true, {"T1609"}});
    rules_.rules.push_back(
        {"falco.a_first", "First \"one\"", "low", "falco", "f.yaml", 3, false, false, {}});
    RuleHooks hooks;
    hooks.list = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return rules_;
    };
    hooks.reload = [this]() -> Status {
      std::lock_guard<std::mutex> lock(mu_);
      if (!reload_error_.empty()) return Status::InvalidArgument(reload_error_);
      ++rules_.generation;
      return Status::Ok();
    };
    ServerOptions opts;
    opts.port = 0;
    server_ = std::make_unique<HttpServer>(opts, &store_, &metrics_);
    RegisterRuleHandlers(std::move(hooks), server_->router());
    StatsOptions stats;
    stats.metrics = &metrics_;
    stats.findings = &store_;
    stats.journal = &journal_;
    stats.sources = [] { return std::vector<SourceStatus>{{"kafka", false, 17, "rebalancing"}}; };
    stats.max_findings_scanned = 2500;
    RegisterStatsHandler(std::move(stats), server_->router());
    RegisterOpenApiHandler(server_->router());
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }

  std::mutex mu_;
  RuleListing rules_;
  std::string reload_error_;
  FakeFindingStore store_;
  PipelineMetrics metrics_;
  FakeJournal journal_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(AdminTest, ListRulesSortedWithEveryField) {
  HttpResponse res = Get(port_, "/v1/rules");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(res.body(),
            R"({"generation":1,"rules":[)"
            R"({"id":"falco.a_first","name":"First \"one\"","severity":"low","loader":"falco",)"
            R"("file":"f.yaml","line":3,"stateful":false,"enabled":false,"attack_ids":[]},)"
            R"({"id":"k8s.z_last","name":"Last","severity":"high","loader":"native",)"
            R"("file":"rules/a.yaml","line":12,"stateful":true,"enabled":true,)"
            R"("attack_ids":["T1609"]}]})");
}

TEST_F(AdminTest, ReloadNeedsAdminAndAnswersTheLoaderError) {
  EXPECT_EQ(server_->router()->OptionsFor("POST", "/v1/rules/reload").role,
            RouteOptions::Role::kAdmin);
  EXPECT_EQ(server_->router()->OptionsFor("GET", "/v1/rules").role, RouteOptions::Role::kRead);
  HttpResponse ok = Fetch(port_, http::verb::post, "/v1/rules/reload");
  ASSERT_EQ(ok.result_int(), 200u) << ok.body();
  EXPECT_EQ(ok.body(), R"({"rules":1,"generation":2})");  // enabled rules only
  {
    std::lock_guard<std::mutex> lock(mu_);
    reload_error_ = "rules/a.yaml:3:7: unknown field 'verbz'";
  }
  HttpResponse bad = Fetch(port_, http::verb::post, "/v1/rules/reload");
  EXPECT_EQ(bad.result_int(), 400u);
  EXPECT_EQ(bad.body(),
            R"({"error":"rules/a.yaml:3:7: unknown field 'verbz'","code":"bad_request"})");
  EXPECT_EQ(Get(port_, "/v1/rules/reload").result_int(), 405u);
}

TEST_F(AdminTest, StatsCountsEventsFindingsJournalAndLag) {
  metrics_.events_parsed = 10;
  metrics_.events_by_origin.Add("prod", "kafka", 6);
  metrics_.events_by_origin.Add("prod", "webhook", 1);
  metrics_.events_by_origin.Add("dev", "webhook", 3);
  std::vector<Finding> findings;
  for (int i = 0; i < 3000; ++i) {
    findings.push_back(MakeFinding(i % 3 == 0 ? "r.a" : "r.b",
                                   i % 2 == 0 ? Severity::kHigh : Severity::kLow, 1000 + i));
  }
  ASSERT_TRUE(store_.Put(findings).ok());
  HttpResponse res = Get(port_, "/v1/stats");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(res.body()).get(doc), simdjson::SUCCESS) << res.body();
  EXPECT_EQ(uint64_t(doc["events"]["parsed"]), 10u);
  EXPECT_EQ(uint64_t(doc["events"]["by_cluster"]["prod"]["kafka"]), 6u);
  EXPECT_EQ(uint64_t(doc["events"]["by_cluster"]["dev"]["webhook"]), 3u);
  EXPECT_EQ(uint64_t(doc["events"]["by_source"]["webhook"]), 4u);
  // The newest 2,500 of 3,000 (the scan bound): not complete.
  EXPECT_EQ(uint64_t(doc["findings"]["scanned"]), 2500u);
  EXPECT_FALSE(bool(doc["findings"]["complete"]));
  EXPECT_EQ(
      uint64_t(doc["findings"]["by_rule"]["r.a"]) + uint64_t(doc["findings"]["by_rule"]["r.b"]),
      2500u);
  EXPECT_EQ(uint64_t(doc["findings"]["by_severity"]["high"]), 1250u);
  EXPECT_EQ(uint64_t(doc["findings"]["by_severity"]["critical"]), 0u);
  EXPECT_EQ(uint64_t(doc["journal"]["entries"]), 3u);
  EXPECT_EQ(uint64_t(doc["journal"]["bytes"]), 4096u);
  EXPECT_EQ(std::string_view(doc["sources"].at(0)["kind"]), "kafka");
  EXPECT_EQ(uint64_t(doc["sources"].at(0)["lag"]), 17u);
  EXPECT_FALSE(bool(doc["sources"].at(0)["ready"]));
}

TEST_F(AdminTest, StatsIsCompleteUnderTheBoundAnd500WhenTheStoreFails) {
  ASSERT_TRUE(store_.Put({MakeFinding("r.a", Severity::kCritical, 5)}).ok());
  HttpResponse res = Get(port_, "/v1/stats");
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_TRUE(Contains(res.body(),
                       R"("findings":{"scanned":1,"complete":true,"by_rule":{"r.a":1},)"
                       R"("by_severity":{"critical":1,"high":0,"info":0,"low":0,"medium":0}})"))
      << res.body();
  store_.FailQueriesWith(Status::IoError("disk on fire"));
  HttpResponse failed = Get(port_, "/v1/stats");
  EXPECT_EQ(failed.result_int(), 500u);
  EXPECT_FALSE(Contains(failed.body(), "disk")) << failed.body();  // internals stay in the log
}

TEST_F(AdminTest, OpenApiIsServedOpenAsYaml) {
  EXPECT_EQ(server_->router()->OptionsFor("GET", "/v1/openapi.yaml").role,
            RouteOptions::Role::kOpen);
  HttpResponse res = Get(port_, "/v1/openapi.yaml");
  ASSERT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[http::field::content_type], "application/yaml");
  EXPECT_EQ(res.body().rfind("openapi: 3.0.3\n", 0), 0u) << res.body().substr(0, 100);
  EXPECT_EQ(res.body(), OpenApiSpec());
}

TEST_F(AdminTest, RequestDurationsAreLabelledByPatternNotPath) {
  ASSERT_EQ(Get(port_, "/v1/findings/0123456789abcdef0123456789abcdef").result_int(), 404u);
  ASSERT_EQ(Get(port_, "/v1/findings/fedcba9876543210fedcba9876543210").result_int(), 404u);
  ASSERT_EQ(Get(port_, "/no/such/path/a1").result_int(), 404u);
  ASSERT_EQ(Fetch(port_, http::verb::delete_, "/v1/rules").result_int(), 405u);
  const std::string m = Get(port_, "/metrics").body();
  EXPECT_TRUE(Contains(m, "# TYPE vigil_http_request_duration_seconds histogram\n")) << m;
  EXPECT_TRUE(Contains(m,
                       "vigil_http_request_duration_seconds_count{route=\"/v1/findings/{id}\","
                       "method=\"GET\"} 2\n"))
      << m;
  EXPECT_TRUE(Contains(m,
                       "vigil_http_request_duration_seconds_count{route=\"unmatched\","
                       "method=\"other\"} 2\n"))
      << m;
  EXPECT_TRUE(Contains(m,
                       "vigil_http_request_duration_seconds_bucket{route=\"/v1/stats\","
                       "method=\"GET\",le=\"+Inf\"} 0\n"))
      << m;
  EXPECT_FALSE(Contains(m, "0123456789abcdef")) << m;
  EXPECT_FALSE(Contains(m, "/no/such")) << m;
}

TEST(RouterRoutesTest, ListsEveryMethodAndPatternAndResolvesPatterns) {
  Router r;
  auto h = [](const Request&) { return Response::Json(200, "{}"); };
  r.Add("GET", "/v1/findings", h);
  r.Add("GET", "/v1/findings/{id}", h);
  r.Add("PATCH", "/v1/findings/{id}", h);
  r.Add("GET", "/v1/findings/stats", h);
  using Routes = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r.Routes(), (Routes{{"GET", "/v1/findings"},
                                {"GET", "/v1/findings/{id}"},
                                {"PATCH", "/v1/findings/{id}"},
                                {"GET", "/v1/findings/stats"}}));
  EXPECT_EQ(r.PatternFor("GET", "/v1/findings/abc"), "/v1/findings/{id}");
  EXPECT_EQ(r.PatternFor("GET", "/v1/findings/stats"), "/v1/findings/stats");  // literal wins
  EXPECT_EQ(r.PatternFor("PATCH", "/v1/findings/stats"), "/v1/findings/{id}");
  EXPECT_EQ(r.PatternFor("DELETE", "/v1/findings/abc"), "");
  EXPECT_EQ(r.PatternFor("GET", "/v2"), "");
}

}  // namespace
}  // namespace vigil::api

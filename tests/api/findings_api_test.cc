// The findings API end to end: GET /v1/findings filters and pagination, GET and PATCH
// /v1/findings/{id}, and /v1/suppressions, over real loopback HTTP on port 0, served from a real
// RocksDbFindingStore in a temporary directory with an injected wall clock.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fake_finding_store.h"
#include "test_http_client.h"
#include "vigil/api/handlers.h"
#include "vigil/api/http_server.h"
#include "vigil/core/time_util.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::api {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using testing::Fetch;
using testing::Get;
using testing::HttpResponse;

constexpr int64_t kSecond = 1000000;
constexpr int64_t kT = int64_t{1741069338} * kSecond;    // event time, whole seconds
constexpr int64_t kNow = int64_t{1760000000} * kSecond;  // the store's wall clock
constexpr int64_t kHour = 3600 * kSecond;

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

Finding MakeFinding(int i, int64_t first_seen_us) {
  Finding f;
  f.rule_id = "r1";
  f.rule_name = "Exec into pod";
  f.severity = Severity::kHigh;
  f.cluster = "prod";
  f.user = "alice";
  f.object.resource = "pods";
  f.object.namespace_ = "default";
  f.object.name = "web-" + std::to_string(i);
  f.id = MakeFindingId(f.rule_id, f.cluster, "key-" + std::to_string(i));
  f.first_seen_us = first_seen_us;
  f.last_seen_us = first_seen_us;
  f.evidence = {"audit-" + std::to_string(i) + "-a", "audit-" + std::to_string(i) + "-b"};
  f.message = "finding " + std::to_string(i);
  return f;
}

// The "id" strings of a {"findings":[...]} body, in order, and its next_cursor ("" when null).
struct Page {
  std::vector<std::string> ids;
  std::string next_cursor;
};
Page ParsePage(const std::string& body) {
  Page page;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(body).get(root), simdjson::SUCCESS) << body;
  simdjson::dom::array findings;
  EXPECT_EQ(root["findings"].get_array().get(findings), simdjson::SUCCESS) << body;
  for (auto f : findings) page.ids.emplace_back(f["id"].get_string().value());
  std::string_view cursor;
  if (root["next_cursor"].get_string().get(cursor) == simdjson::SUCCESS) page.next_cursor = cursor;
  return page;
}

std::string StringField(const std::string& body, const char* key) {
  simdjson::dom::parser parser;
  std::string_view v;
  if (parser.parse(body)[key].get_string().get(v) != simdjson::SUCCESS) return "<absent>";
  return std::string(v);
}

class FindingsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-findings-api-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    opts_.sync_writes = false;
    opts_.clock = clock_;
  }
  void TearDown() override {
    server_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Start() {
    auto opened = store::RocksDbFindingStore::Open(dir_, opts_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
    ServerOptions o;
    o.port = 0;
    server_ = std::make_unique<HttpServer>(o, store_.get(), nullptr);
    RegisterFindingTriageHandlers(store_.get(), server_->router());
    RegisterSuppressionHandlers(store_.get(), server_->router());
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    port_ = server_->port();
  }
  void Put(const std::vector<Finding>& fs) { ASSERT_TRUE(store_->Put(fs).ok()); }

  HttpResponse Patch(const std::string& id, std::string body) {
    return Fetch(port_, http::verb::patch, "/v1/findings/" + id,
                 {{"Content-Type", "application/json"}}, std::move(body));
  }
  HttpResponse Post(std::string body) {
    return Fetch(port_, http::verb::post, "/v1/suppressions",
                 {{"Content-Type", "application/json"}}, std::move(body));
  }
  HttpResponse Delete(const std::string& id) {
    return Fetch(port_, http::verb::delete_, "/v1/suppressions/" + id);
  }
  std::vector<std::string> Ids(const std::string& query) {
    HttpResponse res = Get(port_, "/v1/findings" + query);
    EXPECT_EQ(res.result_int(), 200u) << query << ": " << res.body();
    Page page = ParsePage(res.body());
    EXPECT_EQ(page.next_cursor, "") << query;
    return page.ids;
  }
  void ExpectJsonError(const HttpResponse& res, unsigned status, std::string_view message_part) {
    EXPECT_EQ(res.result_int(), status) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_TRUE(Contains(res.body(), "\",\"code\":\"" + std::string(ErrorCodeFor(status)) + "\"}"))
        << res.body();
    EXPECT_TRUE(Contains(res.body(), message_part)) << res.body();
  }

  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kNow);
  std::string dir_;
  store::StoreOptions opts_;
  std::unique_ptr<store::RocksDbFindingStore> store_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(FindingsApiTest, EveryFilterExcludesWhatItShould) {
  Start();
  std::vector<Finding> f;
  for (int i = 0; i < 7; ++i) f.push_back(MakeFinding(i, kT + (5 - i) * kSecond));
  f[1].cluster = "staging";
  f[2].rule_id = "r2";
  f[2].message = "Secret read by alice";
  f[3].user = "bob";
  f[4].severity = Severity::kLow;
  f[5].object.namespace_ = "kube-system";
  f[5].object.name = "coredns";
  f[6].severity = Severity::kCritical;
  f[6].object.name = "Payments-DB";
  for (int i : {1, 2})
    f[i].id = MakeFindingId(f[i].rule_id, f[i].cluster, "key-" + std::to_string(i));
  Put(f);
  ASSERT_EQ(Patch(f[6].id, R"({"status":"acknowledged"})").result_int(), 200u);
  auto ids = [&](std::initializer_list<int> which) {
    std::vector<std::string> out;
    for (int i : which) out.push_back(f[i].id);
    return out;
  };
  const std::string since = FormatTimestampMicros(kT + 3 * kSecond);
  const std::string until = std::to_string((kT) / kSecond);
  struct Case {
    std::string query;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"", ids({0, 1, 2, 3, 4, 5, 6})},
      {"?cluster=prod", ids({0, 2, 3, 4, 5, 6})},
      {"?rule=r2", ids({2})},
      {"?severity=critical", ids({6})},
      {"?severity=high", ids({0, 1, 2, 3, 5, 6})},
      {"?user=bob", ids({3})},
      {"?namespace=kube-system", ids({5})},
      {"?status=acknowledged", ids({6})},
      {"?status=open", ids({0, 1, 2, 3, 4, 5})},
      {"?status=resolved", {}},
      {"?q=PAYMENTS", ids({6})},                     // object name, other case
      {"?q=secret", ids({2})},                       // message
      {"?q=BoB", ids({3})},                          // user
      {"?q=kube-sys", ids({5})},                     // object namespace
      {"?q=exec+into", ids({0, 1, 2, 3, 4, 5, 6})},  // rule name, '+' is a space
      {"?q=r2", ids({2})},                           // rule id
      {"?q=nothing-like-this", {}},
      {"?since=" + since, ids({0, 1, 2})},
      {"?until=" + until, ids({6})},
      {"?cluster=prod&user=alice&severity=high&namespace=default", ids({0, 2, 6})},
      {"?namespace=default&q=web-4&status=open", ids({4})},
  };
  for (const Case& c : cases) EXPECT_EQ(Ids(c.query), c.want) << c.query;
}

TEST_F(FindingsApiTest, FiltersPageInAStableOrder) {
  Start();
  std::vector<Finding> all;
  for (int i = 0; i < 30; ++i) {
    // Pairs share first_seen: ties are broken by id.
    Finding f = MakeFinding(i, kT - (i / 2) * kSecond);
    if (i % 3 == 0) f.object.namespace_ = "other";
    all.push_back(f);
  }
  Put(all);
  std::vector<Finding> want_findings;
  for (const auto& f : all) {
    if (f.object.namespace_ == "default") want_findings.push_back(f);
  }
  std::sort(want_findings.begin(), want_findings.end(), [](const Finding& a, const Finding& b) {
    if (a.first_seen_us != b.first_seen_us) return a.first_seen_us > b.first_seen_us;
    return a.id < b.id;
  });
  std::vector<std::string> want;
  for (const auto& f : want_findings) want.push_back(f.id);
  ASSERT_EQ(want.size(), 20u);

  std::vector<std::string> got;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    std::string target = "/v1/findings?namespace=default&q=WEB&limit=3";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    HttpResponse res = Get(port_, target);
    ASSERT_EQ(res.result_int(), 200u) << res.body();
    Page page = ParsePage(res.body());
    if (!page.next_cursor.empty()) {
      EXPECT_EQ(page.ids.size(), 3u) << "only the last page may be short";
    }
    got.insert(got.end(), page.ids.begin(), page.ids.end());
    if (page.next_cursor.empty()) break;
    cursor = page.next_cursor;
  }
  EXPECT_EQ(got, want);
}

TEST_F(FindingsApiTest, PatchStoresTriageAndGetShowsItWithTheEvidence) {
  Start();
  Finding f = MakeFinding(1, kT);
  Put({f});
  HttpResponse res = Patch(f.id, R"({"status":"acknowledged","note":"on it \u00e9"})");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(res[http::field::content_type], "application/json");
  HttpResponse got = Get(port_, "/v1/findings/" + f.id);
  ASSERT_EQ(got.result_int(), 200u);
  EXPECT_EQ(got.body(), res.body());  // the answer is the stored finding
  EXPECT_EQ(StringField(got.body(), "status"), "acknowledged");
  EXPECT_EQ(StringField(got.body(), "status_by"), "anonymous");  // no credentials configured
  EXPECT_EQ(StringField(got.body(), "status_at"), FormatTimestampMicros(kNow));
  EXPECT_EQ(StringField(got.body(), "note"), "on it \xc3\xa9");
  EXPECT_EQ(StringField(got.body(), "note_by"), "anonymous");
  EXPECT_TRUE(Contains(got.body(), R"("evidence":["audit-1-a","audit-1-b"])")) << got.body();

  // Note only: the status and who set it stay.
  clock_->Advance(kHour);
  res = Patch(f.id, R"({"note":""})");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(StringField(res.body(), "status"), "acknowledged");
  EXPECT_EQ(StringField(res.body(), "status_at"), FormatTimestampMicros(kNow));
  EXPECT_EQ(StringField(res.body(), "note"), "");
  EXPECT_EQ(StringField(res.body(), "note_at"), FormatTimestampMicros(kNow + kHour));
}

TEST_F(FindingsApiTest, PatchRecordsThePrincipal) {
  Start();
  Finding f = MakeFinding(1, kT);
  Put({f});
  Router router;
  RegisterFindingTriageHandlers(store_.get(), &router);
  Request req;
  req.method = "PATCH";
  req.path = "/v1/findings/" + f.id;
  req.body = R"({"status":"resolved"})";
  req.principal = "soc-analyst";
  Response res = router.Dispatch(req);
  ASSERT_EQ(res.status, 200u) << res.body;
  auto stored = store_->Get(f.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, FindingStatus::kResolved);
  EXPECT_EQ(stored->status_by, "soc-analyst");
}

TEST_F(FindingsApiTest, BadPatchesAre400AndChangeNothing) {
  Start();
  Finding f = MakeFinding(1, kT);
  Put({f});
  const std::string before = Get(port_, "/v1/findings/" + f.id).body();
  struct Case {
    std::string body;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {R"({"status":"resolved"} x)", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"("resolved")", "must be a JSON object"},
      {"{}", "nothing to change"},
      {R"({"statuss":"resolved"})", "unknown field 'statuss'"},
      {R"({"status":"resolved","assignee":"bob"})", "unknown field 'assignee'"},
      {R"({"status":1})", "'status' must be a string"},
      {R"({"status":null})", "'status' must be a string"},
      {R"({"status":"closed"})", "invalid 'status'"},
      {R"({"status":"RESOLVED"})", "invalid 'status'"},
      {R"({"note":["x"]})", "'note' must be a string"},
      {R"({"note":")" + std::string(4097, 'n') + "\"}", "'note' is longer than 4096 bytes"},
      {R"({"status":"resolved","status":"open"})", "'status' given more than once"},
  };
  for (const Case& c : cases) {
    HttpResponse res = Patch(f.id, c.body);
    ExpectJsonError(res, 400, c.expect);
    EXPECT_EQ(Get(port_, "/v1/findings/" + f.id).body(), before) << c.body;
  }
  ExpectJsonError(Patch(std::string(32, 'f'), R"({"status":"resolved"})"), 404,
                  "finding not found");
  ExpectJsonError(Patch("ABC", R"({"status":"resolved"})"), 400, "invalid 'id'");
  // Over the route's body limit.
  EXPECT_EQ(Patch(f.id, R"({"note":")" + std::string(40 * 1024, 'n') + "\"}").result_int(), 413u);
  EXPECT_EQ(Get(port_, "/v1/findings/" + f.id).body(), before);
  // Exactly 4 KiB is accepted.
  EXPECT_EQ(Patch(f.id, R"({"note":")" + std::string(4096, 'n') + "\"}").result_int(), 200u);
}

TEST_F(FindingsApiTest, APipelineUpdateAfterPatchKeepsTheTriage) {
  Start();
  Finding f = MakeFinding(1, kT);
  Put({f});
  ASSERT_EQ(Patch(f.id, R"({"status":"resolved","note":"expected maintenance"})").result_int(),
            200u);
  // The pipeline's next write of the same finding: more events, its default status.
  Finding update = f;
  update.count = 7;
  update.last_seen_us = kT + kHour;
  update.evidence.push_back("audit-1-c");
  StateCheckpoint cp;
  cp.findings = {update};
  ASSERT_TRUE(store_->Commit(cp).ok());
  HttpResponse got = Get(port_, "/v1/findings/" + f.id);
  ASSERT_EQ(got.result_int(), 200u);
  EXPECT_TRUE(Contains(got.body(), "\"count\":7,")) << got.body();
  EXPECT_TRUE(Contains(got.body(), "audit-1-c")) << got.body();
  EXPECT_EQ(StringField(got.body(), "status"), "resolved");
  EXPECT_EQ(StringField(got.body(), "status_by"), "anonymous");
  EXPECT_EQ(StringField(got.body(), "note"), "expected maintenance");
}

TEST_F(FindingsApiTest, SuppressionsCreateListDelete) {
  Start();
  const std::string expires = FormatTimestampMicros(kNow + 2 * kHour);
  HttpResponse created = Post(R"({"rule":"k8s.exec_into_pod","user":"alice","namespace":"ci",)"
                              R"("cluster":"prod","expires":")" +
                              expires + R"(","reason":"CI debugging"})");
  ASSERT_EQ(created.result_int(), 201u) << created.body();
  const std::string id = StringField(created.body(), "id");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(StringField(created.body(), "rule"), "k8s.exec_into_pod");
  EXPECT_EQ(StringField(created.body(), "user"), "alice");
  EXPECT_EQ(StringField(created.body(), "namespace"), "ci");
  EXPECT_EQ(StringField(created.body(), "cluster"), "prod");
  EXPECT_EQ(StringField(created.body(), "expires"), expires);
  EXPECT_EQ(StringField(created.body(), "reason"), "CI debugging");
  EXPECT_EQ(StringField(created.body(), "created_by"), "anonymous");
  EXPECT_EQ(StringField(created.body(), "created_at"), FormatTimestampMicros(kNow));

  HttpResponse list = Get(port_, "/v1/suppressions");
  ASSERT_EQ(list.result_int(), 200u);
  EXPECT_EQ(list.body(), "{\"suppressions\":[" + created.body() + "]}");

  HttpResponse deleted = Delete(id);
  EXPECT_EQ(deleted.result_int(), 200u) << deleted.body();
  EXPECT_EQ(Get(port_, "/v1/suppressions?all=1").body(), R"({"suppressions":[]})");
  ExpectJsonError(Delete(id), 404, "suppression not found");
  ExpectJsonError(Delete("nope"), 400, "invalid 'id'");
}

TEST_F(FindingsApiTest, ExpiredSuppressionsAreListedOnlyWithAll) {
  Start();
  // Unix seconds, as a JSON number and as a string; rule-only covers the whole rule.
  HttpResponse a =
      Post(R"({"rule":"r1","expires":)" + std::to_string((kNow + kHour) / kSecond) + "}");
  ASSERT_EQ(a.result_int(), 201u) << a.body();
  HttpResponse b =
      Post(R"({"rule":"r2","expires":")" + std::to_string((kNow + 3 * kHour) / kSecond) + "\"}");
  ASSERT_EQ(b.result_int(), 201u) << b.body();
  EXPECT_EQ(StringField(a.body(), "expires"), FormatTimestampMicros(kNow + kHour));
  clock_->Advance(2 * kHour);
  EXPECT_EQ(Get(port_, "/v1/suppressions").body(), "{\"suppressions\":[" + b.body() + "]}");
  for (std::string all : {"1", "true"}) {
    HttpResponse res = Get(port_, "/v1/suppressions?all=" + all);
    EXPECT_TRUE(Contains(res.body(), StringField(a.body(), "id"))) << res.body();
    EXPECT_TRUE(Contains(res.body(), StringField(b.body(), "id"))) << res.body();
  }
  ExpectJsonError(Get(port_, "/v1/suppressions?all=maybe"), 400, "invalid 'all'");
  ExpectJsonError(Get(port_, "/v1/suppressions?active=1"), 400, "unknown parameter 'active'");
}

TEST_F(FindingsApiTest, ASuppressedFindingIsStoredAndMarked) {
  Start();
  HttpResponse created = Post(R"({"rule":"r1","user":"alice","expires":")" +
                              FormatTimestampMicros(kNow + kHour) + "\"}");
  ASSERT_EQ(created.result_int(), 201u) << created.body();
  Finding hit = MakeFinding(1, kT);
  Finding miss = MakeFinding(2, kT);
  miss.user = "bob";
  Put({hit, miss});
  HttpResponse got = Get(port_, "/v1/findings/" + hit.id);
  ASSERT_EQ(got.result_int(), 200u);
  EXPECT_EQ(StringField(got.body(), "status"), "suppressed");
  EXPECT_EQ(StringField(got.body(), "suppressed_by"), StringField(created.body(), "id"));
  EXPECT_EQ(StringField(Get(port_, "/v1/findings/" + miss.id).body(), "status"), "open");
  EXPECT_EQ(Ids("?status=suppressed"), std::vector<std::string>{hit.id});

  // An analyst's status wins over the suppression on later pipeline writes.
  ASSERT_EQ(Patch(hit.id, R"({"status":"open"})").result_int(), 200u);
  Put({hit});
  got = Get(port_, "/v1/findings/" + hit.id);
  EXPECT_EQ(StringField(got.body(), "status"), "open");
  EXPECT_EQ(StringField(got.body(), "suppressed_by"), "");
}

TEST_F(FindingsApiTest, BadSuppressionBodiesAre400AndStoreNothing) {
  Start();
  const std::string in_1h = "\"" + FormatTimestampMicros(kNow + kHour) + "\"";
  struct Case {
    std::string body;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"", "not valid JSON"},
      {"{\"rule\":", "not valid JSON"},
      {"[1]", "must be a JSON object"},
      {R"({"expires":)" + in_1h + "}", "'rule' is required"},
      {R"({"rule":"","expires":)" + in_1h + "}", "'rule' is required"},
      {R"({"rule":7,"expires":)" + in_1h + "}", "'rule' must be a string"},
      {R"({"rule":"r1"})", "'expires' is required"},
      {R"({"rule":"r1","expires":"next week"})", "invalid 'expires'"},
      {R"({"rule":"r1","expires":true})", "invalid 'expires'"},
      {R"({"rule":"r1","expires":1.5e9})", "invalid 'expires'"},
      {R"({"rule":"r1","expires":")" + FormatTimestampMicros(kNow - 1) + "\"}",
       "'expires' must be in the future"},
      {R"({"rule":"r1","expires":)" + std::to_string((kNow + 367 * 24 * kHour) / kSecond) + "}",
       "at most 366 days"},
      {R"({"rule":"r1","expires":)" + in_1h + R"(,"color":"red"})", "unknown field 'color'"},
      {R"({"rule":"r1","rule":"r2","expires":)" + in_1h + "}", "'rule' given more than once"},
      {R"({"rule":"r1","user":null,"expires":)" + in_1h + "}", "'user' must be a string"},
      {R"({"rule":"r1","expires":)" + in_1h + R"(,"reason":")" + std::string(1025, 'x') + "\"}",
       "'reason' is longer than 1024 bytes"},
      {R"({"rule":")" + std::string(257, 'r') + R"(","expires":)" + in_1h + "}",
       "'rule' is longer than 256 bytes"},
  };
  for (const Case& c : cases) ExpectJsonError(Post(c.body), 400, c.expect);
  EXPECT_EQ(Get(port_, "/v1/suppressions?all=1").body(), R"({"suppressions":[]})");
}

TEST_F(FindingsApiTest, AFullSuppressionStoreIs409) {
  opts_.max_suppressions = 1;
  Start();
  const std::string body =
      R"({"rule":"r1","expires":")" + FormatTimestampMicros(kNow + kHour) + "\"}";
  ASSERT_EQ(Post(body).result_int(), 201u);
  ExpectJsonError(Post(body), 409, "too many suppressions");
}

TEST(FindingsRoutesTest, WritesNeedTheTriageRole) {
  Router router;
  testing::FakeFindingStore findings;
  RegisterFindingHandlers(&findings, &router);
  RegisterFindingTriageHandlers(&findings, &router);
  RegisterSuppressionHandlers(nullptr, &router);
  using Role = RouteOptions::Role;
  const std::string id(32, 'a');
  EXPECT_EQ(router.OptionsFor("GET", "/v1/findings").role, Role::kRead);
  EXPECT_EQ(router.OptionsFor("GET", "/v1/findings/" + id).role, Role::kRead);
  EXPECT_EQ(router.OptionsFor("PATCH", "/v1/findings/" + id).role, Role::kTriage);
  EXPECT_EQ(router.OptionsFor("GET", "/v1/suppressions").role, Role::kRead);
  EXPECT_EQ(router.OptionsFor("POST", "/v1/suppressions").role, Role::kTriage);
  EXPECT_EQ(router.OptionsFor("DELETE", "/v1/suppressions/" + id).role, Role::kTriage);
}

TEST(FindingsRoutesTest, StoreFailuresAre500WithoutTheirText) {
  Router router;
  testing::FakeFindingStore findings;  // keeps no triage: UpdateTriage fails
  Finding f = MakeFinding(1, kT);
  ASSERT_TRUE(findings.Put({f}).ok());
  RegisterFindingTriageHandlers(&findings, &router);
  Request req;
  req.method = "PATCH";
  req.path = "/v1/findings/" + f.id;
  req.body = R"({"status":"resolved"})";
  Response res = router.Dispatch(req);
  EXPECT_EQ(res.status, 500u);
  EXPECT_EQ(res.body, R"({"error":"internal error","code":"internal"})");
}

}  // namespace
}  // namespace vigil::api

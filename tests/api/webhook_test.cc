// POST /v1/audit over real HTTP on loopback, with the journal in a real RocksDB (temp dir):
// what is accepted is in the journal with the credential's cluster; every refusal has its
// status and stores nothing.
#include "vigil/api/webhook.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "../test_gzip.h"
#include "test_http_client.h"
#include "vigil/api/http_server.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::api {
namespace {

namespace fs = std::filesystem;
using testing::Fetch;
using testing::HttpResponse;
using vigil::testing::Gzip;
namespace http = boost::beast::http;

const std::string kProdToken = "prod-secret-token";
const std::string kDevToken = "dev-secret-token";

std::string Event(const std::string& id, const std::string& api = "audit.k8s.io/v1") {
  return R"({"kind":"Event","apiVersion":")" + api + R"(","level":"Metadata","auditID":")" + id +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list",)"
         R"("user":{"username":"alice"},"requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z",)"
         R"("stageTimestamp":"2026-11-02T09:00:00.100000Z"})";
}

std::string EventList(int n, const std::string& prefix = "e") {
  std::string out = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + Event(prefix + std::to_string(i));
  return out + "]}";
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-webhook-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store::StoreOptions so;
    so.sync_writes = false;
    auto db = store::RocksDbFindingStore::Open(dir_, so);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    options_.clusters = {{"prod-eu", Sha256Hex(kProdToken)}, {"dev", Sha256Hex(kDevToken)}};
  }
  void TearDown() override {
    server_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  void Start(ServerOptions opts = {}) {
    ASSERT_TRUE(CheckWebhookOptions(options_).ok());
    opts.port = 0;
    opts.bearer_token = "api-token";  // the API's own token does not open the webhook
    server_ = std::make_unique<HttpServer>(opts, nullptr, nullptr);
    RegisterWebhookHandlers(db_.get(), options_, &counters_, server_->router());
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }
  HttpResponse Post(const std::string& body, const std::string& token = kProdToken,
                    const std::string& target = "/v1/audit",
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    headers.emplace_back("Content-Type", "application/json");
    return Fetch(port_, http::verb::post, target, headers, body);
  }
  uint64_t Entries() const { return db_->journal_stats().entries; }
  // Asserts a refusal: its status, a JSON error naming it, and nothing journaled.
  void ExpectRefused(const HttpResponse& res, unsigned status, const std::string& part) {
    EXPECT_EQ(res.result_int(), status) << res.body();
    EXPECT_NE(res.body().find("\"code\":\"" + std::string(ErrorCodeFor(status)) + "\""),
              std::string::npos)
        << res.body();
    EXPECT_NE(res.body().find(part), std::string::npos) << res.body();
    EXPECT_EQ(Entries(), 0u);
  }

  std::string dir_;
  std::unique_ptr<store::RocksDbFindingStore> db_;
  WebhookOptions options_;
  WebhookCounters counters_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(WebhookTest, AcceptedBodiesAreJournaledWithTheCredentialsCluster) {
  Start();
  HttpResponse res = Post(EventList(3));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(res.body(), "{\"accepted\":3}");
  // The body claims nothing about clusters; the path may name the credential's own cluster.
  res = Post("[" + Event("a1") + "," + Event("a2", "audit.k8s.io/v1beta1") + "]", kDevToken,
             "/v1/audit/dev");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  res = Post(Gzip(Event("g1")), kProdToken, "/v1/audit", {{"Content-Encoding", "gzip"}});
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto all = db_->ReadJournal(0, 100, size_t{1} << 30);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].record.cluster, "prod-eu");
  EXPECT_EQ((*all)[0].record.body, EventList(3));
  EXPECT_EQ((*all)[1].record.cluster, "dev");
  EXPECT_EQ((*all)[2].record.body, Event("g1"));  // stored decompressed
  EXPECT_GT((*all)[2].record.received_us, 0);
  EXPECT_EQ(counters_.events.load(), 6u);
  // An empty EventList is fine and stores nothing.
  EXPECT_EQ(Post(EventList(0)).result_int(), 200u);
  EXPECT_EQ(Entries(), 3u);
}

TEST_F(WebhookTest, MissingWrongAndOtherClustersCredentialsAreRefused) {
  Start();
  ExpectRefused(Post(EventList(1), ""), 401, "missing or invalid bearer token");
  ExpectRefused(Post(EventList(1), "not-a-token"), 401, "missing or invalid bearer token");
  ExpectRefused(Post(EventList(1), "api-token"), 401, "bearer token");
  HttpResponse res =
      Fetch(port_, http::verb::post, "/v1/audit", {{"Authorization", "Basic eDp5"}}, EventList(1));
  ExpectRefused(res, 401, "bearer token");
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer realm=\"vigil\"");
  // A credential for dev naming prod-eu in the path.
  ExpectRefused(Post(EventList(1), kDevToken, "/v1/audit/prod-eu"), 403, "that cluster");
  EXPECT_EQ(counters_.unauthorized.load(), 4u);
  EXPECT_EQ(counters_.forbidden.load(), 1u);
}

TEST_F(WebhookTest, BadBodiesAreRefusedWithWhatIsWrong) {
  Start();
  ExpectRefused(Post("{\"kind\":\"EventList\",\"items\":[{"), 400, "malformed JSON");
  ExpectRefused(Post("{\"hello\":\"world\"}"), 400, "not an audit EventList");
  ExpectRefused(Post("42"), 400, "not an audit EventList");
  ExpectRefused(Post("{\"kind\":\"EventList\",\"items\":[1,2]}"), 400, "item 0 is not");
  ExpectRefused(Post("{\"kind\":\"EventList\"}"), 400, "no items array");
  ExpectRefused(Post(Event("x", "v1")), 400, "apiVersion 'v1'");
  ExpectRefused(Post("not gzip at all", kProdToken, "/v1/audit", {{"Content-Encoding", "gzip"}}),
                400, "gzip");
  const std::string cut = Gzip(EventList(50)).substr(0, 100);
  ExpectRefused(Post(cut, kProdToken, "/v1/audit", {{"Content-Encoding", "gzip"}}), 400, "gzip");
  ExpectRefused(Post(EventList(1), kProdToken, "/v1/audit", {{"Content-Encoding", "br"}}), 415,
                "unsupported Content-Encoding");
  EXPECT_EQ(counters_.rejected.load(), 9u);
  // After all that the server still takes a good batch.
  EXPECT_EQ(Post(EventList(2)).result_int(), 200u);
}

TEST_F(WebhookTest, OversizeBodiesAndGzipBombsAre413) {
  options_.max_body_bytes = 64 << 10;
  options_.max_inflated_bytes = 1 << 20;
  Start();
  ASSERT_GT(EventList(400).size(), 65536u);
  ExpectRefused(Post(EventList(400)), 413, "request body larger than 65536 bytes");
  // 10 MB of zeros inside a JSON string: a few KB on the wire.
  const std::string bomb =
      Gzip("{\"kind\":\"Event\",\"auditID\":\"" + std::string(10 << 20, '0') + "\"}");
  ASSERT_LT(bomb.size(), 64u << 10);
  ExpectRefused(Post(bomb, kProdToken, "/v1/audit", {{"Content-Encoding", "gzip"}}), 413,
                "inflates to more than 1048576 bytes");
  EXPECT_EQ(testing::Get(port_, "/healthz").result_int(), 200u);
}

TEST_F(WebhookTest, OverTheBacklogLimitItAnswers429WithRetryAfter) {
  options_.max_backlog_bytes = 1;
  options_.retry_after_seconds = 3;
  Start();
  ASSERT_EQ(Post(EventList(1)).result_int(), 200u);  // the backlog was empty
  HttpResponse res = Post(EventList(1, "second"));
  EXPECT_EQ(res.result_int(), 429u) << res.body();
  EXPECT_EQ(res[http::field::retry_after], "3");
  EXPECT_EQ(Entries(), 1u);
  EXPECT_EQ(counters_.throttled.load(), 1u);
  // Once the pipeline has trimmed what it applied, it takes batches again.
  ASSERT_TRUE(db_->TrimJournal(db_->journal_stats().next_seq).ok());
  EXPECT_EQ(Post(EventList(1, "third")).result_int(), 200u);
}

}  // namespace
}  // namespace vigil::api

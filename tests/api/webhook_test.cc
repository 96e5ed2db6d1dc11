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
#include "test_certs.h"
#include "test_http_client.h"
#include "vigil/api/http_server.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::api {
namespace {

namespace fs = std::filesystem;
using testing::Fetch;
using testing::FetchTls;
using testing::HttpResponse;
using testing::TestClient;
using testing::TlsTestClient;
using vigil::testing::Gzip;
namespace http = boost::beast::http;
namespace beast = boost::beast;

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
  }
  void TearDown() override {
    server_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }
  void Start(ServerOptions opts = {}) {
    ASSERT_TRUE(CheckWebhookOptions(options_).ok());
    opts.port = 0;
    // Two clusters' apiservers, and a reader whose token does not open the webhook.
    opts.auth.credentials = {
        {"prod-eu-apiserver", Sha256Hex(kProdToken), {"prod-eu-apiserver"}, {"ingest:prod-eu"}},
        {"dev-apiserver", Sha256Hex(kDevToken), {}, {"ingest:dev"}},
        {"grafana", Sha256Hex("api-token"), {}, {"read"}}};
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
  ExpectRefused(Post(EventList(1), ""), 401, "missing credential");
  ExpectRefused(Post(EventList(1), "not-a-token"), 401, "invalid bearer token");
  HttpResponse res =
      Fetch(port_, http::verb::post, "/v1/audit", {{"Authorization", "Basic eDp5"}}, EventList(1));
  ExpectRefused(res, 401, "invalid bearer token");
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer realm=\"vigil\"");
  // A read token is a valid credential without the ingest role.
  ExpectRefused(Post(EventList(1), "api-token"), 403, "lacks the role ingest");
  // A credential for dev naming prod-eu in the path.
  ExpectRefused(Post(EventList(1), kDevToken, "/v1/audit/prod-eu"), 403, "that cluster");
  EXPECT_EQ(counters_.forbidden.load(), 1u);
  EXPECT_EQ(counters_.requests.load(), 1u);  // the others never reached the handler
  // Each refusal is counted by reason, on /metrics (which needs the read role).
  HttpResponse m = testing::Get(port_, "/metrics", {{"Authorization", "Bearer api-token"}});
  ASSERT_EQ(m.result_int(), 200u);
  EXPECT_NE(m.body().find("vigil_http_auth_failures_total{reason=\"missing\"} 1\n"),
            std::string::npos)
      << m.body();
  EXPECT_NE(m.body().find("vigil_http_auth_failures_total{reason=\"invalid\"} 2\n"),
            std::string::npos);
  EXPECT_NE(m.body().find("vigil_http_auth_failures_total{reason=\"forbidden\"} 1\n"),
            std::string::npos);
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

TEST_F(WebhookTest, HeaderFloodsAndSlowHeadersStoreNothingAndHealthAnswers) {
  ServerOptions opts;
  opts.header_timeout = std::chrono::seconds(1);
  Start(opts);
  const std::string auth = "Authorization: Bearer " + kProdToken + "\r\n";
  const std::string body = EventList(1);
  const std::string head = "POST /v1/audit HTTP/1.1\r\nHost: x\r\n" + auth +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n";
  std::string many = head;
  for (int i = 0; i < 10000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  for (const std::string& raw :
       {many + "\r\n" + body, head + "X-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n" + body}) {
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
    client.WriteRaw(raw);  // the server may answer before it has read it all
    HttpResponse res;
    ASSERT_FALSE(client.Read(&res));
    ExpectRefused(res, 431, "request header larger than");
  }
  // Slowloris: a valid header sent so slowly that it never ends, on several connections.
  std::vector<std::unique_ptr<TestClient>> slow;
  for (int i = 0; i < 10; ++i) {
    slow.push_back(std::make_unique<TestClient>(port_));
    ASSERT_FALSE(slow.back()->Connect());
    ASSERT_FALSE(slow.back()->WriteRaw(head));
  }
  EXPECT_EQ(testing::Get(port_, "/healthz").result_int(), 200u);
  for (auto& c : slow) EXPECT_TRUE(c->ReadUntilClosed());  // closed by the header timeout
  EXPECT_EQ(Entries(), 0u);
  EXPECT_EQ(counters_.requests.load(), 0u);
  EXPECT_EQ(Post(EventList(1)).result_int(), 200u);  // and it still works
}

TEST_F(WebhookTest, ACredentiallessRequestIsRefusedBeforeItsBodyIsRead) {
  Start();
  // 10 MB announced, none sent: the answer must not wait for the body (the client gives up after
  // 10 s, the server's body timeout is 60 s).
  for (const std::string& auth :
       {std::string(), std::string("Authorization: Bearer api-token\r\n")}) {
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
    ASSERT_FALSE(client.WriteRaw("POST /v1/audit HTTP/1.1\r\nHost: x\r\n" + auth +
                                 "Content-Length: 10000000\r\n\r\n"));
    HttpResponse res;
    ASSERT_FALSE(client.Read(&res));
    ExpectRefused(res, auth.empty() ? 401 : 403, auth.empty() ? "missing credential" : "lacks");
    EXPECT_FALSE(res.keep_alive());
  }
  EXPECT_EQ(counters_.requests.load(), 0u);
}

// The same endpoint over TLS, with tokens and client certificates.
class WebhookTlsTest : public WebhookTest {
 protected:
  void SetUp() override {
    WebhookTest::SetUp();
    pki_ = std::make_unique<testing::TestPki>(dir_);
  }
  void StartTls(bool require_client_cert = false) {
    ServerOptions opts;
    opts.tls.cert_file = pki_->Path("server.pem");
    opts.tls.key_file = pki_->Path("server.key");
    opts.tls.client_ca_file = pki_->Path("ca.pem");
    opts.tls.require_client_cert = require_client_cert;
    Start(opts);
  }
  TlsTestClient::Options Client(const std::string& cert = "") const {
    TlsTestClient::Options o;
    o.ca_file = pki_->Path("ca.pem");
    if (!cert.empty()) {
      o.cert_file = pki_->Path(cert + ".pem");
      o.key_file = pki_->Path(cert + ".key");
    }
    return o;
  }
  HttpResponse PostTls(const TlsTestClient::Options& o, const std::string& token,
                       beast::error_code* ec, const std::string& target = "/v1/audit") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return FetchTls(port_, o, http::verb::post, target, headers, EventList(2), ec);
  }
  // A handshake that must fail: no HTTP answer, nothing stored, counted.
  void ExpectHandshakeRefused(const TlsTestClient::Options& o, const std::string& why) {
    beast::error_code ec;
    HttpResponse res = PostTls(o, kProdToken, &ec);
    EXPECT_TRUE(ec) << why;
    EXPECT_EQ(res.result_int(), 0u) << why;
    EXPECT_EQ(Entries(), 0u) << why;
  }
  uint64_t HandshakeFailures() {
    HttpResponse m = FetchTls(port_, Client(), http::verb::get, "/metrics",
                              {{"Authorization", "Bearer api-token"}});
    const std::string key = "\nvigil_http_tls_handshake_failures_total ";
    size_t at = m.body().find(key);
    return at == std::string::npos ? ~uint64_t{0} : std::stoull(m.body().substr(at + key.size()));
  }
  std::unique_ptr<testing::TestPki> pki_;
};

TEST_F(WebhookTlsTest, TokensAndClientCertificatesNameTheCluster) {
  StartTls();
  beast::error_code ec;
  HttpResponse res = PostTls(Client(), kDevToken, &ec);  // token over TLS, no certificate
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  res = PostTls(Client("client"), "", &ec);  // the certificate's CN is prod-eu's credential
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  res = PostTls(Client("client"), "", &ec, "/v1/audit/dev");  // and it may not name dev
  EXPECT_EQ(res.result_int(), 403u) << res.body();
  auto all = db_->ReadJournal(0, 100, size_t{1} << 30);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].record.cluster, "dev");
  EXPECT_EQ((*all)[1].record.cluster, "prod-eu");
}

TEST_F(WebhookTlsTest, BadClientCertificatesPlainHttpAndOldTlsStoreNothing) {
  StartTls();
  ExpectHandshakeRefused(Client("expired"), "expired client certificate");
  ExpectHandshakeRefused(Client("self"), "self-signed client certificate");
  ExpectHandshakeRefused(Client("rogue"), "client certificate of another CA");
  TlsTestClient::Options old = Client();
  old.max_version = TLS1_1_VERSION;
  ExpectHandshakeRefused(old, "TLS 1.1");
  EXPECT_EQ(HandshakeFailures(), 4u);
  // A trusted certificate that is no credential: 401.
  beast::error_code ec;
  HttpResponse res = PostTls(Client("stranger"), "", &ec);
  ASSERT_FALSE(ec) << ec.message();
  ExpectRefused(res, 401, "not a known credential");
  // Plain HTTP to the TLS port: a clear 400, not a hang or garbage.
  ExpectRefused(Post(EventList(1)), 400, "this port speaks HTTPS");
  EXPECT_EQ(counters_.requests.load(), 0u);
}

TEST_F(WebhookTlsTest, RequiredClientCertificates) {
  StartTls(/*require_client_cert=*/true);
  ExpectHandshakeRefused(Client(), "no client certificate");  // a token alone is not enough
  beast::error_code ec;
  HttpResponse res = PostTls(Client("client"), "", &ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(Entries(), 1u);
}

TEST_F(WebhookTlsTest, ReloadTlsSwapsTheCertificateForNewConnections) {
  StartTls();
  TlsTestClient before(port_, Client());
  ASSERT_FALSE(before.Connect());
  EXPECT_EQ(before.PeerCommonName(), "localhost");
  // Rotate: a new server certificate from the same CA with another CN.
  pki_->RotateServer("rotated");
  ASSERT_TRUE(server_->ReloadTls().ok());
  TlsTestClient rotated(port_, Client());
  ASSERT_FALSE(rotated.Connect());
  EXPECT_EQ(rotated.PeerCommonName(), "rotated");
  // The connection opened before keeps working.
  auto req = testing::MakeRequest(http::verb::get, "/healthz");
  ASSERT_FALSE(before.Send(req));
  HttpResponse res;
  ASSERT_FALSE(before.Read(&res));
  EXPECT_EQ(res.result_int(), 200u);
  // Broken files: the error is returned and the old certificate stays.
  fs::copy_file(pki_->Path("other-ca.pem"), pki_->Path("server.pem"),
                fs::copy_options::overwrite_existing);
  Status s = server_->ReloadTls();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("TLS key"), std::string::npos) << s.message();
  TlsTestClient after(port_, Client());
  ASSERT_FALSE(after.Connect());
  EXPECT_EQ(after.PeerCommonName(), "rotated");
}

}  // namespace
}  // namespace vigil::api

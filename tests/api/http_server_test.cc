// HttpServer over real loopback HTTP on port 0: endpoints, errors, limits, auth, robustness and
// the Stop() contract.
#include "vigil/api/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "fake_finding_store.h"
#include "test_http_client.h"

namespace vigil::api {
namespace {

using testing::FakeFindingStore;
using testing::Fetch;
using testing::Get;
using testing::HttpResponse;
using testing::MakeRequest;
using testing::TestClient;
namespace http = boost::beast::http;

ServerOptions OptionsOnPort(uint16_t port) {
  ServerOptions o;
  o.port = port;
  return o;
}

ServerOptions BadAddressOptions() {
  ServerOptions o;
  o.address = "not-an-ip";
  return o;
}

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

Finding MakeFinding(std::string key, int64_t first_seen_us, Severity sev = Severity::kHigh) {
  Finding f;
  f.rule_id = "exec-into-pod";
  f.rule_name = "Exec into pod";
  f.severity = sev;
  f.cluster = "prod";
  f.user = "alice";
  f.id = MakeFindingId(f.rule_id, f.cluster, key);
  f.first_seen_us = first_seen_us;
  f.last_seen_us = first_seen_us;
  f.message = "finding " + key;
  return f;
}

class HttpServerTest : public ::testing::Test {
 protected:
  // `before_start` (optional) sets the server up before it starts.
  void StartServer(ServerOptions opts = {}, std::function<void(HttpServer*)> before_start = {}) {
    opts.port = 0;
    server_ = std::make_unique<HttpServer>(std::move(opts), &store_, &metrics_);
    if (before_start) before_start(server_.get());
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  void ExpectJsonError(const HttpResponse& res, unsigned status, std::string_view message_part) {
    EXPECT_EQ(res.result_int(), status) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_TRUE(Contains(res.body(), "\",\"code\":\"" + std::string(ErrorCodeFor(status)) + "\"}"))
        << res.body();
    EXPECT_TRUE(Contains(res.body(), message_part)) << res.body();
  }

  FakeFindingStore store_;
  PipelineMetrics metrics_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpServerTest, Healthz) {
  StartServer();
  HttpResponse res = Get(port_, "/healthz");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"status":"ok"})");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res[http::field::server], "vigil");
  EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));
}

TEST_F(HttpServerTest, ReadyzFollowsSetReady) {
  StartServer();
  HttpResponse before = Get(port_, "/readyz");
  EXPECT_EQ(before.result_int(), 503u);
  EXPECT_EQ(before.body(), R"({"status":"not ready","reason":"starting"})");
  server_->SetReady(true);
  EXPECT_EQ(Get(port_, "/readyz").result_int(), 200u);
  server_->SetReady(false);
  EXPECT_EQ(Get(port_, "/readyz").result_int(), 503u);
}

TEST_F(HttpServerTest, ReadinessCheckAndExtraMetrics) {
  std::atomic<bool> caught_up{false};
  StartServer({}, [&](HttpServer* server) {
    server->SetReadinessCheck([&](std::string* why) {
      if (caught_up.load()) return true;
      *why = "kafka: 12 records \"behind\"";
      return false;
    });
    server->AddMetrics([](std::string* out) { out->append("vigil_test_gauge 3\n"); });
  });
  server_->SetReady(true);
  HttpResponse behind = Get(port_, "/readyz");
  EXPECT_EQ(behind.result_int(), 503u);
  EXPECT_EQ(behind.body(), R"({"status":"not ready","reason":"kafka: 12 records \"behind\""})");
  caught_up = true;
  EXPECT_EQ(Get(port_, "/readyz").result_int(), 200u);
  EXPECT_NE(Get(port_, "/metrics").body().find("\nvigil_test_gauge 3\n"), std::string::npos);
}

TEST_F(HttpServerTest, MetricsHasPipelineAndHttpCounters) {
  metrics_.events_read = 42;
  metrics_.findings = 7;
  StartServer();
  ASSERT_EQ(Get(port_, "/healthz").result_int(), 200u);
  ASSERT_EQ(Get(port_, "/nope").result_int(), 404u);
  HttpResponse res = Get(port_, "/metrics");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res[http::field::content_type].substr(0, 33), "text/plain; version=0.0.4; charse");
  EXPECT_TRUE(Contains(res.body(), "\nvigil_events_read_total 42\n")) << res.body();
  EXPECT_TRUE(Contains(res.body(), "\nvigil_findings_total 7\n")) << res.body();
  EXPECT_TRUE(Contains(res.body(), "vigil_http_responses_total{code=\"2xx\"} 1\n")) << res.body();
  EXPECT_TRUE(Contains(res.body(), "vigil_http_responses_total{code=\"4xx\"} 1\n")) << res.body();
}

TEST_F(HttpServerTest, ListFindingsPassesEveryFilterToTheStore) {
  StartServer();
  HttpResponse res = Get(port_,
                         "/v1/findings?cluster=prod%2Deu&rule=exec-into-pod&severity=medium"
                         "&user=system%3Aserviceaccount%3Akube+system&since=2024-05-01T10:00:00Z"
                         "&until=1714600000&limit=5&cursor=0");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(res.body(), R"({"findings":[],"next_cursor":null})");
  std::optional<FindingFilter> f = store_.last_filter();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->cluster, "prod-eu");
  EXPECT_EQ(f->rule_id, "exec-into-pod");
  EXPECT_EQ(f->min_severity, Severity::kMedium);
  EXPECT_EQ(f->user, "system:serviceaccount:kube system");
  EXPECT_EQ(f->since_us, 1714557600000000);
  EXPECT_EQ(f->until_us, 1714600000000000);
  EXPECT_EQ(f->limit, 5u);
  EXPECT_EQ(f->cursor, "0");
}

TEST_F(HttpServerTest, ListFindingsPaginates) {
  Finding a = MakeFinding("a", 3000), b = MakeFinding("b", 2000), c = MakeFinding("c", 1000);
  ASSERT_TRUE(store_.Put({c, a, b}).ok());
  StartServer();
  HttpResponse p1 = Get(port_, "/v1/findings?limit=2");
  ASSERT_EQ(p1.result_int(), 200u) << p1.body();
  std::string expected1 = "{\"findings\":[";
  AppendFindingJson(a, &expected1);
  expected1 += ",";
  AppendFindingJson(b, &expected1);
  expected1 += "],\"next_cursor\":\"2\"}";
  EXPECT_EQ(p1.body(), expected1);

  HttpResponse p2 = Get(port_, "/v1/findings?limit=2&cursor=2");
  ASSERT_EQ(p2.result_int(), 200u) << p2.body();
  EXPECT_EQ(p2.body(), "{\"findings\":[" + FindingToJson(c) + "],\"next_cursor\":null}");
  EXPECT_EQ(store_.last_filter()->cursor, "2");
}

TEST_F(HttpServerTest, StoreErrorsMapToStatusCodes) {
  StartServer();
  ExpectJsonError(Get(port_, "/v1/findings?cursor=not-a-cursor"), 400, "malformed cursor");
  store_.FailQueriesWith(Status::IoError("disk on fire"));
  HttpResponse failed = Get(port_, "/v1/findings");
  ExpectJsonError(failed, 500, "internal error");
  EXPECT_FALSE(Contains(failed.body(), "disk")) << "store errors are logged, not served";
}

TEST_F(HttpServerTest, GetFindingById) {
  Finding a = MakeFinding("a", 1000);
  ASSERT_TRUE(store_.Put({a}).ok());
  StartServer();
  HttpResponse ok = Get(port_, "/v1/findings/" + a.id);
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(ok.body(), FindingToJson(a));
  ExpectJsonError(Get(port_, "/v1/findings/" + std::string(32, 'f')), 404, "finding not found");
  ExpectJsonError(Get(port_, "/v1/findings/" + std::string(32, 'F')), 400, "invalid 'id'");
  ExpectJsonError(Get(port_, "/v1/findings/abc"), 400, "invalid 'id'");
}

TEST_F(HttpServerTest, BadParametersAre400AndNeverReachTheStore) {
  StartServer();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"since=yesterday", "invalid 'since'"},
      {"limit=abc", "invalid 'limit'"},
      {"limit=0", "invalid 'limit'"},
      {"limit=5000", "invalid 'limit'"},
      {"severity=urgent", "invalid 'severity'"},
      {"colour=red", "unknown parameter 'colour'"},
      {"cluster=%zz", "invalid query string"},
  };
  for (const auto& [query, message] : cases) {
    ExpectJsonError(Get(port_, "/v1/findings?" + query), 400, message);
  }
  EXPECT_EQ(store_.queries(), 0);
}

TEST_F(HttpServerTest, UnknownPathAndWrongMethod) {
  StartServer();
  ExpectJsonError(Get(port_, "/v2/things"), 404, "no such endpoint");
  HttpResponse res = Fetch(port_, http::verb::post, "/v1/findings", {}, "{}");
  ExpectJsonError(res, 405, "not allowed");
  EXPECT_EQ(res[http::field::allow], "GET");
}

TEST_F(HttpServerTest, OversizeBodyIs413) {
  ServerOptions opts;
  opts.max_body_bytes = 1024;
  StartServer(opts);
  HttpResponse res = Fetch(port_, http::verb::post, "/v1/findings", {}, std::string(64 << 10, 'x'));
  ExpectJsonError(res, 413, "request body larger than 1024 bytes");
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, HugeHeaderIs431) {
  StartServer();
  HttpResponse res = Get(port_, "/healthz", {{"X-Big", std::string(20 << 10, 'a')}});
  ExpectJsonError(res, 431, "request header larger than");
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, MalformedRequestIs400AndCloses) {
  StartServer();
  for (std::string raw : {"GARBAGE\r\n\r\n", "GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n",
                          "GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"}) {
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
    ASSERT_FALSE(client.WriteRaw(raw));
    HttpResponse res;
    ASSERT_FALSE(client.Read(&res)) << raw;
    ExpectJsonError(res, 400, "malformed HTTP request");
    EXPECT_EQ(client.ReadUntilClosed(), boost::asio::error::eof);
  }
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  TestClient client(port_);
  ASSERT_FALSE(client.Connect());
  for (int i = 0; i < 5; ++i) {
    auto req = MakeRequest(http::verb::get, "/healthz");
    ASSERT_FALSE(client.Send(req));
    HttpResponse res;
    ASSERT_FALSE(client.Read(&res));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
  }
  auto last = MakeRequest(http::verb::get, "/healthz");
  last.keep_alive(false);
  ASSERT_FALSE(client.Send(last));
  HttpResponse res;
  ASSERT_FALSE(client.Read(&res));
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(client.ReadUntilClosed(), boost::asio::error::eof);
}

TEST_F(HttpServerTest, EveryRouteNeedsItsRoleButHealthAndReadiness) {
  ServerOptions opts;
  opts.auth.credentials = {{"grafana", Sha256Hex("read-tok"), {}, {"read"}},
                           {"analyst", Sha256Hex("triage-tok"), {}, {"triage"}},
                           {"ops", Sha256Hex("admin-tok"), {}, {"admin"}},
                           {"prod-apiserver", Sha256Hex("ingest-tok"), {}, {"ingest:prod"}}};
  std::vector<std::string> principals;
  std::mutex mu;
  auto record = [&](const Request& req) {
    std::lock_guard<std::mutex> lock(mu);
    principals.push_back(req.principal);
    return Response::Json(200, "{}");
  };
  StartServer(opts, [&](HttpServer* server) {
    RouteOptions triage, admin;
    triage.role = RouteOptions::Role::kTriage;
    admin.role = RouteOptions::Role::kAdmin;
    server->router()->Add("PATCH", "/v1/t", record, triage);
    server->router()->Add("POST", "/v1/a", record, admin);
  });
  auto bearer = [](const std::string& t) {
    return std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + t}};
  };
  HttpResponse none = Get(port_, "/v1/findings");
  ExpectJsonError(none, 401, "missing credential");
  EXPECT_EQ(none[http::field::www_authenticate].substr(0, 6), "Bearer");
  ExpectJsonError(Get(port_, "/v1/findings", bearer("wrong")), 401, "invalid bearer token");
  ExpectJsonError(Get(port_, "/v1/findings", {{"Authorization", "Basic czNjcmV0"}}), 401,
                  "invalid bearer token");
  ExpectJsonError(Get(port_, "/v1/findings", bearer("ingest-tok")), 403, "lacks the role read");
  ExpectJsonError(Get(port_, "/metrics"), 401, "missing credential");
  for (const char* tok : {"read-tok", "triage-tok", "admin-tok"}) {
    EXPECT_EQ(Get(port_, "/v1/findings", bearer(tok)).result_int(), 200u) << tok;
    EXPECT_EQ(Get(port_, "/metrics", bearer(tok)).result_int(), 200u) << tok;
  }
  EXPECT_EQ(store_.queries(), 3);  // refusals never reach the store
  // Triage: triage and admin; admin: admin only.
  ExpectJsonError(Fetch(port_, http::verb::patch, "/v1/t", bearer("read-tok")), 403,
                  "lacks the role triage");
  EXPECT_EQ(Fetch(port_, http::verb::patch, "/v1/t", bearer("triage-tok")).result_int(), 200u);
  ExpectJsonError(Fetch(port_, http::verb::post, "/v1/a", bearer("triage-tok")), 403,
                  "lacks the role admin");
  EXPECT_EQ(Fetch(port_, http::verb::post, "/v1/a", bearer("admin-tok")).result_int(), 200u);
  EXPECT_EQ(principals, (std::vector<std::string>{"analyst", "ops"}));
  // Probes need nothing.
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
  EXPECT_EQ(Get(port_, "/readyz").result_int(), 503u);
  // Without a credential, no path is told from another: 401, not 404 or 405.
  ExpectJsonError(Get(port_, "/v1/no-such-thing"), 401, "missing credential");
  ExpectJsonError(Fetch(port_, http::verb::delete_, "/v1/findings"), 401, "missing credential");
  ExpectJsonError(Get(port_, "/v1/no-such-thing", bearer("wrong")), 401, "invalid bearer token");
  // With any valid one, the usual 404 and 405.
  ExpectJsonError(Get(port_, "/v1/no-such-thing", bearer("ingest-tok")), 404, "no such endpoint");
  ExpectJsonError(Fetch(port_, http::verb::delete_, "/v1/findings", bearer("read-tok")), 405,
                  "not allowed");
}

TEST_F(HttpServerTest, BadCredentialsConfigIsRefusedAtStart) {
  ServerOptions opts;
  opts.port = 0;
  opts.auth.credentials = {{"x", "not-a-hash", {}, {"read"}}};
  HttpServer bad_hash(opts, &store_, &metrics_);
  EXPECT_NE(bad_hash.Start().message().find("64 lowercase hex"), std::string::npos);
  opts.auth.credentials = {{"x", Sha256Hex("t"), {}, {"superuser"}}};
  HttpServer bad_role(opts, &store_, &metrics_);
  EXPECT_NE(bad_role.Start().message().find("unknown role 'superuser'"), std::string::npos);
  opts.auth.credentials = {{"x", Sha256Hex("t"), {}, {"read"}},
                           {"y", Sha256Hex("t"), {}, {"read"}}};
  HttpServer twice(opts, &store_, &metrics_);
  EXPECT_NE(twice.Start().message().find("also another credential's"), std::string::npos);
}

TEST_F(HttpServerTest, PlainOrAnonymousHttpOnlyOnLoopbackUnlessAllowed) {
  ServerOptions opts;
  opts.port = 0;
  opts.address = "0.0.0.0";
  HttpServer plain(opts, &store_, &metrics_);
  Status s = plain.Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("refusing plain HTTP on 0.0.0.0"), std::string::npos) << s.message();
  opts.allow_plain_http = true;
  HttpServer anonymous(opts, &store_, &metrics_);
  s = anonymous.Start();
  EXPECT_NE(s.message().find("without credentials"), std::string::npos) << s.message();
  opts.auth.credentials = {{"grafana", Sha256Hex("t"), {}, {"read"}}};
  HttpServer allowed(opts, &store_, &metrics_);
  EXPECT_TRUE(allowed.Start().ok());
  EXPECT_EQ(Get(allowed.port(), "/v1/findings").result_int(), 401u);
}

TEST_F(HttpServerTest, SlowHeadersAreCutOffAndHealthStillAnswers) {
  ServerOptions opts;
  opts.header_timeout = std::chrono::seconds(1);
  StartServer(opts);
  // Slowloris: many connections that send a header byte by byte and never finish it.
  std::vector<std::unique_ptr<TestClient>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<TestClient>(port_));
    ASSERT_FALSE(slow.back()->Connect());
    ASSERT_FALSE(slow.back()->WriteRaw("GET /v1/findings HTTP/1.1\r\nHost: x\r\nX-A: "));
  }
  // Meanwhile health and queries answer at once.
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
  EXPECT_EQ(Get(port_, "/v1/findings").result_int(), 200u);
  // Each slow connection is closed by the server once the header timeout passes (the client's
  // own deadline is 10 s, so a server that waited forever fails here).
  for (auto& c : slow) {
    boost::beast::error_code ec = c->ReadUntilClosed();
    EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
        << ec.message();
  }
  HttpResponse m = Get(port_, "/metrics");
  EXPECT_TRUE(Contains(m.body(), "vigil_http_timeouts_total 20\n")) << m.body();
  EXPECT_EQ(store_.queries(), 1);
}

TEST_F(HttpServerTest, KeepAliveConnectionsServeAtMostTheirRequestLimit) {
  ServerOptions opts;
  opts.max_requests_per_connection = 3;
  StartServer(opts);
  TestClient client(port_);
  ASSERT_FALSE(client.Connect());
  for (int i = 1; i <= 3; ++i) {
    auto req = MakeRequest(http::verb::get, "/healthz");
    ASSERT_FALSE(client.Send(req));
    HttpResponse res;
    ASSERT_FALSE(client.Read(&res));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.keep_alive(), i < 3) << i;
  }
  EXPECT_EQ(client.ReadUntilClosed(), boost::asio::error::eof);
}

TEST_F(HttpServerTest, TenThousandHeadersOrAMegabyteHeaderAre431) {
  StartServer();
  std::string many = "GET /v1/findings HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  for (const std::string& raw : {many, "GET /v1/findings HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                           std::string(1 << 20, 'a') + "\r\n\r\n"}) {
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
    client.WriteRaw(raw);  // the server may answer and close before it has read it all
    HttpResponse res;
    ASSERT_FALSE(client.Read(&res));
    ExpectJsonError(res, 431, "request header larger than");
  }
  EXPECT_EQ(store_.queries(), 0);
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, ClientsThatVanishDoNotHurtTheServer) {
  StartServer();
  {  // half a request, then gone
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
    ASSERT_FALSE(client.WriteRaw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Partial: y"));
    client.Close();
  }
  {  // a whole request, gone before the answer
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
    ASSERT_FALSE(client.WriteRaw("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    client.Close();
  }
  {  // connect and leave
    TestClient client(port_);
    ASSERT_FALSE(client.Connect());
  }
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  ServerOptions opts;
  opts.idle_timeout = std::chrono::seconds(1);    // between keep-alive requests
  opts.header_timeout = std::chrono::seconds(1);  // a new connection that says nothing
  StartServer(opts);
  for (bool after_a_request : {false, true}) {
    TestClient client(port_, std::chrono::seconds(10));
    ASSERT_FALSE(client.Connect());
    if (after_a_request) {
      auto req = MakeRequest(http::verb::get, "/healthz");
      ASSERT_FALSE(client.Send(req));
      HttpResponse res;
      ASSERT_FALSE(client.Read(&res));
      ASSERT_TRUE(res.keep_alive());
    }
    auto start = std::chrono::steady_clock::now();
    boost::beast::error_code ec = client.ReadUntilClosed();
    EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
        << ec.message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  }
}

TEST_F(HttpServerTest, ConnectionCapAnswers503) {
  ServerOptions opts;
  opts.max_connections = 2;
  StartServer(opts);
  TestClient c1(port_), c2(port_);
  for (TestClient* c : {&c1, &c2}) {  // a full exchange makes sure each is admitted
    ASSERT_FALSE(c->Connect());
    auto req = MakeRequest(http::verb::get, "/healthz");
    ASSERT_FALSE(c->Send(req));
    HttpResponse res;
    ASSERT_FALSE(c->Read(&res));
    ASSERT_EQ(res.result_int(), 200u);
  }
  TestClient c3(port_);
  ASSERT_FALSE(c3.Connect());
  HttpResponse res;
  ASSERT_FALSE(c3.Read(&res));
  ExpectJsonError(res, 503, "too many connections");
  c3.Close();

  // Once a slot frees up, new connections are served again.
  c1.Close();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = Get(port_, "/healthz").result_int();
  }
  EXPECT_EQ(status, 200u);
}

TEST_F(HttpServerTest, HandlerExceptionsBecome500) {
  server_ = std::make_unique<HttpServer>(OptionsOnPort(0), &store_, &metrics_);
  server_->router()->Add("GET", "/boom",
                         [](const Request&) -> Response { throw std::runtime_error("kaboom"); });
  ASSERT_TRUE(server_->Start().ok());
  port_ = server_->port();
  ExpectJsonError(Get(port_, "/boom"), 500, "internal error");
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
}

TEST_F(HttpServerTest, ConcurrentClientsOnSeveralThreads) {
  ServerOptions opts;
  opts.threads = 2;
  StartServer(opts);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (Get(port_, i % 2 ? "/healthz" : "/v1/findings").result_int() == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST_F(HttpServerTest, BindFailureIsReported) {
  StartServer();
  HttpServer second(OptionsOnPort(port_), &store_, &metrics_);
  Status s = second.Start();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_TRUE(Contains(s.message(), "listen 127.0.0.1:" + std::to_string(port_) + ": "))
      << s.message();
  HttpServer bad(BadAddressOptions(), &store_, &metrics_);
  EXPECT_FALSE(bad.Start().ok());
}

TEST_F(HttpServerTest, StopIsIdempotentClosesConnectionsAndReleasesThePort) {
  StartServer();
  TestClient idle(port_);  // a keep-alive connection left open
  ASSERT_FALSE(idle.Connect());
  auto req = MakeRequest(http::verb::get, "/healthz");
  ASSERT_FALSE(idle.Send(req));
  HttpResponse res;
  ASSERT_FALSE(idle.Read(&res));

  std::atomic<bool> waited{false};
  std::thread waiter([&] {
    server_->Wait();
    waited = true;
  });
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  waiter.join();
  EXPECT_TRUE(waited.load());
  server_->Stop();  // again: no-op
  EXPECT_FALSE(server_->Start().ok());
  EXPECT_EQ(idle.ReadUntilClosed(), boost::asio::error::eof);

  boost::beast::error_code ec;
  Fetch(port_, http::verb::get, "/healthz", {}, "", &ec);
  EXPECT_EQ(ec, boost::asio::error::connection_refused);

  HttpServer again(OptionsOnPort(port_), &store_, &metrics_);
  Status s = again.Start();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Get(port_, "/healthz").result_int(), 200u);
  again.Stop();
}

TEST(HttpServerLifecycleTest, StopWithoutStartAndDestroyWhileRunning) {
  HttpServer never(OptionsOnPort(0), nullptr, nullptr);
  never.Stop();
  never.Wait();
  auto running = std::make_unique<HttpServer>(OptionsOnPort(0), nullptr, nullptr);
  ASSERT_TRUE(running->Start().ok());
  const uint16_t port = running->port();
  EXPECT_EQ(Get(port, "/v1/findings").result_int(), 503u);
  HttpResponse metrics = Get(port, "/metrics");
  EXPECT_EQ(metrics.result_int(), 200u);
  EXPECT_TRUE(Contains(metrics.body(), "vigil_http_responses_total")) << metrics.body();
  running.reset();  // destructor stops
}

}  // namespace
}  // namespace vigil::api

// GET /v1/deadletters over real loopback HTTP on port 0, served from MemoryStateStore (a
// DeadLetterStore), and the parsing of its query.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_http_client.h"
#include "vigil/api/handlers.h"
#include "vigil/api/http_server.h"
#include "vigil/core/memory_state_store.h"

namespace vigil::api {
namespace {

using testing::Get;
using testing::HttpResponse;
namespace http = boost::beast::http;

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

DeadLetter MakeDl(int64_t received_us, std::string source, std::string origin) {
  DeadLetter dl;
  dl.received_us = received_us;
  dl.source = std::move(source);
  dl.origin = std::move(origin);
  dl.error = "malformed JSON";
  SetDeadLetterRecord("{\"kind\":\"Ev", &dl);
  return dl;
}

class DeadLettersHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StateCheckpoint cp;
    cp.dead_letters = {MakeDl(1000, "file", "/a.log"), MakeDl(2000, "kafka", "audit"),
                       MakeDl(3000, "file", "/b.log")};
    cp.dead_letters[1].head = std::string("\xff\x1b[2J", 5);  // not UTF-8, with an escape
    ASSERT_TRUE(store_.Commit(cp).ok());
  }
  void StartServer(ServerOptions opts = {}, bool with_store = true) {
    opts.port = 0;
    server_ = std::make_unique<HttpServer>(std::move(opts), nullptr, nullptr);
    if (with_store) {
      ASSERT_TRUE(server_->SetDeadLetterStore(&store_).ok());
    }
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    port_ = server_->port();
  }
  void ExpectJsonError(const HttpResponse& res, unsigned status, std::string_view message_part) {
    EXPECT_EQ(res.result_int(), status) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_TRUE(Contains(res.body(), "\",\"code\":\"" + std::string(ErrorCodeFor(status)) + "\"}"))
        << res.body();
    EXPECT_TRUE(Contains(res.body(), message_part)) << res.body();
  }

  MemoryStateStore store_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(DeadLettersHttpTest, ListsNewestFirstAsDeadLetterJson) {
  StartServer();
  HttpResponse res = Get(port_, "/v1/deadletters");
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto page = store_.ListDeadLetters({});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->dead_letters.size(), 3u);
  std::string expected = "{\"deadletters\":[";
  for (size_t i = 0; i < page->dead_letters.size(); ++i) {
    if (i > 0) expected += ",";
    AppendDeadLetterJson(page->dead_letters[i], &expected);
  }
  expected += "],\"next_cursor\":null}";
  EXPECT_EQ(res.body(), expected);
  EXPECT_LT(res.body().find("/b.log"), res.body().find("audit"));
  EXPECT_LT(res.body().find("audit"), res.body().find("/a.log"));
  EXPECT_FALSE(Contains(res.body(), "\x1b")) << "control bytes are escaped";
  EXPECT_TRUE(Contains(res.body(), "\"head_base64\":\"/xtbMko=\"")) << res.body();
}

TEST_F(DeadLettersHttpTest, FiltersAndPagesWithTheCursor) {
  StartServer();
  HttpResponse p1 = Get(port_, "/v1/deadletters?source=file&limit=1");
  ASSERT_EQ(p1.result_int(), 200u) << p1.body();
  EXPECT_TRUE(Contains(p1.body(), "/b.log")) << p1.body();
  EXPECT_FALSE(Contains(p1.body(), "\"next_cursor\":null")) << p1.body();
  const size_t at = p1.body().find("\"next_cursor\":\"");
  ASSERT_NE(at, std::string::npos);
  const std::string cursor = p1.body().substr(at + 15, p1.body().find('"', at + 15) - (at + 15));
  HttpResponse p2 = Get(port_, "/v1/deadletters?source=file&limit=1&cursor=" + cursor);
  ASSERT_EQ(p2.result_int(), 200u) << p2.body();
  EXPECT_TRUE(Contains(p2.body(), "/a.log")) << p2.body();
  EXPECT_FALSE(Contains(p2.body(), "audit")) << p2.body();
  HttpResponse by_origin = Get(port_, "/v1/deadletters?origin=audit");
  ASSERT_EQ(by_origin.result_int(), 200u);
  EXPECT_TRUE(Contains(by_origin.body(), "\"source\":\"kafka\"")) << by_origin.body();
  EXPECT_FALSE(Contains(by_origin.body(), ".log")) << by_origin.body();
  // An empty value counts as absent.
  EXPECT_EQ(Get(port_, "/v1/deadletters?source=&limit=").body(),
            Get(port_, "/v1/deadletters").body());
}

TEST_F(DeadLettersHttpTest, BadParametersAre400WithAClearMessage) {
  StartServer();
  for (const char* limit : {"0", "1001", "-1", "ten", "1e3", "99999999999999999999"}) {
    ExpectJsonError(Get(port_, std::string("/v1/deadletters?limit=") + limit), 400,
                    "invalid 'limit': expected an integer from 1 to 1000");
  }
  ExpectJsonError(Get(port_, "/v1/deadletters?cursor=not-a-cursor"), 400, "invalid cursor");
  ExpectJsonError(Get(port_, "/v1/deadletters?cursor=" + std::string(5000, 'a')), 400,
                  "invalid 'cursor': too long");
  ExpectJsonError(Get(port_, "/v1/deadletters?cluster=prod"), 400,
                  "unknown parameter 'cluster'; expected source, origin, limit or cursor");
  ExpectJsonError(Get(port_, "/v1/deadletters?source=a&source=b"), 400,
                  "invalid 'source': given more than once");
  ExpectJsonError(Get(port_, "/v1/deadletters?limit=%zz"), 400, "");
}

TEST_F(DeadLettersHttpTest, NoStoreIs503) {
  StartServer({}, /*with_store=*/false);
  ExpectJsonError(Get(port_, "/v1/deadletters"), 503, "dead-letter store not available");
}

TEST_F(DeadLettersHttpTest, BearerTokenIsRequired) {
  ServerOptions opts;
  opts.auth.credentials = {{"reader", Sha256Hex("s3cret"), {}, {"read"}}};
  StartServer(opts);
  HttpResponse none = Get(port_, "/v1/deadletters");
  ExpectJsonError(none, 401, "missing credential");
  EXPECT_EQ(none[http::field::www_authenticate].substr(0, 6), "Bearer");
  ExpectJsonError(Get(port_, "/v1/deadletters", {{"Authorization", "Bearer wrong"}}), 401, "token");
  HttpResponse ok = Get(port_, "/v1/deadletters", {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(ok.result_int(), 200u) << ok.body();
  EXPECT_TRUE(Contains(ok.body(), "/b.log"));
}

TEST_F(DeadLettersHttpTest, StoreCannotBeSetAfterStart) {
  StartServer({}, /*with_store=*/false);
  EXPECT_EQ(server_->SetDeadLetterStore(&store_).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(port_, "/v1/deadletters").result_int(), 503u);
}

TEST_F(DeadLettersHttpTest, OnlyGet) {
  StartServer();
  HttpResponse res = testing::Fetch(port_, http::verb::post, "/v1/deadletters");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[http::field::allow], "GET");
}

TEST(ParseDeadLetterFilterTest, ReadsEveryParameter) {
  auto f = ParseDeadLetterFilter(
      {{"source", "kafka"}, {"origin", "audit-prod"}, {"limit", "7"}, {"cursor", "abc"}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->source, "kafka");
  EXPECT_EQ(f->origin, "audit-prod");
  EXPECT_EQ(f->limit, 7u);
  EXPECT_EQ(f->cursor, "abc");
  auto defaults = ParseDeadLetterFilter({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->limit, 100u);
  EXPECT_FALSE(defaults->source.has_value());
  EXPECT_FALSE(ParseDeadLetterFilter({{"origin", std::string(5000, 'x')}}).ok());
  EXPECT_TRUE(ParseDeadLetterFilter({{"limit", "1000"}}).ok());
  EXPECT_TRUE(ParseDeadLetterFilter({{"limit", "1"}}).ok());
}

}  // namespace
}  // namespace vigil::api

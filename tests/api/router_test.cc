// Tests for the Router: matching, path parameters, 404/405 and the JSON error helper.
#include "vigil/api/router.h"

#include <gtest/gtest.h>

namespace vigil::api {
namespace {

Request Req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

Handler Echo(std::string tag) {
  return [tag](const Request& req) {
    std::string body = tag;
    for (const auto& [k, v] : req.path_params) body += " " + k + "=" + v;
    return Response::Text(200, "text/plain", body);
  };
}

TEST(RouterTest, MatchesLiteralAndParamSegments) {
  Router router;
  router.Add("GET", "/v1/findings", Echo("list"));
  router.Add("GET", "/v1/findings/{id}", Echo("get"));
  router.Add("GET", "/v1/findings/stats", Echo("stats"));

  Request r1 = Req("GET", "/v1/findings");
  EXPECT_EQ(router.Dispatch(r1).body, "list");
  Request r2 = Req("GET", "/v1/findings/abc");
  EXPECT_EQ(router.Dispatch(r2).body, "get id=abc");
  EXPECT_EQ(r2.PathParam("id"), "abc");
  Request r3 = Req("GET", "/v1/findings/stats");
  EXPECT_EQ(router.Dispatch(r3).body, "stats");
}

TEST(RouterTest, UnknownPathIs404) {
  Router router;
  router.Add("GET", "/v1/findings/{id}", Echo("get"));
  for (const char* path :
       {"/", "/v1", "/v1/findings", "/v1/findings/", "/v1/findings/a/b", "//v1/findings/a"}) {
    Request r = Req("GET", path);
    Response res = router.Dispatch(r);
    EXPECT_EQ(res.status, 404u) << path;
    EXPECT_EQ(res.content_type, "application/json");
    EXPECT_NE(res.body.find("\"code\":\"not_found\""), std::string::npos);
  }
}

TEST(RouterTest, WrongMethodIs405WithAllow) {
  Router router;
  router.Add("GET", "/x", Echo("get"));
  router.Add("DELETE", "/x", Echo("delete"));
  Request r = Req("POST", "/x");
  Response res = router.Dispatch(r);
  EXPECT_EQ(res.status, 405u);
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].first, "Allow");
  EXPECT_EQ(res.headers[0].second, "DELETE, GET");
}

TEST(RouterTest, LaterAddReplaces) {
  Router router;
  router.Add("GET", "/x", Echo("one"));
  router.Add("GET", "/x", Echo("two"));
  Request r = Req("GET", "/x");
  EXPECT_EQ(router.Dispatch(r).body, "two");
}

TEST(JsonErrorTest, EscapesMessage) {
  Response r = JsonError(400, "bad \"x\"\n");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.body, R"({"error":"bad \"x\"\n","code":"bad_request"})");
  EXPECT_EQ(JsonError(429, "too_many_requests", "slow down").body,
            R"({"error":"slow down","code":"too_many_requests"})");
}

TEST(RequestTest, HeaderLookupIsCaseInsensitive) {
  Request r;
  r.headers = {{"Authorization", "Bearer x"}, {"X-A", "1"}};
  EXPECT_EQ(r.Header("authorization"), "Bearer x");
  EXPECT_EQ(r.Header("x-a"), "1");
  EXPECT_EQ(r.Header("missing"), "");
}

}  // namespace
}  // namespace vigil::api

// Request/Response types of the HTTP API and the Router that maps (method, path pattern) to
// handlers. Beast-free so that handlers can be written and unit-tested without sockets.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::api {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A parsed request as handlers see it. The query is already percent-decoded.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string, not decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order of appearance
  HeaderList headers;
  std::string body;
  std::map<std::string, std::string, std::less<>> path_params;  // filled by Router: {id} -> value

  // Value of the first header named `name` (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
  // Value of the path parameter `name`, or "" when absent.
  std::string_view PathParam(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // extra headers; Content-Type/Length and Server are set by the server

  static Response Json(unsigned status, std::string body);
  static Response Text(unsigned status, std::string content_type, std::string body);
};

// The one helper for every JSON error body: {"error":{"code":N,"message":"..."}}.
Response JsonError(unsigned status, std::string_view message);

using Handler = std::function<Response(const Request&)>;

// Maps method + path pattern to handlers. A pattern is a '/'-separated path; a segment written
// "{name}" matches any one non-empty segment and is stored in Request::path_params. Not
// thread-safe to Add() while Dispatch() runs; build it first, then share it read-only.
class Router {
 public:
  // Registers `handler` for `method` on `pattern`. A later Add() for the same method and pattern
  // replaces the earlier one.
  void Add(std::string_view method, std::string_view pattern, Handler handler);

  // Runs the matching handler. 404 when no pattern matches the path; 405 with an `Allow` header
  // when a pattern matches but not for this method. Exceptions from handlers propagate.
  Response Dispatch(Request& req) const;

 private:
  struct Route {
    std::vector<std::string> segments;
    std::string pattern;
    std::map<std::string, Handler, std::less<>> by_method;
  };
  static bool Match(const Route& route, const std::vector<std::string_view>& path, Request* req);

  std::vector<Route> routes_;
};

}  // namespace vigil::api

// Request/Response types of the HTTP API and the Router that maps (method, path pattern) to
// handlers. Beast-free so that handlers can be written and unit-tested without sockets.
#pragma once

#include <cstddef>
#include <cstdint>
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
  // Who sent it, filled by the server once the credential is checked: the configured name of the
  // token or client certificate ("" when the server runs without credentials).
  std::string principal;
  // The cluster of that credential's ingest:<cluster> role ("" when it has none).
  std::string ingest_cluster;
  // Filled by the server from a verified TLS client certificate (empty otherwise): its subject
  // CN and its DNS/URI/email SANs.
  std::string tls_client_cn;
  std::vector<std::string> tls_client_sans;

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

// The one helper for every JSON error body: {"error":"<message>","code":"<code>"}. The code is
// a stable machine-readable name (ErrorCodeFor(status) unless given: "bad_request",
// "unauthorized", "forbidden", "not_found", ...). Messages say what the client did wrong and
// never carry internals (store errors, exception texts, paths): log those instead.
Response JsonError(unsigned status, std::string_view message);
Response JsonError(unsigned status, std::string_view code, std::string_view message);
std::string_view ErrorCodeFor(unsigned status);

using Handler = std::function<Response(const Request&)>;

// How the server runs a route.
struct RouteOptions {
  size_t max_body_bytes = 0;  // 0: ServerOptions::max_body_bytes
  enum class Run : uint8_t {
    kQuery,   // on the query pool: a slow query never delays the io threads or ingest
    kInline,  // on the io thread (cheap, must always answer: /healthz, /readyz, /metrics)
    kIngest,  // on the ingest pool (the webhook: waits for its journal write)
  };
  Run run = Run::kQuery;
  // The role a credential needs for the route (when the server has credentials configured).
  // kOpen: no credential (/healthz, /readyz); kIngest: any ingest:<cluster> role, the handler
  // reads the cluster from Request::principal's credential (see Authenticator).
  enum class Role : uint8_t { kOpen, kRead, kTriage, kAdmin, kIngest };
  Role role = Role::kRead;
};

// "open", "read", "triage", "admin", "ingest" (as api/openapi.yaml's x-vigil-role says).
std::string_view RoleName(RouteOptions::Role role);

// Maps method + path pattern to handlers. A pattern is a '/'-separated path; a segment written
// "{name}" matches any one non-empty segment and is stored in Request::path_params. Not
// thread-safe to Add() while Dispatch() runs; build it first, then share it read-only.
class Router {
 public:
  // Registers `handler` for `method` on `pattern`. A later Add() for the same method and pattern
  // replaces the earlier one.
  void Add(std::string_view method, std::string_view pattern, Handler handler,
           RouteOptions options = {});

  struct Entry {
    Handler handler;
    RouteOptions options;
  };
  // The route for req (its path_params filled), or null with *error set: 404 when no pattern
  // matches the path; 405 with an `Allow` header when a pattern matches but not this method.
  const Entry* Resolve(Request& req, Response* error) const;
  // The options of the route a request for method + path would take (defaults when none).
  RouteOptions OptionsFor(std::string_view method, std::string_view path) const;

  // The pattern of the route a request for method + path would take ("/v1/findings/{id}"), or
  // "" when none (404 or 405). Valid as long as the router.
  std::string_view PatternFor(std::string_view method, std::string_view path) const;

  // Every (method, pattern) registered, in registration order of the patterns and method order
  // within one (for the OpenAPI check and the per-route metrics).
  std::vector<std::pair<std::string, std::string>> Routes() const;

  // Resolves and runs the handler inline. Exceptions from handlers propagate.
  Response Dispatch(Request& req) const;

 private:
  struct Route {
    std::vector<std::string> segments;
    std::string pattern;
    std::map<std::string, Entry, std::less<>> by_method;
  };
  static bool Match(const Route& route, const std::vector<std::string_view>& path, Request* req);

  std::vector<Route> routes_;
};

}  // namespace vigil::api

// Router: pattern matching of request paths, 404/405 answers, and the shared JSON error helper.
#include "vigil/api/router.h"

#include <algorithm>
#include <set>

#include "vigil/core/json_writer.h"

namespace vigil::api {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::string_view Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

std::string_view Request::PathParam(std::string_view name) const {
  auto it = path_params.find(name);
  return it == path_params.end() ? std::string_view() : std::string_view(it->second);
}

Response Response::Json(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Text(unsigned status, std::string content_type, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

std::string_view ErrorCodeFor(unsigned status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 409:
      return "conflict";
    case 411:
      return "length_required";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 422:
      return "unprocessable";
    case 429:
      return "too_many_requests";
    case 431:
      return "header_too_large";
    case 500:
      return "internal";
    case 501:
      return "not_implemented";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}

Response JsonError(unsigned status, std::string_view code, std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(message, &body);
  body.append(",\"code\":");
  AppendJsonString(code, &body);
  body.push_back('}');
  return Response::Json(status, std::move(body));
}

Response JsonError(unsigned status, std::string_view message) {
  return JsonError(status, ErrorCodeFor(status), message);
}

void Router::Add(std::string_view method, std::string_view pattern, Handler handler,
                 RouteOptions options) {
  for (Route& route : routes_) {
    if (route.pattern == pattern) {
      route.by_method[std::string(method)] = {std::move(handler), options};
      return;
    }
  }
  Route route;
  route.pattern = std::string(pattern);
  for (std::string_view s : SplitPath(pattern)) route.segments.emplace_back(s);
  route.by_method[std::string(method)] = {std::move(handler), options};
  routes_.push_back(std::move(route));
}

bool Router::Match(const Route& route, const std::vector<std::string_view>& path, Request* req) {
  if (route.segments.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& seg = route.segments[i];
    if (IsParam(seg)) {
      if (path[i].empty()) return false;
    } else if (seg != path[i]) {
      return false;
    }
  }
  if (req != nullptr) {
    req->path_params.clear();
    for (size_t i = 0; i < path.size(); ++i) {
      const std::string& seg = route.segments[i];
      if (IsParam(seg)) req->path_params[seg.substr(1, seg.size() - 2)] = std::string(path[i]);
    }
  }
  return true;
}

const Router::Entry* Router::Resolve(Request& req, Response* error) const {
  const std::vector<std::string_view> path = SplitPath(req.path);
  // Among matching routes, a literal segment wins over a {param}: "/a/stats" beats "/a/{id}".
  const Route* best = nullptr;
  size_t best_params = 0;
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!Match(route, path, nullptr)) continue;
    for (const auto& [method, entry] : route.by_method) allowed.insert(method);
    if (route.by_method.find(req.method) == route.by_method.end()) continue;
    size_t params = std::count_if(route.segments.begin(), route.segments.end(),
                                  [](const std::string& s) { return IsParam(s); });
    if (best == nullptr || params < best_params) {
      best = &route;
      best_params = params;
    }
  }
  if (best != nullptr) {
    Match(*best, path, &req);
    return &best->by_method.find(req.method)->second;
  }
  if (allowed.empty()) {
    *error = JsonError(404, "no such endpoint: " + req.path);
    return nullptr;
  }
  std::string allow;
  for (const std::string& m : allowed) {
    if (!allow.empty()) allow.append(", ");
    allow.append(m);
  }
  *error = JsonError(405, "method " + req.method + " not allowed; allowed: " + allow);
  error->headers.emplace_back("Allow", std::move(allow));
  return nullptr;
}

RouteOptions Router::OptionsFor(std::string_view method, std::string_view path) const {
  Request probe;
  probe.method = std::string(method);
  probe.path = std::string(path);
  Response ignored;
  const Entry* e = Resolve(probe, &ignored);
  return e != nullptr ? e->options : RouteOptions{};
}

std::string_view RoleName(RouteOptions::Role role) {
  switch (role) {
    case RouteOptions::Role::kOpen:
      return "open";
    case RouteOptions::Role::kRead:
      return "read";
    case RouteOptions::Role::kTriage:
      return "triage";
    case RouteOptions::Role::kAdmin:
      return "admin";
    case RouteOptions::Role::kIngest:
      return "ingest";
  }
  return "read";
}

std::string_view Router::PatternFor(std::string_view method, std::string_view path) const {
  const std::vector<std::string_view> segments = SplitPath(path);
  const Route* best = nullptr;
  size_t best_params = 0;
  for (const Route& route : routes_) {
    if (route.by_method.find(method) == route.by_method.end()) continue;
    if (!Match(route, segments, nullptr)) continue;
    const size_t params = std::count_if(route.segments.begin(), route.segments.end(),
                                        [](const std::string& s) { return IsParam(s); });
    if (best == nullptr || params < best_params) {
      best = &route;
      best_params = params;
    }
  }
  return best != nullptr ? std::string_view(best->pattern) : std::string_view();
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& route : routes_) {
    for (const auto& [method, entry] : route.by_method) out.emplace_back(method, route.pattern);
  }
  return out;
}

Response Router::Dispatch(Request& req) const {
  Response error;
  const Entry* e = Resolve(req, &error);
  if (e == nullptr) return error;
  return e->handler(req);
}

}  // namespace vigil::api

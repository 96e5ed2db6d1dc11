// POST/GET /v1/suppressions and DELETE /v1/suppressions/{id}, served from a SuppressionStore.
#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <set>

#include "handler_util.h"
#include "vigil/api/handlers.h"
#include "vigil/core/time_util.h"

namespace vigil::api {
namespace {

constexpr size_t kMaxSuppressionBody = 16 * 1024;
constexpr int64_t kMaxUnixSeconds = std::numeric_limits<int64_t>::max() / 1000000;

using internal::IsHexId;

std::optional<int64_t> ParseSeconds(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (v > kMaxUnixSeconds || v < -kMaxUnixSeconds) return std::nullopt;
  return v;
}

// "expires": an RFC 3339 string, or integer unix seconds (a JSON integer or a string of digits).
Result<int64_t> ParseExpires(simdjson::dom::element value) {
  int64_t secs = 0;
  if (value.get_int64().get(secs) == simdjson::SUCCESS) {
    if (secs > kMaxUnixSeconds || secs < -kMaxUnixSeconds) {
      return Status::InvalidArgument("invalid 'expires': unix seconds out of range");
    }
    return secs * 1000000;
  }
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    if (auto s = ParseSeconds(text)) return *s * 1000000;
    if (auto us = ParseTimestampMicros(text)) return *us;
  }
  return Status::InvalidArgument(
      "invalid 'expires': expected an RFC 3339 timestamp or integer unix seconds");
}

// The body of POST /v1/suppressions. Field limits and the expiry's range are checked by the
// store (CheckSuppression), against its clock.
Result<Suppression> ParseSuppressionBody(std::string_view body) {
  simdjson::dom::parser parser;
  auto parsed = internal::ParseObjectBody(parser, body);
  if (!parsed.ok()) return parsed.status();
  simdjson::dom::object obj = *parsed;
  Suppression s;
  bool has_expires = false;
  std::set<std::string_view> seen;
  for (auto field : obj) {
    const std::string_view key = field.key;
    std::string shown(key.substr(0, 64));
    if (key.size() > 64) shown += "...";
    if (!seen.insert(key).second) {
      return Status::InvalidArgument("'" + shown + "' given more than once");
    }
    if (key == "expires") {
      ASSIGN_OR_RETURN(s.expires_us, ParseExpires(field.value));
      has_expires = true;
      continue;
    }
    std::string* out = nullptr;
    if (key == "rule") {
      out = &s.rule_id;
    } else if (key == "user") {
      out = &s.user;
    } else if (key == "namespace") {
      out = &s.namespace_;
    } else if (key == "cluster") {
      out = &s.cluster;
    } else if (key == "reason") {
      out = &s.reason;
    } else {
      return Status::InvalidArgument("unknown field '" + shown +
                                     "'; expected rule, user, namespace, cluster, expires or "
                                     "reason");
    }
    std::string_view text;
    if (field.value.get_string().get(text) != simdjson::SUCCESS) {
      return Status::InvalidArgument("'" + shown + "' must be a string");
    }
    out->assign(text);
  }
  if (s.rule_id.empty()) return Status::InvalidArgument("'rule' is required");
  if (!has_expires) return Status::InvalidArgument("'expires' is required");
  return s;
}

Response CreateSuppression(SuppressionStore* store, const Request& req) {
  Result<Suppression> parsed = ParseSuppressionBody(req.body);
  if (!parsed.ok()) return JsonError(400, parsed.status().message());
  if (store == nullptr) return JsonError(503, "suppression store not available");
  parsed->created_by = internal::Actor(req);
  Result<Suppression> stored = store->AddSuppression(std::move(parsed).value());
  if (!stored.ok()) {
    switch (stored.status().code()) {
      case StatusCode::kInvalidArgument:
        return JsonError(400, stored.status().message());
      case StatusCode::kResourceExhausted:
        return JsonError(409, stored.status().message());
      default:
        return internal::InternalError("add suppression", stored.status());
    }
  }
  return Response::Json(201, SuppressionToJson(*stored));
}

Response ListSuppressions(const SuppressionStore* store, const Request& req) {
  bool all = false;
  std::set<std::string_view> seen;
  for (const auto& [name, value] : req.query) {
    if (!seen.insert(name).second) {
      return JsonError(400, "invalid '" + name.substr(0, 64) + "': given more than once");
    }
    if (name != "all") {
      return JsonError(400, "unknown parameter '" + name.substr(0, 64) + "'; expected all");
    }
    if (value == "1" || value == "true") {
      all = true;
    } else if (!value.empty() && value != "0" && value != "false") {
      return JsonError(400, "invalid 'all': expected 1, true, 0 or false");
    }
  }
  if (store == nullptr) return JsonError(503, "suppression store not available");
  Result<std::vector<Suppression>> list = store->ListSuppressions(all);
  if (!list.ok()) return internal::InternalError("list suppressions", list.status());
  std::string body = "{\"suppressions\":[";
  for (size_t i = 0; i < list->size(); ++i) {
    if (i > 0) body.push_back(',');
    AppendSuppressionJson((*list)[i], &body);
  }
  body.append("]}");
  return Response::Json(200, std::move(body));
}

Response DeleteSuppression(SuppressionStore* store, const Request& req) {
  std::string_view id = req.PathParam("id");
  if (!IsHexId(id)) return JsonError(400, "invalid 'id': expected 32 lowercase hex characters");
  if (store == nullptr) return JsonError(503, "suppression store not available");
  Status s = store->DeleteSuppression(std::string(id));
  if (s.code() == StatusCode::kNotFound) return JsonError(404, "suppression not found");
  if (!s.ok()) return internal::InternalError("delete suppression", s);
  return Response::Json(200, "{\"deleted\":\"" + std::string(id) + "\"}");
}

}  // namespace

void RegisterSuppressionHandlers(SuppressionStore* store, Router* router) {
  RouteOptions triage;
  triage.role = RouteOptions::Role::kTriage;
  triage.max_body_bytes = kMaxSuppressionBody;
  router->Add(
      "POST", "/v1/suppressions",
      [store](const Request& req) { return CreateSuppression(store, req); }, triage);
  router->Add("GET", "/v1/suppressions",
              [store](const Request& req) { return ListSuppressions(store, req); });
  router->Add(
      "DELETE", "/v1/suppressions/{id}",
      [store](const Request& req) { return DeleteSuppression(store, req); }, triage);
}

}  // namespace vigil::api

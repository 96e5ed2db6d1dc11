// GET /v1/findings (filtered, paginated), GET /v1/findings/{id} and PATCH /v1/findings/{id}
// (triage), served from a FindingStore.
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <set>

#include "handler_util.h"
#include "vigil/api/handlers.h"
#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"

namespace vigil::api {
namespace {

constexpr size_t kMaxStringParam = 1024;
constexpr size_t kMaxCursor = 4096;
constexpr int64_t kMaxUnixSeconds = std::numeric_limits<int64_t>::max() / 1000000;
// A PATCH body: a 4 KiB note may take six times its size once JSON-escaped, plus the rest.
constexpr size_t kMaxPatchBody = 32 * 1024;

using internal::IsHexId;

Status Invalid(std::string_view param, std::string_view what) {
  return Status::InvalidArgument("invalid '" + std::string(param) + "': " + std::string(what));
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// RFC 3339, or integer seconds since the Unix epoch.
Result<int64_t> ParseTimeParam(std::string_view param, std::string_view value) {
  if (auto secs = ParseInt(value)) {
    if (*secs > kMaxUnixSeconds || *secs < -kMaxUnixSeconds) {
      return Invalid(param, "unix seconds out of range");
    }
    return *secs * 1000000;
  }
  if (auto us = ParseTimestampMicros(value)) return *us;
  return Invalid(param, "expected RFC 3339 timestamp or integer unix seconds");
}

// InvalidArgument is the store's answer to a bad cursor or limit (its message is meant for the
// client); anything else but NotFound is a failure the client cannot act on.
Response FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return JsonError(400, s.message());
    case StatusCode::kNotFound:
      return JsonError(404, "finding not found");
    default:
      return internal::InternalError("finding store", s);
  }
}

Response ListFindings(const FindingStore* store, const Request& req) {
  Result<FindingFilter> filter = ParseFindingFilter(req.query);
  if (!filter.ok()) return JsonError(400, filter.status().message());
  if (store == nullptr) return JsonError(503, "finding store not available");
  Result<FindingPage> page = store->Query(*filter);
  if (!page.ok()) return FromStatus(page.status());
  std::string body = "{\"findings\":[";
  for (size_t i = 0; i < page->findings.size(); ++i) {
    if (i > 0) body.push_back(',');
    AppendFindingJson(page->findings[i], &body);
  }
  body.append("],\"next_cursor\":");
  if (page->next_cursor.empty()) {
    body.append("null");
  } else {
    AppendJsonString(page->next_cursor, &body);
  }
  body.push_back('}');
  return Response::Json(200, std::move(body));
}

Response GetFinding(const FindingStore* store, const Request& req) {
  std::string_view id = req.PathParam("id");
  if (!IsHexId(id)) return JsonError(400, "invalid 'id': expected 32 lowercase hex characters");
  if (store == nullptr) return JsonError(503, "finding store not available");
  Result<Finding> finding = store->Get(std::string(id));
  if (!finding.ok()) return FromStatus(finding.status());
  return Response::Json(200, FindingToJson(*finding));
}

// The body of PATCH /v1/findings/{id}: an object with "status" and/or "note", both strings.
Result<TriageUpdate> ParseTriageBody(std::string_view body) {
  simdjson::dom::parser parser;
  auto parsed = internal::ParseObjectBody(parser, body);
  if (!parsed.ok()) return parsed.status();
  simdjson::dom::object obj = *parsed;
  TriageUpdate update;
  for (auto field : obj) {
    const std::string_view key = field.key;
    std::string_view text;
    const bool is_string = field.value.get_string().get(text) == simdjson::SUCCESS;
    if (key == "status") {
      if (update.status) return Status::InvalidArgument("'status' given more than once");
      if (!is_string) return Status::InvalidArgument("'status' must be a string");
      update.status = ParseFindingStatus(text);
      if (!update.status) {
        return Status::InvalidArgument(
            "invalid 'status': expected open, acknowledged, resolved or suppressed");
      }
    } else if (key == "note") {
      if (update.note) return Status::InvalidArgument("'note' given more than once");
      if (!is_string) return Status::InvalidArgument("'note' must be a string");
      if (text.size() > Finding::kMaxNoteBytes) {
        return Status::InvalidArgument("'note' is longer than " +
                                       std::to_string(Finding::kMaxNoteBytes) + " bytes");
      }
      update.note = std::string(text);
    } else {
      std::string shown(key.substr(0, 64));
      if (key.size() > 64) shown += "...";
      return Status::InvalidArgument("unknown field '" + shown + "'; expected status or note");
    }
  }
  if (!update.status && !update.note) {
    return Status::InvalidArgument("nothing to change: give 'status' and/or 'note'");
  }
  return update;
}

Response PatchFinding(FindingStore* store, const Request& req) {
  std::string_view id = req.PathParam("id");
  if (!IsHexId(id)) return JsonError(400, "invalid 'id': expected 32 lowercase hex characters");
  Result<TriageUpdate> update = ParseTriageBody(req.body);
  if (!update.ok()) return JsonError(400, update.status().message());
  if (store == nullptr) return JsonError(503, "finding store not available");
  update->by = internal::Actor(req);
  Result<Finding> finding = store->UpdateTriage(std::string(id), *update);
  if (!finding.ok()) {
    if (finding.status().code() == StatusCode::kNotFound) {
      return JsonError(404, "finding not found");
    }
    return internal::InternalError("triage of finding " + std::string(id), finding.status());
  }
  return Response::Json(200, FindingToJson(*finding));
}

}  // namespace

Result<FindingFilter> ParseFindingFilter(
    const std::vector<std::pair<std::string, std::string>>& query) {
  FindingFilter f;
  std::set<std::string_view> seen;
  for (const auto& param : query) {
    // Named, not a structured binding: lambdas below capture them (clang before 16 cannot).
    const std::string& name = param.first;
    const std::string& value = param.second;
    if (!seen.insert(name).second) return Invalid(name, "given more than once");
    if (value.empty()) continue;
    auto text = [&](std::optional<std::string>* out) -> Status {
      if (value.size() > kMaxStringParam) return Invalid(name, "too long");
      *out = value;
      return Status::Ok();
    };
    if (name == "cluster") {
      RETURN_IF_ERROR(text(&f.cluster));
    } else if (name == "rule") {
      RETURN_IF_ERROR(text(&f.rule_id));
    } else if (name == "user") {
      RETURN_IF_ERROR(text(&f.user));
    } else if (name == "namespace") {
      RETURN_IF_ERROR(text(&f.namespace_));
    } else if (name == "status") {
      f.status = ParseFindingStatus(value);
      if (!f.status) {
        return Invalid(name, "expected one of open, acknowledged, resolved, suppressed");
      }
    } else if (name == "q") {
      if (value.size() > FindingFilter::kMaxTextBytes) {
        return Invalid(name,
                       "longer than " + std::to_string(FindingFilter::kMaxTextBytes) + " bytes");
      }
      f.text = value;
    } else if (name == "severity") {
      f.min_severity = ParseSeverity(value);
      if (!f.min_severity) {
        return Invalid(name, "expected one of info, low, medium, high, critical");
      }
    } else if (name == "since") {
      ASSIGN_OR_RETURN(f.since_us, ParseTimeParam(name, value));
    } else if (name == "until") {
      ASSIGN_OR_RETURN(f.until_us, ParseTimeParam(name, value));
    } else if (name == "limit") {
      std::optional<int64_t> limit = ParseInt(value);
      if (!limit || *limit < 1 || *limit > 1000) {
        return Invalid(name, "expected an integer from 1 to 1000");
      }
      f.limit = static_cast<size_t>(*limit);
    } else if (name == "cursor") {
      if (value.size() > kMaxCursor) return Invalid(name, "too long");
      f.cursor = value;
    } else {
      std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
      return Status::InvalidArgument("unknown parameter '" + shown +
                                     "'; expected cluster, rule, severity, user, namespace, "
                                     "status, q, since, until, limit or cursor");
    }
  }
  if (f.since_us && f.until_us && *f.since_us >= *f.until_us) {
    return Invalid("until", "must be later than 'since'");
  }
  return f;
}

void RegisterFindingHandlers(const FindingStore* store, Router* router) {
  router->Add("GET", "/v1/findings",
              [store](const Request& req) { return ListFindings(store, req); });
  router->Add("GET", "/v1/findings/{id}",
              [store](const Request& req) { return GetFinding(store, req); });
}

void RegisterFindingTriageHandlers(FindingStore* store, Router* router) {
  RouteOptions triage;
  triage.role = RouteOptions::Role::kTriage;
  triage.max_body_bytes = kMaxPatchBody;
  router->Add(
      "PATCH", "/v1/findings/{id}",
      [store](const Request& req) { return PatchFinding(store, req); }, triage);
}

}  // namespace vigil::api

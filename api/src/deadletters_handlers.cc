// GET /v1/deadletters (filtered, paginated), served from a DeadLetterStore.
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdint>
#include <set>

#include "vigil/api/handlers.h"
#include "vigil/core/json_writer.h"

namespace vigil::api {
namespace {

constexpr size_t kMaxStringParam = 4096;  // origins are file paths
constexpr size_t kMaxCursor = 4096;

Status Invalid(std::string_view param, std::string_view what) {
  return Status::InvalidArgument("invalid '" + std::string(param) + "': " + std::string(what));
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

Response ListDeadLetters(const DeadLetterStore* store, const Request& req) {
  Result<DeadLetterFilter> filter = ParseDeadLetterFilter(req.query);
  if (!filter.ok()) return JsonError(400, filter.status().message());
  if (store == nullptr) return JsonError(503, "dead-letter store not available");
  Result<DeadLetterPage> page = store->ListDeadLetters(*filter);
  if (!page.ok()) {
    if (page.status().code() == StatusCode::kInvalidArgument) {
      return JsonError(400, page.status().message());
    }
    spdlog::error("api: dead-letter store: {}", page.status().ToString());
    return JsonError(500, "dead-letter store: " + page.status().message());
  }
  std::string body = "{\"deadletters\":[";
  for (size_t i = 0; i < page->dead_letters.size(); ++i) {
    if (i > 0) body.push_back(',');
    AppendDeadLetterJson(page->dead_letters[i], &body);
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

}  // namespace

Result<DeadLetterFilter> ParseDeadLetterFilter(
    const std::vector<std::pair<std::string, std::string>>& query) {
  DeadLetterFilter f;
  std::set<std::string_view> seen;
  for (const auto& [name, value] : query) {
    if (!seen.insert(name).second) return Invalid(name, "given more than once");
    if (value.empty()) continue;
    if (name == "source" || name == "origin") {
      if (value.size() > kMaxStringParam) return Invalid(name, "too long");
      (name == "source" ? f.source : f.origin) = value;
    } else if (name == "limit") {
      std::optional<int64_t> limit = ParseInt(value);
      if (!limit || *limit < 1 || *limit > static_cast<int64_t>(kMaxDeadLetterLimit)) {
        return Invalid(name,
                       "expected an integer from 1 to " + std::to_string(kMaxDeadLetterLimit));
      }
      f.limit = static_cast<size_t>(*limit);
    } else if (name == "cursor") {
      if (value.size() > kMaxCursor) return Invalid(name, "too long");
      f.cursor = value;
    } else {
      std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
      return Status::InvalidArgument("unknown parameter '" + shown +
                                     "'; expected source, origin, limit or cursor");
    }
  }
  return f;
}

void RegisterDeadLetterHandlers(const DeadLetterStore* store, Router* router) {
  router->Add("GET", "/v1/deadletters",
              [store](const Request& req) { return ListDeadLetters(store, req); });
}

}  // namespace vigil::api

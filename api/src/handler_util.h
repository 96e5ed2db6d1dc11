// Small helpers shared by the /v1 handlers. Private to the api room.
#pragma once

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

#include "vigil/api/router.h"
#include "vigil/core/status.h"

namespace vigil::api::internal {

// 32 lowercase hex characters: finding and suppression ids.
inline bool IsHexId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Who a change is recorded as: the authenticated principal, "anonymous" without credentials.
inline std::string Actor(const Request& req) {
  return req.principal.empty() ? std::string("anonymous") : req.principal;
}

// A store failure the client cannot act on: logged with its details, answered without them.
inline Response InternalError(std::string_view what, const Status& s) {
  spdlog::error("api: {}: {}", what, s.ToString());
  return JsonError(500, "internal error");
}

// A request body that must be one JSON object (PATCH findings, POST suppressions): the object,
// parsed into `parser` (which must outlive it), or InvalidArgument saying what is wrong.
inline Result<simdjson::dom::object> ParseObjectBody(simdjson::dom::parser& parser,
                                                     std::string_view body) {
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return Status::InvalidArgument("body is not valid JSON");
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    return Status::InvalidArgument("body must be a JSON object");
  }
  return obj;
}

}  // namespace vigil::api::internal

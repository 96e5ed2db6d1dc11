// Times each request for vigil_http_request_duration_seconds (HttpCounters::latency), in one call
// from ServerState::DispatchAsync. Private to the api room.
#pragma once

#include <functional>

#include "vigil/api/http_counters.h"
#include "vigil/api/router.h"

namespace vigil::api {

// Returns `done` wrapped so that, when it is called with the response, the time since this call
// is observed under the route `req` resolves to (its pattern, not its path) and its method. The
// first call takes the router's routes (the router is final once the server serves).
std::function<void(Response)> TimeResponse(const Router& router, const Request& req,
                                           HttpCounters* counters,
                                           std::function<void(Response)> done);

}  // namespace vigil::api

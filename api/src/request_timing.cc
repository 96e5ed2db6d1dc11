// TimeResponse: the latency observation around a dispatched request.
#include "request_timing.h"

#include <chrono>
#include <string_view>
#include <utility>

namespace vigil::api {

std::function<void(Response)> TimeResponse(const Router& router, const Request& req,
                                           HttpCounters* counters,
                                           std::function<void(Response)> done) {
  counters->latency.Init(router);                                            // the first time only
  const std::string_view pattern = router.PatternFor(req.method, req.path);  // lives in router
  const std::string_view method = pattern.empty() ? std::string_view() : req.method;
  return [counters, pattern, method = std::string(method), done = std::move(done),
          start = std::chrono::steady_clock::now()](Response r) {
    counters->latency.Observe(method, pattern, std::chrono::steady_clock::now() - start);
    done(std::move(r));
  };
}

}  // namespace vigil::api

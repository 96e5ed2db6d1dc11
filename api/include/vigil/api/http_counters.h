// Counters kept by the HTTP server itself, rendered on /metrics next to the pipeline counters.
// Lock-free; relaxed ordering is enough for monitoring.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/api/router.h"
#include "vigil/core/histogram.h"

namespace vigil::api {

// Request durations by route pattern (never the raw path: bounded label values) and method, for
// vigil_http_request_duration_seconds. The routes are taken once (Init) when the router is final;
// afterwards Observe takes no lock (a map lookup in a read-only index, two atomic adds).
class RequestLatency {
 public:
  // Makes a histogram per route of `router` (Router::Routes). Only the first call counts;
  // thread-safe, and cheap after the first.
  void Init(const Router& router);
  // `pattern` "" (no route: 404/405) or unknown goes to {route="unmatched",method="other"} so
  // that neither a client's path nor its method can add label values. Ignored before Init.
  void Observe(std::string_view method, std::string_view pattern, std::chrono::nanoseconds d);
  // HELP, TYPE and every histogram (none before Init).
  void Render(std::string* out) const;

 private:
  struct Slot {
    std::string method, pattern;
    LatencyHistogram histogram;
  };
  std::once_flag once_;
  std::atomic<bool> ready_{false};
  std::deque<Slot> slots_;  // written once in Init, before ready_
  std::map<std::pair<std::string, std::string>, Slot*, std::less<>> index_;
  LatencyHistogram unmatched_;
};

struct HttpCounters {
  std::array<std::atomic<uint64_t>, 5> responses_by_class{};  // [0] = 1xx ... [4] = 5xx
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};    // over ServerOptions::max_connections
  std::atomic<uint64_t> tls_handshake_failures{0};  // bad or untrusted client certificates too
  std::atomic<uint64_t> plain_on_tls{0};            // plain HTTP sent to the TLS port (400)
  std::atomic<uint64_t> timeouts{0};  // header, body or idle timeouts that closed a connection
  RequestLatency latency;             // observed in ServerState::DispatchAsync (request_timing.h)

  void CountResponse(unsigned status);
  // Prometheus text format (0.0.4): vigil_http_responses_total{code="2xx"} ..., the connection,
  // TLS and timeout counters and vigil_http_request_duration_seconds.
  std::string Render() const;
};

}  // namespace vigil::api

// Counters kept by the HTTP server itself, rendered on /metrics next to the pipeline counters.
// Lock-free; relaxed ordering is enough for monitoring.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace vigil::api {

struct HttpCounters {
  std::array<std::atomic<uint64_t>, 5> responses_by_class{};  // [0] = 1xx ... [4] = 5xx
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};    // over ServerOptions::max_connections
  std::atomic<uint64_t> tls_handshake_failures{0};  // bad or untrusted client certificates too
  std::atomic<uint64_t> plain_on_tls{0};            // plain HTTP sent to the TLS port (400)
  std::atomic<uint64_t> timeouts{0};  // header, body or idle timeouts that closed a connection

  void CountResponse(unsigned status);
  // Prometheus text format (0.0.4): vigil_http_responses_total{code="2xx"} ..., the connection,
  // TLS and timeout counters.
  std::string Render() const;
};

}  // namespace vigil::api

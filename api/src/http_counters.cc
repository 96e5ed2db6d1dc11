// Prometheus rendering of the HTTP server's own counters.
#include "vigil/api/http_counters.h"

namespace vigil::api {

void HttpCounters::CountResponse(unsigned status) {
  if (status < 100 || status >= 600) return;
  responses_by_class[status / 100 - 1].fetch_add(1, std::memory_order_relaxed);
}

std::string HttpCounters::Render() const {
  std::string out;
  out.append("# HELP vigil_http_responses_total HTTP responses sent, by status class.\n");
  out.append("# TYPE vigil_http_responses_total counter\n");
  for (size_t i = 0; i < responses_by_class.size(); ++i) {
    out.append("vigil_http_responses_total{code=\"")
        .append(std::to_string(i + 1))
        .append("xx\"} ")
        .append(std::to_string(responses_by_class[i].load(std::memory_order_relaxed)))
        .append("\n");
  }
  out.append("# HELP vigil_http_connections_accepted_total HTTP connections accepted.\n");
  out.append("# TYPE vigil_http_connections_accepted_total counter\n");
  out.append("vigil_http_connections_accepted_total ")
      .append(std::to_string(connections_accepted.load(std::memory_order_relaxed)))
      .append("\n");
  out.append(
      "# HELP vigil_http_connections_rejected_total HTTP connections refused over the cap.\n");
  out.append("# TYPE vigil_http_connections_rejected_total counter\n");
  out.append("vigil_http_connections_rejected_total ")
      .append(std::to_string(connections_rejected.load(std::memory_order_relaxed)))
      .append("\n");
  auto counter = [&out](const char* name, const char* help, const std::atomic<uint64_t>& v) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" counter\n");
    out.append(name).append(" ").append(std::to_string(v.load(std::memory_order_relaxed)));
    out.append("\n");
  };
  counter("vigil_http_tls_handshake_failures_total",
          "TLS handshakes that failed (bad, expired or untrusted client certificates too).",
          tls_handshake_failures);
  counter("vigil_http_plain_on_tls_total", "Plain HTTP requests sent to the TLS port.",
          plain_on_tls);
  counter("vigil_http_timeouts_total", "Connections closed by the header, body or idle timeout.",
          timeouts);
  latency.Render(&out);
  return out;
}

void RequestLatency::Init(const Router& router) {
  if (ready_.load(std::memory_order_acquire)) return;
  std::call_once(once_, [&] {
    for (const auto& [method, pattern] : router.Routes()) {
      Slot& slot = slots_.emplace_back();
      slot.method = method;
      slot.pattern = pattern;
      index_.emplace(std::make_pair(method, pattern), &slot);
    }
    ready_.store(true, std::memory_order_release);
  });
}

void RequestLatency::Observe(std::string_view method, std::string_view pattern,
                             std::chrono::nanoseconds d) {
  if (!ready_.load(std::memory_order_acquire)) return;
  if (!pattern.empty()) {
    // A heterogeneous lookup would need a pair of views; routes are few, so build the key.
    auto it = index_.find(std::make_pair(std::string(method), std::string(pattern)));
    if (it != index_.end()) {
      it->second->histogram.Observe(d);
      return;
    }
  }
  unmatched_.Observe(d);
}

void RequestLatency::Render(std::string* out) const {
  if (!ready_.load(std::memory_order_acquire)) return;
  constexpr std::string_view kName = "vigil_http_request_duration_seconds";
  AppendMetricHeader(kName, "histogram",
                     "Time from a parsed request to its response, by route pattern and method.",
                     out);
  for (const Slot& slot : slots_) {
    slot.histogram.Render(kName,
                          "route=\"" + EscapeLabelValue(slot.pattern) + "\",method=\"" +
                              EscapeLabelValue(slot.method) + "\"",
                          out);
  }
  unmatched_.Render(kName, "route=\"unmatched\",method=\"other\"", out);
}

}  // namespace vigil::api

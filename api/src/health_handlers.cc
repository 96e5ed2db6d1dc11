// GET /healthz, /readyz and /metrics: liveness, readiness and Prometheus counters.
#include "vigil/api/handlers.h"

namespace vigil::api {

void RegisterHealthHandlers(const std::atomic<bool>* ready, const PipelineMetrics* metrics,
                            const HttpCounters* http, Router* router) {
  router->Add("GET", "/healthz",
              [](const Request&) { return Response::Json(200, R"({"status":"ok"})"); });
  router->Add("GET", "/readyz", [ready](const Request&) {
    if (ready != nullptr && ready->load(std::memory_order_acquire)) {
      return Response::Json(200, R"({"status":"ready"})");
    }
    return Response::Json(503, R"({"status":"not ready"})");
  });
  router->Add("GET", "/metrics", [metrics, http](const Request&) {
    std::string body;
    if (metrics != nullptr) body = RenderPrometheus(*metrics);
    if (http != nullptr) body.append(http->Render());
    return Response::Text(200, "text/plain; version=0.0.4; charset=utf-8", std::move(body));
  });
}

}  // namespace vigil::api

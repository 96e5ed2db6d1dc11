// GET /healthz, /readyz and /metrics: liveness, readiness and Prometheus counters.
#include "vigil/api/handlers.h"
#include "vigil/core/json_writer.h"

namespace vigil::api {

void RegisterHealthHandlers(const std::atomic<bool>* ready, const PipelineMetrics* metrics,
                            const HttpCounters* http, Router* router, const HealthHooks* hooks) {
  RouteOptions inline_run;
  inline_run.run = RouteOptions::Run::kInline;  // answered even when every pool is busy
  inline_run.role = RouteOptions::Role::kOpen;  // probes and scrapers carry no credential
  router->Add(
      "GET", "/healthz", [](const Request&) { return Response::Json(200, R"({"status":"ok"})"); },
      inline_run);
  router->Add(
      "GET", "/readyz",
      [ready, hooks](const Request&) {
        std::string why = "starting";
        const bool up = ready != nullptr && ready->load(std::memory_order_acquire);
        if (up && (hooks == nullptr || !hooks->readiness || hooks->readiness(&why))) {
          return Response::Json(200, R"({"status":"ready"})");
        }
        std::string body = R"({"status":"not ready","reason":)";
        AppendJsonString(up ? why : "starting", &body);
        body.push_back('}');
        return Response::Json(503, std::move(body));
      },
      inline_run);
  router->Add(
      "GET", "/metrics",
      [metrics, http, hooks](const Request&) {
        std::string body;
        if (metrics != nullptr) body = RenderPrometheus(*metrics);
        if (http != nullptr) body.append(http->Render());
        if (hooks != nullptr) {
          for (const auto& render : hooks->metrics) render(&body);
        }
        return Response::Text(200, "text/plain; version=0.0.4; charset=utf-8", std::move(body));
      },
      inline_run);
}

}  // namespace vigil::api

// The endpoints of the API, registered on a Router. Handlers only read through the pointers
// they are given, which must outlive the Router.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vigil/api/http_counters.h"
#include "vigil/api/router.h"
#include "vigil/core/dead_letter.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/metrics.h"
#include "vigil/core/status.h"
#include "vigil/core/suppression.h"

namespace vigil::api {

// What a server adds to /readyz and /metrics besides its own: a readiness check (ready when it
// returns true; `why` says what it waits for) and metric renderers (Prometheus text appended).
// Filled before the server starts, read-only afterwards.
struct HealthHooks {
  std::function<bool(std::string* why)> readiness;
  std::vector<std::function<void(std::string*)>> metrics;
};

// GET /healthz, GET /readyz (200 only while *ready and, with hooks, the readiness check
// passes), GET /metrics (pipeline counters when `metrics` is not null, then the HTTP counters
// when `http` is not null, then the hooks' metrics).
void RegisterHealthHandlers(const std::atomic<bool>* ready, const PipelineMetrics* metrics,
                            const HttpCounters* http, Router* router,
                            const HealthHooks* hooks = nullptr);

// GET /v1/findings and GET /v1/findings/{id}. A null `store` answers 503.
void RegisterFindingHandlers(const FindingStore* store, Router* router);

// PATCH /v1/findings/{id} with {"status": "...", "note": "..."} (either, at least one; role
// kTriage): FindingStore::UpdateTriage, recorded as Request::principal ("anonymous" without
// credentials); 200 with the updated finding, 400 for a bad id or body, 404 for an unknown id.
// A null `store` answers 503.
void RegisterFindingTriageHandlers(FindingStore* store, Router* router);

// POST /v1/suppressions (201 with the stored suppression), GET /v1/suppressions[?all=1]
// ({"suppressions":[...]}, active ones unless all), DELETE /v1/suppressions/{id} (200, 404
// unknown). POST and DELETE need role kTriage. A null `store` answers 503.
void RegisterSuppressionHandlers(SuppressionStore* store, Router* router);

// Turns the decoded query of GET /v1/findings (cluster, rule, severity, user, namespace, status,
// q, since, until, limit, cursor) into a filter. InvalidArgument naming the
// parameter ("invalid 'since': ...") for a bad value, an unknown or a repeated parameter.
// An empty value counts as absent.
Result<FindingFilter> ParseFindingFilter(
    const std::vector<std::pair<std::string, std::string>>& query);

// GET /v1/deadletters?source=&origin=&limit=&cursor=: {"deadletters":[...],"next_cursor":...}
// (DeadLetterToJson, newest first; next_cursor null on the last page). 400 for a bad parameter
// or cursor; a null `store` answers 503.
void RegisterDeadLetterHandlers(const DeadLetterStore* store, Router* router);

// The query of GET /v1/deadletters as a filter; InvalidArgument naming the parameter for a bad
// value, an unknown or a repeated parameter. An empty value counts as absent.
Result<DeadLetterFilter> ParseDeadLetterFilter(
    const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace vigil::api

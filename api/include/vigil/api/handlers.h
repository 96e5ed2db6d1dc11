// The endpoints of the API, registered on a Router. Handlers only read through the pointers
// they are given, which must outlive the Router.
#pragma once

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "vigil/api/http_counters.h"
#include "vigil/api/router.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/metrics.h"
#include "vigil/core/status.h"

namespace vigil::api {

// GET /healthz, GET /readyz (200 only while *ready), GET /metrics (pipeline counters when
// `metrics` is not null, then the HTTP counters when `http` is not null).
void RegisterHealthHandlers(const std::atomic<bool>* ready, const PipelineMetrics* metrics,
                            const HttpCounters* http, Router* router);

// GET /v1/findings and GET /v1/findings/{id}. A null `store` answers 503.
void RegisterFindingHandlers(const FindingStore* store, Router* router);

// Turns the decoded query of GET /v1/findings into a filter. InvalidArgument naming the
// parameter ("invalid 'since': ...") for a bad value, an unknown or a repeated parameter.
// An empty value counts as absent.
Result<FindingFilter> ParseFindingFilter(
    const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace vigil::api

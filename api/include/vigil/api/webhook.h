// The kube-apiserver audit webhook: POST /v1/audit and POST /v1/audit/{cluster}. A request's
// cluster comes from its credential (the server's Authenticator: a bearer token or a client
// certificate whose credential has the role ingest:<cluster>), never from its body; the body (an
// EventList, an Event or a JSON array of events, audit.k8s.io/v1 or v1beta1, optionally gzip) is
// checked, then appended to the ingest journal, and 200 is answered only once that append is
// durable (invariant 3). Over the journal's backlog limit the answer is 429 with Retry-After, so
// the apiserver backs off and retries.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vigil/api/auth.h"
#include "vigil/api/router.h"
#include "vigil/core/histogram.h"
#include "vigil/core/ingest_journal.h"
#include "vigil/core/status.h"

namespace vigil::api {

struct WebhookOptions {
  size_t max_body_bytes = size_t{12} << 20;        // as received (413 over it)
  size_t max_inflated_bytes = size_t{64} << 20;    // after gzip (413 over it: a gzip bomb)
  uint64_t max_backlog_bytes = uint64_t{1} << 30;  // journal bytes not yet applied (429 over it)
  int retry_after_seconds = 1;
};

// Checked before serving: the limits are consistent.
Status CheckWebhookOptions(const WebhookOptions& options);

struct WebhookCounters {
  // forbidden: the path named another cluster than the credential's (401s and role refusals
  // are the server's vigil_http_auth_failures_total).
  std::atomic<uint64_t> requests{0}, accepted{0}, events{0}, forbidden{0}, rejected{0},
      throttled{0}, failed{0};
  // From the start of the check of the body to the journal's synced append: what a 2xx costs
  // beyond reading the request (vigil_webhook_append_duration_seconds).
  LatencyHistogram append_duration;
  void Render(std::string* out) const;  // vigil_webhook_* Prometheus lines
};

// Registers the two routes (ingest pool, Role::kIngest, max_body_bytes). `journal` and
// `counters` are borrowed and must outlive the router.
void RegisterWebhookHandlers(IngestJournal* journal, WebhookOptions options,
                             WebhookCounters* counters, Router* router);

}  // namespace vigil::api

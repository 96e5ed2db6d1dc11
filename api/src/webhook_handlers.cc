// POST /v1/audit[/{cluster}]: authenticate the cluster, decompress (bounded), check the shape,
// journal durably, answer (see webhook.h).
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <chrono>

#include "vigil/api/http_util.h"
#include "vigil/api/webhook.h"
#include "vigil/core/histogram.h"
#include "vigil/core/json_writer.h"

namespace vigil::api {
namespace {

// Inflates a gzip body into *out, at most `max` bytes. InvalidArgument for a corrupt stream,
// ResourceExhausted past `max`.
Status Gunzip(std::string_view in, size_t max, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Status::Internal("zlib init failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  out->clear();
  char chunk[64 << 10];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return Status::InvalidArgument("the gzip body is corrupt or truncated");
    }
    const size_t got = sizeof chunk - z.avail_out;
    if (out->size() + got > max) {
      inflateEnd(&z);
      return Status::ResourceExhausted("the body inflates to more than " + std::to_string(max) +
                                       " bytes");
    }
    out->append(chunk, got);
    if (rc == Z_OK && got == 0 && z.avail_in == 0) {
      inflateEnd(&z);
      return Status::InvalidArgument("the gzip body is truncated");
    }
  }
  inflateEnd(&z);
  return Status::Ok();
}

// One event of a batch: an object with a string auditID.
bool IsEvent(simdjson::dom::element e) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return false;
  std::string_view id;
  return o["auditID"].get_string().get(id) == simdjson::SUCCESS && !id.empty();
}

// The number of events in an EventList, an Event or an array of events; InvalidArgument that
// says what is wrong otherwise.
Result<uint64_t> CountEvents(const std::string& body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body).get(doc); err != simdjson::SUCCESS) {
    return Status::InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(err));
  }
  auto each = [](simdjson::dom::array items) -> Result<uint64_t> {
    uint64_t n = 0;
    for (simdjson::dom::element e : items) {
      if (!IsEvent(e)) {
        return Status::InvalidArgument("item " + std::to_string(n) +
                                       " is not an audit event (an object with an auditID)");
      }
      ++n;
    }
    return n;
  };
  simdjson::dom::array arr;
  if (doc.get_array().get(arr) == simdjson::SUCCESS) return each(arr);
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return Status::InvalidArgument("the body is not an audit EventList, Event or array of events");
  }
  std::string_view api_version;
  if (obj["apiVersion"].get_string().get(api_version) == simdjson::SUCCESS &&
      !api_version.starts_with("audit.k8s.io/")) {
    return Status::InvalidArgument("apiVersion '" + std::string(api_version) +
                                   "' is not audit.k8s.io/v1 or v1beta1");
  }
  std::string_view kind;
  if (obj["kind"].get_string().get(kind) != simdjson::SUCCESS) kind = {};
  if (kind == "EventList") {
    simdjson::dom::array items;
    if (obj["items"].get_array().get(items) != simdjson::SUCCESS) {
      return Status::InvalidArgument("EventList has no items array");
    }
    return each(items);
  }
  if ((kind == "Event" || kind.empty()) && IsEvent(doc)) return uint64_t{1};
  return Status::InvalidArgument("the body is not an audit EventList, Event or array of events");
}

Response Error(unsigned status, std::string_view message, std::atomic<uint64_t>* counter) {
  if (counter != nullptr) counter->fetch_add(1, std::memory_order_relaxed);
  return JsonError(status, message);
}

}  // namespace

Status CheckWebhookOptions(const WebhookOptions& options) {
  if (options.max_body_bytes == 0 || options.max_inflated_bytes < options.max_body_bytes) {
    return Status::InvalidArgument(
        "webhook.max_body_bytes must be > 0 and at most webhook.max_inflated_bytes");
  }
  return Status::Ok();
}

void WebhookCounters::Render(std::string* out) const {
  auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
    AppendMetricHeader(name, "counter", help, out);
    out->append(name).append(" ").append(std::to_string(v.load())).append("\n");
  };
  counter("vigil_webhook_requests_total", "Audit webhook requests received.", requests);
  counter("vigil_webhook_accepted_total", "Audit webhook requests journaled and answered 200.",
          accepted);
  counter("vigil_webhook_events_total", "Audit events in accepted webhook requests.", events);
  counter("vigil_webhook_forbidden_total",
          "Webhook requests refused 403: the path named another cluster than the credential's.",
          forbidden);
  counter("vigil_webhook_rejected_total",
          "Webhook requests refused for their body (400, 413, 415).", rejected);
  counter("vigil_webhook_throttled_total",
          "Webhook requests answered 429 because the journal backlog was full.", throttled);
  counter("vigil_webhook_failed_total", "Webhook requests answered 503: the journal write failed.",
          failed);
  AppendMetricHeader("vigil_webhook_append_duration_seconds", "histogram",
                     "Accepted webhook requests: time from the check of the body to its synced "
                     "journal append.",
                     out);
  append_duration.Render("vigil_webhook_append_duration_seconds", "", out);
}

void RegisterWebhookHandlers(IngestJournal* journal, WebhookOptions options,
                             WebhookCounters* counters, Router* router) {
  RouteOptions route;
  route.max_body_bytes = options.max_body_bytes;
  route.run = RouteOptions::Run::kIngest;
  route.role = RouteOptions::Role::kIngest;  // the handler maps the credential to its cluster
  auto handler = [journal, options, counters](const Request& req) -> Response {
    counters->requests.fetch_add(1, std::memory_order_relaxed);
    // 1. Who: the server checked the credential (Role::kIngest); it names the cluster.
    const std::string& cluster = req.ingest_cluster;
    if (cluster.empty()) {  // not reachable through the server; a direct Dispatch without auth
      return Error(401, "missing ingest credential", nullptr);
    }
    const std::string_view named = req.PathParam("cluster");
    if (!named.empty() && named != cluster) {
      spdlog::warn("webhook: the credential '{}' of cluster '{}' named cluster '{}'", req.principal,
                   cluster, std::string(named));
      return Error(403, "this credential may not send events for that cluster",
                   &counters->forbidden);
    }
    // 2. Room: over the backlog limit, the apiserver backs off and retries.
    if (journal->journal_stats().bytes > options.max_backlog_bytes) {
      Response r = Error(429, "ingest backlog full, retry later", &counters->throttled);
      r.headers.emplace_back("Retry-After", std::to_string(options.retry_after_seconds));
      return r;
    }
    // 3. What: decompressed (bounded) and checked before anything is kept.
    const auto started = std::chrono::steady_clock::now();
    JournalRecord record;
    const std::string_view encoding = req.Header("Content-Encoding");
    if (encoding == "gzip" || encoding == "x-gzip") {
      Status s = Gunzip(req.body, options.max_inflated_bytes, &record.body);
      if (s.code() == StatusCode::kResourceExhausted) {
        return Error(413, s.message(), &counters->rejected);
      }
      if (!s.ok()) return Error(400, s.message(), &counters->rejected);
    } else if (encoding.empty() || encoding == "identity") {
      record.body = req.body;
    } else {
      return Error(415,
                   "unsupported Content-Encoding '" + std::string(encoding) + "' (gzip or none)",
                   &counters->rejected);
    }
    auto events = CountEvents(record.body);
    if (!events.ok()) return Error(400, events.status().message(), &counters->rejected);
    if (*events > 0) {
      record.cluster = cluster;
      record.received_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
      auto seq = journal->AppendJournal(std::move(record));
      if (!seq.ok()) {
        spdlog::error("webhook: journal append failed: {}", seq.status().message());
        return Error(503, "cannot store the events now, retry later", &counters->failed);
      }
    }
    counters->append_duration.Observe(std::chrono::steady_clock::now() - started);
    counters->accepted.fetch_add(1, std::memory_order_relaxed);
    counters->events.fetch_add(*events, std::memory_order_relaxed);
    return Response::Json(200, "{\"accepted\":" + std::to_string(*events) + "}");
  };
  router->Add("POST", "/v1/audit", handler, route);
  router->Add("POST", "/v1/audit/{cluster}", handler, route);
}

}  // namespace vigil::api

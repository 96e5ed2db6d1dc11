// FalcoSink: POSTs findings as Falco JSON alerts (FindingToFalcoJson) to an HTTP endpoint that
// takes Falco's alerts, falcosidekick first of all, which fans them out to its outputs (Slack,
// Elasticsearch, Loki, PagerDuty, ...).
//
// It is an outbox destination (channel kOutboxFalco): the pipeline writes each new or updated
// finding's alert into the store's outbox in the checkpoint that made it, the OutboxRelay hands
// it to Publish(), and the alert leaves the outbox only once the endpoint answered 2xx. A crash,
// an endpoint that is down or answers 5xx (or 408, 429) means it is sent again later (at least
// once); another 4xx says this alert will never be taken: it is dropped, logged and counted.
// Posting happens on the sink's own thread, over one kept-alive connection; the sink has a
// relay of its own (OutboxRelayOptions::handles), so a slow or unreachable endpoint never holds
// up the Kafka deliveries. At most max_queue alerts wait; beyond that its relay backs off.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "vigil/app/outbox_relay.h"
#include "vigil/core/finding.h"
#include "vigil/core/outbox.h"
#include "vigil/core/status.h"

namespace vigil::app {

struct FalcoSinkOptions {
  std::string url;                          // http://host[:port]/path or https://...
  Severity min_severity = Severity::kInfo;  // findings below are not sent
  std::chrono::milliseconds timeout{5000};  // connect + send + answer, per alert
  size_t max_queue = 1000;                  // alerts waiting to be posted
  std::string ca_file;                      // https: CA bundle (default: the system's)
  bool insecure_skip_verify = false;        // https: do not check the certificate (tests)
};

// The parts of a sink URL; InvalidArgument with the reason when it is not one.
struct HttpUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // "/..." (query included)
};
Result<HttpUrl> ParseHttpUrl(std::string_view url);

class FalcoSink {
 public:
  // `delivered(seq, ok)` reports each published alert's fate (OutboxRelay::Delivered).
  using DeliveredFn = std::function<void(uint64_t seq, bool ok)>;

  static Result<std::unique_ptr<FalcoSink>> Create(FalcoSinkOptions options);
  ~FalcoSink();  // Stop()

  FalcoSink(const FalcoSink&) = delete;
  FalcoSink& operator=(const FalcoSink&) = delete;

  void Start(DeliveredFn delivered);
  void Stop();  // what was queued and not posted is reported as not delivered

  // Queues one outbox entry of channel kOutboxFalco (its value is the alert JSON).
  OutboxRelay::Publish Publish(const OutboxEntry& entry);

  const FalcoSinkOptions& options() const { return options_; }

  struct Stats {
    uint64_t posted = 0;    // answered 2xx
    uint64_t failed = 0;    // no answer, 5xx, 408 or 429: sent again
    uint64_t rejected = 0;  // another 4xx: the endpoint refuses this alert for good (dropped)
  };
  Stats stats() const { return {posted_.load(), failed_.load(), rejected_.load()}; }
  // Prometheus lines: vigil_falco_sink_{posted,failures,rejected}_total, _queued.
  void RenderMetrics(std::string* out) const;

  struct Impl;  // the connection (falco_sink.cc)

 private:
  explicit FalcoSink(FalcoSinkOptions options, HttpUrl url);
  void Loop();

  FalcoSinkOptions options_;
  HttpUrl url_;
  std::unique_ptr<Impl> impl_;
  DeliveredFn delivered_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, std::string>> queue_;
  bool stop_ = false;
  std::thread thread_;
  std::atomic<uint64_t> posted_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace vigil::app

// HttpServer: the Boost.Beast HTTP/1.1 server that serves health, metrics, findings and dead
// letters. It reads them through the abstract FindingStore and DeadLetterStore and never writes
// anything.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "vigil/api/router.h"
#include "vigil/core/dead_letter.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/metrics.h"
#include "vigil/core/status.h"

namespace vigil::api {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;                   // 0 = ephemeral, see HttpServer::port()
  int threads = 1;                        // io threads
  size_t max_body_bytes = 1 << 20;        // larger bodies get 413
  size_t max_header_bytes = 16 << 10;     // larger headers get 431
  std::chrono::seconds idle_timeout{30};  // per request read/write, and between keep-alive requests
  std::string bearer_token;               // empty = no auth; else required on /v1/*
  size_t max_connections = 1024;          // more get 503 and are closed
  int query_threads = 2;   // run the queries (findings, dead letters, rules...), off the io threads
  int ingest_threads = 8;  // run the webhook: each waits for its (grouped) journal sync
};

// Owns its io threads and connections. `store` and `metrics` are borrowed, may be null (the
// matching endpoints then answer 503 / omit the pipeline counters), and must outlive the
// server. Start/Stop/Wait/SetReady are thread-safe.
class HttpServer {
 public:
  HttpServer(ServerOptions opts, const FindingStore* store, const PipelineMetrics* metrics);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Lets the caller add endpoints before Start(); not after.
  Router* router();

  // Serves GET /v1/deadletters from `store` (borrowed, must outlive the server; null: 503, as
  // before any call). FailedPrecondition after Start().
  Status SetDeadLetterStore(const DeadLetterStore* store);

  // Binds and starts the io threads. IoError "listen <addr>:<port>: <reason>" when the address
  // is bad or the bind fails; FailedPrecondition when called twice.
  Status Start();

  // The bound port (useful with port 0); 0 before Start().
  uint16_t port() const;

  // /readyz answers 200 only while ready (initially not ready).
  void SetReady(bool ready);
  // Also a check /readyz runs while ready (false: 503 with its reason), and renderers appended
  // to /metrics. Before Start().
  void SetReadinessCheck(std::function<bool(std::string* why)> check);
  void AddMetrics(std::function<void(std::string*)> render);

  // Graceful: stops accepting, lets in-flight responses finish (bounded), closes connections,
  // joins the threads and releases the port. Idempotent.
  void Stop();

  // Blocks until Stop() has completed (returns at once if never started).
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::api

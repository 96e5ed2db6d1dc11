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

#include "vigil/api/auth.h"
#include "vigil/api/router.h"
#include "vigil/core/dead_letter.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/metrics.h"
#include "vigil/core/status.h"

namespace vigil::api {

// TLS on the listener (Boost.Asio SSL over OpenSSL): TLS 1.2 and 1.3 only, forward-secret AEAD
// ciphers. With client_ca_file, clients may present a certificate (mTLS), verified against that
// bundle; a certificate that fails (expired, untrusted) fails the handshake. The files are read
// at Start() and again by HttpServer::ReloadTls() (SIGHUP in vigil serve).
struct TlsOptions {
  std::string cert_file;             // PEM certificate chain; empty: plain HTTP
  std::string key_file;              // PEM private key
  std::string client_ca_file;        // PEM CA bundle for client certificates; empty: no mTLS
  bool require_client_cert = false;  // with client_ca_file: refuse a handshake without one
  bool enabled() const { return !cert_file.empty(); }
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;                // 0 = ephemeral, see HttpServer::port()
  int threads = 1;                     // io threads
  size_t max_body_bytes = 1 << 20;     // larger bodies get 413 (a route may set its own)
  size_t max_header_bytes = 16 << 10;  // larger headers get 431 (whatever the number of fields)
  // A new connection must complete its TLS handshake and its first request header, and a
  // keep-alive connection each later header once its first byte came, within header_timeout
  // (slowloris); a body must arrive within body_timeout; a connection idle between requests
  // for idle_timeout is closed; so is a response the client does not read within idle_timeout.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds idle_timeout{30'000};
  size_t max_requests_per_connection = 10000;  // then "Connection: close"
  AuthOptions auth;                            // no credentials: open (but the webhook); see auth.h
  TlsOptions tls;
  // Refuse to Start() on an address that is not loopback without TLS, or without credentials,
  // unless these allow it (a TLS-terminating proxy, a private network).
  bool allow_plain_http = false;
  bool allow_anonymous = false;
  size_t max_connections = 1024;  // more get 503 and are closed
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
  // is bad or the bind fails; InvalidArgument for bad credentials, TLS files that do not load,
  // or plain / anonymous HTTP on an address that is not loopback (see ServerOptions);
  // FailedPrecondition when called twice.
  Status Start();

  // Reads the TLS certificate, key and client CA files again; new connections use them, those
  // open keep theirs. On an error the previous ones stay and the error is returned.
  // FailedPrecondition when TLS is not configured.
  Status ReloadTls();

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

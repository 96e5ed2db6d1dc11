// Who may call what (invariant 6, authenticated identity). A credential is a bearer token, known
// only by its SHA-256, or a TLS client certificate (its subject CN or one of its SANs), verified
// by the handshake against the configured CA bundle. Each credential has a name (logged, and
// stored with what it changes) and roles:
//   read            GET the findings, dead letters, rules, stats, metrics
//   triage          read, plus PATCH findings and manage suppressions
//   admin           everything, including POST /v1/rules/reload
//   ingest:<name>   POST audit events for exactly that cluster (the webhook); nothing else
// With no credential configured the server is open (every route but the webhook), which
// HttpServer allows only on loopback unless ServerOptions::allow_anonymous says otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/api/router.h"
#include "vigil/core/status.h"

namespace vigil::api {

struct Credential {
  std::string name;
  std::string token_sha256;               // lowercase hex SHA-256 of a bearer token, or ""
  std::vector<std::string> client_names;  // client certificate CN or SAN values, or none
  std::vector<std::string> roles;         // "read", "triage", "admin", "ingest:<cluster>"
};

struct AuthOptions {
  std::vector<Credential> credentials;
  bool enabled() const { return !credentials.empty(); }
};

// Every credential has a name, a token hash (64 lowercase hex digits) or client names or both, at
// least one known role, at most one ingest role; no name, hash or client name twice.
Status CheckAuthOptions(const AuthOptions& options);

// Lowercase hex SHA-256 of `data` (for token hashes).
std::string Sha256Hex(std::string_view data);

// Counted on /metrics (vigil_http_auth_failures_total{reason=...}).
struct AuthCounters {
  std::atomic<uint64_t> missing{0};    // 401: no credential
  std::atomic<uint64_t> invalid{0};    // 401: a token or certificate that no credential has
  std::atomic<uint64_t> forbidden{0};  // 403: a credential without the route's role
  void Render(std::string* out) const;
};

// Resolves a request's credential and checks a route's role. Read-only after construction, so
// thread-safe.
class Authenticator {
 public:
  explicit Authenticator(AuthOptions options);

  struct Identity {
    const Credential* credential = nullptr;  // null when auth is off
    std::string ingest_cluster;              // of its ingest:<cluster> role, or ""
  };

  // Fills *identity for a route that needs `role` and returns nullopt, or returns the 401/403
  // answer (logged, rate limited, and counted in `counters`). A bearer token, when present,
  // decides; otherwise the verified client certificate (Request::tls_client_cn / _sans).
  std::optional<Response> Check(const Request& req, RouteOptions::Role role, AuthCounters* counters,
                                Identity* identity) const;
  // The credential the request presents (*credential), or the 401 answer (logged, counted).
  // Requires enabled(). Also asked for paths that route nowhere, so that without a credential
  // a client cannot tell a route from a 404.
  std::optional<Response> Authenticate(const Request& req, AuthCounters* counters,
                                       const Credential** credential) const;

  bool enabled() const { return options_.enabled(); }
  static bool Allows(const Credential& c, RouteOptions::Role role);

 private:
  const Credential* FindByToken(std::string_view token) const;
  const Credential* FindByCertificate(const Request& req) const;

  AuthOptions options_;
};

}  // namespace vigil::api

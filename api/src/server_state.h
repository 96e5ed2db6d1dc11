// State shared by the HttpServer and its sessions (private to the api room): options, routes,
// counters, readiness and the registry of live connections used by Stop().
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "vigil/api/auth.h"
#include "vigil/api/http_counters.h"
#include "vigil/api/http_server.h"
#include "vigil/api/router.h"

namespace vigil::api {

class Session;

class ServerState {
 public:
  explicit ServerState(ServerOptions opts);
  ~ServerState();  // joins the pools

  const ServerOptions& options() const { return opts_; }
  Router& router() { return router_; }
  HttpCounters& counters() { return counters_; }
  std::atomic<bool>& ready() { return ready_; }
  AuthCounters& auth_counters() { return auth_counters_; }

  // The TLS context new connections use (null: plain HTTP). Thread-safe; a reload swaps it.
  std::shared_ptr<boost::asio::ssl::context> tls_context() const;
  void set_tls_context(std::shared_ptr<boost::asio::ssl::context> ctx);

  // Routing, then authentication: the route's role (RouteOptions::role) against the request's
  // credential (see auth.h), which fills Request::principal and ingest_cluster. Exceptions
  // from handlers propagate (the session turns them into 500).
  Response Dispatch(Request& req);
  // The same, run where the route says (RouteOptions::run): inline, or on the query or ingest
  // pool; `done` gets the response (on that thread). Never throws; a throwing handler is 500.
  void DispatchAsync(Request req, std::function<void(Response)> done);
  // Once a request's header is read, before its body: the 401/403 answer when its credential
  // (Authorization header, TLS client identity in `req`) may not use the route, else nullopt.
  // An unknown route needs a valid credential too when credentials are configured (401 now;
  // with one, the 404/405 is answered after the body as usual). Counted and logged as Dispatch.
  std::optional<Response> CheckCredential(Request& req);
  // The body limit of the route a request goes to.
  size_t BodyLimit(std::string_view method, std::string_view path) const;
  // Stops taking work on the pools and waits for what runs there.
  void StopPools();

  // Admission control for a new connection. kRefuse: close without an answer (far over the cap
  // or stopping); kReject: answer 503; kServe: normal.
  enum class Admission { kServe, kReject, kRefuse };
  // Decides admission and, for kServe and kReject, makes the Session from `socket` (a rejecting
  // one for kReject) and registers it into `*session`, all under one lock: a connection is
  // either refused or in the registry before BeginStop() can run, so Stop() always shuts it
  // down. kRefuse (also once stopping) leaves `socket` untouched for the caller to close. The
  // caller starts the session.
  Admission AdmitAndRegister(boost::asio::ip::tcp::socket&& socket,
                             std::shared_ptr<Session>* session);

  void Unregister(Session* s);  // from ~Session

  // Marks the server as stopping and returns the live sessions (so Stop() can close them).
  std::vector<std::shared_ptr<Session>> BeginStop();
  // Waits until no session is alive or the deadline passes; true when none is left.
  bool WaitForNoSessions(std::chrono::steady_clock::time_point deadline);

 private:
  // not_routed (404/405), or 401 when credentials are configured and req presents no valid one:
  // without a credential, a client cannot tell which paths exist.
  Response RefuseUnrouted(const Request& req, Response not_routed);
  const ServerOptions opts_;
  const Authenticator auth_;
  Router router_;  // filled before Start(), read-only afterwards
  HttpCounters counters_;
  AuthCounters auth_counters_;
  mutable std::mutex tls_mu_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // guarded by tls_mu_
  std::atomic<bool> ready_{false};
  std::unique_ptr<boost::asio::thread_pool> query_pool_, ingest_pool_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // guarded by mu_
  bool stopping_ = false;                                          // guarded by mu_
};

}  // namespace vigil::api

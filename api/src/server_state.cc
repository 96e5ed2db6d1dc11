// Authentication + routing entry point and the connection registry.
#include "server_state.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <string_view>
#include <utility>

#include "request_timing.h"
#include "session.h"
#include "vigil/api/http_util.h"

namespace vigil::api {

ServerState::ServerState(ServerOptions opts)
    : opts_(std::move(opts)),
      auth_(opts_.auth),
      query_pool_(std::make_unique<boost::asio::thread_pool>(std::max(1, opts_.query_threads))),
      ingest_pool_(std::make_unique<boost::asio::thread_pool>(std::max(1, opts_.ingest_threads))) {}

ServerState::~ServerState() { StopPools(); }

void ServerState::StopPools() {
  // What is queued still runs (each handler is bounded); its answer goes to a stopped io
  // context and is dropped with the connection.
  for (auto* pool : {query_pool_.get(), ingest_pool_.get()}) pool->join();
}

Response ServerState::Dispatch(Request& req) {
  Response error;
  const Router::Entry* e = router_.Resolve(req, &error);
  if (e == nullptr) return RefuseUnrouted(req, std::move(error));
  Authenticator::Identity who;
  if (auto refused = auth_.Check(req, e->options.role, &auth_counters_, &who)) return *refused;
  req.principal = who.credential != nullptr ? who.credential->name : std::string();
  req.ingest_cluster = std::move(who.ingest_cluster);
  return e->handler(req);
}

Response ServerState::RefuseUnrouted(const Request& req, Response not_routed) {
  if (!auth_.enabled()) return not_routed;
  const Credential* c = nullptr;
  if (auto refused = auth_.Authenticate(req, &auth_counters_, &c)) return *refused;
  return not_routed;
}

std::optional<Response> ServerState::CheckCredential(Request& req) {
  Response ignored;
  const Router::Entry* e = router_.Resolve(req, &ignored);
  if (e == nullptr) {
    Response r = RefuseUnrouted(req, std::move(ignored));
    if (r.status == 401) return r;
    return std::nullopt;  // the 404/405 is answered once the body is read
  }
  Authenticator::Identity who;
  return auth_.Check(req, e->options.role, &auth_counters_, &who);
}

std::shared_ptr<boost::asio::ssl::context> ServerState::tls_context() const {
  std::lock_guard<std::mutex> lock(tls_mu_);
  return tls_;
}

void ServerState::set_tls_context(std::shared_ptr<boost::asio::ssl::context> ctx) {
  std::lock_guard<std::mutex> lock(tls_mu_);
  tls_ = std::move(ctx);
}

size_t ServerState::BodyLimit(std::string_view method, std::string_view path) const {
  const size_t limit = router_.OptionsFor(method, path).max_body_bytes;
  return limit != 0 ? limit : opts_.max_body_bytes;
}

void ServerState::DispatchAsync(Request req, std::function<void(Response)> done) {
  done = TimeResponse(router_, req, &counters_, std::move(done));
  const RouteOptions::Run where = router_.OptionsFor(req.method, req.path).run;
  auto run = [this, req = std::move(req), done = std::move(done)]() mutable {
    Response r;
    try {
      r = Dispatch(req);  // handlers log their own 5xx causes
    } catch (const std::exception& e) {
      spdlog::error("api: handler threw: {}", e.what());
      r = JsonError(500, "internal error");
    } catch (...) {
      spdlog::error("api: handler threw a non-standard exception");
      r = JsonError(500, "internal error");
    }
    done(std::move(r));
  };
  switch (where) {
    case RouteOptions::Run::kInline:
      return run();
    case RouteOptions::Run::kQuery:
      return boost::asio::post(*query_pool_, std::move(run));
    case RouteOptions::Run::kIngest:
      return boost::asio::post(*ingest_pool_, std::move(run));
  }
}

ServerState::Admission ServerState::AdmitAndRegister(boost::asio::ip::tcp::socket&& socket,
                                                     std::shared_ptr<Session>* session) {
  // Declared before the lock: should anything below throw, ~Session (which takes mu_) runs
  // after the lock is released.
  std::shared_ptr<Session> s;
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return Admission::kRefuse;
  const size_t cap = opts_.max_connections;
  Admission admission = Admission::kServe;
  if (sessions_.size() >= cap) {
    // Rejected connections live a moment to get their 503; past twice the cap, just close.
    if (sessions_.size() >= 2 * cap + 16) return Admission::kRefuse;
    admission = Admission::kReject;
  }
  s = std::make_shared<Session>(std::move(socket), this, admission == Admission::kReject,
                                tls_context());
  sessions_.emplace(s.get(), s);
  *session = std::move(s);
  return admission;
}

void ServerState::Unregister(Session* s) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(s);
  if (sessions_.empty()) cv_.notify_all();
}

std::vector<std::shared_ptr<Session>> ServerState::BeginStop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  std::vector<std::shared_ptr<Session>> live;
  for (auto& [ptr, weak] : sessions_) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  return live;
}

bool ServerState::WaitForNoSessions(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [this] { return sessions_.empty(); });
}

}  // namespace vigil::api

// Authentication + routing entry point and the connection registry.
#include "server_state.h"

#include <array>
#include <string_view>
#include <utility>

#include "session.h"
#include "vigil/api/http_util.h"

namespace vigil::api {
namespace {

constexpr std::array<std::string_view, 3> kOpenPaths = {"/healthz", "/readyz", "/metrics"};

bool IsOpen(std::string_view path) {
  for (std::string_view p : kOpenPaths) {
    if (path == p) return true;
  }
  return false;
}

}  // namespace

Response ServerState::Dispatch(Request& req) const {
  if (!opts_.bearer_token.empty() && !IsOpen(req.path) &&
      !BearerTokenMatches(req.Header("Authorization"), opts_.bearer_token)) {
    Response r = JsonError(401, "missing or invalid bearer token");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil\"");
    return r;
  }
  return router_.Dispatch(req);
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
  s = std::make_shared<Session>(std::move(socket), this, admission == Admission::kReject);
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

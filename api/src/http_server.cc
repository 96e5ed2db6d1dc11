// HttpServer: listener, io threads, and the graceful Stop() sequence.
#include "vigil/api/http_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "server_state.h"
#include "session.h"
#include "tls.h"
#include "vigil/api/handlers.h"

namespace vigil::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr std::chrono::seconds kStopGrace{5};  // in-flight responses get this long on Stop()
constexpr std::chrono::milliseconds kAcceptBackoff{50};
}  // namespace

struct HttpServer::Impl {
  explicit Impl(ServerOptions opts)
      : state(std::move(opts)),
        ioc(std::max(1, state.options().threads)),
        acceptor(net::make_strand(ioc)),
        backoff(acceptor.get_executor()) {}

  void DoAccept() {
    acceptor.async_accept(net::make_strand(ioc),
                          [this](boost::system::error_code ec, tcp::socket socket) {
                            OnAccept(ec, std::move(socket));
                          });
  }

  void OnAccept(boost::system::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || ec == net::error::operation_aborted) return;
    if (ec) {
      // E.g. out of file descriptors: back off instead of spinning.
      spdlog::error("api: accept: {}", ec.message());
      backoff.expires_after(kAcceptBackoff);
      backoff.async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) DoAccept();
      });
      return;
    }
    std::shared_ptr<Session> session;
    switch (state.AdmitAndRegister(std::move(socket), &session)) {
      case ServerState::Admission::kServe:
        state.counters().connections_accepted.fetch_add(1, std::memory_order_relaxed);
        session->Start();
        break;
      case ServerState::Admission::kReject:
        state.counters().connections_rejected.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("api: connection limit {} reached, answering 503",
                     state.options().max_connections);
        session->Start();
        break;
      case ServerState::Admission::kRefuse: {
        // Far over the cap, or stopping: the socket was not taken.
        state.counters().connections_rejected.fetch_add(1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        socket.close(ignored);
        break;
      }
    }
    DoAccept();
  }

  void RunIoThread() {
    while (true) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("api: io thread: {}", e.what());
      } catch (...) {
        spdlog::error("api: io thread: non-standard exception");
      }
    }
  }

  // Declared first so that it outlives the io_context and the sessions its handlers own.
  ServerState state;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer backoff;
  std::vector<std::thread> threads;
  std::atomic<uint16_t> port{0};
  HealthHooks hooks;  // filled before Start

  std::mutex life_mu;
  std::condition_variable life_cv;
  bool started = false;   // guarded by life_mu
  bool stopping = false;  // guarded by life_mu
  bool stopped = false;   // guarded by life_mu
};

HttpServer::HttpServer(ServerOptions opts, const FindingStore* store,
                       const PipelineMetrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(opts))) {
  Router* r = &impl_->state.router();
  RegisterHealthHandlers(&impl_->state.ready(), metrics, &impl_->state.counters(), r,
                         &impl_->hooks);
  RegisterFindingHandlers(store, r);
  RegisterDeadLetterHandlers(nullptr, r);
  impl_->hooks.metrics.push_back(
      [this](std::string* out) { impl_->state.auth_counters().Render(out); });
}

HttpServer::~HttpServer() { Stop(); }

Router* HttpServer::router() { return &impl_->state.router(); }

Status HttpServer::SetDeadLetterStore(const DeadLetterStore* store) {
  std::lock_guard<std::mutex> lock(impl_->life_mu);
  if (impl_->started || impl_->stopped) {
    return Status::FailedPrecondition("dead-letter store set after the server started");
  }
  RegisterDeadLetterHandlers(store, &impl_->state.router());  // replaces the null one
  return Status::Ok();
}

Status HttpServer::Start() {
  std::lock_guard<std::mutex> lock(impl_->life_mu);
  if (impl_->started || impl_->stopped) return Status::FailedPrecondition("server already started");
  const ServerOptions& o = impl_->state.options();
  if (Status s = CheckAuthOptions(o.auth); !s.ok()) return s;
  if (o.tls.enabled()) {
    auto ctx = MakeServerTlsContext(o.tls);
    if (!ctx.ok()) return ctx.status();
    impl_->state.set_tls_context(std::move(ctx).value());
  } else if (!o.tls.client_ca_file.empty() || !o.tls.key_file.empty()) {
    return Status::InvalidArgument("TLS: a key or client CA file but no certificate file");
  }
  auto fail = [&](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return Status::IoError(fmt::format("listen {}:{}: {}", o.address, o.port, ec.message()));
  };
  boost::system::error_code ec;
  net::ip::address addr = net::ip::make_address(o.address, ec);
  if (ec) return fail(ec);
  if (!addr.is_loopback()) {
    // Invariant 6: off loopback, secrets travel encrypted and every request is someone's.
    if (!o.tls.enabled() && !o.allow_plain_http) {
      return Status::InvalidArgument(
          "refusing plain HTTP on " + o.address +
          ", which is not loopback: configure TLS (api.tls) or allow it (api.allow_plain_http)");
    }
    if (!o.auth.enabled() && !o.allow_anonymous) {
      return Status::InvalidArgument(
          "refusing to serve " + o.address +
          ", which is not loopback, without credentials: configure api.credentials or allow it "
          "(api.allow_anonymous)");
    }
  }
  tcp::endpoint endpoint(addr, o.port);
  tcp::acceptor& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec); ec) return fail(ec);
  if (a.set_option(net::socket_base::reuse_address(true), ec); ec) return fail(ec);
  if (a.bind(endpoint, ec); ec) return fail(ec);
  if (a.listen(net::socket_base::max_listen_connections, ec); ec) return fail(ec);
  impl_->port = a.local_endpoint(ec).port();
  if (ec) return fail(ec);

  impl_->started = true;
  impl_->DoAccept();
  const int n = std::max(1, o.threads);
  for (int i = 0; i < n; ++i) impl_->threads.emplace_back([this] { impl_->RunIoThread(); });
  spdlog::info("api: listening on {}:{} ({}{})", o.address, impl_->port.load(),
               o.tls.enabled() ? "https" : "http",
               o.tls.client_ca_file.empty()
                   ? ""
                   : (o.tls.require_client_cert ? ", client certificates required"
                                                : ", client certificates verified"));
  return Status::Ok();
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

Status HttpServer::ReloadTls() {
  const TlsOptions& o = impl_->state.options().tls;
  if (!o.enabled()) return Status::FailedPrecondition("TLS is not configured");
  auto ctx = MakeServerTlsContext(o);
  if (!ctx.ok()) return ctx.status();
  impl_->state.set_tls_context(std::move(ctx).value());
  return Status::Ok();
}

void HttpServer::SetReady(bool ready) {
  impl_->state.ready().store(ready, std::memory_order_release);
}

void HttpServer::SetReadinessCheck(std::function<bool(std::string* why)> check) {
  impl_->hooks.readiness = std::move(check);
}

void HttpServer::AddMetrics(std::function<void(std::string*)> render) {
  impl_->hooks.metrics.push_back(std::move(render));
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  {
    std::unique_lock<std::mutex> lock(s.life_mu);
    if (!s.started) {
      s.stopped = true;
      s.life_cv.notify_all();
      return;
    }
    if (s.stopping) {  // someone else is stopping (or has stopped): wait for them
      s.life_cv.wait(lock, [&] { return s.stopped; });
      return;
    }
    s.stopping = true;
  }
  net::post(s.acceptor.get_executor(), [&s] {
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    s.backoff.cancel();
  });
  for (const std::shared_ptr<Session>& session : s.state.BeginStop()) session->Shutdown();
  if (!s.state.WaitForNoSessions(std::chrono::steady_clock::now() + kStopGrace)) {
    spdlog::warn("api: connections still open after {}s, closing them", kStopGrace.count());
  }
  s.ioc.stop();
  for (std::thread& t : s.threads) t.join();
  s.threads.clear();
  s.state.StopPools();  // the handlers still running finish before the stores can go away
  boost::system::error_code ignored;
  s.acceptor.close(ignored);  // no io thread left: safe to touch directly
  {
    std::lock_guard<std::mutex> lock(s.life_mu);
    s.stopped = true;
  }
  s.life_cv.notify_all();
}

void HttpServer::Wait() {
  std::unique_lock<std::mutex> lock(impl_->life_mu);
  impl_->life_cv.wait(lock, [this] { return impl_->stopped || !impl_->started; });
}

}  // namespace vigil::api

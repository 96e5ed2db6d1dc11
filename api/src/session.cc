// HTTP/1.1 connection handling, plain or TLS: limits (413/431), malformed input (400), header,
// body and idle timeouts, lingering close after an error so the client gets to read the answer.
#include "session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <exception>
#include <limits>

#include "tls.h"
#include "vigil/api/http_util.h"

namespace vigil::api {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

namespace {

constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr size_t kMaxDrainBytes = 1 << 20;

}  // namespace

void LimitHeader(RequestParser* parser, size_t max_header_bytes) {
  parser->header_limit(static_cast<std::uint32_t>(std::min<size_t>(max_header_bytes, UINT32_MAX)));
  parser->body_limit(std::numeric_limits<std::uint64_t>::max());
}

beast::error_code LimitBody(RequestParser* parser, size_t body_limit) {
  parser->body_limit(body_limit);
  if (const auto length = parser->content_length(); length && *length > body_limit) {
    return http::error::body_limit;
  }
  return {};
}

std::optional<Response> MakeRequest(RequestParser* parser, Request* req) {
  http::request<http::string_body> raw = parser->release();
  req->method = std::string(raw.method_string());
  std::string_view target(raw.target().data(), raw.target().size());
  size_t q = target.find('?');
  req->path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    auto query = ParseQueryString(target.substr(q + 1));
    if (!query.ok()) return JsonError(400, "invalid query string: " + query.status().message());
    req->query = std::move(query).value();
  }
  for (const auto& field : raw) {
    req->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  req->body = std::move(raw.body());
  return std::nullopt;
}

std::optional<Response> ReadErrorResponse(beast::error_code ec, size_t body_limit,
                                          size_t max_header_bytes) {
  if (ec == http::error::body_limit) {
    return JsonError(413, "request body larger than " + std::to_string(body_limit) + " bytes");
  }
  if (ec == http::error::header_limit) {
    return JsonError(431,
                     "request header larger than " + std::to_string(max_header_bytes) + " bytes");
  }
  // Timeouts, cancellation, resets and a client that went away mid-request: nobody to answer.
  const bool parse_error =
      ec.category() == http::make_error_code(http::error::bad_method).category();
  if (!parse_error || ec == http::error::end_of_stream || ec == http::error::partial_message) {
    if (ec != http::error::end_of_stream && ec != net::error::operation_aborted &&
        ec != beast::error::timeout) {
      spdlog::debug("api: connection closed while reading: {}", ec.message());
    }
    return std::nullopt;
  }
  spdlog::debug("api: malformed request: {}", ec.message());
  return JsonError(400, "malformed HTTP request: " + ec.message());
}

Session::Session(net::ip::tcp::socket&& socket, ServerState* state, bool reject,
                 std::shared_ptr<net::ssl::context> tls)
    : executor_(socket.get_executor()),
      stream_(std::in_place_index<0>, std::move(socket)),
      state_(state),
      reject_(reject),
      tls_(std::move(tls)) {}

Session::~Session() { state_->Unregister(this); }

beast::tcp_stream& Session::Tcp() {
  if (auto* plain = std::get_if<beast::tcp_stream>(&stream_)) return *plain;
  return beast::get_lowest_layer(std::get<TlsStream>(stream_));
}

void Session::Start() {
  net::dispatch(executor_, [self = shared_from_this()] {
    if (self->reject_) {
      // Over the connection cap. A TLS client would not read a plain answer: just close.
      if (self->tls_) return self->Close();
      self->Send(JsonError(503, "too many connections"), 11, false, true);
      return;
    }
    if (!self->tls_) return self->DoRead();
    // The handshake and the first request header share one header_timeout (slowloris).
    self->header_deadline_ =
        std::chrono::steady_clock::now() + self->state_->options().header_timeout;
    self->Tcp().expires_after(self->state_->options().header_timeout);
    beast::async_detect_ssl(self->Tcp(), self->buffer_,
                            beast::bind_front_handler(&Session::OnDetect, self));
  });
}

void Session::Shutdown() {
  // executor_, not Tcp(): the stream may be switching to TLS on the strand right now.
  net::post(executor_, [self = shared_from_this()] {
    self->shutting_down_ = true;
    // A pending read (idle keep-alive or linger) is cancelled; a write in flight completes and
    // OnWrite then closes.
    if (!self->writing_ && !self->closed_) self->Tcp().cancel();
  });
}

void Session::OnDetect(beast::error_code ec, bool is_tls) {
  if (ec) return Close();  // timeout, or gone before saying anything
  if (!is_tls) {
    state_->counters().plain_on_tls.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("api: plain HTTP on the TLS port");
    return Send(JsonError(400, "this port speaks HTTPS: use an https:// URL"), 11, false, true);
  }
  beast::tcp_stream tcp = std::move(std::get<beast::tcp_stream>(stream_));
  TlsStream& tls = stream_.emplace<TlsStream>(std::move(tcp), *tls_);
  tls.async_handshake(net::ssl::stream_base::server, buffer_.data(),
                      beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
}

void Session::OnHandshake(beast::error_code ec, size_t used) {
  if (ec) {
    state_->counters().tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("api: TLS handshake failed: {}", ec.message());
    return Close();
  }
  buffer_.consume(used);
  VerifiedPeerIdentity(std::get<TlsStream>(stream_).native_handle(), &client_cn_, &client_sans_);
  DoRead();
}

std::chrono::milliseconds Session::UntilHeaderDeadline() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      header_deadline_ - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

void Session::DoRead() {
  if (shutting_down_) return Close();
  if (buffer_.size() > 0) {  // pipelined, or read with the handshake (then the deadline holds)
    if (requests_ > 0) {
      header_deadline_ = std::chrono::steady_clock::now() + state_->options().header_timeout;
    }
    return ReadHeader();
  }
  // Wait for the next request's first byte: as long as the keep-alive idle timeout allows, or
  // for a new connection the header timeout. Then its whole header gets header_timeout.
  if (requests_ == 0) {
    // A new connection: its first header (after the handshake, under TLS) has one deadline.
    if (!tls_) {
      header_deadline_ = std::chrono::steady_clock::now() + state_->options().header_timeout;
    }
    Tcp().expires_after(UntilHeaderDeadline());
  } else {
    Tcp().expires_after(state_->options().idle_timeout);
  }
  Visit([&](auto& s) {
    s.async_read_some(buffer_.prepare(4096),
                      beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
  });
}

void Session::OnFirstBytes(beast::error_code ec, size_t bytes) {
  buffer_.commit(bytes);
  if (ec) {
    if (ec == net::ssl::error::stream_truncated) ec = http::error::end_of_stream;
    if (ec == net::error::eof) ec = http::error::end_of_stream;
    return OnRead(ec, 0);
  }
  // A later request's header gets header_timeout from its first byte.
  if (requests_ > 0) {
    header_deadline_ = std::chrono::steady_clock::now() + state_->options().header_timeout;
  }
  ReadHeader();
}

void Session::ReadHeader() {
  parser_.emplace();
  // No body limit while the header is read; OnHeader sets the route's.
  LimitHeader(&*parser_, state_->options().max_header_bytes);
  body_limit_ = state_->options().max_body_bytes;
  Tcp().expires_after(UntilHeaderDeadline());
  // The header first: the route decides the body limit (the webhook takes bigger bodies).
  Visit([&](auto& s) {
    http::async_read_header(s, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  });
}

void Session::OnHeader(beast::error_code ec, size_t bytes) {
  if (ec) return OnRead(ec, bytes);
  ++requests_;
  const auto& h = parser_->get();
  std::string_view target(h.target().data(), h.target().size());
  target = target.substr(0, target.find('?'));
  // The credential is checked before the body is read: a client without one must not make the
  // server read (and hold) a 12 MiB webhook body only to answer 401.
  {
    Request probe;
    probe.method = std::string(h.method_string());
    probe.path = std::string(target);
    if (auto it = h.find(http::field::authorization); it != h.end()) {
      probe.headers.emplace_back("Authorization", std::string(it->value()));
    }
    probe.tls_client_cn = client_cn_;
    probe.tls_client_sans = client_sans_;
    if (std::optional<Response> refused = state_->CheckCredential(probe)) {
      return Send(std::move(*refused), h.version(), false, true);
    }
  }
  body_limit_ = state_->BodyLimit(
      std::string_view(h.method_string().data(), h.method_string().size()), target);
  if (beast::error_code too_big = LimitBody(&*parser_, body_limit_)) {
    return OnRead(too_big, bytes);
  }
  if (parser_->is_done()) return OnRead(ec, bytes);
  Tcp().expires_after(state_->options().body_timeout);
  Visit([&](auto& s) {
    http::async_read(s, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  });
}

void Session::OnRead(beast::error_code ec, size_t /*bytes*/) {
  if (!ec) {
    const bool keep_alive =
        parser_->get().keep_alive() && requests_ < state_->options().max_requests_per_connection;
    const unsigned version = parser_->get().version();
    Request req;
    req.tls_client_cn = client_cn_;
    req.tls_client_sans = client_sans_;
    if (std::optional<Response> bad = MakeRequest(&*parser_, &req)) {
      return Send(std::move(*bad), version, keep_alive, false);
    }
    // Run where the route says; the answer comes back on this connection's strand. Nothing is
    // read meanwhile (one request at a time per connection).
    state_->DispatchAsync(
        std::move(req), [self = shared_from_this(), version, keep_alive](Response r) mutable {
          net::post(self->executor_, [self, r = std::move(r), version, keep_alive]() mutable {
            self->Send(std::move(r), version, keep_alive, false);
          });
        });
    return;
  }
  if (ec == beast::error::timeout) {
    state_->counters().timeouts.fetch_add(1, std::memory_order_relaxed);
  }
  // 413, 431 and 400 close the connection after the answer; the rest closes at once.
  if (std::optional<Response> r =
          ReadErrorResponse(ec, body_limit_, state_->options().max_header_bytes)) {
    return Send(std::move(*r), 11, false, true);
  }
  Close();
}

void Session::Send(Response r, unsigned version, bool keep_alive, bool linger) {
  if (r.status < 100 || r.status > 599) r = JsonError(500, "internal error: bad status code");
  state_->counters().CountResponse(r.status);
  res_ = {};
  res_.version(version == 10 ? 10 : 11);
  res_.result(r.status);
  res_.set(http::field::server, "vigil");
  res_.set(http::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) res_.set(name, value);
  res_.body() = std::move(r.body);
  res_.keep_alive(keep_alive && !shutting_down_);
  res_.prepare_payload();
  writing_ = true;
  Tcp().expires_after(state_->options().idle_timeout);
  Visit([&](auto& s) {
    http::async_write(s, res_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(),
                                                res_.keep_alive(), linger));
  });
}

void Session::OnWrite(bool keep_alive, bool linger, beast::error_code ec, size_t /*bytes*/) {
  writing_ = false;
  if (ec) {
    spdlog::debug("api: write failed: {}", ec.message());
    return Close();
  }
  if (linger && !shutting_down_) return Linger();
  if (!keep_alive || shutting_down_) return Close();
  DoRead();
}

// After an error answer the client may still be sending (a big body or header). Closing now
// with unread data would make the kernel send RST, and the client could lose the answer; so
// half-close, then read and discard for a bounded time (raw bytes, under TLS too).
void Session::Linger() {
  beast::error_code ec;
  Tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  Tcp().expires_after(
      std::min<std::chrono::milliseconds>(state_->options().idle_timeout, kMaxLinger));
  Tcp().async_read_some(net::buffer(drain_),
                        beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::OnLinger(beast::error_code ec, size_t bytes) {
  drained_ += bytes;
  if (ec || shutting_down_ || drained_ > kMaxDrainBytes) return Close();
  Tcp().async_read_some(net::buffer(drain_),
                        beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  Tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  Tcp().close();
}

}  // namespace vigil::api

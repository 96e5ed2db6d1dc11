// HTTP/1.1 connection handling: limits (413/431), malformed input (400), idle timeouts,
// lingering close after an error so the client gets to read the answer.
#include "session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <limits>

#include "vigil/api/http_util.h"

namespace vigil::api {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

namespace {

constexpr std::chrono::seconds kMaxLinger{2};
constexpr size_t kMaxDrainBytes = 1 << 20;

}  // namespace

Session::Session(net::ip::tcp::socket&& socket, ServerState* state, bool reject)
    : stream_(std::move(socket)), state_(state), reject_(reject) {}

Session::~Session() { state_->Unregister(this); }

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->reject_) {
      self->Send(JsonError(503, "too many connections"), 11, false, true);
      return;
    }
    self->DoRead();
  });
}

void Session::Shutdown() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->shutting_down_ = true;
    // A pending read (idle keep-alive or linger) is cancelled; a write in flight completes and
    // OnWrite then closes.
    if (!self->writing_ && !self->closed_) self->stream_.cancel();
  });
}

void Session::DoRead() {
  if (shutting_down_) return Close();
  parser_.emplace();
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<size_t>(state_->options().max_header_bytes, UINT32_MAX)));
  // No body limit while the header is read (Beast checks Content-Length against it when the
  // header ends); OnHeader sets the route's.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  body_limit_ = state_->options().max_body_bytes;
  stream_.expires_after(state_->options().idle_timeout);
  // The header first: the route decides the body limit (the webhook takes bigger bodies).
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(beast::error_code ec, size_t bytes) {
  if (ec) return OnRead(ec, bytes);
  const auto& h = parser_->get();
  std::string_view target(h.target().data(), h.target().size());
  target = target.substr(0, target.find('?'));
  body_limit_ = state_->BodyLimit(
      std::string_view(h.method_string().data(), h.method_string().size()), target);
  parser_->body_limit(body_limit_);
  if (parser_->is_done()) return OnRead(ec, bytes);
  if (const auto length = parser_->content_length(); length && *length > body_limit_) {
    return OnRead(http::error::body_limit, bytes);
  }
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, size_t /*bytes*/) {
  if (!ec) {
    const bool keep_alive = parser_->get().keep_alive();
    const unsigned version = parser_->get().version();
    Request req;
    if (std::optional<Response> bad = MakeRequest(&req)) {
      return Send(std::move(*bad), version, keep_alive, false);
    }
    // Run where the route says; the answer comes back on this connection's strand. Nothing is
    // read meanwhile (one request at a time per connection).
    state_->DispatchAsync(std::move(req),
                          [self = shared_from_this(), version, keep_alive](Response r) mutable {
                            net::post(self->stream_.get_executor(),
                                      [self, r = std::move(r), version, keep_alive]() mutable {
                                        self->Send(std::move(r), version, keep_alive, false);
                                      });
                          });
    return;
  }
  if (ec == http::error::body_limit) {
    return Send(
        JsonError(413, "request body larger than " + std::to_string(body_limit_) + " bytes"), 11,
        false, true);
  }
  if (ec == http::error::header_limit) {
    return Send(JsonError(431, "request header larger than " +
                                   std::to_string(state_->options().max_header_bytes) + " bytes"),
                11, false, true);
  }
  // Timeouts, cancellation, resets and a client that went away mid-request: nobody to answer.
  const bool parse_error =
      ec.category() == http::make_error_code(http::error::bad_method).category();
  if (!parse_error || ec == http::error::end_of_stream || ec == http::error::partial_message) {
    if (ec != http::error::end_of_stream && ec != net::error::operation_aborted &&
        ec != beast::error::timeout) {
      spdlog::debug("api: connection closed while reading: {}", ec.message());
    }
    return Close();
  }
  spdlog::debug("api: malformed request: {}", ec.message());
  Send(JsonError(400, "malformed HTTP request: " + ec.message()), 11, false, true);
}

std::optional<Response> Session::MakeRequest(Request* req) {
  http::request<http::string_body> raw = parser_->release();
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
  stream_.expires_after(state_->options().idle_timeout);
  http::async_write(
      stream_, res_,
      beast::bind_front_handler(&Session::OnWrite, shared_from_this(), res_.keep_alive(), linger));
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
// half-close, then read and discard for a bounded time.
void Session::Linger() {
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  if (ec) return Close();
  stream_.expires_after(std::min<std::chrono::seconds>(state_->options().idle_timeout, kMaxLinger));
  stream_.async_read_some(net::buffer(drain_),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::OnLinger(beast::error_code ec, size_t bytes) {
  drained_ += bytes;
  if (ec || shutting_down_ || drained_ > kMaxDrainBytes) return Close();
  stream_.async_read_some(net::buffer(drain_),
                          beast::bind_front_handler(&Session::OnLinger, shared_from_this()));
}

void Session::Close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  stream_.close();
}

}  // namespace vigil::api

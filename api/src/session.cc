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
  // No body limit while the header is read; OnHeader sets the route's.
  LimitHeader(&*parser_, state_->options().max_header_bytes);
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
  if (beast::error_code too_big = LimitBody(&*parser_, body_limit_)) {
    return OnRead(too_big, bytes);
  }
  if (parser_->is_done()) return OnRead(ec, bytes);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, size_t /*bytes*/) {
  if (!ec) {
    const bool keep_alive = parser_->get().keep_alive();
    const unsigned version = parser_->get().version();
    Request req;
    if (std::optional<Response> bad = MakeRequest(&*parser_, &req)) {
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

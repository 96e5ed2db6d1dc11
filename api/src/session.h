// One HTTP/1.1 connection (private to the api room), plain or TLS: detects a plain request sent
// to a TLS port (answered 400), does the handshake, reads requests with size limits and the
// header / body / idle timeouts, dispatches them, writes responses, honours keep-alive.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server_state.h"

namespace vigil::api {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// The steps of reading one request that do not need a socket, shared by Session and the HTTP
// fuzz target (tests/fuzz/http_webhook_fuzz.cc), so that both parse with the same limits.
//
// Before the header is read: the server's header limit, no body limit yet (Beast would check
// Content-Length against it when the header ends; the route decides it instead).
void LimitHeader(RequestParser* parser, size_t max_header_bytes);
// Once the header is read: the route's body limit. http::error::body_limit when the declared
// Content-Length is already over it (the body is then not read).
boost::beast::error_code LimitBody(RequestParser* parser, size_t body_limit);
// The request as handlers see it (released from `parser`, which must be done), or the error
// answer for it (400: a bad query string). The TLS client identity is the caller's to fill.
std::optional<Response> MakeRequest(RequestParser* parser, Request* req);
// The answer to a read that failed with `ec` (413, 431, 400 for malformed HTTP; the connection
// is then closed), or nullopt when there is nobody to answer (the peer went away, a timeout).
std::optional<Response> ReadErrorResponse(boost::beast::error_code ec, size_t body_limit,
                                          size_t max_header_bytes);

// All member functions except Start() and Shutdown() run on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `reject`: answer 503 (too many connections) and close. `tls`: the server's TLS context at
  // accept time (null: plain HTTP). `state` must outlive the session.
  Session(boost::asio::ip::tcp::socket&& socket, ServerState* state, bool reject,
          std::shared_ptr<boost::asio::ssl::context> tls);
  ~Session();

  void Start();     // thread-safe
  void Shutdown();  // thread-safe: closes when idle, or once the response in flight is written

 private:
  using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  boost::beast::tcp_stream& Tcp();
  template <typename F>
  void Visit(F&& f) {
    std::visit(std::forward<F>(f), stream_);
  }

  void OnDetect(boost::beast::error_code ec, bool is_tls);
  void OnHandshake(boost::beast::error_code ec, size_t used);
  std::chrono::milliseconds UntilHeaderDeadline() const;  // at least 1 ms
  void DoRead();
  void OnFirstBytes(boost::beast::error_code ec, size_t bytes);
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec, size_t bytes);
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void Send(Response r, unsigned version, bool keep_alive, bool linger);
  void OnWrite(bool keep_alive, bool linger, boost::beast::error_code ec, size_t bytes);
  void Linger();
  void OnLinger(boost::beast::error_code ec, size_t bytes);
  void Close();

  boost::asio::any_io_executor executor_;  // the connection's strand, fixed at construction
  std::variant<boost::beast::tcp_stream, TlsStream> stream_;
  ServerState* state_;
  const bool reject_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::string client_cn_;                 // of a verified client certificate
  std::vector<std::string> client_sans_;  // of a verified client certificate
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;
  size_t requests_ = 0;                                      // read on this connection
  std::chrono::steady_clock::time_point header_deadline_{};  // of the request header being read
  bool writing_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
  size_t body_limit_ = 0;  // of the request being read
};

}  // namespace vigil::api

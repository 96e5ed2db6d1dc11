// One HTTP/1.1 connection (private to the api room): reads requests with size limits and an
// idle timeout, dispatches them, writes responses, honours keep-alive.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>

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
// answer for it (400: a bad query string).
std::optional<Response> MakeRequest(RequestParser* parser, Request* req);
// The answer to a read that failed with `ec` (413, 431, 400 for malformed HTTP; the connection
// is then closed), or nullopt when there is nobody to answer (the peer went away, a timeout).
std::optional<Response> ReadErrorResponse(boost::beast::error_code ec, size_t body_limit,
                                          size_t max_header_bytes);

// All member functions except Start() and Shutdown() run on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `reject`: answer 503 (too many connections) and close. `state` must outlive the session.
  Session(boost::asio::ip::tcp::socket&& socket, ServerState* state, bool reject);
  ~Session();

  void Start();     // thread-safe
  void Shutdown();  // thread-safe: closes when idle, or once the response in flight is written

 private:
  void DoRead();
  void OnHeader(boost::beast::error_code ec, size_t bytes);
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void Send(Response r, unsigned version, bool keep_alive, bool linger);
  void OnWrite(bool keep_alive, bool linger, boost::beast::error_code ec, size_t bytes);
  void Linger();
  void OnLinger(boost::beast::error_code ec, size_t bytes);
  void Close();

  boost::beast::tcp_stream stream_;
  ServerState* state_;
  const bool reject_;
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;
  bool writing_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
  size_t body_limit_ = 0;  // of the request being read
};

}  // namespace vigil::api

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

// All member functions except Start() and Shutdown() run on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `reject`: answer 503 (too many connections) and close. `state` must outlive the session.
  Session(boost::asio::ip::tcp::socket&& socket, ServerState* state, bool reject);
  ~Session();

  void Start();     // thread-safe
  void Shutdown();  // thread-safe: closes when idle, or once the response in flight is written

 private:
  using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

  void DoRead();
  void OnHeader(boost::beast::error_code ec, size_t bytes);
  void OnRead(boost::beast::error_code ec, size_t bytes);
  // The parsed request as handlers see it, or the error answer for it (a bad query string).
  std::optional<Response> MakeRequest(Request* req);
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

// Blocking HTTP client for loopback tests: every step runs on a private io_context with a
// deadline (beast::tcp_stream timeouts), so a misbehaving server fails a test instead of hanging.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::api::testing {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

using HttpResponse = http::response<http::string_body>;

class TestClient {
 public:
  explicit TestClient(uint16_t port, std::chrono::seconds deadline = std::chrono::seconds(10))
      : port_(port), deadline_(deadline), stream_(ioc_) {}

  beast::error_code Connect() {
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port_);
    return Run([&](auto done) { stream_.async_connect(ep, done); });
  }

  beast::error_code WriteRaw(std::string_view bytes) {
    return Run([&](auto done) { net::async_write(stream_, net::buffer(bytes), done); });
  }

  beast::error_code Send(http::request<http::string_body>& req) {
    req.prepare_payload();
    return Run([&](auto done) { http::async_write(stream_, req, done); });
  }

  // Reads one response into *res.
  beast::error_code Read(HttpResponse* res) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    beast::error_code ec =
        Run([&](auto done) { http::async_read(stream_, buffer_, parser, done); });
    if (!ec) *res = parser.release();
    return ec;
  }

  // Reads and discards until the server closes; returns the error that ended it (eof expected).
  beast::error_code ReadUntilClosed() {
    char buf[4096];
    while (true) {
      beast::error_code ec =
          Run([&](auto done) { stream_.async_read_some(net::buffer(buf), done); });
      if (ec) return ec;
    }
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  template <typename Start>
  beast::error_code Run(Start start) {
    beast::error_code result = net::error::would_block;
    stream_.expires_after(deadline_);
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  uint16_t port_;
  std::chrono::seconds deadline_;
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// The same over TLS: trusts `ca_file`, optionally presents a client certificate, and can cap
// the protocol version (to check that old ones are refused).
class TlsTestClient {
 public:
  struct Options {
    std::string ca_file;
    std::string cert_file, key_file;  // client certificate (mTLS), or empty
    int max_version = 0;              // e.g. TLS1_1_VERSION; 0: the library's default
  };
  TlsTestClient(uint16_t port, const Options& o,
                std::chrono::seconds deadline = std::chrono::seconds(10))
      : port_(port), deadline_(deadline), ctx_(net::ssl::context::tls_client) {
    ctx_.load_verify_file(o.ca_file);
    ctx_.set_verify_mode(net::ssl::verify_peer);
    if (!o.cert_file.empty()) {
      ctx_.use_certificate_chain_file(o.cert_file);
      ctx_.use_private_key_file(o.key_file, net::ssl::context::pem);
    }
    if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx_.native_handle(), o.max_version);
    stream_.emplace(ioc_, ctx_);
  }

  // Connects and shakes hands; the error of whichever failed.
  beast::error_code Connect() {
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port_);
    beast::error_code ec =
        Run([&](auto done) { beast::get_lowest_layer(*stream_).async_connect(ep, done); });
    if (ec) return ec;
    return Run([&](auto done) { stream_->async_handshake(net::ssl::stream_base::client, done); });
  }
  beast::error_code Send(http::request<http::string_body>& req) {
    req.prepare_payload();
    return Run([&](auto done) { http::async_write(*stream_, req, done); });
  }
  beast::error_code Read(HttpResponse* res) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    beast::error_code ec =
        Run([&](auto done) { http::async_read(*stream_, buffer_, parser, done); });
    if (!ec) *res = parser.release();
    return ec;
  }
  // The CN of the server's certificate (after Connect).
  std::string PeerCommonName() {
    X509* cert = SSL_get0_peer_certificate(stream_->native_handle());
    if (cert == nullptr) return {};
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    return cn;
  }

 private:
  template <typename Start>
  beast::error_code Run(Start start) {
    beast::error_code result = net::error::would_block;
    beast::get_lowest_layer(*stream_).expires_after(deadline_);
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  uint16_t port_;
  std::chrono::seconds deadline_;
  net::io_context ioc_;
  net::ssl::context ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

inline http::request<http::string_body> MakeRequest(
    http::verb method, std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& headers = {}, std::string body = "") {
  http::request<http::string_body> req;
  req.method(method);
  req.target(beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  return req;
}

// One request on a fresh TLS connection; as Fetch.
inline HttpResponse FetchTls(uint16_t port, const TlsTestClient::Options& tls, http::verb method,
                             std::string_view target,
                             const std::vector<std::pair<std::string, std::string>>& headers = {},
                             std::string body = "", beast::error_code* ec_out = nullptr) {
  TlsTestClient client(port, tls);
  HttpResponse res;
  res.result(0u);
  auto req = MakeRequest(method, target, headers, std::move(body));
  beast::error_code ec = client.Connect();
  if (!ec) ec = client.Send(req);
  if (!ec) ec = client.Read(&res);
  if (ec_out != nullptr) *ec_out = ec;
  return res;
}

// One request on a fresh connection. On a transport error, res.result() stays 0 and the error
// is returned in *ec_out when given.
inline HttpResponse Fetch(uint16_t port, http::verb method, std::string_view target,
                          const std::vector<std::pair<std::string, std::string>>& headers = {},
                          std::string body = "", beast::error_code* ec_out = nullptr) {
  TestClient client(port);
  HttpResponse res;
  res.result(0u);
  auto req = MakeRequest(method, target, headers, std::move(body));
  beast::error_code ec = client.Connect();
  if (!ec) ec = client.Send(req);
  if (!ec) ec = client.Read(&res);
  if (ec_out != nullptr) *ec_out = ec;
  return res;
}

inline HttpResponse Get(uint16_t port, std::string_view target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  return Fetch(port, http::verb::get, target, headers);
}

}  // namespace vigil::api::testing

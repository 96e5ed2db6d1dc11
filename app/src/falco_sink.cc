// The Falco alert sink: a bounded queue and one thread that POSTs each alert over a kept-alive
// HTTP(S) connection (Boost.Beast), reporting every alert's fate to the outbox relay.
#include "vigil/app/falco_sink.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "vigil/core/histogram.h"

namespace vigil::app {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl out;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("url '" + std::string(url) + "': " + why);
  };
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.tls = true;
  } else {
    return Status::InvalidArgument("url '" + std::string(url) +
                                   "' must start with http:// or https://");
  }
  rest = rest.substr(0, rest.find('#'));  // a fragment is never sent
  const size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  out.target = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    return bad("credentials in the URL are not supported");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '['");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after ']'");
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.find(':') != std::string_view::npos) {
        return bad("an IPv6 address must be written in brackets: http://[::1]:2801/");
      }
    }
  }
  if (out.host.empty()) return bad("no host");
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    unsigned long n = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || port.size() > 5) return bad("bad port '" + std::string(port) + "'");
      n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    if (n < 1 || n > 65535) return bad("bad port '" + std::string(port) + "'");
    out.port = std::string(port);
  }
  return out;
}

struct FalcoSink::Impl {
  net::io_context ioc;
  std::optional<ssl::context> tls;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool connected = false;

  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Runs one asynchronous step to its end; the stream's expiry bounds it.
  template <typename Start>
  beast::error_code Step(Start start) {
    beast::error_code result = net::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void Close() {
    beast::error_code ignored;
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    if (plain) plain->socket().close(ignored);
    secure.reset();
    plain.reset();
    buffer.clear();
    connected = false;
  }
};

FalcoSink::FalcoSink(FalcoSinkOptions options, HttpUrl url)
    : options_(std::move(options)), url_(std::move(url)), impl_(std::make_unique<Impl>()) {}

Result<std::unique_ptr<FalcoSink>> FalcoSink::Create(FalcoSinkOptions options) {
  ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(options.url));
  if (options.max_queue == 0) options.max_queue = 1;
  std::unique_ptr<FalcoSink> sink(new FalcoSink(std::move(options), std::move(url)));
  if (sink->url_.tls) {
    auto& ctx = sink->impl_->tls.emplace(ssl::context::tls_client);
    beast::error_code ec;
    if (sink->options_.insecure_skip_verify) {
      ctx.set_verify_mode(ssl::verify_none);
    } else {
      ctx.set_verify_mode(ssl::verify_peer);
      if (sink->options_.ca_file.empty()) {
        ctx.set_default_verify_paths(ec);
      } else {
        ctx.load_verify_file(sink->options_.ca_file, ec);
      }
      if (ec) {
        return Status::InvalidArgument(
            "falco sink: cannot load CA certificates" +
            (sink->options_.ca_file.empty() ? std::string() : " from " + sink->options_.ca_file) +
            ": " + ec.message());
      }
    }
  }
  return sink;
}

FalcoSink::~FalcoSink() { Stop(); }

void FalcoSink::Start(DeliveredFn delivered) {
  if (thread_.joinable()) return;
  delivered_ = std::move(delivered);
  thread_ = std::thread([this] { Loop(); });
}

void FalcoSink::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<std::pair<uint64_t, std::string>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (const auto& [seq, body] : left) {
    if (delivered_) delivered_(seq, false);
  }
}

OutboxRelay::Publish FalcoSink::Publish(const OutboxEntry& entry) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return OutboxRelay::Publish::kBusy;
    if (queue_.size() >= options_.max_queue) return OutboxRelay::Publish::kBusy;
    queue_.emplace_back(entry.seq, entry.message.value);
  }
  cv_.notify_all();
  return OutboxRelay::Publish::kQueued;
}

void FalcoSink::RenderMetrics(std::string* out) const {
  size_t queued = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued = queue_.size();
  }
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t v) {
    AppendMetricHeader(name, type, help, out);
    out->append(name).append(" ").append(std::to_string(v)).append("\n");
  };
  metric("vigil_falco_sink_posted_total", "counter",
         "Falco alerts the endpoint accepted (2xx) and that left the outbox.", posted_.load());
  metric("vigil_falco_sink_failures_total", "counter",
         "Falco alert posts that failed (no answer or not 2xx); each is sent again.",
         failed_.load());
  metric("vigil_falco_sink_rejected_total", "counter",
         "Falco alerts the endpoint refused for good (4xx but 408/429), dropped.",
         rejected_.load());
  metric("vigil_falco_sink_queued", "gauge", "Falco alerts waiting to be posted.", queued);
}

namespace {

// What one POST came to.
struct PostResult {
  Status status;          // Ok for a 2xx
  bool answered = false;  // the endpoint sent a response (status says which)
  bool refused = false;   // a 4xx but 408/429: this alert will never be taken
  bool stale = false;     // a reused connection broke before any answer: try a fresh one
};

// One POST over the impl's connection (opened when needed). The error names what failed.
PostResult PostOnce(FalcoSink::Impl& impl, const HttpUrl& url, std::chrono::milliseconds timeout,
                    const std::string& body) {
  PostResult r;
  const bool reused = impl.connected;
  beast::error_code ec;
  if (!impl.connected) {
    tcp::resolver resolver(impl.ioc);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) {
      r.status = Status::Unavailable("resolving " + url.host + ": " + ec.message());
      return r;
    }
    if (url.tls) {
      impl.secure.emplace(impl.ioc, *impl.tls);
      beast::error_code not_ip;
      net::ip::make_address(url.host, not_ip);
      // SNI names a host; an IP literal is not sent (RFC 6066), it is still verified.
      if (not_ip && !SSL_set_tlsext_host_name(impl.secure->native_handle(), url.host.c_str())) {
        r.status = Status::Unavailable("TLS: cannot set the server name");
        return r;
      }
      impl.secure->set_verify_callback(ssl::host_name_verification(url.host));
    } else {
      impl.plain.emplace(impl.ioc);
    }
    impl.Lowest().expires_after(timeout);
    ec = impl.Step([&](auto handler) { impl.Lowest().async_connect(endpoints, handler); });
    if (ec) {
      r.status =
          Status::Unavailable("connecting to " + url.host + ":" + url.port + ": " + ec.message());
      return r;
    }
    if (url.tls) {
      ec = impl.Step(
          [&](auto handler) { impl.secure->async_handshake(ssl::stream_base::client, handler); });
      if (ec) {
        r.status = Status::Unavailable("TLS handshake with " + url.host + ": " + ec.message());
        return r;
      }
    }
    impl.connected = true;
  }
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  const bool default_port = url.port == (url.tls ? "443" : "80");
  const bool v6 = url.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + url.host + "]" : url.host;
  if (!default_port) host += ":" + url.port;
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "vigil");
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  impl.Lowest().expires_after(timeout);
  bool wrote = false;
  if (url.tls) {
    ec = impl.Step([&](auto handler) { http::async_write(*impl.secure, req, handler); });
    if (!ec) {
      wrote = true;
      ec = impl.Step(
          [&](auto handler) { http::async_read(*impl.secure, impl.buffer, parser, handler); });
    }
  } else {
    ec = impl.Step([&](auto handler) { http::async_write(*impl.plain, req, handler); });
    if (!ec) {
      wrote = true;
      ec = impl.Step(
          [&](auto handler) { http::async_read(*impl.plain, impl.buffer, parser, handler); });
    }
  }
  if (ec) {
    // A kept-alive connection the endpoint closed meanwhile fails at once (write error, or
    // end of stream / reset before any answer); a timeout is not that.
    const bool closed_by_peer = ec == http::error::end_of_stream || ec == net::error::eof ||
                                ec == net::error::connection_reset || ec == net::error::broken_pipe;
    r.stale =
        reused && (!wrote || closed_by_peer) && ec != beast::error::timeout && !parser.got_some();
    r.status = Status::Unavailable("posting to " + url.host + ": " + ec.message());
    return r;
  }
  r.answered = true;
  const auto& res = parser.get();
  if (!res.keep_alive()) impl.Close();
  const unsigned code = res.result_int();
  if (code < 200 || code >= 300) {
    std::string why = res.body().substr(0, 200);
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    r.refused = code >= 400 && code < 500 && code != 408 && code != 429;
    r.status = Status::Unavailable("the endpoint answered " + std::to_string(code) +
                                   (why.empty() ? "" : ": " + why));
  }
  return r;
}

}  // namespace

void FalcoSink::Loop() {
  pthread_setname_np(pthread_self(), "vigil-falco");
  std::string last_error;
  while (true) {
    std::pair<uint64_t, std::string> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) break;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    PostResult r = PostOnce(*impl_, url_, options_.timeout, item.second);
    if (r.stale) {
      impl_->Close();  // once more, on a fresh connection
      r = PostOnce(*impl_, url_, options_.timeout, item.second);
    }
    if (!r.answered) impl_->Close();
    const Status& s = r.status;
    if (r.refused) {
      rejected_.fetch_add(1);
      spdlog::error("falco sink: alert {} dropped, refused for good: {}", item.first, s.message());
    } else if (s.ok()) {
      posted_.fetch_add(1);
      if (!last_error.empty()) spdlog::info("falco sink: {} accepts alerts again", url_.host);
      last_error.clear();
    } else {
      failed_.fetch_add(1);
      if (s.message() != last_error) {
        spdlog::warn("falco sink: {} (the alert is kept and sent again)", s.message());
        last_error = s.message();
      }
    }
    if (delivered_) delivered_(item.first, s.ok() || r.refused);
  }
  impl_->Close();
}

}  // namespace vigil::app

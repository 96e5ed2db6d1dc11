// A falcosidekick-shaped HTTP receiver for tests, over real loopback HTTP (port 0).
//
// It takes what falcosidekick's input handler takes: POST with a JSON body that decodes to its
// FalcoPayload (output, priority, rule, time, output_fields, source, tags, hostname, uuid) and
// passes its check (a known priority, a rule, a time, output_fields not empty); anything else
// gets 400 "Please send a valid request body", as falcosidekick answers. CheckFalcoPayload says
// why a body would be refused. FailNext(n, status) makes the next n valid posts fail, to test
// delivery again after an outage.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "vigil/core/time_util.h"

namespace vigil::testing {

// "" when falcosidekick would accept `body` as a Falco alert, else why not.
inline std::string CheckFalcoPayload(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return "not JSON";
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return "not a JSON object";
  auto string_field = [&](const char* key, bool required, std::string_view* out) -> std::string {
    simdjson::dom::element e;
    if (obj[key].get(e) != simdjson::SUCCESS) return required ? std::string(key) + " missing" : "";
    if (e.get_string().get(*out) != simdjson::SUCCESS) return std::string(key) + " not a string";
    return "";
  };
  std::string_view output, priority, rule, time, source, hostname, uuid;
  for (auto [key, required, out] :
       {std::tuple{"output", false, &output}, std::tuple{"priority", true, &priority},
        std::tuple{"rule", true, &rule}, std::tuple{"time", true, &time},
        std::tuple{"source", false, &source}, std::tuple{"hostname", false, &hostname},
        std::tuple{"uuid", false, &uuid}}) {
    if (std::string why = string_field(key, required, out); !why.empty()) return why;
  }
  std::string p(priority);
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return std::tolower(c); });
  const char* known[] = {"emergency", "alert",         "critical", "error", "warning",
                         "notice",    "informational", "info",     "debug"};
  if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return p == k; })) {
    return "unknown priority '" + std::string(priority) + "'";
  }
  if (rule.empty()) return "empty rule";
  // Go's time.Time: RFC 3339 with up to nanoseconds.
  if (time.size() < 20 || time[10] != 'T' || !ParseTimestampMicros(time)) {
    return "time '" + std::string(time) + "' is not RFC 3339";
  }
  simdjson::dom::object fields;
  simdjson::dom::element fe;
  if (obj["output_fields"].get(fe) != simdjson::SUCCESS) return "output_fields missing";
  if (fe.get_object().get(fields) != simdjson::SUCCESS) return "output_fields not an object";
  if (fields.size() == 0) return "output_fields empty";
  for (auto kv : fields) {
    if (kv.value.is_object() || kv.value.is_array()) {
      return "output_fields." + std::string(kv.key) + " is not a scalar";
    }
  }
  simdjson::dom::element tags;
  if (obj["tags"].get(tags) == simdjson::SUCCESS) {
    simdjson::dom::array arr;
    if (tags.get_array().get(arr) != simdjson::SUCCESS) return "tags not an array";
    for (auto t : arr) {
      if (!t.is_string()) return "a tag is not a string";
    }
  }
  return "";
}

class FalcoReceiver {
 public:
  FalcoReceiver() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FalcoReceiver() {
    ioc_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/"; }

  // The next n valid posts are answered `status` instead of 200.
  void FailNext(int n, unsigned status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = n;
    fail_status_ = status;
  }
  std::vector<std::string> accepted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
  }
  std::vector<std::string> invalid() const {  // "why: body" of the 400s
    std::lock_guard<std::mutex> lock(mu_);
    return invalid_;
  }
  int failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }
  // Waits (bounded) until at least n posts were accepted.
  bool WaitForAccepted(size_t n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return accepted_.size() >= n; });
  }

 private:
  using tcp = boost::asio::ip::tcp;

  struct Session : std::enable_shared_from_this<Session> {
    Session(FalcoReceiver* r, tcp::socket s) : receiver(r), stream(std::move(s)) {}
    void Read() {
      req = {};
      boost::beast::http::async_read(
          stream, buffer, req, [self = shared_from_this()](boost::beast::error_code ec, size_t) {
            if (ec) return;
            self->Answer();
          });
    }
    void Answer() {
      namespace http = boost::beast::http;
      auto res = std::make_shared<http::response<http::string_body>>();
      res->version(11);
      res->keep_alive(req.keep_alive());
      res->result(receiver->Handle(req, &res->body()));
      res->prepare_payload();
      http::async_write(stream, *res,
                        [self = shared_from_this(), res](boost::beast::error_code ec, size_t) {
                          if (ec || !res->keep_alive()) return;
                          self->Read();
                        });
    }
    FalcoReceiver* receiver;
    boost::beast::tcp_stream stream;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
  };

  unsigned Handle(const boost::beast::http::request<boost::beast::http::string_body>& req,
                  std::string* body) {
    if (req.method() != boost::beast::http::verb::post) {
      *body = "Please send with post http method";
      return 405;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (std::string why = CheckFalcoPayload(req.body()); !why.empty()) {
      invalid_.push_back(why + ": " + req.body());
      *body = "Please send a valid request body";
      return 400;
    }
    if (fail_next_ > 0) {
      --fail_next_;
      ++failed_;
      *body = "unavailable";
      return fail_status_;
    }
    accepted_.push_back(req.body());
    cv_.notify_all();
    return 200;
  }

  void Accept() {
    acceptor_.async_accept([this](boost::beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<Session>(this, std::move(socket))->Read();
      Accept();
    });
  }

  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> accepted_;
  std::vector<std::string> invalid_;
  int failed_ = 0;
  int fail_next_ = 0;
  unsigned fail_status_ = 503;
};

}  // namespace vigil::testing

// webhook_load: a load generator for the apiserver audit webhook that can count what it sent.
//
// `webhook_load send` POSTs --requests distinct EventList bodies (--per-request events each,
// every event with a unique auditID) over --connections keep-alive connections, plain HTTP or
// TLS (--cacert, --cert/--key for mTLS), at an optional --rate of requests per second. Like the
// apiserver it retries: a 429 resends the same body after its Retry-After, a 5xx or a broken
// connection resends it after a short back-off (a restarted server gets it), until --give-up
// seconds have passed; each step (connect, handshake, write, read) times out after --timeout
// (30 s). It records each attempt's status and latency, prints one JSON object (accepted events/s,
// p50/p99/max latency of the 200s, attempts by status) and writes the acknowledged events (auditID
// TAB stage, one a line) to --acked, each batch once its 200 is read.
//
// `webhook_load check` opens a vigil RocksDB directory (after `vigil serve` has stopped) and
// counts how many acknowledged events are stored: an event the pipeline applied leaves its
// dedup key (cluster, auditID, stage) in the store's dedup column family (see bench/README.md
// for when that index is exact). Prints JSON; exits 1 when any acknowledged event is missing.
//
//   webhook_load send --url http://127.0.0.1:8080/v1/audit --token T --events audit.jsonl
//     --requests 50 --connections 4 --acked /tmp/acked.tsv
//   webhook_load check --db /tmp/vigil-db --cluster bench --acked /tmp/acked.tsv
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vigil/core/state_store.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "webhook_load: %s\n", msg.c_str());
  std::exit(2);
}

struct Args {
  std::string mode;
  std::string url, token, events, acked, cacert, cert, key, db, cluster, prefix = "wl";
  size_t requests = 100, per_request = 400;
  int connections = 8;
  double rate = 0;       // requests per second (0: as fast as the server answers)
  double give_up = 120;  // seconds after the start, stop retrying
  int timeout = 30;      // seconds per connect, handshake, write or read
  bool insecure = false;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  if (argc < 2) Die("usage: webhook_load send|check [options] (see the top of webhook_load.cc)");
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(k + " needs a value");
      return argv[++i];
    };
    if (k == "--url")
      a.url = value();
    else if (k == "--token")
      a.token = value();
    else if (k == "--events")
      a.events = value();
    else if (k == "--acked")
      a.acked = value();
    else if (k == "--cacert")
      a.cacert = value();
    else if (k == "--cert")
      a.cert = value();
    else if (k == "--key")
      a.key = value();
    else if (k == "--db")
      a.db = value();
    else if (k == "--cluster")
      a.cluster = value();
    else if (k == "--id-prefix")
      a.prefix = value();
    else if (k == "--requests")
      a.requests = std::stoul(value());
    else if (k == "--per-request")
      a.per_request = std::stoul(value());
    else if (k == "--connections")
      a.connections = std::stoi(value());
    else if (k == "--rate")
      a.rate = std::stod(value());
    else if (k == "--give-up")
      a.give_up = std::stod(value());
    else if (k == "--timeout")
      a.timeout = std::stoi(value());
    else if (k == "--insecure")
      a.insecure = true;
    else
      Die("unknown option " + k);
  }
  return a;
}

// ---- bodies ----

// The events the bodies are made of: JSON lines, each with "auditID":"..." (and "stage":"...").
class EventSource {
 public:
  explicit EventSource(const std::string& path) {
    if (!path.empty()) {
      std::ifstream in(path);
      if (!in) Die("cannot read " + path);
      for (std::string line; std::getline(in, line);) {
        if (line.find("\"auditID\":\"") != std::string::npos) lines_.push_back(std::move(line));
      }
      if (lines_.empty()) Die(path + " has no audit events");
    } else {
      // A synthesised Metadata-level list of pods by a user, ~600 bytes.
      lines_.push_back(
          R"j({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x",)j"
          R"j("stage":"ResponseComplete","requestURI":"/api/v1/namespaces/team-a/pods?limit=500",)j"
          R"j("verb":"list","user":{"username":"alice@example.com","groups":["system:authenticated",)j"
          R"j("team-a"]},"sourceIPs":["192.0.2.10"],"userAgent":"kubectl/v1.29.3 (linux/amd64)",)j"
          R"j("objectRef":{"resource":"pods","namespace":"team-a","apiVersion":"v1"},)j"
          R"j("responseStatus":{"metadata":{},"code":200},)j"
          R"j("requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z",)j"
          R"j("stageTimestamp":"2026-11-02T09:00:00.004000Z","annotations":)j"
          R"j({"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}})j");
    }
  }

  // The unique auditID of event j of request i.
  std::string AuditId(const std::string& prefix, size_t i, size_t j) const {
    return prefix + "-" + std::to_string(i) + "-" + std::to_string(j);
  }
  const std::string& Line(size_t i, size_t j, size_t per) const {
    return lines_[(i * per + j) % lines_.size()];
  }
  static std::string Stage(const std::string& line) {
    constexpr std::string_view kKey = "\"stage\":\"";
    size_t at = line.find(kKey);
    if (at == std::string::npos) return "ResponseComplete";
    at += kKey.size();
    return line.substr(at, line.find('"', at) - at);
  }

  // Request i's EventList body; its events' (auditID, stage) appended to *ids when not null.
  std::string Body(const std::string& prefix, size_t i, size_t per,
                   std::vector<std::pair<std::string, std::string>>* ids) const {
    std::string body = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
    constexpr std::string_view kKey = "\"auditID\":\"";
    for (size_t j = 0; j < per; ++j) {
      const std::string& line = Line(i, j, per);
      const size_t at = line.find(kKey) + kKey.size();
      const size_t end = line.find('"', at);
      const std::string id = AuditId(prefix, i, j);
      if (j > 0) body.push_back(',');
      body.append(line, 0, at).append(id).append(line, end, std::string::npos);
      if (ids != nullptr) ids->emplace_back(id, Stage(line));
    }
    return body + "]}";
  }

 private:
  std::vector<std::string> lines_;
};

// ---- connections ----

struct Url {
  bool tls = false;
  std::string host, port, target;
};

Url ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    Die("--url must start with http:// or https://");
  }
  const size_t slash = rest.find('/');
  u.target = slash == std::string::npos ? "/v1/audit" : rest.substr(slash);
  const std::string authority = rest.substr(0, slash);
  const size_t colon = authority.rfind(':');
  u.host = authority.substr(0, colon);
  u.port = colon == std::string::npos ? (u.tls ? "443" : "80") : authority.substr(colon + 1);
  return u;
}

// One keep-alive connection, plain or TLS; reconnects on demand. Every step (connect,
// handshake, write, read) has a deadline, so a server that stops answering fails the attempt
// instead of hanging the generator.
class Connection {
 public:
  Connection(const Url& url, ssl::context* tls, std::chrono::seconds timeout)
      : url_(url), tls_(tls), timeout_(timeout) {}

  // Sends req and reads the answer; false (and the connection dropped) on any transport error.
  bool RoundTrip(const http::request<http::string_body>& req,
                 http::response<http::string_body>* res) {
    beast::error_code ec;
    if (!connected_ && !Connect(&ec)) return false;
    res->clear();
    res->body().clear();
    Tcp().expires_after(timeout_);
    if (tls_ != nullptr) {
      Run([&](auto done) { http::async_write(*tls_stream_, req, done); }, &ec);
      if (!ec) Run([&](auto done) { http::async_read(*tls_stream_, buffer_, *res, done); }, &ec);
    } else {
      Run([&](auto done) { http::async_write(*plain_, req, done); }, &ec);
      if (!ec) Run([&](auto done) { http::async_read(*plain_, buffer_, *res, done); }, &ec);
    }
    if (ec) {
      Drop();
      return false;
    }
    if (!res->keep_alive()) Drop();
    return true;
  }

 private:
  // Runs one asynchronous operation to completion on this connection's io_context.
  template <class Op>
  void Run(Op op, beast::error_code* ec) {
    io_.restart();
    op([ec](beast::error_code e, auto&&...) { *ec = e; });
    io_.run();
  }
  beast::tcp_stream& Tcp() { return tls_ != nullptr ? tls_stream_->next_layer() : *plain_; }

  bool Connect(beast::error_code* ec) {
    buffer_.clear();
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(url_.host, url_.port, *ec);
    if (*ec) return false;
    if (tls_ != nullptr) {
      tls_stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, *tls_);
      SSL_set_tlsext_host_name(tls_stream_->native_handle(), url_.host.c_str());
      tls_stream_->set_verify_callback(ssl::host_name_verification(url_.host));
    } else {
      plain_ = std::make_unique<beast::tcp_stream>(io_);
    }
    Tcp().expires_after(timeout_);
    Run([&](auto done) { Tcp().async_connect(endpoints, done); }, ec);
    if (!*ec && tls_ != nullptr) {
      Run([&](auto done) { tls_stream_->async_handshake(ssl::stream_base::client, done); }, ec);
    }
    if (*ec) {
      Drop();
      return false;
    }
    Tcp().socket().set_option(tcp::no_delay(true), *ec);
    connected_ = true;
    return true;
  }
  void Drop() {
    connected_ = false;
    tls_stream_.reset();
    plain_.reset();
  }

  const Url& url_;
  ssl::context* tls_;
  const std::chrono::seconds timeout_;
  net::io_context io_;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

// ---- the run ----

// Which request to send next: fresh ones in order, paced by --rate, and retries once due.
class Schedule {
 public:
  Schedule(size_t requests, double rate, Clock::time_point start, Clock::time_point give_up)
      : requests_(requests), rate_(rate), start_(start), give_up_(give_up) {}

  // The next request to send and when; nullopt once everything is acknowledged or given up.
  std::optional<std::pair<size_t, Clock::time_point>> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (done_ == requests_ || Clock::now() > give_up_) return std::nullopt;
      if (!retries_.empty()) {
        auto first = std::min_element(retries_.begin(), retries_.end(),
                                      [](auto& a, auto& b) { return a.second < b.second; });
        if (first->second <= Clock::now() || next_ == requests_) {
          auto r = *first;
          retries_.erase(first);
          return r;
        }
      }
      if (next_ < requests_) {
        const size_t i = next_++;
        const Clock::time_point due = rate_ > 0
                                          ? start_ + std::chrono::duration_cast<Clock::duration>(
                                                         std::chrono::duration<double>(i / rate_))
                                          : Clock::now();
        return std::make_pair(i, due);
      }
      // Only retries in flight or waiting: wait for one to be queued or finish.
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  void Retry(size_t i, Clock::time_point at) {
    std::lock_guard<std::mutex> lock(mu_);
    retries_.emplace_back(i, at);
    cv_.notify_all();
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const size_t requests_;
  const double rate_;
  const Clock::time_point start_, give_up_;
  size_t next_ = 0, done_ = 0;                                 // guarded by mu_
  std::vector<std::pair<size_t, Clock::time_point>> retries_;  // guarded by mu_
};

struct Results {
  std::mutex mu;
  std::map<std::string, uint64_t> by_status;  // "200", "429", "connection_error", ...
  std::vector<double> ok_ms;                  // latency of each 200
  uint64_t acked_requests = 0, acked_events = 0, body_bytes = 0;
  Clock::time_point last_ack;
  std::ofstream acked;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t at = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - 1);
  return v[at];
}

int Send(const Args& a) {
  if (a.url.empty()) Die("send needs --url");
  const Url url = ParseUrl(a.url);
  std::unique_ptr<ssl::context> tls;
  if (url.tls) {
    tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    tls->set_options(ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (a.insecure) {
      tls->set_verify_mode(ssl::verify_none);
    } else {
      tls->set_verify_mode(ssl::verify_peer);
      if (!a.cacert.empty()) {
        tls->load_verify_file(a.cacert);
      } else {
        tls->set_default_verify_paths();
      }
    }
    if (!a.cert.empty()) {
      tls->use_certificate_chain_file(a.cert);
      tls->use_private_key_file(a.key.empty() ? a.cert : a.key, ssl::context::pem);
    }
  } else if (!a.cacert.empty() || !a.cert.empty()) {
    Die("--cacert/--cert need an https:// --url");
  }
  const EventSource events(a.events);
  Results results;
  if (!a.acked.empty()) {
    results.acked.open(a.acked, std::ios::trunc);
    if (!results.acked) Die("cannot write " + a.acked);
  }
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.give_up));
  Schedule schedule(a.requests, a.rate, start, give_up);

  auto worker = [&] {
    Connection conn(url, tls.get(), std::chrono::seconds(a.timeout));
    http::request<http::string_body> req{http::verb::post, url.target, 11};
    req.set(http::field::host, url.host);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "webhook_load");
    if (!a.token.empty()) req.set(http::field::authorization, "Bearer " + a.token);
    http::response<http::string_body> res;
    std::vector<std::pair<std::string, std::string>> ids;
    while (auto next = schedule.Next()) {
      const auto [i, due] = *next;
      std::this_thread::sleep_until(due);  // pacing, not waiting for a condition
      ids.clear();
      req.body() = events.Body(a.prefix, i, a.per_request, &ids);
      req.prepare_payload();
      const Clock::time_point sent = Clock::now();
      const bool answered = conn.RoundTrip(req, &res);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
      const unsigned status = answered ? res.result_int() : 0;
      {
        std::lock_guard<std::mutex> lock(results.mu);
        ++results.by_status[answered ? std::to_string(status) : "connection_error"];
        if (status == 200) {
          results.ok_ms.push_back(ms);
          ++results.acked_requests;
          results.acked_events += ids.size();
          results.body_bytes += req.body().size();
          results.last_ack = Clock::now();
          if (results.acked.is_open()) {
            for (const auto& [id, stage] : ids) results.acked << id << '\t' << stage << '\n';
            results.acked.flush();
          }
        }
      }
      if (status == 200) {
        schedule.Done();
      } else if (status == 429 || status == 503 || status == 0 || status >= 500) {
        // As the apiserver: back off and send the same batch again.
        double after = 0.2;
        if (answered) {
          const auto h = res.find(http::field::retry_after);
          if (h != res.end()) after = std::max(0.0, std::atof(std::string(h->value()).c_str()));
        }
        schedule.Retry(i, Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(after)));
      } else {
        std::fprintf(stderr, "webhook_load: request %zu refused with %u: %s\n", i, status,
                     res.body().substr(0, 300).c_str());
        schedule.Done();  // a 4xx other than 429 will not change on retry
      }
    }
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < std::max(1, a.connections); ++c) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  const double secs = results.acked_requests > 0
                          ? std::chrono::duration<double>(results.last_ack - start).count()
                          : std::chrono::duration<double>(Clock::now() - start).count();
  std::string statuses;
  for (const auto& [k, v] : results.by_status) {
    statuses += (statuses.empty() ? "" : ",") + ("\"" + k + "\":" + std::to_string(v));
  }
  std::printf(
      "{\"requests\":%zu,\"per_request\":%zu,\"connections\":%d,\"rate\":%g,\"tls\":%s,"
      "\"acked_requests\":%llu,\"acked_events\":%llu,\"seconds\":%.3f,\"events_per_s\":%.0f,"
      "\"mb_per_s\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"by_status\":{%s}}\n",
      a.requests, a.per_request, a.connections, a.rate, url.tls ? "true" : "false",
      static_cast<unsigned long long>(results.acked_requests),
      static_cast<unsigned long long>(results.acked_events), secs,
      secs > 0 ? results.acked_events / secs : 0.0,
      secs > 0 ? results.body_bytes / secs / 1e6 : 0.0, Percentile(results.ok_ms, 0.50),
      Percentile(results.ok_ms, 0.99),
      results.ok_ms.empty() ? 0.0 : *std::max_element(results.ok_ms.begin(), results.ok_ms.end()),
      statuses.c_str());
  return results.acked_requests == a.requests ? 0 : 1;
}

int Check(const Args& a) {
  if (a.db.empty() || a.acked.empty() || a.cluster.empty()) {
    Die("check needs --db, --cluster and --acked");
  }
  auto db = vigil::store::RocksDbFindingStore::Open(a.db);
  if (!db.ok()) Die("open " + a.db + ": " + db.status().ToString());
  std::ifstream in(a.acked);
  if (!in) Die("cannot read " + a.acked);
  uint64_t acked = 0, stored = 0;
  std::string first_missing;
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    if (line.empty() || tab == std::string::npos) continue;
    ++acked;
    const std::string key = vigil::MakeDedupKey(a.cluster, std::string_view(line).substr(0, tab),
                                                std::string_view(line).substr(tab + 1));
    auto seen = (*db)->ContainsEvent(key);
    if (!seen.ok()) Die("read the dedup set: " + seen.status().ToString());
    if (*seen) {
      ++stored;
    } else if (first_missing.empty()) {
      first_missing = line.substr(0, tab);
    }
  }
  const vigil::JournalStats journal = (*db)->journal_stats();
  std::printf(
      "{\"acknowledged\":%llu,\"stored\":%llu,\"lost\":%llu,\"journal_entries_left\":%llu,"
      "\"first_missing\":\"%s\"}\n",
      static_cast<unsigned long long>(acked), static_cast<unsigned long long>(stored),
      static_cast<unsigned long long>(acked - stored),
      static_cast<unsigned long long>(journal.entries), first_missing.c_str());
  return acked == stored ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = ParseArgs(argc, argv);
  try {
    if (a.mode == "send") return Send(a);
    if (a.mode == "check") return Check(a);
  } catch (const std::exception& e) {
    Die(e.what());
  }
  Die("the mode is send or check");
}

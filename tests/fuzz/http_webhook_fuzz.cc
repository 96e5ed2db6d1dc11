// libFuzzer target over the bytes an apiserver (or anyone) sends to the webhook: they go, as
// they would arrive on one connection, through Beast's request parser with the server's limits
// (the Session's own steps, session.h), and every request parsed is dispatched through the
// server's authentication and Router to the real webhook handlers over a bounded in-memory
// journal. Besides not crashing, each answer must keep the webhook's promises (checked below,
// trap on violation): a 200 journaled exactly the events it reported, and the pipeline will
// decode exactly that many from the journaled body; a refusal journaled nothing; errors are
// {"error":...,"code":...}; the backlog limit holds.
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DVIGIL_BUILD_FUZZ=ON
//         -DVIGIL_SANITIZE=address,undefined -DVIGIL_BUILD_BENCH=OFF
//   cmake --build build/fuzz --target http_webhook_fuzz
//   VIGIL_FUZZ_SEEDS=/tmp/hw build/fuzz/tests/fuzz/http_webhook_fuzz_regression_test
//   build/fuzz/tests/fuzz/http_webhook_fuzz /tmp/hw-corpus /tmp/hw
//
// Input: byte 0 is a control byte (see Control), byte 1 where the rest is cut in two (as two
// network reads), then the bytes of the connection.
#include "http_webhook_fuzz.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "../test_gzip.h"
#include "server_state.h"
#include "session.h"
#include "vigil/api/webhook.h"
#include "vigil/ingest/envelope.h"

namespace vigil::fuzz {

namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

// A broken promise: crash loudly where libFuzzer (or the regression test) sees it.
#define VIGIL_FUZZ_CHECK(cond)                                                      \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      fprintf(stderr, "http_webhook_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                             \
    }                                                                               \
  } while (0)

// A bounded IngestJournal in memory. It holds at most kHardBytes: the webhook may exceed the
// backlog limit by one body at most (it checks before appending), so more is a bug.
class MemoryJournal final : public IngestJournal {
 public:
  static constexpr uint64_t kHardBytes = kFuzzBacklogBytes + kFuzzMaxInflatedBytes;

  void Reset(bool fail, bool full) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.clear();
    bytes_ = 0;
    fail_ = fail;
    if (full) {  // a backlog already over the limit
      entries_.push_back({0, {"prod-eu", std::string(kFuzzBacklogBytes + 1, 'x'), 0}});
      bytes_ = kFuzzBacklogBytes + 1;
    }
  }
  Result<uint64_t> AppendJournal(JournalRecord record) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_) return Status::IoError("injected journal failure");
    bytes_ += record.body.size();
    VIGIL_FUZZ_CHECK(bytes_ <= kHardBytes);
    const uint64_t seq = entries_.size();
    entries_.push_back({seq, std::move(record)});
    return seq;
  }
  Result<std::vector<JournalEntry>> ReadJournal(uint64_t from, size_t limit,
                                                size_t /*max_bytes*/) const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<JournalEntry> out;
    for (uint64_t i = from; i < entries_.size() && out.size() < limit; ++i) {
      out.push_back(entries_[i]);
    }
    return out;
  }
  bool WaitJournal(uint64_t from, std::chrono::milliseconds) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return from < entries_.size();
  }
  Status TrimJournal(uint64_t) override { return Status::Ok(); }
  Status ReserveJournal(uint64_t) override { return Status::Ok(); }
  JournalStats journal_stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    JournalStats s;
    s.entries = entries_.size();
    s.bytes = bytes_;
    s.next_seq = entries_.size();
    s.appends = entries_.size();
    return s;
  }
  const JournalEntry& back() const { return entries_.back(); }

 private:
  mutable std::mutex mu_;
  std::vector<JournalEntry> entries_;
  uint64_t bytes_ = 0;
  bool fail_ = false;
};

// The control byte.
struct Control {
  explicit Control(uint8_t b)
      : auth(b & 3), gzip(b & 4), full(b & 8), fail(b & 16), bad_gzip(b & 32) {}
  // 0: the Authorization header as sent; 1: prod-eu's token; 2: dev's token; 3: an unknown one.
  int auth;
  bool gzip;      // the body gzip-compressed, with Content-Encoding: gzip
  bool full;      // the backlog is already over its limit (429 expected)
  bool fail;      // journal appends fail (503 expected)
  bool bad_gzip;  // with gzip: the compressed body cut short (400 expected)
};

struct Harness {
  Harness() : state(Options()), decoder(DecoderOptions()) {
    spdlog::set_level(spdlog::level::off);  // the webhook warns on each refused credential
    webhook.max_body_bytes = kFuzzMaxBodyBytes;
    webhook.max_inflated_bytes = kFuzzMaxInflatedBytes;
    webhook.max_backlog_bytes = kFuzzBacklogBytes;
    if (!api::CheckWebhookOptions(webhook).ok()) std::abort();
    api::RegisterWebhookHandlers(&journal, webhook, &counters, &state.router());
  }
  static api::ServerOptions Options() {
    api::ServerOptions o;
    o.max_header_bytes = kFuzzMaxHeaderBytes;
    o.max_body_bytes = 4 << 10;  // other routes
    // Two clusters' apiservers, and a reader whose token must not open the webhook.
    o.auth.credentials = {
        {"prod-eu-apiserver", api::Sha256Hex(kFuzzProdToken), {}, {"ingest:prod-eu"}},
        {"dev-apiserver", api::Sha256Hex(kFuzzDevToken), {}, {"ingest:dev"}},
        {"reader", api::Sha256Hex("api-token"), {}, {"read"}}};
    o.query_threads = o.ingest_threads = 1;  // idle: requests are dispatched inline here
    return o;
  }
  static ingest::EnvelopeOptions DecoderOptions() {
    ingest::EnvelopeOptions o;
    o.max_record_bytes = kFuzzMaxInflatedBytes;
    return o;
  }
  api::ServerState state;
  api::WebhookOptions webhook;
  api::WebhookCounters counters;
  MemoryJournal journal;
  ingest::EnvelopeDecoder decoder;
  simdjson::dom::parser json;
};

void RemoveHeader(api::Request* req, std::string_view name) {
  std::erase_if(req->headers, [&](const auto& h) {
    return h.first.size() == name.size() &&
           std::equal(name.begin(), name.end(), h.first.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
}

bool IsWebhookPath(std::string_view path) {
  if (path == "/v1/audit") return true;
  constexpr std::string_view kPrefix = "/v1/audit/";
  return path.starts_with(kPrefix) && path.size() > kPrefix.size() &&
         path.find('/', kPrefix.size()) == std::string_view::npos;
}

// {"error":"<string>","code":"<ErrorCodeFor(status)>"}, nothing else.
void CheckErrorBody(Harness& h, const api::Response& r) {
  simdjson::dom::object o;
  VIGIL_FUZZ_CHECK(h.json.parse(r.body).get_object().get(o) == simdjson::SUCCESS);
  VIGIL_FUZZ_CHECK(o.size() == 2);
  std::string_view error, code;
  VIGIL_FUZZ_CHECK(o["error"].get_string().get(error) == simdjson::SUCCESS && !error.empty());
  VIGIL_FUZZ_CHECK(o["code"].get_string().get(code) == simdjson::SUCCESS);
  VIGIL_FUZZ_CHECK(code == api::ErrorCodeFor(r.status));
}

bool HasHeader(const api::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name && !v.empty()) return true;
  }
  return false;
}

// One request as the Session would dispatch it, after the control byte's changes; checks the
// answer against the journal before and after.
void Dispatch(Harness& h, const Control& c, api::Request req) {
  const bool webhook = IsWebhookPath(req.path);
  // The credential: as sent, or one the control byte picks (the server checks it and fills the
  // principal and the cluster).
  std::string expect_cluster;  // the cluster the credential belongs to, when known here
  if (c.auth != 0) {
    RemoveHeader(&req, "Authorization");
    const char* token = c.auth == 1 ? kFuzzProdToken : c.auth == 2 ? kFuzzDevToken : "not-a-token";
    req.headers.emplace_back("Authorization", std::string("Bearer ") + token);
    expect_cluster = c.auth == 1 ? "prod-eu" : c.auth == 2 ? "dev" : "";
  }
  if (c.gzip) {
    RemoveHeader(&req, "Content-Encoding");
    req.headers.emplace_back("Content-Encoding", "gzip");
    std::string z = testing::Gzip(req.body, 1);
    if (c.bad_gzip) z.resize(z.size() / 2);
    req.body = std::move(z);
  }
  const std::string named =
      webhook && req.path.size() > 10 ? req.path.substr(10) : std::string();  // /v1/audit/{x}
  const JournalStats before = h.journal.journal_stats();

  const api::Response r = h.state.Dispatch(req);  // a handler that throws crashes the fuzzer

  const JournalStats after = h.journal.journal_stats();
  VIGIL_FUZZ_CHECK(r.content_type == "application/json");
  if (r.status != 200) {
    // A refusal stores nothing, and says why in the one error shape.
    VIGIL_FUZZ_CHECK(after.entries == before.entries && after.bytes == before.bytes);
    CheckErrorBody(h, r);
  }
  if (!webhook || req.method != "POST") {
    // No route: without a valid credential 401 (no path is told from another), with one 404
    // or 405. c.auth == 0 keeps the input's own Authorization header, valid or not.
    if (r.status == 401) {
      VIGIL_FUZZ_CHECK(c.auth != 1 && c.auth != 2);
      VIGIL_FUZZ_CHECK(HasHeader(r, "WWW-Authenticate"));
      return;
    }
    VIGIL_FUZZ_CHECK(c.auth != 3);
    VIGIL_FUZZ_CHECK(webhook ? r.status == 405 : r.status == 404 || r.status == 405);
    if (r.status == 405) VIGIL_FUZZ_CHECK(HasHeader(r, "Allow"));
    return;
  }
  switch (r.status) {
    case 200:
    case 400:
    case 403:
    case 413:
    case 415:
      break;
    case 401:
      VIGIL_FUZZ_CHECK(HasHeader(r, "WWW-Authenticate"));
      break;
    case 429:
      VIGIL_FUZZ_CHECK(HasHeader(r, "Retry-After") && c.full);
      break;
    case 503:
      VIGIL_FUZZ_CHECK(c.fail);
      break;
    default:
      VIGIL_FUZZ_CHECK(false && "unexpected status");
  }
  if (c.auth == 3) VIGIL_FUZZ_CHECK(r.status == 401);
  if (c.auth == 1 || c.auth == 2) {
    VIGIL_FUZZ_CHECK(r.status != 401);
    // 403 exactly when the path names another cluster than the credential's.
    VIGIL_FUZZ_CHECK((r.status == 403) == (!named.empty() && named != expect_cluster));
    if (r.status != 403) VIGIL_FUZZ_CHECK((r.status == 429) == c.full);
  }
  if (c.gzip && c.bad_gzip) VIGIL_FUZZ_CHECK(r.status != 200);
  if (r.status != 200) return;

  // 200 {"accepted":N}: N events journaled in one record (none when N is 0), with the
  // credential's cluster, and the pipeline decodes exactly N from it (delivered or dead-lettered,
  // none skipped).
  constexpr std::string_view kPrefix = "{\"accepted\":";
  VIGIL_FUZZ_CHECK(r.body.starts_with(kPrefix) && r.body.ends_with("}"));
  const std::string digits = r.body.substr(kPrefix.size(), r.body.size() - kPrefix.size() - 1);
  VIGIL_FUZZ_CHECK(!digits.empty() && digits.size() < 10 &&
                   digits.find_first_not_of("0123456789") == std::string::npos);
  const uint64_t accepted = std::stoull(digits);
  if (accepted == 0) {
    VIGIL_FUZZ_CHECK(after.entries == before.entries);
    return;
  }
  VIGIL_FUZZ_CHECK(after.entries == before.entries + 1);
  const JournalRecord& record = h.journal.back().record;
  VIGIL_FUZZ_CHECK(record.cluster == "prod-eu" || record.cluster == "dev");
  if (!expect_cluster.empty()) VIGIL_FUZZ_CHECK(record.cluster == expect_cluster);
  if (!named.empty()) VIGIL_FUZZ_CHECK(record.cluster == named);
  if (!c.gzip && req.Header("Content-Encoding").empty()) VIGIL_FUZZ_CHECK(record.body == req.body);
  VIGIL_FUZZ_CHECK(record.body.size() <= kFuzzMaxInflatedBytes);
  ingest::DecodeHints hints;
  hints.cluster = record.cluster;
  bool other_cluster = false;
  const ingest::DecodeResult d = h.decoder.Decode(
      record.body, [&](const AuditEvent& e) { other_cluster |= e.cluster != record.cluster; },
      hints);
  VIGIL_FUZZ_CHECK(!other_cluster);
  VIGIL_FUZZ_CHECK(d.skipped == 0);
  VIGIL_FUZZ_CHECK(uint64_t{d.events} + d.malformed == accepted);
}

// The connection's bytes through the Session's parsing steps: header (header limit), the
// route's body limit, body; pipelined requests one after another; an error answer closes.
class Connection {
 public:
  Connection(Harness& h, const Control& c) : h_(h), c_(c) {}

  // `eof`: the client has closed its side after these bytes.
  void Receive(std::string_view bytes, bool eof) {
    buffered_.append(bytes);
    while (!closed_ && requests_ < kMaxRequests) {
      if (!parser_) {
        parser_.emplace();
        api::LimitHeader(&*parser_, h_.state.options().max_header_bytes);
        parser_->eager(false);  // as http::async_read_header
        body_limit_ = h_.state.options().max_body_bytes;
      }
      beast::error_code ec;
      if (buffered_.empty()) {
        if (!eof) return;
        // What Beast's read does at the end of the stream.
        if (parser_->got_some()) {
          parser_->put_eof(ec);
        } else {
          ec = http::error::end_of_stream;
        }
        if (!ec && parser_->is_done()) {
          Complete();
          continue;
        }
        return Fail(ec ? ec : http::error::partial_message);
      }
      const size_t n = parser_->put(boost::asio::buffer(buffered_.data(), buffered_.size()), ec);
      buffered_.erase(0, n);
      if (ec == http::error::need_more) {
        if (!eof) return;
        ec = {};
        if (n == 0 && !buffered_.empty()) {
          parser_->put_eof(ec);
          return Fail(ec ? ec : http::error::partial_message);
        }
        continue;
      }
      if (ec) return Fail(ec);
      if (parser_->is_header_done() && !header_seen_) {
        header_seen_ = true;
        const auto& hd = parser_->get();
        std::string_view target(hd.target().data(), hd.target().size());
        target = target.substr(0, target.find('?'));
        body_limit_ = h_.state.BodyLimit(
            std::string_view(hd.method_string().data(), hd.method_string().size()), target);
        if (beast::error_code too_big = api::LimitBody(&*parser_, body_limit_)) {
          return Fail(too_big);
        }
        parser_->eager(true);  // as http::async_read
      }
      if (parser_->is_done()) Complete();
    }
  }

 private:
  static constexpr int kMaxRequests = 64;

  void Complete() {
    ++requests_;
    const bool keep_alive = parser_->get().keep_alive();
    api::Request req;
    if (std::optional<api::Response> bad = api::MakeRequest(&*parser_, &req)) {
      VIGIL_FUZZ_CHECK(bad->status == 400);
      CheckErrorBody(h_, *bad);
    } else {
      Dispatch(h_, c_, std::move(req));
    }
    parser_.reset();
    header_seen_ = false;
    if (!keep_alive) closed_ = true;
  }

  void Fail(beast::error_code ec) {
    closed_ = true;
    std::optional<api::Response> r =
        api::ReadErrorResponse(ec, body_limit_, h_.state.options().max_header_bytes);
    if (!r) return;
    VIGIL_FUZZ_CHECK(r->status == 400 || r->status == 413 || r->status == 431);
    CheckErrorBody(h_, *r);
  }

  Harness& h_;
  const Control& c_;
  std::string buffered_;  // received, not yet consumed by the parser
  std::optional<api::RequestParser> parser_;
  bool header_seen_ = false;
  size_t body_limit_ = 0;
  bool closed_ = false;
  int requests_ = 0;
};

}  // namespace

}  // namespace vigil::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vigil::fuzz;
  static Harness* harness = new Harness();  // built once, never freed (as the process lives)
  const Control control(size > 0 ? data[0] : 0);
  const size_t cut_byte = size > 1 ? data[1] : 0;
  const std::string_view rest =
      size > 2 ? std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2)
               : std::string_view();
  const size_t cut = cut_byte * rest.size() / 256;
  harness->journal.Reset(control.fail, control.full);
  Connection conn(*harness, control);
  conn.Receive(rest.substr(0, cut), false);
  conn.Receive(rest.substr(cut), true);
  return 0;
}

// The HTTP webhook fuzz target (http_webhook_fuzz.cc) run in CI with any compiler: seeds that
// reach every answer of the webhook (valid EventLists, gzip, chunked bodies, pipelined requests,
// a huge Content-Length, bad methods, wrong credentials, a full backlog, a failing journal) and
// deterministic mutations of them. The target traps on a broken promise; ASan/UBSan on a bad
// read. VIGIL_FUZZ_SEEDS=<dir> also writes the seeds there, as a corpus for the libFuzzer binary.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../test_gzip.h"
#include "fuzz_driver.h"
#include "http_webhook_fuzz.h"

namespace vigil::fuzz {
namespace {

using vigil::testing::Gzip;

std::string Event(const std::string& id) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")" + id +
         R"(","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list",)"
         R"("user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["203.0.113.7"],)"
         R"("objectRef":{"resource":"pods","namespace":"default"},"responseStatus":{"code":200},)"
         R"("requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z",)"
         R"("stageTimestamp":"2026-11-02T09:00:00.100000Z"})";
}

std::string EventList(int n, const std::string& prefix) {
  std::string out = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + Event(prefix + std::to_string(i));
  return out + "]}";
}

// A control byte, a cut, then the bytes of one connection.
std::string Input(uint8_t control, uint8_t cut, const std::string& bytes) {
  return std::string(1, static_cast<char>(control)) + static_cast<char>(cut) + bytes;
}

std::string Post(const std::string& target, const std::string& body, const std::string& token,
                 const std::string& extra = "") {
  std::string r =
      "POST " + target + " HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  return r + extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string Chunked(const std::string& target, const std::string& body, const std::string& token) {
  std::string r = "POST " + target + " HTTP/1.1\r\nHost: vigil\r\nAuthorization: Bearer " + token +
                  "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < body.size(); at += 700) {
    const std::string part = body.substr(at, 700);
    char size[16];
    snprintf(size, sizeof size, "%zx", part.size());
    r += std::string(size) + ";ext=1\r\n" + part + "\r\n";
  }
  return r + "0\r\n\r\n";
}

std::vector<std::string> Seeds() {
  const std::string prod = kFuzzProdToken, dev = kFuzzDevToken;
  const std::string list = EventList(3, "s");
  const std::string one = Event("one");
  std::vector<std::string> s = {
      Input(kAuthAsSent, 0, Post("/v1/audit", list, prod)),
      Input(kAuthAsSent, 128, Post("/v1/audit/prod-eu", list, prod)),
      Input(kAuthAsSent, 7, Post("/v1/audit/dev", "[" + one + "," + Event("two") + "]", dev)),
      Input(kAuthAsSent, 0, Post("/v1/audit", one, prod)),
      Input(kAuthAsSent, 0, Post("/v1/audit", Gzip(list), prod, "Content-Encoding: gzip\r\n")),
      Input(kAuthAsSent, 0, Post("/v1/audit", list, prod, "Content-Encoding: br\r\n")),
      Input(kAuthProd | kGzipBody, 0, Post("/v1/audit", list, "")),
      Input(kAuthDev | kGzipBody | kGzipCut, 0, Post("/v1/audit/dev", list, "")),
      Input(kAuthAsSent, 200, Chunked("/v1/audit", list, prod)),
      // Pipelined: three requests in one read, the last one closing.
      Input(kAuthAsSent, 0,
            Post("/v1/audit", list, prod) + Post("/v1/audit/prod-eu", one, prod) +
                Post("/v1/audit", EventList(1, "p"), prod, "Connection: close\r\n")),
      // A Content-Length far over the limit, with no body following.
      Input(kAuthAsSent, 0,
            "POST /v1/audit HTTP/1.1\r\nAuthorization: Bearer " + prod +
                "\r\nContent-Length: 99999999999\r\n\r\n{"),
      Input(kAuthAsSent, 0, "GET /v1/audit HTTP/1.1\r\nHost: x\r\n\r\n"),
      Input(kAuthAsSent, 0, "DELETE /v1/audit/prod-eu HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
      Input(kAuthAsSent, 0, "BREW /v1/audit HTTP/1.1\r\n\r\n"),
      Input(kAuthAsSent, 0, "POST /v1/audit HTTP/9.9\r\n\r\n"),
      Input(kAuthAsSent, 0, "GET /v1/findings?x=%zz HTTP/1.1\r\n\r\n"),
      Input(kAuthAsSent, 0, "GET /healthz HTTP/1.0\r\n\r\n"),
      Input(kAuthAsSent, 0, Post("/v1/audit/dev", list, prod)),  // another cluster: 403
      Input(kAuthUnknown, 0, Post("/v1/audit", list, "")),
      Input(kAuthAsSent, 0, Post("/v1/audit", list, "api-token")),
      Input(kAuthProd | kBacklogFull, 0, Post("/v1/audit", list, "")),
      Input(kAuthProd | kJournalFails, 0, Post("/v1/audit", list, "")),
      Input(kAuthProd, 0, Post("/v1/audit", R"({"kind":"EventList","items":[]})", "")),
      Input(kAuthProd, 0, Post("/v1/audit", R"({"kind":"EventList","items":[{"x":1}]})", "")),
      Input(kAuthProd, 0,
            Post("/v1/audit", R"({"apiVersion":"v1","kind":"Event","auditID":"a"})", "")),
      Input(kAuthProd, 0, "POST /v1/audit HTTP/1.1\r\nX: " + std::string(3000, 'h') + "\r\n\r\n"),
      // A gzip bomb: small on the wire, over the inflated limit.
      Input(kAuthAsSent, 0,
            Post("/v1/audit", Gzip(std::string(70000, ' ') + one), prod,
                 "Content-Encoding: gzip\r\n")),
  };
  return s;
}

TEST(HttpWebhookFuzzRegressionTest, SeedsAndTheirMutationsKeepTheWebhooksPromises) {
  const std::vector<std::string> seeds = Seeds();
  WriteSeeds(seeds, "http");
  for (const std::string& s : seeds) EXPECT_EQ(Feed(s), 0);
  // HTTP's structural bytes; the control byte and the cut are kept half of the time.
  Mutate(seeds, 6000, 2027, std::string_view("\r\n: ;{}[]\",0123456789aF\x00\xff", 25),
         "\r\n 0{[\"", 2);
}

}  // namespace
}  // namespace vigil::fuzz

// The fuzz target (audit_input_fuzz.cc) run in CI with any compiler: realistic seeds (every
// envelope, both framings, and the corpus' sample events when present) and thousands of
// deterministic mutations of them (truncations, byte flips, splices, repeated brackets). Under
// ASan/UBSan a crash or an out-of-bounds read fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_driver.h"

namespace {

using vigil::fuzz::Feed;

// Realistic records in every framing and envelope Vigil reads.
std::vector<std::string> BuiltinSeeds() {
  const std::string event =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"create","user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["203.0.113.7"],"userAgent":"kubectl/v1.29.3","objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":{"kind":"Pod","metadata":{"name":"web"},"spec":{"hostPID":true,"containers":[{"name":"c","image":"busybox","securityContext":{"privileged":true}}],"volumes":[{"name":"h","hostPath":{"path":"/"}}]}},"requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z","stageTimestamp":"2026-11-02T09:00:00.100000Z"})";
  std::string escaped;
  for (char c : event) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  std::vector<std::string> seeds = {
      event + "\n" + event + "\n",
      "[" + event + "," + event + "]",
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)" + event + "]}",
      R"({"message":")" + escaped + R"(","timestamp":1}")" + "\n",
      R"({"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":")" +
          escaped + R"("}]})",
      R"({"records":[{"category":"kube-audit","properties":{"log":")" + escaped + R"("}}]})",
      R"({"records":[{"category":"kube-audit","properties":{"log":)" + event + "}}]}",
      R"({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"io.k8s.core.v1.pods.create","resourceName":"core/v1/namespaces/default/pods/web","authenticationInfo":{"principalEmail":"alice@example.com"},"requestMetadata":{"callerIp":"203.0.113.7"},"status":{}},"insertId":"x","timestamp":"2026-11-02T09:00:00Z","resource":{"labels":{"cluster_name":"c"}}})",
      "{\n  \"kind\": \"Event\",\n  \"auditID\": \"p\"\n}\n" + event,
  };
  return seeds;
}

// The corpus' sample files, when the corpus is beside the repository.
std::vector<std::string> CorpusSeeds() {
  std::vector<std::string> seeds;
  const char* corpus = std::getenv("VIGIL_CORPUS");
  std::filesystem::path dir =
      corpus ? std::filesystem::path(corpus)
             : std::filesystem::path(VIGIL_SOURCE_DIR) / ".." / "shared" / "corpus";
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string ext = it->path().extension().string();
    if ((ext != ".json" && ext != ".jsonl" && ext != ".log") || !it->is_regular_file(ec)) continue;
    if (it->file_size(ec) > (256u << 10)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    seeds.push_back(text.str());
    if (seeds.size() >= 50) break;
  }
  return seeds;
}

// The mutations of fuzz_driver.h with JSON's structural bytes (NUL, 0xff and a UTF-8 lead byte
// included: written as a C string, as before, they were cut off at the NUL).
void Mutate(const std::vector<std::string>& seeds, int n, uint32_t seed) {
  vigil::fuzz::Mutate(seeds, n, seed, std::string_view("{}[]\":,\\\n \x00\xff\xc3", 14), "{[\"");
}

TEST(FuzzRegressionTest, SeedsAndTheirMutationsNeverCrash) {
  // The built-in seeds first, with the same mutations whether or not the corpus is present
  // (the first of them found a read through an abandoned simdjson document in AKS records).
  const std::vector<std::string> seeds = BuiltinSeeds();
  vigil::fuzz::WriteSeeds(seeds, "audit");
  for (const std::string& s : seeds) EXPECT_EQ(Feed(s), 0);
  Mutate(seeds, 20000, 2026);
  const std::vector<std::string> corpus = CorpusSeeds();
  if (corpus.empty()) return;  // no corpus beside the repository: the built-in seeds only
  for (const std::string& s : corpus) EXPECT_EQ(Feed(s), 0);
  Mutate(corpus, 5000, 7);
}

}  // namespace

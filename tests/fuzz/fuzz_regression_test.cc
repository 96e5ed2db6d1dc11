// The fuzz target (audit_input_fuzz.cc) run in CI with any compiler: realistic seeds (every
// envelope, both framings, and the corpus' sample events when present) and thousands of
// deterministic mutations of them (truncations, byte flips, splices, repeated brackets). Under
// ASan/UBSan a crash or an out-of-bounds read fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int Feed(const std::string& s) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

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

// `n` deterministic mutations of `seeds`, each fed to the target.
void Mutate(const std::vector<std::string>& seeds, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::string specials = "{}[]\":,\\\n \x00\xff\xc3";
  size_t runs = 0;
  for (int i = 0; i < n; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    switch (rng() % 5) {
      case 0:  // truncate
        s.resize(s.empty() ? 0 : rng() % s.size());
        break;
      case 1:  // flip bytes
        for (int k = 0; k < 4 && !s.empty(); ++k)
          s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 2:  // overwrite with structural or odd bytes
        for (int k = 0; k < 6 && !s.empty(); ++k) {
          s[rng() % s.size()] = specials[rng() % specials.size()];
        }
        break;
      case 3: {  // splice two seeds
        const std::string& t = seeds[rng() % seeds.size()];
        if (!s.empty() && !t.empty())
          s = s.substr(0, rng() % s.size()) + t.substr(rng() % t.size());
        break;
      }
      default:  // deep or long runs
        s.insert(s.empty() ? 0 : rng() % s.size(), std::string(1 + rng() % 300, "{[\""[rng() % 3]));
        break;
    }
    EXPECT_EQ(Feed(s), 0);
    ++runs;
  }
  EXPECT_EQ(runs, static_cast<size_t>(n));
}

TEST(FuzzRegressionTest, SeedsAndTheirMutationsNeverCrash) {
  // The built-in seeds first, with the same mutations whether or not the corpus is present
  // (the first of them found a read through an abandoned simdjson document in AKS records).
  const std::vector<std::string> seeds = BuiltinSeeds();
  for (const std::string& s : seeds) EXPECT_EQ(Feed(s), 0);
  Mutate(seeds, 20000, 2026);
  const std::vector<std::string> corpus = CorpusSeeds();
  if (corpus.empty()) return;  // no corpus beside the repository: the built-in seeds only
  for (const std::string& s : corpus) EXPECT_EQ(Feed(s), 0);
  Mutate(corpus, 5000, 7);
}

}  // namespace

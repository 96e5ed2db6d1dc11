// `vigil serve` fed by the apiserver audit webhook end to end: the real binary, EventList
// batches POSTed over loopback HTTP by two clusters' credentials, a kill -9 right after the last
// acknowledgement of the first half, a restart, the rest, a batch sent twice (the apiserver
// retries): every acknowledged event is applied exactly once (the findings and their counts
// equal `vigil replay` of the same events), the journal is trimmed, /readyz and the webhook
// metrics answer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "stored_findings.h"
#include "subprocess.h"
#include "vigil/api/webhook.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::HttpGet;
using testing::HttpRequest;
using testing::ListeningPort;
using testing::Subprocess;
using testing::WaitFor;

// The lines of `path` as EventList bodies of at most `per` events.
std::vector<std::string> Batches(const std::string& path, size_t per) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string body;
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    body +=
        (n == 0 ? R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)" : ",") + line;
    if (++n == per) {
      out.push_back(body + "]}");
      body.clear();
      n = 0;
    }
  }
  if (n > 0) out.push_back(body + "]}");
  return out;
}

TEST(WebhookServeEndToEndTest, KillNineAfterAcknowledgementLosesNothingAndDuplicatesAreHarmless) {
  char tmpl[] = "/tmp/vigil-webhook-serve-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() { fs::remove_all(d); }
  } cleanup{dir};

  Subprocess gen({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                  "--events", "8000", "--clusters", "2", "--attacks", "2", "--rate", "100",
                  "--seed", "9", "--split-by-cluster", "--out", dir + "/audit.jsonl"});
  ASSERT_EQ(gen.Wait(300s), 0) << gen.err();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("audit-", 0) == 0) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u);
  const char* clusters[] = {"prod-eu", "prod-us"};
  const char* tokens[] = {"token-of-prod-eu", "token-of-prod-us"};
  for (size_t c = 0; c < 2; ++c) {
    Subprocess replay({VIGIL_BINARY, "--log-level", "warn", "replay", files[c], "--db",
                       dir + "/replay-db", "--cluster", clusters[c], "--format", "jsonl"});
    ASSERT_EQ(replay.Wait(300s), 0) << replay.err();
  }
  const auto baseline = testing::StoredFindings(dir + "/replay-db");
  ASSERT_GT(baseline.size(), 3u);

  // The first run never checkpoints before it is killed (everything it acknowledged is then in
  // the journal only); the second checkpoints often.
  auto write_config = [&](const std::string& path, const std::string& checkpoint) {
    std::ofstream(path)
        << "db: " << dir << "/db\nlisten: 127.0.0.1:0\nlog: {level: warn}\n"
        << "checkpoint: " << checkpoint << "\nready: {max_lag: 0}\n"
        << "webhook:\n  clusters:\n"
        << "    - {name: prod-eu, token_sha256: " << api::Sha256Hex(tokens[0]) << "}\n"
        << "    - {name: prod-us, token_sha256: " << api::Sha256Hex(tokens[1]) << "}\n"
        << "api:\n  credentials:\n    - {name: grafana, roles: [read], token_sha256: "
        << api::Sha256Hex("reader-token") << "}\n";
  };
  const std::string first_config = dir + "/first.yaml", config = dir + "/vigil.yaml";
  write_config(first_config, "{interval: 1h, events: 100000000}");
  write_config(config, "{interval: 100ms, events: 400}");
  std::vector<std::string> batches[2] = {Batches(files[0], 400), Batches(files[1], 400)};
  ASSERT_GE(batches[0].size(), 4u);
  auto post = [&](uint16_t port, size_t c, const std::string& body) {
    return HttpRequest(
        port, "POST", "/v1/audit/" + std::string(clusters[c]), body,
        {std::string("Authorization: Bearer ") + tokens[c], "Content-Type: application/json"});
  };
  // The batches of both clusters, interleaved, from `from` to `to` of each.
  auto send = [&](uint16_t port, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      for (size_t c = 0; c < 2; ++c) {
        if (i >= batches[c].size()) continue;
        auto r = post(port, c, batches[c][i]);
        ASSERT_EQ(r.status, 200) << r.body;
      }
    }
  };
  const size_t half = batches[0].size() / 2;
  const size_t all = std::max(batches[0].size(), batches[1].size());

  // First run: the first half acknowledged, then kill -9 at once (some of it is journaled and
  // not yet applied).
  {
    Subprocess first({VIGIL_BINARY, "serve", "--config", first_config});
    const uint16_t port = ListeningPort(first);
    ASSERT_NE(port, 0) << first.err();
    send(port, 0, half);
    first.Signal(SIGKILL);
    EXPECT_EQ(first.Wait(60s), -1);
  }
  // Second run: the apiserver retries the last batch it sent (a duplicate), then the rest.
  Subprocess serve({VIGIL_BINARY, "serve", "--config", config});
  const uint16_t port = ListeningPort(serve);
  ASSERT_NE(port, 0) << serve.err();
  ASSERT_EQ(post(port, 0, batches[0][half - 1]).status, 200);
  send(port, half, all);
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 120s))
      << HttpGet(port, "/readyz").body;
  EXPECT_EQ(HttpGet(port, "/metrics").status, 401);  // credentials configured: metrics need one
  const std::string metrics =
      HttpRequest(port, "GET", "/metrics", "", {"Authorization: Bearer reader-token"}).body;
  EXPECT_NE(metrics.find("\nvigil_webhook_journal_entries 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nvigil_webhook_accepted_total "), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nvigil_webhook_append_duration_seconds_count "), std::string::npos);
  // With the webhook on, detection runs at nice 10 (pipeline_nice), the HTTP threads at 0.
  const auto nice = testing::NiceByThreadName(serve.pid());
  ASSERT_TRUE(nice.count("vigil-pipeline")) << "no thread named vigil-pipeline";
  EXPECT_EQ(nice.at("vigil-pipeline"), std::set<int>{10});
  ASSERT_TRUE(nice.count("vigil-commit"));
  EXPECT_EQ(nice.at("vigil-commit"), std::set<int>{10});  // inherited from the pipeline thread
  ASSERT_TRUE(nice.count("vigil"));
  EXPECT_EQ(nice.at("vigil"), std::set<int>{0});  // the main thread and the HTTP threads
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(60s), 0) << serve.err();

  const auto got = testing::StoredFindings(dir + "/db");
  std::string diff;
  for (const auto& [id, d] : baseline) {
    auto it = got.find(id);
    if (it == got.end())
      diff += "\n  missing " + id + " " + d;
    else if (it->second != d)
      diff += "\n  differs " + id + " want " + d + " got " + it->second;
  }
  for (const auto& [id, d] : got) {
    if (!baseline.count(id)) diff += "\n  extra " + id + " " + d;
  }
  EXPECT_TRUE(diff.empty()) << diff.substr(0, 3000);
  // The journal is empty: what the checkpoints covered was trimmed.
  {
    auto db = store::RocksDbFindingStore::Open(dir + "/db");
    ASSERT_TRUE(db.ok());
    EXPECT_EQ((*db)->journal_stats().entries, 0u);
  }

  // Third run on the journal trimmed empty: new batches are numbered after the stored position,
  // so they are read and applied (they were once numbered from 0 again and never read).
  Subprocess third({VIGIL_BINARY, "serve", "--config", config});
  const uint16_t port3 = ListeningPort(third);
  ASSERT_NE(port3, 0) << third.err();
  std::string fresh = batches[0][0];
  for (size_t at = 0; (at = fresh.find("\"auditID\":\"", at)) != std::string::npos;) {
    at += 11;
    fresh.insert(at, "third-run-");
  }
  ASSERT_EQ(post(port3, 0, fresh).status, 200);
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port3, "/readyz").status == 200; }, 120s))
      << HttpGet(port3, "/readyz").body;
  const std::string metrics3 =
      HttpRequest(port3, "GET", "/metrics", "", {"Authorization: Bearer reader-token"}).body;
  EXPECT_NE(metrics3.find("\nvigil_webhook_journal_entries 0\n"), std::string::npos) << metrics3;
  EXPECT_EQ(metrics3.find("\nvigil_events_parsed_total 0\n"), std::string::npos) << metrics3;
  third.Signal(SIGTERM);
  EXPECT_EQ(third.Wait(60s), 0) << third.err();
}

}  // namespace
}  // namespace vigil

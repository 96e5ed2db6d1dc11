// `vigil serve` consuming Kafka end to end: the real binary against vigil-kafka-mock (each in a
// process of its own), kill -9 mid-stream and a restart, then SIGTERM: every event counted once
// (the findings and their counts equal those of `vigil replay` over the same events), offsets
// committed to the high watermarks, every stored finding on the findings topic, /readyz and the
// Kafka metrics over loopback HTTP; a pipeline that keeps failing ends the process with exit 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "kafka_mock_process.h"
#include "kafka_test_util.h"
#include "stored_findings.h"
#include "subprocess.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::HttpGet;
using testing::KafkaMockProcess;
using testing::KafkaTestMessage;
using testing::ListeningPort;
using testing::Subprocess;
using testing::WaitFor;

TEST(KafkaServeEndToEndTest, KillNineRestartAndSigtermCountEveryEventOnce) {
  char tmpl[] = "/tmp/vigil-kafka-serve-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() { fs::remove_all(d); }
  } cleanup{dir};

  Subprocess gen({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                  "--events", "6000", "--clusters", "3", "--attacks", "2", "--rate", "100",
                  "--seed", "5", "--split-by-cluster", "--out", dir + "/audit.jsonl"});
  ASSERT_EQ(gen.Wait(300s), 0) << gen.err();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("audit-", 0) == 0) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 3u);
  const char* clusters[] = {"prod-eu", "prod-us", "staging"};

  // The replay baseline: each cluster's log into one store.
  for (size_t c = 0; c < 3; ++c) {
    Subprocess replay({VIGIL_BINARY, "--log-level", "warn", "replay", files[c], "--db",
                       dir + "/replay-db", "--cluster", clusters[c], "--format", "jsonl"});
    ASSERT_EQ(replay.Wait(300s), 0) << replay.err();
  }
  const auto baseline = testing::StoredFindings(dir + "/replay-db");
  ASSERT_GT(baseline.size(), 5u);

  testing::KafkaMockOptions mock_options;
  mock_options.brokers = 1;
  mock_options.topics = {"audit:8"};
  mock_options.stderr_path = dir + "/mock.log";
  KafkaMockProcess mock(mock_options);
  ASSERT_TRUE(mock.ok()) << mock.error();
  // Keyed by cluster: each cluster in one partition, in order (two of the three may share one).
  // 6,000 events of ~0.9 KB stay under the mock's ~5 MB per partition even then, so all of it
  // can be produced first: with more, the mock drops the oldest records (its retention), which
  // is not a loss of Vigil's.
  std::vector<KafkaTestMessage> records;
  uint64_t total = 0;
  for (size_t c = 0; c < 3; ++c) {
    std::ifstream in(files[c]);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      KafkaTestMessage m;
      m.key = clusters[c];
      m.value = line;
      records.push_back(std::move(m));
      ++total;
    }
  }
  auto produced = testing::ProduceMessages(mock.bootstrap(), "audit", records, 120s);
  ASSERT_TRUE(produced.ok()) << produced.status().ToString();

  const std::string config = dir + "/vigil.yaml";
  std::ofstream(config) << "db: " << dir << "/db\nlisten: 127.0.0.1:0\nlog: {level: warn}\n"
                        << "checkpoint: {interval: 200ms, events: 500}\n"
                        << "ready: {max_lag: 0}\n"
                        << "kafka:\n  brokers: \"" << mock.bootstrap() << "\"\n"
                        << "  group: vigil-e2e\n"
                        << "  topics: [{name: audit, cluster_from: key}]\n"
                        << "  findings_topic: vigil-findings\n"
                        << "  properties: {session.timeout.ms: \"6000\", "
                           "heartbeat.interval.ms: \"500\"}\n";

  // First run: killed (SIGKILL, by itself) right after its 4th durable checkpoint, before the
  // findings that checkpoint wrote are handed to the findings topic.
  {
    Subprocess first({"/usr/bin/env", "VIGIL_TEST_KILL_AFTER_CHECKPOINTS=4", VIGIL_BINARY, "serve",
                      "--config", config});
    EXPECT_EQ(first.Wait(300s), -1) << "expected death by SIGKILL\n" << first.err();
  }
  {
    // The first run got somewhere: its checkpoints hold offsets (Kafka's committed offsets may
    // lag them; the stored ones win on the restart).
    auto db = store::RocksDbFindingStore::Open(dir + "/db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    int64_t stored = 0;
    for (int p = 0; p < 8; ++p) {
      auto v = (*db)->GetMeta(std::string("kafka\x1fvigil-e2e\x1f"
                                          "audit\x1f") +
                              std::to_string(p));
      ASSERT_TRUE(v.ok());
      if (v->has_value()) stored += std::stoll(**v);
    }
    EXPECT_GT(stored, 0);
    EXPECT_LT(stored, static_cast<int64_t>(total));
  }
  // Second run: picks up at the offsets of the last checkpoint, consumes the rest. Its pipeline
  // fails once (an exception at its 1,000th event): the server logs and counts it, and restarts
  // the pipeline from the store instead of dying.
  Subprocess serve({"/usr/bin/env", "VIGIL_TEST_THROW_AFTER_EVENTS=1000", VIGIL_BINARY, "serve",
                    "--config", config});
  const uint16_t port = ListeningPort(serve);
  ASSERT_NE(port, 0) << serve.err();
  std::vector<int64_t> high;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto hw = testing::HighWatermarks(mock.bootstrap(), "audit", 10s);
        auto co = testing::CommittedOffsets(mock.bootstrap(), "vigil-e2e", "audit", 10s);
        if (!hw.ok() || !co.ok()) return false;
        high = *hw;
        for (size_t p = 0; p < hw->size(); ++p) {
          if ((*co)[p] != (*hw)[p] && (*hw)[p] > 0) return false;
        }
        return true;
      },
      300s))
      << serve.err();
  // Caught up: ready (lag 0), and the Kafka metrics are there.
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 60s))
      << HttpGet(port, "/readyz").body;
  const std::string metrics = HttpGet(port, "/metrics").body;
  EXPECT_NE(metrics.find("vigil_kafka_lag{topic=\"audit\",partition=\""), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vigil_kafka_assigned_partitions 8"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nvigil_pipeline_errors_total 1\n"), std::string::npos) << metrics;
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(60s), 0) << serve.err();
  uint64_t sum = 0;
  for (int64_t h : high) sum += static_cast<uint64_t>(h);
  EXPECT_EQ(sum, total);

  // Every event once: the findings and their counts are those of the replay.
  const auto got = testing::StoredFindings(dir + "/db");
  const std::string diff = testing::FindingsDiff(baseline, got);
  EXPECT_TRUE(diff.empty()) << diff.substr(0, 3000);

  // The findings topic holds every finding of the store, the killed run's last checkpoint
  // included (the outbox kept it): the last value of each key is the stored finding.
  const auto want = testing::StoredFindings(dir + "/db", /*json=*/true);
  auto produced_findings = testing::HighWatermarks(mock.bootstrap(), "vigil-findings", 30s);
  ASSERT_TRUE(produced_findings.ok()) << produced_findings.status().ToString();
  size_t count = 0;
  for (int64_t h : *produced_findings) count += static_cast<size_t>(h);
  ASSERT_GE(count, want.size());
  auto out =
      testing::ConsumeGroup(mock.bootstrap(), "check-findings", "vigil-findings", count, 120s);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::map<std::string, std::string> last;
  for (const KafkaTestMessage& m : *out) {
    ASSERT_TRUE(m.key.has_value());
    ASSERT_TRUE(m.value.has_value());
    last[*m.key] = *m.value;
  }
  EXPECT_EQ(last.size(), want.size());
  for (const auto& [id, json] : want) {
    auto it = last.find(id);
    if (it == last.end()) {
      ADD_FAILURE() << "not on the findings topic: " << id;
    } else {
      EXPECT_EQ(it->second, json) << id;
    }
  }
}

TEST(KafkaServeEndToEndTest, BadKafkaSettingsAreUsageErrors) {
  Subprocess no_brokers({VIGIL_BINARY, "serve", "--kafka-topic", "audit:prod", "--listen",
                         "127.0.0.1:0", "--db", "/nonexistent/never-created"});
  EXPECT_EQ(no_brokers.Wait(60s), 2);
  EXPECT_NE(no_brokers.err().find("--kafka-brokers"), std::string::npos) << no_brokers.err();
  Subprocess bad_cluster({VIGIL_BINARY, "serve", "--kafka-brokers", "127.0.0.1:1", "--kafka-topic",
                          "audit:has space", "--listen", "127.0.0.1:0", "--db",
                          "/nonexistent/never-created"});
  EXPECT_EQ(bad_cluster.Wait(60s), 2);
  EXPECT_NE(bad_cluster.err().find("cluster"), std::string::npos) << bad_cluster.err();
  // The api role serves the view of the findings topic: without one it is a usage error, and
  // so is asking it to read files.
  Subprocess no_topic({VIGIL_BINARY, "serve", "--role", "api", "--kafka-brokers", "127.0.0.1:1",
                       "--listen", "127.0.0.1:0", "--db", "/nonexistent/never-created"});
  EXPECT_EQ(no_topic.Wait(60s), 2);
  EXPECT_NE(no_topic.err().find("kafka.findings_topic"), std::string::npos) << no_topic.err();
  // Topics re-keyed into one repartition topic must agree on their envelope.
  char tmpl[] = "/tmp/vigil-bad-repartition-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/c.yaml")
      << "kafka:\n  brokers: \"127.0.0.1:1\"\n  topics:\n"
      << "    - {name: a, cluster_from: \"header:c\", repartition: true, envelope: vector}\n"
      << "    - {name: b, cluster_from: \"header:c\", repartition: true, envelope: aks}\n";
  Subprocess mixed({VIGIL_BINARY, "serve", "--config", dir + "/c.yaml", "--listen", "127.0.0.1:0",
                    "--db", dir + "/db"});
  EXPECT_EQ(mixed.Wait(60s), 2);
  EXPECT_NE(mixed.err().find("same envelope"), std::string::npos) << mixed.err();
  fs::remove_all(dir);
  Subprocess bad_role({VIGIL_BINARY, "serve", "--role", "manager", "--listen", "127.0.0.1:0",
                       "--db", "/nonexistent/never-created"});
  EXPECT_EQ(bad_role.Wait(60s), 2);
  EXPECT_NE(bad_role.err().find("--role"), std::string::npos) << bad_role.err();
  EXPECT_FALSE(fs::exists("/nonexistent/never-created"));
}

}  // namespace
}  // namespace vigil

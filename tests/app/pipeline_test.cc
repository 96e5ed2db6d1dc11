#include "vigil/app/pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kExec =
    R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"%STAGE%","requestURI":"/api/v1/namespaces/default/pods/web-0/exec?command=id","verb":"create","user":{"username":"alice","groups":["system:authenticated"]},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default","name":"web-0","subresource":"exec","apiVersion":"v1"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-02T09:00:00.000001Z","stageTimestamp":"2026-11-02T09:00:01Z"})";

std::string Exec(const std::string& stage) {
  std::string s = kExec;
  s.replace(s.find("%STAGE%"), 7, stage);
  return s;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-pipeline-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }
  std::string dir_;
};

TEST_F(PipelineTest, TwoStagesOfOneRequestMakeOneFinding) {
  Config config;
  config.cluster = "c1";
  PipelineMetrics metrics;
  ReplayPipeline p(config, detect::MakeBuiltinDetector(), nullptr, &metrics);
  auto path = Write("a.log", Exec("RequestReceived") + "\n" + Exec("ResponseComplete") + "\n" +
                                 "not json\n");
  auto r = p.Run({path});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events, 2u);
  EXPECT_EQ(r->malformed, 1u);
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_NE(r->errors[0].find("a.log:3"), std::string::npos) << r->errors[0];
  ASSERT_EQ(r->findings.size(), 1u);
  const Finding& f = r->findings[0];
  EXPECT_EQ(f.rule_id, "k8s.exec_into_pod");
  EXPECT_EQ(f.cluster, "c1");
  EXPECT_EQ(f.count, 1u);
  EXPECT_EQ(f.evidence, std::vector<std::string>{"a-1"});
  EXPECT_EQ(metrics.events_parsed.load(), 2u);
  EXPECT_EQ(metrics.events_malformed.load(), 1u);
  EXPECT_EQ(metrics.findings.load(), 1u);
  EXPECT_GT(metrics.bytes_read.load(), 0u);
}

TEST_F(PipelineTest, WritesFindingsToTheStoreIdempotently) {
  auto store = store::RocksDbFindingStore::Open(dir_ + "/db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Config config;
  auto path = Write("b.log", Exec("ResponseComplete") + "\n");
  for (int round = 0; round < 2; ++round) {
    ReplayPipeline p(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
    auto r = p.Run({path});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->findings.size(), 1u);
  }
  FindingFilter all;
  auto page = (*store)->Query(all);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->findings.size(), 1u);
  EXPECT_EQ(page->findings[0].cluster, "default");
  EXPECT_EQ(page->findings[0].count, 1u);
}

TEST_F(PipelineTest, ReplayKeepsWhatTheStoreKnows) {
  auto store = store::RocksDbFindingStore::Open(dir_ + "/db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Config config;
  auto path = Write("c.log", Exec("ResponseComplete") + "\n");
  ReplayPipeline first(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
  auto r = first.Run({path});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->findings.size(), 1u);
  // An analyst acknowledges the finding; a later replay of the same log must not reopen it.
  Finding acked = r->findings[0];
  acked.status = FindingStatus::kAcknowledged;
  ASSERT_TRUE((*store)->Put({acked}).ok());
  ReplayPipeline second(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
  ASSERT_TRUE(second.Run({path}).ok());
  auto got = (*store)->Get(acked.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, FindingStatus::kAcknowledged);
  EXPECT_EQ(got->count, 1u);
  // A new occurrence of the same finding (another request: new evidence) is counted.
  std::string other = Exec("ResponseComplete");
  other.replace(other.find("a-1"), 3, "a-2");
  other.replace(other.find("09:00:00.000001Z"), 16, "09:05:00.000000Z");
  auto path2 = Write("d.log", other + "\n");
  ReplayPipeline third(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
  auto r3 = third.Run({path2});
  ASSERT_TRUE(r3.ok());
  // a-2 is a different request, so a different finding id (single-event rules key on auditID).
  ASSERT_EQ(r3->findings.size(), 1u);
  EXPECT_NE(r3->findings[0].id, acked.id);
}

TEST_F(PipelineTest, LiveMetricsAndBoundedShownFindings) {
  Config config;
  config.max_findings_shown = 1;
  std::string text;
  for (int i = 0; i < 3; ++i) {
    std::string e = Exec("ResponseComplete");
    e.replace(e.find("a-1"), 3, "a-" + std::to_string(10 + i));
    text += e + "\n";
  }
  PipelineMetrics metrics;
  ReplayPipeline p(config, detect::MakeBuiltinDetector(), nullptr, &metrics);
  auto r = p.Run({Write("e.log", text)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->findings.size(), 1u);
  EXPECT_EQ(r->findings_not_shown, 2u);
  EXPECT_EQ(metrics.findings.load(), 3u);
  EXPECT_EQ(metrics.events_read.load(), 3u);
}

TEST_F(PipelineTest, MissingPathStillStoresWhatWasFound) {
  auto store = store::RocksDbFindingStore::Open(dir_ + "/db");
  ASSERT_TRUE(store.ok());
  Config config;
  ReplayPipeline p(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
  auto r = p.Run({Write("f.log", Exec("ResponseComplete") + "\n"), dir_ + "/missing.log"});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  FindingFilter all;
  auto page = (*store)->Query(all);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->findings.size(), 1u);
}

TEST(MergeFindingTest, CountsOnlyNewEvidence) {
  Finding a;
  a.id = "x";
  a.first_seen_us = 100;
  a.last_seen_us = 100;
  a.evidence = {"e1"};
  Finding b = a;
  b.first_seen_us = b.last_seen_us = 50;
  MergeFinding(b, &a);  // same evidence: a redelivery
  EXPECT_EQ(a.count, 1u);
  EXPECT_EQ(a.first_seen_us, 50);
  Finding c = a;
  c.evidence = {"e2"};
  c.last_seen_us = c.first_seen_us = 300;
  MergeFinding(c, &a);
  EXPECT_EQ(a.count, 2u);
  EXPECT_EQ(a.last_seen_us, 300);
  EXPECT_EQ(a.evidence, (std::vector<std::string>{"e1", "e2"}));
}

}  // namespace
}  // namespace vigil::app

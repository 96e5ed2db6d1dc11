#include "vigil/app/pipeline.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "vigil/app/rules.h"
#include "vigil/core/memory_state_store.h"
#include "vigil/ingest/file_record_source.h"
#include "vigil/ingest/multi_record_source.h"
#include "vigil/ingest/webhook_journal_source.h"
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
  Pipeline p(config, detect::MakeBuiltinDetector(), nullptr, &metrics);
  auto path = Write(
      "a.log", Exec("RequestReceived") + "\n" + Exec("ResponseComplete") + "\n" + "not json\n");
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
    Pipeline p(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
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
  Pipeline first(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
  auto r = first.Run({path});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->findings.size(), 1u);
  // An analyst acknowledges the finding; a later replay of the same log must not reopen it.
  Finding acked = r->findings[0];
  acked.status = FindingStatus::kAcknowledged;
  ASSERT_TRUE((*store)->Put({acked}).ok());
  Pipeline second(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
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
  Pipeline third(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
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
  Pipeline p(config, detect::MakeBuiltinDetector(), nullptr, &metrics);
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
  Pipeline p(config, detect::MakeBuiltinDetector(), store->get(), nullptr);
  auto r = p.Run({Write("f.log", Exec("ResponseComplete") + "\n"), dir_ + "/missing.log"});
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  FindingFilter all;
  auto page = (*store)->Query(all);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->findings.size(), 1u);
}

// An event of `user` reading secret `name` at second `sec` after 09:00, with status `code`.
std::string SecretGet(int i, const std::string& user, const std::string& name, int sec, int code,
                      const std::string& stage = "ResponseComplete") {
  char ts[64];
  std::snprintf(ts, sizeof ts, "2026-11-02T%02d:%02d:%02d.000000Z", 9 + sec / 3600, (sec / 60) % 60,
                sec % 60);
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"s-)" +
         std::to_string(i) + R"(","stage":")" + stage +
         R"(","requestURI":"/api/v1/namespaces/prod/secrets/)" + name +
         R"(","verb":"get","user":{"username":")" + user +
         R"(","groups":["system:authenticated"]},"sourceIPs":["203.0.113.)" +
         std::to_string(i % 7) +
         R"("],"objectRef":{"resource":"secrets","namespace":"prod","name":")" + name +
         R"(","apiVersion":"v1"},"responseStatus":{"code":)" + std::to_string(code) +
         R"(},"requestReceivedTimestamp":")" + ts + R"(","stageTimestamp":")" + ts + "\"}";
}

struct RunResult {
  ReplayReport report;
  std::vector<Finding> stored;
};

// Every field the pipeline decides, for comparing two runs.
std::string Describe(const Finding& f) {
  std::string out = f.id + " " + f.rule_id + " n=" + std::to_string(f.count) + " " +
                    std::to_string(f.first_seen_us) + ".." + std::to_string(f.last_seen_us) + " [";
  for (const std::string& e : f.evidence) out += e + ",";
  return out + "] " + f.message;
}

TEST_F(PipelineTest, AnyNumberOfWorkersGivesTheSameRun) {
  // Several batches' worth of records over two files: secret reads by many users (stateful
  // rules: denied reads, bulk reads, first reads), exec requests (single-event rules), both
  // stages, redelivered lines (dedup), late events, malformed lines and oversize records.
  std::string a, b;
  const std::string big(20000, 'x');
  for (int i = 0; i < 3000; ++i) {
    const std::string user = i % 5 == 0 ? "mallory" : "user-" + std::to_string(i % 37);
    const int code = i % 5 == 0 ? 403 : 200;
    std::string line = SecretGet(i, user, "s-" + std::to_string(i % 23), i, code);
    std::string& out = i < 1700 ? a : b;
    if (i % 11 == 0) out += SecretGet(i, user, "s-x", i, code, "RequestReceived") + "\n";
    out += line + "\n";
    if (i % 97 == 0) out += "{\"kind\":\"Event\", broken\n";
    if (i % 211 == 0) out += line + "\n";  // redelivered
    if (i % 307 == 0 && i > 1200) out += SecretGet(100000 + i, user, "late", i - 1200, 403) + "\n";
    if (i % 499 == 0) out += R"({"kind":"Event","auditID":")" + big + "\"}\n";  // oversize
    if (i % 389 == 0) {
      std::string e = Exec("ResponseComplete");
      e.replace(e.find("a-1"), 3, "x-" + std::to_string(i));
      out += e + "\n";
    }
  }
  const std::vector<std::string> files = {Write("a.log", a), Write("b.log", b)};

  auto run = [&](int workers) {
    RunResult out;
    const std::string db_dir = dir_ + "/db-" + std::to_string(workers);
    auto store = store::RocksDbFindingStore::Open(db_dir);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return out;
    Config config;
    config.workers = workers;
    config.max_record_bytes = 16 << 10;
    config.max_event_bytes = 8 << 10;
    config.checkpoint_events = 500;
    // Small batches: many more than the 2 per worker in flight, so reading waits for workers,
    // batches are reused, and big (oversize) records fill a batch alone.
    config.batch_records = 7;
    config.batch_bytes = 4096;
    RuleProvider rules({});
    EXPECT_TRUE(rules.Reload().ok());
    PipelineMetrics metrics;
    Pipeline p(config, MakeFollowingDetector(&rules, store->get(), StatefulOptionsFrom(config)),
               store->get(), &metrics, store->get());
    auto r = p.Run(files);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    out.report = std::move(r).value();
    EXPECT_EQ(out.report.workers, workers);
    EXPECT_EQ(metrics.events_parsed.load(), out.report.events);
    EXPECT_EQ(metrics.events_malformed.load(), out.report.malformed);
    FindingFilter all;
    all.limit = 1000;
    do {
      auto page = (*store)->Query(all);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) break;
      for (Finding& f : page->findings) out.stored.push_back(std::move(f));
      all.cursor = page->next_cursor;
    } while (!all.cursor.empty());
    return out;
  };
  const RunResult one = run(1);
  const ReplayReport& r1 = one.report;
  EXPECT_EQ(r1.malformed, 31u + 7u);  // 31 broken lines, 7 oversize records
  EXPECT_EQ(r1.errors_total, r1.malformed);
  EXPECT_GT(r1.duplicates, 10u);
  EXPECT_GT(r1.late, 5u);
  EXPECT_GT(r1.state.hits, 1000u);
  EXPECT_GT(r1.state.findings, 10u);
  std::set<std::string> rules_found;
  for (const Finding& f : one.stored) rules_found.insert(f.rule_id);
  EXPECT_TRUE(rules_found.count("k8s.denied_secret_reads"))
      << ::testing::PrintToString(rules_found);
  EXPECT_TRUE(rules_found.count("k8s.exec_into_pod"));

  for (int workers : {2, 3}) {
    SCOPED_TRACE("workers=" + std::to_string(workers));
    const RunResult many = run(workers);
    const ReplayReport& r = many.report;
    EXPECT_EQ(r.records, r1.records);
    EXPECT_EQ(r.events, r1.events);
    EXPECT_EQ(r.malformed, r1.malformed);
    EXPECT_EQ(r.skipped, r1.skipped);
    EXPECT_EQ(r.bytes, r1.bytes);
    EXPECT_EQ(r.errors, r1.errors);  // the same errors, in the same order
    EXPECT_EQ(r.errors_total, r1.errors_total);
    EXPECT_EQ(r.duplicates, r1.duplicates);
    EXPECT_EQ(r.late, r1.late);
    EXPECT_EQ(r.checkpoints, r1.checkpoints);
    EXPECT_EQ(r.state.hits, r1.state.hits);
    EXPECT_EQ(r.state.findings, r1.state.findings);
    ASSERT_EQ(r.findings.size(), r1.findings.size());
    for (size_t i = 0; i < r.findings.size(); ++i) {
      EXPECT_EQ(Describe(r.findings[i]), Describe(r1.findings[i]));
    }
    ASSERT_EQ(many.stored.size(), one.stored.size());
    for (size_t i = 0; i < many.stored.size(); ++i) {
      EXPECT_EQ(Describe(many.stored[i]), Describe(one.stored[i]));
    }
  }
}

// One pipeline over a file of cluster "files" and the webhook journal of cluster "hooks"
// (MultiRecordSource): every record goes back to its own source, the findings are those of
// replaying each alone, the file's position and the journal's are stored, the journal is
// trimmed once a checkpoint covers it, and a second run over the same sources adds nothing.
TEST_F(PipelineTest, FilesAndTheWebhookJournalInOnePipeline) {
  std::string file_log, journal_log;
  std::vector<std::string> bodies;
  for (int i = 0; i < 1200; ++i) {
    const std::string user = i % 4 == 0 ? "mallory" : "user-" + std::to_string(i % 13);
    const std::string line =
        SecretGet(i, user, "s-" + std::to_string(i % 17), i, i % 4 ? 200 : 403);
    file_log += line + "\n";
    journal_log += line + "\n";
    if (i % 100 == 0) bodies.emplace_back();
    bodies.back() += (bodies.back().empty() ? "[" : ",") + line;
  }
  for (std::string& b : bodies) b += "]";
  const std::string file = Write("files.log", file_log);
  const std::string journal_file = Write("hooks.log", journal_log);
  RuleProvider rules({});
  ASSERT_TRUE(rules.Reload().ok());
  Config config;
  config.workers = 2;
  config.checkpoint_events = 300;
  config.max_findings_shown = 0;
  auto make = [&](store::RocksDbFindingStore* db, const std::string& cluster) {
    Config c = config;
    c.cluster = cluster;
    return std::make_unique<Pipeline>(c, MakeFollowingDetector(&rules, db, StatefulOptionsFrom(c)),
                                      db, nullptr, db);
  };
  // The baseline: each log replayed alone into one store.
  auto base = store::RocksDbFindingStore::Open(dir_ + "/base");
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(make(base->get(), "files")->Run({file}).ok());
  ASSERT_TRUE(make(base->get(), "hooks")->Run({journal_file}).ok());
  std::map<std::string, std::string> want;
  FindingFilter all;
  all.limit = 1000;
  auto page = (*base)->Query(all);
  ASSERT_TRUE(page.ok());
  for (const Finding& f : page->findings) want[f.id] = Describe(f);
  ASSERT_GT(want.size(), 2u);

  auto db = store::RocksDbFindingStore::Open(dir_ + "/multi");
  ASSERT_TRUE(db.ok());
  for (const std::string& b : bodies) ASSERT_TRUE((*db)->AppendJournal({"hooks", b, 1}).ok());
  for (int run = 0; run < 2; ++run) {
    ingest::FileRecordSourceOptions fo;
    fo.paths = {file};
    fo.cluster = "files";
    ingest::FileRecordSource files(fo);
    ingest::WebhookJournalSourceOptions wo;
    wo.journal = db->get();
    ingest::WebhookJournalSource hooks(wo);
    ingest::MultiRecordSource multi({&files, &hooks});
    PipelineMetrics metrics;
    Config c = config;
    auto p = std::make_unique<Pipeline>(
        c, MakeFollowingDetector(&rules, db->get(), StatefulOptionsFrom(c)), db->get(), &metrics,
        db->get());
    std::atomic<bool> cancel{false};
    // The webhook source never ends: stop once both are applied (or, the second time, at once:
    // everything is already behind the stored positions).
    std::thread stopper([&] {
      const uint64_t total = run == 0 ? 2400 : 0;
      while (metrics.events_parsed.load() < total) std::this_thread::yield();
      cancel = true;
    });
    auto r = p->Run(&multi, &cancel);
    stopper.join();
    ASSERT_TRUE(r.ok() || r.status().code() == StatusCode::kUnavailable) << r.status().ToString();
    if (run == 0) {
      EXPECT_EQ(metrics.events_parsed.load(), 2400u);
    } else {
      // Nothing read again but, perhaps, the file's last record (a file resumes at the start of
      // its last applied record, by design; dedup makes it harmless): the journal gives none.
      EXPECT_LE(metrics.events_parsed.load(), 1u);
    }
  }
  std::map<std::string, std::string> got;
  page = (*db)->Query(all);
  ASSERT_TRUE(page.ok());
  for (const Finding& f : page->findings) got[f.id] = Describe(f);
  EXPECT_EQ(got, want);
  EXPECT_EQ((*db)->journal_stats().entries, 0u);  // trimmed after the durable checkpoint
  auto pos = (*db)->GetMeta(ingest::WebhookJournalSource::PositionKey());
  ASSERT_TRUE(pos.ok() && pos->has_value());
  EXPECT_EQ(**pos, std::to_string(bodies.size()));
}

// A StateStore that remembers what each checkpoint wrote, over a MemoryStateStore.
class RecordingStateStore final : public StateStore {
 public:
  Result<std::optional<std::string>> GetState(std::string_view key) const override {
    return inner_.GetState(key);
  }
  Result<bool> ContainsEvent(std::string_view key) const override {
    return inner_.ContainsEvent(key);
  }
  Result<std::optional<std::string>> GetMeta(std::string_view key) const override {
    return inner_.GetMeta(key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const override {
    return inner_.ScanMeta(prefix);
  }
  Status Commit(const StateCheckpoint& cp) override {
    dedup_per_commit.push_back(cp.dedup.size());
    return inner_.Commit(cp);
  }
  std::vector<size_t> dedup_per_commit;

 private:
  MemoryStateStore inner_;
};

// A checkpoint is due every 4 events, but each record is an EventList of 10: checkpoints come
// between records, never inside one (a record replayed from its middle by a partition's next
// owner, which has no dedup entries of this instance, would count its first events twice).
TEST_F(PipelineTest, CheckpointsFallBetweenRecords) {
  std::string log;
  for (int r = 0; r < 3; ++r) {
    std::string items;
    for (int i = 0; i < 10; ++i) {
      items += (i ? "," : "") + SecretGet(r * 10 + i, "u-" + std::to_string(i), "s", r * 10 + i,
                                          200);
    }
    log += R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)" + items + "]}\n";
  }
  const std::string file = Write("lists.log", log);
  RuleProvider rules({});
  ASSERT_TRUE(rules.Reload().ok());
  for (int workers : {1, 2}) {
    RecordingStateStore state;
    Config config;
    config.workers = workers;
    config.checkpoint_events = 4;
    Pipeline p(config, MakeFollowingDetector(&rules, &state, StatefulOptionsFrom(config)), nullptr,
               nullptr, &state);
    auto r = p.Run({file});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->events, 30u);
    size_t total = 0;
    for (size_t n : state.dedup_per_commit) {
      EXPECT_EQ(n % 10, 0u) << "a checkpoint inside a record";
      total += n;
    }
    EXPECT_EQ(total, 30u);
    EXPECT_GE(state.dedup_per_commit.size(), 3u);  // one after each record (4 events were due)
  }
}

TEST_F(PipelineTest, WorkersRunAStatelessDetectorToo) {
  std::string text;
  for (int i = 0; i < 2500; ++i) {
    std::string e = Exec(i % 2 ? "ResponseComplete" : "RequestReceived");
    e.replace(e.find("a-1"), 3, "a-" + std::to_string(i / 2));
    text += e + (i % 301 == 0 ? "\nnot json\n" : "\n");
  }
  const std::string path = Write("s.log", text);
  std::vector<std::string> ids[2];
  for (int workers : {1, 2}) {
    Config config;
    config.workers = workers;
    Pipeline p(config, detect::MakeBuiltinDetector(), nullptr, nullptr);
    auto r = p.Run({path});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->workers, workers);
    EXPECT_EQ(r->events, 2500u);
    EXPECT_EQ(r->malformed, 9u);
    EXPECT_EQ(r->findings.size(), 1250u);  // one per request, both stages merged
    for (const Finding& f : r->findings) ids[workers - 1].push_back(Describe(f));
  }
  EXPECT_EQ(ids[0], ids[1]);
}

TEST(KeepOnlyTest, RunsOnlyTheNamedRulesAndRejectsUnknownIds) {
  auto set = LoadRules({});
  ASSERT_TRUE(set.ok());
  detect::RuleSet rules = *set;
  ASSERT_TRUE(KeepOnly({"k8s.exec_into_pod", "k8s.privileged_pod"}, &rules).ok());
  std::set<std::string> enabled;
  for (const detect::Rule& r : rules.rules) {
    if (r.enabled) enabled.insert(r.id);
  }
  EXPECT_EQ(enabled, (std::set<std::string>{"k8s.exec_into_pod", "k8s.privileged_pod"}));

  rules = *set;
  Status s = KeepOnly({"k8s.exec_into_pod", "k8s.no_such_rule"}, &rules);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'k8s.no_such_rule'"), std::string::npos) << s.message();

  // Through the provider: the engine runs those rules only.
  RuleProvider provider({}, {"k8s.exec_into_pod"});
  ASSERT_TRUE(provider.Reload().ok());
  EXPECT_EQ(provider.rule_count(), 1u);
  RuleProvider bad({}, {"k8s.no_such_rule"});
  EXPECT_FALSE(bad.Reload().ok());
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

// Stateful detection end to end, on a generated two-day, two-cluster log with every stateful
// attack scenario injected and labelled (bench/vigil-gen --scenarios all):
// - every labelled attack is found by its stateful rule, and the benign background raises no
//   finding from any stateful rule;
// - the findings are identical (ids, counts, first/last times, evidence) whether the log is
//   replayed in one go, in 1,000 random batches with the store reopened along the way, with
//   kill -9 at random points and restarts, or with a restart between learning and attacks.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "stored_findings.h"
#include "subprocess.h"
#include "vigil/app/config.h"
#include "vigil/app/pipeline.h"
#include "vigil/app/rules.h"
#include "vigil/core/time_util.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
using vigil::testing::Subprocess;
using namespace std::chrono_literals;

const char* const kClusters[] = {"cluster-00", "cluster-01"};

struct Label {
  std::string cluster;
  std::set<std::string> rule_ids;  // rule_id and also_rule_ids (detections the attack implies)
  std::set<std::string> audit_ids;
};

// What must be identical between runs: everything but the status (the same in all runs).
using FindingKey = std::string;
std::string Describe(const Finding& f) {
  std::string evidence;
  for (const std::string& e : f.evidence) evidence += e + ",";
  return f.rule_id + " cluster=" + f.cluster + " count=" + std::to_string(f.count) +
         " first=" + FormatTimestampMicros(f.first_seen_us) +
         " last=" + FormatTimestampMicros(f.last_seen_us) + " evidence=" + evidence;
}

std::map<FindingKey, std::string> ReadStore(const std::string& dir) {
  store::StoreOptions opts;
  opts.sync_writes = false;
  auto db = store::RocksDbFindingStore::Open(dir, opts);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return {};
  return testing::StoredFindings(db->get(), Describe);
}

class StatefulEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/vigil-stateful-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    Subprocess gen({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                    "--duration", "2d", "--clusters", "2", "--nodes", "2", "--humans", "5",
                    "--scenarios", "all", "--seed", "3", "--split-by-cluster", "--out",
                    *dir_ + "/audit.jsonl", "--labels", *dir_ + "/labels.jsonl"});
    ASSERT_EQ(gen.Wait(300s), 0) << gen.err();
    // The one-go replay every other mode is compared with.
    for (const char* c : kClusters) {
      ASSERT_EQ(Replay(*dir_ + "/one-go", c, {Log(c)}), 0);
    }
    baseline_ = new std::map<FindingKey, std::string>(ReadStore(*dir_ + "/one-go"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete baseline_;
  }

  static std::string Log(const std::string& cluster) {
    return *dir_ + "/audit-" + cluster + ".jsonl";
  }

  // Runs `vigil replay` into `db`; returns its exit code (-1 when killed).
  static int Replay(const std::string& db, const std::string& cluster,
                    const std::vector<std::string>& files, const std::string& config = "",
                    bool from_start = false, int workers = 1) {
    std::vector<std::string> argv = {VIGIL_BINARY, "replay", "--workers", std::to_string(workers)};
    if (from_start) argv.emplace_back("--from-start");
    argv.insert(argv.end(), files.begin(), files.end());
    for (const char* a : {"--db", db.c_str(), "--cluster", cluster.c_str(), "--format", "jsonl"}) {
      argv.emplace_back(a);
    }
    if (!config.empty()) {
      argv.insert(argv.begin() + 1, config);
      argv.insert(argv.begin() + 1, "--config");
    }
    Subprocess p(argv);
    int rc = p.Wait(600s);
    if (rc != 0 && rc != -1) ADD_FAILURE() << "vigil replay exited " << rc << ": " << p.err();
    return rc;
  }

  static std::vector<Label> Labels() {
    std::vector<Label> out;
    simdjson::dom::parser parser;
    std::ifstream in(*dir_ + "/labels.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      simdjson::dom::element e = parser.parse(line);
      Label l;
      l.cluster = std::string(e["cluster"].get_string().value());
      l.rule_ids.emplace(e["rule_id"].get_string().value());
      simdjson::dom::array also;
      if (e["also_rule_ids"].get_array().get(also) == simdjson::SUCCESS) {
        for (auto id : also) l.rule_ids.emplace(id.get_string().value());
      }
      simdjson::dom::array ids;
      if (e["auditIDs"].get_array().get(ids) == simdjson::SUCCESS) {
        for (auto id : ids) l.audit_ids.emplace(id.get_string().value());
      } else {
        l.audit_ids.emplace(e["auditID"].get_string().value());
      }
      out.push_back(std::move(l));
    }
    return out;
  }

  static std::string* dir_;
  static std::map<FindingKey, std::string>* baseline_;
};

std::string* StatefulEndToEndTest::dir_ = nullptr;
std::map<FindingKey, std::string>* StatefulEndToEndTest::baseline_ = nullptr;

TEST_F(StatefulEndToEndTest, EveryLabelledAttackIsFoundAndTheBackgroundIsQuiet) {
  auto set = app::LoadRules({});
  ASSERT_TRUE(set.ok());
  std::set<std::string> stateful_rules;
  for (const auto& r : set->rules) {
    if (r.stateful && r.enabled) stateful_rules.insert(r.id);
  }
  ASSERT_GE(stateful_rules.size(), 18u);

  std::vector<Label> labels = Labels();
  std::set<std::string> labelled_rules;
  for (const Label& l : labels) {
    for (const std::string& r : l.rule_ids) {
      if (stateful_rules.count(r)) labelled_rules.insert(r);
    }
  }
  EXPECT_EQ(labelled_rules, stateful_rules) << "a stateful rule has no scenario";

  store::StoreOptions opts;
  opts.sync_writes = false;
  auto db = store::RocksDbFindingStore::Open(*dir_ + "/one-go", opts);
  ASSERT_TRUE(db.ok());
  for (const std::string& rule : stateful_rules) {
    SCOPED_TRACE(rule);
    FindingFilter filter;
    filter.rule_id = rule;
    filter.limit = 1000;
    auto page = (*db)->Query(filter);
    ASSERT_TRUE(page.ok());
    std::vector<bool> found(labels.size(), false);
    for (const Finding& f : page->findings) {
      bool labelled = false;
      for (size_t i = 0; i < labels.size(); ++i) {
        const Label& l = labels[i];
        if (!l.rule_ids.count(rule) || l.cluster != f.cluster) continue;
        for (const std::string& e : f.evidence) {
          if (l.audit_ids.count(e)) labelled = found[i] = true;
        }
      }
      EXPECT_TRUE(labelled) << "raised on benign background: " << Describe(f) << " " << f.message;
    }
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i].rule_ids.count(rule)) {
        EXPECT_TRUE(found[i]) << "labelled attack not found in " << labels[i].cluster;
      }
    }
  }
}

TEST_F(StatefulEndToEndTest, KillNineAtRandomPointsThenRestartGivesTheSameFindings) {
  const std::string db = *dir_ + "/killed";
  const std::string config = *dir_ + "/small-checkpoints.yaml";
  std::ofstream(config) << "state:\n  checkpoint_events: 3000\n";
  std::mt19937 rng(42);
  int kills = 0;
  for (const char* c : kClusters) {
    for (int attempt = 0;; ++attempt) {
      ASSERT_LT(attempt, 50) << "never completed";
      // Kill somewhere in the first 30k events of this run; the fifth attempt runs to the end.
      const uint64_t kill_at = attempt < 4 ? 1 + rng() % 30000 : 0;
      if (kill_at > 0) {
        setenv("VIGIL_TEST_KILL_AFTER_EVENTS", std::to_string(kill_at).c_str(), 1);
      } else {
        unsetenv("VIGIL_TEST_KILL_AFTER_EVENTS");
      }
      // Every other restart re-reads the file from its start instead of the stored position:
      // then only the dedup set keeps events from counting twice. The worker count changes
      // too: 2, 1, 1, 2, 2 (so both counts meet both restarts, and the last run has 2).
      int rc = Replay(db, c, {Log(c)}, config, /*from_start=*/attempt % 2 == 1,
                      /*workers=*/1 + (attempt + attempt / 2 + 1) % 2);
      unsetenv("VIGIL_TEST_KILL_AFTER_EVENTS");
      if (rc == 0) break;
      ASSERT_EQ(rc, -1);
      ++kills;
    }
  }
  EXPECT_GE(kills, 4);
  auto got = ReadStore(db);
  EXPECT_EQ(got.size(), baseline_->size());
  EXPECT_TRUE(got == *baseline_) << testing::FindingsDiff(*baseline_, got);
}

TEST_F(StatefulEndToEndTest, WorkerThreadsGiveTheSameFindings) {
  for (int workers : {2, 4}) {
    const std::string db = *dir_ + "/workers-" + std::to_string(workers);
    for (const char* c : kClusters) {
      ASSERT_EQ(Replay(db, c, {Log(c)}, "", false, workers), 0);
    }
    auto got = ReadStore(db);
    EXPECT_EQ(got.size(), baseline_->size()) << workers << " workers";
    EXPECT_TRUE(got == *baseline_) << workers << " workers:" << testing::FindingsDiff(*baseline_, got);
  }
}

TEST_F(StatefulEndToEndTest, AThousandRandomBatchesGiveTheSameFindings) {
  // Cut each cluster's log into 500 random batches (files), replayed one after the other by
  // the pipeline over the same RocksDB store, reopened every 100 batches (a restart).
  std::mt19937 rng(7);
  const std::string db_dir = *dir_ + "/batches";
  app::Config config;
  config.max_findings_shown = 0;
  app::RuleProvider rules({});
  ASSERT_TRUE(rules.Reload().ok());
  store::StoreOptions opts;
  opts.sync_writes = false;
  int batches = 0;
  for (const char* c : kClusters) {
    std::vector<std::string> lines;
    {
      std::ifstream in(Log(c));
      std::string line;
      while (std::getline(in, line)) lines.push_back(std::move(line));
    }
    ASSERT_GT(lines.size(), 1000u);
    std::set<size_t> cuts;
    while (cuts.size() < 499) cuts.insert(1 + rng() % (lines.size() - 1));
    cuts.insert(lines.size());
    size_t from = 0;
    std::unique_ptr<store::RocksDbFindingStore> db;
    config.cluster = c;
    for (size_t to : cuts) {
      const std::string file = *dir_ + "/batch-" + std::to_string(batches) + ".jsonl";
      {
        std::ofstream out(file);
        for (size_t i = from; i < to; ++i) out << lines[i] << '\n';
      }
      if (!db || batches % 100 == 0) {
        db.reset();
        auto opened = store::RocksDbFindingStore::Open(db_dir, opts);
        ASSERT_TRUE(opened.ok()) << opened.status().ToString();
        db = std::move(opened).value();
      }
      app::Pipeline pipeline(
          config, app::MakeFollowingDetector(&rules, db.get(), app::StatefulOptionsFrom(config)),
          db.get(), nullptr, db.get());
      auto report = pipeline.Run({file});
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      ASSERT_EQ(report->events, to - from);
      fs::remove(file);
      from = to;
      ++batches;
    }
  }
  EXPECT_EQ(batches, 1000);
  auto got = ReadStore(db_dir);
  EXPECT_TRUE(got == *baseline_) << testing::FindingsDiff(*baseline_, got);
}

TEST_F(StatefulEndToEndTest, ARestartBetweenLearningAndAttacksKeepsTheBaseline) {
  // Two processes: the first 24.5 hours (the learning period and a bit), then the rest.
  const std::string db = *dir_ + "/restarted";
  for (const char* c : kClusters) {
    std::ifstream in(Log(c));
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line)) lines.push_back(std::move(line));
    simdjson::dom::parser parser;
    auto time_of = [&](const std::string& l) {
      return *ParseTimestampMicros(
          parser.parse(l)["requestReceivedTimestamp"].get_string().value());
    };
    const int64_t cut_time = time_of(lines.front()) + int64_t{24 * 3600 + 1800} * 1'000'000;
    size_t cut = 0;
    while (cut < lines.size() && time_of(lines[cut]) < cut_time) ++cut;
    ASSERT_GT(cut, 0u);
    ASSERT_LT(cut, lines.size());
    const std::string first = *dir_ + "/first-" + c + ".jsonl";
    const std::string second = *dir_ + "/second-" + c + ".jsonl";
    {
      std::ofstream a(first), b(second);
      for (size_t i = 0; i < lines.size(); ++i) (i < cut ? a : b) << lines[i] << '\n';
    }
    ASSERT_EQ(Replay(db, c, {first}), 0);
    ASSERT_EQ(Replay(db, c, {second}), 0);
  }
  auto got = ReadStore(db);
  EXPECT_TRUE(got == *baseline_) << testing::FindingsDiff(*baseline_, got);
}

TEST_F(StatefulEndToEndTest, FindingsCommandListsTheStore) {
  Subprocess p({VIGIL_BINARY, "findings", "--db", *dir_ + "/one-go", "--format", "jsonl"});
  ASSERT_EQ(p.Wait(120s), 0) << p.err();
  size_t lines = 0;
  for (char ch : p.out()) lines += ch == '\n';
  EXPECT_EQ(lines, baseline_->size());
  Subprocess missing({VIGIL_BINARY, "findings", "--db", *dir_ + "/nope"});
  EXPECT_EQ(missing.Wait(60s), 2);
  EXPECT_NE(missing.err().find("no store at"), std::string::npos) << missing.err();
}

}  // namespace
}  // namespace vigil

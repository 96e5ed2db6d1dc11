// Scale-out on Kafka end to end: several `vigil serve` processes in one consumer group over
// vigil-kafka-mock (each in a process of its own), with the state changelog. When partitions move
// (an instance killed with SIGKILL, or a new one joining mid-stream), their state follows them
// through the changelog, and the findings on the findings topic, stateful ones included (a
// baseline learnt before the move is still known after it), are exactly those of a single
// replay over the same events.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "kafka_mock_process.h"
#include "kafka_test_util.h"
#include "stored_findings.h"
#include "subprocess.h"
#include "vigil/core/finding.h"

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

constexpr const char* kClusters[] = {"prod-eu", "prod-us", "staging"};
constexpr const char* kGroup = "so";

// The input (3 clusters, split in two halves per cluster) and what one replay finds in it.
struct Input {
  std::string dir;
  std::vector<KafkaTestMessage> first, second;  // keyed by cluster
  std::map<std::string, std::string> baseline;  // id -> FindingSummary
};

Input* MakeInput() {
  auto* in = new Input;
  char tmpl[] = "/tmp/vigil-scale-out-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return in;
  in->dir = tmpl;
  Subprocess gen({"/usr/bin/python3", std::string(VIGIL_SOURCE_DIR) + "/bench/vigil-gen",
                  "--events", "6000", "--clusters", "3", "--attacks", "2", "--rate", "100",
                  "--seed", "5", "--split-by-cluster", "--out", in->dir + "/audit.jsonl"});
  EXPECT_EQ(gen.Wait(300s), 0) << gen.err();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(in->dir)) {
    if (e.path().filename().string().rfind("audit-", 0) == 0) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files.size(), 3u);
  // new_terms rules learn for 20 s of event time (the log spans 60 s): most of their findings
  // come after a partition moved, and a baseline lost or learnt again would change them.
  std::ofstream(in->dir + "/replay.yaml") << "state: {learning_period: 20s}\n";
  for (size_t c = 0; c < files.size(); ++c) {
    Subprocess replay({VIGIL_BINARY, "--config", in->dir + "/replay.yaml", "--log-level", "warn",
                       "replay", files[c], "--db", in->dir + "/replay-db", "--cluster",
                       kClusters[c], "--format", "jsonl"});
    EXPECT_EQ(replay.Wait(300s), 0) << replay.err();
    std::vector<KafkaTestMessage> records;
    std::ifstream lines(files[c]);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      KafkaTestMessage m;
      m.key = kClusters[c];
      m.value = line;
      records.push_back(std::move(m));
    }
    const size_t half = records.size() / 2;
    in->first.insert(in->first.end(), records.begin(), records.begin() + half);
    in->second.insert(in->second.end(), records.begin() + half, records.end());
  }
  in->baseline = testing::StoredFindings(in->dir + "/replay-db");
  return in;
}

// One `vigil serve` of the group, its log in a file.
class Instance {
 public:
  Instance(const std::string& dir, const std::string& name, const std::string& bootstrap,
           const std::string& role = "worker", bool findings_view = false,
           const std::string& topics = "[{name: audit, cluster_from: key}]",
           const std::string& kafka_extra = "")
      : log_(dir + "/" + name + ".log"), db_(dir + "/" + name + "-db") {
    const std::string config = dir + "/" + name + ".yaml";
    std::ofstream(config) << "db: " << db_ << "\nlisten: 127.0.0.1:0\nrole: " << role << "\n"
                          << "log: {level: info}\n"
                          << "checkpoint: {interval: 200ms, events: 500}\n"
                          << "state: {learning_period: 20s}\n"
                          << "kafka:\n  brokers: \"" << bootstrap << "\"\n"
                          << "  group: " << kGroup << "\n"
                          << "  topics: " << topics << "\n"
                          << "  findings_topic: vigil-findings\n"
                          << "  changelog: true\n"
                          << "  findings_view: " << (findings_view ? "true" : "false") << "\n"
                          << kafka_extra
                          << "  properties: {session.timeout.ms: \"6000\", "
                             "heartbeat.interval.ms: \"500\"}\n";
    process_ = std::make_unique<Subprocess>(std::vector<std::string>{
        "/bin/sh", "-c", "exec \"$0\" serve --config \"$1\" 2>>\"$2\"", VIGIL_BINARY, config,
        log_});
    port_ = ListeningPort(*process_);
  }
  uint16_t port() const { return port_; }
  const std::string& db() const { return db_; }
  Subprocess& process() { return *process_; }
  std::string log() const {
    std::ifstream in(log_);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s.size() > 6000 ? s.substr(s.size() - 6000) : s;
  }
  std::string metrics() const { return port_ == 0 ? "" : HttpGet(port_, "/metrics").body; }
  // The input partitions assigned to it now (from its /metrics).
  std::set<int> Assigned() const {
    std::set<int> out;
    const std::string m = metrics();
    const std::string prefix = "\nvigil_kafka_lag{topic=\"audit\",partition=\"";
    for (size_t at = m.find(prefix); at != std::string::npos; at = m.find(prefix, at + 1)) {
      out.insert(std::stoi(m.substr(at + prefix.size())));
    }
    return out;
  }
  // A counter or gauge without labels from its /metrics, or -1.
  double Metric(const std::string& name) const {
    const std::string m = metrics();
    const size_t at = m.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stod(m.substr(at + name.size() + 2));
  }

 private:
  std::string log_;
  std::string db_;
  std::unique_ptr<Subprocess> process_;
  uint16_t port_ = 0;
};

class ScaleOutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { input_ = MakeInput(); }
  static void TearDownTestSuite() {
    // VIGIL_KEEP_TEST_DIR=1 keeps the instances' logs and stores for a look after a failure.
    if (input_ != nullptr && !input_->dir.empty() && std::getenv("VIGIL_KEEP_TEST_DIR") == nullptr) {
      fs::remove_all(input_->dir);
    }
    delete input_;
    input_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(input_, nullptr);
    ASSERT_FALSE(input_->dir.empty());
    ASSERT_GT(input_->baseline.size(), 100u);
    dir_ = input_->dir + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
    testing::KafkaMockOptions o;
    o.brokers = 1;
    // The mock has no CreateTopics: what Vigil would create is made here.
    o.topics = {"audit:8", std::string(kGroup) + "-state-changelog:8", "vigil-findings:4",
                "audit-raw:1", std::string(kGroup) + "-repartition:8"};
    o.stderr_path = dir_ + "/mock.log";
    mock_ = std::make_unique<KafkaMockProcess>(o);
    ASSERT_TRUE(mock_->ok()) << mock_->error();
  }

  void Produce(const std::vector<KafkaTestMessage>& records, const std::string& topic = "audit") {
    auto r = testing::ProduceMessages(mock_->bootstrap(), topic, records, 120s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const KafkaTestMessage& m : *r) data_partitions_.insert(m.partition);
  }

  // Every record produced to `topic` is applied and its offset committed by `group`.
  bool AllCommitted(std::chrono::seconds timeout, const std::string& topic = "audit",
                    const std::string& group = kGroup) {
    return WaitFor(
        [&] {
          auto hw = testing::HighWatermarks(mock_->bootstrap(), topic, 10s);
          auto co = testing::CommittedOffsets(mock_->bootstrap(), group, topic, 10s);
          if (!hw.ok() || !co.ok()) return false;
          for (size_t p = 0; p < hw->size(); ++p) {
            if ((*hw)[p] > 0 && (*co)[p] != (*hw)[p]) return false;
          }
          return true;
        },
        timeout);
  }

  // The group's assignment covers the 8 partitions, each instance holding some.
  static bool Spread(const std::vector<Instance*>& instances, std::chrono::seconds timeout) {
    return WaitFor(
        [&] {
          std::set<int> all;
          for (Instance* i : instances) {
            const std::set<int> a = i->Assigned();
            if (a.empty()) return false;
            for (int p : a) {
              if (!all.insert(p).second) return false;  // held twice: still moving
            }
          }
          return all.size() == 8;
        },
        timeout);
  }

  // `view` has read every record of the findings topic (the writers have stopped).
  bool ViewReadAll(const Instance& view) {
    return WaitFor(
        [&] {
          auto hw = testing::HighWatermarks(mock_->bootstrap(), "vigil-findings", 10s);
          if (!hw.ok()) return false;
          int64_t sum = 0;
          for (int64_t h : *hw) sum += h;
          return view.Metric("vigil_findings_view_records_total") >= static_cast<double>(sum);
        },
        60s);
  }

  // The last value of each finding on the findings topic, as FindingSummary.
  std::map<std::string, std::string> FindingsOnTopic() {
    std::map<std::string, std::string> out;
    auto hw = testing::HighWatermarks(mock_->bootstrap(), "vigil-findings", 30s);
    EXPECT_TRUE(hw.ok()) << hw.status().ToString();
    if (!hw.ok()) return out;
    size_t count = 0;
    for (int64_t h : *hw) count += static_cast<size_t>(h);
    auto got = testing::ConsumeGroup(mock_->bootstrap(), "check-" + std::to_string(++readers_),
                                     "vigil-findings", count, 120s);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok()) return out;
    for (const KafkaTestMessage& m : *got) {
      if (!m.value) continue;
      auto f = FindingFromJson(*m.value);
      EXPECT_TRUE(f.ok()) << *m.value;
      if (f.ok()) out[f->id] = testing::FindingSummary(*f);
    }
    return out;
  }

  static Input* input_;
  std::string dir_;
  std::unique_ptr<KafkaMockProcess> mock_;
  std::set<int> data_partitions_;
  int readers_ = 0;
};

Input* ScaleOutTest::input_ = nullptr;

TEST_F(ScaleOutTest, KillNineOneOfThreeAndTheSurvivorsRestoreItsState) {
  Instance a(dir_, "a", mock_->bootstrap());
  Instance b(dir_, "b", mock_->bootstrap());
  Instance c(dir_, "c", mock_->bootstrap());
  // The API of the whole group: reads only the findings topic.
  Instance view(dir_, "view", mock_->bootstrap(), "api");
  for (Instance* i : {&a, &b, &c, &view}) ASSERT_NE(i->port(), 0) << i->log();
  ASSERT_TRUE(Spread({&a, &b, &c}, 120s)) << a.log() << b.log() << c.log();
  Produce(input_->first);
  ASSERT_TRUE(AllCommitted(300s)) << a.log() << b.log() << c.log();
  // The instance with the most of the data dies without a word.
  Instance* victim = nullptr;
  size_t most = 0;
  for (Instance* i : {&a, &b, &c}) {
    size_t n = 0;
    for (int p : i->Assigned()) n += data_partitions_.count(p);
    if (victim == nullptr || n > most) {
      victim = i;
      most = n;
    }
  }
  ASSERT_GT(most, 0u);
  victim->process().Signal(SIGKILL);
  EXPECT_EQ(victim->process().Wait(60s), -1);
  std::vector<Instance*> survivors;
  for (Instance* i : {&a, &b, &c}) {
    if (i != victim) survivors.push_back(i);
  }
  // Its partitions move to the survivors (after its session expires), which restore their state
  // from the changelog before reading them.
  ASSERT_TRUE(Spread(survivors, 120s)) << survivors[0]->log() << survivors[1]->log();
  Produce(input_->second);
  ASSERT_TRUE(AllCommitted(300s)) << survivors[0]->log() << survivors[1]->log();
  double restores = 0;
  for (Instance* i : survivors) {
    restores += std::max(0.0, i->Metric("vigil_changelog_restores_total"));
    EXPECT_TRUE(WaitFor([&] { return HttpGet(i->port(), "/readyz").status == 200; }, 60s))
        << HttpGet(i->port(), "/readyz").body;
  }
  EXPECT_GE(restores, 1.0);
  for (Instance* i : survivors) {
    i->process().Signal(SIGTERM);
    EXPECT_EQ(i->process().Wait(60s), 0) << i->log();
  }
  const std::string diff = testing::FindingsDiff(input_->baseline, FindingsOnTopic());
  EXPECT_TRUE(diff.empty()) << diff.substr(0, 3000);
  // The api-role instance serves the union of every instance's findings, counts included.
  ASSERT_TRUE(ViewReadAll(view)) << view.metrics() << view.log();
  EXPECT_EQ(HttpGet(view.port(), "/readyz").status, 200) << HttpGet(view.port(), "/readyz").body;
  const std::string some = input_->baseline.begin()->first;
  const auto one = HttpGet(view.port(), "/v1/findings/" + some);
  EXPECT_EQ(one.status, 200) << one.body;
  EXPECT_NE(one.body.find(some), std::string::npos) << one.body;
  view.process().Signal(SIGTERM);
  ASSERT_EQ(view.process().Wait(60s), 0) << view.log();
  const std::string view_diff =
      testing::FindingsDiff(input_->baseline, testing::StoredFindings(view.db()));
  EXPECT_TRUE(view_diff.empty()) << view_diff.substr(0, 3000);
}

TEST_F(ScaleOutTest, AnInstanceJoiningMidStreamTakesPartitionsWithTheirState) {
  Instance a(dir_, "a", mock_->bootstrap());
  ASSERT_NE(a.port(), 0) << a.log();
  ASSERT_TRUE(Spread({&a}, 120s)) << a.log();
  Produce(input_->first);
  ASSERT_TRUE(AllCommitted(300s)) << a.log();
  // b also serves the view of every instance's findings (kafka.findings_view, in DB/view).
  Instance b(dir_, "b", mock_->bootstrap(), "worker", /*findings_view=*/true);
  ASSERT_NE(b.port(), 0) << b.log();
  ASSERT_TRUE(Spread({&a, &b}, 120s)) << a.log() << b.log();
  Produce(input_->second);
  ASSERT_TRUE(AllCommitted(300s)) << a.log() << b.log();
  a.process().Signal(SIGTERM);
  EXPECT_EQ(a.process().Wait(60s), 0) << a.log();
  // b's API serves a's findings too, once its view has read the topic to the end.
  ASSERT_TRUE(ViewReadAll(b)) << b.metrics();
  b.process().Signal(SIGTERM);
  EXPECT_EQ(b.process().Wait(60s), 0) << b.log();
  const std::string diff = testing::FindingsDiff(input_->baseline, FindingsOnTopic());
  EXPECT_TRUE(diff.empty()) << diff.substr(0, 3000);
  const std::string view_diff =
      testing::FindingsDiff(input_->baseline, testing::StoredFindings(b.db() + "/view"));
  EXPECT_TRUE(view_diff.empty()) << view_diff.substr(0, 3000);
}

// standby_replicas: 1. Each of two instances keeps a warm copy of the partitions the other owns;
// when one dies, the survivor takes its partitions over reading only what its standby had not
// applied (here nothing: the dead one's last checkpoint was complete), not their whole
// changelog, and the findings are still those of a single replay.
TEST_F(ScaleOutTest, AStandbyTakesOverWithoutAFullRestore) {
  const std::string standby = "  standby_replicas: 1\n";
  const std::string topics = "[{name: audit, cluster_from: key}]";
  Instance a(dir_, "a", mock_->bootstrap(), "worker", false, topics, standby);
  Instance b(dir_, "b", mock_->bootstrap(), "worker", false, topics, standby);
  for (Instance* i : {&a, &b}) ASSERT_NE(i->port(), 0) << i->log();
  ASSERT_TRUE(Spread({&a, &b}, 120s)) << a.log() << b.log();
  Produce(input_->first);
  ASSERT_TRUE(AllCommitted(300s)) << a.log() << b.log();
  // The one with the most data dies once the other's standby has read the changelog to its end.
  Instance* victim = &a;
  Instance* survivor = &b;
  auto data = [&](const Instance& i) {
    size_t n = 0;
    for (int p : i.Assigned()) n += data_partitions_.count(p);
    return n;
  };
  if (data(b) > data(a)) std::swap(victim, survivor);
  const std::set<int> moving = victim->Assigned();
  ASSERT_GT(data(*victim), 0u);
  ASSERT_TRUE(
      WaitFor([&] { return survivor->Metric("vigil_changelog_standby_lag_records") == 0; }, 60s))
      << survivor->metrics();
  EXPECT_GT(survivor->Metric("vigil_changelog_standby_checkpoints_total"), 0);
  auto changelog =
      testing::HighWatermarks(mock_->bootstrap(), std::string(kGroup) + "-state-changelog", 10s);
  ASSERT_TRUE(changelog.ok());
  int64_t full = 0;  // what a restore without a standby would read (at least)
  for (int p : moving) full += (*changelog)[static_cast<size_t>(p)];
  ASSERT_GT(full, 100);
  const double read_before =
      std::max(0.0, survivor->Metric("vigil_changelog_restore_records_total"));
  victim->process().Signal(SIGKILL);
  EXPECT_EQ(victim->process().Wait(60s), -1);
  ASSERT_TRUE(Spread({survivor}, 120s)) << survivor->log();
  const double read = survivor->Metric("vigil_changelog_restore_records_total") - read_before;
  EXPECT_LT(read, static_cast<double>(full) / 10) << "of " << full << "\n" << survivor->log();
  Produce(input_->second);
  ASSERT_TRUE(AllCommitted(300s)) << survivor->log();
  survivor->process().Signal(SIGTERM);
  EXPECT_EQ(survivor->process().Wait(60s), 0) << survivor->log();
  const std::string diff = testing::FindingsDiff(input_->baseline, FindingsOnTopic());
  EXPECT_TRUE(diff.empty()) << diff.substr(0, 3000);
}

// A shipper keys records at random (the cluster is in a header), into one partition: the
// repartition stage re-keys them by cluster into so-repartition (8 partitions, so detection can
// spread over instances), detection reads only that, and the findings are those of keyed input.
// (Spread over several input partitions, a cluster's events would come in whatever order the
// shipper interleaved them: the stage keeps each input partition's order, not event time.)
TEST_F(ScaleOutTest, InputNotKeyedByClusterIsRepartitioned) {
  auto unkeyed = [](std::vector<KafkaTestMessage> records, int from) {
    for (size_t i = 0; i < records.size(); ++i) {
      records[i].headers = {{"x-cluster", *records[i].key}};
      records[i].key = "shipper-" + std::to_string((from + i) * 7919 % 1000);
    }
    return records;
  };
  Instance a(dir_, "a", mock_->bootstrap(), "worker", false,
             "[{name: audit-raw, cluster_from: \"header:x-cluster\", repartition: true}]");
  ASSERT_NE(a.port(), 0) << a.log();
  // Half at a time: one mock partition keeps only ~5 MB, the whole input is 5.4 MB. Two records
  // whose channel names no cluster (no header) go on to detection, which dead-letters them.
  std::vector<KafkaTestMessage> first = unkeyed(input_->first, 0);
  for (int i = 0; i < 2; ++i) {
    KafkaTestMessage m = first[static_cast<size_t>(i)];
    m.headers.clear();
    first.insert(first.begin() + 100, m);
  }
  Produce(first, "audit-raw");
  ASSERT_TRUE(AllCommitted(300s, "audit-raw", std::string(kGroup) + "-repartition")) << a.log();
  Produce(unkeyed(input_->second, 1 << 20), "audit-raw");
  // The stage committed all of the input, and detection all of what the stage wrote.
  ASSERT_TRUE(AllCommitted(300s, "audit-raw", std::string(kGroup) + "-repartition")) << a.log();
  ASSERT_TRUE(AllCommitted(300s, std::string(kGroup) + "-repartition")) << a.log();
  auto hw = testing::HighWatermarks(mock_->bootstrap(), std::string(kGroup) + "-repartition", 10s);
  ASSERT_TRUE(hw.ok());
  int64_t records = 0, partitions = 0;
  for (int64_t h : *hw) {
    records += h;
    partitions += h > 2 ? 1 : 0;  // (the 2 records without a cluster land anywhere)
  }
  EXPECT_EQ(records, static_cast<int64_t>(input_->first.size() + input_->second.size() + 2));
  EXPECT_LE(partitions, 3);  // whole clusters per partition: at most one per cluster
  EXPECT_GE(a.Metric("vigil_repartition_records_total"), static_cast<double>(records));
  EXPECT_EQ(a.Metric("vigil_repartition_no_cluster_total"), 2.0);
  const auto dead = HttpGet(a.port(), "/v1/deadletters");
  EXPECT_EQ(dead.status, 200);
  EXPECT_NE(dead.body.find("repartition: the record has no header 'x-cluster'"), std::string::npos)
      << dead.body.substr(0, 2000);
  a.process().Signal(SIGTERM);
  EXPECT_EQ(a.process().Wait(60s), 0) << a.log();
  const std::string diff = testing::FindingsDiff(input_->baseline, FindingsOnTopic());
  EXPECT_TRUE(diff.empty()) << diff.substr(0, 3000);
}

}  // namespace
}  // namespace vigil

// KafkaStateChangelog against vigil-kafka-mock: what a checkpoint writes restores into another
// store (state, watermarks, the input offset to resume at; dedup entries stay local), a store that
// reflects the changelog restores nothing, and records after the last marker (a writer killed
// mid-send) are kept but guarded, dedup entries found there deleted.
#include "vigil/ingest/state_changelog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "../wait_for.h"
#include "kafka_mock_process.h"
#include "kafka_test_util.h"
#include "vigil/core/finding.h"
#include "vigil/core/memory_state_store.h"
#include "vigil/ingest/kafka_source.h"

namespace vigil::ingest {
namespace {

using namespace std::chrono_literals;
using testing::KafkaTestMessage;

class StateChangelogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::KafkaMockOptions o;
    o.brokers = 1;
    o.topics = {"g-state-changelog:4"};
    mock_ = std::make_unique<testing::KafkaMockProcess>(o);
    ASSERT_TRUE(mock_->ok()) << mock_->error();
  }

  std::unique_ptr<KafkaStateChangelog> Make() {
    StateChangelogOptions o;
    o.brokers = mock_->bootstrap();
    o.group = "g";
    o.produce_timeout = 30s;
    o.restore_timeout = 60s;
    o.standby_lag_interval = 50ms;
    auto c = KafkaStateChangelog::Create(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return nullptr;
    Status s = (*c)->Start(30s);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ((*c)->partitions(), 4);
    return std::move(c).value();
  }

  // One checkpoint of cluster c1 on audit[2] setting state_key_ to `value`, covering offsets
  // up to `position`, written by `writer` and committed to `local`.
  void WriteCheckpoint(KafkaStateChangelog* writer, StateStore* local,
                       const std::string& value = "v1", uint64_t position = 41, bool commit = true,
                       std::string key = "") {
    RecordOrigin origin;
    origin.key = "audit";
    origin.partition = 2;
    origin.cluster = "c1";
    RawRecord rec;
    rec.position = position;
    writer->Applied(origin, rec);
    StateCheckpoint cp;
    cp.state.emplace_back(key.empty() ? state_key_ : key, value);
    cp.dedup.emplace_back(dedup_key_, "exp1");
    cp.meta.emplace_back(WatermarkMetaKey("c1"), "wm-" + value);
    ChangelogBatch batch;
    ASSERT_TRUE(writer->Prepare(cp, *local, &batch).ok());
    EXPECT_FALSE(batch.empty());
    Status s = writer->Write(batch, &cp);
    ASSERT_TRUE(s.ok()) << s.ToString();
    // The local store learns which changelog records it reflects, and the marker.
    EXPECT_TRUE(std::any_of(cp.meta.begin(), cp.meta.end(), [](const auto& m) {
      return m.first == KafkaStateChangelog::PositionKey("audit", 2);
    }));
    if (commit) {
      ASSERT_TRUE(local->Commit(cp).ok());
    }
  }

  // What a checkpoint that got only part of the way leaves (no marker): state_key_ = `value`.
  void WriteTail(const std::string& value, const std::string& covered) {
    KafkaTestMessage m;
    m.key = "s" + state_key_;
    m.value = value;
    m.partition = 2;
    m.headers = {{"vigil-topic", "audit"}, {"vigil-offset", covered}};
    ASSERT_TRUE(testing::ProduceMessages(mock_->bootstrap(), "g-state-changelog", {m}, 30s).ok());
  }

  static std::optional<std::string> Meta(const StateStore& s, const std::string& key) {
    return s.GetMeta(key).value();
  }
  std::optional<std::string> State(const StateStore& s, const std::string& key = "") const {
    return s.GetState(key.empty() ? state_key_ : key).value();
  }
  // Waits until `standby` polled `n` changelog records in all (owned streams' too).
  static bool ReadAtLeast(KafkaStateChangelog* standby, uint64_t n) {
    return testing::WaitFor([&] { return standby->stats().standby_read >= n; }, 30s);
  }

  std::unique_ptr<testing::KafkaMockProcess> mock_;
  const std::string state_key_ = MakeStateKey("rule.a", "c1", "alice");
  const std::string dedup_key_ = MakeDedupKey("c1", "id-1", "ResponseComplete");
  const std::string other_key_ = MakeStateKey("rule.a", "c1", "bob");
};

// A state store whose next `fail` writes of state fail (a full disk, say).
class FlakyStore final : public StateStore {
 public:
  std::atomic<int> fail{0};
  MemoryStateStore inner;
  Result<std::optional<std::string>> GetState(std::string_view key) const override {
    return inner.GetState(key);
  }
  Result<bool> ContainsEvent(std::string_view key) const override {
    return inner.ContainsEvent(key);
  }
  Result<std::optional<std::string>> GetMeta(std::string_view key) const override {
    return inner.GetMeta(key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> ScanMeta(
      std::string_view prefix) const override {
    return inner.ScanMeta(prefix);
  }
  Status Commit(const StateCheckpoint& cp) override {
    if (!cp.state.empty() && fail.fetch_sub(1) > 0) return Status::IoError("disk full");
    return inner.Commit(cp);
  }
  Status CommitIfMeta(const StateCheckpoint& cp, std::string_view key,
                      const std::optional<std::string>& expected) override {
    if (!cp.state.empty() && fail.fetch_sub(1) > 0) return Status::IoError("disk full");
    return inner.CommitIfMeta(cp, key, expected);
  }
};

TEST_F(StateChangelogTest, ACheckpointRestoresIntoAnotherStore) {
  auto writer = Make();
  ASSERT_NE(writer, nullptr);
  MemoryStateStore local;
  WriteCheckpoint(writer.get(), &local);

  auto reader = Make();
  MemoryStateStore fresh;
  int64_t offset = -1;
  auto r = reader->Restore("audit", 2, &fresh, &offset);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(offset, 42);  // the next input offset the checkpoint covers
  EXPECT_EQ(fresh.GetState(state_key_).value(), std::optional<std::string>("v1"));
  // Dedup entries stay local (one per event: a compacted topic would keep them all).
  EXPECT_FALSE(fresh.ContainsEvent(dedup_key_).value());
  EXPECT_EQ(fresh.GetMeta(WatermarkMetaKey("c1")).value(), std::optional<std::string>("wm-v1"));
  EXPECT_EQ(fresh.GetMeta(KafkaRecordSource::OffsetKey("g", "audit", 2)).value(), std::optional<std::string>("42"));
  EXPECT_EQ(r->clusters, std::vector<std::string>{"c1"});
  EXPECT_TRUE(r->state_guards.empty());
  EXPECT_EQ(reader->stats().restores, 1u);

  // Both stores now reflect the changelog: nothing more to restore (and no cluster for the
  // pipeline to read again: no standby wrote any).
  const uint64_t read = reader->stats().restore_records;
  for (MemoryStateStore* s : {&fresh, &local}) {
    auto again = reader->Restore("audit", 2, s, &offset);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(offset, -1);
    EXPECT_TRUE(again->clusters.empty());
  }
  EXPECT_EQ(reader->stats().restore_records, read);
  // Another partition has nothing.
  auto other = reader->Restore("audit", 3, &fresh, &offset);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(offset, -1);
  // A partition the changelog does not have is an error that says what to do.
  auto missing = reader->Restore("audit", 7, &fresh, &offset);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("partitions"), std::string::npos);
}

TEST_F(StateChangelogTest, RecordsAfterTheLastMarkerAreKeptAndGuarded) {
  auto writer = Make();
  ASSERT_NE(writer, nullptr);
  MemoryStateStore local;
  WriteCheckpoint(writer.get(), &local);
  // The next checkpoint (covering up to offset 49) got only part of the way: no marker.
  Finding f;
  f.id = "f1";
  f.rule_id = "rule.a";
  f.cluster = "c1";
  const std::string dedup2 = MakeDedupKey("c1", "id-2", "ResponseComplete");
  std::vector<KafkaTestMessage> tail(3);
  tail[0].key = "s" + state_key_;
  tail[0].value = "v2";
  tail[1].key = "d" + dedup2;
  tail[1].value = "exp2";
  tail[2].key = "f" + f.id;
  tail[2].value = FindingToJson(f);
  for (KafkaTestMessage& m : tail) {
    m.partition = 2;
    m.headers = {{"vigil-topic", "audit"}, {"vigil-offset", "50"}};
  }
  // And a record of another input topic sharing the partition, which is not this stream's.
  KafkaTestMessage other;
  other.key = "s" + MakeStateKey("rule.a", "c9", "bob");
  other.value = "x";
  other.partition = 2;
  other.headers = {{"vigil-topic", "audit-other"}, {"vigil-offset", "7"}};
  tail.push_back(other);
  ASSERT_TRUE(testing::ProduceMessages(mock_->bootstrap(), "g-state-changelog", tail, 30s).ok());

  auto reader = Make();
  MemoryStateStore fresh;
  int64_t offset = -1;
  auto r = reader->Restore("audit", 2, &fresh, &offset);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(offset, 42);  // the last complete checkpoint's
  // The newer value is kept, and events before 50 will not be applied to it again.
  EXPECT_EQ(fresh.GetState(state_key_).value(), std::optional<std::string>("v2"));
  ASSERT_EQ(r->state_guards.size(), 1u);
  EXPECT_EQ(r->state_guards[0], std::make_pair(state_key_, uint64_t{50}));
  ASSERT_EQ(r->finding_guards.size(), 1u);
  EXPECT_EQ(r->finding_guards[0], std::make_pair(std::string("f1"), uint64_t{50}));
  // The incomplete checkpoint's events are replayed: a dedup entry found there (an older writer
  // sent them) is deleted, in a store that had it too.
  EXPECT_FALSE(fresh.ContainsEvent(dedup2).value());
  EXPECT_FALSE(fresh.GetState(MakeStateKey("rule.a", "c9", "bob")).value().has_value());

  // The store that wrote checkpoint 1 restores only what came after it: the tail.
  StateCheckpoint had;
  had.dedup.emplace_back(dedup2, "exp2");
  ASSERT_TRUE(local.Commit(had).ok());
  const uint64_t read_before = reader->stats().restore_records;
  auto incremental = reader->Restore("audit", 2, &local, &offset);
  ASSERT_TRUE(incremental.ok());
  EXPECT_EQ(offset, 42);
  EXPECT_EQ(reader->stats().restore_records - read_before, 3u);
  EXPECT_EQ(local.GetState(state_key_).value(), std::optional<std::string>("v2"));
  EXPECT_FALSE(local.ContainsEvent(dedup2).value());
  EXPECT_TRUE(local.ContainsEvent(dedup_key_).value());  // its own, from before: kept
}

// A changelog Vigil creates is compacted, and with a retention also deleted past it (state no
// rule reads any more leaves the topic, which stays bounded).
TEST(ChangelogTopicConfigsTest, CompactAndDeletePastTheRetention) {
  using Configs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(ChangelogTopicConfigs(0ms), (Configs{{"cleanup.policy", "compact"}}));
  EXPECT_EQ(ChangelogTopicConfigs(std::chrono::hours(24 * 91)),
            (Configs{{"cleanup.policy", "compact,delete"}, {"retention.ms", "7862400000"}}));
}

// standby_replicas: 1. Another instance's standby keeps its store at the last complete
// checkpoint of a stream it does not own (never the records after it), so that taking the
// stream over reads only those; it leaves an owned stream alone, follows a released one again,
// and reads a stream again when its store position moved under it.
TEST_F(StateChangelogTest, AStandbyKeepsAWarmCopyAndATakeOverReadsOnlyTheTail) {
  auto writer = Make();
  ASSERT_NE(writer, nullptr);
  MemoryStateStore local;
  WriteCheckpoint(writer.get(), &local, "v1", 41);

  MemoryStateStore warm;  // outlives the standby that writes it
  auto standby = Make();
  ASSERT_NE(standby, nullptr);
  ASSERT_TRUE(standby->StartStandby(&warm).ok());
  const std::string pos_key = KafkaStateChangelog::PositionKey("audit", 2);
  const std::string offset_key = KafkaRecordSource::OffsetKey("g", "audit", 2);
  ASSERT_TRUE(testing::WaitFor([&] { return Meta(warm, pos_key) == "2"; }, 30s))
      << Meta(warm, pos_key).value_or("none");
  EXPECT_EQ(State(warm), "v1");
  EXPECT_EQ(Meta(warm, offset_key), "42");
  EXPECT_EQ(Meta(warm, WatermarkMetaKey("c1")), "wm-v1");
  EXPECT_FALSE(warm.ContainsEvent(dedup_key_).value());  // dedup stays with its writer

  // The writer goes on: a complete checkpoint, then one cut short.
  WriteCheckpoint(writer.get(), &local, "v2", 60);
  WriteTail("v3", "80");
  ASSERT_TRUE(ReadAtLeast(standby.get(), 5));
  EXPECT_EQ(Meta(warm, pos_key), "4");  // after checkpoint 2's marker, not after the tail
  EXPECT_EQ(State(warm), "v2");
  EXPECT_EQ(Meta(warm, offset_key), "61");
  EXPECT_EQ(standby->stats().standby_checkpoints, 2u);
  EXPECT_EQ(standby->stats().standby_streams, 1u);

  // The writer dies; the standby's instance takes audit[2] over: only the tail is read, and
  // guarded as without a standby.
  int64_t offset = -1;
  auto r = standby->Restore("audit", 2, &warm, &offset);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(standby->stats().restore_records, 1u);
  EXPECT_EQ(offset, 61);
  EXPECT_EQ(State(warm), "v3");
  ASSERT_EQ(r->state_guards.size(), 1u);
  EXPECT_EQ(r->state_guards[0], std::make_pair(state_key_, uint64_t{80}));
  EXPECT_EQ(r->clusters, std::vector<std::string>{"c1"});
  EXPECT_EQ(standby->stats().standby_streams, 0u);

  // Owned here now: records of audit[2] (another writer's, say a zombie's) are not applied.
  WriteCheckpoint(writer.get(), &local, "v4", 90);
  ASSERT_TRUE(ReadAtLeast(standby.get(), 7));
  EXPECT_EQ(State(warm), "v3");
  EXPECT_EQ(Meta(warm, pos_key), "5");  // what the restore read
  EXPECT_EQ(standby->stats().standby_checkpoints, 2u);

  // Released (revoked to another instance): followed again from the store's position.
  standby->Released("audit", 2);
  ASSERT_TRUE(testing::WaitFor([&] { return Meta(warm, pos_key) == "7"; }, 30s))
      << Meta(warm, pos_key).value_or("none");
  EXPECT_EQ(State(warm), "v4");
  EXPECT_EQ(Meta(warm, offset_key), "91");

  // A late commit of the pipeline that owned it moves its position back under the standby:
  // the standby reads the stream again from there rather than keep the older value (the next
  // checkpoint does not write that key: only reading again brings v4 back).
  StateCheckpoint late;
  late.state.emplace_back(state_key_, "stale");
  late.meta.emplace_back(pos_key, "2");
  ASSERT_TRUE(warm.Commit(late).ok());
  const uint64_t rereads = standby->stats().standby_rereads;
  WriteCheckpoint(writer.get(), &local, "w1", 95, true, other_key_);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return standby->stats().standby_rereads > rereads && Meta(warm, pos_key) == "9"; },
      30s))
      << Meta(warm, pos_key).value_or("none");
  EXPECT_EQ(State(warm), "v4");
  EXPECT_EQ(State(warm, other_key_), "w1");
  EXPECT_EQ(Meta(warm, offset_key), "96");
}

// A store write of the standby that fails loses nothing: the stream is read again (after a
// pause) and the checkpoint applied then.
TEST_F(StateChangelogTest, AStandbyReadsAgainAfterAFailedStoreWrite) {
  FlakyStore warm;
  warm.fail = 1;
  auto standby = Make();
  ASSERT_NE(standby, nullptr);
  ASSERT_TRUE(standby->StartStandby(&warm).ok());
  auto writer = Make();
  MemoryStateStore local;
  WriteCheckpoint(writer.get(), &local, "v1", 41);
  const std::string pos_key = KafkaStateChangelog::PositionKey("audit", 2);
  ASSERT_TRUE(testing::WaitFor([&] { return Meta(warm, pos_key) == "2"; }, 30s));
  EXPECT_EQ(State(warm), "v1");
  EXPECT_EQ(standby->stats().standby_failures, 1u);
  EXPECT_GE(standby->stats().standby_rereads, 1u);
  EXPECT_EQ(standby->stats().standby_checkpoints, 1u);
}

// An instance that owned a stream and died between Kafka's acknowledgement of a checkpoint and
// its local commit: restarted, its standby reads that checkpoint (from the stream's position in
// the store), though it had read past it while the stream was owned.
TEST_F(StateChangelogTest, ARestartedStandbyReadsWhatItsOwnerDidNotCommit) {
  MemoryStateStore warm;
  const std::string pos_key = KafkaStateChangelog::PositionKey("audit", 2);
  {
    auto owner = Make();
    ASSERT_NE(owner, nullptr);
    ASSERT_TRUE(owner->StartStandby(&warm).ok());
    int64_t offset = -1;
    ASSERT_TRUE(owner->Restore("audit", 2, &warm, &offset).ok());
    EXPECT_EQ(Meta(warm, pos_key), "0");  // the changelog was empty: a position all the same
    WriteCheckpoint(owner.get(), &warm, "v1", 41, /*commit=*/false);
    const std::string resume = KafkaStateChangelog::StandbyResumeKey("g-state-changelog", 2);
    ASSERT_TRUE(testing::WaitFor([&] { return Meta(warm, resume) == "2"; }, 30s))
        << Meta(warm, resume).value_or("none");
    EXPECT_FALSE(State(warm).has_value());
  }
  auto restarted = Make();
  ASSERT_NE(restarted, nullptr);
  ASSERT_TRUE(restarted->StartStandby(&warm).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return Meta(warm, pos_key) == "2"; }, 30s))
      << Meta(warm, pos_key).value_or("none");
  EXPECT_EQ(State(warm), "v1");
  EXPECT_EQ(Meta(warm, KafkaRecordSource::OffsetKey("g", "audit", 2)), "42");
}

// A standby restarted over its store resumes where it stopped, not at the changelog's start.
TEST_F(StateChangelogTest, AStandbyResumesWhereItStopped) {
  auto writer = Make();
  ASSERT_NE(writer, nullptr);
  MemoryStateStore local;
  WriteCheckpoint(writer.get(), &local, "v1", 41);
  WriteCheckpoint(writer.get(), &local, "v2", 50);
  MemoryStateStore warm;
  {
    auto standby = Make();
    ASSERT_TRUE(standby->StartStandby(&warm).ok());
    ASSERT_TRUE(testing::WaitFor([&] { return standby->stats().standby_checkpoints == 2; }, 30s));
    EXPECT_EQ(standby->stats().standby_records, 4u);
    const std::string resume = KafkaStateChangelog::StandbyResumeKey("g-state-changelog", 2);
    EXPECT_EQ(Meta(warm, resume), "4");
  }
  WriteCheckpoint(writer.get(), &local, "v3", 60);
  auto standby = Make();
  ASSERT_TRUE(standby->StartStandby(&warm).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return State(warm) == "v3"; }, 30s));
  EXPECT_EQ(standby->stats().standby_read, 2u);  // checkpoint 3's record and marker only
}

}  // namespace
}  // namespace vigil::ingest

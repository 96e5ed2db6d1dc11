// RocksDbFindingStore as a StateStore: checkpoints are atomic and durable across reopen, the
// dedup set and meta answer lookups, and expired state is dropped by compaction once the
// cluster's watermark passes it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;

class RocksDbStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-state-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Reopen() {
    store_.reset();
    StoreOptions opts;
    opts.sync_writes = false;
    auto s = RocksDbFindingStore::Open(dir_, opts);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  static std::string Value(int64_t expiry, std::string_view payload) {
    std::string v;
    PutExpiry(expiry, &v);
    v += payload;
    return v;
  }

  std::string dir_;
  std::unique_ptr<RocksDbFindingStore> store_;
};

TEST_F(RocksDbStateTest, ACheckpointIsDurableAndWholeAcrossReopen) {
  StateCheckpoint cp;
  cp.state.emplace_back(MakeStateKey("r", "prod", "alice"), Value(100, "s1"));
  cp.dedup.emplace_back(MakeDedupKey("prod", "a-1", "ResponseComplete"), Value(100, ""));
  cp.meta.emplace_back("pos\x1f/var/log/audit.log", "123");
  Finding f;
  f.id = MakeFindingId("r", "prod", "alice");
  f.rule_id = "r";
  f.cluster = "prod";
  f.first_seen_us = f.last_seen_us = 50;
  cp.findings.push_back(f);
  ASSERT_TRUE(store_->Commit(cp).ok());
  Reopen();
  auto state = store_->GetState(MakeStateKey("r", "prod", "alice"));
  ASSERT_TRUE(state.ok());
  ASSERT_TRUE(state->has_value());
  EXPECT_EQ(std::string_view(**state).substr(kStateExpiryBytes), "s1");
  EXPECT_TRUE(store_->ContainsEvent(MakeDedupKey("prod", "a-1", "ResponseComplete")).value());
  EXPECT_FALSE(store_->ContainsEvent(MakeDedupKey("prod", "a-2", "ResponseComplete")).value());
  EXPECT_EQ(store_->GetMeta("pos\x1f/var/log/audit.log").value(),
            std::optional<std::string>("123"));
  EXPECT_TRUE(store_->Get(f.id).ok()) << "the finding was not written with the checkpoint";
  auto scan = store_->ScanMeta("pos\x1f");
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->size(), 1u);

  StateCheckpoint del;
  del.state_deletes.push_back(MakeStateKey("r", "prod", "alice"));
  ASSERT_TRUE(store_->Commit(del).ok());
  EXPECT_FALSE(store_->GetState(MakeStateKey("r", "prod", "alice")).value().has_value());
}

// CommitIfMeta writes only while a meta key holds the value expected (the changelog standby's
// guard against a pipeline's late commit); otherwise nothing of the checkpoint is written.
TEST_F(RocksDbStateTest, CommitIfMetaWritesOnlyWhileTheKeyHoldsTheValueExpected) {
  const std::string key = MakeStateKey("r", "prod", "alice");
  StateCheckpoint cp;
  cp.state.emplace_back(key, Value(100, "s1"));
  cp.meta.emplace_back("pos", "7");
  ASSERT_TRUE(store_->CommitIfMeta(cp, "pos", std::nullopt).ok());  // absent, as expected
  EXPECT_EQ(store_->GetMeta("pos").value(), std::optional<std::string>("7"));
  StateCheckpoint next;
  next.state.emplace_back(key, Value(100, "s2"));
  next.meta.emplace_back("pos", "9");
  Status s = store_->CommitIfMeta(next, "pos", std::string("5"));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(store_->GetState(key).value(), std::optional<std::string>(Value(100, "s1")));
  EXPECT_EQ(store_->GetMeta("pos").value(), std::optional<std::string>("7"));
  EXPECT_EQ(store_->CommitIfMeta(next, "pos", std::nullopt).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->CommitIfMeta(next, "pos", std::string("7")).ok());
  EXPECT_EQ(store_->GetState(key).value(), std::optional<std::string>(Value(100, "s2")));
}

TEST_F(RocksDbStateTest, ABadFindingFailsTheWholeCheckpoint) {
  StateCheckpoint cp;
  cp.state.emplace_back(MakeStateKey("r", "prod", "bob"), Value(100, "s"));
  cp.findings.emplace_back();  // empty id: rejected
  Status s = store_->Commit(cp);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_FALSE(store_->GetState(MakeStateKey("r", "prod", "bob")).value().has_value());
}

TEST_F(RocksDbStateTest, CompactionDropsEntriesBehindTheirClustersWatermark) {
  StateCheckpoint cp;
  cp.state.emplace_back(MakeStateKey("r", "prod", "old"), Value(1000, "x"));
  cp.state.emplace_back(MakeStateKey("r", "prod", "new"), Value(5000, "x"));
  cp.state.emplace_back(MakeStateKey("r", "dev", "old"), Value(1000, "x"));
  cp.dedup.emplace_back(MakeDedupKey("prod", "a-1", "ResponseComplete"), Value(1000, ""));
  cp.dedup.emplace_back(MakeDedupKey("prod", "a-2", "ResponseComplete"), Value(9000, ""));
  ASSERT_TRUE(store_->Commit(cp).ok());
  store_->AdvanceWatermark("prod", 2000);  // dev has no watermark: nothing of it is dropped
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->CompactAll().ok());
  EXPECT_FALSE(store_->GetState(MakeStateKey("r", "prod", "old")).value().has_value());
  EXPECT_TRUE(store_->GetState(MakeStateKey("r", "prod", "new")).value().has_value());
  EXPECT_TRUE(store_->GetState(MakeStateKey("r", "dev", "old")).value().has_value());
  EXPECT_FALSE(store_->ContainsEvent(MakeDedupKey("prod", "a-1", "ResponseComplete")).value());
  EXPECT_TRUE(store_->ContainsEvent(MakeDedupKey("prod", "a-2", "ResponseComplete")).value());
  auto bytes = store_->DiskBytes();
  ASSERT_TRUE(bytes.ok());
  EXPECT_GT(*bytes, 0u);
}

}  // namespace
}  // namespace vigil::store

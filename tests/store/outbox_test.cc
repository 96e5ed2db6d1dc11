// RocksDbFindingStore as an Outbox, against a real RocksDB in a temporary directory: messages
// are written with the checkpoint (all or nothing), read in order, trimmed once each, kept
// across a reopen, and bounded (the oldest dropped and counted).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;

OutboxMessage Msg(int i, std::string channel = std::string(kOutboxFindings)) {
  return {std::move(channel), "id-" + std::to_string(i),
          "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(i % 7, 'x') + "\"}"};
}

StateCheckpoint WithOutbox(int from, int to) {
  StateCheckpoint cp;
  for (int i = from; i < to; ++i) cp.outbox.push_back(Msg(i));
  return cp;
}

std::vector<int> Numbers(const std::vector<OutboxEntry>& entries) {
  std::vector<int> out;
  for (const OutboxEntry& e : entries) out.push_back(std::stoi(e.message.key.substr(3)));
  return out;
}

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-outbox-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    opts_.sync_writes = false;
    Reopen();
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    db_.reset();
    auto opened = RocksDbFindingStore::Open(dir_, opts_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    db_ = std::move(opened).value();
  }
  std::vector<OutboxEntry> ReadAll(uint64_t from = 0) {
    auto got = db_->ReadOutbox(from, 1'000'000, size_t{1} << 30);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::vector<OutboxEntry>{};
  }

  std::string dir_;
  StoreOptions opts_;
  std::unique_ptr<RocksDbFindingStore> db_;
};

TEST_F(OutboxTest, CheckpointMessagesAreReadInOrderWithTheirValues) {
  ASSERT_TRUE(db_->Commit(WithOutbox(0, 5)).ok());
  ASSERT_TRUE(db_->Commit(WithOutbox(5, 9)).ok());
  EXPECT_EQ(db_->OutboxCount(), 9u);
  const auto all = ReadAll();
  EXPECT_EQ(Numbers(all), Range(0, 9));
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].message, Msg(static_cast<int>(i)));
    if (i > 0) {
      EXPECT_GT(all[i].seq, all[i - 1].seq);
    }
  }
  // From a seq, at most `limit`.
  auto page = db_->ReadOutbox(all[3].seq, 2, size_t{1} << 20);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Numbers(*page), (std::vector<int>{3, 4}));
  // max_bytes: stops once the values read pass it, but always returns one.
  page = db_->ReadOutbox(0, 100, 1);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Numbers(*page), (std::vector<int>{0}));
}

TEST_F(OutboxTest, MessagesOfAFailedCheckpointAreNotKept) {
  StateCheckpoint cp = WithOutbox(0, 3);
  Finding bad;  // an empty id fails the whole checkpoint
  cp.findings.push_back(bad);
  EXPECT_FALSE(db_->Commit(cp).ok());
  EXPECT_EQ(db_->OutboxCount(), 0u);
  EXPECT_TRUE(ReadAll().empty());
  ASSERT_TRUE(db_->Commit(WithOutbox(3, 5)).ok());
  EXPECT_EQ(Numbers(ReadAll()), (std::vector<int>{3, 4}));
}

TEST_F(OutboxTest, TrimRemovesEachOnceAndIgnoresUnknownSeqs) {
  ASSERT_TRUE(db_->Commit(WithOutbox(0, 6)).ok());
  const auto all = ReadAll();
  ASSERT_EQ(all.size(), 6u);
  // Out of order, one twice in the same call, one unknown.
  ASSERT_TRUE(db_->TrimOutbox({all[4].seq, all[1].seq, all[1].seq, 999'999}).ok());
  EXPECT_EQ(db_->OutboxCount(), 4u);
  EXPECT_EQ(Numbers(ReadAll()), (std::vector<int>{0, 2, 3, 5}));
  ASSERT_TRUE(db_->TrimOutbox({all[1].seq}).ok());  // again: not counted twice
  EXPECT_EQ(db_->OutboxCount(), 4u);
  ASSERT_TRUE(db_->TrimOutbox({all[0].seq, all[2].seq, all[3].seq, all[5].seq}).ok());
  EXPECT_EQ(db_->OutboxCount(), 0u);
  EXPECT_TRUE(ReadAll().empty());
}

TEST_F(OutboxTest, KeptAcrossReopenAndSeqsAreNeverReused) {
  ASSERT_TRUE(db_->Commit(WithOutbox(0, 4)).ok());
  const auto before = ReadAll();
  ASSERT_TRUE(db_->TrimOutbox({before[0].seq}).ok());
  Reopen();
  EXPECT_EQ(db_->OutboxCount(), 3u);
  EXPECT_EQ(Numbers(ReadAll()), (std::vector<int>{1, 2, 3}));
  // Trim everything, reopen: the next message still gets a fresh seq.
  ASSERT_TRUE(db_->TrimOutbox({before[1].seq, before[2].seq, before[3].seq}).ok());
  Reopen();
  EXPECT_EQ(db_->OutboxCount(), 0u);
  ASSERT_TRUE(db_->Commit(WithOutbox(4, 5)).ok());
  const auto after = ReadAll();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(Numbers(after), (std::vector<int>{4}));
}

TEST_F(OutboxTest, OverTheBoundTheOldestAreDroppedAndCounted) {
  opts_.max_outbox = 256;  // low-water mark 254
  Reopen();
  ASSERT_TRUE(db_->Commit(WithOutbox(0, 200)).ok());
  // Some of the oldest were delivered already: the drop counts only live ones.
  auto first = ReadAll();
  ASSERT_TRUE(db_->TrimOutbox({first[0].seq, first[1].seq}).ok());
  ASSERT_TRUE(db_->Commit(WithOutbox(200, 300)).ok());  // 298 kept + 100 > 256
  EXPECT_EQ(db_->OutboxCount(), 254u);
  EXPECT_EQ(db_->OutboxDropped(), 44u);  // 298 live - the low-water mark 254
  auto kept = ReadAll();
  EXPECT_EQ(Numbers(kept), Range(46, 300));
  // A single checkpoint bigger than the bound keeps its newest.
  ASSERT_TRUE(db_->Commit(WithOutbox(300, 700)).ok());
  EXPECT_EQ(db_->OutboxCount(), 254u);
  EXPECT_EQ(Numbers(ReadAll()), Range(446, 700));
  EXPECT_EQ(db_->OutboxDropped(), 44u + 400u);
  Reopen();  // the bound holds across a restart
  EXPECT_EQ(db_->OutboxCount(), 254u);
  ASSERT_TRUE(db_->Commit(WithOutbox(700, 703)).ok());
  EXPECT_EQ(db_->OutboxCount(), 254u);  // 257 - 3 dropped
  EXPECT_EQ(Numbers(ReadAll()).front(), 449);
}

TEST_F(OutboxTest, ReadingPastTheEndAndAnEmptyOutbox) {
  EXPECT_TRUE(ReadAll().empty());
  ASSERT_TRUE(db_->Commit(WithOutbox(0, 2)).ok());
  const auto all = ReadAll();
  EXPECT_TRUE(ReadAll(all.back().seq + 1).empty());
  auto zero = db_->ReadOutbox(0, 0, 100);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
}

TEST_F(OutboxTest, ZeroBoundIsRefused) {
  db_.reset();
  opts_.max_outbox = 0;
  auto opened = RocksDbFindingStore::Open(dir_, opts_);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("max_outbox"), std::string::npos);
}

}  // namespace
}  // namespace vigil::store

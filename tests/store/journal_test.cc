// RocksDbFindingStore as the webhook's IngestJournal, against a real RocksDB in a temporary
// directory: appends are durable, numbered and read back in order; concurrent appends share
// syncs; trims remove a prefix; everything holds across a reopen.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-journal-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
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
  uint64_t Append(const std::string& cluster, const std::string& body) {
    auto seq = db_->AppendJournal({cluster, body, 42});
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    return seq.ok() ? *seq : 0;
  }
  std::vector<JournalEntry> ReadAll(uint64_t from = 0) {
    auto got = db_->ReadJournal(from, 1'000'000, size_t{1} << 30);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::vector<JournalEntry>{};
  }

  std::string dir_;
  StoreOptions opts_;  // sync_writes on: what the webhook runs with
  std::unique_ptr<RocksDbFindingStore> db_;
};

TEST_F(JournalTest, AppendsAreNumberedAndReadBackInOrder) {
  const uint64_t a = Append("prod", "{\"kind\":\"EventList\",\"items\":[]}");
  const uint64_t b = Append("dev", std::string(100'000, 'x'));
  EXPECT_EQ(b, a + 1);
  const auto all = ReadAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].seq, a);
  EXPECT_EQ(all[0].record.cluster, "prod");
  EXPECT_EQ(all[0].record.body, "{\"kind\":\"EventList\",\"items\":[]}");
  EXPECT_EQ(all[0].record.received_us, 42);
  EXPECT_EQ(all[1].record.cluster, "dev");
  EXPECT_EQ(all[1].record.body.size(), 100'000u);
  const JournalStats s = db_->journal_stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_GE(s.bytes, 100'000u);
  EXPECT_EQ(s.next_seq, b + 1);
  // From a seq; a limit; max_bytes (always one).
  EXPECT_EQ(ReadAll(b).size(), 1u);
  auto one = db_->ReadJournal(0, 100, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  EXPECT_TRUE(ReadAll(b + 1).empty());
}

TEST_F(JournalTest, TrimRemovesAPrefixAndReopenKeepsTheRest) {
  for (int i = 0; i < 5; ++i) Append("c", "body-" + std::to_string(i));
  const auto all = ReadAll();
  ASSERT_TRUE(db_->TrimJournal(all[3].seq).ok());
  EXPECT_EQ(db_->journal_stats().entries, 2u);
  auto left = ReadAll();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].record.body, "body-3");
  ASSERT_TRUE(db_->TrimJournal(all[1].seq).ok());  // below what is gone: nothing changes
  EXPECT_EQ(db_->journal_stats().entries, 2u);
  Reopen();
  left = ReadAll();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[1].record.body, "body-4");
  EXPECT_EQ(db_->journal_stats().entries, 2u);
  EXPECT_EQ(Append("c", "body-5"), all[4].seq + 1);  // numbering goes on after a reopen
}

TEST_F(JournalTest, ConcurrentAppendsAreAllKeptAndShareSyncs) {
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!db_->AppendJournal({"c" + std::to_string(t), std::to_string(t * 1000 + i), 0}).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const auto all = ReadAll();
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  std::set<std::string> bodies;
  for (size_t i = 0; i < all.size(); ++i) {
    bodies.insert(all[i].record.body);
    if (i > 0) {
      EXPECT_EQ(all[i].seq, all[i - 1].seq + 1);
    }
  }
  EXPECT_EQ(bodies.size(), all.size());
  const JournalStats s = db_->journal_stats();
  EXPECT_EQ(s.appends, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LE(s.syncs, s.appends);  // grouped (how much depends on timing: measured in bench)
}

TEST_F(JournalTest, WithoutGroupCommitEachAppendIsItsOwnSync) {
  opts_.journal_group_commit = false;
  opts_.sync_writes = false;
  Reopen();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) ASSERT_TRUE(db_->AppendJournal({"c", "b", 0}).ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(db_->journal_stats().appends, 100u);
  EXPECT_EQ(db_->journal_stats().syncs, 100u);
}

// The reader resumes at its stored position; a journal trimmed empty must not number new
// entries from 0 after a restart (they would sit under that position, never read).
TEST_F(JournalTest, ATrimmedEmptyJournalNumbersOnAfterReopen) {
  for (int i = 0; i < 3; ++i) Append("c", "body-" + std::to_string(i));
  const uint64_t last = ReadAll().back().seq;
  ASSERT_TRUE(db_->TrimJournal(last + 1).ok());
  EXPECT_EQ(db_->journal_stats().entries, 0u);
  Reopen();
  EXPECT_EQ(db_->journal_stats().next_seq, last + 1);
  EXPECT_EQ(Append("c", "after"), last + 1);
  ASSERT_EQ(ReadAll(last + 1).size(), 1u);
}

TEST_F(JournalTest, ReserveSkipsSeqsDurablyAndNeverGoesBack) {
  EXPECT_EQ(Append("c", "zero"), 0u);
  ASSERT_TRUE(db_->ReserveJournal(100).ok());
  EXPECT_EQ(db_->journal_stats().next_seq, 100u);
  ASSERT_TRUE(db_->ReserveJournal(50).ok());  // below: nothing changes
  EXPECT_EQ(db_->journal_stats().next_seq, 100u);
  Reopen();  // the reservation outlives a restart even before any append
  EXPECT_EQ(db_->journal_stats().next_seq, 100u);
  EXPECT_EQ(Append("c", "hundred"), 100u);
  const auto all = ReadAll();
  ASSERT_EQ(all.size(), 2u);  // the entry below the reservation stays readable
  EXPECT_EQ(all[0].record.body, "zero");
  EXPECT_EQ(all[1].record.body, "hundred");
}

TEST_F(JournalTest, WaitReturnsOnceAnEntryArrives) {
  EXPECT_FALSE(db_->WaitJournal(0, 10ms));
  std::thread writer([&] { Append("c", "late"); });
  EXPECT_TRUE(db_->WaitJournal(0, 30s));
  writer.join();
  EXPECT_FALSE(db_->WaitJournal(db_->journal_stats().next_seq, 10ms));
}

// Earlier versions kept the journal in the main DB's "journal" column family. What a crash left
// there is moved to DIR/journal at Open: read back, numbered on, and not moved twice.
class LegacyJournalTest : public JournalTest {
 protected:
  // Runs f(db, journal CF handle) on the main DB opened directly, with all its column families.
  template <typename F>
  void WithLegacyCf(F f) {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    size_t journal = names.size();
    for (size_t i = 0; i < names.size(); ++i) {
      cfs.emplace_back(names[i], rocksdb::ColumnFamilyOptions());
      if (names[i] == "journal") journal = i;
    }
    ASSERT_LT(journal, names.size()) << "the main DB has no legacy journal CF";
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir_, cfs, &handles, &db).ok());
    f(db, handles[journal]);
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
    delete db;
  }
  // The value layout of the legacy CF (and of DIR/journal): [cluster length][cluster]
  // [received_us, 8 bytes big-endian][body]; keys are 8-byte big-endian seqs.
  static std::string Key(uint64_t seq) {
    std::string k;
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<char>((seq >> (8 * i)) & 0xff));
    return k;
  }
  static std::string Value(const std::string& cluster, int64_t received_us,
                           const std::string& body) {
    std::string v(1, static_cast<char>(cluster.size()));
    v += cluster;
    v += Key(static_cast<uint64_t>(received_us));
    return v + body;
  }
  size_t LegacyCount() {
    size_t n = 0;
    WithLegacyCf([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    });
    return n;
  }
};

TEST_F(LegacyJournalTest, EntriesInTheMainDbMoveToTheJournalDbOnce) {
  db_.reset();
  WithLegacyCf([&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, Key(7), Value("prod", 1234, "seven")).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, Key(8), Value("dev", 5678, "eight")).ok());
  });
  Reopen();
  auto all = ReadAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].seq, 7u);
  EXPECT_EQ(all[0].record.cluster, "prod");
  EXPECT_EQ(all[0].record.received_us, 1234);
  EXPECT_EQ(all[0].record.body, "seven");
  EXPECT_EQ(all[1].seq, 8u);
  EXPECT_EQ(all[1].record.body, "eight");
  EXPECT_EQ(db_->journal_stats().entries, 2u);
  EXPECT_EQ(Append("c", "nine"), 9u);
  db_.reset();
  EXPECT_EQ(LegacyCount(), 0u);  // moved, not copied
  EXPECT_TRUE(fs::is_directory(fs::path(dir_) / "journal"));
  Reopen();
  all = ReadAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].record.body, "nine");
}

TEST_F(LegacyJournalTest, AppendsNeverTouchTheMainDb) {
  for (int i = 0; i < 10; ++i) Append("c", "body-" + std::to_string(i));
  db_.reset();
  EXPECT_EQ(LegacyCount(), 0u);
  Reopen();
  EXPECT_EQ(ReadAll().size(), 10u);
}

}  // namespace
}  // namespace vigil::store

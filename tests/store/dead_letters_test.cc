// RocksDbFindingStore as a DeadLetterStore, against a real RocksDB in a temporary directory:
// dead letters are written with the checkpoint, listed newest first with a cursor, bounded by
// count and age (across restarts too), and a DB made before the column family existed opens.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <simdjson.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "vigil/store/dead_letter_codec.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNow = 1741069338000000;  // 2025-03-04, µs
constexpr int64_t kHour = 3'600'000'000;

DeadLetter MakeDl(int64_t received_us, std::string source = "file", std::string origin = "/a.log",
                  uint64_t line = 0) {
  DeadLetter dl;
  dl.received_us = received_us;
  dl.source = std::move(source);
  dl.origin = std::move(origin);
  dl.line = line;
  dl.offset = static_cast<int64_t>(line) * 100;
  dl.cluster = "prod";
  dl.error = "malformed JSON";
  SetDeadLetterRecord("{\"kind\":\"Event\",\"auditID\":\"" + std::to_string(line), &dl);
  return dl;
}

std::string BinaryHead() {
  std::string head;
  for (int i = 0; i < 256; ++i) head.push_back(static_cast<char>(i));
  head += "\"\\\xC3\x28\xE2\x82\xF0\x9F\x98\x80\x1b[31m";  // quotes, invalid and valid UTF-8
  return head;
}

// Standard base64 decoding, for checking head_base64.
std::string DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<uint32_t>(value(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

class DeadLettersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-dlq-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    clock_ = std::make_shared<ManualClock>(kNow);
    opts_.sync_writes = false;
    opts_.clock = clock_;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Open() {
    store_.reset();
    auto s = RocksDbFindingStore::Open(dir_, opts_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void CommitDls(std::vector<DeadLetter> dls) {
    StateCheckpoint cp;
    cp.dead_letters = std::move(dls);
    Status s = store_->Commit(cp);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // A checkpoint without dead letters (e.g. only a source position).
  void CommitOther() {
    StateCheckpoint cp;
    cp.meta.emplace_back("pos\x1fx", std::to_string(++meta_n_));
    ASSERT_TRUE(store_->Commit(cp).ok());
  }
  std::vector<DeadLetter> ListAll(DeadLetterFilter f = {}, size_t* pages = nullptr) {
    std::vector<DeadLetter> out;
    for (size_t n = 1; n <= 10000; ++n) {
      auto page = store_->ListDeadLetters(f);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return out;
      for (auto& dl : page->dead_letters) out.push_back(std::move(dl));
      if (page->next_cursor.empty()) {
        if (pages != nullptr) *pages = n;
        return out;
      }
      f.cursor = page->next_cursor;
    }
    ADD_FAILURE() << "listing did not end";
    return out;
  }
  static std::vector<int64_t> Times(const std::vector<DeadLetter>& dls) {
    std::vector<int64_t> t;
    for (const auto& dl : dls) t.push_back(dl.received_us);
    return t;
  }
  // Entries physically in the column family, bypassing the store.
  size_t RawEntries() {
    store_.reset();
    std::vector<std::string> names;
    rocksdb::DBOptions o;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir_, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(o, dir_, cfs, &handles, &db).ok());
    size_t n = 0;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] != "deadletters") continue;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db;
    Open();
    return n;
  }

  std::string dir_;
  std::shared_ptr<ManualClock> clock_;
  StoreOptions opts_;
  std::unique_ptr<RocksDbFindingStore> store_;
  int meta_n_ = 0;
};

TEST_F(DeadLettersTest, CommittedDeadLettersListBackNewestFirstWithEveryField) {
  Open();
  DeadLetter kafka = MakeDl(kNow - 3000, "kafka", "audit-prod");
  kafka.partition = 7;
  kafka.offset = 123456789012;
  kafka.line = 0;
  kafka.head = BinaryHead();
  kafka.size = 5'000'000;
  kafka.error = "record of 5000000 bytes is over max_event_bytes";
  DeadLetter file = MakeDl(kNow - 1000, "file", "/var/log/kube-audit/audit.log", 17);
  DeadLetter hook = MakeDl(kNow - 2000, "webhook", "10.0.0.1");
  CommitDls({kafka, file, hook});
  EXPECT_EQ(store_->DeadLetterCount(), 3u);
  auto all = ListAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], file);
  EXPECT_EQ(all[1], hook);
  EXPECT_EQ(all[2], kafka);  // the raw binary head came back byte for byte
  Open();                    // and survives a restart
  EXPECT_EQ(ListAll(), all);
  EXPECT_EQ(store_->DeadLetterCount(), 3u);
}

TEST_F(DeadLettersTest, ABadFindingFailsTheWholeCheckpointDeadLettersIncluded) {
  Open();
  StateCheckpoint cp;
  cp.dead_letters.push_back(MakeDl(kNow));
  cp.findings.emplace_back();  // empty id: rejected
  EXPECT_EQ(store_->Commit(cp).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ListAll().empty());
  EXPECT_EQ(store_->DeadLetterCount(), 0u);
}

TEST_F(DeadLettersTest, ReceivedZeroIsStampedWithTheStoreClock) {
  Open();
  CommitDls({MakeDl(0)});
  auto all = ListAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].received_us, kNow);
}

TEST_F(DeadLettersTest, PagesWithTheCursorWithoutSkipsOrRepeats) {
  Open();
  std::vector<DeadLetter> dls;
  for (int i = 0; i < 25; ++i) dls.push_back(MakeDl(kNow - 1000 * (i % 5), "file", "/a", i));
  CommitDls(dls);  // five entries share each microsecond: the sequence keeps them apart
  DeadLetterFilter f;
  f.limit = 10;
  auto p1 = store_->ListDeadLetters(f);
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->dead_letters.size(), 10u);
  ASSERT_FALSE(p1->next_cursor.empty());
  size_t pages = 0;
  auto all = ListAll(f, &pages);
  EXPECT_EQ(pages, 3u);
  ASSERT_EQ(all.size(), 25u);
  std::set<uint64_t> lines;
  for (size_t i = 0; i < all.size(); ++i) {
    lines.insert(all[i].line);
    if (i > 0) {
      EXPECT_GE(all[i - 1].received_us, all[i].received_us) << i;
    }
    // Same microsecond: the later arrival first.
    if (i > 0 && all[i - 1].received_us == all[i].received_us) {
      EXPECT_GT(all[i - 1].line, all[i].line) << i;
    }
  }
  EXPECT_EQ(lines.size(), 25u);
  // Entries added between pages after the cursor position do not disturb the walk.
  auto first = store_->ListDeadLetters(f);
  ASSERT_TRUE(first.ok());
  CommitDls({MakeDl(kNow + 1)});
  DeadLetterFilter rest = f;
  rest.cursor = first->next_cursor;
  std::vector<DeadLetter> walked = first->dead_letters;
  for (auto& dl : ListAll(rest)) walked.push_back(dl);
  EXPECT_EQ(walked, all);
}

TEST_F(DeadLettersTest, FiltersBySourceAndOrigin) {
  Open();
  CommitDls({MakeDl(kNow - 3, "kafka", "t1"), MakeDl(kNow - 2, "file", "/a"),
             MakeDl(kNow - 1, "kafka", "t2")});
  DeadLetterFilter f;
  f.source = "kafka";
  EXPECT_EQ(Times(ListAll(f)), (std::vector<int64_t>{kNow - 1, kNow - 3}));
  f.origin = "t1";
  EXPECT_EQ(Times(ListAll(f)), (std::vector<int64_t>{kNow - 3}));
  f.source = "file";
  EXPECT_TRUE(ListAll(f).empty());
}

TEST_F(DeadLettersTest, ScanBoundGivesPartialPagesThatContinue) {
  opts_.max_scan_per_query = 3;
  Open();
  std::vector<DeadLetter> dls;
  for (int i = 0; i < 10; ++i) dls.push_back(MakeDl(kNow - i, i % 5 == 0 ? "kafka" : "file"));
  CommitDls(dls);
  DeadLetterFilter f;
  f.source = "kafka";
  auto page = store_->ListDeadLetters(f);
  ASSERT_TRUE(page.ok());
  EXPECT_LE(page->dead_letters.size(), 1u);
  EXPECT_FALSE(page->next_cursor.empty());
  EXPECT_EQ(Times(ListAll(f)), (std::vector<int64_t>{kNow, kNow - 5}));
}

TEST_F(DeadLettersTest, BadLimitAndCursorAreInvalidArgument) {
  Open();
  CommitDls({MakeDl(kNow)});
  for (size_t limit : {size_t{0}, size_t{1001}}) {
    DeadLetterFilter f;
    f.limit = limit;
    auto r = store_->ListDeadLetters(f);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  DeadLetterFilter f;
  f.limit = 1;
  CommitDls({MakeDl(kNow + 1)});
  auto page = store_->ListDeadLetters(f);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->next_cursor.empty());
  std::string tampered = page->next_cursor;
  tampered[5] = tampered[5] == '0' ? '1' : '0';
  for (const std::string& bad : {std::string("zz"), tampered, page->next_cursor.substr(2),
                                 std::string("0"), page->next_cursor + "00"}) {
    f.cursor = bad;
    auto r = store_->ListDeadLetters(f);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "invalid cursor");
  }
}

TEST_F(DeadLettersTest, CountBoundKeepsTheNewest) {
  opts_.max_dead_letters = 10;
  Open();
  std::vector<DeadLetter> dls;
  for (int i = 0; i < 25; ++i) dls.push_back(MakeDl(kNow - 100 + i, "file", "/a", i));
  CommitDls(dls);  // 25 in one checkpoint
  auto all = ListAll();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().line, 24u);
  EXPECT_EQ(all.back().line, 15u);
  EXPECT_EQ(store_->DeadLetterCount(), 10u);
  // Then one at a time: always the newest 10.
  for (int i = 25; i < 40; ++i) {
    CommitDls({MakeDl(kNow - 100 + i, "file", "/a", i)});
    EXPECT_EQ(store_->DeadLetterCount(), 10u);
  }
  all = ListAll();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().line, 39u);
  EXPECT_EQ(all.back().line, 30u);
  EXPECT_EQ(RawEntries(), 10u) << "the trimmed entries must really be gone";
}

TEST_F(DeadLettersTest, CountBoundTrimsToALowWaterMarkAndNeverExceedsTheMax) {
  opts_.max_dead_letters = 256;  // low-water mark 254
  Open();
  for (int i = 0; i < 600; ++i) {
    CommitDls({MakeDl(kNow + i, "file", "/a", i)});
    ASSERT_LE(store_->DeadLetterCount(), 256u);
    ASSERT_GE(store_->DeadLetterCount(), std::min<uint64_t>(i + 1, 254));
  }
  auto all = ListAll();
  EXPECT_EQ(all.size(), store_->DeadLetterCount());
  EXPECT_EQ(all.front().line, 599u);
  EXPECT_EQ(all.back().line, 600u - all.size());
  EXPECT_EQ(RawEntries(), all.size());
}

TEST_F(DeadLettersTest, AnOldEntryArrivingLateIsTheOneRemoved) {
  opts_.max_dead_letters = 3;
  Open();
  CommitDls({MakeDl(kNow - 3), MakeDl(kNow - 2), MakeDl(kNow - 1)});
  CommitDls({MakeDl(kNow - 10)});  // older than everything kept: it goes, not the others
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow - 1, kNow - 2, kNow - 3}));
  CommitDls({MakeDl(kNow - 5), MakeDl(kNow)});
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow, kNow - 1, kNow - 2}));
  EXPECT_EQ(RawEntries(), 3u);
}

TEST_F(DeadLettersTest, TtlHidesThenRemovesOldEntries) {
  opts_.dead_letter_ttl = std::chrono::hours(128);  // the trim slack is then 1 h
  Open();
  // Written already past the TTL: never stored.
  CommitDls({MakeDl(kNow - 129 * kHour), MakeDl(kNow - 2 * kHour), MakeDl(kNow)});
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow, kNow - 2 * kHour}));
  EXPECT_EQ(store_->DeadLetterCount(), 2u);

  // kNow - 2h is now just past the TTL: hidden at once, removed once past the slack.
  clock_->Advance(126 * kHour + 1);
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow}));
  CommitOther();
  EXPECT_EQ(store_->DeadLetterCount(), 2u) << "within the slack: not trimmed yet";
  clock_->Advance(kHour);
  CommitOther();  // a checkpoint without dead letters trims too
  EXPECT_EQ(store_->DeadLetterCount(), 1u);
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow}));
  EXPECT_EQ(RawEntries(), 1u);

  clock_->Advance(10 * kHour);
  EXPECT_TRUE(ListAll().empty());
  CommitDls({MakeDl(0)});  // now
  EXPECT_EQ(store_->DeadLetterCount(), 1u);
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{clock_->NowMicros()}));
}

TEST_F(DeadLettersTest, NoTtlWhenZero) {
  opts_.dead_letter_ttl = std::chrono::microseconds(0);
  Open();
  CommitDls({MakeDl(1), MakeDl(kNow)});
  clock_->Advance(1000 * kHour);
  CommitOther();
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow, 1}));
}

TEST_F(DeadLettersTest, ReopenKeepsTheBound) {
  opts_.max_dead_letters = 10;
  Open();
  std::vector<DeadLetter> dls;
  for (int i = 0; i < 25; ++i) dls.push_back(MakeDl(kNow + i, "file", "/a", i));
  CommitDls(dls);
  Open();
  EXPECT_EQ(store_->DeadLetterCount(), 10u) << "counted at Open";
  // Same microseconds as stored entries: the sequence continues, nothing is overwritten.
  CommitDls({MakeDl(kNow + 24, "file", "/a", 100), MakeDl(kNow + 30, "file", "/a", 101)});
  EXPECT_EQ(store_->DeadLetterCount(), 10u);
  auto all = ListAll();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[0].line, 101u);
  EXPECT_EQ(all[1].line, 100u);
  EXPECT_EQ(all[2].line, 24u);
  EXPECT_EQ(all.back().line, 17u);

  // A smaller bound applies from the next checkpoint on.
  opts_.max_dead_letters = 4;
  Open();
  CommitOther();
  EXPECT_EQ(store_->DeadLetterCount(), 4u);
  all = ListAll();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].line, 101u);
  EXPECT_EQ(all[3].line, 23u);
  EXPECT_EQ(RawEntries(), 4u);
}

TEST_F(DeadLettersTest, ADbMadeBeforeTheColumnFamilyExistedOpens) {
  {
    // The column families of schema 1 before dead letters.
    rocksdb::DBOptions o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* n : {"default", "findings", "by_time", "by_rule", "by_cluster", "by_user",
                          "state", "dedup", "meta"}) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, cfs, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[0], "schema_version", "1").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[8], "pos\x1fold", "42").ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
    delete db;
  }
  Open();
  EXPECT_EQ(store_->GetMeta("pos\x1fold").value(), std::optional<std::string>("42"));
  EXPECT_EQ(store_->DeadLetterCount(), 0u);
  EXPECT_TRUE(ListAll().empty());
  CommitDls({MakeDl(kNow)});
  Open();
  EXPECT_EQ(ListAll().size(), 1u);
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir_, &names).ok());
  EXPECT_NE(std::find(names.begin(), names.end(), "deadletters"), names.end());
}

TEST_F(DeadLettersTest, BinaryHeadRendersAsValidJsonAndKeepsItsBytes) {
  Open();
  DeadLetter dl = MakeDl(kNow, "kafka", "t\x01opic\xff");
  dl.head = BinaryHead();
  dl.size = 70000;
  dl.error = "not UTF-8: \x80\x81";
  CommitDls({dl});
  auto all = ListAll();
  ASSERT_EQ(all.size(), 1u);
  const std::string json = DeadLetterToJson(all[0]);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(json).get(e), simdjson::SUCCESS) << json;
  std::string_view head, b64, origin;
  ASSERT_EQ(e["head"].get_string().get(head), simdjson::SUCCESS);
  EXPECT_EQ(head.substr(0, 3), std::string_view("\0\x01\x02", 3)) << "control bytes are exact";
  ASSERT_EQ(e["head_base64"].get_string().get(b64), simdjson::SUCCESS);
  EXPECT_EQ(DecodeBase64(b64), dl.head);
  EXPECT_EQ(e["head_truncated"].get_bool().value(), true);
  EXPECT_EQ(e["size"].get_uint64().value(), 70000u);
  EXPECT_EQ(e["partition"].is_null(), true);
  ASSERT_EQ(e["origin"].get_string().get(origin), simdjson::SUCCESS);
  EXPECT_EQ(origin, "t\x01opic\xEF\xBF\xBD");
}

TEST_F(DeadLettersTest, OversizeFieldsAreCutOnWrite) {
  Open();
  DeadLetter dl = MakeDl(kNow);
  dl.head = std::string(5000, 'h');
  dl.error = std::string(10000, 'e');
  dl.size = 5000;
  CommitDls({dl});
  auto all = ListAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].head.size(), kDeadLetterHeadBytes);
  EXPECT_EQ(all[0].error.size(), kDeadLetterTextBytes);
  EXPECT_EQ(all[0].size, 5000u);
}

TEST_F(DeadLettersTest, UndecodableValuesAreSkippedAndCounted) {
  Open();
  CommitDls({MakeDl(kNow - 1), MakeDl(kNow + 1)});
  store_.reset();
  {
    std::vector<std::string> names;
    rocksdb::DBOptions o;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir_, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, cfs, &handles, &db).ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "deadletters") {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], MakeDeadLetterKey(kNow, 999),
                            "\x01garbage")
                        .ok());
      }
    }
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }
  Open();
  EXPECT_EQ(store_->DeadLetterCount(), 3u);
  EXPECT_EQ(Times(ListAll()), (std::vector<int64_t>{kNow + 1, kNow - 1}));
  EXPECT_EQ(store_->corrupt_values_skipped(), 1u);
}

TEST(DeadLetterCodecTest, RoundTripsAndRejectsDamage) {
  DeadLetter dl = MakeDl(-5, "kafka", "t", 3);
  dl.partition = 2147483647;
  dl.offset = -1;
  dl.head = BinaryHead();
  const std::string v = EncodeDeadLetterValue(dl);
  auto back = DecodeDeadLetterValue(v);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, dl);
  for (size_t n = 0; n < v.size(); ++n) {
    EXPECT_FALSE(DecodeDeadLetterValue(std::string_view(v).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeDeadLetterValue(v + "x").ok());
  std::string other_version = v;
  other_version[0] = 2;
  EXPECT_EQ(DecodeDeadLetterValue(other_version).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace vigil::store

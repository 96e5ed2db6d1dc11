// Tests for RocksDbFindingStore against a real RocksDB in a fresh temporary directory.
#include "vigil/store/rocksdb_finding_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace vigil::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kBase = 1741069338000000;  // 2025-03-04, in microseconds

Finding MakeFinding(int i, const std::string& rule, const std::string& cluster,
                    const std::string& user, Severity sev, int64_t first_seen) {
  Finding f;
  f.rule_id = rule;
  f.rule_name = "Rule " + rule;
  f.severity = sev;
  f.cluster = cluster;
  f.user = user;
  f.id = MakeFindingId(rule, cluster, "key-" + std::to_string(i));
  f.first_seen_us = first_seen;
  f.last_seen_us = first_seen + 1000;
  f.verb = "get";
  f.evidence = {"audit-" + std::to_string(i)};
  return f;
}

// Direct access to the RocksDB files, bypassing the store: for corruption and layout checks.
class RawDb {
 public:
  explicit RawDb(const std::string& dir) {
    std::vector<std::string> names;
    rocksdb::DBOptions opts;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(opts, dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::Status s = rocksdb::DB::Open(opts, dir, cfs, &handles_, &db_);
    EXPECT_TRUE(s.ok()) << s.ToString();
    names_ = names;
  }
  ~RawDb() {
    if (db_ == nullptr) return;
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
    delete db_;
  }
  rocksdb::DB* db() { return db_; }
  rocksdb::ColumnFamilyHandle* cf(const std::string& name) {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return handles_[i];
    }
    ADD_FAILURE() << "no column family " << name;
    return nullptr;
  }
  size_t CountEntries(const std::string& name) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(name)));
    size_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    EXPECT_TRUE(it->status().ok());
    return n;
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> names_;
};

class RocksDbFindingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-store-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    opts_.sync_writes = false;  // durability is not under test; speed is welcome
    OpenStore();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void OpenStore() {
    auto s = RocksDbFindingStore::Open(dir_, opts_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // All pages of a query, in order; fails the test on an error or on more than max_pages.
  std::vector<Finding> QueryAll(FindingFilter filter, size_t max_pages = 10000) {
    std::vector<Finding> out;
    for (size_t page_no = 0; page_no < max_pages; ++page_no) {
      auto page = store_->Query(filter);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return out;
      for (auto& f : page->findings) out.push_back(std::move(f));
      if (page->next_cursor.empty()) return out;
      filter.cursor = page->next_cursor;
    }
    ADD_FAILURE() << "query did not finish in " << max_pages << " pages";
    return out;
  }

  static std::vector<std::string> Ids(const std::vector<Finding>& fs) {
    std::vector<std::string> ids;
    for (const auto& f : fs) ids.push_back(f.id);
    return ids;
  }

  // Expected order: newest first_seen first, ties by id.
  static std::vector<std::string> SortedIds(std::vector<Finding> fs) {
    std::sort(fs.begin(), fs.end(), [](const Finding& a, const Finding& b) {
      if (a.first_seen_us != b.first_seen_us) return a.first_seen_us > b.first_seen_us;
      return a.id < b.id;
    });
    return Ids(fs);
  }

  void CloseStore() { store_.reset(); }

  std::string dir_;
  StoreOptions opts_;
  std::unique_ptr<RocksDbFindingStore> store_;
};

TEST_F(RocksDbFindingStoreTest, PutGetRoundTripsEveryField) {
  Finding f;
  f.rule_id = "exec-into-pod";
  f.rule_name = "Exec into pod";
  f.severity = Severity::kHigh;
  f.attack_ids = {"T1609", "T1611"};
  f.cluster = "prod-eu";
  f.id = MakeFindingId(f.rule_id, f.cluster, "alice/web-0");
  f.user = "alice";
  f.groups = {"system:authenticated", "dev\"ops"};
  f.impersonated_user = "bob";
  f.source_ips = {"10.0.0.1", "2001:db8::1"};
  f.user_agent = "kubectl/v1.29.0";
  f.verb = "create";
  f.object = {"apps", "pods", "default", "web-0", "exec"};
  f.first_seen_us = 1741069338819232;
  f.last_seen_us = 1741069339819232;
  f.count = 3;
  f.evidence = {"audit-1", "audit-2"};
  f.message = "alice exec'd into default/web-0\n\xe2\x9c\x93";
  f.status = FindingStatus::kAcknowledged;
  ASSERT_TRUE(store_->Put({f}).ok());

  auto got = store_->Get(f.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, f.id);
  EXPECT_EQ(got->rule_id, f.rule_id);
  EXPECT_EQ(got->rule_name, f.rule_name);
  EXPECT_EQ(got->severity, f.severity);
  EXPECT_EQ(got->attack_ids, f.attack_ids);
  EXPECT_EQ(got->cluster, f.cluster);
  EXPECT_EQ(got->user, f.user);
  EXPECT_EQ(got->groups, f.groups);
  EXPECT_EQ(got->impersonated_user, f.impersonated_user);
  EXPECT_EQ(got->source_ips, f.source_ips);
  EXPECT_EQ(got->user_agent, f.user_agent);
  EXPECT_EQ(got->verb, f.verb);
  EXPECT_EQ(got->object.api_group, f.object.api_group);
  EXPECT_EQ(got->object.resource, f.object.resource);
  EXPECT_EQ(got->object.namespace_, f.object.namespace_);
  EXPECT_EQ(got->object.name, f.object.name);
  EXPECT_EQ(got->object.subresource, f.object.subresource);
  EXPECT_EQ(got->first_seen_us, f.first_seen_us);
  EXPECT_EQ(got->last_seen_us, f.last_seen_us);
  EXPECT_EQ(got->count, f.count);
  EXPECT_EQ(got->evidence, f.evidence);
  EXPECT_EQ(got->message, f.message);
  EXPECT_EQ(got->status, f.status);
}

TEST_F(RocksDbFindingStoreTest, GetUnknownIdIsNotFound) {
  auto got = store_->Get("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("").status().code(), StatusCode::kNotFound);
}

TEST_F(RocksDbFindingStoreTest, EmptyIdIsRejectedAndNothingIsWritten) {
  Finding good = MakeFinding(1, "r", "c", "u", Severity::kLow, kBase);
  Finding bad = good;
  bad.id.clear();
  EXPECT_EQ(store_->Put({good, bad}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(good.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Put({}).ok());
}

TEST_F(RocksDbFindingStoreTest, DataSurvivesReopen) {
  std::vector<Finding> fs;
  for (int i = 0; i < 20; ++i)
    fs.push_back(MakeFinding(i, "r", "c", "u", Severity::kLow, kBase + i));
  ASSERT_TRUE(store_->Put(fs).ok());
  CloseStore();
  OpenStore();
  for (const auto& f : fs) EXPECT_TRUE(store_->Get(f.id).ok()) << f.id;
  EXPECT_EQ(Ids(QueryAll({})), SortedIds(fs));
  ASSERT_TRUE(store_->Flush().ok());
  auto n = store_->CountApprox();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 20u);
}

TEST_F(RocksDbFindingStoreTest, DefaultOptionsSyncWritesWork) {
  CloseStore();
  opts_ = StoreOptions();
  ASSERT_TRUE(opts_.sync_writes);
  OpenStore();
  Finding f = MakeFinding(1, "r", "c", "u", Severity::kLow, kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  EXPECT_TRUE(store_->Get(f.id).ok());
}

TEST_F(RocksDbFindingStoreTest, IdempotentWritesKeepOneFindingAndOneIndexEntryEach) {
  Finding f = MakeFinding(1, "rule-a", "prod", "alice", Severity::kHigh, kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  ASSERT_TRUE(store_->Put({f}).ok());     // two separate calls
  ASSERT_TRUE(store_->Put({f, f}).ok());  // twice in one batch

  auto one = [&](FindingFilter q) {
    auto page = store_->Query(q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_EQ(page->findings.size(), 1u);
    EXPECT_EQ(page->findings[0].id, f.id);
    EXPECT_TRUE(page->next_cursor.empty());
  };
  one({});
  FindingFilter by_rule;
  by_rule.rule_id = "rule-a";
  one(by_rule);
  FindingFilter by_user;
  by_user.user = "alice";
  one(by_user);
  FindingFilter by_cluster;
  by_cluster.cluster = "prod";
  one(by_cluster);

  CloseStore();
  {
    RawDb raw(dir_);
    for (const char* cf : {"findings", "by_time", "by_rule", "by_cluster", "by_user"}) {
      EXPECT_EQ(raw.CountEntries(cf), 1u) << cf;
    }
  }
  OpenStore();
}

TEST_F(RocksDbFindingStoreTest, UpdateReplacesValueAndRetractsOldIndexEntries) {
  Finding f = MakeFinding(1, "rule-a", "prod", "alice", Severity::kHigh, kBase + 100);
  Finding other = MakeFinding(2, "rule-a", "prod", "alice", Severity::kHigh, kBase + 75);
  ASSERT_TRUE(store_->Put({f, other}).ok());

  Finding updated = f;
  updated.first_seen_us = kBase + 50;  // an earlier event arrived late
  updated.last_seen_us = kBase + 500;
  updated.count = 7;
  updated.user = "bob";
  ASSERT_TRUE(store_->Put({updated}).ok());

  auto got = store_->Get(f.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->count, 7u);
  EXPECT_EQ(got->first_seen_us, kBase + 50);
  EXPECT_EQ(got->last_seen_us, kBase + 500);

  // The time order reflects the new first_seen: other (75) is now newer than f (50).
  EXPECT_EQ(Ids(QueryAll({})), (std::vector<std::string>{other.id, f.id}));
  FindingFilter alice;
  alice.user = "alice";
  EXPECT_EQ(Ids(QueryAll(alice)), (std::vector<std::string>{other.id}));
  FindingFilter bob;
  bob.user = "bob";
  EXPECT_EQ(Ids(QueryAll(bob)), (std::vector<std::string>{f.id}));
  FindingFilter rule;
  rule.rule_id = "rule-a";
  EXPECT_EQ(Ids(QueryAll(rule)), (std::vector<std::string>{other.id, f.id}));
  FindingFilter window;  // only the old first_seen is in this window
  window.since_us = kBase + 90;
  EXPECT_TRUE(QueryAll(window).empty());

  CloseStore();
  {
    RawDb raw(dir_);
    for (const char* cf : {"findings", "by_time", "by_rule", "by_cluster", "by_user"}) {
      EXPECT_EQ(raw.CountEntries(cf), 2u) << cf;
    }
  }
  OpenStore();
}

TEST_F(RocksDbFindingStoreTest, UpdateWithinOneBatchLastWins) {
  Finding f = MakeFinding(1, "r", "c", "u", Severity::kLow, kBase + 10);
  Finding g = f;
  g.first_seen_us = kBase + 5;
  g.count = 2;
  ASSERT_TRUE(store_->Put({f, g}).ok());
  auto all = QueryAll({});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].count, 2u);
  EXPECT_EQ(all[0].first_seen_us, kBase + 5);
}

TEST_F(RocksDbFindingStoreTest, EveryFilterAndCombinationMatchesBruteForce) {
  const std::vector<std::string> rules = {"rule-a", "rule-b", "rule-c"};
  const std::vector<std::string> clusters = {"prod", "staging"};
  const std::vector<std::string> users = {"alice", "bob", "system:serviceaccount:kube-system:x"};
  std::vector<Finding> all;
  for (int i = 0; i < 120; ++i) {
    // Repeated timestamps (i / 3) exercise the tie order by id.
    all.push_back(MakeFinding(i, rules[i % 3], clusters[i % 2], users[(i / 2) % 3],
                              static_cast<Severity>(i % 5), kBase + (i / 3) * 1000));
  }
  ASSERT_TRUE(store_->Put(all).ok());

  std::vector<FindingFilter> filters;
  auto add = [&](auto fill) {
    FindingFilter q;
    q.limit = 7;  // several pages per query
    fill(q);
    filters.push_back(q);
  };
  add([](FindingFilter&) {});
  add([](FindingFilter& q) { q.cluster = "prod"; });
  add([](FindingFilter& q) { q.rule_id = "rule-b"; });
  add([](FindingFilter& q) { q.user = "bob"; });
  add([](FindingFilter& q) { q.min_severity = Severity::kHigh; });
  add([](FindingFilter& q) { q.since_us = kBase + 20 * 1000; });
  add([](FindingFilter& q) { q.until_us = kBase + 20 * 1000; });
  add([](FindingFilter& q) {
    q.since_us = kBase + 10 * 1000;
    q.until_us = kBase + 30 * 1000;
  });
  add([](FindingFilter& q) {
    q.since_us = kBase + 10 * 1000 + 1;  // between timestamps
    q.until_us = kBase + 30 * 1000 - 1;
  });
  add([](FindingFilter& q) {
    q.cluster = "staging";
    q.rule_id = "rule-a";
  });
  add([](FindingFilter& q) {
    q.cluster = "prod";
    q.user = "alice";
    q.min_severity = Severity::kMedium;
  });
  add([](FindingFilter& q) {
    q.rule_id = "rule-c";
    q.user = "system:serviceaccount:kube-system:x";
    q.since_us = kBase + 5 * 1000;
    q.until_us = kBase + 35 * 1000;
  });
  add([](FindingFilter& q) {
    q.cluster = "prod";
    q.min_severity = Severity::kCritical;
    q.until_us = kBase + 25 * 1000;
  });
  add([](FindingFilter& q) { q.rule_id = "no-such-rule"; });
  add([](FindingFilter& q) { q.cluster = "no-such-cluster"; });
  add([](FindingFilter& q) {
    q.since_us = kBase + 30 * 1000;
    q.until_us = kBase + 30 * 1000;  // empty range
  });
  add([](FindingFilter& q) { q.until_us = std::numeric_limits<int64_t>::min(); });
  add([](FindingFilter& q) { q.since_us = std::numeric_limits<int64_t>::min(); });

  for (size_t n = 0; n < filters.size(); ++n) {
    const FindingFilter& q = filters[n];
    std::vector<Finding> expected;
    for (const auto& f : all) {
      if (q.cluster && f.cluster != *q.cluster) continue;
      if (q.rule_id && f.rule_id != *q.rule_id) continue;
      if (q.user && f.user != *q.user) continue;
      if (q.min_severity && f.severity < *q.min_severity) continue;
      if (q.since_us && f.first_seen_us < *q.since_us) continue;
      if (q.until_us && f.first_seen_us >= *q.until_us) continue;
      expected.push_back(f);
    }
    EXPECT_EQ(Ids(QueryAll(q)), SortedIds(expected)) << "filter #" << n;
  }
  EXPECT_EQ(QueryAll({}).size(), all.size());
}

TEST_F(RocksDbFindingStoreTest, PaginatesIn3PagesWithoutSkipsOrRepeats) {
  std::vector<Finding> all;
  for (int i = 0; i < 250; ++i) {
    all.push_back(MakeFinding(i, "r", "c", "u", Severity::kLow, kBase + (i % 50) * 10));
  }
  ASSERT_TRUE(store_->Put(all).ok());
  const auto expected = SortedIds(all);

  FindingFilter q;
  q.limit = 100;
  std::vector<std::string> got;
  std::vector<size_t> sizes;
  for (int page_no = 0; page_no < 10; ++page_no) {
    auto page = store_->Query(q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    sizes.push_back(page->findings.size());
    for (const auto& f : page->findings) got.push_back(f.id);
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{100, 100, 50}));
  EXPECT_EQ(got, expected);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 250u);
}

TEST_F(RocksDbFindingStoreTest, LimitOutOfRangeIsInvalidArgument) {
  FindingFilter q;
  for (size_t bad : {size_t{0}, size_t{1001}, size_t{5000}}) {
    q.limit = bad;
    EXPECT_EQ(store_->Query(q).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  for (size_t good : {size_t{1}, size_t{1000}}) {
    q.limit = good;
    EXPECT_TRUE(store_->Query(q).ok()) << good;
  }
}

TEST_F(RocksDbFindingStoreTest, TamperedOrForeignCursorIsInvalidArgument) {
  std::vector<Finding> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back(MakeFinding(i, "rule-a", "c", "u", Severity::kLow, kBase + i));
  }
  ASSERT_TRUE(store_->Put(all).ok());
  FindingFilter q;
  q.limit = 3;
  auto page = store_->Query(q);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->next_cursor.empty());
  const std::string cursor = page->next_cursor;

  auto expect_invalid = [&](FindingFilter f, const std::string& c) {
    f.cursor = c;
    auto r = store_->Query(f);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c;
    EXPECT_EQ(r.status().message(), "invalid cursor");
  };
  std::string flipped = cursor;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == 'a' ? 'b' : 'a';
  expect_invalid(q, flipped);
  expect_invalid(q, cursor.substr(0, cursor.size() - 2));
  expect_invalid(q, "not-a-cursor");
  expect_invalid(q, "%00%ff");
  expect_invalid(q, std::string(64, '0'));
  // A cursor from a time query does not fit a rule query, nor one from rule-a a rule-b query.
  FindingFilter rule_a = q;
  rule_a.rule_id = "rule-a";
  expect_invalid(rule_a, cursor);
  auto rule_page = store_->Query(rule_a);
  ASSERT_TRUE(rule_page.ok());
  ASSERT_FALSE(rule_page->next_cursor.empty());
  FindingFilter rule_b = q;
  rule_b.rule_id = "rule-b";
  expect_invalid(rule_b, rule_page->next_cursor);
  // The untampered cursor still works.
  q.cursor = cursor;
  EXPECT_TRUE(store_->Query(q).ok());
}

TEST_F(RocksDbFindingStoreTest, InsertionsBetweenPagesDoNotSkipOrRepeatTheOriginalSet) {
  std::vector<Finding> original;
  for (int i = 0; i < 250; ++i) {
    original.push_back(MakeFinding(i, "r", "c", "u", Severity::kLow, kBase + i * 10));
  }
  ASSERT_TRUE(store_->Put(original).ok());
  const auto expected = SortedIds(original);
  const std::set<std::string> original_ids(expected.begin(), expected.end());

  FindingFilter q;
  q.limit = 100;
  std::vector<std::string> got_original;
  std::set<std::string> seen;
  int inserted = 0;
  for (int page_no = 0; page_no < 10; ++page_no) {
    auto page = store_->Query(q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& f : page->findings) {
      EXPECT_TRUE(seen.insert(f.id).second) << "repeated " << f.id;
      if (original_ids.count(f.id)) got_original.push_back(f.id);
    }
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
    // Newer, older and same-time findings arrive between pages.
    std::vector<Finding> fresh;
    for (int k = 0; k < 5; ++k, ++inserted) {
      const int n = 1000 + inserted;
      fresh.push_back(MakeFinding(n, "r", "c", "u", Severity::kLow, kBase + 100000 + n));
      fresh.push_back(MakeFinding(n + 5000, "r", "c", "u", Severity::kLow, kBase - n));
      fresh.push_back(MakeFinding(n + 9000, "r", "c", "u", Severity::kLow, kBase + (k * 37) * 10));
    }
    ASSERT_TRUE(store_->Put(fresh).ok());
  }
  EXPECT_EQ(got_original, expected);
}

TEST_F(RocksDbFindingStoreTest, ScanBoundReturnsPartialPagesThatCanBeContinued) {
  CloseStore();
  opts_.max_scan_per_query = 10;
  OpenStore();
  std::vector<Finding> all;
  for (int i = 0; i < 100; ++i) {
    all.push_back(MakeFinding(i, "r", "c", "u", i % 25 == 0 ? Severity::kCritical : Severity::kLow,
                              kBase + i));
  }
  ASSERT_TRUE(store_->Put(all).ok());
  FindingFilter q;
  q.min_severity = Severity::kCritical;
  auto first = store_->Query(q);
  ASSERT_TRUE(first.ok());
  EXPECT_LE(first->findings.size(), 1u);  // at most one critical in 10 scanned entries
  EXPECT_FALSE(first->next_cursor.empty());

  std::vector<Finding> critical;
  for (const auto& f : all) {
    if (f.severity == Severity::kCritical) critical.push_back(f);
  }
  EXPECT_EQ(Ids(QueryAll(q, 20)), SortedIds(critical));
}

TEST_F(RocksDbFindingStoreTest, ConcurrentPutsWhilePagingStayConsistent) {
  std::vector<Finding> original;
  for (int i = 0; i < 300; ++i) {
    original.push_back(MakeFinding(i, "r", "c", "u", Severity::kLow, kBase + i * 10));
  }
  ASSERT_TRUE(store_->Put(original).ok());
  const auto expected = SortedIds(original);
  const std::set<std::string> original_ids(expected.begin(), expected.end());

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    for (int n = 0; n < 5000 && !stop.load(); ++n) {  // bounded: TSan runs are slow
      // New findings (a bounded id space, so later rounds are idempotent rewrites and the store
      // stays small however fast the writer runs), plus rewrites of originals; indexed fields of
      // an id never change here, so no finding may appear twice in one pass.
      const int fresh = 100000 + n % 2000;
      std::vector<Finding> batch = {
          MakeFinding(fresh, "r", "c", "u", Severity::kLow, kBase + (fresh * 7) % 3000),
          original[static_cast<size_t>(n) % original.size()]};
      batch[1].count = static_cast<uint64_t>(n) + 2;
      if (!store_->Put(batch).ok()) break;
      writes.fetch_add(1);
    }
  });
  std::thread reader([&] {
    while (!stop.load()) {
      auto got = store_->Get(original[0].id);
      if (!got.ok()) ADD_FAILURE() << got.status().ToString();
    }
  });

  for (int pass = 0; pass < 5; ++pass) {
    FindingFilter q;
    q.limit = 37;
    std::vector<std::string> got_original;
    std::set<std::string> seen;
    for (int page_no = 0; page_no < 1000; ++page_no) {
      auto page = store_->Query(q);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      for (const auto& f : page->findings) {
        EXPECT_TRUE(seen.insert(f.id).second) << "repeated " << f.id;
        if (original_ids.count(f.id)) got_original.push_back(f.id);
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    EXPECT_EQ(got_original, expected) << "pass " << pass;
  }
  stop.store(true);
  writer.join();
  reader.join();
  EXPECT_GT(writes.load(), 0);
}

TEST_F(RocksDbFindingStoreTest, SecondOpenOnSameDirFailsWithLockError) {
  auto second = RocksDbFindingStore::Open(dir_, opts_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIoError);
  const std::string& msg = second.status().message();
  EXPECT_EQ(msg.rfind("open " + dir_ + ": IO error", 0), 0u) << msg;
  std::string lower = msg;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_NE(lower.find("lock"), std::string::npos) << msg;
  // The first store is unaffected.
  Finding f = MakeFinding(1, "r", "c", "u", Severity::kLow, kBase);
  EXPECT_TRUE(store_->Put({f}).ok());
}

TEST_F(RocksDbFindingStoreTest, OpenCreatesNestedDirectories) {
  CloseStore();
  const std::string nested = dir_ + "/a/b/data";
  auto s = RocksDbFindingStore::Open(nested, opts_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(fs::exists(nested + "/CURRENT"));
}

TEST_F(RocksDbFindingStoreTest, CorruptedValueIsCorruptionOnGetAndSkippedByQuery) {
  std::vector<Finding> fs = {MakeFinding(1, "r", "c", "u", Severity::kLow, kBase + 1),
                             MakeFinding(2, "r", "c", "u", Severity::kLow, kBase + 2),
                             MakeFinding(3, "r", "c", "u", Severity::kLow, kBase + 3)};
  ASSERT_TRUE(store_->Put(fs).ok());
  CloseStore();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(
        raw.db()
            ->Put(rocksdb::WriteOptions(), raw.cf("findings"), fs[1].id, "{\"id\": garbage \xff")
            .ok());
  }
  OpenStore();

  auto bad = store_->Get(fs[1].id);
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find(fs[1].id), std::string::npos);
  EXPECT_TRUE(store_->Get(fs[0].id).ok());

  EXPECT_EQ(Ids(QueryAll({})), (std::vector<std::string>{fs[2].id, fs[0].id}));
  EXPECT_EQ(store_->corrupt_values_skipped(), 1u);
  FindingFilter by_rule;
  by_rule.rule_id = "r";
  EXPECT_EQ(Ids(QueryAll(by_rule)), (std::vector<std::string>{fs[2].id, fs[0].id}));

  // Overwriting the corrupt value repairs it; the old index entries stay consistent.
  Finding repaired = fs[1];
  repaired.count = 9;
  ASSERT_TRUE(store_->Put({repaired}).ok());
  EXPECT_EQ(Ids(QueryAll({})), (std::vector<std::string>{fs[2].id, fs[1].id, fs[0].id}));
  EXPECT_EQ(store_->Get(fs[1].id)->count, 9u);
}

TEST_F(RocksDbFindingStoreTest, StaleIndexEntryIsNeverServed) {
  // An index entry whose finding has different indexed fields (as after an undecodable old value
  // was overwritten) must be ignored rather than served twice or under the wrong key.
  Finding f = MakeFinding(1, "r", "c", "u", Severity::kLow, kBase + 10);
  ASSERT_TRUE(store_->Put({f}).ok());
  CloseStore();
  {
    RawDb raw(dir_);
    const std::string stale = MakeIndexKey("", kBase + 99, f.id);
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), raw.cf("by_time"), stale, "").ok());
    const std::string dangling = MakeIndexKey("", kBase + 50, "no-such-id");
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), raw.cf("by_time"), dangling, "").ok());
  }
  OpenStore();
  EXPECT_EQ(Ids(QueryAll({})), (std::vector<std::string>{f.id}));
}

TEST_F(RocksDbFindingStoreTest, UnknownSchemaVersionIsFailedPrecondition) {
  CloseStore();
  {
    RawDb raw(dir_);
    ASSERT_TRUE(
        raw.db()->Put(rocksdb::WriteOptions(), raw.cf("default"), "schema_version", "99").ok());
  }
  auto s = RocksDbFindingStore::Open(dir_, opts_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("99"), std::string::npos);
}

}  // namespace
}  // namespace vigil::store

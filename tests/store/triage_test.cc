// RocksDbFindingStore's triage (UpdateTriage, and Put/Commit keeping it), suppressions, and the
// namespace/status/text filters with pagination, against a real RocksDB in a temp directory.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kBase = 1741069338000000;  // 2025-03-04, event time
constexpr int64_t kNow = 1760000000000000;   // 2025-10-09, the store's wall clock
constexpr int64_t kHour = int64_t{3600} * 1000000;

Finding MakeFinding(int i, const std::string& rule, const std::string& user, const std::string& ns,
                    int64_t first_seen) {
  Finding f;
  f.rule_id = rule;
  f.rule_name = "Rule " + rule;
  f.severity = Severity::kHigh;
  f.cluster = "prod";
  f.user = user;
  f.object.namespace_ = ns;
  f.object.name = "pod-" + std::to_string(i);
  f.id = MakeFindingId(rule, f.cluster, "key-" + std::to_string(i));
  f.first_seen_us = first_seen;
  f.last_seen_us = first_seen;
  f.evidence = {"audit-" + std::to_string(i)};
  f.message = "finding " + std::to_string(i);
  return f;
}

class TriageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vigil-triage-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    opts_.sync_writes = false;
    opts_.clock = clock_;
    Open();
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
  Finding MustGet(const std::string& id) {
    auto f = store_->Get(id);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? *f : Finding{};
  }
  Suppression MustAdd(Suppression s) {
    auto added = store_->AddSuppression(std::move(s));
    EXPECT_TRUE(added.ok()) << added.status().ToString();
    return added.ok() ? *added : Suppression{};
  }
  std::vector<std::string> QueryAllIds(FindingFilter filter) {
    std::vector<std::string> ids;
    for (int pages = 0; pages < 10000; ++pages) {
      auto page = store_->Query(filter);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return ids;
      // A page is short only at the end, unless the scan bound was reached.
      if (!page->next_cursor.empty() && opts_.max_scan_per_query >= 100'000) {
        EXPECT_EQ(page->findings.size(), filter.limit);
      }
      for (const auto& f : page->findings) ids.push_back(f.id);
      if (page->next_cursor.empty()) return ids;
      filter.cursor = page->next_cursor;
    }
    ADD_FAILURE() << "query did not end";
    return ids;
  }

  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(kNow);
  std::string dir_;
  StoreOptions opts_;
  std::unique_ptr<RocksDbFindingStore> store_;
};

TEST_F(TriageStoreTest, UpdateTriageSetsStatusNoteWhoAndWhen) {
  Finding f = MakeFinding(1, "r1", "alice", "default", kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  auto updated = store_->UpdateTriage(
      f.id, {FindingStatus::kAcknowledged, std::string("looking into it"), "bob"});
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->status, FindingStatus::kAcknowledged);
  Finding got = MustGet(f.id);
  EXPECT_EQ(got.status, FindingStatus::kAcknowledged);
  EXPECT_EQ(got.status_by, "bob");
  EXPECT_EQ(got.status_at_us, kNow);
  EXPECT_EQ(got.note, "looking into it");
  EXPECT_EQ(got.note_by, "bob");
  EXPECT_EQ(got.note_at_us, kNow);
  EXPECT_EQ(got.evidence, f.evidence);  // the rest is untouched

  // A note alone leaves the status and its author alone.
  clock_->Advance(kHour);
  ASSERT_TRUE(store_->UpdateTriage(f.id, {std::nullopt, std::string("fixed RBAC"), "carol"}).ok());
  got = MustGet(f.id);
  EXPECT_EQ(got.status_by, "bob");
  EXPECT_EQ(got.status_at_us, kNow);
  EXPECT_EQ(got.note, "fixed RBAC");
  EXPECT_EQ(got.note_by, "carol");
  EXPECT_EQ(got.note_at_us, kNow + kHour);

  // Indexes still serve it, and the status filter sees the new status.
  FindingFilter q;
  q.rule_id = "r1";
  q.status = FindingStatus::kAcknowledged;
  EXPECT_EQ(QueryAllIds(q), std::vector<std::string>{f.id});
  q.status = FindingStatus::kOpen;
  EXPECT_TRUE(QueryAllIds(q).empty());
}

TEST_F(TriageStoreTest, UpdateTriageRejectsBadUpdatesAndChangesNothing) {
  Finding f = MakeFinding(1, "r1", "alice", "default", kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  EXPECT_EQ(store_->UpdateTriage(f.id, {std::nullopt, std::nullopt, "bob"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->UpdateTriage(f.id, {FindingStatus::kResolved, std::nullopt, ""}).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->UpdateTriage(f.id, {std::nullopt, std::string(4097, 'x'), "bob"}).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->UpdateTriage(std::string(32, 'f'), {FindingStatus::kResolved, {}, "bob"})
                .status()
                .code(),
            StatusCode::kNotFound);
  EXPECT_EQ(FindingToJson(MustGet(f.id)), FindingToJson(f));
  // Exactly the limit is fine.
  EXPECT_TRUE(store_->UpdateTriage(f.id, {std::nullopt, std::string(4096, 'x'), "bob"}).ok());
}

TEST_F(TriageStoreTest, PipelinePutAndCommitKeepTheAnalystsTriage) {
  Finding f = MakeFinding(1, "r1", "alice", "default", kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  // The pipeline read the finding before the analyst's PATCH ...
  Finding pipeline_copy = MustGet(f.id);
  ASSERT_TRUE(
      store_->UpdateTriage(f.id, {FindingStatus::kResolved, std::string("benign"), "bob"}).ok());
  // ... and writes its update (count, last_seen, evidence) afterwards, status still open.
  pipeline_copy.count = 2;
  pipeline_copy.last_seen_us = kBase + 5;
  pipeline_copy.evidence.push_back("audit-x");
  ASSERT_TRUE(store_->Put({pipeline_copy}).ok());
  Finding got = MustGet(f.id);
  EXPECT_EQ(got.count, 2u);
  EXPECT_EQ(got.last_seen_us, kBase + 5);
  EXPECT_EQ(got.evidence.size(), 2u);
  EXPECT_EQ(got.status, FindingStatus::kResolved);
  EXPECT_EQ(got.status_by, "bob");
  EXPECT_EQ(got.note, "benign");

  // The checkpoint path too.
  pipeline_copy.count = 3;
  StateCheckpoint cp;
  cp.findings = {pipeline_copy};
  ASSERT_TRUE(store_->Commit(cp).ok());
  got = MustGet(f.id);
  EXPECT_EQ(got.count, 3u);
  EXPECT_EQ(got.status, FindingStatus::kResolved);
  EXPECT_EQ(got.note, "benign");
  EXPECT_EQ(got.note_by, "bob");
}

TEST_F(TriageStoreTest, ConcurrentPutsAndTriageLoseNothing) {
  Finding f = MakeFinding(1, "r1", "alice", "default", kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  constexpr int kRounds = 300;
  std::thread pipeline([&] {
    Finding copy = f;
    for (int i = 1; i <= kRounds; ++i) {
      copy.count = static_cast<uint64_t>(i);
      ASSERT_TRUE(store_->Put({copy}).ok());
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    auto r = store_->UpdateTriage(
        f.id, {FindingStatus::kAcknowledged, "note " + std::to_string(i), "bob"});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  pipeline.join();
  Finding got = MustGet(f.id);
  EXPECT_EQ(got.count, static_cast<uint64_t>(kRounds));        // no pipeline update lost to PATCH
  EXPECT_EQ(got.note, "note " + std::to_string(kRounds - 1));  // no PATCH lost to the pipeline
  EXPECT_EQ(got.status, FindingStatus::kAcknowledged);
}

Suppression MakeSuppression(const std::string& rule, int64_t expires_us) {
  Suppression s;
  s.rule_id = rule;
  s.expires_us = expires_us;
  s.reason = "known noisy job";
  s.created_by = "bob";
  return s;
}

TEST_F(TriageStoreTest, SuppressionsAddListDeleteAndSurviveReopen) {
  Suppression a = MustAdd(MakeSuppression("r1", kNow + kHour));
  Suppression b = MakeSuppression("r2", kNow + 2 * kHour);
  b.user = "alice";
  b.namespace_ = "kube-system";
  b.cluster = "prod";
  b = MustAdd(b);
  EXPECT_EQ(a.id.size(), 32u);
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.created_at_us, kNow);
  EXPECT_EQ(a.created_by, "bob");

  Open();  // from RocksDB again
  auto list = store_->ListSuppressions(false);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  for (const auto& s : *list) {
    const Suppression& want = s.id == a.id ? a : b;
    EXPECT_EQ(SuppressionToJson(s), SuppressionToJson(want));
  }

  // Expired: hidden unless asked for.
  clock_->Set(kNow + kHour);
  list = store_->ListSuppressions(false);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, b.id);
  EXPECT_EQ(store_->ListSuppressions(true)->size(), 2u);

  EXPECT_TRUE(store_->DeleteSuppression(a.id).ok());
  EXPECT_EQ(store_->DeleteSuppression(a.id).code(), StatusCode::kNotFound);
  Open();
  list = store_->ListSuppressions(true);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, b.id);
}

TEST_F(TriageStoreTest, SuppressionsAreValidatedAndBounded) {
  EXPECT_EQ(store_->AddSuppression(MakeSuppression("", kNow + kHour)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->AddSuppression(MakeSuppression("r1", kNow)).status().code(),
            StatusCode::kInvalidArgument);  // not in the future
  EXPECT_EQ(store_->AddSuppression(MakeSuppression("r1", kNow + Suppression::kMaxLifetimeUs + 1))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListSuppressions(true)->empty());

  opts_.max_suppressions = 2;
  Open();
  MustAdd(MakeSuppression("r1", kNow + kHour));
  MustAdd(MakeSuppression("r2", kNow + 2 * kHour));
  EXPECT_EQ(store_->AddSuppression(MakeSuppression("r3", kNow + kHour)).status().code(),
            StatusCode::kResourceExhausted);
  // Once one expired, it makes room.
  clock_->Set(kNow + kHour);
  Suppression c = MustAdd(MakeSuppression("r3", kNow + 3 * kHour));
  auto all = store_->ListSuppressions(true);
  ASSERT_EQ(all->size(), 2u);
  for (const auto& s : *all) EXPECT_NE(s.rule_id, "r1");
}

TEST_F(TriageStoreTest, SuppressedFindingsAreStoredAndMarked) {
  Suppression s = MakeSuppression("r1", kNow + kHour);
  s.user = "alice";
  s = MustAdd(s);
  Finding hit = MakeFinding(1, "r1", "alice", "default", kBase);
  Finding other_user = MakeFinding(2, "r1", "bob", "default", kBase);
  Finding other_rule = MakeFinding(3, "r2", "alice", "default", kBase);
  ASSERT_TRUE(store_->Put({hit, other_user, other_rule}).ok());
  Finding got = MustGet(hit.id);
  EXPECT_EQ(got.status, FindingStatus::kSuppressed);
  EXPECT_EQ(got.suppressed_by, s.id);
  EXPECT_EQ(MustGet(other_user.id).status, FindingStatus::kOpen);
  EXPECT_EQ(MustGet(other_rule.id).status, FindingStatus::kOpen);
  FindingFilter q;
  q.status = FindingStatus::kSuppressed;
  EXPECT_EQ(QueryAllIds(q), std::vector<std::string>{hit.id});

  // An update after the suppression expired opens it again.
  clock_->Set(kNow + kHour);
  got.count = 2;
  ASSERT_TRUE(store_->Put({got}).ok());
  got = MustGet(hit.id);
  EXPECT_EQ(got.status, FindingStatus::kOpen);
  EXPECT_EQ(got.suppressed_by, "");
  EXPECT_EQ(got.count, 2u);
}

TEST_F(TriageStoreTest, AnAnalystsStatusWinsOverSuppressions) {
  Finding f = MakeFinding(1, "r1", "alice", "default", kBase);
  ASSERT_TRUE(store_->Put({f}).ok());
  ASSERT_TRUE(store_->UpdateTriage(f.id, {FindingStatus::kAcknowledged, {}, "bob"}).ok());
  Suppression s = MustAdd(MakeSuppression("r1", kNow + kHour));
  f.count = 2;
  StateCheckpoint cp;
  cp.findings = {f};
  ASSERT_TRUE(store_->Commit(cp).ok());
  Finding got = MustGet(f.id);
  EXPECT_EQ(got.status, FindingStatus::kAcknowledged);
  EXPECT_EQ(got.suppressed_by, "");
  EXPECT_EQ(got.count, 2u);

  // And an analyst can reopen a suppressed finding for good.
  Finding g = MakeFinding(2, "r1", "carol", "default", kBase);
  ASSERT_TRUE(store_->Put({g}).ok());
  ASSERT_EQ(MustGet(g.id).suppressed_by, s.id);
  ASSERT_TRUE(store_->UpdateTriage(g.id, {FindingStatus::kOpen, {}, "bob"}).ok());
  ASSERT_TRUE(store_->Put({MustGet(g.id)}).ok());
  got = MustGet(g.id);
  EXPECT_EQ(got.status, FindingStatus::kOpen);
  EXPECT_EQ(got.suppressed_by, "");
}

TEST_F(TriageStoreTest, NamespaceStatusAndTextFiltersPageCorrectly) {
  std::vector<Finding> all;
  for (int i = 0; i < 60; ++i) {
    Finding f = MakeFinding(i, i % 2 ? "r1" : "r2", i % 3 ? "alice" : "Bob",
                            i % 4 ? "default" : "kube-system", kBase + (i / 2) * 1000);
    if (i % 5 == 0) f.message = "Exec into POD web-" + std::to_string(i);
    all.push_back(f);
  }
  ASSERT_TRUE(store_->Put(all).ok());
  for (int i = 0; i < 60; i += 7) {
    ASSERT_TRUE(store_->UpdateTriage(all[i].id, {FindingStatus::kResolved, {}, "bob"}).ok());
    all[i].status = FindingStatus::kResolved;
  }
  auto expected = [&](const FindingFilter& q) {
    std::vector<Finding> want;
    for (const auto& f : all) {
      if (FindingMatches(f, q)) want.push_back(f);
    }
    std::sort(want.begin(), want.end(), [](const Finding& a, const Finding& b) {
      if (a.first_seen_us != b.first_seen_us) return a.first_seen_us > b.first_seen_us;
      return a.id < b.id;
    });
    std::vector<std::string> ids;
    for (const auto& f : want) ids.push_back(f.id);
    return ids;
  };
  std::vector<FindingFilter> filters(6);
  filters[0].namespace_ = "kube-system";
  filters[1].status = FindingStatus::kResolved;
  filters[2].text = "exec into pod";  // message, other case
  filters[3].text = "BOB";            // user, other case
  filters[4].text = "pod-1";          // object name: pod-1, pod-10..19
  filters[5].namespace_ = "default";
  filters[5].rule_id = "r1";
  filters[5].text = "ALI";
  for (size_t k = 0; k < filters.size(); ++k) {
    FindingFilter q = filters[k];
    const auto want = expected(q);
    ASSERT_FALSE(want.empty()) << k;
    ASSERT_LT(want.size(), all.size()) << k;  // the filter excludes something
    for (size_t limit : {size_t{1}, size_t{3}, size_t{100}}) {
      q.limit = limit;
      EXPECT_EQ(QueryAllIds(q), want) << "filter " << k << " limit " << limit;
    }
  }
  // No match at all.
  FindingFilter none;
  none.text = "no such text";
  EXPECT_TRUE(QueryAllIds(none).empty());
}

TEST_F(TriageStoreTest, ASelectiveFilterOverTheScanBoundReturnsPartialPages) {
  opts_.max_scan_per_query = 5;
  Open();
  std::vector<Finding> all;
  for (int i = 0; i < 40; ++i) all.push_back(MakeFinding(i, "r1", "alice", "default", kBase + i));
  all[3].object.namespace_ = "rare";
  all[31].object.namespace_ = "rare";
  ASSERT_TRUE(store_->Put(all).ok());
  FindingFilter q;
  q.namespace_ = "rare";
  q.limit = 10;
  auto first = store_->Query(q);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->findings.empty());      // stopped after 5 entries
  EXPECT_FALSE(first->next_cursor.empty());  // and says where to go on
  EXPECT_EQ(QueryAllIds(q), (std::vector<std::string>{all[31].id, all[3].id}));
}

}  // namespace
}  // namespace vigil::store

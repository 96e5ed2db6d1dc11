// The StateStore key/value layout helpers and the in-memory store.
#include "vigil/core/state_store.h"

#include <gtest/gtest.h>

#include "vigil/core/memory_state_store.h"

namespace vigil {
namespace {

TEST(StateStoreTest, ExpiryHeaderRoundTrips) {
  for (int64_t t : {int64_t{0}, int64_t{1}, int64_t{1'700'000'000'000'000}, int64_t{-5}}) {
    std::string v;
    PutExpiry(t, &v);
    v += "payload";
    EXPECT_EQ(GetExpiry(v), t);
  }
  EXPECT_EQ(GetExpiry("short"), 0);
}

TEST(StateStoreTest, KeysStripTheSeparatorFromParts) {
  EXPECT_EQ(MakeStateKey("r", "c\x1f" "x", "k"), "r\x1f" "cx\x1f" "k");
  EXPECT_EQ(MakeDedupKey("prod", "a-1", "ResponseComplete"), "prod\x1f" "a-1\x1fResponseComplete");
}

TEST(MemoryStateStoreTest, CommitIfMetaWritesOnlyWhileTheKeyHoldsTheValueExpected) {
  MemoryStateStore store;
  StateCheckpoint cp;
  cp.state.emplace_back("k", "v1");
  cp.meta.emplace_back("pos", "7");
  ASSERT_TRUE(store.CommitIfMeta(cp, "pos", std::nullopt).ok());
  StateCheckpoint next;
  next.state.emplace_back("k", "v2");
  next.meta.emplace_back("pos", "9");
  EXPECT_EQ(store.CommitIfMeta(next, "pos", std::string("5")).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.GetState("k").value(), std::optional<std::string>("v1"));
  ASSERT_TRUE(store.CommitIfMeta(next, "pos", std::string("7")).ok());
  EXPECT_EQ(store.GetState("k").value(), std::optional<std::string>("v2"));
  EXPECT_EQ(store.GetMeta("pos").value(), std::optional<std::string>("9"));
}

TEST(MemoryStateStoreTest, CommitIsVisibleToReads) {
  MemoryStateStore s;
  StateCheckpoint cp;
  cp.state.emplace_back("r\x1f" "c\x1fk", "v1");
  cp.dedup.emplace_back("c\x1f" "a\x1fResponseComplete", "x");
  cp.meta.emplace_back("wm\x1f" "c", "1");
  cp.meta.emplace_back("wm\x1f" "d", "2");
  cp.meta.emplace_back("x", "3");
  ASSERT_TRUE(s.Commit(cp).ok());
  EXPECT_EQ(s.GetState("r\x1f" "c\x1fk").value(), std::optional<std::string>("v1"));
  EXPECT_EQ(s.GetState("nope").value(), std::nullopt);
  EXPECT_TRUE(s.ContainsEvent("c\x1f" "a\x1fResponseComplete").value());
  EXPECT_FALSE(s.ContainsEvent("c\x1f" "b\x1fResponseComplete").value());
  auto wm = s.ScanMeta("wm\x1f").value();
  ASSERT_EQ(wm.size(), 2u);
  EXPECT_EQ(wm[1].second, "2");
  StateCheckpoint del;
  del.state_deletes.push_back("r\x1f" "c\x1fk");
  ASSERT_TRUE(s.Commit(del).ok());
  EXPECT_EQ(s.GetState("r\x1f" "c\x1fk").value(), std::nullopt);
  EXPECT_EQ(s.commits(), 2u);
}

}  // namespace
}  // namespace vigil

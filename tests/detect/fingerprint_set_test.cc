// FingerprintSet against std::set, with random inserts and erases (backward-shift deletion
// must keep every other element findable).
#include "../../detect/src/fingerprint_set.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace vigil::detect::internal {
namespace {

TEST(FingerprintSetTest, BehavesLikeASet) {
  std::mt19937_64 rng(1);
  FingerprintSet set;
  std::set<std::string> model;
  std::vector<std::string> keys;
  for (int i = 0; i < 20000; ++i) keys.push_back("cluster\x1f" + std::to_string(rng() % 5000));
  for (int round = 0; round < 3; ++round) {
    for (const std::string& k : keys) {
      const bool fresh = model.insert(k).second;
      EXPECT_EQ(set.Insert(FingerprintOf(k)), fresh) << k;
    }
    ASSERT_EQ(set.size(), model.size());
    // Erase a random half, then every key must answer as the model does.
    std::vector<std::string> present(model.begin(), model.end());
    for (const std::string& k : present) {
      if (rng() % 2) {
        set.Erase(FingerprintOf(k));
        model.erase(k);
      }
    }
    for (const std::string& k : keys) {
      EXPECT_EQ(set.Contains(FingerprintOf(k)), model.count(k) == 1) << k;
    }
    ASSERT_EQ(set.size(), model.size());
  }
  set.Clear();
  EXPECT_EQ(set.size(), 0u);
  EXPECT_FALSE(set.Contains(FingerprintOf(keys[0])));
}

TEST(FingerprintSetTest, FingerprintsDifferForNearKeys) {
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (int i = 0; i < 100000; ++i) {
    Fingerprint f = FingerprintOf("c\x1f" "3f6c1a52-0000-4000-8000-" + std::to_string(i) + "\x1fResponseComplete");
    EXPECT_TRUE(seen.emplace(f.a, f.b).second);
  }
  EXPECT_FALSE(FingerprintOf("") == FingerprintOf(std::string(1, '\0')));
}

}  // namespace
}  // namespace vigil::detect::internal

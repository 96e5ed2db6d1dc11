// Tests for the many-literal sets of the rule engine: each must answer exactly as testing the
// literals one by one (std::string_view == / find, ContainsIgnoreCase).
#include "literal_sets.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine_match.h"

namespace vigil::detect::internal {
namespace {

std::string RandomText(std::mt19937* rng, size_t max_len) {
  static constexpr char kAlphabet[] = "abAB/-:k";
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string s(len(*rng), ' ');
  for (char& c : s) c = kAlphabet[pick(*rng)];
  return s;
}

std::string Lowered(std::string s) {
  for (char& c : s) c = AsciiLower(c);
  return s;
}

TEST(StringSetTest, MatchesLinearEquality) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> items;
    for (int i = 0; i < 6; ++i) items.push_back(RandomText(&rng, 5));
    StringSet set(items);
    for (int q = 0; q < 50; ++q) {
      std::string text = RandomText(&rng, 5);
      bool want = false;
      for (const std::string& it : items) want = want || it == text;
      EXPECT_EQ(set.Contains(text), want) << text;
    }
  }
  EXPECT_TRUE(StringSet({"", "a"}).Contains(""));
  EXPECT_FALSE(StringSet({"a"}).Contains(""));
  EXPECT_TRUE(StringSet({std::string(100, 'x')}).Contains(std::string(100, 'x')));
  EXPECT_FALSE(StringSet({std::string(100, 'x')}).Contains(std::string(101, 'x')));
}

TEST(SubstringSetTest, MatchesLinearSearch) {
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> needles;
    for (int i = 0; i < 5; ++i) needles.push_back(RandomText(&rng, round % 3 == 0 ? 2 : 6));
    std::vector<std::string> lower;
    for (const std::string& n : needles) lower.push_back(Lowered(n));
    SubstringSet exact(needles, /*ignore_case=*/false);
    SubstringSet folded(lower, /*ignore_case=*/true);
    for (int q = 0; q < 40; ++q) {
      std::string text = RandomText(&rng, 24);
      bool want = false, want_ci = false;
      for (size_t i = 0; i < needles.size(); ++i) {
        want = want || text.find(needles[i]) != std::string::npos;
        want_ci = want_ci || ContainsIgnoreCase(text, lower[i]);
      }
      EXPECT_EQ(exact.FoundIn(text), want) << text;
      EXPECT_EQ(folded.FoundIn(text), want_ci) << text;
    }
  }
}

TEST(SubstringSetTest, EdgeCases) {
  EXPECT_TRUE(SubstringSet({"zz", ""}, false).FoundIn(""));
  EXPECT_FALSE(SubstringSet({"zz", "q"}, false).FoundIn(""));
  EXPECT_TRUE(SubstringSet({"zzzz", "q"}, false).FoundIn("aq"));
  EXPECT_TRUE(SubstringSet({"kubehunter", "kube-hunter"}, false).FoundIn("x kube-hunter/1"));
  EXPECT_FALSE(SubstringSet({"kubehunter", "kube-hunter"}, false).FoundIn("kube-hunte"));
  EXPECT_TRUE(SubstringSet({"curl/", "ruby"}, true).FoundIn("CURL/8.0"));
  EXPECT_FALSE(SubstringSet({"curl/", "ruby"}, false).FoundIn("CURL/8.0"));
}

}  // namespace
}  // namespace vigil::detect::internal
